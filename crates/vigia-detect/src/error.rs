//! What can go wrong detecting people, with enough context to act alone.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("person model {path}: {source}")]
    ModelRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not the expected TensorFlow graph, or tract cannot run it.
    #[error("person model {path}: {message}")]
    ModelLoad { path: PathBuf, message: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("image is not a valid {width}x{height} RGB buffer")]
    BadImage { width: u32, height: u32 },
    #[error("cannot decode image: {0}")]
    Decode(String),
    #[error("unsupported image format (JPEG and PNG are supported)")]
    UnsupportedFormat,
}
