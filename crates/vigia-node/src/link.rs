//! The node's use of the link: uploads through it ([`LinkTransport`]),
//! live frames while someone watches ([`run_live_sender`]), commands from
//! the server ([`run_commands`]) and the status sent as heartbeats
//! ([`run_status`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use vigia_base::manifest::Manifest;
use vigia_base::{CaptureId, Command, CommandSource, Shutdown};
use vigia_link::client::{CommitReply, IncomingCommand, Link};
use vigia_link::wire::{Backlog, Heartbeat, LiveFrame};
use vigia_media::Frame;

use crate::outbox::Outbox;
use crate::uploader::{BoxFuture, Commit, Transport, TransportError};

/// Uploads over the link's current session.
pub struct LinkTransport {
    pub link: Link,
}

impl Transport for LinkTransport {
    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.link.connected().await.is_none() {
                // The link is shut down: never ready again.
                std::future::pending::<()>().await;
            }
        })
    }

    fn put_file<'a>(
        &'a self,
        capture: &'a CaptureId,
        name: &'a str,
        local: &'a Path,
        restart: bool,
    ) -> BoxFuture<'a, Result<u64, TransportError>> {
        Box::pin(async move {
            let s = self
                .link
                .current()
                .ok_or_else(|| TransportError::new("not connected"))?;
            s.put_file(capture, name, local, restart)
                .await
                .map_err(|e| TransportError::new(e.to_string()))
        })
    }

    fn commit<'a>(
        &'a self,
        manifest: &'a Manifest,
        dir: &'a Path,
    ) -> BoxFuture<'a, Result<Commit, TransportError>> {
        Box::pin(async move {
            let s = self
                .link
                .current()
                .ok_or_else(|| TransportError::new("not connected"))?;
            match s.commit(manifest, dir).await {
                Ok(CommitReply::Acked(files)) => Ok(Commit::Acked(
                    files.into_iter().map(|f| (f.name, f.sha256)).collect(),
                )),
                Ok(CommitReply::Rejected {
                    reason,
                    retryable,
                    bad_files,
                }) => Ok(Commit::Rejected {
                    reason,
                    retryable,
                    bad_files,
                }),
                Err(e) => Err(TransportError::new(e.to_string())),
            }
        })
    }
}

/// Sends the latest frame while the server wants live view. Each send
/// waits for the SSH layer; frames that arrive meanwhile replace each
/// other in the watch, so a slow network drops frames instead of adding
/// latency.
pub async fn run_live_sender(
    link: Link,
    mut frames: watch::Receiver<Option<Frame>>,
    shutdown: Shutdown,
) {
    let mut demand = link.live_demand();
    loop {
        while !*demand.borrow_and_update() {
            tokio::select! {
                _ = shutdown.wait() => return,
                r = demand.changed() => if r.is_err() { return },
            }
        }
        tracing::info!("live view requested: streaming frames to the server");
        frames.borrow_and_update();
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                r = frames.changed() => if r.is_err() { return },
                r = demand.changed() => {
                    if r.is_err() { return }
                    if !*demand.borrow() { break }
                    continue;
                }
            }
            let Some(frame) = frames.borrow_and_update().clone() else {
                continue;
            };
            let Some(session) = link.current() else {
                continue;
            };
            let lf = LiveFrame {
                seq: frame.seq,
                captured_ms: frame.captured_ms,
                jpeg: frame.jpeg.to_vec(),
            };
            if let Err(e) = session.send_live(&lf).await {
                tracing::debug!(error = %e, "live frame not sent");
            }
        }
        tracing::info!("no more viewers: live stream stopped");
    }
}

/// Carries out commands. Implemented by the node's command executor.
pub trait CommandExecutor: Send + Sync + 'static {
    /// Ok with a short human message, or Err with the reason.
    fn execute(
        &self,
        command: Command,
        source: CommandSource,
    ) -> BoxFuture<'_, Result<String, String>>;
}

/// Executes the server's commands one at a time and answers each.
pub async fn run_commands(
    mut rx: mpsc::Receiver<IncomingCommand>,
    exec: Arc<dyn CommandExecutor>,
    shutdown: Shutdown,
) {
    loop {
        let c = tokio::select! {
            _ = shutdown.wait() => return,
            c = rx.recv() => match c { Some(c) => c, None => return },
        };
        tracing::info!(command = %c.command, "command from the server");
        let (ok, message) = match exec.execute(c.command, CommandSource::Web).await {
            Ok(m) => (true, m),
            Err(m) => (false, m),
        };
        c.session.command_result(c.id, ok, message).await;
    }
}

/// Keeps `status` (the heartbeat's content) current.
pub async fn run_status(
    outbox: Outbox,
    armed: watch::Receiver<bool>,
    source: Arc<vigia_capture::SourceStats>,
    status: watch::Sender<Heartbeat>,
    now_ms: impl Fn() -> i64 + Send + 'static,
    shutdown: Shutdown,
) {
    loop {
        let ob = outbox.clone();
        if let Ok(b) = tokio::task::spawn_blocking(move || ob.backlog()).await {
            let now = now_ms();
            status.send_replace(Heartbeat {
                uptime_ms: 0,
                armed: *armed.borrow(),
                backlog: Backlog {
                    captures: b.captures,
                    bytes: b.bytes,
                    oldest_age_ms: b
                        .oldest_start_ms
                        .map_or(0, |t| now.saturating_sub(t).max(0) as u64),
                },
                frames: source.snapshot().frames,
            });
        }
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
