use std::time::Duration;

use super::*;

/// opencv-doc's vtest.avi; scripts/test.sh sets VIGIA_FIXTURES where the
/// package is not installed.
fn vtest() -> PathBuf {
    std::env::var_os("VIGIA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/share/doc/opencv-doc/examples/data".into())
        .join("vtest.avi")
}

fn cam() -> CameraId {
    "file-cam".parse().expect("id")
}

/// A 2 s, 10 fps, 320x240 clip made with ffmpeg's test source.
fn make_clip(dir: &Path) -> PathBuf {
    let path = dir.join("testsrc2.avi");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=10",
        ])
        .args(["-t", "2", "-c:v", "mpeg4"])
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(status.success());
    path
}

async fn collect(src: &mut FileSource, max: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(f) = tokio::time::timeout(Duration::from_secs(60), src.next_frame())
        .await
        .expect("no hang")
        .expect("no error")
    {
        frames.push(f);
        assert!(frames.len() <= max, "too many frames");
    }
    frames
}

#[test]
fn parses_ffprobe_output() {
    let info =
        parse_probe("width=768\nheight=576\nr_frame_rate=10/1\navg_frame_rate=10/1\n").expect("ok");
    assert_eq!(
        info,
        VideoInfo {
            width: 768,
            height: 576,
            fps_num: 10,
            fps_den: 1
        }
    );
    // avg_frame_rate unknown: fall back to r_frame_rate.
    let info = parse_probe("width=2\nheight=2\nr_frame_rate=30000/1001\navg_frame_rate=0/0\n")
        .expect("ok");
    assert_eq!((info.fps_num, info.fps_den), (30000, 1001));
    assert_eq!(info.frame_offset_ms(30), 1001);
    assert!(parse_probe("").is_err());
}

#[tokio::test]
async fn synthetic_clip_frame_count_size_and_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = FileSourceConfig::new(cam(), make_clip(dir.path()));
    cfg.start_ms = 5_000;
    let mut src = FileSource::new(cfg);
    let frames = collect(&mut src, 100).await;
    assert_eq!(frames.len(), 20);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.width, f.height), (320, 240));
        assert_eq!(f.seq, i as u64);
        assert_eq!(f.captured_ms, 5_000 + 100 * i as i64, "100 ms steps");
    }
    assert_eq!(src.info().map(|i| (i.fps_num, i.fps_den)), Some((10, 1)));
    // End of stream stays ended.
    assert!(src.next_frame().await.expect("ok").is_none());
    let s = src.stats().snapshot();
    assert_eq!((s.frames, s.corrupt_frames), (20, 0));
}

#[tokio::test]
async fn vtest_avi_has_795_frames_at_768x576() {
    let mut src = FileSource::new(FileSourceConfig::new(cam(), vtest()));
    let frames = collect(&mut src, 1000).await;
    assert_eq!(frames.len(), 795);
    assert!(frames.iter().all(|f| (f.width, f.height) == (768, 576)));
    assert!(frames
        .windows(2)
        .all(|w| w[1].captured_ms - w[0].captured_ms == 100));
    assert_eq!(frames[794].captured_ms, 79_400);
}

#[tokio::test]
async fn scale_and_loop_forever_keep_the_timeline_going() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = FileSourceConfig::new(cam(), make_clip(dir.path()));
    cfg.loop_forever = true;
    cfg.scale = Some((160, 120));
    let mut src = FileSource::new(cfg);
    for i in 0..45u64 {
        let f = src.next_frame().await.expect("ok").expect("loops forever");
        assert_eq!((f.seq, f.captured_ms), (i, 100 * i as i64));
        assert_eq!((f.width, f.height), (160, 120));
    }
}

/// Realtime pacing under tokio's paused clock: 10 frames at 10 fps take
/// 0.9 s of (virtual) time, exactly.
#[tokio::test(start_paused = true)]
async fn realtime_paces_to_the_frame_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = FileSourceConfig::new(cam(), make_clip(dir.path()));
    cfg.realtime = true;
    let mut src = FileSource::new(cfg);
    src.next_frame().await.expect("ok").expect("frame");
    let t0 = Instant::now();
    for _ in 0..9 {
        src.next_frame().await.expect("ok").expect("frame");
    }
    assert!(t0.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn missing_file_is_a_clear_error() {
    let mut src = FileSource::new(FileSourceConfig::new(cam(), "/nonexistent/footage.mp4"));
    let err = src.next_frame().await.expect_err("missing");
    assert!(matches!(err, CaptureError::FileNotFound { .. }));
    assert!(
        err.to_string().contains("/nonexistent/footage.mp4"),
        "{err}"
    );
}

#[tokio::test]
async fn undecodable_file_reports_ffprobe_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junk.mp4");
    std::fs::write(&path, b"this is not a video").expect("write");
    let mut src = FileSource::new(FileSourceConfig::new(cam(), &path));
    let err = src.next_frame().await.expect_err("junk");
    let msg = err.to_string();
    assert!(
        msg.contains("junk.mp4") && msg.contains("Invalid data"),
        "{msg}"
    );
}

#[tokio::test]
async fn ffmpeg_failure_reports_stderr_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = FileSourceConfig::new(cam(), make_clip(dir.path()));
    // An invalid filter size: ffprobe is happy, ffmpeg fails.
    cfg.scale = Some((0, 999_999));
    let mut src = FileSource::new(cfg);
    let err = loop {
        match src.next_frame().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("expected an ffmpeg error"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, CaptureError::Ffmpeg { .. }), "{err}");
    assert!(
        !err.to_string().trim_end().ends_with(':'),
        "has stderr: {err}"
    );
}
