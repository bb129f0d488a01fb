//! Synthetic-scene tests of the motion detector: each scene has a known
//! ground truth (where the object is, what the light did).

use super::*;

/// Small deterministic PRNG (xorshift64*), so tests need no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Roughly Gaussian noise with standard deviation `sigma` (sum of four
    /// uniforms).
    fn noise(&mut self, sigma: f32) -> f32 {
        let s: f32 = (0..4)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32)
            .sum();
        (s - 2.0) * sigma * 3.0f32.sqrt()
    }
}

const W: u32 = 192;
const H: u32 = 144;

/// A textured static scene with sensor noise, plus `offset` levels.
fn scene(rng: &mut Rng, offset: f32) -> LumaPlane {
    let mut p = LumaPlane::new(W, H);
    for y in 0..H {
        for x in 0..W {
            let base = 60.0
                + 0.4 * x as f32
                + 0.3 * y as f32
                + if (x / 12 + y / 9) % 2 == 0 { 15.0 } else { 0.0 };
            let v = base + offset + rng.noise(2.0);
            p.data[(y * W + x) as usize] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    p
}

fn paint(p: &mut LumaPlane, x0: u32, y0: u32, w: u32, h: u32, value: u8) {
    for y in y0..(y0 + h).min(p.height) {
        for x in x0..(x0 + w).min(p.width) {
            p.data[(y * p.width + x) as usize] = value;
        }
    }
}

fn detector() -> MotionDetector {
    MotionDetector::new(MotionParams::default()).expect("defaults are valid")
}

/// Runs the warm-up on the static scene.
fn warm(d: &mut MotionDetector, rng: &mut Rng) {
    for _ in 0..=d.params().warmup_frames {
        let r = d.analyze(&scene(rng, 0.0));
        assert!(r.warming_up && !r.motion);
    }
}

fn rect(p: &[(f32, f32)]) -> Polygon {
    Polygon { points: p.to_vec() }
}

fn square(x0: f32, y0: f32, x1: f32, y1: f32) -> Polygon {
    rect(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
}

#[test]
fn static_noise_has_no_motion() {
    let mut rng = Rng(1);
    let mut d = detector();
    warm(&mut d, &mut rng);
    for i in 0..300 {
        let r = d.analyze(&scene(&mut rng, 0.0));
        assert!(!r.warming_up);
        assert!(!r.motion && !r.light_change, "frame {i}: {r:?}");
        assert!(
            r.noise_level > 1.0 && r.noise_level < 4.0,
            "{}",
            r.noise_level
        );
        assert!(r.changed_fraction < 0.001, "{r:?}");
    }
}

/// A 16x24 rectangle crossing the scene 2 pixels per frame.
fn crossing(
    d: &mut MotionDetector,
    rng: &mut Rng,
    value: u8,
    y0: u32,
    frames: u32,
) -> Vec<(u32, MotionResult)> {
    (0..frames)
        .map(|i| {
            let x = 10 + 2 * i;
            let mut p = scene(rng, 0.0);
            paint(&mut p, x, y0, 16, 24, value);
            (x, d.analyze(&p))
        })
        .collect()
}

#[test]
fn moving_rectangle_triggers_with_blob_on_it() {
    for value in [250u8, 5] {
        let mut rng = Rng(2);
        let mut d = detector();
        warm(&mut d, &mut rng);
        let results = crossing(&mut d, &mut rng, value, 60, 60);
        for (i, (x, r)) in results.iter().enumerate() {
            assert!(r.motion, "value {value} frame {i}: {r:?}");
            let min = MotionParams::default().min_consecutive_frames as usize;
            assert_eq!(r.triggered, i + 1 >= min, "frame {i}");
            let b = r.largest_blob.expect("a blob");
            let (cx, cy) = ((*x as f32 + 8.0) / W as f32, (60.0 + 12.0) / H as f32);
            assert!(
                (b.centroid.0 - cx).abs() < 0.03 && (b.centroid.1 - cy).abs() < 0.03,
                "frame {i}: {b:?}"
            );
            assert!(
                b.bbox.0 <= cx && cx <= b.bbox.2 && b.bbox.1 <= cy && cy <= b.bbox.3,
                "{b:?}"
            );
            let want_area = 16.0 * 24.0 / (W * H) as f32;
            assert!(
                b.area > 0.7 * want_area && b.area < 2.5 * want_area,
                "frame {i}: {b:?}"
            );
        }
    }
}

#[test]
fn motion_under_a_mask_is_ignored() {
    let mut rng = Rng(3);
    let mask = square(0.0, 0.3, 1.0, 0.7);
    let mut d = MotionDetector::new(MotionParams {
        masks: vec![mask],
        ..MotionParams::default()
    })
    .expect("valid");
    warm(&mut d, &mut rng);
    for (_, r) in crossing(&mut d, &mut rng, 250, 55, 60) {
        assert!(!r.motion && !r.triggered, "{r:?}");
        assert_eq!(r.changed_pixels, 0);
    }
    // The same object outside the mask is seen.
    let seen = crossing(&mut d, &mut rng, 250, 110, 20);
    assert!(seen.iter().any(|(_, r)| r.triggered));
}

#[test]
fn zones_restrict_and_report() {
    let mut rng = Rng(4);
    let params = MotionParams {
        zones: vec![
            Zone {
                name: "top".into(),
                polygon: square(0.0, 0.0, 1.0, 0.3),
            },
            Zone {
                name: "bottom".into(),
                polygon: square(0.0, 0.7, 1.0, 1.0),
            },
        ],
        ..MotionParams::default()
    };
    let mut d = MotionDetector::new(params).expect("valid");
    warm(&mut d, &mut rng);
    // In the middle band, outside both zones: nothing counts.
    for (_, r) in crossing(&mut d, &mut rng, 250, 60, 30) {
        assert!(!r.motion, "{r:?}");
        assert_eq!(
            r.zones,
            vec![("top".to_string(), 0.0), ("bottom".to_string(), 0.0)]
        );
    }
    // In the top zone.
    let top = crossing(&mut d, &mut rng, 250, 8, 30);
    assert!(top.iter().skip(5).all(|(_, r)| r.triggered));
    for (_, r) in &top {
        assert_eq!(r.zones[1].1, 0.0);
        if r.motion {
            assert!(r.zones[0].1 > 0.01, "{r:?}");
        }
    }
}

#[test]
fn slow_drift_is_absorbed() {
    let mut rng = Rng(5);
    let mut d = detector();
    warm(&mut d, &mut rng);
    for i in 0..150 {
        let offset = (i / 3).min(30) as f32;
        let r = d.analyze(&scene(&mut rng, offset));
        assert!(
            !r.motion && !r.triggered && !r.light_change,
            "frame {i}: {r:?}"
        );
    }
}

#[test]
fn sudden_light_jump_rebaselines_without_trigger() {
    for jump in [40.0, -40.0] {
        let mut rng = Rng(6);
        let mut d = detector();
        warm(&mut d, &mut rng);
        let first = d.analyze(&scene(&mut rng, jump));
        assert!(
            first.light_change && !first.motion && !first.triggered,
            "{first:?}"
        );
        for i in 0..50 {
            let r = d.analyze(&scene(&mut rng, jump));
            assert!(
                !r.motion && !r.triggered && !r.light_change,
                "frame {i}: {r:?}"
            );
        }
    }
}

#[test]
fn exposure_ramp_over_a_few_frames_does_not_trigger() {
    let mut rng = Rng(7);
    let mut d = detector();
    warm(&mut d, &mut rng);
    let mut saw_light = false;
    for i in 0..40 {
        let r = d.analyze(&scene(&mut rng, (i * 8).min(48) as f32));
        saw_light |= r.light_change;
        assert!(!r.triggered, "frame {i}: {r:?}");
    }
    assert!(saw_light);
}

#[test]
fn flicker_in_a_corner_is_not_motion() {
    let mut rng = Rng(8);
    let mut d = detector();
    let mut motion = 0;
    for i in 0..300 {
        let mut p = scene(&mut rng, 0.0);
        // A 10x10 patch of leaves: each pixel flips between two shades.
        for y in 0..10 {
            for x in 0..10 {
                let v = if rng.below(2) == 0 { 40 } else { 110 };
                p.data[(y * W + x) as usize] = v;
            }
        }
        let r = d.analyze(&p);
        motion += usize::from(r.motion);
        assert!(!r.triggered, "frame {i}: {r:?}");
    }
    assert_eq!(motion, 0);
}

#[test]
fn person_standing_still_stays_then_is_absorbed() {
    let mut rng = Rng(9);
    let mut d = detector();
    warm(&mut d, &mut rng);
    let mut p = scene(&mut rng, 0.0);
    let mut frame = |rng: &mut Rng| {
        p = scene(rng, 0.0);
        paint(&mut p, 80, 50, 14, 30, 200);
        d.analyze(&p)
    };
    // 10 s at 10 fps: still foreground.
    for i in 0..100 {
        let r = frame(&mut rng);
        assert!(i < 3 || r.triggered, "frame {i}: {r:?}");
    }
    // Parked for ~5 minutes: absorbed.
    let last = (0..3000).map(|_| frame(&mut rng)).last().expect("frames");
    assert!(!last.motion, "{last:?}");
}

#[test]
fn plane_size_change_restarts() {
    let mut rng = Rng(10);
    let mut d = detector();
    warm(&mut d, &mut rng);
    assert!(!d.analyze(&scene(&mut rng, 0.0)).warming_up);
    let small = LumaPlane {
        width: 96,
        height: 72,
        data: vec![128; 96 * 72],
    };
    let r = d.analyze(&small);
    assert!(r.warming_up && !r.motion);
    for _ in 0..30 {
        assert!(!d.analyze(&small).motion);
    }
    let r = d.analyze(&scene(&mut rng, 0.0));
    assert!(r.warming_up);
}

#[test]
fn reset_starts_a_new_warmup() {
    let mut rng = Rng(11);
    let mut d = detector();
    warm(&mut d, &mut rng);
    d.reset();
    assert!(d.analyze(&scene(&mut rng, 0.0)).warming_up);
}

#[test]
fn invalid_params_name_the_field() {
    let field_of = |p: MotionParams| match MotionDetector::new(p) {
        Err(VisionError::InvalidParam { field, .. })
        | Err(VisionError::InvalidPolygon { field, .. }) => field,
        Ok(_) => "ok".to_string(),
    };
    let d = MotionParams::default;
    assert_eq!(field_of(d()), "ok");
    assert_eq!(
        field_of(MotionParams {
            threshold: 255,
            ..d()
        }),
        "threshold"
    );
    assert_eq!(
        field_of(MotionParams {
            noise_k: f32::NAN,
            ..d()
        }),
        "noise_k"
    );
    assert_eq!(
        field_of(MotionParams {
            noise_k: -1.0,
            ..d()
        }),
        "noise_k"
    );
    assert_eq!(
        field_of(MotionParams {
            background_alpha: 0.0,
            ..d()
        }),
        "background_alpha"
    );
    assert_eq!(
        field_of(MotionParams {
            background_alpha: 1.5,
            ..d()
        }),
        "background_alpha"
    );
    assert_eq!(
        field_of(MotionParams {
            min_blob_area: 1.0,
            ..d()
        }),
        "min_blob_area"
    );
    assert_eq!(
        field_of(MotionParams {
            min_changed_fraction: -0.1,
            ..d()
        }),
        "min_changed_fraction"
    );
    assert_eq!(
        field_of(MotionParams {
            max_changed_fraction: 0.001,
            ..d()
        }),
        "max_changed_fraction"
    );
    assert_eq!(
        field_of(MotionParams {
            light_change_fraction: 0.0,
            ..d()
        }),
        "light_change_fraction"
    );
    assert_eq!(
        field_of(MotionParams {
            light_change_levels: f32::INFINITY,
            ..d()
        }),
        "light_change_levels"
    );
    assert_eq!(
        field_of(MotionParams {
            min_consecutive_frames: 0,
            ..d()
        }),
        "min_consecutive_frames"
    );
    assert_eq!(
        field_of(MotionParams {
            despeckle: 9,
            ..d()
        }),
        "despeckle"
    );
    let tri = rect(&[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]);
    let bad = rect(&[(0.0, 0.0), (1.0, 0.0)]);
    assert_eq!(
        field_of(MotionParams {
            masks: vec![tri.clone(), bad.clone()],
            ..d()
        }),
        "masks[1]"
    );
    let zone = |name: &str, polygon: &Polygon| Zone {
        name: name.into(),
        polygon: polygon.clone(),
    };
    assert_eq!(
        field_of(MotionParams {
            zones: vec![zone("a", &bad)],
            ..d()
        }),
        "zones[0].polygon"
    );
    assert_eq!(
        field_of(MotionParams {
            zones: vec![zone(" ", &tri)],
            ..d()
        }),
        "zones[0].name"
    );
    assert_eq!(
        field_of(MotionParams {
            zones: vec![zone("a", &tri), zone("a", &tri)],
            ..d()
        }),
        "zones[1].name"
    );

    assert_eq!(bad.validate(), Err(PolygonError::TooFewPoints { count: 2 }));
    assert_eq!(
        rect(&[(0.0, 0.0), (1.5, 0.0), (0.0, 1.0)]).validate(),
        Err(PolygonError::OutOfRange {
            index: 1,
            x: 1.5,
            y: 0.0
        })
    );
    assert_eq!(
        rect(&[(0.0, f32::NAN), (1.0, 0.0), (0.0, 1.0)]).validate(),
        Err(PolygonError::NotFinite { index: 0 })
    );
    assert_eq!(
        rect(&[(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]).validate(),
        Err(PolygonError::ZeroArea)
    );
    let msg = MotionDetector::new(MotionParams {
        background_alpha: 2.0,
        ..d()
    })
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        msg.as_deref(),
        Some("motion parameter `background_alpha` = 2 is invalid: must be within 0.001..=1")
    );
}

/// Random planes of random (including empty, 1x1 and malformed) sizes, with
/// random parameters, never panic and keep their results in range.
#[test]
fn random_planes_never_panic() {
    let mut rng = Rng(12);
    for case in 0..300 {
        let params = MotionParams {
            threshold: rng.below(255) as u8,
            noise_k: rng.below(10) as f32,
            despeckle: rng.below(4) as u32,
            warmup_frames: rng.below(4) as u32,
            min_consecutive_frames: 1 + rng.below(3) as u32,
            min_blob_area: rng.below(100) as f32 / 1000.0,
            masks: if rng.below(2) == 0 {
                vec![square(0.2, 0.2, 0.6, 0.9)]
            } else {
                vec![]
            },
            zones: if rng.below(2) == 0 {
                vec![Zone {
                    name: "z".into(),
                    polygon: rect(&[(0.0, 0.0), (1.0, 0.2), (0.4, 1.0)]),
                }]
            } else {
                vec![]
            },
            ..MotionParams::default()
        };
        let mut d = MotionDetector::new(params).expect("valid");
        let (mut w, mut h) = (rng.below(40) as u32, rng.below(40) as u32);
        for _ in 0..20 {
            if rng.below(8) == 0 {
                (w, h) = (rng.below(40) as u32, rng.below(40) as u32);
            }
            let mut len = (w * h) as usize;
            if rng.below(10) == 0 {
                len = rng.below(len as u64 + 3) as usize;
            }
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let r = d.analyze(&LumaPlane {
                width: w,
                height: h,
                data,
            });
            assert!((0.0..=1.0).contains(&r.score), "case {case}: {r:?}");
            assert!(
                (0.0..=1.0).contains(&r.changed_fraction),
                "case {case}: {r:?}"
            );
            if let Some(b) = r.largest_blob {
                assert!(
                    b.bbox.0 < b.bbox.2
                        && b.bbox.2 <= 1.0
                        && b.bbox.1 < b.bbox.3
                        && b.bbox.3 <= 1.0,
                    "{b:?}"
                );
            }
        }
    }
}
