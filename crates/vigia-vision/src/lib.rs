//! Vision for vigia: the software **motion detector** that turns a node's
//! downscaled luma planes into triggers (and, later, the person detector and
//! trigger fusion).
//!
//! This crate is pure computation: no files, sockets, clocks or threads.
//! Callers hand in [`vigia_media::LumaPlane`]s and get plain results back, so
//! every algorithm can be unit-tested on synthetic planes, replayed over real
//! footage and benchmarked in isolation.
//!
//! Module map:
//! - [`motion`] — the public API: [`MotionParams`], [`MotionDetector`],
//!   [`MotionResult`]; orchestrates the stages below.
//! - `background` — fixed-point running-average background, per-pixel noise
//!   model and the changed-pixel classification.
//! - `raster` — masks and zones: polygons rasterised into pixel spans once per
//!   plane size.
//! - `blobs` — despeckle (morphological opening) and run-length connected
//!   components.
//! - [`fusion`] — PIR and motion combined by a [`TriggerRule`] into the
//!   event machine's per-frame flags.

mod background;
mod blobs;
pub mod error;
pub mod fusion;
pub mod motion;
mod raster;

pub use error::{PolygonError, VisionError};
pub use fusion::{Fused, FusionParams, TriggerFusion, TriggerRule, TriggerRuleParseError};
pub use motion::{Blob, MotionDetector, MotionParams, MotionResult, Polygon, Zone};
