//! The journal of a capture being recorded.
//!
//! The journal (`event.json`) is rewritten after every file the recorder
//! finishes, while the event runs. It lets start-up recovery turn an event
//! interrupted by a crash or power cut into a complete capture with every
//! finished fragment, instead of throwing the evidence away. The manifest
//! itself is shared with the server and lives in `vigia_base::manifest`.

use serde::{Deserialize, Serialize};
use vigia_base::{CameraId, CaptureId};

pub use vigia_base::manifest::{
    FileEntry, FileKind, Manifest, Scores, MANIFEST_NAME, MANIFEST_VERSION,
};

pub const JOURNAL_NAME: &str = "event.json";

/// Written when the event starts and after each finished file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub capture_id: CaptureId,
    pub camera: CameraId,
    /// First trigger, ms since the Unix epoch (UTC).
    pub trigger_ms: i64,
    /// First frame of the clip (trigger minus the pre-roll available).
    pub start_ms: i64,
    pub files: Vec<FileEntry>,
}
