//! JPEG in and out: header peeking, the analysis decode (downscaled luma),
//! the recording decode (I420 for the H.264 encoder), encoding (synthetic
//! camera, snapshots) and the box overlay drawn on snapshots.
//!
//! Analysis runs on every frame, so [`decode_luma`] first tries the
//! hand-written baseline decoder in `jpeg_luma`, which reconstructs only
//! the luma it needs, and falls back to zune-jpeg for variants it does not
//! handle (progressive, 12-bit, odd sampling). Both paths produce
//! ceil(width/scale) x ceil(height/scale) planes whose pixels are the mean
//! of the covered source pixels (box filter), so callers cannot tell them
//! apart beyond rounding.
//!
//! Full-colour decoding happens only when a clip is recorded; it uses
//! zune-jpeg. Nothing here does I/O.

use crate::error::MediaError;
use crate::jpeg_luma::{self, Outcome};
use crate::plane::{LumaPlane, Yuv420};
use jpeg_encoder::{ColorType, Encoder, ImageBuffer, JpegColorType, SamplingFactor};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Larger claimed sizes are treated as corrupt headers: zune would
/// otherwise allocate for them before finding the data missing.
const MAX_SIDE: usize = 8192;

fn zune_options() -> DecoderOptions {
    DecoderOptions::default()
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE)
}

fn invalid(jpeg: &[u8], reason: impl Into<String>) -> MediaError {
    MediaError::InvalidJpeg {
        len: jpeg.len(),
        reason: reason.into(),
    }
}

/// Width and height of a complete JPEG, without decoding it (see
/// [`crate::jpeg_header::inspect`]).
pub fn jpeg_dimensions(jpeg: &[u8]) -> Result<(u32, u32), MediaError> {
    crate::jpeg_header::inspect(jpeg)
        .map(|i| (i.width, i.height))
        .map_err(|e| invalid(jpeg, e.to_string()))
}

/// Decodes the luma of `jpeg` at 1/`scale` (scale ∈ {1, 2, 4, 8}) for
/// analysis; output is ceil(width/scale) x ceil(height/scale).
pub fn decode_luma(jpeg: &[u8], scale: u32) -> Result<LumaPlane, MediaError> {
    if !matches!(scale, 1 | 2 | 4 | 8) {
        return Err(MediaError::BadScale(scale));
    }
    if scale > 1 {
        match jpeg_luma::decode(jpeg, scale) {
            Ok(Outcome::Decoded(p)) => return Ok(p),
            Ok(Outcome::Unsupported) => {}
            Err(reason) => return Err(invalid(jpeg, reason)),
        }
    }
    decode_luma_fallback(jpeg, scale)
}

/// The general path: zune-jpeg decodes full-resolution luma (it skips the
/// chroma reconstruction for a luma output), then a box filter downscales.
pub(crate) fn decode_luma_fallback(jpeg: &[u8], scale: u32) -> Result<LumaPlane, MediaError> {
    let opts = zune_options().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(jpeg), opts);
    let pixels = dec.decode().map_err(|e| invalid(jpeg, e.to_string()))?;
    let info = dec
        .info()
        .ok_or_else(|| invalid(jpeg, "no image info after decode"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if pixels.len() < w as usize * h as usize {
        return Err(invalid(jpeg, "decoder returned a short buffer"));
    }
    let full = LumaPlane {
        width: w,
        height: h,
        data: pixels,
    };
    Ok(box_downscale(&full, scale))
}

/// Mean over each scale x scale box (partial boxes at the right and bottom
/// edges average what they cover).
pub(crate) fn box_downscale(src: &LumaPlane, scale: u32) -> LumaPlane {
    if scale == 1 {
        let mut p = src.clone();
        p.data.truncate(src.width as usize * src.height as usize);
        return p;
    }
    let (w, h, s) = (src.width as usize, src.height as usize, scale as usize);
    let (ow, oh) = (w.div_ceil(s), h.div_ceil(s));
    let mut out = LumaPlane::new(ow as u32, oh as u32);
    let mut sums = vec![0u32; ow];
    for oy in 0..oh {
        sums.fill(0);
        let (y0, y1) = (oy * s, ((oy + 1) * s).min(h));
        for y in y0..y1 {
            let row = &src.data[y * w..(y + 1) * w];
            for (ox, sum) in sums.iter_mut().enumerate() {
                let x0 = ox * s;
                let x1 = (x0 + s).min(w);
                *sum += row[x0..x1].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for (ox, &sum) in sums.iter().enumerate() {
            let cw = ((ox + 1) * s).min(w) - ox * s;
            let n = (cw * (y1 - y0)) as u32;
            out.data[oy * ow + ox] = ((sum + n / 2) / n) as u8;
        }
    }
    out
}

/// Full decode to I420 for the H.264 encoder. A last odd row or column is
/// cropped, since 4:2:0 needs even dimensions.
pub fn decode_yuv420(jpeg: &[u8]) -> Result<Yuv420, MediaError> {
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(jpeg), zune_options());
    dec.decode_headers()
        .map_err(|e| invalid(jpeg, e.to_string()))?;
    let input = dec
        .input_colorspace()
        .ok_or_else(|| invalid(jpeg, "no colour space after headers"))?;
    // Ask for the file's own YCbCr (no colour conversion, zune only
    // upsamples chroma); gray and exotic files take the general route.
    let out_cs = match input {
        ColorSpace::YCbCr => ColorSpace::YCbCr,
        ColorSpace::Luma => ColorSpace::Luma,
        _ => ColorSpace::RGB,
    };
    let opts = zune_options().jpeg_set_out_colorspace(out_cs);
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(jpeg), opts);
    let pixels = dec.decode().map_err(|e| invalid(jpeg, e.to_string()))?;
    let info = dec
        .info()
        .ok_or_else(|| invalid(jpeg, "no image info after decode"))?;
    let (sw, sh) = (usize::from(info.width), usize::from(info.height));
    let (w, h) = (sw & !1, sh & !1);
    if w == 0 || h == 0 {
        return Err(MediaError::BadDimensions {
            width: sw as u32,
            height: sh as u32,
            reason: "too small for 4:2:0",
        });
    }
    let nc = out_cs.num_components();
    if pixels.len() < sw * sh * nc {
        return Err(invalid(jpeg, "decoder returned a short buffer"));
    }
    let mut img = Yuv420::filled(w as u32, h as u32, 0, 128, 128);
    match out_cs {
        ColorSpace::Luma => {
            for y in 0..h {
                img.y[y * w..(y + 1) * w].copy_from_slice(&pixels[y * sw..y * sw + w]);
            }
        }
        _ => {
            let rgb = out_cs == ColorSpace::RGB;
            for cy in 0..h / 2 {
                let r0 = &pixels[2 * cy * sw * 3..(2 * cy + 1) * sw * 3];
                let r1 = &pixels[(2 * cy + 1) * sw * 3..(2 * cy + 2) * sw * 3];
                let (yrow0, yrow1) = img.y[2 * cy * w..(2 * cy + 2) * w].split_at_mut(w);
                let urow = &mut img.u[cy * (w / 2)..(cy + 1) * (w / 2)];
                let vrow = &mut img.v[cy * (w / 2)..(cy + 1) * (w / 2)];
                for cx in 0..w / 2 {
                    let mut su = 0u32;
                    let mut sv = 0u32;
                    for (row, yrow) in [(r0, &mut *yrow0), (r1, &mut *yrow1)] {
                        for dx in 0..2 {
                            let x = 2 * cx + dx;
                            let p = &row[x * 3..x * 3 + 3];
                            let (yy, u, v) = if rgb {
                                rgb_to_yuv(p[0], p[1], p[2])
                            } else {
                                (p[0], p[1], p[2])
                            };
                            yrow[x] = yy;
                            su += u32::from(u);
                            sv += u32::from(v);
                        }
                    }
                    urow[cx] = ((su + 2) / 4) as u8;
                    vrow[cx] = ((sv + 2) / 4) as u8;
                }
            }
        }
    }
    Ok(img)
}

/// BT.601 full-range RGB → YCbCr (JFIF's definition).
fn rgb_to_yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
    let u = ((-11059 * r - 21709 * g + 32768 * b + 32768) >> 16) + 128;
    let v = ((32768 * r - 27439 * g - 5329 * b + 32768) >> 16) + 128;
    (
        y.clamp(0, 255) as u8,
        u.clamp(0, 255) as u8,
        v.clamp(0, 255) as u8,
    )
}

/// Feeds an I420 image to jpeg-encoder row by row without an RGB detour;
/// chroma is repeated to full width and the encoder's 4:2:0 subsampling
/// (nearest) takes it back, so colours survive exactly.
struct YuvRows<'a>(&'a Yuv420);

impl ImageBuffer for YuvRows<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }
    fn width(&self) -> u16 {
        self.0.width as u16
    }
    fn height(&self) -> u16 {
        self.0.height as u16
    }
    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let img = self.0;
        let (w, y) = (img.width as usize, usize::from(y));
        let cw = w / 2;
        let crow = (y / 2).min((img.height as usize / 2).saturating_sub(1));
        buffers[0].extend_from_slice(&img.y[y * w..(y + 1) * w]);
        for x in 0..w {
            let ci = crow * cw + (x / 2).min(cw.saturating_sub(1));
            buffers[1].push(img.u[ci]);
            buffers[2].push(img.v[ci]);
        }
    }
}

fn check_encodable(width: u32, height: u32, len_ok: bool) -> Result<(), MediaError> {
    if width == 0 || height == 0 || width > 65535 || height > 65535 {
        return Err(MediaError::BadDimensions {
            width,
            height,
            reason: "JPEG needs 1..=65535 pixels per side",
        });
    }
    if !len_ok {
        return Err(MediaError::BadDimensions {
            width,
            height,
            reason: "plane sizes do not match the dimensions",
        });
    }
    Ok(())
}

/// Baseline 4:2:0 JPEG of an I420 image (quality 1..=100).
pub fn encode_jpeg_yuv(img: &Yuv420, quality: u8) -> Result<Vec<u8>, MediaError> {
    let (w, h) = (img.width as usize, img.height as usize);
    let c = (w / 2) * (h / 2);
    let len_ok =
        w % 2 == 0 && h % 2 == 0 && img.y.len() == w * h && img.u.len() == c && img.v.len() == c;
    check_encodable(img.width, img.height, len_ok)?;
    let mut out = Vec::with_capacity(w * h / 8);
    let mut enc = Encoder::new(&mut out, quality.clamp(1, 100));
    enc.set_sampling_factor(SamplingFactor::F_2_2);
    enc.encode_image(YuvRows(img))
        .map_err(|e| MediaError::JpegEncode(e.to_string()))?;
    Ok(out)
}

/// Baseline grayscale JPEG of a luma plane (quality 1..=100).
pub fn encode_jpeg_luma(img: &LumaPlane, quality: u8) -> Result<Vec<u8>, MediaError> {
    let len_ok = img.data.len() == img.width as usize * img.height as usize;
    check_encodable(img.width, img.height, len_ok)?;
    let mut out = Vec::with_capacity(img.data.len() / 8);
    let enc = Encoder::new(&mut out, quality.clamp(1, 100));
    enc.encode(
        &img.data,
        img.width as u16,
        img.height as u16,
        ColorType::Luma,
    )
    .map_err(|e| MediaError::JpegEncode(e.to_string()))?;
    Ok(out)
}

/// Outlines the rectangle [x1, x2) x [y1, y2) with a red line `thickness`
/// pixels wide drawn inside it; parts outside the image are clipped. Red
/// because it stands out on both night (gray) and day scenes.
pub fn draw_box(img: &mut Yuv420, x1: u32, y1: u32, x2: u32, y2: u32, thickness: u32) {
    const RED: (u8, u8, u8) = (82, 90, 240);
    let (w, h) = (img.width, img.height);
    let (x1, x2) = (x1.min(w), x2.min(w));
    let (y1, y2) = (y1.min(h), y2.min(h));
    if x1 >= x2 || y1 >= y2 || thickness == 0 {
        return;
    }
    let t = thickness;
    let mut fill = |ax: u32, ay: u32, bx: u32, by: u32| {
        for y in ay..by {
            for x in ax..bx {
                if let Some(p) = img.y.get_mut((y * w + x) as usize) {
                    *p = RED.0;
                }
                let ci = ((y / 2) * (w / 2) + (x / 2).min((w / 2).saturating_sub(1))) as usize;
                if ci < img.u.len() && ci < img.v.len() {
                    img.u[ci] = RED.1;
                    img.v[ci] = RED.2;
                }
            }
        }
    };
    fill(x1, y1, x2, (y1 + t).min(y2));
    fill(x1, y2.saturating_sub(t).max(y1), x2, y2);
    fill(x1, y1, (x1 + t).min(x2), y2);
    fill(x2.saturating_sub(t).max(x1), y1, x2, y2);
}

#[cfg(test)]
#[path = "jpeg_tests.rs"]
mod tests;
