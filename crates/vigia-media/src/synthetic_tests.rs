//! Tests for the synthetic scene: determinism, and that the ground truth
//! describes what is actually rendered.

use super::*;

fn scene(seed: u64, script: SceneScript) -> SyntheticScene {
    SyntheticScene::new(SceneConfig {
        seed,
        script,
        ..SceneConfig::default()
    })
}

fn mean_luma(img: &Yuv420) -> f64 {
    img.y.iter().map(|&v| f64::from(v)).sum::<f64>() / img.y.len() as f64
}

#[test]
fn same_seed_and_index_give_identical_bytes() {
    let mut a = scene(7, SceneScript::default());
    let mut b = scene(7, SceneScript::default());
    for i in [0, 1, 75, 599, 600, 12_345] {
        assert_eq!(a.render(i), b.render(i), "frame {i}");
    }
    // Rendering out of order does not change a frame.
    let f80 = a.render(80);
    a.render(3);
    assert_eq!(a.render(80), f80);
    // Consecutive frames differ (noise), other seeds differ.
    assert_ne!(a.render(0).y, a.render(1).y);
    assert_ne!(a.render(0).y, scene(8, SceneScript::default()).render(0).y);
    // The scene loops: frame 600 at 10 fps is frame 0 of the next loop,
    // apart from the per-frame noise.
    let (f0, f600) = (a.render(0), a.render(600));
    assert!((mean_luma(&f0) - mean_luma(&f600)).abs() < 0.1);
}

#[test]
fn noise_has_the_configured_spread() {
    let mut s = scene(3, SceneScript::quiet());
    let (a, b) = (s.render(10), s.render(11));
    // The difference of two independent noisy frames has sigma * sqrt(2).
    let n = a.y.len() as f64;
    let d: Vec<f64> =
        a.y.iter()
            .zip(&b.y)
            .map(|(&x, &y)| f64::from(x) - f64::from(y))
            .collect();
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let sigma = (var / 2.0).sqrt();
    assert!((2.0..3.2).contains(&sigma), "sigma {sigma}");
}

#[test]
fn default_script_ground_truth() {
    let s = scene(1, SceneScript::default());
    let gt = s.ground_truth();
    let figs: Vec<_> = gt.iter().filter(|g| g.kind == TruthKind::Figure).collect();
    assert_eq!(figs.len(), 2);
    assert_eq!(figs[0].start_ms, 6_000);
    assert_eq!(figs[1].start_ms, 24_000);
    for f in &figs {
        let crossing = f.end_ms - f.start_ms;
        assert!((4_000..5_000).contains(&crossing), "crossing {crossing} ms");
    }
    // At least 4 s of quiet around each figure (light edges count).
    let edges = [0, 40_000, 52_000, 60_000 + 6_000];
    for f in &figs {
        for e in edges {
            assert!(e >= f.end_ms + 4_000 || e + 4_000 <= f.start_ms, "edge {e}");
        }
    }
    let light = gt.iter().find(|g| g.kind == TruthKind::LightSwitch);
    assert_eq!(
        light.map(|g| (g.start_ms, g.end_ms)),
        Some((40_000, 52_000))
    );
    assert!(gt.iter().any(|g| g.kind == TruthKind::LightDrift));
    assert!(gt.iter().any(|g| g.kind == TruthKind::Flicker));
    assert!(scene(1, SceneScript::quiet())
        .ground_truth()
        .iter()
        .all(|g| g.kind != TruthKind::Figure));
}

/// A figure changes pixels only inside its ground-truth box and only
/// while the ground truth says it is in view.
#[test]
fn figures_appear_only_where_and_when_ground_truth_says() {
    let script = SceneScript::default();
    let mut with = scene(5, script.clone());
    let mut empty = scene(
        5,
        SceneScript {
            figures: Vec::new(),
            ..script
        },
    );
    let (w, h) = (768u32, 576u32);
    let gt = with.ground_truth();
    let figs: Vec<_> = gt.iter().filter(|g| g.kind == TruthKind::Figure).collect();
    let mut seen_in_view = 0;
    // 0–35 s at 10 fps, every third frame.
    for i in (0..350u64).step_by(3) {
        let t = with.loop_ms(i);
        let (a, b) = (with.render(i), empty.render(i));
        let boxes: Vec<[u32; 4]> = figs.iter().filter_map(|g| g.bbox_at(t, w, h)).collect();
        let inside = |x: u32, y: u32| {
            boxes
                .iter()
                .any(|r| x >= r[0] && x < r[2] && y >= r[1] && y < r[3])
        };
        let mut changed_inside = 0;
        for y in 0..h {
            for x in 0..w {
                let idx = (y * w + x) as usize;
                if a.y[idx] != b.y[idx] {
                    assert!(inside(x, y), "frame {i} ({t} ms): change at {x},{y}");
                    changed_inside += 1;
                }
            }
        }
        for cy in 0..h / 2 {
            for cx in 0..w / 2 {
                let ci = (cy * (w / 2) + cx) as usize;
                if a.u[ci] != b.u[ci] || a.v[ci] != b.v[ci] {
                    assert!(inside(cx * 2, cy * 2), "frame {i}: chroma change");
                }
            }
        }
        if let Some(r) = boxes.first() {
            let area = (r[2] - r[0]) * (r[3] - r[1]);
            // A fully visible figure covers a good part of its box.
            if r[2] - r[0] >= 40 {
                assert!(changed_inside * 4 > area, "frame {i}: figure too faint");
            }
            seen_in_view += 1;
            assert!(changed_inside > 0, "frame {i}: in view but not drawn");
        } else {
            assert_eq!(changed_inside, 0);
        }
        // Figures are about 1/4 of the frame tall.
        for r in &boxes {
            assert!(r[3] - r[1] >= h / 8);
        }
    }
    assert!(seen_in_view > 20);
}

#[test]
fn figures_contrast_and_have_colour() {
    let mut s = scene(2, SceneScript::default());
    let gt = s.ground_truth();
    let fig = gt
        .iter()
        .find(|g| g.kind == TruthKind::Figure)
        .expect("figure");
    let t = (fig.start_ms + fig.end_ms) / 2;
    let idx = (t / 100) as u64;
    let r = fig.bbox_at(s.loop_ms(idx), 768, 576).expect("in view");
    let img = s.render(idx);
    let mut empty = scene(
        2,
        SceneScript {
            figures: Vec::new(),
            ..SceneScript::default()
        },
    );
    let bg = empty.render(idx);
    let (mut diff, mut n) = (0u64, 0u64);
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            let i = (y * 768 + x) as usize;
            diff += u64::from(img.y[i].abs_diff(bg.y[i]));
            n += 1;
        }
    }
    assert!(diff / n >= 20, "mean contrast {} in the box", diff / n);
    let chroma_far = (r[1] / 2..r[3] / 2)
        .flat_map(|cy| (r[0] / 2..r[2] / 2).map(move |cx| (cy * 384 + cx) as usize))
        .filter(|&ci| img.v[ci].abs_diff(128) > 40 || img.u[ci].abs_diff(128) > 40)
        .count();
    assert!(chroma_far > 50, "figure should be coloured");
}

#[test]
fn light_switch_changes_mean_luma_by_its_step() {
    let mut s = scene(4, SceneScript::quiet());
    let before = mean_luma(&s.render(399)); // 39.9 s
    let after = mean_luma(&s.render(401)); // 40.1 s
    let jump = after - before;
    assert!((37.0..=41.0).contains(&jump), "on: {jump}");
    let on = mean_luma(&s.render(519)); // 51.9 s
    let off = mean_luma(&s.render(521)); // 52.1 s
    assert!((37.0..=41.0).contains(&(on - off)), "off: {}", on - off);
    // Drift alone moves the mean slowly: less than 1 level per second.
    let d = mean_luma(&s.render(110)) - mean_luma(&s.render(100));
    assert!(d.abs() < 1.0, "drift {d}");
    // ... but noticeably over a quarter loop.
    let d = mean_luma(&s.render(150)) - mean_luma(&s.render(0));
    assert!(d.abs() > 10.0, "drift over 15 s: {d}");
}

#[test]
fn flicker_stays_in_its_corner() {
    let mut s = scene(9, SceneScript::quiet());
    let mut no_flicker = scene(
        9,
        SceneScript {
            flicker: false,
            ..SceneScript::quiet()
        },
    );
    let region = s
        .ground_truth()
        .iter()
        .find(|g| g.kind == TruthKind::Flicker)
        .and_then(|g| g.bbox_at(1_000, 768, 576))
        .expect("flicker region");
    let (a, b) = (s.render(10), no_flicker.render(10));
    let mut changed = 0;
    for y in 0..576u32 {
        for x in 0..768u32 {
            let i = (y * 768 + x) as usize;
            if a.y[i] != b.y[i] {
                assert!(x >= region[0] && y < region[3], "flicker at {x},{y}");
                changed += 1;
            }
        }
    }
    assert!(changed > 1000, "flicker too small: {changed}");
}
