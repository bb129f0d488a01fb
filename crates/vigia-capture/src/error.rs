//! [`CaptureError`]: the unrecoverable failures of a frame source.
//!
//! Every variant names the URL (passwords stripped), path or device it is
//! about, so a log line is enough to find the culprit. Transient errors
//! (connection refused, HTTP 500, a stalled stream) are not here: sources
//! retry those and record them in [`crate::SourceStats`].

use std::path::PathBuf;

use vigia_media::MediaError;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The camera URL cannot be used. `url` has its password removed.
    #[error("invalid camera URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The URL names a scheme this build cannot speak (e.g. https).
    #[error("unsupported scheme {scheme:?} in camera URL {url:?}: {hint}")]
    UnsupportedScheme {
        url: String,
        scheme: String,
        hint: &'static str,
    },

    #[error("video file {path:?} does not exist or cannot be read: {source}")]
    FileNotFound {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `ffmpeg`/`ffprobe` could not be started at all (not installed?).
    #[error("cannot run {program} for {path:?}: {source}")]
    Spawn {
        program: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `ffprobe` ran but the file has no usable video stream.
    #[error("ffprobe on {path:?}: {reason}")]
    Probe { path: PathBuf, reason: String },

    /// `ffmpeg` failed while decoding; `stderr_tail` is the end of its log.
    #[error("ffmpeg failed on {path:?} ({status}): {stderr_tail}")]
    Ffmpeg {
        path: PathBuf,
        status: String,
        stderr_tail: String,
    },

    #[error("reading ffmpeg output for {path:?}: {source}")]
    FileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The V4L2 device node cannot be opened (missing, or no permission:
    /// is the user in the `video` group?).
    #[error("cannot open V4L2 device {device:?}: {source}")]
    DeviceOpen {
        device: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The device offers no mode we can use.
    #[error("V4L2 device {device:?}: {reason}")]
    DeviceMode { device: PathBuf, reason: String },

    /// V4L2 is only available on Linux.
    #[error("V4L2 device {device:?}: V4L2 is only supported on Linux")]
    V4l2Unsupported { device: PathBuf },

    /// The configured camera/source settings are inconsistent.
    #[error("invalid {what} for {source_desc}: {reason}")]
    InvalidConfig {
        source_desc: String,
        what: &'static str,
        reason: String,
    },

    /// Encoding or decoding through `vigia-media` failed for a reason that
    /// will not go away by retrying (e.g. unsupported dimensions).
    #[error("{source_desc}: {source}")]
    Media {
        source_desc: String,
        #[source]
        source: MediaError,
    },
}
