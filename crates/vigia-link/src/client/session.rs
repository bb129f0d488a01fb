//! One connected session of the node: its SFTP uploads (with resume), its
//! control channel (hello, heartbeats, commits and their acks, commands)
//! and its live channel.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::Handle;
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::OpenFlags;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use vigia_base::manifest::{Manifest, MANIFEST_NAME};
use vigia_base::CaptureId;

use super::{ClientConfig, ClientHandler, IncomingCommand, LinkError, LinkMode};
use crate::wire::{self, AckedFile, ControlMessage, FrameReader, Heartbeat, LiveFrame};

type Stream = russh::ChannelStream<russh::client::Msg>;

/// How long the server may take to store a committed capture.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(120);
const COPY_CHUNK: usize = 256 * 1024;

/// The server's answer to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitReply {
    Acked(Vec<AckedFile>),
    Rejected {
        reason: String,
        retryable: bool,
        bad_files: Vec<String>,
    },
}

pub struct Session {
    ssh: Handle<ClientHandler>,
    sftp: SftpSession,
    /// Remote folder that holds one folder per capture.
    root: String,
    plain: bool,
    control: Option<mpsc::Sender<ControlMessage>>,
    live: tokio::sync::Mutex<Option<russh::ChannelWriteHalf<russh::client::Msg>>>,
    commits: Mutex<HashMap<CaptureId, oneshot::Sender<CommitReply>>>,
    closed: AtomicBool,
    closed_notify: Notify,
    started: tokio::time::Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("root", &self.root).finish()
    }
}

/// The read half of the control channel, driven by [`run_control`].
pub(super) struct ControlReader {
    rd: ReadHalf<Stream>,
    reader: FrameReader,
}

/// Opens the channels of a freshly authenticated connection and, on a
/// vigia server, exchanges hello/welcome.
pub(super) async fn open(
    cfg: &ClientConfig,
    ssh: Handle<ClientHandler>,
    status: &watch::Receiver<Heartbeat>,
) -> Result<(Arc<Session>, Option<ControlReader>), LinkError> {
    let ch = ssh.channel_open_session().await?;
    ch.request_subsystem(true, "sftp").await?;
    let sftp = SftpSession::new(ch.into_stream()).await?;
    let (root, plain) = match &cfg.mode {
        LinkMode::Vigia => (String::new(), false),
        LinkMode::PlainSftp { remote_dir } => (remote_dir.trim_end_matches('/').to_string(), true),
    };
    if plain {
        let session = Arc::new(Session::new(ssh, sftp, root, true, None, None));
        return Ok((session, None));
    }

    let ch = ssh.channel_open_session().await?;
    ch.request_subsystem(true, wire::CONTROL_SUBSYSTEM).await?;
    let (mut rd, wr) = tokio::io::split(ch.into_stream());
    let mut reader = FrameReader::control();
    let mut buf = vec![0u8; 16 * 1024];
    let (tx, rx) = mpsc::channel(64);
    spawn_writer(wr, rx);
    tx.send(ControlMessage::Hello(super::hello(cfg)))
        .await
        .map_err(|_| LinkError::Closed)?;
    let welcome = tokio::time::timeout(
        Duration::from_secs(10),
        super::read_message(&mut rd, &mut reader, &mut buf),
    )
    .await
    .map_err(|_| LinkError::Timeout("the server's welcome"))??;
    let ControlMessage::Welcome(welcome) = welcome else {
        return Err(LinkError::Protocol(format!(
            "expected welcome, got {}",
            welcome.kind()
        )));
    };

    let ch = ssh.channel_open_session().await?;
    ch.request_subsystem(true, wire::LIVE_SUBSYSTEM).await?;
    let (_live_rd, live_wr) = ch.split();

    let session = Arc::new(Session::new(
        ssh,
        sftp,
        root,
        false,
        Some(tx.clone()),
        Some(live_wr),
    ));
    spawn_heartbeats(
        session.clone(),
        tx,
        status.clone(),
        Duration::from_millis(welcome.heartbeat_ms.clamp(500, 60_000)),
    );
    Ok((session, Some(ControlReader { rd, reader })))
}

fn spawn_writer(mut wr: WriteHalf<Stream>, mut rx: mpsc::Receiver<ControlMessage>) {
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let Ok(bytes) = wire::encode_control(&m) else {
                tracing::error!(kind = m.kind(), "control message too large; not sent");
                continue;
            };
            if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
    });
}

fn spawn_heartbeats(
    session: Arc<Session>,
    tx: mpsc::Sender<ControlMessage>,
    status: watch::Receiver<Heartbeat>,
    every: Duration,
) {
    tokio::spawn(async move {
        loop {
            let mut hb = status.borrow().clone();
            hb.uptime_ms = session.started.elapsed().as_millis() as u64;
            if tx.send(ControlMessage::Heartbeat(hb)).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = session.wait_closed() => return,
            }
        }
    });
}

/// Reads the server's messages until the channel closes or misbehaves.
pub(super) async fn run_control(
    mut c: ControlReader,
    session: Arc<Session>,
    live_tx: &watch::Sender<bool>,
    cmd_tx: &mpsc::Sender<IncomingCommand>,
) -> Result<(), LinkError> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let msg = tokio::select! {
            m = super::read_message(&mut c.rd, &mut c.reader, &mut buf) => m?,
            _ = session.wait_closed() => return Err(LinkError::Closed),
        };
        match msg {
            ControlMessage::LiveDemand { on } => {
                live_tx.send_replace(on);
            }
            ControlMessage::Command { id, command } => {
                let incoming = IncomingCommand {
                    id,
                    command,
                    session: session.clone(),
                };
                if cmd_tx.try_send(incoming).is_err() {
                    session
                        .command_result(id, false, "node busy: too many commands queued".into())
                        .await;
                }
            }
            ControlMessage::CaptureAck { capture_id, files } => {
                session.resolve(&capture_id, CommitReply::Acked(files));
            }
            ControlMessage::CaptureRejected {
                capture_id,
                reason,
                retryable,
                bad_files,
            } => session.resolve(
                &capture_id,
                CommitReply::Rejected {
                    reason,
                    retryable,
                    bad_files,
                },
            ),
            other => {
                return Err(LinkError::Protocol(format!(
                    "unexpected {} from the server",
                    other.kind()
                )))
            }
        }
    }
}

impl Session {
    fn new(
        ssh: Handle<ClientHandler>,
        sftp: SftpSession,
        root: String,
        plain: bool,
        control: Option<mpsc::Sender<ControlMessage>>,
        live: Option<russh::ChannelWriteHalf<russh::client::Msg>>,
    ) -> Self {
        Session {
            ssh,
            sftp,
            root,
            plain,
            control,
            live: tokio::sync::Mutex::new(live),
            commits: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            started: tokio::time::Instant::now(),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.ssh.is_closed()
    }

    pub(super) async fn wait_closed(&self) {
        loop {
            let notified = self.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            tokio::select! {
                _ = notified => {}
                // The SSH handle has no close notification of its own.
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    pub(super) async fn close(&self) {
        self.mark_closed();
        let _ = self
            .ssh
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }

    fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
        self.closed_notify.notify_waiters();
        self.commits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn resolve(&self, id: &CaptureId, reply: CommitReply) {
        if let Some(w) = self
            .commits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
        {
            let _ = w.send(reply);
        }
    }

    fn remote_dir(&self, capture: &CaptureId) -> String {
        if self.root.is_empty() {
            capture.as_str().to_string()
        } else {
            format!("{}/{}", self.root, capture.as_str())
        }
    }

    async fn ensure_dir(&self, dir: &str) -> Result<(), LinkError> {
        if self.sftp.try_exists(dir).await.unwrap_or(false) {
            return Ok(());
        }
        match self.sftp.create_dir(dir).await {
            Ok(()) => Ok(()),
            // Another attempt may have created it meanwhile.
            Err(e) if self.sftp.try_exists(dir).await.unwrap_or(false) => {
                tracing::debug!(error = %e, "mkdir raced");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Makes `<capture>/<name>` on the server hold the bytes of `local`,
    /// resuming from the server's size unless `restart`. Returns the bytes
    /// sent. When it returns, the server has the file durably (the vigia
    /// server fsyncs on close; a stock sshd is asked to with fsync@openssh.com).
    pub async fn put_file(
        &self,
        capture: &CaptureId,
        name: &str,
        local: &Path,
        restart: bool,
    ) -> Result<u64, LinkError> {
        let lerr = |source| LinkError::Local {
            path: local.to_owned(),
            source,
        };
        let dir = self.remote_dir(capture);
        self.ensure_dir(&dir).await?;
        let remote = format!("{dir}/{name}");
        let mut src = tokio::fs::File::open(local).await.map_err(lerr)?;
        let local_len = src.metadata().await.map_err(lerr)?.len();
        let remote_len = if restart {
            None
        } else {
            self.sftp
                .metadata(remote.as_str())
                .await
                .ok()
                .and_then(|m| m.size)
        };
        let (offset, flags) = match remote_len {
            Some(n) if n == local_len => return Ok(0),
            Some(n) if n < local_len => (n, OpenFlags::WRITE),
            _ => (
                0,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            ),
        };
        let mut dst = self.sftp.open_with_flags(remote.as_str(), flags).await?;
        if offset > 0 {
            dst.seek(SeekFrom::Start(offset))
                .await
                .map_err(|e| LinkError::Sftp(e.to_string()))?;
            src.seek(SeekFrom::Start(offset)).await.map_err(lerr)?;
        }
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut sent = 0u64;
        loop {
            let n = src.read(&mut buf).await.map_err(lerr)?;
            if n == 0 {
                break;
            }
            dst.write_all(&buf[..n])
                .await
                .map_err(|e| LinkError::Sftp(e.to_string()))?;
            sent += n as u64;
        }
        if self.plain {
            // Stock sshd: ask for the fsync the vigia server does by itself.
            dst.flush()
                .await
                .map_err(|e| LinkError::Sftp(e.to_string()))?;
        }
        dst.shutdown()
            .await
            .map_err(|e| LinkError::Sftp(e.to_string()))?;
        Ok(sent)
    }

    /// Removes a remote file of a capture (used before re-uploading a file
    /// the server found corrupt). Missing files are fine.
    pub async fn remove_file(&self, capture: &CaptureId, name: &str) -> Result<(), LinkError> {
        let remote = format!("{}/{name}", self.remote_dir(capture));
        match self.sftp.remove_file(remote.as_str()).await {
            Ok(()) => Ok(()),
            Err(_) if !self.sftp.try_exists(remote.as_str()).await.unwrap_or(true) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Declares a capture complete. On a vigia server, waits for its ack or
    /// rejection; on a plain SFTP target, uploads the manifest last (temp
    /// name, then rename) and counts that as delivered.
    pub async fn commit(
        &self,
        manifest: &Manifest,
        local_dir: &Path,
    ) -> Result<CommitReply, LinkError> {
        let id = manifest.capture_id.clone();
        if self.plain {
            let dir = self.remote_dir(&id);
            let tmp = format!("{dir}/.{MANIFEST_NAME}.tmp");
            let fin = format!("{dir}/{MANIFEST_NAME}");
            let _ = self.sftp.remove_file(tmp.as_str()).await;
            self.put_file(
                &id,
                &format!(".{MANIFEST_NAME}.tmp"),
                &local_dir.join(MANIFEST_NAME),
                true,
            )
            .await?;
            let _ = self.sftp.remove_file(fin.as_str()).await;
            self.sftp.rename(tmp.as_str(), fin.as_str()).await?;
            return Ok(CommitReply::Acked(
                manifest
                    .files
                    .iter()
                    .map(|f| AckedFile {
                        name: f.name.clone(),
                        sha256: f.sha256.clone(),
                    })
                    .collect(),
            ));
        }
        let control = self.control.as_ref().ok_or(LinkError::Closed)?;
        let (tx, rx) = oneshot::channel();
        self.commits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), tx);
        control
            .send(ControlMessage::CaptureCommitted {
                manifest: manifest.clone(),
            })
            .await
            .map_err(|_| LinkError::Closed)?;
        match tokio::time::timeout(COMMIT_TIMEOUT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(LinkError::Closed),
            Err(_) => {
                self.commits
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                Err(LinkError::Timeout("the server's acknowledgement"))
            }
        }
    }

    /// Sends one live frame. Returns when the SSH layer has taken it; the
    /// caller sends the latest frame next, so a slow link drops frames
    /// instead of queueing them.
    pub async fn send_live(&self, frame: &LiveFrame) -> Result<(), LinkError> {
        let bytes = wire::encode_live(frame).map_err(|e| LinkError::Protocol(e.to_string()))?;
        let live = self.live.lock().await;
        let Some(w) = live.as_ref() else {
            return Ok(());
        };
        w.data_bytes(bytes).await.map_err(|_| LinkError::Closed)
    }

    /// Answers a command received on this session.
    pub async fn command_result(&self, id: u64, ok: bool, message: String) {
        if let Some(c) = &self.control {
            let _ = c
                .send(ControlMessage::CommandResult { id, ok, message })
                .await;
        }
    }
}
