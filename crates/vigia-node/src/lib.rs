//! The camera node: everything between a camera and the outbox.
//!
//! `FrameSource → analysis (luma decode, motion, event machine, pre-buffer)
//! → recorder (H.264 fMP4 + snapshot) → outbox`. The detection core
//! ([`pipeline`]) is synchronous and clock-free so `vigia analyze` replays a
//! file through exactly the code a live node runs; [`runtime`] wires it to
//! tasks and bounded channels; [`uploader`] and [`link`] ship captures,
//! live frames and command answers to the server. [`arming`] holds the
//! armed/disarmed state and [`alarm`] sounds the buzzer when armed.

pub mod alarm;
pub mod analyze;
pub mod arming;
pub mod detection;
pub mod event;
pub mod link;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod prebuffer;
pub mod recorder;
pub mod runtime;
pub mod snapshot;
pub mod sources;
pub mod uploader;
