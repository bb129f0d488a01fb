//! Per-frame cost of [`MotionDetector::analyze`], printed, not asserted
//! (timings depend on the machine). Run with
//! `cargo test -p vigia-vision --test cost -- --ignored --nocapture`; the
//! workspace builds vigia-vision at opt-level 3 even in dev.

use std::hint::black_box;
use std::time::Instant;

use vigia_media::LumaPlane;
use vigia_vision::{MotionDetector, MotionParams};

/// A textured plane with noise and a moving block: the detector does its
/// full work (classification, opening, labelling, blob painting) every frame.
fn frames(w: u32, h: u32, count: u32) -> Vec<LumaPlane> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|i| {
            let mut p = LumaPlane::new(w, h);
            for y in 0..h {
                for x in 0..w {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let v = 80 + (x + y) % 64 + (seed % 5) as u32;
                    p.data[(y * w + x) as usize] = v as u8;
                }
            }
            let (bx, by) = ((i * 2) % (w - w / 8), h / 3);
            for y in by..by + h / 5 {
                for x in bx..bx + w / 12 {
                    p.data[(y * w + x) as usize] = 240;
                }
            }
            p
        })
        .collect()
}

#[test]
#[ignore = "prints timings; run explicitly"]
fn print_ns_per_analyze() {
    for (w, h) in [(96, 72), (192, 144)] {
        let planes = frames(w, h, 64);
        let mut d = MotionDetector::new(MotionParams::default()).expect("valid");
        for p in &planes {
            black_box(d.analyze(p));
        }
        let rounds = 50;
        let start = Instant::now();
        let mut triggered = 0;
        for _ in 0..rounds {
            for p in &planes {
                triggered += usize::from(black_box(d.analyze(black_box(p))).triggered);
            }
        }
        let n = rounds * planes.len();
        let ns = start.elapsed().as_nanos() / n as u128;
        println!(
            "analyze {w}x{h}: {ns} ns/frame ({:.1} ns/pixel, {triggered}/{n} triggered)",
            ns as f64 / f64::from(w * h)
        );
    }
}
