//! Per-frame cost of the codecs the node runs, single-threaded, printed one
//! figure a line as `key: value (notes)` so scripts can grep them
//! (`bench/motion-vs-peer.sh` greps `^(h264|jpeg|synthetic)`). Goals are
//! printed beside the figure, not asserted: timings depend on the machine.
//!
//! `cargo bench -p vigia-media --bench codecs`
//!
//! Inputs: frames of the synthetic scene at 768x576 while the first figure
//! crosses, and frame 400 of `vtest.avi` (from `VIGIA_FIXTURES` or Debian's
//! `opencv-doc`) as ffmpeg's MJPEG encoder writes it at q5; that input is
//! skipped, with a note, when the file or ffmpeg is missing. Each figure is
//! the median over several batches after an untimed warm-up batch (the
//! machine is shared, so the best batch is printed too).

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use vigia_media::{
    decode_luma, decode_yuv420, encode_jpeg_yuv, ClipChunk, ClipConfig, ClipEncoder, H264Encoder,
    SceneConfig, SyntheticScene, TruthKind, Yuv420,
};

/// Frames 60..160 at 10 fps: 6 s to 16 s of the loop, the first figure's
/// crossing (6 s to about 10.4 s), then quiet.
const FIRST: u64 = 60;
const COUNT: u64 = 100;
/// A frame with the figure well inside the picture.
const SINGLE: u64 = 80;
const FPS: f64 = 10.0;

/// Per-item seconds over `batches` timed batches.
struct Timing {
    median: f64,
    best: f64,
    batches: usize,
    per_batch: usize,
}

/// Runs `setup` then `run` (which handles `per_batch` items) once untimed,
/// then `batches` times timing only `run`.
fn measure<S>(
    batches: usize,
    per_batch: usize,
    mut setup: impl FnMut() -> S,
    mut run: impl FnMut(S),
) -> Timing {
    run(setup());
    let mut secs: Vec<f64> = (0..batches)
        .map(|_| {
            let s = setup();
            let t = Instant::now();
            run(s);
            t.elapsed().as_secs_f64() / per_batch as f64
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    Timing {
        median: secs[secs.len() / 2],
        best: secs[0],
        batches,
        per_batch,
    }
}

/// Prints `key.ms_per_frame: median (best ...)`.
fn report_ms(key: &str, t: &Timing) {
    println!(
        "{key}.ms_per_frame: {:.3} (best {:.3}; median of {} batches x {})",
        t.median * 1e3,
        t.best * 1e3,
        t.batches,
        t.per_batch
    );
}

fn vtest_path() -> Option<PathBuf> {
    let fixtures = std::env::var_os("VIGIA_FIXTURES").map(|d| PathBuf::from(d).join("vtest.avi"));
    fixtures
        .into_iter()
        .chain([PathBuf::from(
            "/usr/share/doc/opencv-doc/examples/data/vtest.avi",
        )])
        .find(|p| p.exists())
}

/// Frame 400 of vtest.avi as a q5 MJPEG frame, or why not.
fn vtest_jpeg() -> Result<Vec<u8>, String> {
    let src =
        vtest_path().ok_or("vtest.avi not found (set VIGIA_FIXTURES or install opencv-doc)")?;
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let out = dir.path().join("vtest-400.jpg");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&src)
        .args(["-vf", "select=eq(n\\,400)", "-frames:v", "1", "-q:v", "5"])
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !st.success() {
        return Err(format!("ffmpeg failed on {}", src.display()));
    }
    std::fs::read(&out).map_err(|e| format!("read {}: {e}", out.display()))
}

fn bench_jpeg(name: &str, jpeg: &[u8]) {
    println!("jpeg.{name}.bytes: {}", jpeg.len());
    for scale in [8, 4, 2] {
        let t = measure(
            7,
            50,
            || (),
            |()| {
                for _ in 0..50 {
                    black_box(decode_luma(black_box(jpeg), scale).expect("decode_luma"));
                }
            },
        );
        report_ms(&format!("jpeg.decode_luma_s{scale}_{name}"), &t);
    }
    // Scale 1 is zune-jpeg's full-resolution luma decode: the fallback
    // path at other scales costs this plus a box filter.
    let t = measure(
        5,
        20,
        || (),
        |()| {
            for _ in 0..20 {
                black_box(decode_luma(black_box(jpeg), 1).expect("decode_luma"));
            }
        },
    );
    report_ms(&format!("jpeg.decode_luma_s1_zune_{name}"), &t);
    let t = measure(
        5,
        20,
        || (),
        |()| {
            for _ in 0..20 {
                black_box(decode_yuv420(black_box(jpeg)).expect("decode_yuv420"));
            }
        },
    );
    report_ms(&format!("jpeg.decode_yuv420_{name}"), &t);
}

fn main() {
    let mut scene = SyntheticScene::new(SceneConfig::default());
    let (w, h) = (scene.config().width, scene.config().height);
    let t_single = scene.loop_ms(SINGLE);
    assert!(
        scene
            .ground_truth()
            .iter()
            .any(|g| g.kind == TruthKind::Figure && g.bbox_at(t_single, w, h).is_some()),
        "no figure visible in frame {SINGLE}"
    );
    let frames: Vec<Yuv420> = (FIRST..FIRST + COUNT).map(|i| scene.render(i)).collect();
    let jpegs: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| encode_jpeg_yuv(f, 80).expect("encode"))
        .collect();
    let times: Vec<i64> = (FIRST..FIRST + COUNT).map(|i| scene.time_ms(i)).collect();
    let single = &jpegs[(SINGLE - FIRST) as usize];

    // JPEG decode: the synthetic frame, then the real one.
    bench_jpeg(&format!("synthetic_{w}x{h}"), single);
    match vtest_jpeg() {
        Ok(j) => bench_jpeg("vtest_768x576", &j),
        Err(why) => println!("# skipped vtest inputs: {why}"),
    }

    let t = measure(
        5,
        frames.len(),
        || (),
        |()| {
            for f in &frames {
                black_box(encode_jpeg_yuv(black_box(f), 80).expect("encode"));
            }
        },
    );
    report_ms(&format!("jpeg.encode_yuv_q80_synthetic_{w}x{h}"), &t);

    let t = measure(
        5,
        COUNT as usize,
        || (),
        |()| {
            for i in FIRST..FIRST + COUNT {
                black_box(scene.render(i));
            }
        },
    );
    report_ms(&format!("synthetic.render_{w}x{h}"), &t);

    // H.264 as the recorder runs it: JPEG in, one fresh clip per batch
    // (encoder start-up and `finish` included), 1 Mbit/s, 2 s fragments.
    let cfg = ClipConfig {
        fragment_ms: 2000,
        bitrate_bps: 1_000_000,
        fps_hint: FPS as f32,
        ..ClipConfig::default()
    };
    let mut clip_bytes = 0;
    let t = measure(
        4,
        jpegs.len(),
        || ClipEncoder::new(cfg.clone()),
        |mut clip| {
            let mut bytes = 0;
            for (j, &ms) in jpegs.iter().zip(&times) {
                bytes += chunk_bytes(clip.push_jpeg(j, ms).expect("push_jpeg"));
            }
            clip_bytes = bytes + chunk_bytes(clip.finish().expect("finish"));
        },
    );
    let key = format!("h264.push_jpeg_{w}x{h}");
    report_ms(&key, &t);
    report_realtime(&key, &t);
    println!(
        "{key}.bytes_per_frame: {} (1 Mbit/s = {} at {FPS} fps)",
        clip_bytes / jpegs.len(),
        1_000_000 / 8 / FPS as usize
    );

    // The bare encoder on YUV (no JPEG decode, no muxing); one encoder
    // throughout, an IDR every 2 s as the clip's fragments force.
    let mut enc = H264Encoder::new(w, h, FPS as f32, 1_000_000).expect("encoder");
    let t = measure(
        4,
        frames.len(),
        || (),
        |()| {
            for (k, f) in frames.iter().enumerate() {
                black_box(enc.encode(f, k % 20 == 0).expect("encode"));
            }
        },
    );
    let key = format!("h264.encode_{w}x{h}");
    report_ms(&key, &t);
    report_realtime(&key, &t);
}

fn chunk_bytes(chunks: Vec<ClipChunk>) -> usize {
    chunks
        .iter()
        .map(|c| match c {
            ClipChunk::Init(b) | ClipChunk::Fragment { bytes: b, .. } => b.len(),
        })
        .sum()
}

/// How many 10 fps cameras one core keeps up with.
fn report_realtime(key: &str, t: &Timing) {
    println!(
        "{key}.realtime_factor_at_10fps: {:.1} (goal >= 3 on one core)",
        1.0 / FPS / t.median
    );
}
