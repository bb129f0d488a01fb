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

/// Completes captures cut off mid-event: folders of `incoming/<camera>/`
/// without a manifest, untouched for `older_than_ms`, of a camera that is
/// not connected. The node shipped their finished files (and journal) while
/// the event ran and then went silent — maybe destroyed — so the server
/// writes their manifest from the journal and the files present (end reason
/// `cut_off`), and the next ingest pass stores them. Returns the ids.
pub fn complete_orphans(
    incoming: &Path,
    now_ms: i64,
    older_than_ms: i64,
    connected: &dyn Fn(&CameraId) -> bool,
) -> std::io::Result<Vec<CaptureId>> {
    use sha2::{Digest, Sha256};
    use vigia_base::manifest::{FileEntry, FileKind, Journal, JOURNAL_NAME, MANIFEST_NAME};
    let mut done = Vec::new();
    let Ok(cams) = std::fs::read_dir(incoming) else {
        return Ok(done);
    };
    for cam in cams {
        let cam = cam?;
        let Ok(camera) = cam.file_name().to_string_lossy().parse::<CameraId>() else {
            continue;
        };
        if connected(&camera) || !cam.file_type()?.is_dir() {
            continue;
        }
        for cap in std::fs::read_dir(cam.path())? {
            let cap = cap?;
            let Ok(id) = cap.file_name().to_string_lossy().parse::<CaptureId>() else {
                continue;
            };
            let dir = cap.path();
            if !cap.file_type()?.is_dir() || dir.join(MANIFEST_NAME).exists() {
                continue;
            }
            let mut newest = 0i64;
            let mut present = Vec::new();
            for f in std::fs::read_dir(&dir)? {
                let f = f?;
                let meta = f.metadata()?;
                if let Ok(m) = meta.modified() {
                    let ms = m
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    newest = newest.max(ms);
                }
                let name = f.file_name().to_string_lossy().into_owned();
                if meta.is_file() && FileKind::from_file_name(&name).is_some() {
                    let bytes = std::fs::read(f.path())?;
                    present.push(FileEntry {
                        name,
                        kind: String::new(),
                        bytes: bytes.len() as u64,
                        sha256: hex::encode(Sha256::digest(&bytes)),
                        start_ms: None,
                        duration_ms: None,
                        frames: None,
                    });
                }
            }
            if present.is_empty() || now_ms - newest < older_than_ms {
                continue;
            }
            let start = id.start_ms().unwrap_or(newest);
            let journal = std::fs::read(dir.join(JOURNAL_NAME))
                .ok()
                .and_then(|b| serde_json::from_slice::<Journal>(&b).ok())
                .filter(|j| j.capture_id == id && j.camera == camera)
                .unwrap_or_else(|| Journal {
                    version: 1,
                    capture_id: id.clone(),
                    camera: camera.clone(),
                    trigger_ms: start,
                    start_ms: start,
                    files: vec![],
                });
            let manifest = journal.complete(present, "cut_off");
            let body = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
            let tmp = dir.join(".manifest.json.tmp");
            std::fs::write(&tmp, &body)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, dir.join(MANIFEST_NAME))?;
            std::fs::File::open(&dir)?.sync_all()?;
            tracing::warn!(camera = %camera, capture = %id, files = manifest.files.len(), "camera went silent mid-event: capture completed from the files it had uploaded");
            done.push(id);
        }
    }
    Ok(done)
}
