//! The server's side of one node's `control` and `live` channels.
//!
//! `control`: the node must say `hello` (its camera, the protocol version)
//! within [`HELLO_TIMEOUT`]; then heartbeats, command results and capture
//! commits flow in, and live demand and commands flow out. Anything
//! malformed or oversized ends the whole connection: a node that speaks
//! garbage is broken or hostile, and the next reconnection starts clean.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::server::{Handle, Msg};
use russh::Channel;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use vigia_base::CameraId;

use super::Shared;
use crate::wire::{self, ControlMessage, FrameReader, Welcome, WireError};

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("channel closed")]
    Closed,
    #[error("reading the channel: {0}")]
    Io(#[from] std::io::Error),
    #[error("no hello within {0:?}")]
    NoHello(Duration),
    #[error("expected hello first, got {0}")]
    NotHello(&'static str),
    #[error("hello names camera {said} but the key belongs to {key}")]
    WrongCamera { said: CameraId, key: CameraId },
    #[error("protocol version {0} is not supported (this server speaks {v})", v = wire::PROTOCOL_VERSION)]
    Version(u32),
    #[error("unexpected {0} from a node")]
    Unexpected(&'static str),
}

/// Reads the next framed body from `rd`.
async fn next_body<R: AsyncRead + Unpin>(
    rd: &mut R,
    reader: &mut FrameReader,
    buf: &mut [u8],
) -> Result<Vec<u8>, Problem> {
    loop {
        if let Some(body) = reader.next_body()? {
            return Ok(body);
        }
        let n = rd.read(buf).await?;
        if n == 0 {
            return Err(Problem::Closed);
        }
        reader.push(&buf[..n]);
    }
}

async fn disconnect(handle: &Handle, why: &str) {
    let _ = handle
        .disconnect(
            russh::Disconnect::ProtocolError,
            why.chars().take(120).collect(),
            String::new(),
        )
        .await;
}

pub(super) async fn run(
    shared: Arc<Shared>,
    camera: CameraId,
    channel: Channel<Msg>,
    handle: Handle,
    peer: SocketAddr,
) {
    let (mut rd, mut wr) = tokio::io::split(channel.into_stream());
    let (tx, mut rx) = mpsc::channel::<ControlMessage>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let Ok(bytes) = wire::encode_control(&m) else {
                continue;
            };
            if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
    });
    let mut reader = FrameReader::control();
    let mut buf = vec![0u8; 16 * 1024];

    let hello = match tokio::time::timeout(HELLO_TIMEOUT, next_body(&mut rd, &mut reader, &mut buf))
        .await
    {
        Err(_) => Err(Problem::NoHello(HELLO_TIMEOUT)),
        Ok(r) => r
            .and_then(|b| Ok(wire::decode_control(&b)?))
            .and_then(|m| match m {
                ControlMessage::Hello(h) if h.camera != camera => Err(Problem::WrongCamera {
                    said: h.camera,
                    key: camera.clone(),
                }),
                ControlMessage::Hello(h) if h.protocol != wire::PROTOCOL_VERSION => {
                    Err(Problem::Version(h.protocol))
                }
                ControlMessage::Hello(h) => Ok(h),
                other => Err(Problem::NotHello(other.kind())),
            }),
    };
    let hello = match hello {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(camera = %camera, %peer, error = %e, "control channel refused");
            disconnect(&handle, &e.to_string()).await;
            writer.abort();
            return;
        }
    };
    let _ = tx
        .send(ControlMessage::Welcome(Welcome {
            protocol: wire::PROTOCOL_VERSION,
            software: env!("CARGO_PKG_VERSION").into(),
            heartbeat_ms: shared.cfg.heartbeat_ms,
        }))
        .await;
    let conn = shared.nodes.register(&hello, peer.to_string(), tx.clone());
    shared.hooks.node_seen(&camera, None);
    tracing::info!(camera = %camera, %peer, software = ?hello.software, "node connected");

    let mut viewers = shared.hooks.viewers(&camera);
    let mut live_on = false;
    let result: Result<(), Problem> = async {
        loop {
            let want = *viewers.borrow_and_update() > 0;
            if want != live_on {
                live_on = want;
                let _ = tx.send(ControlMessage::LiveDemand { on: want }).await;
            }
            tokio::select! {
                body = next_body(&mut rd, &mut reader, &mut buf) => {
                    let msg = wire::decode_control(&body?)?;
                    handle_message(&shared, &camera, conn, &tx, msg)?;
                }
                r = viewers.changed() => {
                    if r.is_err() {
                        // The hub is gone (server shutting down).
                        std::future::pending::<()>().await;
                    }
                }
                _ = shared.shutdown.wait() => return Ok(()),
            }
        }
    }
    .await;
    match result {
        Ok(()) | Err(Problem::Closed) => {
            tracing::info!(camera = %camera, %peer, "node disconnected")
        }
        Err(e) => {
            tracing::warn!(camera = %camera, %peer, error = %e, "closing the link of a misbehaving node");
            disconnect(&handle, &e.to_string()).await;
        }
    }
    if shared.nodes.unregister(&camera, conn) {
        shared.hooks.node_gone(&camera);
    }
    drop(tx);
    let _ = writer.await;
}

fn handle_message(
    shared: &Arc<Shared>,
    camera: &CameraId,
    conn: u64,
    tx: &mpsc::Sender<ControlMessage>,
    msg: ControlMessage,
) -> Result<(), Problem> {
    match msg {
        ControlMessage::Heartbeat(hb) => {
            shared.hooks.node_seen(camera, Some(&hb));
            shared.nodes.heartbeat(camera, conn, hb);
        }
        ControlMessage::CommandResult { id, ok, message } => {
            let message: String = message.chars().take(500).collect();
            shared.nodes.command_result(camera, conn, id, ok, message);
        }
        ControlMessage::CaptureCommitted { manifest } => {
            let id = manifest.capture_id.clone();
            if manifest.camera != *camera {
                let _ = tx.try_send(ControlMessage::CaptureRejected {
                    capture_id: id,
                    reason: format!(
                        "capture belongs to camera {}, not {camera}",
                        manifest.camera
                    ),
                    retryable: false,
                    bad_files: vec![],
                });
                return Ok(());
            }
            let (shared, camera, tx) = (shared.clone(), camera.clone(), tx.clone());
            tokio::spawn(async move {
                let area = shared.cfg.incoming.join(camera.as_str());
                let hooks = shared.hooks.clone();
                let cam = camera.clone();
                let outcome =
                    tokio::task::spawn_blocking(move || hooks.commit(&cam, &area, &manifest)).await;
                let reply = match outcome {
                    Ok(Ok(files)) => ControlMessage::CaptureAck {
                        capture_id: id,
                        files,
                    },
                    Ok(Err(e)) => {
                        tracing::warn!(camera = %camera, capture = %id, reason = %e.reason, "commit refused");
                        ControlMessage::CaptureRejected {
                            capture_id: id,
                            reason: e.reason,
                            retryable: e.retryable,
                            bad_files: e.bad_files,
                        }
                    }
                    Err(e) => ControlMessage::CaptureRejected {
                        capture_id: id,
                        reason: format!("server task failed: {e}"),
                        retryable: true,
                        bad_files: vec![],
                    },
                };
                let _ = tx.send(reply).await;
            });
        }
        other @ (ControlMessage::Hello(_)
        | ControlMessage::Welcome(_)
        | ControlMessage::LiveDemand { .. }
        | ControlMessage::Command { .. }
        | ControlMessage::CaptureAck { .. }
        | ControlMessage::CaptureRejected { .. }) => return Err(Problem::Unexpected(other.kind())),
    }
    Ok(())
}

/// The `live` channel: frames in, published through the hooks.
pub(super) async fn run_live(
    shared: Arc<Shared>,
    camera: CameraId,
    channel: Channel<Msg>,
    handle: Handle,
) {
    let mut stream = channel.into_stream();
    let mut reader = FrameReader::live();
    let mut buf = vec![0u8; 64 * 1024];
    let result: Result<(), Problem> = async {
        loop {
            let body = tokio::select! {
                b = next_body(&mut stream, &mut reader, &mut buf) => b?,
                _ = shared.shutdown.wait() => return Ok(()),
            };
            let frame = wire::decode_live(&body)?;
            shared.hooks.live_frame(&camera, frame);
        }
    }
    .await;
    match result {
        Ok(()) | Err(Problem::Closed) => {}
        Err(e) => {
            tracing::warn!(camera = %camera, error = %e, "closing the link: bad live channel data");
            disconnect(&handle, &e.to_string()).await;
        }
    }
}
