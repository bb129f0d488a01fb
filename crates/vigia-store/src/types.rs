//! The plain data types of the store's API: what vigia-web reads and
//! passes in. No behaviour beyond parsing and display lives here, so the
//! web crate can serialise these to JSON as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;
use vigia_base::manifest::Manifest;
use vigia_base::{CameraId, CaptureId};

/// Where the store keeps things. Both paths are created if missing.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The SQLite metadata database (WAL files sit next to it).
    pub db_path: PathBuf,
    /// Root of the media tree: `<camera>/<YYYY-MM-DD>/<capture id>/`.
    pub media_dir: PathBuf,
    /// Ingest is refused ([`crate::StoreError::DiskFull`]) if it would leave
    /// less than this many bytes free on the media file system.
    pub min_free_bytes: u64,
}

/// What start-up reconciliation repaired. Empty after a clean shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Temp dirs of interrupted ingests, incomplete capture dirs without a
    /// row, and stray files removed from the media tree.
    pub orphan_files_removed: Vec<PathBuf>,
    /// Rows whose capture directory is missing or incomplete, removed.
    pub rows_without_files_removed: Vec<CaptureId>,
    /// Deletions (garbage rows) interrupted by a crash and finished now.
    pub garbage_collected: u64,
    /// Complete capture dirs without a row (crash between rename and
    /// insert) indexed again, so no evidence is lost. Added to the agreed
    /// API; the other fields keep their meaning.
    pub reindexed: Vec<CaptureId>,
}

impl RecoveryReport {
    pub fn is_empty(&self) -> bool {
        self == &RecoveryReport::default()
    }
}

/// What a user may do. Viewers watch and browse; admins also delete
/// captures and send commands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected \"admin\" or \"viewer\")")]
pub struct RoleParseError(pub String);

impl FromStr for Role {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, RoleParseError> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(RoleParseError(s.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_ms: i64,
}

/// A freshly created session. `token` goes into the cookie and is never
/// stored; only its sha256 is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// 256-bit random, lowercase hex (64 characters).
    pub token: String,
    /// 256-bit random, lowercase hex; must accompany every state change.
    pub csrf_token: String,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_ms: i64,
}

/// A page request for [`crate::Store::list_captures`]. Results are newest
/// first; pass the previous page's `next_before` as `before`.
#[derive(Debug, Clone, Default)]
pub struct CaptureQuery {
    pub camera: Option<CameraId>,
    pub label: Option<String>,
    /// `YYYY-MM-DD`, UTC day of the capture's start.
    pub day: Option<String>,
    /// Keyset cursor: only captures whose id sorts before this one.
    /// Capture ids sort by start time, so this is "older than".
    pub before: Option<CaptureId>,
    /// Clamped to 1..=1000.
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapturePage {
    pub items: Vec<CaptureSummary>,
    /// Cursor for the next (older) page; `None` on the last page.
    pub next_before: Option<CaptureId>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureSummary {
    pub id: CaptureId,
    pub camera: CameraId,
    pub start_ms: i64,
    pub end_ms: i64,
    pub label: String,
    pub score: f32,
    /// Bytes the capture occupies in the media tree (snapshot, thumbnail,
    /// clip, manifest).
    pub bytes: u64,
    pub has_clip: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureDetail {
    pub summary: CaptureSummary,
    pub manifest: Manifest,
    pub clip_bytes: Option<u64>,
}

/// The files of a stored capture that can be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Snapshot,
    /// About 320 px wide, made once at ingest.
    Thumbnail,
    /// The fragments concatenated into one playable `clip.mp4` at ingest.
    Clip,
}

impl MediaKind {
    /// The fixed file name inside a capture directory.
    pub fn file_name(self) -> &'static str {
        match self {
            MediaKind::Snapshot => crate::media::SNAPSHOT,
            MediaKind::Thumbnail => crate::media::THUMBNAIL,
            MediaKind::Clip => crate::media::CLIP,
        }
    }

    /// The MIME type to serve the file with.
    pub fn content_type(self) -> &'static str {
        match self {
            MediaKind::Snapshot | MediaKind::Thumbnail => "image/jpeg",
            MediaKind::Clip => "video/mp4",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraInfo {
    pub id: CameraId,
    pub captures: u64,
    pub bytes: u64,
    pub last_capture_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Verified, durable and indexed: acknowledge it.
    Stored { id: CaptureId, bytes: u64 },
    /// Already stored with the same manifest (a retry after a lost ack):
    /// acknowledge it again.
    AlreadyStored { id: CaptureId },
}

impl IngestOutcome {
    pub fn id(&self) -> &CaptureId {
        match self {
            IngestOutcome::Stored { id, .. } | IngestOutcome::AlreadyStored { id } => id,
        }
    }
}

/// Limits for one camera; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CameraRetention {
    pub max_age_ms: Option<i64>,
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// For cameras not in `per_camera`.
    pub default: CameraRetention,
    pub per_camera: BTreeMap<CameraId, CameraRetention>,
    /// Oldest captures (any camera) are deleted while the media file system
    /// has less than this free.
    pub min_free_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Deleted captures with the reason: `max_age`, `max_bytes` or `min_free`.
    pub deleted: Vec<(CaptureId, String)>,
    pub bytes_freed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub captures: u64,
    pub bytes: u64,
    /// Ingests that failed since this process opened the store.
    pub ingest_errors: u64,
    pub users: u64,
}
