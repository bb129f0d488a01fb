//! The server's incoming area: captures dropped into
//! `<data_dir>/incoming/<camera>/<capture id>/` (by a node's plain SFTP
//! upload, a copy, or a test) are ingested into the store and then removed.
//!
//! A capture is only picked up once its `manifest.json` exists (the node
//! writes it last). After a successful ingest (or when the store already
//! holds it) the folder is removed; a capture the store refuses (corrupt,
//! conflicting) is moved to `incoming/<camera>/.rejected/` so the evidence
//! is kept for a person to look at and the scan does not loop on it. A full
//! disk stops the pass and leaves everything for the next one.

use std::path::{Path, PathBuf};

use vigia_base::{CameraId, CaptureId};
use vigia_store::{IngestOutcome, Store, StoreError};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub stored: Vec<CaptureId>,
    pub already: Vec<CaptureId>,
    pub rejected: Vec<(CaptureId, String)>,
    pub disk_full: bool,
}

/// One scan of the incoming area.
pub fn ingest_pass(store: &Store, incoming: &Path, now_ms: i64) -> std::io::Result<PassReport> {
    let mut report = PassReport::default();
    std::fs::create_dir_all(incoming)?;
    let mut cameras: Vec<(CameraId, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(incoming)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        match name.parse::<CameraId>() {
            Ok(c) if e.file_type()?.is_dir() => cameras.push((c, e.path())),
            _ => {
                tracing::debug!(entry = %name, "ignoring entry in incoming/ that is not a camera folder")
            }
        }
    }
    cameras.sort();
    for (camera, dir) in cameras {
        let mut captures: Vec<(CaptureId, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            if let Ok(id) = e.file_name().to_string_lossy().parse::<CaptureId>() {
                if e.path().join("manifest.json").is_file() {
                    captures.push((id, e.path()));
                }
            }
        }
        captures.sort();
        for (id, path) in captures {
            match store.ingest_dir(&camera, &path, now_ms) {
                Ok(outcome) => {
                    match outcome {
                        IngestOutcome::Stored { .. } => report.stored.push(id),
                        IngestOutcome::AlreadyStored { .. } => report.already.push(id),
                    }
                    std::fs::remove_dir_all(&path)?;
                }
                Err(StoreError::DiskFull { .. }) => {
                    report.disk_full = true;
                    return Ok(report);
                }
                Err(e) => {
                    let rejected = dir.join(".rejected");
                    std::fs::create_dir_all(&rejected)?;
                    std::fs::rename(&path, rejected.join(id.as_str()))?;
                    report.rejected.push((id, e.to_string()));
                }
            }
        }
    }
    Ok(report)
}
