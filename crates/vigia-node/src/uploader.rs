//! The uploader: ships the outbox to the server, oldest capture first, and
//! deletes a capture only once the server has acknowledged the sha256 of
//! every file in its manifest.
//!
//! Order within a capture: snapshot, clip init segment, then fragments —
//! and **fragments of an event still being recorded are shipped as soon as
//! they are finished** (the outbox signals each one), so the server holds
//! the first seconds of evidence while the event goes on. The manifest is
//! sent last, as the commit.
//!
//! Resume and idempotence: a file is re-sent from the receiver's size
//! after a reconnection; the commit carries every sha256, and a file the
//! receiver finds corrupt is sent again from scratch. A retry after a lost
//! acknowledgement is harmless: the server's ingest is keyed by capture id
//! and sha256.
//!
//! The transport is a trait so the outbox discipline does not depend on
//! SSH: the node uses the link; tests use an in-memory receiver.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vigia_base::manifest::{Manifest, JOURNAL_NAME};
use vigia_base::{Backoff, CaptureId, Shutdown};

use crate::outbox::{Outbox, OutboxEntry};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct TransportError {
    pub reason: String,
}

impl TransportError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// The receiver's answer to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// Stored durably with these (file name, sha256) pairs.
    Acked(Vec<(String, String)>),
    /// Not stored. `bad_files` are re-sent from scratch before the next try.
    Rejected {
        reason: String,
        retryable: bool,
        bad_files: Vec<String>,
    },
}

/// Where captures go.
pub trait Transport: Send + Sync + 'static {
    /// Resolves once the transport can be used (e.g. the link is up).
    fn ready(&self) -> BoxFuture<'_, ()>;
    /// Makes the receiver hold `local` as `<capture>/<name>`, resuming a
    /// partial copy unless `restart`; durable on the receiver on return.
    fn put_file<'a>(
        &'a self,
        capture: &'a CaptureId,
        name: &'a str,
        local: &'a Path,
        restart: bool,
    ) -> BoxFuture<'a, Result<u64, TransportError>>;
    /// Every file is sent: commit the capture.
    fn commit<'a>(
        &'a self,
        manifest: &'a Manifest,
        dir: &'a Path,
    ) -> BoxFuture<'a, Result<Commit, TransportError>>;
}

/// Upload counters for metrics.
#[derive(Debug, Default)]
pub struct UploadStats {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    pub acked: AtomicU64,
    pub rejected: AtomicU64,
    pub errors: AtomicU64,
}

/// After this many rejections of one capture it is left alone until the
/// node restarts (and an error is logged), instead of looping.
const MAX_REJECTIONS: u32 = 3;

struct State {
    /// Files known to be on the receiver, with the sha256 sent.
    sent: HashMap<(CaptureId, String), String>,
    /// Files to send again from the start.
    restart: HashSet<(CaptureId, String)>,
    rejections: HashMap<CaptureId, u32>,
    given_up: HashSet<CaptureId>,
}

enum Pass {
    /// Everything that could be sent was sent.
    Done,
    /// Something failed; back off before the next pass.
    Failed,
    /// A rejection asked for files to be resent: go again at once.
    Again,
}

/// Runs until `shutdown`.
pub async fn run_uploader(
    outbox: Outbox,
    transport: Arc<dyn Transport>,
    stats: Arc<UploadStats>,
    shutdown: Shutdown,
) {
    let mut changes = outbox.changes();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30), 0x5eed);
    let mut st = State {
        sent: HashMap::new(),
        restart: HashSet::new(),
        rejections: HashMap::new(),
        given_up: HashSet::new(),
    };
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = transport.ready() => {}
        }
        changes.borrow_and_update();
        let wait = match pass(&outbox, &*transport, &stats, &mut st, &shutdown).await {
            Pass::Done => {
                backoff.reset();
                None
            }
            Pass::Again => continue,
            Pass::Failed => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                Some(backoff.next_delay())
            }
        };
        tokio::select! {
            _ = shutdown.wait() => return,
            r = changes.changed(), if wait.is_none() => if r.is_err() { return },
            _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(30))) => {}
        }
    }
}

async fn pass(
    outbox: &Outbox,
    transport: &dyn Transport,
    stats: &UploadStats,
    st: &mut State,
    shutdown: &Shutdown,
) -> Pass {
    let ob = outbox.clone();
    let entries = match tokio::task::spawn_blocking(move || ob.scan()).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot list the outbox");
            return Pass::Failed;
        }
        Err(_) => return Pass::Failed,
    };
    let present: HashSet<&CaptureId> = entries.iter().map(|e| &e.id).collect();
    st.sent.retain(|(id, _), _| present.contains(id));
    for entry in &entries {
        if shutdown.is_triggered() {
            return Pass::Done;
        }
        if st.given_up.contains(&entry.id) {
            continue;
        }
        if let Err(e) = send_files(entry, transport, stats, st).await {
            tracing::warn!(capture = %entry.id, error = %e, "upload interrupted; will resume");
            return Pass::Failed;
        }
        let Some(manifest) = &entry.manifest else {
            // Still recording: ship the journal too, so the server can make
            // a capture of these files should the node never come back.
            // The rest comes when the outbox changes.
            if let Err(e) = send_journal(entry, transport, st).await {
                tracing::warn!(capture = %entry.id, error = %e, "upload interrupted; will resume");
                return Pass::Failed;
            }
            continue;
        };
        match transport.commit(manifest, &entry.dir).await {
            Ok(Commit::Acked(acks)) => {
                let (ob, id) = (outbox.clone(), entry.id.clone());
                let r = tokio::task::spawn_blocking(move || ob.acknowledge(&id, &acks)).await;
                match r {
                    Ok(Ok(())) => {
                        stats.acked.fetch_add(1, Ordering::Relaxed);
                        st.rejections.remove(&entry.id);
                        tracing::info!(capture = %entry.id, "capture acknowledged by the server and removed from the outbox");
                    }
                    Ok(Err(e)) => {
                        tracing::error!(capture = %entry.id, error = %e, "acknowledgement does not match; capture kept");
                        st.given_up.insert(entry.id.clone());
                    }
                    Err(_) => return Pass::Failed,
                }
            }
            Ok(Commit::Rejected {
                reason,
                retryable,
                bad_files,
            }) => {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                let n = st.rejections.entry(entry.id.clone()).or_insert(0);
                *n += 1;
                if !retryable || *n >= MAX_REJECTIONS {
                    tracing::error!(capture = %entry.id, reason = %reason, "server refused the capture; kept in the outbox for inspection");
                    st.given_up.insert(entry.id.clone());
                    continue;
                }
                tracing::warn!(capture = %entry.id, reason = %reason, resend = ?bad_files, "server rejected the capture; resending");
                for name in bad_files {
                    st.sent.remove(&(entry.id.clone(), name.clone()));
                    st.restart.insert((entry.id.clone(), name));
                }
                return Pass::Again;
            }
            Err(e) => {
                tracing::warn!(capture = %entry.id, error = %e, "commit failed; will retry");
                return Pass::Failed;
            }
        }
    }
    Pass::Done
}

async fn send_journal(
    entry: &OutboxEntry,
    transport: &dyn Transport,
    st: &mut State,
) -> Result<(), TransportError> {
    use sha2::{Digest, Sha256};
    let path = entry.dir.join(JOURNAL_NAME);
    let Ok(bytes) = tokio::fs::read(&path).await else {
        // Committed (and the journal removed) meanwhile: nothing to do.
        return Ok(());
    };
    let sha = hex::encode(Sha256::digest(&bytes));
    let key = (entry.id.clone(), JOURNAL_NAME.to_string());
    if st.sent.get(&key) != Some(&sha) {
        transport
            .put_file(&entry.id, JOURNAL_NAME, &path, true)
            .await?;
        st.sent.insert(key, sha);
    }
    Ok(())
}

async fn send_files(
    entry: &OutboxEntry,
    transport: &dyn Transport,
    stats: &UploadStats,
    st: &mut State,
) -> Result<(), TransportError> {
    for f in &entry.files {
        let key = (entry.id.clone(), f.name.clone());
        if st.sent.get(&key) == Some(&f.sha256) {
            continue;
        }
        // A file replaced since it was sent (a better snapshot) must not be
        // resumed onto the old bytes.
        let restart = st.restart.remove(&key) || st.sent.contains_key(&key);
        let path = entry.dir.join(&f.name);
        let n = transport
            .put_file(&entry.id, &f.name, &path, restart)
            .await?;
        stats.files.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(n, Ordering::Relaxed);
        st.sent.insert(key, f.sha256.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
