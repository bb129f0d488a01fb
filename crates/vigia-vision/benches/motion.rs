//! Per-frame cost of [`MotionDetector::analyze`], printed one figure a line
//! as `key: value (notes)`, not asserted (timings depend on the machine).
//!
//! `cargo bench -p vigia-vision --bench motion`
//!
//! Inputs, at 96x72 and 192x144 (the node's 1/8 and 1/4 analysis sizes for
//! 768x576):
//! - `synthetic`: consecutive frames of the synthetic scene (noise, drift,
//!   foliage flicker, a figure walking across), JPEG-encoded at q80 and
//!   decoded with `decode_luma` exactly as the node does: realistic.
//! - `stress`: a textured noisy plane with a bright block moving every
//!   frame, so the detector does its full work (classification, opening,
//!   labelling, blob painting) on every frame: the worst case.
//!
//! One detector runs through the planes over and over (an untimed pass
//! first); each batch is one pass, and the median and best batch are
//! printed.

use std::hint::black_box;
use std::time::Instant;

use vigia_media::{decode_luma, encode_jpeg_yuv, LumaPlane, SceneConfig, SyntheticScene};
use vigia_vision::{MotionDetector, MotionParams};

/// Frames 40..200 at 10 fps: 4 s of quiet, the first figure's 4.4 s
/// crossing from 6 s, then quiet again.
const FIRST: u64 = 40;
const COUNT: u64 = 160;
const BATCHES: usize = 15;

/// The scene's frames at 1/`scale`, through JPEG as a camera delivers them.
fn synthetic(scene: &mut SyntheticScene, scale: u32) -> Vec<LumaPlane> {
    (FIRST..FIRST + COUNT)
        .map(|i| {
            let jpeg = encode_jpeg_yuv(&scene.render(i), 80).expect("encode");
            decode_luma(&jpeg, scale).expect("decode")
        })
        .collect()
}

/// A textured plane with noise and a moving block (see the module docs).
fn stress(w: u32, h: u32, count: u32) -> Vec<LumaPlane> {
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

fn bench(name: &str, planes: &[LumaPlane]) {
    let (w, h) = (planes[0].width, planes[0].height);
    let mut d = MotionDetector::new(MotionParams::default()).expect("valid params");
    let mut triggered = 0;
    for p in planes {
        triggered += usize::from(d.analyze(p).triggered);
    }
    let mut ns: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for p in planes {
                black_box(d.analyze(black_box(p)));
            }
            t.elapsed().as_secs_f64() * 1e9 / planes.len() as f64
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    let median = ns[ns.len() / 2];
    let key = format!("motion.analyze_{name}_{w}x{h}");
    println!(
        "{key}.ns_per_frame: {median:.0} (best {:.0}; median of {BATCHES} batches x {})",
        ns[0],
        planes.len()
    );
    println!("{key}.ns_per_pixel: {:.2}", median / f64::from(w * h));
    println!(
        "{key}.triggered_frames: {triggered}/{} (first pass)",
        planes.len()
    );
}

fn main() {
    let mut scene = SyntheticScene::new(SceneConfig::default());
    for scale in [8, 4] {
        bench("synthetic", &synthetic(&mut scene, scale));
    }
    for (w, h) in [(96, 72), (192, 144)] {
        bench("stress", &stress(w, h, 64));
    }
}
