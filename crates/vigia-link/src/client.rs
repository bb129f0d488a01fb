//! The node end of the link: one SSH connection to the server, kept open
//! and re-established with exponential backoff and jitter.
//!
//! [`Link::spawn`] starts the supervisor; the node's uploader, live sender
//! and command executor use the current [`Session`]. On a vigia server a
//! session has three channels (sftp, control, live); on a stock OpenSSH
//! server ("plain SFTP target", the seed's behaviour) only sftp, and a
//! capture counts as delivered once its manifest is uploaded.
//!
//! The server's host key is pinned in a known_hosts file: the first
//! contact needs `trust_new_host` (or a configured fingerprint); a changed
//! key stops every connection attempt and says so until an operator acts.

mod session;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use tokio::sync::{mpsc, watch};
use vigia_base::{Backoff, CameraId, Command, Shutdown};

use crate::keys;
use crate::wire::{self, ControlMessage, FrameReader, Heartbeat, Hello};

pub use session::{CommitReply, Session};

/// What the node talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMode {
    /// A vigia server: sftp + control + live.
    Vigia,
    /// A stock SSH server: captures are uploaded under `remote_dir` as
    /// `<capture id>/<file>`, the manifest last.
    PlainSftp { remote_dir: String },
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub host: String,
    pub port: u16,
    /// The SSH user: the camera id on a vigia server.
    pub user: String,
    pub camera: CameraId,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// Record the server's key on first contact.
    pub trust_new_host: bool,
    /// `SHA256:…` fingerprint the server's key must have; recorded in
    /// known_hosts on first contact without needing `trust_new_host`.
    pub host_fingerprint: Option<String>,
    pub mode: LinkMode,
    pub capabilities: Vec<String>,
    pub connect_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    /// Not connected; retrying.
    Down {
        reason: String,
    },
    /// The server's host key is unknown or changed: no connection is
    /// attempted with it.
    HostKeyRejected {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("SSH: {0}")]
    Ssh(#[from] russh::Error),
    #[error("{0}")]
    HostKey(String),
    #[error("the server refused our key for user {user} (is it authorized for this camera?)")]
    AuthRefused { user: String },
    #[error("SFTP: {0}")]
    Sftp(String),
    #[error("reading {path}: {source}")]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control channel: {0}")]
    Protocol(String),
    #[error("the link went down")]
    Closed,
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

impl From<russh_sftp::client::error::Error> for LinkError {
    fn from(e: russh_sftp::client::error::Error) -> Self {
        LinkError::Sftp(e.to_string())
    }
}

/// The node's handle on the link. Cheap to clone.
#[derive(Clone)]
pub struct Link {
    session: watch::Receiver<Option<Arc<Session>>>,
    live_demand: watch::Receiver<bool>,
    state: watch::Receiver<LinkState>,
}

/// A command from the server, to be answered with
/// [`Session::command_result`] on the session it came from.
#[derive(Debug)]
pub struct IncomingCommand {
    pub id: u64,
    pub command: Command,
    pub session: Arc<Session>,
}

impl Link {
    /// Starts the connection supervisor. `status` is sent as the
    /// heartbeat; commands from the server arrive on the returned receiver.
    pub fn spawn(
        cfg: ClientConfig,
        status: watch::Receiver<Heartbeat>,
        shutdown: Shutdown,
    ) -> (Link, mpsc::Receiver<IncomingCommand>) {
        let (session_tx, session) = watch::channel(None);
        let (live_tx, live_demand) = watch::channel(false);
        let (state_tx, state) = watch::channel(LinkState::Connecting);
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        tokio::spawn(supervise(
            cfg, status, shutdown, session_tx, live_tx, state_tx, cmd_tx,
        ));
        (
            Link {
                session,
                live_demand,
                state,
            },
            cmd_rx,
        )
    }

    /// The connected session, if any.
    pub fn current(&self) -> Option<Arc<Session>> {
        self.session.borrow().clone()
    }

    /// Waits for a connected session; `None` once the link is shut down.
    pub async fn connected(&self) -> Option<Arc<Session>> {
        let mut rx = self.session.clone();
        loop {
            if let Some(s) = rx.borrow_and_update().clone().filter(|s| !s.is_closed()) {
                return Some(s);
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// True while the server wants live frames.
    pub fn live_demand(&self) -> watch::Receiver<bool> {
        self.live_demand.clone()
    }

    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }
}

struct ClientHandler {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    trust_new_host: bool,
    fingerprint: Option<String>,
    problem: Arc<Mutex<Option<String>>>,
}

impl ClientHandler {
    fn check(&self, key: &PublicKey) -> Result<(), String> {
        let fp = keys::fingerprint(key);
        if let Some(want) = &self.fingerprint {
            if *want != fp {
                return Err(format!(
                    "the server's host key {fp} is not the configured {want}: refusing to connect"
                ));
            }
        }
        match russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
            Ok(true) => Ok(()),
            Ok(false) if self.trust_new_host || self.fingerprint.is_some() => {
                russh::keys::known_hosts::learn_known_hosts_path(&self.host, self.port, key, &self.known_hosts)
                    .map_err(|e| format!("recording the server's key in {}: {e}", self.known_hosts.display()))?;
                tracing::info!(host = %self.host, port = self.port, fingerprint = %fp, file = %self.known_hosts.display(), "trusted the server's host key on first contact");
                Ok(())
            }
            Ok(false) => Err(format!(
                "the server's host key {fp} is not known: check it and start the node once with --trust (or set link.server_fingerprint)"
            )),
            Err(russh::keys::Error::KeyChanged { line }) => Err(format!(
                "THE SERVER'S HOST KEY HAS CHANGED (now {fp}; known_hosts {} line {line} says otherwise). \
                 Someone may be impersonating the server; not connecting. If the server was reinstalled, remove that line.",
                self.known_hosts.display()
            )),
            Err(e) => Err(format!("reading {}: {e}", self.known_hosts.display())),
        }
    }
}

impl russh::client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.problem.lock().unwrap_or_else(|p| p.into_inner()) =
                Some("the server presented a host certificate; vigia pins plain host keys".into());
            return Ok(false);
        };
        match self.check(key) {
            Ok(()) => Ok(true),
            Err(problem) => {
                *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(problem);
                Ok(false)
            }
        }
    }
}

fn ssh_config() -> russh::client::Config {
    russh::client::Config {
        client_id: russh::SshId::Standard(
            format!("SSH-2.0-vigia_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        inactivity_timeout: None,
        nodelay: true,
        window_size: 16 * 1024 * 1024,
        ..Default::default()
    }
}

/// One connection attempt: TCP, SSH handshake with host key check, key
/// authentication, then the channels.
async fn connect(
    cfg: &ClientConfig,
    key: &Arc<PrivateKey>,
    status: &watch::Receiver<Heartbeat>,
) -> Result<(Arc<Session>, Option<session::ControlReader>), LinkError> {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let problem = Arc::new(Mutex::new(None));
    let handler = ClientHandler {
        host: cfg.host.clone(),
        port: cfg.port,
        known_hosts: cfg.known_hosts.clone(),
        trust_new_host: cfg.trust_new_host,
        fingerprint: cfg.host_fingerprint.clone(),
        problem: problem.clone(),
    };
    let socket = tokio::time::timeout(cfg.connect_timeout, tokio::net::TcpStream::connect(&addr))
        .await
        .map_err(|_| LinkError::Timeout("the TCP connection"))?
        .map_err(|source| LinkError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = socket.set_nodelay(true);
    let handshake = russh::client::connect_stream(Arc::new(ssh_config()), socket, handler);
    let mut handle = match tokio::time::timeout(cfg.connect_timeout, handshake).await {
        Err(_) => return Err(LinkError::Timeout("the SSH handshake")),
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            if let Some(p) = problem.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(LinkError::HostKey(p));
            }
            return Err(e.into());
        }
    };
    let hash = if key.algorithm().is_rsa() {
        // OpenSSH refuses SHA-1 RSA signatures; ask what the server takes.
        handle
            .best_supported_rsa_hash()
            .await?
            .flatten()
            .or(Some(HashAlg::Sha256))
    } else {
        None
    };
    let auth = handle
        .authenticate_publickey(&cfg.user, PrivateKeyWithHashAlg::new(key.clone(), hash))
        .await?;
    if !auth.success() {
        return Err(LinkError::AuthRefused {
            user: cfg.user.clone(),
        });
    }
    session::open(cfg, handle, status).await
}

async fn supervise(
    cfg: ClientConfig,
    status: watch::Receiver<Heartbeat>,
    shutdown: Shutdown,
    session_tx: watch::Sender<Option<Arc<Session>>>,
    live_tx: watch::Sender<bool>,
    state_tx: watch::Sender<LinkState>,
    cmd_tx: mpsc::Sender<IncomingCommand>,
) {
    let seed = std::process::id() as u64 ^ cfg.camera.as_str().len() as u64;
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60), seed);
    let mut last_error = String::new();
    loop {
        if shutdown.is_triggered() {
            return;
        }
        state_tx.send_replace(LinkState::Connecting);
        let key = match keys::read_private(&cfg.key) {
            Ok(k) => Arc::new(k),
            Err(e) => {
                let reason = e.to_string();
                if reason != last_error {
                    tracing::error!(error = %reason, "cannot read the node's SSH key");
                    last_error = reason.clone();
                }
                state_tx.send_replace(LinkState::Down { reason });
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(Duration::from_secs(30)) => continue,
                }
            }
        };
        let started = tokio::time::Instant::now();
        let wait = match connect(&cfg, &key, &status).await {
            Ok((session, control)) => {
                tracing::info!(server = %cfg.host, port = cfg.port, "link up");
                last_error.clear();
                state_tx.send_replace(LinkState::Connected);
                session_tx.send_replace(Some(session.clone()));
                let ended = match control {
                    Some(reader) => {
                        tokio::select! {
                            r = session::run_control(reader, session.clone(), &live_tx, &cmd_tx) => r,
                            _ = shutdown.wait() => Ok(()),
                        }
                    }
                    None => tokio::select! {
                        _ = session.wait_closed() => Err(LinkError::Closed),
                        _ = shutdown.wait() => Ok(()),
                    },
                };
                session_tx.send_replace(None);
                live_tx.send_replace(false);
                session.close().await;
                if shutdown.is_triggered() {
                    return;
                }
                let reason = ended
                    .err()
                    .map_or_else(|| "closed".to_string(), |e| e.to_string());
                tracing::warn!(error = %reason, "link down; reconnecting");
                state_tx.send_replace(LinkState::Down { reason });
                if started.elapsed() > Duration::from_secs(30) {
                    backoff.reset();
                }
                backoff.next_delay()
            }
            Err(LinkError::HostKey(reason)) => {
                tracing::error!("{reason}");
                state_tx.send_replace(LinkState::HostKeyRejected { reason });
                // Re-check now and then: the operator may fix known_hosts
                // or the configuration without restarting the node.
                Duration::from_secs(60)
            }
            Err(e) => {
                let reason = e.to_string();
                if reason != last_error {
                    tracing::warn!(error = %reason, "cannot reach the server; will retry");
                    last_error = reason.clone();
                }
                state_tx.send_replace(LinkState::Down { reason });
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Builds the node's `hello`.
fn hello(cfg: &ClientConfig) -> Hello {
    Hello {
        protocol: wire::PROTOCOL_VERSION,
        camera: cfg.camera.clone(),
        software: env!("CARGO_PKG_VERSION").into(),
        capabilities: cfg.capabilities.clone(),
    }
}

/// Reads one control message (used by the session module).
async fn read_message<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    reader: &mut FrameReader,
    buf: &mut [u8],
) -> Result<ControlMessage, LinkError> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(body) = reader
            .next_body()
            .map_err(|e| LinkError::Protocol(e.to_string()))?
        {
            return wire::decode_control(&body).map_err(|e| LinkError::Protocol(e.to_string()));
        }
        let n = rd.read(buf).await.map_err(|_| LinkError::Closed)?;
        if n == 0 {
            return Err(LinkError::Closed);
        }
        reader.push(&buf[..n]);
    }
}
