//! Counters per channel, shared between the caller's handle and the worker
//! tasks. A notification is never silently lost: it is sent, dropped at a
//! full queue, or given up after its retries, and each outcome is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
}

impl Counters {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ChannelStats {
        ChannelStats {
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

/// One channel's counts since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Messages delivered (API accepted, broker queued, webhook 2xx).
    pub sent: u64,
    /// Refused at a full queue without waiting.
    pub dropped: u64,
    /// Given up after the configured attempts, or refused by the peer.
    pub failed: u64,
    /// Attempts repeated after an error (429 waits included).
    pub retries: u64,
}

/// Counts of every configured channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStats {
    pub telegram: ChannelStats,
    pub mqtt: ChannelStats,
    pub webhook: ChannelStats,
}
