//! The frame: one image from a camera, kept encoded.
//!
//! Frames travel as JPEG from the source to the pre-buffer, the live view
//! and the snapshot, so pre-roll costs bytes of JPEG rather than megabytes
//! of pixels. Analysis decodes a downscaled luma plane on demand
//! (see [`crate::jpeg`]); nothing decodes full colour unless it records.

use bytes::Bytes;
use vigia_base::CameraId;

#[derive(Debug, Clone)]
pub struct Frame {
    pub camera: CameraId,
    /// Position in the source's stream, counting from 0; gaps mean frames
    /// the source skipped (corrupt) or the pipeline dropped.
    pub seq: u64,
    /// Capture time, ms since the Unix epoch (UTC). For a video file
    /// replayed by `vigia analyze` this is the presentation time from the
    /// start of the file instead, so results are reproducible.
    pub captured_ms: i64,
    pub width: u32,
    pub height: u32,
    /// A complete baseline or progressive JPEG (SOI .. EOI).
    pub jpeg: Bytes,
}
