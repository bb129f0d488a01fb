//! Retention: deleting the oldest captures, whole captures only, when a
//! camera's captures are older than its `max_age_ms`, when they add up to
//! more than its `max_bytes`, or (any camera) while the media file system
//! has less than `min_free_bytes` free. Rules apply in that order, each
//! oldest first, and every deletion goes through [`Store::delete_capture`]'s
//! garbage path, so a crash mid-retention is finished at start-up.
//!
//! Age is measured from the capture's start (`start_ms`), which is also
//! the id order, so "oldest first" is one index walk.

use rusqlite::params;
use vigia_base::{CameraId, CaptureId};

use crate::{CameraRetention, RetentionPolicy, RetentionReport, Store, StoreError};

impl Store {
    pub fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        let _media = self.media_lock();
        for camera in self.cameras()?.into_iter().map(|c| c.id) {
            let rule = policy.per_camera.get(&camera).unwrap_or(&policy.default);
            self.retain_camera(&camera, rule, now_ms, &mut report)?;
        }
        if policy.min_free_bytes > 0 {
            self.retain_free_space(policy.min_free_bytes, now_ms, &mut report)?;
        }
        if !report.deleted.is_empty() {
            tracing::info!(
                deleted = report.deleted.len(),
                bytes_freed = report.bytes_freed,
                "retention deleted captures"
            );
            for (id, reason) in &report.deleted {
                tracing::debug!(capture = %id, reason, "retention");
            }
        }
        Ok(report)
    }

    fn retain_camera(
        &self,
        camera: &CameraId,
        rule: &CameraRetention,
        now_ms: i64,
        report: &mut RetentionReport,
    ) -> Result<(), StoreError> {
        // Oldest first: (id, start_ms, bytes).
        let rows: Vec<(String, i64, i64)> = {
            let db = self.db();
            let mut stmt = db
                .prepare_cached(
                    "select id, start_ms, bytes from capture where camera_id = ?1 order by id",
                )
                .map_err(StoreError::db(format!("retention of camera {camera}")))?;
            let rows = stmt
                .query_map(params![camera.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(StoreError::db(format!("retention of camera {camera}")))?;
            rows
        };
        let mut total: u64 = rows.iter().map(|r| r.2.max(0) as u64).sum();
        for (id, start_ms, bytes) in rows {
            let too_old = rule
                .max_age_ms
                .is_some_and(|age| start_ms < now_ms.saturating_sub(age));
            let too_big = rule.max_bytes.is_some_and(|max| total > max);
            let reason = match (too_old, too_big) {
                (true, _) => "max_age",
                (false, true) => "max_bytes",
                (false, false) => break,
            };
            let Ok(id) = id.parse::<CaptureId>() else {
                continue;
            };
            if let Some(freed) = self.delete_locked(&id, now_ms)? {
                report.bytes_freed += freed;
                report.deleted.push((id, reason.to_owned()));
            }
            total = total.saturating_sub(bytes.max(0) as u64);
        }
        Ok(())
    }

    fn retain_free_space(
        &self,
        min_free: u64,
        now_ms: i64,
        report: &mut RetentionReport,
    ) -> Result<(), StoreError> {
        let media = self.media_dir().to_owned();
        loop {
            let free = crate::media::free_bytes(&media).map_err(|e| StoreError::io(&media, e))?;
            if free >= min_free {
                return Ok(());
            }
            let oldest: Option<String> = self
                .db()
                .query_row("select id from capture order by id limit 1", [], |r| {
                    r.get(0)
                })
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
                .map_err(StoreError::db("finding the oldest capture"))?;
            let Some(oldest) = oldest else {
                tracing::warn!(
                    free,
                    min_free,
                    "below the free-space floor with no captures left to delete"
                );
                return Ok(());
            };
            let id = oldest
                .parse::<CaptureId>()
                .map_err(|_| StoreError::CorruptRow {
                    id: CaptureId::new(0, 0),
                    reason: format!("capture id {oldest:?}"),
                })?;
            if let Some(freed) = self.delete_locked(&id, now_ms)? {
                report.bytes_freed += freed;
                report.deleted.push((id, "min_free".to_owned()));
            }
        }
    }
}
