//! Reading and deleting stored captures: keyset pages, day counts,
//! details, media paths, per-camera totals, and deletion through the
//! garbage table (mark → unlink → fsync → forget).
//!
//! Queries are built from fixed SQL fragments with bound parameters, one
//! fragment per filter present, so SQLite picks the matching index
//! (`capture_camera`, `capture_label`, `capture_camera_label` or the
//! primary key) and walks it backwards from the cursor: a page costs the
//! same at 100 captures or 100 000 (see the `query_plans_use_indices`
//! test).

use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use vigia_base::manifest::Manifest;
use vigia_base::{CameraId, CaptureId};

use crate::ingest::to_i64;
use crate::media;
use crate::{
    CameraInfo, CaptureDetail, CapturePage, CaptureQuery, CaptureSummary, DayCount, MediaKind,
    Store, StoreError,
};

const SUMMARY_COLUMNS: &str = "id, camera_id, start_ms, end_ms, label, score, bytes, clip_bytes";
pub const MAX_PAGE: u32 = 1000;

/// A capture row without files, for benchmarks and pagination tests only.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct FakeCapture {
    pub camera: CameraId,
    pub start_ms: i64,
    pub nonce: u32,
    pub label: String,
    pub bytes: u64,
}

fn parse_row<T: std::str::FromStr>(id: &str, what: &str, s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("capture {id}: bad {what} {s:?}").into(),
        )
    })
}

fn summary(r: &Row<'_>) -> rusqlite::Result<CaptureSummary> {
    let id: String = r.get(0)?;
    let clip_bytes: Option<i64> = r.get(7)?;
    Ok(CaptureSummary {
        camera: parse_row(&id, "camera", r.get(1)?)?,
        start_ms: r.get(2)?,
        end_ms: r.get(3)?,
        label: r.get(4)?,
        score: r.get::<_, f64>(5)? as f32,
        bytes: r.get::<_, i64>(6)?.max(0) as u64,
        has_clip: clip_bytes.is_some(),
        id: parse_row(&id, "id", id.clone())?,
    })
}

/// `(lo, hi)` id bounds of a UTC day `YYYY-MM-DD`: every id of that day
/// starts with `YYYYMMDDT`, and 'T' < 'U'.
fn day_range(day: &str) -> Result<(String, String), StoreError> {
    if !media::is_day(day) {
        return Err(StoreError::InvalidQuery {
            reason: format!("day {day:?} is not YYYY-MM-DD"),
        });
    }
    let compact: String = day.chars().filter(|c| *c != '-').collect();
    Ok((format!("{compact}T"), format!("{compact}U")))
}

/// The SQL and parameters of one page: a fixed fragment per filter
/// present, values always bound, never spliced.
fn page_sql(q: &CaptureQuery, limit: u32) -> Result<(String, Vec<Value>), StoreError> {
    let mut sql = format!("select {SUMMARY_COLUMNS} from capture where 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(c) = &q.camera {
        sql.push_str(" and camera_id = ?");
        args.push(Value::Text(c.as_str().into()));
    }
    if let Some(l) = &q.label {
        sql.push_str(" and label = ?");
        args.push(Value::Text(l.clone()));
    }
    if let Some(d) = &q.day {
        let (lo, hi) = day_range(d)?;
        sql.push_str(" and id >= ? and id < ?");
        args.push(Value::Text(lo));
        args.push(Value::Text(hi));
    }
    if let Some(b) = &q.before {
        sql.push_str(" and id < ?");
        args.push(Value::Text(b.as_str().into()));
    }
    sql.push_str(" order by id desc limit ?");
    args.push(Value::Integer(i64::from(limit) + 1));
    Ok((sql, args))
}

impl Store {
    /// `EXPLAIN QUERY PLAN` of [`Store::list_captures`]'s query, one
    /// detail per line: for tests and for checking a large installation.
    #[doc(hidden)]
    pub fn explain_list_captures(&self, q: &CaptureQuery) -> Result<String, StoreError> {
        let (sql, args) = page_sql(q, q.limit.clamp(1, MAX_PAGE))?;
        let db = self.db();
        let mut stmt = db
            .prepare(&format!("explain query plan {sql}"))
            .map_err(StoreError::db("explaining the capture page"))?;
        let lines = stmt
            .query_map(params_from_iter(args), |r| r.get::<_, String>(3))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::db("explaining the capture page"))?;
        Ok(lines.join("\n") + "\n")
    }

    /// A page of captures, newest first.
    pub fn list_captures(&self, q: &CaptureQuery) -> Result<CapturePage, StoreError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (sql, args) = page_sql(q, limit)?;
        let db = self.db();
        let mut stmt = db
            .prepare_cached(&sql)
            .map_err(StoreError::db("preparing the capture page"))?;
        let mut items = stmt
            .query_map(params_from_iter(args), summary)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::db("listing captures"))?;
        let next_before = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|s| s.id.clone())
        } else {
            None
        };
        Ok(CapturePage { items, next_before })
    }

    /// Captures per UTC day, newest day first.
    pub fn capture_days(
        &self,
        camera: Option<&CameraId>,
        label: Option<&str>,
    ) -> Result<Vec<DayCount>, StoreError> {
        // Counts kept by triggers (schema v3): a few rows per day, whatever
        // the number of captures.
        let mut sql = String::from("select day as d, sum(captures) from capture_day where 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(c) = camera {
            sql.push_str(" and camera_id = ?");
            args.push(Value::Text(c.as_str().into()));
        }
        if let Some(l) = label {
            sql.push_str(" and label = ?");
            args.push(Value::Text(l.into()));
        }
        sql.push_str(" group by d order by d desc");
        let db = self.db();
        let mut stmt = db
            .prepare_cached(&sql)
            .map_err(StoreError::db("preparing day counts"))?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                let d: String = r.get(0)?;
                let n: i64 = r.get(1)?;
                Ok((d, n))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::db("counting captures per day"))?;
        Ok(rows
            .into_iter()
            .filter(|(d, _)| d.len() == 8)
            .map(|(d, n)| DayCount {
                day: format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]),
                count: n.max(0) as u64,
            })
            .collect())
    }

    pub fn get_capture(&self, id: &CaptureId) -> Result<Option<CaptureDetail>, StoreError> {
        let row = self
            .db()
            .query_row(
                &format!("select {SUMMARY_COLUMNS}, manifest_json from capture where id = ?1"),
                [id.as_str()],
                |r| {
                    Ok((
                        summary(r)?,
                        r.get::<_, Option<i64>>(7)?,
                        r.get::<_, String>(8)?,
                    ))
                },
            )
            .optional()
            .map_err(StoreError::db(format!("reading capture {id}")))?;
        let Some((summary, clip_bytes, json)) = row else {
            return Ok(None);
        };
        let manifest: Manifest =
            serde_json::from_str(&json).map_err(|e| StoreError::CorruptRow {
                id: id.clone(),
                reason: e.to_string(),
            })?;
        Ok(Some(CaptureDetail {
            summary,
            manifest,
            clip_bytes: clip_bytes.map(|b| b.max(0) as u64),
        }))
    }

    /// Where a stored capture's file is, or `None` if the capture is
    /// unknown or has no such file. The path is built from the row's typed
    /// ids only.
    pub fn media_path(
        &self,
        id: &CaptureId,
        kind: MediaKind,
    ) -> Result<Option<PathBuf>, StoreError> {
        let row = self
            .db()
            .query_row(
                "select camera_id, snapshot_bytes, thumb_bytes, clip_bytes from capture where id = ?1",
                [id.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(StoreError::db(format!("locating capture {id}")))?;
        let Some((camera, snapshot, thumb, clip)) = row else {
            return Ok(None);
        };
        let present = match kind {
            MediaKind::Snapshot => snapshot,
            MediaKind::Thumbnail => thumb,
            MediaKind::Clip => clip,
        };
        if present.is_none() {
            return Ok(None);
        }
        let camera: CameraId = camera.parse().map_err(|_| StoreError::CorruptRow {
            id: id.clone(),
            reason: format!("camera id {camera:?}"),
        })?;
        Ok(Some(
            media::capture_dir(self.media_dir(), &camera, id).join(kind.file_name()),
        ))
    }

    /// Deletes a capture: the row moves to `garbage` (one transaction, so
    /// it vanishes from queries at once), the directory is unlinked and its
    /// parent fsynced, then the garbage row goes. Returns false if unknown.
    pub fn delete_capture(&self, id: &CaptureId) -> Result<bool, StoreError> {
        let _media = self.media_lock();
        Ok(self.delete_locked(id, wall_clock_ms())?.is_some())
    }

    /// Deletion with the media lock held; returns the bytes freed.
    pub(crate) fn delete_locked(
        &self,
        id: &CaptureId,
        now_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let ctx = || format!("marking capture {id} as garbage");
        let bytes = {
            let mut db = self.db();
            let tx = db.transaction().map_err(StoreError::db(ctx()))?;
            let row: Option<(String, i64)> = tx
                .query_row(
                    "select camera_id, bytes from capture where id = ?1",
                    [id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(StoreError::db(ctx()))?;
            let Some((camera, bytes)) = row else {
                return Ok(None);
            };
            tx.execute(
                "insert or replace into garbage (capture_id, camera_id, day, marked_ms) values (?1, ?2, ?3, ?4)",
                params![id.as_str(), camera, media::day_of(id), now_ms],
            )
            .map_err(StoreError::db(ctx()))?;
            tx.execute("delete from capture where id = ?1", [id.as_str()])
                .map_err(StoreError::db(ctx()))?;
            tx.commit().map_err(StoreError::db(ctx()))?;
            bytes
        };
        self.collect_garbage(Some(id))?;
        Ok(Some(bytes.max(0) as u64))
    }

    /// Finishes deletions listed in `garbage` (all, or just `only`):
    /// unlink, fsync the parent, delete the garbage row. Returns how many.
    pub(crate) fn collect_garbage(&self, only: Option<&CaptureId>) -> Result<u64, StoreError> {
        let rows: Vec<(String, String, String)> = {
            let db = self.db();
            let mut stmt = db
                .prepare_cached(
                    "select capture_id, camera_id, day from garbage where ?1 is null or capture_id = ?1",
                )
                .map_err(StoreError::db("listing garbage"))?;
            let rows = stmt
                .query_map([only.map(CaptureId::as_str)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(StoreError::db("listing garbage"))?;
            rows
        };
        let mut n = 0;
        for (id_s, camera_s, day) in rows {
            match (
                id_s.parse::<CaptureId>(),
                camera_s.parse::<CameraId>(),
                media::is_day(&day),
            ) {
                (Ok(id), Ok(camera), true) => {
                    let dir = media::capture_dir(self.media_dir(), &camera, &id);
                    media::remove_capture_dir(self.media_dir(), &camera, &day, &id)
                        .map_err(|e| StoreError::io(&dir, e))?;
                }
                // Cannot name a path: nothing of ours to unlink.
                _ => tracing::error!(
                    capture = id_s,
                    camera = camera_s,
                    day,
                    "garbage row with invalid ids; dropping it"
                ),
            }
            self.db()
                .execute("delete from garbage where capture_id = ?1", [&id_s])
                .map_err(StoreError::db(format!("forgetting garbage {id_s}")))?;
            n += 1;
        }
        Ok(n)
    }

    /// Every camera that has sent a capture, with totals.
    /// The ids of every camera that ever stored a capture, sorted: for
    /// callers that need only the names (the history page's camera filter).
    pub fn camera_ids(&self) -> Result<Vec<CameraId>, StoreError> {
        let db = self.db();
        let mut stmt = db
            .prepare_cached("select id from camera order by id")
            .map_err(StoreError::db("listing camera ids"))?;
        let rows = stmt
            .query_map([], |r| {
                let id: String = r.get(0)?;
                parse_row(&id, "camera", id.clone())
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::db("listing camera ids"))?;
        Ok(rows)
    }

    pub fn cameras(&self) -> Result<Vec<CameraInfo>, StoreError> {
        let db = self.db();
        let mut stmt = db
            .prepare_cached(
                // Totals from the trigger-kept day counts; the newest
                // capture from the (camera_id, id) index, since ids sort by
                // start time.
                "select c.id,
                        coalesce((select sum(d.captures) from capture_day d where d.camera_id = c.id), 0),
                        coalesce((select sum(d.bytes) from capture_day d where d.camera_id = c.id), 0),
                        (select p.start_ms from capture p where p.camera_id = c.id
                         order by p.id desc limit 1)
                 from camera c order by c.id",
            )
            .map_err(StoreError::db("listing cameras"))?;
        let rows = stmt
            .query_map([], |r| {
                let id: String = r.get(0)?;
                Ok(CameraInfo {
                    id: parse_row(&id, "camera", id.clone())?,
                    captures: r.get::<_, i64>(1)?.max(0) as u64,
                    bytes: r.get::<_, i64>(2)?.max(0) as u64,
                    last_capture_ms: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::db("listing cameras"))?;
        Ok(rows)
    }

    /// Inserts capture rows with no files behind them, in one transaction.
    /// For benchmarks and pagination tests of the query layer only: such
    /// rows are "rows without files" and the next start-up reconciliation
    /// removes them.
    #[doc(hidden)]
    pub fn insert_fake_captures_for_bench(
        &self,
        caps: &[FakeCapture],
    ) -> Result<Vec<CaptureId>, StoreError> {
        let mut db = self.db();
        let tx = db.transaction().map_err(StoreError::db("fake captures"))?;
        let mut ids = Vec::with_capacity(caps.len());
        {
            let mut cam = tx
                .prepare_cached("insert or ignore into camera (id, first_seen_ms) values (?1, 0)")
                .map_err(StoreError::db("fake captures"))?;
            let mut ins = tx
                .prepare_cached(
                    "insert into capture (id, camera_id, start_ms, end_ms, trigger_ms, label, score, bytes,
                                          snapshot_bytes, clip_bytes, manifest_json, manifest_sha256, ingested_ms)
                     values (?1, ?2, ?3, ?3 + 10000, ?3, ?4, 0.5, ?5, ?5, null, '{}', printf('%064d', 0), ?3)",
                )
                .map_err(StoreError::db("fake captures"))?;
            for c in caps {
                let id = CaptureId::new(c.start_ms, c.nonce);
                cam.execute([c.camera.as_str()])
                    .map_err(StoreError::db("fake camera"))?;
                ins.execute(params![
                    id.as_str(),
                    c.camera.as_str(),
                    c.start_ms,
                    c.label,
                    to_i64(c.bytes)
                ])
                .map_err(StoreError::db(format!("fake capture {id}")))?;
                ids.push(id);
            }
        }
        tx.commit().map_err(StoreError::db("fake captures"))?;
        Ok(ids)
    }
}

/// Wall-clock ms for bookkeeping columns that no logic depends on
/// (`garbage.marked_ms`).
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
