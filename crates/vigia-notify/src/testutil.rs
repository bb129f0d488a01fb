//! Shared test helpers.

use bytes::Bytes;

/// A real 64x48 greyscale JPEG; `seed` varies the content.
pub(crate) fn jpeg(seed: u8) -> Bytes {
    let (w, h) = (64u16, 48u16);
    let px: Vec<u8> = (0..usize::from(w) * usize::from(h))
        .map(|i| (i as u8).wrapping_mul(seed))
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&px, w, h, jpeg_encoder::ColorType::Luma)
        .expect("encode jpeg");
    Bytes::from(out)
}
