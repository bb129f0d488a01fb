//! The structure of a JPEG without decoding it: is it complete, how big is
//! it, does it carry Huffman tables, where does its first scan start.
//!
//! One marker walk shared by everything that must judge a JPEG cheaply:
//! frame sources check every frame with it before delivering, and
//! [`crate::jpeg::jpeg_dimensions`] reads sizes with it. It never reads past
//! the slice and always advances, so garbage ends in an error, not a hang.
//! Pure: no I/O, fuzz-friendly.

/// Why bytes are not a usable JPEG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegCheckError {
    #[error("{len} bytes is too short for a JPEG")]
    TooShort { len: usize },
    #[error("does not start with SOI (FFD8)")]
    NoSoi,
    #[error("does not end with EOI (FFD9): truncated?")]
    NoEoi,
    #[error("malformed header segment at offset {offset}")]
    BadSegment { offset: usize },
    #[error("no frame header (SOFn) before the first scan")]
    NoFrameHeader,
    #[error("no scan (SOS) in the image")]
    NoScan,
    #[error("frame header gives zero dimensions {width}x{height}")]
    ZeroDimensions { width: u32, height: u32 },
}

/// What [`inspect`] learned from the header segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
    /// At least one DHT segment precedes the first scan.
    pub has_dht: bool,
    /// The frame is Huffman-coded (not arithmetic), so it needs a DHT.
    pub huffman: bool,
    /// Offset of the first SOS marker (its 0xFF byte).
    pub sos_offset: usize,
}

/// Checks that `data` is a complete JPEG and reads its header.
pub fn inspect(data: &[u8]) -> Result<JpegInfo, JpegCheckError> {
    if data.len() < 4 {
        return Err(JpegCheckError::TooShort { len: data.len() });
    }
    if data[0] != 0xFF || data[1] != 0xD8 {
        return Err(JpegCheckError::NoSoi);
    }
    if data[data.len() - 2] != 0xFF || data[data.len() - 1] != 0xD9 {
        return Err(JpegCheckError::NoEoi);
    }
    let mut i = 2;
    let mut dims = None;
    let mut has_dht = false;
    let mut huffman = true;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if i >= data.len() || data[i] != 0xFF {
            return Err(JpegCheckError::BadSegment { offset: i });
        }
        let marker_start = i;
        while i < data.len() && data[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = data.get(i) else {
            return Err(JpegCheckError::BadSegment { offset: i });
        };
        i += 1;
        match marker {
            0xD9 => return Err(JpegCheckError::NoScan),
            0x01 | 0xD0..=0xD7 => continue,
            0xDA => {
                let Some((width, height)) = dims else {
                    return Err(JpegCheckError::NoFrameHeader);
                };
                return Ok(JpegInfo {
                    width,
                    height,
                    has_dht,
                    huffman,
                    sos_offset: marker_start + (i - marker_start - 2),
                });
            }
            0x00 => return Err(JpegCheckError::BadSegment { offset: i - 1 }),
            _ => {}
        }
        let len = match data.get(i..i + 2) {
            Some(b) => usize::from(u16::from_be_bytes([b[0], b[1]])),
            None => return Err(JpegCheckError::BadSegment { offset: i }),
        };
        if len < 2 || i + len > data.len() {
            return Err(JpegCheckError::BadSegment { offset: i });
        }
        let seg = &data[i + 2..i + len];
        match marker {
            0xC4 => has_dht = true,
            // SOF0-15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if marker != 0xC8 && marker != 0xCC => {
                if seg.len() < 5 {
                    return Err(JpegCheckError::BadSegment { offset: i });
                }
                let height = u32::from(u16::from_be_bytes([seg[1], seg[2]]));
                let width = u32::from(u16::from_be_bytes([seg[3], seg[4]]));
                if width == 0 || height == 0 {
                    return Err(JpegCheckError::ZeroDimensions { width, height });
                }
                huffman = marker < 0xC9;
                dims = Some((width, height));
            }
            _ => {}
        }
        i += len;
    }
}
