//! Server persistence for vigia.
//!
//! Owns the metadata database (SQLite, schema in `schema/schema.sql`), the
//! media tree ([`media`] layout; file names from ids only), ingest in
//! DESIGN.md's durability order (`ingest.rs`), start-up reconciliation
//! (`recovery.rs`), retention, users (argon2id) and sessions (random tokens
//! stored hashed). Does not own: HTTP (vigia-web), the SSH link and the
//! incoming area's layout (vigia-link), config files (vigia-config).
//!
//! # Concurrency
//! [`Store`] is `Clone + Send + Sync` (an `Arc` inside) and every method
//! blocks: call them from `spawn_blocking`. There is one SQLite connection
//! behind a `Mutex`. That is enough here: SQLite serialises writers anyway,
//! every query is an indexed lookup or a short keyset page (microseconds to
//! a millisecond at 100 000 captures), and the slow work (hashing and
//! copying media, argon2) runs *outside* the lock. A second mutex
//! serialises changes to the media tree (ingest, deletion) within the
//! process, so two uploads of one capture id cannot build the same temp
//! directory at once.
//!
//! Between processes (the `vigia user` CLI while the server runs): WAL
//! mode plus a busy timeout let both write the database. The media tree
//! belongs to the process holding an exclusive `flock` on
//! `<media>/.vigia-store.lock`; only that process runs start-up
//! reconciliation, so the CLI never "repairs" an ingest the server has in
//! flight.

mod captures;
mod error;
mod ingest;
pub mod media;
mod recovery;
mod retention;
mod schema;
mod types;
mod users;

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use rusqlite::Connection;

pub use captures::FakeCapture;
pub use error::StoreError;
pub use schema::CURRENT_VERSION as SCHEMA_VERSION;
pub use types::*;

/// The server's persistent state. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: StoreConfig,
    db: Mutex<Connection>,
    /// Serialises ingest and deletion (media tree changes) in this process.
    media_lock: Mutex<()>,
    /// Held for the store's life when this process owns the media tree.
    tree_lock: Option<File>,
    ingest_errors: AtomicU64,
    /// PHC hash of a random password, verified against for unknown users
    /// so a login attempt costs the same whether or not the name exists.
    dummy_hash: OnceLock<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db_path", &self.inner.cfg.db_path)
            .field("media_dir", &self.inner.cfg.media_dir)
            .field("owns_media_tree", &self.owns_media_tree())
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database and media tree, brings the
    /// schema to the current version, and, if this process is the first to
    /// open the media tree, reconciles files and rows (see `recovery.rs`).
    pub fn open(cfg: StoreConfig) -> Result<(Store, RecoveryReport), StoreError> {
        for dir in [Some(cfg.media_dir.as_path()), cfg.db_path.parent()]
            .into_iter()
            .flatten()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        let mut conn = schema::open_connection(&cfg.db_path)?;
        schema::migrate(&mut conn, &cfg.db_path)?;
        let tree_lock = lock_tree(&cfg.media_dir)?;
        let store = Store {
            inner: Arc::new(Inner {
                cfg,
                db: Mutex::new(conn),
                media_lock: Mutex::new(()),
                tree_lock,
                ingest_errors: AtomicU64::new(0),
                dummy_hash: OnceLock::new(),
            }),
        };
        let report = if store.owns_media_tree() {
            store.reconcile()?
        } else {
            tracing::info!(
                media_dir = %store.inner.cfg.media_dir.display(),
                "another process owns the media tree; skipping start-up reconciliation"
            );
            RecoveryReport::default()
        };
        Ok((store, report))
    }

    /// True if this process holds the media tree's lock (and so ran
    /// reconciliation). False in e.g. the `vigia user` CLI while the
    /// server runs.
    pub fn owns_media_tree(&self) -> bool {
        self.inner.tree_lock.is_some()
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.cfg
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let db = self.db();
        let (captures, bytes): (i64, i64) = db
            .query_row(
                "select count(*), coalesce(sum(bytes), 0) from capture",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(StoreError::db("counting captures"))?;
        let users: i64 = db
            .query_row("select count(*) from user", [], |r| r.get(0))
            .map_err(StoreError::db("counting users"))?;
        Ok(StoreStats {
            captures: captures.max(0) as u64,
            bytes: bytes.max(0) as u64,
            ingest_errors: self.inner.ingest_errors.load(Ordering::Relaxed),
            users: users.max(0) as u64,
        })
    }

    /// The connection. A panic while it was held cannot leave it
    /// inconsistent (an open transaction rolls back when dropped), so a
    /// poisoned lock is taken over rather than propagated.
    fn db(&self) -> MutexGuard<'_, Connection> {
        self.inner.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn media_lock(&self) -> MutexGuard<'_, ()> {
        self.inner
            .media_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn media_dir(&self) -> &Path {
        &self.inner.cfg.media_dir
    }
}

/// Takes the media tree's exclusive flock without waiting. `None` if
/// another process holds it. The kernel releases it when the process
/// dies, even by `kill -9`.
fn lock_tree(media: &Path) -> Result<Option<File>, StoreError> {
    let path = media.join(media::LOCK_NAME);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(Some(f));
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(StoreError::io(&path, e))
    }
}
