//! Shared test helpers: real JPEGs made with `jpeg-encoder`, and byte
//! surgery on them.

use bytes::Bytes;

/// A colour JPEG of a gradient pattern that varies with `seed`, so frames
/// in a stream are distinguishable.
pub fn test_jpeg(width: u16, height: u16, seed: u8) -> Bytes {
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            rgb.push((x as u8).wrapping_mul(3).wrapping_add(seed));
            rgb.push((y as u8).wrapping_mul(5));
            rgb.push(seed.wrapping_mul(37));
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode test JPEG");
    Bytes::from(out)
}

/// The same JPEG with every DHT segment removed, as UVC MJPEG cameras send.
pub fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut i = 2;
    loop {
        assert_eq!(jpeg[i], 0xFF);
        let marker = jpeg[i + 1];
        if marker == 0xDA {
            out.extend_from_slice(&jpeg[i..]);
            return out;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if marker != 0xC4 {
            out.extend_from_slice(&jpeg[i..i + 2 + len]);
        }
        i += 2 + len;
    }
}
