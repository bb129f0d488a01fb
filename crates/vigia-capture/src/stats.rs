//! [`SourceStats`]: live counters of one frame source, shared lock-free
//! with the metrics exporter.
//!
//! Counters only ever grow (Prometheus counters); `connected` and
//! `last_error` are gauges of the current state. Owns no policy: sources
//! decide what counts as corrupt or as a reconnect.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct SourceStats {
    frames: AtomicU64,
    corrupt_frames: AtomicU64,
    bytes: AtomicU64,
    reconnects: AtomicU64,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// A plain copy of [`SourceStats`] at one instant, for metrics and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStatsSnapshot {
    /// Good frames delivered.
    pub frames: u64,
    /// Frames (or would-be frames) dropped because they were not a complete
    /// JPEG or were larger than the configured maximum.
    pub corrupt_frames: u64,
    /// JPEG bytes of the delivered frames.
    pub bytes: u64,
    /// Connection (or device-open) attempts after a failure or a lost
    /// stream.
    pub reconnects: u64,
    /// Whether the source currently has a working connection/device.
    pub connected: bool,
    /// The most recent error, kept after recovery for diagnosis.
    pub last_error: Option<String>,
}

impl SourceStats {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record_frame(&self, jpeg_bytes: usize) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(jpeg_bytes as u64, Ordering::Relaxed);
    }

    pub fn record_corrupt(&self) {
        self.corrupt_frames.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    pub fn set_last_error(&self, error: impl Into<String>) {
        let mut guard = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        *guard = Some(error.into());
    }

    pub fn snapshot(&self) -> SourceStatsSnapshot {
        SourceStatsSnapshot {
            frames: self.frames.load(Ordering::Relaxed),
            corrupt_frames: self.corrupt_frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            connected: self.connected.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_updates() {
        let s = SourceStats::new();
        s.record_frame(100);
        s.record_frame(50);
        s.record_corrupt();
        s.record_reconnect();
        s.set_connected(true);
        s.set_last_error("HTTP 500");
        assert_eq!(
            s.snapshot(),
            SourceStatsSnapshot {
                frames: 2,
                corrupt_frames: 1,
                bytes: 150,
                reconnects: 1,
                connected: true,
                last_error: Some("HTTP 500".into()),
            }
        );
    }
}
