//! Wires a running node to its server: the SSH link, the uploader that
//! drains the outbox through it, live frames on demand, the server's
//! commands and the heartbeat status.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vigia_base::{Clock, RealClock, Shutdown};
use vigia_config::{LinkModeConfig, NodeConfig};
use vigia_link::client::{ClientConfig, Link, LinkMode};
use vigia_link::wire::Heartbeat;
use vigia_node::link::{run_commands, run_live_sender, run_status, CommandExecutor, LinkTransport};
use vigia_node::runtime::NodeHandles;
use vigia_node::uploader::{run_uploader, UploadStats};

pub fn client_config(cfg: &NodeConfig, trust: bool) -> Option<ClientConfig> {
    let l = cfg.link.as_ref()?;
    Some(ClientConfig {
        host: l.server.clone(),
        port: l.port,
        user: l.user.clone(),
        camera: cfg.camera.clone(),
        key: l.key.clone(),
        known_hosts: l.known_hosts.clone(),
        trust_new_host: trust,
        host_fingerprint: l.server_fingerprint.clone(),
        mode: match &l.mode {
            LinkModeConfig::Vigia => LinkMode::Vigia,
            LinkModeConfig::PlainSftp { remote_dir } => LinkMode::PlainSftp {
                remote_dir: remote_dir.clone(),
            },
        },
        capabilities: vec!["live".into(), "commands".into(), "snapshot".into()],
        connect_timeout: Duration::from_millis(l.connect_timeout_ms),
    })
}

/// Starts every link task; they stop with `shutdown`.
pub fn start(
    client: ClientConfig,
    handles: &NodeHandles,
    exec: Arc<dyn CommandExecutor>,
    armed: watch::Receiver<bool>,
    shutdown: Shutdown,
) -> (Link, Arc<UploadStats>) {
    let (status_tx, status_rx) = watch::channel(Heartbeat::default());
    let (link, commands) = Link::spawn(client, status_rx, shutdown.clone());
    let stats = Arc::new(UploadStats::default());
    tokio::spawn(run_uploader(
        handles.outbox.clone(),
        Arc::new(LinkTransport { link: link.clone() }),
        stats.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(run_live_sender(
        link.clone(),
        handles.live.clone(),
        shutdown.clone(),
    ));
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    tokio::spawn(run_commands(commands, exec, shutdown.clone()));
    tokio::spawn(run_status(
        handles.outbox.clone(),
        armed,
        handles.metrics.source.clone(),
        status_tx,
        move || clock.now_ms(),
        shutdown,
    ));
    (link, stats)
}
