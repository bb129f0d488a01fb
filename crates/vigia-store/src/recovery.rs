//! Start-up reconciliation of the media tree and the database, run by the
//! process that owns the media tree (see the crate docs) before it serves
//! anything. In this order:
//!
//! 1. Finish every deletion listed in `garbage` (unlink, fsync, forget).
//!    First, so a half-deleted capture is never mistaken for a capture
//!    without a row and re-indexed.
//! 2. Remove `.tmp-<id>` directories: ingests that died before their
//!    rename. The sender was not acknowledged and will send again.
//! 3. Walk `<camera>/<day>/<id>/`. A directory with its row is fine. A
//!    directory without a row is an ingest that died between rename and
//!    insert: the rename is atomic and came after every fsync, so it
//!    should be complete. It is verified against its own manifest.json
//!    (every byte hashed) and re-indexed, so no evidence is lost; only if
//!    it is incomplete or corrupt is it removed (logged as an error).
//! 4. Rows whose directory is missing are removed: there is nothing left
//!    to serve.
//!
//! Names in the tree that vigia did not make (not a camera id, a day, or
//! a capture id in the right day) are logged and left alone: we never
//! delete what we do not understand. Every repair is logged with tracing
//! and returned in the [`RecoveryReport`].

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;

use rusqlite::params;
use vigia_base::{CameraId, CaptureId};

use crate::ingest::{self, verify_stored};
use crate::media;
use crate::{RecoveryReport, Store, StoreError};

fn list(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
        let e = e.map_err(|e| StoreError::io(dir, e))?;
        match e.file_name().into_string() {
            Ok(n) => names.push(n),
            Err(n) => {
                tracing::warn!(dir = %dir.display(), name = ?n, "ignoring non-UTF-8 name in the media tree")
            }
        }
    }
    names.sort();
    Ok(names)
}

impl Store {
    pub(crate) fn reconcile(&self) -> Result<RecoveryReport, StoreError> {
        let mut report = RecoveryReport::default();
        let _media = self.media_lock();
        let media = self.media_dir().to_owned();

        report.garbage_collected = self.collect_garbage(None)?;
        if report.garbage_collected > 0 {
            tracing::warn!(
                n = report.garbage_collected,
                "finished interrupted deletions"
            );
        }

        let rows = self.row_locations()?;
        let mut seen: HashSet<CaptureId> = HashSet::new();
        let mut removed_any = false;
        for name in list(&media)? {
            let path = media.join(&name);
            if name.starts_with(media::TMP_PREFIX) {
                let r = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                r.map_err(|e| StoreError::io(&path, e))?;
                tracing::warn!(path = %path.display(), "removed the temp dir of an interrupted ingest");
                report.orphan_files_removed.push(path);
                removed_any = true;
                continue;
            }
            if name == media::LOCK_NAME {
                continue;
            }
            let Ok(camera) = name.parse::<CameraId>() else {
                tracing::warn!(path = %path.display(), "not a camera directory; left alone");
                continue;
            };
            if !path.is_dir() {
                tracing::warn!(path = %path.display(), "not a directory; left alone");
                continue;
            }
            for day in list(&path)? {
                let day_path = path.join(&day);
                if !media::is_day(&day) || !day_path.is_dir() {
                    tracing::warn!(path = %day_path.display(), "not a day directory; left alone");
                    continue;
                }
                for cap in list(&day_path)? {
                    let cap_path = day_path.join(&cap);
                    let id = match cap.parse::<CaptureId>() {
                        Ok(id) if media::day_of(&id) == day && cap_path.is_dir() => id,
                        _ => {
                            tracing::warn!(path = %cap_path.display(), "not a capture directory of this day; left alone");
                            continue;
                        }
                    };
                    match rows.get(&id) {
                        Some(c) if c == &camera => {
                            seen.insert(id);
                        }
                        Some(c) => {
                            tracing::warn!(path = %cap_path.display(), row_camera = %c, "capture stored under another camera; left alone")
                        }
                        None => {
                            if self.reindex(&cap_path, &camera, &id)? {
                                report.reindexed.push(id);
                            } else {
                                report.orphan_files_removed.push(cap_path);
                                removed_any = true;
                            }
                        }
                    }
                }
            }
        }

        for (id, camera) in &rows {
            if seen.contains(id) {
                continue;
            }
            tracing::error!(capture = %id, camera = %camera, "capture row without its directory; removing the row");
            self.db()
                .execute("delete from capture where id = ?1", params![id.as_str()])
                .map_err(StoreError::db(format!(
                    "removing capture {id} without files"
                )))?;
            report.rows_without_files_removed.push(id.clone());
        }
        report.rows_without_files_removed.sort();
        if removed_any {
            media::fsync_dir(&media).map_err(|e| StoreError::io(&media, e))?;
        }
        if !report.is_empty() {
            tracing::warn!(?report, "start-up reconciliation repaired the store");
        }
        Ok(report)
    }

    /// Every row's id and camera.
    fn row_locations(&self) -> Result<HashMap<CaptureId, CameraId>, StoreError> {
        let db = self.db();
        let mut stmt = db
            .prepare("select id, camera_id from capture")
            .map_err(StoreError::db("listing capture rows"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::db("listing capture rows"))?;
        let mut out = HashMap::with_capacity(rows.len());
        for (id, cam) in rows {
            match (id.parse(), cam.parse()) {
                (Ok(id), Ok(cam)) => {
                    out.insert(id, cam);
                }
                _ => tracing::error!(id, cam, "capture row with invalid ids; ignored"),
            }
        }
        Ok(out)
    }

    /// A directory without a row: index it if it verifies, else remove it.
    /// Returns true if re-indexed.
    fn reindex(&self, dir: &Path, camera: &CameraId, id: &CaptureId) -> Result<bool, StoreError> {
        match verify_stored(dir, camera, id) {
            Ok((manifest, sha, built)) => {
                let raw = ingest::read_capped(&dir.join(media::MANIFEST), 1 << 20)?;
                let now = crate::captures::wall_clock_ms();
                self.insert_capture(&manifest, &raw, &sha, &built, now)?;
                tracing::warn!(capture = %id, "re-indexed a complete capture directory that had no row");
                Ok(true)
            }
            Err(StoreError::Io { path, source }) if source.kind() != io::ErrorKind::NotFound => {
                // Cannot read it now (permissions, I/O error): do not delete
                // what we could not examine.
                Err(StoreError::Io { path, source })
            }
            Err(e) => {
                tracing::error!(capture = %id, dir = %dir.display(), error = %e, "removing an incomplete capture directory without a row");
                media::remove_capture_dir(self.media_dir(), camera, &media::day_of(id), id)
                    .map_err(|e| StoreError::io(dir, e))?;
                Ok(false)
            }
        }
    }
}
