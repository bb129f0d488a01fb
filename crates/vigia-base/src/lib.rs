//! Foundations shared by every vigia crate: the clock, the shutdown token,
//! typed ids and retry backoff.
//!
//! This crate depends on no other vigia crate, so anything here must be
//! small and domain-neutral enough that every layer can use it.

pub mod backoff;
pub mod clock;
pub mod command;
pub mod ids;
pub mod manifest;
pub mod shutdown;

pub use backoff::Backoff;
pub use clock::{Clock, RealClock, SimulatedClock};
pub use command::{Command, CommandParseError, CommandSource};
pub use ids::{CameraId, CaptureId, IdError};
pub use shutdown::Shutdown;
