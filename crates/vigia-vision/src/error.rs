//! Typed errors of the vision crate. Every variant names the offending
//! parameter (by its field path, e.g. `zones[1].polygon`) so a configuration
//! error can be reported to the user without any extra context.

use thiserror::Error;

/// An invalid motion parameter, caught by [`crate::MotionDetector::new`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum VisionError {
    /// A scalar parameter is out of its documented range.
    #[error("motion parameter `{field}` = {value} is invalid: {reason}")]
    InvalidParam {
        /// Field path, e.g. `background_alpha`.
        field: String,
        /// The rejected value, formatted.
        value: String,
        /// The accepted range or rule.
        reason: &'static str,
    },
    /// A mask or zone polygon is malformed.
    #[error("motion parameter `{field}` is an invalid polygon: {source}")]
    InvalidPolygon {
        /// Field path, e.g. `masks[0]` or `zones[2].polygon`.
        field: String,
        /// What is wrong with it.
        source: PolygonError,
    },
}

/// Why a [`crate::Polygon`] is rejected.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PolygonError {
    /// Fewer than three vertices.
    #[error("needs at least 3 points, has {count}")]
    TooFewPoints {
        /// Number of vertices given.
        count: usize,
    },
    /// A coordinate is NaN or infinite.
    #[error("point {index} is not finite")]
    NotFinite {
        /// Index of the vertex.
        index: usize,
    },
    /// A coordinate lies outside the normalised range `0..=1`.
    #[error("point {index} ({x}, {y}) is outside the normalised range 0..=1")]
    OutOfRange {
        /// Index of the vertex.
        index: usize,
        /// Its x coordinate.
        x: f32,
        /// Its y coordinate.
        y: f32,
    },
    /// All vertices are collinear (or coincide): the polygon covers nothing.
    #[error("has zero area")]
    ZeroArea,
}
