//! The node's per-frame analysis cost end to end: [`Analyzer::process`]
//! (luma decode at 1/4, motion detection, event machine, pre-buffer) as the
//! live node runs it (`record = true`), printed one figure a line as
//! `key: value (notes)`, not asserted (timings depend on the machine).
//!
//! `cargo bench -p vigia-node --bench pipeline`
//!
//! Inputs, prepared in memory before timing:
//! - `synthetic`: 300 frames (30 s) of the synthetic scene at 768x576,
//!   JPEG q80, with both scripted figures crossing;
//! - `vtest`: the first 300 frames of `vtest.avi` (from `VIGIA_FIXTURES` or
//!   Debian's `opencv-doc`) as ffmpeg's MJPEG encoder writes them at q5;
//!   skipped, with a note, when the file or ffmpeg is missing.
//!
//! Each batch runs a fresh analyzer over all frames (an untimed batch
//! first); the median and best batch are printed, and the CPU share of one
//! core a 10 fps camera costs at the median.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use vigia_base::CameraId;
use vigia_config::EventSettings;
use vigia_media::{encode_jpeg_yuv, jpeg_dimensions, Frame, SceneConfig, SyntheticScene};
use vigia_node::event::EventAction;
use vigia_node::pipeline::Analyzer;
use vigia_vision::MotionParams;

const FRAMES: u64 = 300;
const FPS: u64 = 10;
/// The node's default for 768x576 (see `pipeline::auto_scale`).
const SCALE: u32 = 8;
const BATCHES: usize = 7;

fn camera() -> CameraId {
    "bench".parse().expect("valid camera id")
}

fn frame(seq: u64, jpeg: Vec<u8>) -> Frame {
    let (width, height) = jpeg_dimensions(&jpeg).expect("jpeg dimensions");
    Frame {
        camera: camera(),
        seq,
        captured_ms: (seq * 1000 / FPS) as i64,
        width,
        height,
        jpeg: Bytes::from(jpeg),
    }
}

fn synthetic() -> Vec<Frame> {
    let mut scene = SyntheticScene::new(SceneConfig::default());
    (0..FRAMES)
        .map(|i| frame(i, encode_jpeg_yuv(&scene.render(i), 80).expect("encode")))
        .collect()
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

/// The first `FRAMES` frames of vtest.avi as q5 MJPEG frames, or why not.
fn vtest() -> Result<Vec<Frame>, String> {
    let src =
        vtest_path().ok_or("vtest.avi not found (set VIGIA_FIXTURES or install opencv-doc)")?;
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&src)
        .args(["-frames:v", &FRAMES.to_string(), "-q:v", "5"])
        .arg(dir.path().join("%04d.jpg"))
        .status()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !st.success() {
        return Err(format!("ffmpeg failed on {}", src.display()));
    }
    (0..FRAMES)
        .map(|i| {
            let path = dir.path().join(format!("{:04}.jpg", i + 1));
            let jpeg = std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
            Ok(frame(i, jpeg))
        })
        .collect()
}

/// What one pass over the frames decided, to show the bench did real work.
#[derive(Default)]
struct Pass {
    motion_frames: usize,
    events: usize,
}

/// Runs a fresh analyzer over `frames`; returns the time spent in
/// `process` (recorder messages are dropped as they come).
fn pass(frames: &[Frame]) -> (f64, Pass) {
    let mut a = Analyzer::new(
        camera(),
        Some(SCALE),
        MotionParams::default(),
        EventSettings::default(),
        true,
    )
    .expect("valid motion params");
    // `process` takes its frame by value: clone (refcounts) before timing.
    let input = frames.to_vec();
    let mut out = Vec::new();
    let mut p = Pass::default();
    let t = Instant::now();
    for f in input {
        let o = a.process(f, &mut out).expect("decodable frame");
        out.clear();
        p.motion_frames += usize::from(o.motion.motion);
        p.events += usize::from(matches!(
            o.action,
            EventAction::Start { .. } | EventAction::End { restart: true, .. }
        ));
    }
    (t.elapsed().as_secs_f64(), p)
}

fn bench(name: &str, frames: &[Frame]) {
    let (w, h) = (frames[0].width, frames[0].height);
    let (_, p) = pass(frames);
    let mut us: Vec<f64> = (0..BATCHES)
        .map(|_| pass(frames).0 * 1e6 / frames.len() as f64)
        .collect();
    us.sort_by(f64::total_cmp);
    let median = us[us.len() / 2];
    let key = format!("pipeline.process_{name}_{w}x{h}");
    println!(
        "{key}.us_per_frame: {median:.0} (best {:.0}; median of {BATCHES} batches x {}, luma 1/{SCALE}, record on)",
        us[0],
        frames.len()
    );
    println!(
        "{key}.cpu_percent_of_one_core_at_10fps: {:.2}",
        median * FPS as f64 / 1e6 * 100.0
    );
    println!(
        "{key}.motion_frames: {}/{} (events started: {})",
        p.motion_frames,
        frames.len(),
        p.events
    );
}

fn main() {
    bench("synthetic", &synthetic());
    match vtest() {
        Ok(frames) => bench("vtest", &frames),
        Err(why) => println!("# skipped vtest inputs: {why}"),
    }
}
