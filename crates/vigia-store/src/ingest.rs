//! Ingest: turning a capture folder sent by a node into a stored capture,
//! in DESIGN.md's durability order.
//!
//! 1. Read and check `manifest.json` (camera = the sender's, id's time =
//!    start, label, file names from the node's fixed set).
//! 2. Check the folder holds exactly the listed files (plus the node's
//!    `event.json` journal, which is ignored), each a regular file of the
//!    listed size. Anything else (unlisted names, `../x`, symlinks,
//!    subdirectories, leftovers of an unfinished upload) rejects the
//!    capture.
//! 3. Same id already stored: same manifest sha256 → `AlreadyStored` (a
//!    retry after a lost ack); different → `Conflict`, never overwritten.
//! 4. Free space ≥ `min_free_bytes` + the capture, else `DiskFull`.
//! 5. Build `<media>/.tmp-<id>/`: snapshot.jpg, thumb.jpg (made once
//!    here), clip.mp4 (init + fragments in order), manifest.json. Every
//!    byte is hashed while it is copied and compared with the manifest,
//!    so a file changed after step 2 is caught. fsync every file and the
//!    directory.
//! 6. Rename it to `<media>/<camera>/<day>/<id>/`, fsync both parents.
//! 7. Insert the row. Only now does the capture exist for queries and may
//!    the caller acknowledge it.
//!
//! Any error before step 6 removes the temp dir, so nothing is half
//! visible; ENOSPC anywhere is `DiskFull` (retryable). A crash before 6
//! leaves a temp dir (removed at start-up); between 6 and 7 a complete
//! directory without a row (re-indexed at start-up, see `recovery.rs`).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use vigia_base::manifest::{FileEntry, FileKind, Manifest, MANIFEST_NAME, MANIFEST_VERSION};
use vigia_base::{CameraId, CaptureId};

use crate::media;
use crate::{IngestOutcome, Store, StoreError};

/// The node's journal; may sit in a folder copied from an outbox.
const JOURNAL_NAME: &str = "event.json";
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Snapshots are read whole (for the thumbnail); refuse absurd ones.
const MAX_SNAPSHOT_BYTES: u64 = 64 << 20;
/// Headroom counted for the thumbnail and file-system overhead.
const OVERHEAD_BYTES: u64 = 256 << 10;
pub const LABELS: [&str; 3] = ["person", "animal", "motion"];

/// The checked plan of one capture: which listed file is which.
pub(crate) struct Plan<'a> {
    pub snapshot: Option<&'a FileEntry>,
    /// Clip parts in file order: the init segment (if any), then fragments
    /// by index.
    pub clip: Vec<(FileKind, &'a FileEntry)>,
}

/// What a built (or re-indexed) capture directory holds.
#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub bytes: u64,
    pub snapshot_bytes: Option<u64>,
    pub thumb_bytes: Option<u64>,
    pub clip_bytes: Option<u64>,
}

fn invalid(dir: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidCapture {
        dir: dir.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Opens a regular file without following a symlink in its last component.
fn open_regular(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Reads a file of at most `max` bytes.
pub(crate) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, StoreError> {
    let f = open_regular(path).map_err(|e| StoreError::io(path, e))?;
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| StoreError::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(invalid(path, format!("larger than {max} bytes")));
    }
    Ok(buf)
}

/// Checks the manifest's own claims and sorts its files into a plan.
pub(crate) fn check_manifest<'a>(
    m: &'a Manifest,
    camera: &CameraId,
    dir: &Path,
) -> Result<Plan<'a>, StoreError> {
    if m.version != MANIFEST_VERSION {
        return Err(invalid(
            dir,
            format!("manifest version {} is not {MANIFEST_VERSION}", m.version),
        ));
    }
    if &m.camera != camera {
        return Err(StoreError::CameraMismatch {
            dir: dir.to_owned(),
            id: m.capture_id.clone(),
            camera: camera.clone(),
            claimed: m.camera.clone(),
        });
    }
    // The id's time part must be the start: keyset pages and day ranges
    // rely on ids sorting by start time.
    let expected = CaptureId::new(m.start_ms, 0);
    if expected.as_str()[..19] != m.capture_id.as_str()[..19] {
        return Err(invalid(
            dir,
            format!(
                "capture id {} does not match start_ms {}",
                m.capture_id, m.start_ms
            ),
        ));
    }
    if m.end_ms < m.start_ms {
        return Err(invalid(dir, "end_ms before start_ms"));
    }
    if !LABELS.contains(&m.label.as_str()) {
        return Err(invalid(dir, format!("unknown label {:?}", m.label)));
    }
    if !(m.scores.motion_max.is_finite() && m.scores.motion_max >= 0.0) {
        return Err(invalid(
            dir,
            "motion_max is not a finite non-negative number",
        ));
    }
    let mut by_kind: BTreeMap<FileKind, &FileEntry> = BTreeMap::new();
    for f in &m.files {
        let kind = FileKind::from_file_name(&f.name).ok_or_else(|| {
            invalid(
                dir,
                format!(
                    "manifest lists a file named {:?}, which is not a capture file name",
                    f.name
                ),
            )
        })?;
        if f.kind != kind.label() {
            return Err(invalid(
                dir,
                format!(
                    "file {:?} has kind {:?}, expected {:?}",
                    f.name,
                    f.kind,
                    kind.label()
                ),
            ));
        }
        if !is_sha256_hex(&f.sha256) {
            return Err(invalid(
                dir,
                format!("file {:?} has a malformed sha256", f.name),
            ));
        }
        if by_kind.insert(kind, f).is_some() {
            return Err(invalid(dir, format!("file {:?} is listed twice", f.name)));
        }
    }
    if let Some(s) = by_kind.get(&FileKind::Snapshot) {
        if s.bytes > MAX_SNAPSHOT_BYTES {
            return Err(invalid(
                dir,
                format!("snapshot of {} bytes is too large", s.bytes),
            ));
        }
    }
    // FileKind sorts Snapshot < ClipInit < ClipFragment(1) < ...
    Ok(Plan {
        snapshot: by_kind.get(&FileKind::Snapshot).copied(),
        clip: by_kind
            .into_iter()
            .filter(|(k, _)| *k != FileKind::Snapshot)
            .collect(),
    })
}

/// Checks the folder holds exactly the planned files with their sizes.
fn check_listing(dir: &Path, plan: &Plan<'_>) -> Result<(), StoreError> {
    let listed: Vec<(FileKind, &FileEntry)> = plan
        .snapshot
        .map(|s| (FileKind::Snapshot, s))
        .into_iter()
        .chain(plan.clip.iter().copied())
        .collect();
    for e in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let e = e.map_err(|e| StoreError::io(dir, e))?;
        let name = e.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| invalid(dir, format!("file name {:?} is not UTF-8", e.file_name())))?;
        if name == MANIFEST_NAME || name == JOURNAL_NAME {
            continue;
        }
        let known =
            FileKind::from_file_name(name).is_some_and(|k| listed.iter().any(|(l, _)| *l == k));
        if !known {
            return Err(invalid(
                dir,
                format!("file {name:?} is not listed in the manifest"),
            ));
        }
    }
    for (kind, entry) in listed {
        let path = dir.join(kind.file_name());
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(invalid(
                    dir,
                    format!("listed file {:?} is missing", entry.name),
                ))
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        if !meta.is_file() {
            return Err(invalid(
                dir,
                format!("{:?} is not a regular file", entry.name),
            ));
        }
        if meta.len() != entry.bytes {
            return Err(invalid(
                dir,
                format!(
                    "{:?} is {} bytes, the manifest says {}",
                    entry.name,
                    meta.len(),
                    entry.bytes
                ),
            ));
        }
    }
    Ok(())
}

/// Copies `src` to `out`, hashing as it goes; fails unless the bytes are
/// exactly the manifest entry's.
fn copy_verified(
    src: &Path,
    out: &mut File,
    out_path: &Path,
    entry: &FileEntry,
    dir: &Path,
) -> Result<(), StoreError> {
    let mut f = open_regular(src).map_err(|e| StoreError::io(src, e))?;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let k = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::io(src, e)),
        };
        n += k as u64;
        if n > entry.bytes {
            return Err(invalid(
                dir,
                format!("{:?} grew beyond {} bytes", entry.name, entry.bytes),
            ));
        }
        hasher.update(&buf[..k]);
        out.write_all(&buf[..k])
            .map_err(|e| StoreError::io(out_path, e))?;
    }
    if n != entry.bytes || hex::encode(hasher.finalize()) != entry.sha256 {
        return Err(invalid(
            dir,
            format!(
                "{:?} does not match its size and sha256 in the manifest",
                entry.name
            ),
        ));
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    f.write_all(bytes).map_err(|e| StoreError::io(path, e))?;
    f.sync_all().map_err(|e| StoreError::io(path, e))
}

/// Step 5: fills `tmp` (which must not exist) from `src`.
fn build(
    tmp: &Path,
    src: &Path,
    plan: &Plan<'_>,
    manifest_raw: &[u8],
    id: &CaptureId,
) -> Result<Built, StoreError> {
    fs::create_dir(tmp).map_err(|e| StoreError::io(tmp, e))?;
    let mut built = Built {
        bytes: 0,
        snapshot_bytes: None,
        thumb_bytes: None,
        clip_bytes: None,
    };
    if let Some(entry) = plan.snapshot {
        let path = src.join(FileKind::Snapshot.file_name());
        let jpeg = read_capped(&path, MAX_SNAPSHOT_BYTES)?;
        if jpeg.len() as u64 != entry.bytes || sha256_hex(&jpeg) != entry.sha256 {
            return Err(invalid(
                src,
                format!(
                    "{:?} does not match its size and sha256 in the manifest",
                    entry.name
                ),
            ));
        }
        write_synced(&tmp.join(media::SNAPSHOT), &jpeg)?;
        built.snapshot_bytes = Some(entry.bytes);
        match media::thumbnail(&jpeg) {
            Ok(thumb) => {
                write_synced(&tmp.join(media::THUMBNAIL), &thumb)?;
                built.thumb_bytes = Some(thumb.len() as u64);
            }
            // The snapshot is evidence even if we cannot decode it.
            Err(source) => {
                tracing::warn!(capture = %id, error = %StoreError::Thumbnail { id: id.clone(), source }, "stored without thumbnail")
            }
        }
    }
    if !plan.clip.is_empty() {
        let out_path = tmp.join(media::CLIP);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out_path)
            .map_err(|e| StoreError::io(&out_path, e))?;
        let mut total = 0;
        for (kind, entry) in &plan.clip {
            copy_verified(&src.join(kind.file_name()), &mut out, &out_path, entry, src)?;
            total += entry.bytes;
        }
        out.sync_all().map_err(|e| StoreError::io(&out_path, e))?;
        built.clip_bytes = Some(total);
    }
    write_synced(&tmp.join(media::MANIFEST), manifest_raw)?;
    media::fsync_dir(tmp).map_err(|e| StoreError::io(tmp, e))?;
    built.bytes = built.snapshot_bytes.unwrap_or(0)
        + built.thumb_bytes.unwrap_or(0)
        + built.clip_bytes.unwrap_or(0)
        + manifest_raw.len() as u64;
    Ok(built)
}

/// Re-reads a stored capture directory and checks it against its own
/// manifest.json: the snapshot and every slice of clip.mp4 must hash to
/// the manifest's values. Used by recovery (and by ingest when it finds a
/// directory left without a row). Returns the manifest, its raw sha256
/// and what the directory holds.
pub(crate) fn verify_stored(
    dir: &Path,
    camera: &CameraId,
    id: &CaptureId,
) -> Result<(Manifest, String, Built), StoreError> {
    let raw = read_capped(&dir.join(media::MANIFEST), MAX_MANIFEST_BYTES)?;
    let m: Manifest =
        serde_json::from_slice(&raw).map_err(|e| invalid(dir, format!("manifest.json: {e}")))?;
    if &m.capture_id != id {
        return Err(invalid(
            dir,
            format!("manifest names capture {}", m.capture_id),
        ));
    }
    let plan = check_manifest(&m, camera, dir)?;
    let mut built = Built {
        bytes: raw.len() as u64,
        snapshot_bytes: None,
        thumb_bytes: None,
        clip_bytes: None,
    };
    if let Some(entry) = plan.snapshot {
        let jpeg = read_capped(&dir.join(media::SNAPSHOT), MAX_SNAPSHOT_BYTES)?;
        if jpeg.len() as u64 != entry.bytes || sha256_hex(&jpeg) != entry.sha256 {
            return Err(invalid(dir, "snapshot.jpg does not match the manifest"));
        }
        built.snapshot_bytes = Some(entry.bytes);
        if let Ok(meta) = fs::symlink_metadata(dir.join(media::THUMBNAIL)) {
            built.thumb_bytes = Some(meta.len());
        }
    }
    if !plan.clip.is_empty() {
        let path = dir.join(media::CLIP);
        let mut f = open_regular(&path).map_err(|e| StoreError::io(&path, e))?;
        let mut total = 0;
        for (_, entry) in &plan.clip {
            let mut part = Vec::new();
            (&mut f)
                .take(entry.bytes)
                .read_to_end(&mut part)
                .map_err(|e| StoreError::io(&path, e))?;
            if part.len() as u64 != entry.bytes || sha256_hex(&part) != entry.sha256 {
                return Err(invalid(
                    dir,
                    format!(
                        "clip.mp4's part {:?} does not match the manifest",
                        entry.name
                    ),
                ));
            }
            total += entry.bytes;
        }
        let mut rest = [0u8; 1];
        if f.read(&mut rest).map_err(|e| StoreError::io(&path, e))? != 0 {
            return Err(invalid(dir, "clip.mp4 is longer than the manifest's parts"));
        }
        built.clip_bytes = Some(total);
    }
    built.bytes += built.snapshot_bytes.unwrap_or(0)
        + built.thumb_bytes.unwrap_or(0)
        + built.clip_bytes.unwrap_or(0);
    let sha = sha256_hex(&raw);
    Ok((m, sha, built))
}

impl Store {
    /// Ingests a capture folder as the node's outbox writes it
    /// (`manifest.json`, `snapshot.jpg`, `clip-init.mp4`,
    /// `clip-NNNNNN.m4s`). The manifest's camera must equal `camera` (the
    /// authenticated sender). The folder is only read; the caller removes
    /// it after acknowledging.
    pub fn ingest_dir(
        &self,
        camera: &CameraId,
        dir: &Path,
        now_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        let r = self.ingest_locked(camera, dir, now_ms);
        match &r {
            Ok(outcome) => tracing::debug!(camera = %camera, ?outcome, "ingest"),
            Err(e) => {
                self.inner
                    .ingest_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(camera = %camera, dir = %dir.display(), error = %e, "ingest failed");
            }
        }
        r
    }

    fn ingest_locked(
        &self,
        camera: &CameraId,
        dir: &Path,
        now_ms: i64,
    ) -> Result<IngestOutcome, StoreError> {
        let raw = read_capped(&dir.join(MANIFEST_NAME), MAX_MANIFEST_BYTES)?;
        let manifest: Manifest = serde_json::from_slice(&raw)
            .map_err(|e| invalid(dir, format!("manifest.json: {e}")))?;
        let sha = sha256_hex(&raw);
        let plan = check_manifest(&manifest, camera, dir)?;
        let id = manifest.capture_id.clone();

        let _media = self.media_lock();
        // Before looking at the folder's files: a retry after a lost
        // acknowledgement may come with none of them left (the first ingest
        // removed the folder), and must still be acknowledged.
        let stored = self.stored_sha256(&id)?;
        if stored.is_none() {
            check_listing(dir, &plan)?;
        }
        if let Some(stored) = stored {
            return if stored == sha {
                Ok(IngestOutcome::AlreadyStored { id })
            } else {
                Err(StoreError::Conflict {
                    id,
                    stored_sha256: stored,
                    offered_sha256: sha,
                })
            };
        }
        // A re-upload of a capture whose deletion was interrupted: finish
        // the deletion first so the new copy starts clean.
        self.collect_garbage(Some(&id))?;

        let media = self.media_dir().to_owned();
        let need = manifest.total_bytes() + raw.len() as u64 + OVERHEAD_BYTES;
        self.check_space(need)?;

        let tmp = media::tmp_dir(&media, &id);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        }
        let placed = build(&tmp, dir, &plan, &raw, &id)
            .and_then(|built| self.place(&tmp, camera, &id, &sha, built));
        let built = match placed {
            Ok(b) => b,
            Err(e) => {
                if let Err(rm) = fs::remove_dir_all(&tmp) {
                    if rm.kind() != io::ErrorKind::NotFound {
                        tracing::error!(path = %tmp.display(), error = %rm, "could not remove temp dir after failed ingest");
                    }
                }
                return Err(e);
            }
        };
        self.insert_capture(&manifest, &raw, &sha, &built, now_ms)?;
        Ok(IngestOutcome::Stored {
            id,
            bytes: built.bytes,
        })
    }

    /// Step 6: renames the built temp dir into the tree, durably. If a
    /// directory for this id is already there without a row (an earlier
    /// ingest that crashed before its insert), it is kept if it holds the
    /// same manifest, and this is a conflict otherwise.
    fn place(
        &self,
        tmp: &Path,
        camera: &CameraId,
        id: &CaptureId,
        sha: &str,
        built: Built,
    ) -> Result<Built, StoreError> {
        let media = self.media_dir();
        let cam_dir = media.join(camera.as_str());
        let day_dir = media::day_dir(media, camera, &media::day_of(id));
        let final_dir = day_dir.join(id.as_str());
        for d in [&cam_dir, &day_dir] {
            match fs::create_dir(d) {
                Ok(()) => {
                    let parent = d.parent().unwrap_or(media);
                    media::fsync_dir(parent).map_err(|e| StoreError::io(parent, e))?;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::io(d, e)),
            }
        }
        if final_dir.exists() {
            let (_, existing_sha, existing) = verify_stored(&final_dir, camera, id)?;
            if existing_sha != sha {
                return Err(StoreError::Conflict {
                    id: id.clone(),
                    stored_sha256: existing_sha,
                    offered_sha256: sha.to_owned(),
                });
            }
            fs::remove_dir_all(tmp).map_err(|e| StoreError::io(tmp, e))?;
            tracing::info!(capture = %id, "re-indexing a stored directory left without a row");
            return Ok(existing);
        }
        fs::rename(tmp, &final_dir).map_err(|e| StoreError::io(&final_dir, e))?;
        media::fsync_dir(&day_dir).map_err(|e| StoreError::io(&day_dir, e))?;
        media::fsync_dir(media).map_err(|e| StoreError::io(media, e))?;
        Ok(built)
    }

    fn check_space(&self, need: u64) -> Result<(), StoreError> {
        let media = self.media_dir();
        let free = media::free_bytes(media).map_err(|e| StoreError::io(media, e))?;
        if free < self.inner.cfg.min_free_bytes.saturating_add(need) {
            tracing::warn!(
                free,
                need,
                min_free = self.inner.cfg.min_free_bytes,
                "refusing ingest: not enough free space"
            );
            return Err(StoreError::DiskFull {
                path: media.to_owned(),
            });
        }
        Ok(())
    }

    fn stored_sha256(&self, id: &CaptureId) -> Result<Option<String>, StoreError> {
        self.db()
            .query_row(
                "select manifest_sha256 from capture where id = ?1",
                [id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::db(format!("looking up capture {id}")))
    }

    /// Step 7 (and re-indexing): the row, with its camera.
    pub(crate) fn insert_capture(
        &self,
        m: &Manifest,
        raw: &[u8],
        sha: &str,
        built: &Built,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let json = std::str::from_utf8(raw).map_err(|e| StoreError::CorruptRow {
            id: m.capture_id.clone(),
            reason: e.to_string(),
        })?;
        let ctx = || format!("inserting capture {}", m.capture_id);
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::db(ctx()))?;
        tx.execute(
            "insert or ignore into camera (id, first_seen_ms) values (?1, ?2)",
            params![m.camera.as_str(), now_ms],
        )
        .map_err(StoreError::db(ctx()))?;
        tx.execute(
            "insert into capture (id, camera_id, start_ms, end_ms, trigger_ms, label, score, bytes,
                                  snapshot_bytes, clip_bytes, manifest_json, manifest_sha256,
                                  ingested_ms, thumb_bytes)
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                m.capture_id.as_str(),
                m.camera.as_str(),
                m.start_ms,
                m.end_ms,
                m.trigger_ms,
                m.label,
                f64::from(m.scores.motion_max),
                to_i64(built.bytes),
                built.snapshot_bytes.map(to_i64),
                built.clip_bytes.map(to_i64),
                json,
                sha,
                now_ms,
                built.thumb_bytes.map(to_i64),
            ],
        )
        .map_err(StoreError::db(ctx()))?;
        tx.commit().map_err(StoreError::db(ctx()))
    }

    /// The directory a capture of `camera` with `id` lives in (whether or
    /// not it exists).
    pub fn capture_dir(&self, camera: &CameraId, id: &CaptureId) -> PathBuf {
        media::capture_dir(self.media_dir(), camera, id)
    }
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
