//! The outbox: the node's durable spool of captures not yet acknowledged
//! by the server.
//!
//! Layout (every name derived from ids, never from peer strings):
//! ```text
//! outbox/
//!   <capture id>/          one capture, visible from the moment its event starts
//!     event.json           journal: what is finished so far (rewritten per file)
//!     snapshot.jpg
//!     clip-init.mp4        fMP4 init segment (ftyp + moov)
//!     clip-000001.m4s …    fMP4 media fragments, in order
//!     manifest.json        written last: the capture is complete
//!   .<capture id>.tmp/     a capture being created (removed at start-up)
//!   .<capture id>.deleting/ an acknowledged capture being removed (finished at start-up)
//! ```
//! Every file is written with [`durable::write_atomic`] (temp → fsync →
//! rename → fsync dir). A capture's directory appears atomically together
//! with its journal. Complete captures are removed only by
//! [`Outbox::acknowledge`] with the manifest's sha256s.
//!
//! Start-up recovery ([`Outbox::open`]): temp files and dirs are removed;
//! half-deleted captures are finished off; a capture without manifest (the
//! node died mid-event) is completed from its journal and the finished
//! files on disk, marked `end_reason = "interrupted"`, so no evidence that
//! reached the disk is lost and nothing half-written stays visible.
//!
//! Space: the outbox is bounded by a byte quota, and writes can also fail
//! because the disk is full. Either way the write fails with a typed error
//! and older pending captures are kept.

pub mod durable;
pub mod manifest;
mod scan;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use vigia_base::{CameraId, CaptureId};

pub use scan::{Backlog, OutboxEntry};

pub use manifest::{
    FileEntry, FileKind, Journal, Manifest, Scores, JOURNAL_NAME, MANIFEST_NAME, MANIFEST_VERSION,
};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("disk full writing {path}")]
    DiskFull { path: PathBuf },
    #[error("outbox quota of {max_bytes} bytes reached writing {path} ({used_bytes} used)")]
    QuotaExceeded {
        path: PathBuf,
        used_bytes: u64,
        max_bytes: u64,
    },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("capture {id} has a corrupt {file}: {reason}")]
    Corrupt {
        id: CaptureId,
        file: String,
        reason: String,
    },
    #[error("capture {0} is not in the outbox")]
    UnknownCapture(CaptureId),
    #[error("acknowledgement for capture {id} does not match its manifest: {reason}")]
    AckMismatch { id: CaptureId, reason: String },
}

impl OutboxError {
    fn io(path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::StorageFull
            || source.raw_os_error() == Some(libc::ENOSPC)
        {
            OutboxError::DiskFull {
                path: path.to_owned(),
            }
        } else {
            OutboxError::Io {
                path: path.to_owned(),
                source,
            }
        }
    }

    /// True for errors that may go away by themselves (space freed by
    /// uploads or by the operator), so the caller should retry later.
    pub fn is_space(&self) -> bool {
        matches!(
            self,
            OutboxError::DiskFull { .. } | OutboxError::QuotaExceeded { .. }
        )
    }
}

/// Counters exposed as metrics.
#[derive(Debug, Default)]
pub struct OutboxStats {
    pub pending_captures: AtomicU64,
    /// Bytes of every capture in the outbox, complete or in progress.
    pub bytes: AtomicU64,
    pub in_progress: AtomicU64,
    pub write_errors: AtomicU64,
    pub space_errors: AtomicU64,
    pub acknowledged: AtomicU64,
}

/// What start-up recovery found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub complete: usize,
    /// Interrupted events completed from their journal.
    pub completed_interrupted: Vec<CaptureId>,
    /// Temp files, temp dirs and half-deleted captures removed.
    pub removed_partial: usize,
    /// Entries with names the outbox does not own, left alone.
    pub ignored: Vec<String>,
}

/// A complete capture waiting for acknowledgement.
#[derive(Debug, Clone)]
pub struct PendingCapture {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    max_bytes: u64,
    stats: Arc<OutboxStats>,
    /// Bumped whenever a file is finished, a capture committed or removed,
    /// so the uploader ships fragments while their event still runs.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| e.to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

impl Outbox {
    /// Opens (creating if needed) the outbox at `dir` and runs start-up
    /// recovery.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, RecoveryReport), OutboxError> {
        fs::create_dir_all(dir).map_err(|e| OutboxError::io(dir, e))?;
        let outbox = Self {
            dir: dir.to_owned(),
            max_bytes,
            stats: Arc::new(OutboxStats::default()),
            changes: Arc::new(tokio::sync::watch::channel(0).0),
        };
        let report = outbox.recover()?;
        Ok((outbox, report))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> Arc<OutboxStats> {
        self.stats.clone()
    }

    /// Changes whenever the outbox gains a finished file or a complete
    /// capture, or loses a capture.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn recover(&self) -> Result<RecoveryReport, OutboxError> {
        let mut report = RecoveryReport::default();
        let mut total = 0u64;
        let mut complete = 0u64;
        let entries = fs::read_dir(&self.dir).map_err(|e| OutboxError::io(&self.dir, e))?;
        let mut names: Vec<String> = Vec::new();
        for e in entries {
            let e = e.map_err(|e| OutboxError::io(&self.dir, e))?;
            match e.file_name().into_string() {
                Ok(n) => names.push(n),
                Err(n) => report.ignored.push(n.to_string_lossy().into_owned()),
            }
        }
        names.sort();
        for name in names {
            let path = self.dir.join(&name);
            if name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".deleting")) {
                let r = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                r.map_err(|e| OutboxError::io(&path, e))?;
                report.removed_partial += 1;
                continue;
            }
            let Ok(id) = name.parse::<CaptureId>() else {
                report.ignored.push(name);
                continue;
            };
            if !path.is_dir() {
                report.ignored.push(name);
                continue;
            }
            report.removed_partial += remove_temp_files(&path)?;
            match read_json::<Manifest>(&path.join(MANIFEST_NAME)) {
                Ok(Some(_)) => {
                    complete += 1;
                    report.complete += 1;
                }
                Ok(None) => {
                    if self.complete_interrupted(&id, &path)? {
                        complete += 1;
                        report.completed_interrupted.push(id);
                    } else {
                        durable::remove_dir_durably(&self.dir, &name)
                            .map_err(|e| OutboxError::io(&path, e))?;
                        report.removed_partial += 1;
                        continue;
                    }
                }
                Err(reason) => {
                    return Err(OutboxError::Corrupt {
                        id,
                        file: MANIFEST_NAME.into(),
                        reason,
                    })
                }
            }
            total += dir_bytes(&path);
        }
        durable::fsync_dir(&self.dir).map_err(|e| OutboxError::io(&self.dir, e))?;
        self.stats.bytes.store(total, Ordering::Relaxed);
        self.stats
            .pending_captures
            .store(complete, Ordering::Relaxed);
        Ok(report)
    }

    /// Completes a capture whose event was cut short. Returns false if the
    /// capture holds nothing worth keeping (no journal, no finished file).
    fn complete_interrupted(&self, id: &CaptureId, path: &Path) -> Result<bool, OutboxError> {
        let journal = match read_json::<Journal>(&path.join(JOURNAL_NAME)) {
            Ok(Some(j)) if &j.capture_id == id => j,
            _ => return Ok(false),
        };
        // Every finished file on disk counts (each was fsynced before its
        // rename), including those finished after the journal's last rewrite.
        let mut present = Vec::new();
        let entries = fs::read_dir(path).map_err(|e| OutboxError::io(path, e))?;
        for e in entries {
            let e = e.map_err(|e| OutboxError::io(path, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if FileKind::from_file_name(&name).is_none() {
                continue;
            }
            let bytes = fs::read(e.path()).map_err(|err| OutboxError::io(&e.path(), err))?;
            present.push(FileEntry {
                name,
                kind: String::new(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
                start_ms: None,
                duration_ms: None,
                frames: None,
            });
        }
        // A clip is only playable from its init segment; fragments without it
        // are still evidence, so they stay listed.
        let manifest = journal.complete(present, "interrupted");
        write_json(path, MANIFEST_NAME, &manifest)?;
        Ok(true)
    }

    /// Starts a capture: its directory appears atomically with its journal.
    pub fn begin(
        &self,
        capture_id: CaptureId,
        camera: CameraId,
        trigger_ms: i64,
        start_ms: i64,
    ) -> Result<CaptureWriter, OutboxError> {
        let journal = Journal {
            version: MANIFEST_VERSION,
            capture_id: capture_id.clone(),
            camera,
            trigger_ms,
            start_ms,
            files: Vec::new(),
        };
        let body = serde_json::to_vec_pretty(&journal).map_err(|e| OutboxError::Io {
            path: self.dir.clone(),
            source: io::Error::other(e),
        })?;
        self.check_quota(&self.dir, body.len() as u64)?;
        let tmp = self.dir.join(format!(".{capture_id}.tmp"));
        let final_dir = self.dir.join(capture_id.as_str());
        let r = (|| {
            fs::create_dir(&tmp)?;
            durable::write_atomic(&tmp, JOURNAL_NAME, &body)?;
            fs::rename(&tmp, &final_dir)?;
            durable::fsync_dir(&self.dir)
        })();
        if let Err(e) = r {
            let _ = fs::remove_dir_all(&tmp);
            return Err(self.count_error(OutboxError::io(&final_dir, e)));
        }
        self.stats
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.stats.in_progress.fetch_add(1, Ordering::Relaxed);
        Ok(CaptureWriter {
            outbox: self.clone(),
            dir: final_dir,
            journal,
            journal_bytes: body.len() as u64,
            finished: false,
        })
    }

    fn check_quota(&self, path: &Path, add: u64) -> Result<(), OutboxError> {
        let used = self.stats.bytes.load(Ordering::Relaxed);
        if used + add > self.max_bytes {
            return Err(self.count_error(OutboxError::QuotaExceeded {
                path: path.to_owned(),
                used_bytes: used,
                max_bytes: self.max_bytes,
            }));
        }
        Ok(())
    }

    fn count_error(&self, e: OutboxError) -> OutboxError {
        self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
        if e.is_space() {
            self.stats.space_errors.fetch_add(1, Ordering::Relaxed);
        }
        e
    }

    /// Complete captures, oldest first.
    pub fn pending(&self) -> Result<Vec<PendingCapture>, OutboxError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(|e| OutboxError::io(&self.dir, e))?;
        for e in entries {
            let e = e.map_err(|e| OutboxError::io(&self.dir, e))?;
            let Ok(id) = e.file_name().to_string_lossy().parse::<CaptureId>() else {
                continue;
            };
            let dir = e.path();
            match read_json::<Manifest>(&dir.join(MANIFEST_NAME)) {
                Ok(Some(manifest)) => out.push(PendingCapture { dir, manifest }),
                Ok(None) => {} // in progress
                Err(reason) => {
                    return Err(OutboxError::Corrupt {
                        id,
                        file: MANIFEST_NAME.into(),
                        reason,
                    })
                }
            }
        }
        out.sort_by(|a, b| a.manifest.capture_id.cmp(&b.manifest.capture_id));
        Ok(out)
    }

    /// The manifest of a complete capture in `dir`.
    fn read_manifest(&self, id: &CaptureId, dir: &Path) -> Result<Manifest, OutboxError> {
        match read_json(&dir.join(MANIFEST_NAME)) {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(OutboxError::UnknownCapture(id.clone())),
            Err(reason) => Err(OutboxError::Corrupt {
                id: id.clone(),
                file: MANIFEST_NAME.into(),
                reason,
            }),
        }
    }

    /// Re-reads every file of a complete capture and checks it against the
    /// manifest (size and sha256).
    pub fn verify(&self, id: &CaptureId) -> Result<Manifest, OutboxError> {
        let dir = self.dir.join(id.as_str());
        let manifest = self.read_manifest(id, &dir)?;
        for f in &manifest.files {
            let path = dir.join(&f.name);
            let bytes = fs::read(&path).map_err(|e| OutboxError::io(&path, e))?;
            if bytes.len() as u64 != f.bytes || sha256_hex(&bytes) != f.sha256 {
                return Err(OutboxError::Corrupt {
                    id: id.clone(),
                    file: f.name.clone(),
                    reason: "size or sha256 differs from the manifest".into(),
                });
            }
        }
        Ok(manifest)
    }

    /// Removes a complete capture once the server has acknowledged it. The
    /// acknowledgement must name exactly the manifest's files and sha256s,
    /// so a stale or mistaken ack can never delete unsent evidence.
    pub fn acknowledge(
        &self,
        id: &CaptureId,
        acked: &[(String, String)],
    ) -> Result<(), OutboxError> {
        let dir = self.dir.join(id.as_str());
        let manifest = self.read_manifest(id, &dir)?;
        let mut want: Vec<(String, String)> = manifest
            .files
            .iter()
            .map(|f| (f.name.clone(), f.sha256.clone()))
            .collect();
        let mut got = acked.to_vec();
        want.sort();
        got.sort();
        if want != got {
            return Err(OutboxError::AckMismatch {
                id: id.clone(),
                reason: format!(
                    "manifest lists {} files, ack names {}",
                    want.len(),
                    got.len()
                ),
            });
        }
        let bytes = dir_bytes(&dir);
        durable::remove_dir_durably(&self.dir, id.as_str())
            .map_err(|e| OutboxError::io(&dir, e))?;
        self.stats.bytes.fetch_sub(
            bytes.min(self.stats.bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.stats.pending_captures.fetch_sub(1, Ordering::Relaxed);
        self.stats.acknowledged.fetch_add(1, Ordering::Relaxed);
        self.changed();
        Ok(())
    }
}

fn remove_temp_files(dir: &Path) -> Result<usize, OutboxError> {
    let mut n = 0;
    let entries = fs::read_dir(dir).map_err(|e| OutboxError::io(dir, e))?;
    for e in entries {
        let e = e.map_err(|e| OutboxError::io(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            fs::remove_file(e.path()).map_err(|err| OutboxError::io(&e.path(), err))?;
            n += 1;
        }
    }
    Ok(n)
}

fn write_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<u64, OutboxError> {
    let path = dir.join(name);
    let body = serde_json::to_vec_pretty(value).map_err(|e| OutboxError::Io {
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    durable::write_atomic(dir, name, &body).map_err(|e| OutboxError::io(&path, e))?;
    Ok(body.len() as u64)
}

/// Writes the files of one capture while its event runs.
#[derive(Debug)]
pub struct CaptureWriter {
    outbox: Outbox,
    dir: PathBuf,
    journal: Journal,
    journal_bytes: u64,
    finished: bool,
}

/// Timing of a clip fragment, recorded in the journal and manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct FragmentTiming {
    pub start_ms: i64,
    pub duration_ms: u32,
    pub frames: u32,
}

impl CaptureWriter {
    pub fn capture_id(&self) -> &CaptureId {
        &self.journal.capture_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn files(&self) -> &[FileEntry] {
        &self.journal.files
    }

    /// Writes one file durably, then records it in the journal. Rewriting
    /// a kind already written (the snapshot, when a better frame comes)
    /// replaces it atomically.
    pub fn write_file(
        &mut self,
        kind: FileKind,
        bytes: &[u8],
        timing: Option<FragmentTiming>,
    ) -> Result<FileEntry, OutboxError> {
        let name = kind.file_name();
        let path = self.dir.join(&name);
        let replaced = self
            .journal
            .files
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.bytes);
        self.outbox
            .check_quota(&path, (bytes.len() as u64).saturating_sub(replaced))?;
        durable::write_atomic(&self.dir, &name, bytes)
            .map_err(|e| self.outbox.count_error(OutboxError::io(&path, e)))?;
        let entry = FileEntry {
            name: name.clone(),
            kind: kind.label().into(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            start_ms: timing.map(|t| t.start_ms),
            duration_ms: timing.map(|t| t.duration_ms),
            frames: timing.map(|t| t.frames),
        };
        self.journal.files.retain(|f| f.name != name);
        self.journal.files.push(entry.clone());
        let stats = &self.outbox.stats;
        stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        stats.bytes.fetch_sub(
            replaced.min(stats.bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        // The file itself is safe now; a failed journal update only costs
        // its timing metadata, which recovery can do without.
        match write_json(&self.dir, JOURNAL_NAME, &self.journal) {
            Ok(n) => {
                stats.bytes.fetch_add(n, Ordering::Relaxed);
                stats.bytes.fetch_sub(
                    self.journal_bytes.min(stats.bytes.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                self.journal_bytes = n;
            }
            Err(e) => {
                self.outbox.count_error(OutboxError::Io {
                    path: self.dir.join(JOURNAL_NAME),
                    source: io::Error::other(e.to_string()),
                });
            }
        }
        self.outbox.changed();
        Ok(entry)
    }

    /// Writes the manifest: from here on the capture is complete and will
    /// survive restarts until acknowledged.
    pub fn commit(mut self, mut manifest: Manifest) -> Result<Manifest, OutboxError> {
        let mut files = self.journal.files.clone();
        files.sort_by_key(|f| FileKind::from_file_name(&f.name));
        manifest.files = files;
        manifest.capture_id = self.journal.capture_id.clone();
        manifest.camera = self.journal.camera.clone();
        let n = write_json(&self.dir, MANIFEST_NAME, &manifest)
            .map_err(|e| self.outbox.count_error(e))?;
        let stats = &self.outbox.stats;
        stats.bytes.fetch_add(n, Ordering::Relaxed);
        stats.pending_captures.fetch_add(1, Ordering::Relaxed);
        self.finished = true;
        stats.in_progress.fetch_sub(1, Ordering::Relaxed);
        self.outbox.changed();
        Ok(manifest)
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }
}

impl Drop for CaptureWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Left for start-up recovery to complete: the files on disk are
            // evidence even if the manifest could not be written now.
            self.outbox
                .stats
                .in_progress
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
