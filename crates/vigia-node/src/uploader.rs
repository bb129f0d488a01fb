//! The uploader: drains the outbox into a [`CaptureSink`], oldest capture
//! first, and deletes a capture only once the sink has acknowledged the
//! sha256 of every file in its manifest.
//!
//! The sink is a trait so the transport can change without touching the
//! outbox discipline: today the demo delivers in-process to the server's
//! store; the SSH link delivers over SFTP. Failures are retried with
//! backoff; a retry after a lost acknowledgement is harmless because the
//! receiver's ingest is idempotent (capture id + manifest sha256).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use vigia_base::{Backoff, Shutdown};

use crate::outbox::{Outbox, PendingCapture};

#[derive(Debug, thiserror::Error)]
#[error("delivering capture {capture}: {reason}")]
pub struct SinkError {
    pub capture: String,
    pub reason: String,
    /// False when retrying cannot help (the receiver rejected the capture
    /// as corrupt); the capture is then kept and skipped until restart.
    pub retryable: bool,
}

/// Where captures go. `deliver` returns once the receiver holds the capture
/// durably, with the (file name, sha256) pairs it acknowledges.
pub trait CaptureSink: Send + Sync + 'static {
    fn deliver(&self, capture: &PendingCapture) -> Result<Vec<(String, String)>, SinkError>;
}

/// Runs until `shutdown`. `wake` nudges it when a capture was committed;
/// it also rescans on its own every `idle_rescan`.
pub async fn run_uploader(
    outbox: Outbox,
    sink: Arc<dyn CaptureSink>,
    mut wake: mpsc::Receiver<()>,
    shutdown: Shutdown,
) {
    let idle_rescan = Duration::from_secs(30);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60), 0x5eed);
    let mut skipped: std::collections::HashSet<String> = Default::default();
    loop {
        let ob = outbox.clone();
        let pending = match tokio::task::spawn_blocking(move || ob.pending()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot list the outbox");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let mut wait = idle_rescan;
        for capture in pending {
            let id = capture.manifest.capture_id.clone();
            if skipped.contains(id.as_str()) {
                continue;
            }
            let (s, ob) = (sink.clone(), outbox.clone());
            let result = tokio::task::spawn_blocking(move || {
                let acks = s.deliver(&capture)?;
                ob.acknowledge(&capture.manifest.capture_id, &acks)
                    .map_err(|e| SinkError {
                        capture: capture.manifest.capture_id.to_string(),
                        reason: e.to_string(),
                        retryable: false,
                    })
            })
            .await;
            match result {
                Ok(Ok(())) => {
                    backoff.reset();
                    tracing::info!(capture = %id, "capture delivered and removed from the outbox");
                }
                Ok(Err(e)) if e.retryable => {
                    wait = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "delivery failed; will retry");
                    break;
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "capture refused; kept in the outbox for inspection");
                    skipped.insert(id.to_string());
                }
                Err(e) => {
                    tracing::error!(error = %e, "uploader task failed");
                    wait = backoff.next_delay();
                    break;
                }
            }
            if shutdown.is_triggered() {
                return;
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = wake.recv() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use vigia_base::CaptureId;

    use super::*;
    use crate::outbox::{FileKind, Manifest, Scores, MANIFEST_VERSION};

    /// A receiver that refuses a given capture for good and fails the
    /// first `transient` deliveries, recording what it stored.
    struct TestSink {
        transient: Mutex<u32>,
        refuse: Option<CaptureId>,
        stored: Mutex<Vec<CaptureId>>,
    }

    impl CaptureSink for TestSink {
        fn deliver(&self, c: &PendingCapture) -> Result<Vec<(String, String)>, SinkError> {
            let id = c.manifest.capture_id.clone();
            let err = |retryable| SinkError {
                capture: id.to_string(),
                reason: "test".into(),
                retryable,
            };
            if self.refuse.as_ref() == Some(&id) {
                return Err(err(false));
            }
            let mut t = self.transient.lock().expect("lock");
            if *t > 0 {
                *t -= 1;
                return Err(err(true));
            }
            self.stored.lock().expect("lock").push(id);
            Ok(c.manifest
                .files
                .iter()
                .map(|f| (f.name.clone(), f.sha256.clone()))
                .collect())
        }
    }

    fn commit(ob: &Outbox, n: u32) -> CaptureId {
        let id = CaptureId::new(1_700_000_000_000 + i64::from(n) * 1000, n);
        let mut w = ob
            .begin(id.clone(), "cam".parse().expect("id"), 0, 0)
            .expect("begin");
        w.write_file(FileKind::Snapshot, &[n as u8; 10], None)
            .expect("write");
        w.commit(Manifest {
            version: MANIFEST_VERSION,
            capture_id: id.clone(),
            camera: "cam".parse().expect("id"),
            trigger_ms: 0,
            start_ms: 0,
            end_ms: 1,
            start_utc: String::new(),
            end_utc: String::new(),
            label: "motion".into(),
            scores: Scores {
                motion_max: 0.0,
                motion_mean: 0.0,
            },
            frames: 0,
            snapshot_ms: None,
            end_reason: "quiet".into(),
            files: vec![],
        })
        .expect("commit");
        id
    }

    #[tokio::test(start_paused = true)]
    async fn drains_in_order_retries_transient_failures_and_keeps_refused_captures() {
        let d = tempfile::tempdir().expect("tempdir");
        let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
        let ids: Vec<_> = (1..=3).map(|n| commit(&ob, n)).collect();
        let sink = Arc::new(TestSink {
            transient: Mutex::new(2),
            refuse: Some(ids[1].clone()),
            stored: Mutex::default(),
        });
        let (_wake_tx, wake_rx) = mpsc::channel(1);
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run_uploader(
            ob.clone(),
            sink.clone(),
            wake_rx,
            shutdown.clone(),
        ));
        for _ in 0..200 {
            if sink.stored.lock().expect("lock").len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown.trigger();
        task.await.expect("uploader");
        assert_eq!(
            *sink.stored.lock().expect("lock"),
            vec![ids[0].clone(), ids[2].clone()]
        );
        let left: Vec<_> = ob
            .pending()
            .expect("pending")
            .into_iter()
            .map(|p| p.manifest.capture_id)
            .collect();
        assert_eq!(left, vec![ids[1].clone()], "only the refused capture stays");
    }
}
