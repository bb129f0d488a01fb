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
//!
//! A plain SFTP or scp upload writes files in place and in any order, so a
//! manifest may be read half-written, or before the snapshot it lists has
//! arrived. A folder the store finds incomplete or inconsistent is
//! therefore only rejected once nothing in it has changed for
//! [`SETTLE`]; until then it waits for a later pass.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use vigia_base::{CameraId, CaptureId};
use vigia_store::{IngestOutcome, Store, StoreError};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub stored: Vec<CaptureId>,
    pub already: Vec<CaptureId>,
    pub rejected: Vec<(CaptureId, String)>,
    /// Refused, but still being written to: looked at again next pass.
    pub waiting: Vec<CaptureId>,
    pub disk_full: bool,
}

/// How long a refused capture folder must stay unchanged before it is
/// rejected: longer than any pause of a live upload.
pub const SETTLE: Duration = Duration::from_secs(30);

/// One scan of the incoming area; refused folders changed within `settle`
/// wait (see the module documentation).
pub fn ingest_pass(
    store: &Store,
    incoming: &Path,
    now_ms: i64,
    settle: Duration,
) -> std::io::Result<PassReport> {
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
                Err(StoreError::InvalidCapture { .. })
                    if now_ms - last_change_ms(&path)? < settle.as_millis() as i64 =>
                {
                    report.waiting.push(id);
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

/// When the capture folder or a file in it last changed, in ms since the
/// epoch (0 if the file system keeps no times). A clock that jumped back
/// makes it look recent, which only delays a decision.
fn last_change_ms(dir: &Path) -> std::io::Result<i64> {
    let ms = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    };
    let mut newest = ms(&std::fs::metadata(dir)?);
    for e in std::fs::read_dir(dir)? {
        newest = newest.max(ms(&e?.metadata()?));
    }
    Ok(newest)
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
            // Only a folder quiet for long enough is read and hashed.
            let newest = last_change_ms(&dir)?;
            if now_ms - newest < older_than_ms {
                continue;
            }
            let mut present = Vec::new();
            for f in std::fs::read_dir(&dir)? {
                let f = f?;
                let meta = f.metadata()?;
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
            if present.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_base::Clock;
    use vigia_store::StoreConfig;

    fn age(path: &Path, by: Duration) {
        let t = std::time::SystemTime::now() - by;
        std::fs::File::open(path)
            .and_then(|f| f.set_modified(t))
            .expect("set mtime");
    }

    #[test]
    fn a_half_written_manifest_waits_until_the_folder_settles_then_is_set_aside() {
        let root = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(StoreConfig {
            db_path: root.path().join("db/vigia.db"),
            media_dir: root.path().join("media"),
            min_free_bytes: 0,
        })
        .expect("store");
        let incoming = root.path().join("incoming");
        let id = "20261202T120000000Z-0a0b0c0d";
        let cap = incoming.join("gate").join(id);
        std::fs::create_dir_all(&cap).expect("mkdir");
        // A stock sftp client is in the middle of writing the manifest.
        std::fs::write(
            cap.join("manifest.json"),
            br#"{"version":1,"capture_id":"2026"#,
        )
        .expect("write");
        let settle = Duration::from_secs(30);
        let now_ms = vigia_base::RealClock.now_ms();

        let r = ingest_pass(&store, &incoming, now_ms, settle).expect("pass");
        assert_eq!(r.waiting.len(), 1, "{r:?}");
        assert!(r.rejected.is_empty());
        assert!(cap.join("manifest.json").is_file(), "left in place");

        // Nothing changed for longer than the settle time: set aside, kept.
        age(&cap.join("manifest.json"), Duration::from_secs(60));
        age(&cap, Duration::from_secs(60));
        let r = ingest_pass(&store, &incoming, now_ms, settle).expect("pass");
        assert_eq!(r.rejected.len(), 1, "{r:?}");
        assert!(!cap.exists());
        assert!(incoming
            .join("gate/.rejected")
            .join(id)
            .join("manifest.json")
            .is_file());
    }
}
