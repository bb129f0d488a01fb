//! The "is it a frame?" test every source applies before delivering: a
//! complete JPEG (SOI .. EOI) whose header segments are well formed up to
//! the first scan and whose frame header gives non-zero dimensions. The
//! marker walk itself is `vigia_media::jpeg_header` (shared with the rest of
//! the system); this module adds what is specific to cameras: it
//! repairs the one defect that is normal rather than corrupt: MJPEG
//! cameras (many UVC webcams, some IP cameras) omit the DHT segment and rely
//! on the standard tables of ITU T.81 annex K.3, which standalone decoders
//! do not assume; [`prepare_jpeg`] inserts them.
//!
//! Does not decode entropy-coded data (that is `vigia-media`'s job and too
//! costly to do for every frame at the source). Pure: no I/O, so it can be
//! fuzzed.

use bytes::Bytes;

pub use vigia_media::jpeg_header::{inspect, JpegCheckError, JpegInfo};

/// Validates `data` and returns it ready to deliver with its dimensions:
/// unchanged if it is complete, with the standard Huffman tables inserted
/// before the first scan if it is a Huffman-coded JPEG without any.
pub fn prepare_jpeg(data: Bytes) -> Result<(Bytes, u32, u32), JpegCheckError> {
    let info = inspect(&data)?;
    if info.has_dht || !info.huffman {
        return Ok((data, info.width, info.height));
    }
    let mut out = Vec::with_capacity(data.len() + STANDARD_DHT_LEN);
    out.extend_from_slice(&data[..info.sos_offset]);
    push_standard_dht(&mut out);
    out.extend_from_slice(&data[info.sos_offset..]);
    Ok((Bytes::from(out), info.width, info.height))
}

const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// The four standard tables: (class << 4 | id, bits, values).
const STANDARD_TABLES: [(u8, &[u8; 16], &[u8]); 4] = [
    (0x00, &DC_LUMA_BITS, &DC_VALUES),
    (0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES),
    (0x01, &DC_CHROMA_BITS, &DC_VALUES),
    (0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES),
];

/// Marker (2) + length (2) + 4 x (class/id + 16 counts) + values.
const STANDARD_DHT_LEN: usize = 4 + 4 * 17 + 12 + 162 + 12 + 162;

/// Appends one DHT segment holding the standard tables of T.81 K.3.
fn push_standard_dht(out: &mut Vec<u8>) {
    let len = (STANDARD_DHT_LEN - 2) as u16;
    out.extend_from_slice(&[0xFF, 0xC4]);
    out.extend_from_slice(&len.to_be_bytes());
    for (class_id, bits, values) in STANDARD_TABLES {
        out.push(class_id);
        out.extend_from_slice(bits);
        out.extend_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{strip_dht, test_jpeg};

    #[test]
    fn inspects_a_real_jpeg() {
        let j = test_jpeg(64, 48, 1);
        let info = inspect(&j).expect("valid");
        assert_eq!((info.width, info.height), (64, 48));
        assert!(info.has_dht && info.huffman);
        assert_eq!(&j[info.sos_offset..info.sos_offset + 2], &[0xFF, 0xDA]);
    }

    #[test]
    fn rejects_incomplete_or_garbage() {
        let j = test_jpeg(32, 32, 2);
        assert_eq!(inspect(&j[..2]), Err(JpegCheckError::TooShort { len: 2 }));
        assert_eq!(inspect(&j[1..]), Err(JpegCheckError::NoSoi));
        assert_eq!(inspect(&j[..j.len() - 10]), Err(JpegCheckError::NoEoi));
        assert_eq!(
            inspect(&[0xFF, 0xD8, 0xFF, 0xD9]),
            Err(JpegCheckError::NoScan)
        );
        // A header segment whose length runs past the end.
        let mut bad = j.to_vec();
        bad[4] = 0xFF;
        bad[5] = 0xFF;
        assert!(matches!(
            inspect(&bad),
            Err(JpegCheckError::BadSegment { .. })
        ));
        // Every prefix and every single-byte truncation fails cleanly.
        for n in 0..j.len() {
            let _ = inspect(&j[..n]);
        }
    }

    #[test]
    fn standard_dht_counts_match_values() {
        for (_, bits, values) in STANDARD_TABLES {
            let n: usize = bits.iter().map(|&b| usize::from(b)).sum();
            assert_eq!(n, values.len());
        }
        let mut v = Vec::new();
        push_standard_dht(&mut v);
        assert_eq!(v.len(), STANDARD_DHT_LEN);
    }

    /// Cameras that omit the DHT (UVC MJPEG): re-inserting the standard
    /// tables gives back an image that decodes to the same pixels.
    #[test]
    fn inserts_standard_huffman_tables_when_missing() {
        let original = test_jpeg(64, 48, 3);
        let stripped = strip_dht(&original);
        assert!(stripped.len() < original.len());
        let info = inspect(&stripped).expect("still structurally complete");
        assert!(!info.has_dht);

        let (fixed, w, h) = prepare_jpeg(Bytes::from(stripped)).expect("prepared");
        assert_eq!((w, h), (64, 48));
        assert!(inspect(&fixed).expect("valid").has_dht);
        let decode = |b: &[u8]| {
            zune_jpeg::JpegDecoder::new(zune_core::bytestream::ZCursor::new(b))
                .decode()
                .expect("decodes")
        };
        assert_eq!(decode(&fixed), decode(&original));

        // A JPEG that already has tables is passed through untouched.
        let (same, _, _) = prepare_jpeg(original.clone()).expect("prepared");
        assert_eq!(same, original);
    }
}
