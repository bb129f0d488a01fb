//! Frame sources for vigia: where a node's [`Frame`]s come from.
//!
//! Owns the [`FrameSource`] trait and its implementations: MJPEG over HTTP
//! ([`http_mjpeg`]), video files through an `ffmpeg` child ([`file`]), V4L2
//! devices ([`v4l2`]) and the synthetic scene ([`synthetic`]). Also the pure,
//! I/O-free parsers they share ([`mjpeg`], [`jpeg_check`]), kept apart so
//! they can be fuzzed and benchmarked alone.
//!
//! Does not own what happens to frames afterwards (the node's pipeline), nor
//! decoding pixels (`vigia-media`): a source only checks that each frame is a
//! complete JPEG, so a corrupt frame is dropped here, counted, and never
//! reaches the pre-buffer or a clip.
//!
//! Error policy: transient trouble (a camera rebooting, a stalled stream) is
//! handled inside a source with backoff and shows up in [`SourceStats`];
//! `Err` from [`FrameSource::next_frame`] means the configuration itself is
//! wrong and retrying cannot help.

pub mod error;
pub mod file;
pub mod http_mjpeg;
mod http_proto;
pub mod jpeg_check;
pub mod mjpeg;
pub mod stats;
pub mod synthetic;
pub mod v4l2;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::CaptureError;
pub use stats::{SourceStats, SourceStatsSnapshot};
pub use vigia_media::Frame;

/// The future returned by [`FrameSource::next_frame`].
pub type NextFrame<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Frame>, CaptureError>> + Send + 'a>>;

/// A camera or stand-in for one, yielding frames in order.
///
/// Object-safe: the node holds a `Box<dyn FrameSource>` chosen from its
/// configuration.
///
/// Cancellation: the node drops the future from `next_frame` when it shuts
/// down (inside a `select!`). Implementations keep all state in `self`, so a
/// dropped future loses nothing but the wait, and the next call carries on.
pub trait FrameSource: Send {
    /// Next good frame; `Ok(None)` = end of stream (files). Corrupt frames
    /// are skipped and counted internally; a vanished camera is retried with
    /// backoff inside (logged with tracing, counted), so `Err` means
    /// unrecoverable (bad config, file missing).
    fn next_frame(&mut self) -> NextFrame<'_>;

    /// Live counters, shared with whoever exports metrics.
    fn stats(&self) -> Arc<SourceStats>;

    /// Human-readable description for logs, without secrets (passwords are
    /// stripped from URLs).
    fn describe(&self) -> String;
}

#[cfg(test)]
pub(crate) mod testutil;
