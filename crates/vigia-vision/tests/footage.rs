//! The motion detector on real footage from the `opencv-doc` Debian package,
//! decoded by `ffmpeg` to 192x144 grey planes (the node's 1/4-scale analysis
//! size for 768x576):
//! - `vtest.avi`: 768x576, 10 fps, pedestrians crossing a plaza nearly all the
//!   time — the detector must trigger on most frames.
//! - `tree.avi`: 320x240, 15 fps (each picture repeated ~6 times), a tree
//!   waving in the wind, then a hand entering the view — the foliage must
//!   (almost) never trigger, the hand must.
//!
//! The fixtures come from `VIGIA_FIXTURES` (set by `scripts/test.sh`, which
//! fetches them) or the installed package; a missing fixture fails the test.

use std::process::Command;

use vigia_media::LumaPlane;
use vigia_vision::{MotionDetector, MotionParams};

fn data_dir() -> std::path::PathBuf {
    std::env::var_os("VIGIA_FIXTURES")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/share/doc/opencv-doc/examples/data".into())
}
const W: u32 = 192;
const H: u32 = 144;

/// Decodes up to `max_frames` frames of `file` into 192x144 luma planes.
fn decode(file: &str, max_frames: usize) -> Option<Vec<LumaPlane>> {
    decode_at(file, max_frames, W, H)
}

/// Decodes up to `max_frames` frames of `file` into `w` x `h` luma planes.
fn decode_at(file: &str, max_frames: usize, w: u32, h: u32) -> Option<Vec<LumaPlane>> {
    let path = data_dir().join(file);
    assert!(
        path.exists(),
        "{} not found: run the tests through scripts/test.sh, which fetches it",
        path.display()
    );
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-frames:v", &max_frames.to_string()])
        .args([
            "-vf",
            &format!("scale={w}:{h},format=gray"),
            "-f",
            "rawvideo",
            "-",
        ])
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => panic!(
            "ffmpeg failed on {file}: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run ffmpeg (scripts/test.sh installs it): {e}"),
    };
    let n = (w * h) as usize;
    Some(
        out.chunks_exact(n)
            .map(|c| LumaPlane {
                width: w,
                height: h,
                data: c.to_vec(),
            })
            .collect(),
    )
}

#[derive(Debug, Default)]
struct Counts {
    frames: usize,
    motion: usize,
    triggered: usize,
    light_change: usize,
    max_score: f32,
}

fn run(planes: &[LumaPlane], params: MotionParams) -> Counts {
    let mut d = MotionDetector::new(params).expect("valid params");
    let mut c = Counts {
        frames: planes.len(),
        ..Counts::default()
    };
    for p in planes {
        let r = d.analyze(p);
        c.motion += usize::from(r.motion);
        c.triggered += usize::from(r.triggered);
        c.light_change += usize::from(r.light_change);
        c.max_score = c.max_score.max(r.score);
    }
    c
}

#[test]
fn vtest_pedestrians_trigger_most_of_the_time() {
    let Some(planes) = decode("vtest.avi", 400) else {
        return;
    };
    assert!(planes.len() >= 300, "decoded {} frames", planes.len());
    let c = run(&planes, MotionParams::default());
    eprintln!("vtest.avi: {c:?}");
    let warm = MotionParams::default().warmup_frames as usize + 1;
    assert!(c.triggered * 10 >= (c.frames - warm) * 8, "{c:?}");
    assert!(c.light_change <= 2, "{c:?}");
}

/// The same at 1/8 scale (96x72), where a distant pedestrian is a dozen
/// pixels.
#[test]
fn vtest_pedestrians_trigger_at_one_eighth_scale() {
    let Some(planes) = decode_at("vtest.avi", 400, 96, 72) else {
        return;
    };
    let c = run(&planes, MotionParams::default());
    eprintln!("vtest.avi 96x72: {c:?}");
    let warm = MotionParams::default().warmup_frames as usize + 1;
    assert!(c.triggered * 10 >= (c.frames - warm) * 7, "{c:?}");
}

/// `tree.avi` is foliage only until a hand enters the view from the top right
/// at frame 346 (the last ~100 frames, with an auto-exposure swing as it
/// covers the bright sky). The foliage part must not trigger; the hand must.
#[test]
fn tree_foliage_does_not_trigger_but_the_hand_does() {
    const HAND_ENTERS: usize = 346;
    let Some(planes) = decode("tree.avi", 1000) else {
        return;
    };
    assert!(
        planes.len() > HAND_ENTERS + 50,
        "decoded {} frames",
        planes.len()
    );
    let foliage = run(&planes[..HAND_ENTERS], MotionParams::default());
    eprintln!("tree.avi foliage (frames 0..{HAND_ENTERS}): {foliage:?}");
    assert!(foliage.triggered <= 3, "{foliage:?}");
    let all = run(&planes, MotionParams::default());
    eprintln!("tree.avi whole: {all:?}");
    assert!(all.triggered - foliage.triggered >= 50, "{all:?}");
}
