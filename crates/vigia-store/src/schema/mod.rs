//! The metadata database's schema versions and how a database reaches the
//! current one.
//!
//! `schema.sql` is the current schema and its design document; a fresh
//! database is created from it. The step files are frozen: `v1.sql` is
//! what version 1 created, `vN.sql` upgrades N-1 to N. `pragma
//! user_version` holds the version. Upgrades run in one immediate
//! transaction, so a crash mid-upgrade leaves the old version intact and a
//! second process opening at the same time waits (busy_timeout) instead of
//! racing. The test [`tests::upgrade_and_compare`] proves a database
//! upgraded step by step equals a fresh one.
//!
//! Also here: the connection settings every connection gets (WAL, foreign
//! keys, synchronous=FULL, busy timeout).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// The version `schema.sql` describes.
pub const CURRENT_VERSION: i64 = 3;

const FRESH: &str = include_str!("schema.sql");

/// `STEPS[n]` takes a database from version n to n + 1.
const STEPS: [&str; CURRENT_VERSION as usize] = [
    include_str!("v1.sql"),
    include_str!("v2.sql"),
    include_str!("v3.sql"),
];

/// How long a writer waits for another (e.g. the `vigia user` CLI while
/// the server runs) before giving up with SQLITE_BUSY.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the database file with vigia's connection settings.
///
/// WAL lets readers run while one writer writes and lets a second process
/// write without corrupting the first one's view. synchronous=FULL because
/// a capture is acknowledged right after its row commits: the commit must
/// survive a power cut, or the node would delete a capture the server
/// forgot.
pub fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let ctx = || format!("opening {}", path.display());
    let conn = Connection::open(path).map_err(StoreError::db(ctx()))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(StoreError::db(ctx()))?;
    let mode: String = conn
        .query_row("pragma journal_mode = wal", [], |r| r.get(0))
        .map_err(StoreError::db(ctx()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "database is not in WAL mode");
    }
    conn.execute_batch("pragma foreign_keys = on; pragma synchronous = full;")
        .map_err(StoreError::db(ctx()))?;
    Ok(conn)
}

pub fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("pragma user_version", [], |r| r.get(0))
        .map_err(StoreError::db("reading user_version"))
}

/// Creates or upgrades the schema to [`CURRENT_VERSION`].
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    migrate_to(conn, path, CURRENT_VERSION)
}

fn migrate_to(conn: &mut Connection, path: &Path, target: i64) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::db("starting the schema transaction"))?;
    let found = user_version(&tx)?;
    if !(0..=CURRENT_VERSION).contains(&found) {
        return Err(StoreError::SchemaVersion {
            path: path.to_owned(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    if found == target {
        return Ok(());
    }
    if found == 0 {
        let objects: i64 = tx
            .query_row(
                "select count(*) from sqlite_master where name not like 'sqlite_%'",
                [],
                |r| r.get(0),
            )
            .map_err(StoreError::db("inspecting a version-0 database"))?;
        if objects != 0 {
            // Version 0 with tables: not a vigia database.
            return Err(StoreError::SchemaVersion {
                path: path.to_owned(),
                found,
                supported: CURRENT_VERSION,
            });
        }
        if target == CURRENT_VERSION {
            tx.execute_batch(FRESH)
                .map_err(StoreError::db("creating the schema"))?;
            set_version(&tx, CURRENT_VERSION)?;
            tracing::info!(path = %path.display(), version = CURRENT_VERSION, "created database");
            return tx.commit().map_err(StoreError::db("committing the schema"));
        }
    }
    for v in found..target {
        let step = STEPS[v as usize];
        tx.execute_batch(step)
            .map_err(StoreError::db(format!("upgrading schema {v} -> {}", v + 1)))?;
        set_version(&tx, v + 1)?;
        tracing::info!(path = %path.display(), from = v, to = v + 1, "upgraded database schema");
    }
    let violations: i64 = tx
        .query_row("select count(*) from pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .map_err(StoreError::db("checking foreign keys after upgrade"))?;
    if violations != 0 {
        return Err(StoreError::SchemaVersion {
            path: path.to_owned(),
            found,
            supported: CURRENT_VERSION,
        });
    }
    tx.commit()
        .map_err(StoreError::db("committing the upgrade"))
}

fn set_version(conn: &Connection, v: i64) -> Result<(), StoreError> {
    // user_version does not accept a bound parameter; `v` is our constant.
    conn.execute_batch(&format!("pragma user_version = {v}"))
        .map_err(StoreError::db("setting user_version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Comparable form of a schema: every object's type, name and SQL with
    /// comments dropped, case folded and whitespace normalised (ALTER TABLE
    /// keeps the original text and splices the new column in), plus each
    /// table's columns as SQLite sees them.
    fn dump(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let mut stmt = conn
            .prepare("select type, name, tbl_name, coalesce(sql, '') from sqlite_master order by type, name")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        for (ty, name, tbl, sql) in rows {
            out.push(format!("{ty} {name} on {tbl}: {}", normalise(&sql)));
            if ty == "table" {
                let mut cols = conn
                    .prepare("select cid, name, type, \"notnull\", coalesce(dflt_value, ''), pk from pragma_table_xinfo(?1)")
                    .expect("prepare cols");
                let cols = cols
                    .query_map([&name], |r| {
                        Ok(format!(
                            "  col {} {} {} notnull={} default={} pk={}",
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, i64>(5)?
                        ))
                    })
                    .expect("cols")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("cols rows");
                out.extend(cols);
            }
        }
        out
    }

    fn normalise(sql: &str) -> String {
        let no_comments: String = sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ");
        let words = no_comments.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut s = words.to_lowercase();
        for p in ["(", ")", ",", ";"] {
            s = s.replace(&format!(" {p}"), p).replace(&format!("{p} "), p);
        }
        s
    }

    fn memory() -> Connection {
        let c = Connection::open_in_memory().expect("open");
        c.execute_batch("pragma foreign_keys = on").expect("fk");
        c
    }

    #[test]
    fn upgrade_and_compare() {
        let path = Path::new(":memory:");
        let mut upgraded = memory();
        migrate_to(&mut upgraded, path, 1).expect("create v1");
        assert_eq!(user_version(&upgraded).expect("version"), 1);
        // Data of every table, so each step is exercised on a populated
        // database, not only on an empty one.
        upgraded
            .execute_batch(
                "insert into camera (id, first_seen_ms) values ('porch', 1);
                 insert into capture (id, camera_id, start_ms, end_ms, trigger_ms, label, score,
                                      bytes, snapshot_bytes, clip_bytes, manifest_json,
                                      manifest_sha256, ingested_ms)
                   values ('20261118T111153120Z-deadbeef', 'porch', 1795000313120, 1795000323120,
                           1795000315120, 'person', 0.5, 100, 40, 60, '{}',
                           '0000000000000000000000000000000000000000000000000000000000000000', 2);
                 insert into user (name, role, password_hash, created_ms, password_changed_ms)
                   values ('ana', 'admin', '$argon2id$v=19$m=19456,t=2,p=1$x$y', 1, 1);
                 insert into session (token_sha256, user_id, csrf_token, created_ms, expires_ms)
                   values (zeroblob(32), 1, printf('%064d', 0), 1, 2);",
            )
            .expect("populate v1");
        migrate(&mut upgraded, path).expect("upgrade");
        assert_eq!(user_version(&upgraded).expect("version"), CURRENT_VERSION);
        let thumb: Option<i64> = upgraded
            .query_row("select thumb_bytes from capture", [], |r| r.get(0))
            .expect("row survived");
        assert_eq!(thumb, None);

        let mut fresh = memory();
        migrate(&mut fresh, path).expect("fresh");
        let (a, b) = (dump(&upgraded), dump(&fresh));
        if a != b {
            let diff: Vec<_> = a
                .iter()
                .zip(&b)
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("upgraded: {x}\n   fresh: {y}"))
                .collect();
            panic!(
                "schemas differ ({} vs {} lines):\n{}",
                a.len(),
                b.len(),
                diff.join("\n")
            );
        }
    }

    #[test]
    fn newer_or_foreign_databases_are_refused() {
        let mut c = memory();
        c.execute_batch("pragma user_version = 99").expect("set");
        assert!(matches!(
            migrate(&mut c, Path::new("x")),
            Err(StoreError::SchemaVersion { found: 99, .. })
        ));
        let mut foreign = memory();
        foreign.execute_batch("create table t (x)").expect("t");
        assert!(matches!(
            migrate(&mut foreign, Path::new("y")),
            Err(StoreError::SchemaVersion { found: 0, .. })
        ));
    }

    #[test]
    fn invariants_are_enforced_by_checks() {
        let mut c = memory();
        migrate(&mut c, Path::new(":memory:")).expect("fresh");
        c.execute_batch("insert into camera (id, first_seen_ms) values ('porch', 1)")
            .expect("camera");
        let insert = |label: &str, start: i64, end: i64, bytes: i64| {
            c.execute(
                "insert into capture (id, camera_id, start_ms, end_ms, trigger_ms, label, score,
                                      bytes, manifest_json, manifest_sha256, ingested_ms)
                 values ('20261118T111153120Z-deadbeef', 'porch', ?2, ?3, ?2, ?1, 0, ?4, '{}',
                         printf('%064d', 0), 0)",
                rusqlite::params![label, start, end, bytes],
            )
        };
        assert!(insert("cat", 0, 1, 0).is_err(), "label");
        assert!(insert("person", 5, 1, 0).is_err(), "end before start");
        assert!(insert("person", 0, 1, -1).is_err(), "negative bytes");
        insert("person", 0, 1, 0).expect("valid row");
        for bad_cam in ["../x", "Porch", "a/b", ""] {
            assert!(
                c.execute(
                    "insert into camera (id, first_seen_ms) values (?1, 0)",
                    [bad_cam]
                )
                .is_err(),
                "{bad_cam}"
            );
        }
        assert!(c
            .execute_batch(
                "insert into user (name, role, password_hash, created_ms, password_changed_ms)
                 values ('x', 'root', '$argon2id$', 0, 0)"
            )
            .is_err());
    }
}
