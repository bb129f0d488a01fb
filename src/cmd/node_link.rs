//! Wires a running node to its server: the SSH link, the uploader that
//! drains the outbox through it, live frames on demand, the server's
//! commands and the heartbeat status.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vigia_base::{Clock, Command, CommandSource, RealClock, Shutdown};
use vigia_config::{LinkModeConfig, NodeConfig};
use vigia_link::client::{ClientConfig, Link, LinkMode};
use vigia_link::wire::Heartbeat;
use vigia_node::link::{run_commands, run_live_sender, run_status, CommandExecutor, LinkTransport};
use vigia_node::runtime::NodeHandles;
use vigia_node::uploader::{run_uploader, BoxFuture, UploadStats};

/// What the node does when told to.
pub struct NodeCommands {
    pub camera: vigia_base::CameraId,
    pub handles_outbox: vigia_node::outbox::Outbox,
    pub live: watch::Receiver<Option<vigia_media::Frame>>,
    pub clock: Arc<dyn Clock>,
}

impl CommandExecutor for NodeCommands {
    fn execute(
        &self,
        command: Command,
        source: CommandSource,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            tracing::info!(%command, %source, "executing command");
            match command {
                Command::Snapshot => {
                    let (ob, cam, live, now) = (
                        self.handles_outbox.clone(),
                        self.camera.clone(),
                        self.live.clone(),
                        self.clock.now_ms(),
                    );
                    tokio::task::spawn_blocking(move || {
                        vigia_node::snapshot::snapshot_now(&ob, &cam, &live, now)
                    })
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|id| format!("snapshot {id} saved"))
                    .map_err(|e| e.to_string())
                }
                Command::Status => {
                    let b = self.handles_outbox.backlog();
                    Ok(format!(
                        "{} captures ({} bytes) waiting to upload",
                        b.captures, b.bytes
                    ))
                }
                other => Err(format!("{other} is not supported by this node")),
            }
        })
    }
}

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
    cfg: &NodeConfig,
    client: ClientConfig,
    handles: &NodeHandles,
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
    let exec = Arc::new(NodeCommands {
        camera: cfg.camera.clone(),
        handles_outbox: handles.outbox.clone(),
        live: handles.live.clone(),
        clock: clock.clone(),
    });
    tokio::spawn(run_commands(commands, exec, shutdown.clone()));
    let (_armed_tx, armed_rx) = watch::channel(false);
    tokio::spawn(run_status(
        handles.outbox.clone(),
        armed_rx,
        handles.metrics.source.clone(),
        status_tx,
        move || clock.now_ms(),
        shutdown,
    ));
    (link, stats)
}
