//! Tests for `jpeg` and `jpeg_luma`: the fast path is checked against the
//! zune-jpeg fallback on real encoder output (ffmpeg and jpeg-encoder).

use super::*;
use std::process::Command;

/// A testsrc2 frame encoded by ffmpeg's MJPEG encoder, as cameras and
/// `ffmpeg -i rtsp://... -f mjpeg` produce them.
pub(crate) fn ffmpeg_jpeg(w: u32, h: u32, pix_fmt: &str, q: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.jpg");
    // testsrc2 only makes even sizes; crop in RGB to reach odd ones.
    let (ew, eh) = (w.next_multiple_of(2), h.next_multiple_of(2));
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc2=s={ew}x{eh},format=rgb24,crop={w}:{h}:0:0"
        ))
        .args(["-frames", "1", "-pix_fmt", pix_fmt, "-q:v"])
        .arg(q.to_string())
        .arg(&path)
        .status()
        .expect("run ffmpeg");
    assert!(st.success(), "ffmpeg failed");
    std::fs::read(&path).expect("read jpeg")
}

fn mad(a: &LumaPlane, b: &LumaPlane) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.data.len() as f64
}

fn fast(jpeg: &[u8], scale: u32) -> LumaPlane {
    match jpeg_luma::decode(jpeg, scale) {
        Ok(Outcome::Decoded(p)) => p,
        Ok(Outcome::Unsupported) => panic!("fast path declined"),
        Err(e) => panic!("fast path failed: {e}"),
    }
}

fn check_against_fallback(jpeg: &[u8], label: &str) {
    let (w, h) = jpeg_dimensions(jpeg).expect("dims");
    for scale in [2, 4, 8] {
        let a = fast(jpeg, scale);
        let b = decode_luma_fallback(jpeg, scale).expect("fallback");
        assert_eq!((a.width, a.height), (w.div_ceil(scale), h.div_ceil(scale)));
        let d = mad(&a, &b);
        // Both compute the box filter of the decoded image; what remains is
        // rounding, zune's integer IDCT and clamping inside blocks.
        let bound = 1.5;
        assert!(d < bound, "{label} scale {scale}: MAD {d:.2} >= {bound}");
    }
}

/// Re-encodes an ffmpeg frame with jpeg-encoder to get variants ffmpeg
/// cannot make (restart intervals, gray, progressive).
fn reencode(w: u32, h: u32, f: impl FnOnce(&mut Encoder<&mut Vec<u8>>), gray: bool) -> Vec<u8> {
    let src = ffmpeg_jpeg(w, h, "yuvj444p", 3);
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, 80);
    f(&mut enc);
    if gray {
        let l = decode_luma_fallback(&src, 1).expect("decode");
        enc.encode(&l.data, w as u16, h as u16, ColorType::Luma)
            .expect("encode");
    } else {
        let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
        let rgb = JpegDecoder::new_with_options(ZCursor::new(&src), opts)
            .decode()
            .expect("decode");
        enc.encode(&rgb, w as u16, h as u16, ColorType::Rgb)
            .expect("encode");
    }
    out
}

#[test]
fn dimensions_of_real_files() {
    for (w, h) in [(768, 576), (641, 479), (16, 8)] {
        let j = ffmpeg_jpeg(w, h, "yuvj420p", 5);
        assert_eq!(jpeg_dimensions(&j).expect("dims"), (w, h));
    }
}

#[test]
fn dimensions_reject_garbage() {
    assert!(jpeg_dimensions(b"").is_err());
    assert!(jpeg_dimensions(b"\xFF\xD8").is_err());
    assert!(jpeg_dimensions(b"\xFF\xD8\xFF\xE0\x00\x00").is_err());
    assert!(jpeg_dimensions(b"GIF89a....").is_err());
    // A segment claiming to run past the end.
    assert!(jpeg_dimensions(b"\xFF\xD8\xFF\xE0\xFF\xFF\x00").is_err());
}

#[test]
fn fast_path_matches_fallback_on_ffmpeg_output() {
    for (w, h) in [(768, 576), (641, 479), (100, 60), (33, 17)] {
        for fmt in ["yuvj420p", "yuvj422p", "yuvj444p"] {
            let j = ffmpeg_jpeg(w, h, fmt, 5);
            check_against_fallback(&j, &format!("{w}x{h} {fmt}"));
        }
    }
}

/// High quality means long codes and large magnitudes: the lookahead
/// tables' slow paths (codes over 10 bits, coefficients that do not fit)
/// and the multi-coefficient skip entries' block-full case.
#[test]
fn fast_path_matches_fallback_on_long_codes_and_real_frames() {
    for q in [1, 2] {
        let j = ffmpeg_jpeg(768, 576, "yuvj420p", q);
        check_against_fallback(&j, &format!("768x576 q{q}"));
    }
    let mut scene = crate::synthetic::SyntheticScene::new(Default::default());
    for quality in [50, 98] {
        let j = encode_jpeg_yuv(&scene.render(80), quality).expect("encode");
        check_against_fallback(&j, &format!("synthetic scene q{quality}"));
    }
    if let Some(j) = vtest_jpeg() {
        check_against_fallback(&j, "vtest.avi frame 400");
    }
}

#[test]
fn fast_path_handles_restart_intervals_and_gray() {
    for (w, h) in [(768, 576), (201, 133)] {
        for ri in [1u16, 7, 64] {
            let j = reencode(w, h, |e| e.set_restart_interval(ri), false);
            assert!(j.windows(2).any(|p| p == [0xFF, 0xDD]), "no DRI written");
            check_against_fallback(&j, &format!("{w}x{h} RST {ri}"));
        }
        let j = reencode(
            w,
            h,
            |e| e.set_sampling_factor(SamplingFactor::F_2_1),
            false,
        );
        check_against_fallback(&j, &format!("{w}x{h} 4:2:2 (jpeg-encoder)"));
        let j = reencode(w, h, |_| {}, true);
        check_against_fallback(&j, &format!("{w}x{h} gray"));
        let j = reencode(w, h, |e| e.set_restart_interval(3), true);
        check_against_fallback(&j, &format!("{w}x{h} gray RST"));
    }
}

#[test]
fn progressive_falls_back_to_zune() {
    let j = reencode(160, 120, |e| e.set_progressive(true), false);
    assert!(matches!(jpeg_luma::decode(&j, 8), Ok(Outcome::Unsupported)));
    let p = decode_luma(&j, 8).expect("fallback decode");
    assert_eq!((p.width, p.height), (20, 15));
    let base = reencode(160, 120, |_| {}, false);
    assert!(mad(&p, &decode_luma(&base, 8).expect("baseline")) < 2.0);
}

#[test]
fn scale_one_is_full_resolution() {
    let j = ffmpeg_jpeg(64, 48, "yuvj420p", 2);
    let p = decode_luma(&j, 1).expect("decode");
    assert_eq!((p.width, p.height, p.data.len()), (64, 48, 64 * 48));
    assert!(matches!(decode_luma(&j, 3), Err(MediaError::BadScale(3))));
}

/// Truncations and byte flips of a real frame must give `InvalidJpeg` or
/// some picture, never a panic or a hang.
#[test]
fn corrupt_input_never_panics() {
    let j = ffmpeg_jpeg(128, 96, "yuvj420p", 5);
    let jr = reencode(128, 96, |e| e.set_restart_interval(2), false);
    let mut truncated_errors = 0;
    for src in [&j, &jr] {
        for cut in (0..src.len()).step_by(7) {
            let t = &src[..cut];
            let _ = jpeg_dimensions(t);
            for scale in [1, 2, 8] {
                match decode_luma(t, scale) {
                    Err(MediaError::InvalidJpeg { .. }) => truncated_errors += 1,
                    Err(e) => panic!("unexpected error kind {e}"),
                    Ok(_) => {}
                }
            }
            let _ = decode_yuv420(t);
        }
    }
    assert!(truncated_errors > 0);
    // Cutting inside the scan is detected by the fast path.
    let cut = &j[..j.len() * 2 / 3];
    assert!(matches!(
        decode_luma(cut, 8),
        Err(MediaError::InvalidJpeg { .. })
    ));

    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // VIGIA_FUZZ_ITERS=100000 for a longer soak.
    let iters: usize = std::env::var("VIGIA_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    for it in 0..iters {
        let mut m = if it % 2 == 0 { j.clone() } else { jr.clone() };
        for _ in 0..1 + next() % 4 {
            let i = (next() % m.len() as u64) as usize;
            m[i] ^= 1 << (next() % 8);
        }
        let _ = jpeg_dimensions(&m);
        for scale in [1, 2, 4, 8] {
            if let Err(e) = decode_luma(&m, scale) {
                assert!(matches!(e, MediaError::InvalidJpeg { .. }), "{e}");
            }
        }
        let _ = decode_yuv420(&m);
    }
}

/// A flipped SOF byte claiming a huge image must fail fast, not allocate
/// for the claimed size.
#[test]
fn huge_claimed_size_is_rejected_before_allocating() {
    let mut j = ffmpeg_jpeg(64, 48, "yuvj420p", 5);
    let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0");
    j[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xF0, 0xFF, 0xF0]);
    assert_eq!(jpeg_dimensions(&j).expect("dims"), (65520, 65520));
    for scale in [1, 2, 8] {
        assert!(matches!(
            decode_luma(&j, scale),
            Err(MediaError::InvalidJpeg { .. })
        ));
    }
    assert!(decode_yuv420(&j).is_err());
}

#[test]
fn yuv420_roundtrip_and_odd_crop() {
    let j = ffmpeg_jpeg(641, 479, "yuvj420p", 2);
    let img = decode_yuv420(&j).expect("decode");
    assert_eq!((img.width, img.height), (640, 478));
    assert_eq!(img.u.len(), 320 * 239);
    // Luma agrees with the analysis decode.
    let l = decode_luma(&j, 1).expect("luma");
    let mut diff = 0u64;
    for y in 0..478 {
        for x in 0..640 {
            diff += u64::from(img.y[y * 640 + x].abs_diff(l.get(x as u32, y as u32)));
        }
    }
    assert!(diff as f64 / (640.0 * 478.0) < 1.0);
    // Re-encode and decode again: a colourful frame stays close.
    let back = decode_yuv420(&encode_jpeg_yuv(&img, 90).expect("encode")).expect("decode");
    let (dy, du) = (
        mad(&img.luma(), &back.luma()),
        img.u
            .iter()
            .zip(&back.u)
            .map(|(&a, &b)| f64::from(a.abs_diff(b)))
            .sum::<f64>()
            / img.u.len() as f64,
    );
    assert!(dy < 3.0 && du < 3.0, "dy {dy} du {du}");
    // Chroma is really there (testsrc2 is colourful).
    assert!(img.u.iter().any(|&u| u < 100) && img.v.iter().any(|&v| v > 160));
}

#[test]
fn luma_encode_roundtrip_and_gray_to_yuv() {
    let mut p = LumaPlane::new(50, 30);
    for (i, v) in p.data.iter_mut().enumerate() {
        *v = (i % 50 * 5) as u8;
    }
    let j = encode_jpeg_luma(&p, 95).expect("encode");
    assert_eq!(jpeg_dimensions(&j).expect("dims"), (50, 30));
    assert!(mad(&p, &decode_luma(&j, 1).expect("decode")) < 2.0);
    let yuv = decode_yuv420(&j).expect("decode gray");
    assert!(yuv.u.iter().all(|&u| u == 128));
    assert!(encode_jpeg_luma(&LumaPlane::new(0, 4), 80).is_err());
}

#[test]
fn draw_box_outlines_and_clips() {
    let mut img = Yuv420::filled(64, 48, 16, 128, 128);
    draw_box(&mut img, 10, 10, 30, 20, 2);
    let at = |img: &Yuv420, x: usize, y: usize| img.y[y * 64 + x];
    assert_eq!(at(&img, 10, 10), 82);
    assert_eq!(at(&img, 29, 19), 82);
    assert_eq!(at(&img, 11, 15), 82);
    assert_eq!(at(&img, 20, 15), 16, "inside stays untouched");
    assert_eq!(at(&img, 30, 15), 16, "x2 is exclusive");
    assert_eq!(img.v[5 * 32 + 5], 240);
    // Out-of-range corners are clipped, not a panic.
    draw_box(&mut img, 50, 40, 500, 500, 3);
    assert_eq!(at(&img, 63, 47), 82);
}

/// Frame 400 of OpenCV's `vtest.avi` (768x576 people walking, Debian's
/// `opencv-doc`) as ffmpeg's MJPEG encoder writes it at q5: the kind of
/// frame the node analyses. None when the file or ffmpeg is missing.
fn vtest_jpeg() -> Option<Vec<u8>> {
    // scripts/test.sh sets VIGIA_FIXTURES where opencv-doc is not installed.
    let src = std::env::var_os("VIGIA_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/share/doc/opencv-doc/examples/data".into())
        .join("vtest.avi");
    if !src.exists() {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join("vtest400.jpg");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&src)
        .args(["-vf", "select=eq(n\\,400)", "-frames:v", "1", "-q:v", "5"])
        .arg(&path)
        .status()
        .ok()?;
    if !st.success() {
        return None;
    }
    std::fs::read(&path).ok()
}

/// Prints per-frame costs (best of 10 batches, since the machine is
/// shared); run with
/// `cargo test -p vigia-media --lib -- --ignored --nocapture bench_`.
#[test]
#[ignore]
fn bench_jpeg_decode() {
    let mut scene = crate::synthetic::SyntheticScene::new(Default::default());
    let mut inputs = vec![
        ("ffmpeg testsrc2 q5", ffmpeg_jpeg(768, 576, "yuvj420p", 5)),
        (
            "synthetic scene q80",
            encode_jpeg_yuv(&scene.render(80), 80).expect("encode"),
        ),
    ];
    if let Some(j) = vtest_jpeg() {
        inputs.insert(0, ("vtest.avi frame 400 q5", j));
    }
    // VIGIA_BENCH_ONLY=fast skips the zune and yuv figures (for profiling).
    let only_fast = std::env::var("VIGIA_BENCH_ONLY").is_ok_and(|v| v == "fast");
    let time = |label: &str, f: &dyn Fn()| {
        let mut best = f64::MAX;
        for _ in 0..10 {
            let t = std::time::Instant::now();
            for _ in 0..100 {
                f();
            }
            best = best.min(t.elapsed().as_secs_f64() * 1000.0 / 100.0);
        }
        println!("  {label}: {best:.3} ms/frame");
    };
    for (name, j) in &inputs {
        println!("768x576 {name}, {} bytes", j.len());
        for s in [8, 4, 2] {
            time(&format!("decode_luma fast 1/{s}"), &|| {
                fast(j, s);
            });
            if only_fast {
                continue;
            }
            time(&format!("decode_luma zune fallback 1/{s}"), &|| {
                decode_luma_fallback(j, s).expect("decode");
            });
        }
        if only_fast {
            continue;
        }
        time("decode_yuv420", &|| {
            decode_yuv420(j).expect("decode");
        });
    }
}
