//! [`StoreError`]: every way a store operation can fail, each variant
//! carrying the path, capture id, camera or user name it is about so a log
//! line is enough to debug it. HTTP mapping is vigia-web's job, not ours.

use std::io;
use std::path::{Path, PathBuf};

use vigia_base::{CameraId, CaptureId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not enough free space (ENOSPC, or below `min_free_bytes`). Retryable:
    /// the sender keeps the capture and tries again after retention runs.
    #[error("disk full (or below the free-space floor) at {path}")]
    DiskFull { path: PathBuf },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("database error ({context}): {source}")]
    Db {
        context: String,
        source: rusqlite::Error,
    },
    /// The database was written by a newer vigia (or is not ours).
    #[error("database {path} has schema version {found}; this build knows up to {supported}")]
    SchemaVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A capture folder failed verification; nothing was stored.
    #[error("capture folder {dir} rejected: {reason}")]
    InvalidCapture { dir: PathBuf, reason: String },
    /// The manifest names a camera other than the one the sender is
    /// authenticated as.
    #[error("capture {id} in {dir} claims camera {claimed}, but was sent by camera {camera}")]
    CameraMismatch {
        dir: PathBuf,
        id: CaptureId,
        camera: CameraId,
        claimed: CameraId,
    },
    /// Same capture id already stored with a different manifest: evidence
    /// is never overwritten.
    #[error("capture {id} is already stored with a different manifest (stored sha256 {stored_sha256}, offered {offered_sha256})")]
    Conflict {
        id: CaptureId,
        stored_sha256: String,
        offered_sha256: String,
    },
    #[error("making the thumbnail of capture {id}: {source}")]
    Thumbnail {
        id: CaptureId,
        source: vigia_media::MediaError,
    },
    #[error("invalid capture query: {reason}")]
    InvalidQuery { reason: String },
    #[error("stored manifest of capture {id} is unreadable: {reason}")]
    CorruptRow { id: CaptureId, reason: String },
    #[error(
        "invalid user name {name:?}: must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
    )]
    InvalidUserName { name: String },
    #[error("password for user {name:?} rejected: {reason}")]
    WeakPassword { name: String, reason: &'static str },
    #[error("user {name:?} already exists")]
    UserExists { name: String },
    #[error("no user named {name:?}")]
    UnknownUser { name: String },
    #[error("no user with id {id}")]
    UnknownUserId { id: i64 },
    #[error("password hashing for user {name:?}: {reason}")]
    PasswordHash { name: String, reason: String },
    #[error("the operating system's random source failed: {reason}")]
    Random { reason: String },
}

impl StoreError {
    /// Maps an I/O error, turning ENOSPC (and EDQUOT) into [`StoreError::DiskFull`].
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        if is_space_error(&source) {
            StoreError::DiskFull {
                path: path.to_owned(),
            }
        } else {
            StoreError::Io {
                path: path.to_owned(),
                source,
            }
        }
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let context = context.into();
        move |source| StoreError::Db { context, source }
    }

    /// True for errors that may go away by themselves (space freed by
    /// retention or by the operator): the sender should retry later.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } => true,
            StoreError::Db { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    | Some(rusqlite::ErrorCode::DiskFull)
            ),
            _ => false,
        }
    }
}

pub(crate) fn is_space_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
        || e.raw_os_error() == Some(libc::EDQUOT)
}
