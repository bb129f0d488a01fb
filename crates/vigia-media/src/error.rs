//! Errors from decoding, encoding and muxing.

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes are not a JPEG we can read (corrupt, truncated, or an
    /// unsupported variant such as arithmetic coding).
    #[error("invalid JPEG ({len} bytes): {reason}")]
    InvalidJpeg { len: usize, reason: String },
    #[error("JPEG encoding failed: {0}")]
    JpegEncode(String),
    #[error("H.264 encoder error: {0}")]
    H264(String),
    /// A frame's size differs from the stream's; encoders and muxers are
    /// fixed to one size.
    #[error("frame is {got_w}x{got_h} but the stream is {want_w}x{want_h}")]
    SizeChanged {
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error("unsupported dimensions {width}x{height}: {reason}")]
    BadDimensions {
        width: u32,
        height: u32,
        reason: &'static str,
    },
    /// Analysis decodes at 1/1, 1/2, 1/4 or 1/8 scale only.
    #[error("unsupported luma scale {0} (must be 1, 2, 4 or 8)")]
    BadScale(u32),
    #[error("MP4 muxing: {0}")]
    Mux(String),
}
