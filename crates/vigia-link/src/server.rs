//! The server end of the link: an SSH server that accepts only authorized
//! node keys and serves three channels per node — the confined `sftp`
//! subsystem, `control` and `live`.
//!
//! What the server does with what arrives (store a committed capture,
//! publish a live frame, count viewers) belongs to the binary, reached
//! through [`ServerHooks`]. Who is connected and how to send them a
//! command is [`Nodes`], which the web platform holds.
//!
//! Refusals: password and keyboard-interactive authentication, shells,
//! exec (so legacy `scp -O`), port forwarding, unknown subsystems, a key
//! not in `authorized_keys`, a user name that is not the key's camera, a
//! `hello` naming another camera, a malformed or oversized message (the
//! connection is closed and the error logged once).

mod control;
mod nodes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::sync::watch;
use vigia_base::manifest::Manifest;
use vigia_base::{CameraId, Shutdown};

use crate::keys::{self, AuthorizedKey};
use crate::sftp::{ConfinedSftp, SftpLimits};
use crate::wire::{self, AckedFile, Heartbeat, LiveFrame};

pub use nodes::{CommandError, NodeStatus, Nodes};

/// Why a committed capture was not stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct CommitError {
    pub reason: String,
    /// False when retrying the same bytes cannot help.
    pub retryable: bool,
    /// Files whose size or sha256 did not match the manifest: the node
    /// uploads them again from the start.
    pub bad_files: Vec<String>,
}

/// What the binary does with what nodes send. Called from the link's
/// tasks; `commit` may block (it is run on the blocking pool).
pub trait ServerHooks: Send + Sync + 'static {
    /// Every file of `manifest` has been uploaded into `area/<capture id>/`.
    /// Verify, store durably, and return the files now held.
    fn commit(
        &self,
        camera: &CameraId,
        area: &std::path::Path,
        manifest: &Manifest,
    ) -> Result<Vec<AckedFile>, CommitError>;
    fn live_frame(&self, camera: &CameraId, frame: LiveFrame);
    /// How many people watch this camera's live view now.
    fn viewers(&self, camera: &CameraId) -> watch::Receiver<usize>;
    /// A node said hello or sent a heartbeat.
    fn node_seen(&self, camera: &CameraId, heartbeat: Option<&Heartbeat>);
    fn node_gone(&self, camera: &CameraId);
}

#[derive(Debug, Clone)]
pub struct LinkServerConfig {
    pub host_key: PathBuf,
    pub authorized_keys: PathBuf,
    /// `<incoming>/<camera>/` is each node's SFTP area.
    pub incoming: PathBuf,
    /// How often nodes must send a heartbeat (told in `welcome`).
    pub heartbeat_ms: u64,
    pub sftp: SftpLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error("SSH listener: {0}")]
    Io(#[from] std::io::Error),
}

struct Shared {
    cfg: LinkServerConfig,
    hooks: Arc<dyn ServerHooks>,
    nodes: Nodes,
    shutdown: Shutdown,
}

/// A running SSH listener.
pub struct LinkServer {
    pub local_addr: SocketAddr,
    pub nodes: Nodes,
    pub host_key_fingerprint: String,
    task: tokio::task::JoinHandle<()>,
}

impl LinkServer {
    /// Loads (or creates) the host key and serves `listener` until
    /// `shutdown`.
    pub fn start(
        listener: TcpListener,
        cfg: LinkServerConfig,
        hooks: Arc<dyn ServerHooks>,
        shutdown: Shutdown,
    ) -> Result<LinkServer, ServerError> {
        let host_key = keys::load_or_create_host_key(&cfg.host_key)?;
        let host_key_fingerprint = keys::fingerprint(host_key.public_key());
        let local_addr = listener.local_addr()?;
        let ssh = Arc::new(ssh_config(host_key));
        let nodes = Nodes::default();
        let shared = Arc::new(Shared {
            cfg,
            hooks,
            nodes: nodes.clone(),
            shutdown: shutdown.clone(),
        });
        let task = tokio::spawn(accept_loop(listener, ssh, shared));
        Ok(LinkServer {
            local_addr,
            nodes,
            host_key_fingerprint,
            task,
        })
    }

    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

fn ssh_config(host_key: PrivateKey) -> russh::server::Config {
    russh::server::Config {
        server_id: russh::SshId::Standard(
            format!("SSH-2.0-vigia_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::from_millis(0)),
        keys: vec![host_key],
        max_auth_attempts: 6,
        // Heartbeats come every few seconds; a connection silent this long
        // is dead even if TCP has not noticed.
        inactivity_timeout: Some(Duration::from_secs(120)),
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        nodelay: true,
        // Larger windows than the default keep a 100 MB upload from
        // stalling on flow control across the loopback or a LAN.
        window_size: 16 * 1024 * 1024,
        ..Default::default()
    }
}

async fn accept_loop(listener: TcpListener, ssh: Arc<russh::server::Config>, shared: Arc<Shared>) {
    loop {
        let (socket, peer) = tokio::select! {
            _ = shared.shutdown.wait() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "SSH accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (ssh, shared) = (ssh.clone(), shared.clone());
        tokio::spawn(async move {
            let handler = SessionHandler {
                shared: shared.clone(),
                peer,
                camera: None,
                channels: Default::default(),
                sftp_channels: Default::default(),
            };
            let session = match russh::server::run_stream(ssh, socket, handler).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "SSH handshake failed");
                    return;
                }
            };
            let handle = session.handle();
            tokio::select! {
                r = session => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "SSH session ended with an error");
                    }
                }
                _ = shared.shutdown.wait() => {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "server shutting down".into(), String::new())
                        .await;
                }
            }
        });
    }
}

#[derive(Debug, thiserror::Error)]
enum HandlerError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
}

struct SessionHandler {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// Set once a key bound to this camera has authenticated.
    camera: Option<CameraId>,
    channels: std::collections::HashMap<ChannelId, Channel<Msg>>,
    /// Channels running the SFTP subsystem, which get an exit status.
    sftp_channels: std::collections::HashSet<ChannelId>,
}

impl SessionHandler {
    fn authorized(&self, user: &str, key: &russh::keys::PublicKey) -> Option<CameraId> {
        let keys: Vec<AuthorizedKey> =
            match keys::read_authorized_keys(&self.shared.cfg.authorized_keys) {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read authorized_keys; refusing every node");
                    return None;
                }
            };
        let camera = keys::camera_for(&keys, key)?;
        // The user name must be the key's camera, so a log line or an
        // `sftp cam@server` command line always says which area is used.
        (camera.as_str() == user).then_some(camera)
    }
}

fn reject_publickey_only() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])),
        partial_success: false,
    }
}

impl russh::server::Handler for SessionHandler {
    type Error = HandlerError;

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        tracing::warn!(peer = %self.peer, user = ?user, "password authentication refused (keys only)");
        Ok(reject_publickey_only())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        tracing::warn!(peer = %self.peer, user = ?user, "keyboard-interactive authentication refused (keys only)");
        Ok(reject_publickey_only())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.authorized(user, offer.public_key).is_some() {
            Ok(Auth::Accept)
        } else {
            tracing::warn!(peer = %self.peer, user = ?user, key = %keys::fingerprint(offer.public_key), "unknown key or key not bound to this user; refused");
            Ok(reject_publickey_only())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.authorized(user, key.public_key) {
            Some(camera) => {
                tracing::info!(peer = %self.peer, camera = %camera, key = %keys::fingerprint(key.public_key), "node authenticated");
                self.camera = Some(camera);
                Ok(Auth::Accept)
            }
            None => {
                tracing::warn!(peer = %self.peer, user = ?user, key = %keys::fingerprint(key.public_key), "unknown key or key not bound to this user; refused");
                Ok(reject_publickey_only())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.camera.is_some() && self.channels.len() < 8 {
            self.channels.insert(channel.id(), channel);
            reply.accept().await;
        }
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(camera), Some(channel)) = (self.camera.clone(), self.channels.remove(&id)) else {
            session.channel_failure(id)?;
            return Ok(());
        };
        let shared = self.shared.clone();
        match name {
            "sftp" => {
                let area = shared.cfg.incoming.join(camera.as_str());
                let handler = ConfinedSftp::new(area, shared.cfg.sftp.clone());
                session.channel_success(id)?;
                self.sftp_channels.insert(id);
                tokio::spawn(async move {
                    russh_sftp::server::run(channel.into_stream(), handler).await;
                });
            }
            wire::CONTROL_SUBSYSTEM => {
                session.channel_success(id)?;
                let handle = session.handle();
                tokio::spawn(control::run(shared, camera, channel, handle, self.peer));
            }
            wire::LIVE_SUBSYSTEM => {
                session.channel_success(id)?;
                let handle = session.handle();
                tokio::spawn(control::run_live(shared, camera, channel, handle));
            }
            other => {
                tracing::warn!(peer = %self.peer, camera = %camera, subsystem = ?other, "unknown subsystem refused");
                session.channel_failure(id)?;
            }
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        id: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::warn!(peer = %self.peer, command = ?String::from_utf8_lossy(&data[..data.len().min(64)]), "exec refused (use SFTP)");
        self.channels.remove(&id);
        session.channel_failure(id)?;
        Ok(())
    }

    /// OpenSSH's `scp` and `ssh -s sftp` wait for the subsystem's exit
    /// status, as sshd sends when its sftp-server exits; without one, scp
    /// reports failure after a complete upload. A client sends EOF once it
    /// has its replies, so the session is over.
    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.sftp_channels.remove(&channel) {
            session.exit_status_request(channel, 0)?;
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        id: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&id);
        session.channel_failure(id)?;
        Ok(())
    }
}
