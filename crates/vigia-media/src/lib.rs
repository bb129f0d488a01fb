//! Media types and codecs for vigia: the [`Frame`] that flows through the
//! node, luma and YUV planes, JPEG decode/encode, H.264 encoding, the
//! fragmented-MP4 muxer and the synthetic scene.
//!
//! This crate is pure computation: no tokio, no sockets, no files (callers
//! own I/O), so every codec path can be unit-tested, fuzzed and benchmarked
//! in isolation.

pub mod clip;
pub mod error;
pub mod frame;
pub mod h264;
pub mod jpeg;
pub mod jpeg_header;
mod jpeg_luma;
pub mod mp4;
pub mod plane;
pub mod synthetic;

pub use clip::{ClipChunk, ClipConfig, ClipEncoder};
pub use error::MediaError;
pub use frame::Frame;
pub use h264::{EncodedPicture, H264Encoder};
pub use jpeg::{
    decode_luma, decode_yuv420, draw_box, encode_jpeg_luma, encode_jpeg_yuv, jpeg_dimensions,
};
pub use mp4::{init_segment, media_segment, Sample};
pub use plane::{LumaPlane, Yuv420};
pub use synthetic::{
    Direction, FigureScript, GroundTruth, LightSwitch, SceneConfig, SceneScript, SyntheticScene,
    TruthKind,
};
