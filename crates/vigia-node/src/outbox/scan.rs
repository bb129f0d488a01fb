//! What the uploader sees: every capture in the outbox, complete or still
//! being recorded, with the files finished so far.
//!
//! An event in progress lists the files its journal names: each was
//! fsynced and renamed into place before the journal mentioned it, so it
//! can be shipped at once — the point of uploading fragments while the
//! event runs is that a camera smashed mid-event has already sent them.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use vigia_base::CaptureId;

use super::{read_json, Journal, Outbox, OutboxError, JOURNAL_NAME, MANIFEST_NAME};
use vigia_base::manifest::{FileEntry, FileKind, Manifest};

/// One capture in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: CaptureId,
    pub dir: PathBuf,
    /// Finished files, snapshot first, then the clip in order.
    pub files: Vec<FileEntry>,
    /// Present once the capture is complete.
    pub manifest: Option<Manifest>,
}

/// Captures waiting to leave the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub captures: u64,
    pub bytes: u64,
    /// Capture start of the oldest waiting capture, ms since the epoch.
    pub oldest_start_ms: Option<i64>,
}

fn ordered(mut files: Vec<FileEntry>) -> Vec<FileEntry> {
    files.retain(|f| FileKind::from_file_name(&f.name).is_some());
    files.sort_by_key(|f| FileKind::from_file_name(&f.name));
    files
}

impl Outbox {
    /// Every capture, oldest first.
    pub fn scan(&self) -> Result<Vec<OutboxEntry>, OutboxError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(self.dir()).map_err(|e| OutboxError::io(self.dir(), e))?;
        for e in entries {
            let e = e.map_err(|e| OutboxError::io(self.dir(), e))?;
            let Ok(id) = e.file_name().to_string_lossy().parse::<CaptureId>() else {
                continue;
            };
            let dir = e.path();
            let corrupt = |file: &str, reason| OutboxError::Corrupt {
                id: id.clone(),
                file: file.into(),
                reason,
            };
            match read_json::<Manifest>(&dir.join(MANIFEST_NAME)) {
                Ok(Some(m)) => out.push(OutboxEntry {
                    id: id.clone(),
                    dir,
                    files: ordered(m.files.clone()),
                    manifest: Some(m),
                }),
                Ok(None) => match read_json::<Journal>(&dir.join(JOURNAL_NAME)) {
                    Ok(Some(j)) => out.push(OutboxEntry {
                        id: id.clone(),
                        dir,
                        files: ordered(j.files),
                        manifest: None,
                    }),
                    // Removed between listing and reading (acknowledged).
                    Ok(None) => {}
                    Err(reason) => return Err(corrupt(JOURNAL_NAME, reason)),
                },
                Err(reason) => return Err(corrupt(MANIFEST_NAME, reason)),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The backlog as the metrics and the server's camera status show it.
    pub fn backlog(&self) -> Backlog {
        let stats = self.stats();
        let oldest = fs::read_dir(self.dir())
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_string_lossy().parse::<CaptureId>().ok())
            .min();
        Backlog {
            captures: stats.pending_captures.load(Ordering::Relaxed)
                + stats.in_progress.load(Ordering::Relaxed),
            bytes: stats.bytes.load(Ordering::Relaxed),
            oldest_start_ms: oldest.and_then(|id| id.start_ms()),
        }
    }
}
