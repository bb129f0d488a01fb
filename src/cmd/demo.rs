//! `vigia demo`: a server and a node on the built-in synthetic camera, on
//! one machine, with embedded defaults, so a newcomer sees vigia work in
//! one command.
//!
//! It writes `DIR/server.toml` and `DIR/node.toml` (so the same setup can be
//! run again with `vigia server`/`vigia node` and administered with
//! `vigia user …`), creates an `admin` account with a one-time random
//! password if there is no user yet, and prints the URL. Until the SSH link
//! lands, node and server talk in-process: captures go from the node's
//! outbox to the server's store through the same uploader (with
//! acknowledgement) the link will use, and live frames go straight to the
//! server's live hub.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use vigia_base::{Clock, RealClock, Shutdown};
use vigia_node::outbox::PendingCapture;
use vigia_node::uploader::{CaptureSink, SinkError};
use vigia_store::{IngestOutcome, Role, Store, StoreError};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its configs, database and captures.
    #[arg(long, default_value = "vigia-demo")]
    data: PathBuf,
    /// Address of the web platform.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

/// Delivers captures straight into the server's store (the demo's stand-in
/// for the SSH link).
struct StoreSink {
    store: Store,
}

impl CaptureSink for StoreSink {
    fn deliver(&self, c: &PendingCapture) -> Result<Vec<(String, String)>, SinkError> {
        let m = &c.manifest;
        match self.store.ingest_dir(&m.camera, &c.dir, RealClock.now_ms()) {
            Ok(IngestOutcome::Stored { .. } | IngestOutcome::AlreadyStored { .. }) => Ok(m
                .files
                .iter()
                .map(|f| (f.name.clone(), f.sha256.clone()))
                .collect()),
            Err(e) => Err(SinkError {
                capture: m.capture_id.to_string(),
                retryable: matches!(e, StoreError::DiskFull { .. }),
                reason: e.to_string(),
            }),
        }
    }
}

fn random_password() -> anyhow::Result<String> {
    let mut b = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("reading /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.data).with_context(|| format!("creating {}", a.data.display()))?;
    let data = std::fs::canonicalize(&a.data)
        .with_context(|| format!("resolving {}", a.data.display()))?;
    let server_toml = data.join("server.toml");
    let server_text = demo_server_toml(&data, &a.http);
    std::fs::write(&server_toml, &server_text)
        .with_context(|| format!("writing {}", server_toml.display()))?;
    let server_cfg = vigia_config::parse_server(&server_text, &server_toml, &data)
        .context("the demo server config is invalid")?;
    let node_toml = data.join("node.toml");
    let node_text = demo_node_toml(&data);
    std::fs::write(&node_toml, &node_text)
        .with_context(|| format!("writing {}", node_toml.display()))?;
    let node_cfg = vigia_config::parse_node(&node_text, &node_toml, &data)
        .context("the demo node config is invalid")?;

    let rt = super::runtime()?;
    rt.block_on(async move {
        let shutdown = Shutdown::new();
        super::spawn_signal_handler(shutdown.clone());
        if let Some(s) = a.seconds {
            let sd = shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(s)).await;
                sd.trigger();
            });
        }
        let server = super::server::Server::start(server_cfg, shutdown.clone()).await?;
        if server.store.list_users().context("listing users")?.is_empty() {
            let pw = random_password()?;
            server.store.add_user("admin", &pw, Role::Admin).context("creating the demo admin")?;
            println!("  sign in as: admin / {pw}   (shown once; change it with `vigia user passwd admin --config {}`)", server_toml.display());
        } else {
            println!(
                "  sign in with the account created on the first run (forgot it? `vigia user passwd admin --config {}` reads a new one from standard input)",
                server_toml.display()
            );
        }
        println!("vigia demo: synthetic camera \"{}\" (people cross at 6 s and 24 s of every minute)", node_cfg.camera);
        println!("  open:     {}", server.url);
        println!("  configs:  {} and {}", server_toml.display(), node_toml.display());
        println!("  stop with Ctrl-C");

        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (wake_tx, wake_rx) = tokio::sync::mpsc::channel(4);
        let node = tokio::spawn(super::node::run_with_events(node_cfg, shutdown.clone(), Some(ready_tx), Some(wake_tx)));
        if let Ok(handles) = ready_rx.await {
            let sink = Arc::new(StoreSink { store: server.store.clone() });
            tokio::spawn(vigia_node::uploader::run_uploader(handles.outbox.clone(), sink, wake_rx, shutdown.clone()));
            let hub = server.live.clone();
            let mut live = handles.live;
            let sd = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = sd.wait() => break,
                        r = live.changed() => {
                            if r.is_err() { break; }
                            let frame = live.borrow_and_update().clone();
                            if let Some(f) = frame { hub.publish(f); }
                        }
                    }
                }
            });
        }
        let node_result = node.await.context("node task panicked")?;
        shutdown.trigger();
        server.wait().await?;
        node_result
    })
}

fn demo_server_toml(data: &Path, http: &str) -> String {
    format!(
        "# Written by `vigia demo`; run it again with: vigia server --config {d}/server.toml\n\
         [server]\ndata_dir = \"{d}/server\"\nname = \"vigia demo\"\n\n[http]\nlisten = \"{http}\"\n\n\
         [retention]\nmax_age_days = 7.0\nmin_free_bytes = 268435456\n",
        d = data.display()
    )
}

fn demo_node_toml(data: &Path) -> String {
    format!(
        "# Written by `vigia demo`; run it again with: vigia node --config {d}/node.toml\n\
         [node]\ncamera = \"demo\"\ndata_dir = \"{d}/node\"\n\n\
         [source]\nkind = \"synthetic\"\nwidth = 768\nheight = 576\nfps = 10.0\nseed = 1\n\n\
         [event]\npre_roll_s = 3.0\npost_roll_s = 4.0\n",
        d = data.display()
    )
}
