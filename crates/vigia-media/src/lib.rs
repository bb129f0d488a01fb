//! Media types and codecs for vigia: the [`Frame`] that flows through the
//! node, luma and YUV planes, JPEG decode/encode, H.264 encoding, the
//! fragmented-MP4 muxer and the synthetic scene.
//!
//! This crate is pure computation: no tokio, no sockets, no files (callers
//! own I/O), so every codec path can be unit-tested, fuzzed and benchmarked
//! in isolation.

pub mod error;
pub mod frame;
pub mod plane;

pub use error::MediaError;
pub use frame::Frame;
pub use plane::{LumaPlane, Yuv420};
