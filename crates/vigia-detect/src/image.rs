//! Still images and frames to [`RgbImage`]: JPEG (camera frames, photos)
//! and PNG (test images), from bytes already in memory.
//!
//! Gray images are expanded to RGB; transparent pixels are composited over
//! mid-gray, the colour the model's padding uses, so a logo's transparent
//! background does not become a black or white shape. Sizes above 8192
//! pixels a side are refused before anything is allocated for them.

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use crate::{DetectError, RgbImage};

const MAX_SIDE: usize = 8192;

fn options() -> DecoderOptions {
    DecoderOptions::default()
        .set_max_width(MAX_SIDE)
        .set_max_height(MAX_SIDE)
}

/// Decodes a JPEG or PNG, recognised by its signature.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, DetectError> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(bytes)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else {
        Err(DetectError::UnsupportedFormat)
    }
}

/// Full-colour decode of a JPEG.
pub fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage, DetectError> {
    let opts = options().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    let data = dec
        .decode()
        .map_err(|e| DetectError::Decode(format!("JPEG: {e}")))?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| DetectError::Decode("JPEG: no dimensions after decode".into()))?;
    let img = RgbImage {
        width: w as u32,
        height: h as u32,
        data,
    };
    if !img.is_valid() {
        return Err(DetectError::Decode(format!(
            "JPEG: decoder returned {} bytes for {w}x{h} RGB",
            img.data.len()
        )));
    }
    Ok(img)
}

/// Decode of a PNG of any colour type and depth, to 8-bit RGB.
pub fn decode_png(bytes: &[u8]) -> Result<RgbImage, DetectError> {
    let opts = options().png_set_strip_to_8bit(true);
    let mut dec = zune_png::PngDecoder::new_with_options(ZCursor::new(bytes), opts);
    dec.decode_headers()
        .map_err(|e| DetectError::Decode(format!("PNG: {e:?}")))?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| DetectError::Decode("PNG: no dimensions".into()))?;
    let cs = dec
        .colorspace()
        .ok_or_else(|| DetectError::Decode("PNG: no colour space".into()))?;
    let raw = dec
        .decode_raw()
        .map_err(|e| DetectError::Decode(format!("PNG: {e:?}")))?;
    let n = w * h;
    let channels = match cs {
        ColorSpace::Luma => 1,
        ColorSpace::LumaA => 2,
        ColorSpace::RGB => 3,
        ColorSpace::RGBA => 4,
        other => return Err(DetectError::Decode(format!("PNG: colour space {other:?}"))),
    };
    if raw.len() < n * channels {
        return Err(DetectError::Decode(format!(
            "PNG: {} bytes for {w}x{h} with {channels} channels",
            raw.len()
        )));
    }
    let over_gray = |v: u8, a: u8| -> u8 {
        let (v, a) = (u32::from(v), u32::from(a));
        ((v * a + 128 * (255 - a) + 127) / 255) as u8
    };
    let mut data = Vec::with_capacity(n * 3);
    for px in raw[..n * channels].chunks_exact(channels) {
        match *px {
            [l] => data.extend([l, l, l]),
            [l, a] => {
                let l = over_gray(l, a);
                data.extend([l, l, l]);
            }
            [r, g, b] => data.extend([r, g, b]),
            [r, g, b, a] => data.extend([over_gray(r, a), over_gray(g, a), over_gray(b, a)]),
            _ => {}
        }
    }
    Ok(RgbImage {
        width: w as u32,
        height: h as u32,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid PNG: 2x1, 8-bit gray+alpha, stored (uncompressed)
    /// deflate, hand-assembled with its CRCs and Adler-32.
    fn gray_alpha_png() -> Vec<u8> {
        fn crc32(data: &[u8]) -> u32 {
            let mut c = 0xFFFF_FFFFu32;
            for &b in data {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
            out.extend((body.len() as u32).to_be_bytes());
            let mut crc_in = kind.to_vec();
            crc_in.extend(body);
            out.extend(&crc_in);
            out.extend(crc32(&crc_in).to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend(2u32.to_be_bytes());
        ihdr.extend(1u32.to_be_bytes());
        ihdr.extend([8, 4, 0, 0, 0]); // depth 8, gray+alpha
        chunk(&mut png, b"IHDR", &ihdr);
        // filter 0, then (200, opaque), (200, transparent)
        let raw = [0u8, 200, 255, 200, 0];
        let (mut a, mut b) = (1u32, 0u32);
        for &x in &raw {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        let mut z = vec![0x78, 0x01, 0x01];
        z.extend((raw.len() as u16).to_le_bytes());
        z.extend((!(raw.len() as u16)).to_le_bytes());
        z.extend(raw);
        z.extend(((b << 16) | a).to_be_bytes());
        chunk(&mut png, b"IDAT", &z);
        chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn png_gray_alpha_becomes_rgb_over_gray() {
        let img = decode_image(&gray_alpha_png()).expect("decode");
        assert_eq!((img.width, img.height), (2, 1));
        assert_eq!(img.data, vec![200, 200, 200, 128, 128, 128]);
    }

    #[test]
    fn unknown_and_truncated_inputs_are_typed_errors() {
        assert!(matches!(
            decode_image(b"GIF89a...."),
            Err(DetectError::UnsupportedFormat)
        ));
        assert!(matches!(
            decode_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]),
            Err(DetectError::Decode(_))
        ));
        let png = gray_alpha_png();
        assert!(matches!(
            decode_image(&png[..30]),
            Err(DetectError::Decode(_))
        ));
    }
}
