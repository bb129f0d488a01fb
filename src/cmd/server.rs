//! `vigia server --config FILE`: the storage and web daemon.
//!
//! Start-up: open the store (migrations, reconciliation), bind the web
//! listener, then run the web platform, the incoming-area poller and the
//! retention loop until a signal. Shutdown order: stop accepting web
//! requests and finish in-flight ones, stop the poller between captures,
//! then exit (the store is consistent after every call).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vigia_base::{Clock, RealClock, Shutdown};
use vigia_config::ServerConfig;
use vigia_store::{CameraRetention, RetentionPolicy, Store, StoreConfig};
use vigia_web::{AppState, LiveHub, LoginRateConfig, RateLimit, WebConfig};

use super::incoming::{complete_orphans, ingest_pass};
use super::link_hooks::StoreHooks;
use vigia_link::server::{LinkServer, LinkServerConfig};

#[derive(clap::Args)]
pub struct ServerArgs {
    /// The server configuration file (see config/server.example.toml).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(a: ServerArgs) -> anyhow::Result<()> {
    let cfg = vigia_config::load_server(&a.config)
        .with_context(|| format!("loading {}", a.config.display()))?;
    let rt = super::runtime()?;
    rt.block_on(async move {
        let shutdown = Shutdown::new();
        super::spawn_signal_handler(shutdown.clone());
        let server = Server::start(cfg, shutdown.clone()).await?;
        if server.store.list_users().map(|u| u.is_empty()).unwrap_or(false) {
            println!(
                "  no users yet: create one with `vigia user add NAME --admin --password-stdin --config {}`",
                a.config.display()
            );
        }
        server.wait().await
    })
}

/// A running server, for `vigia server` and `vigia demo`.
pub struct Server {
    pub store: Store,
    pub url: String,
    pub ssh_addr: std::net::SocketAddr,
    pub host_key_fingerprint: String,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn open_store(cfg: &ServerConfig) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let (store, report) = Store::open(StoreConfig {
        db_path: cfg.db_path(),
        media_dir: cfg.media_dir(),
        min_free_bytes: cfg.min_free_bytes,
    })
    .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?;
    tracing::info!(?report, "store open");
    Ok(store)
}

fn retention_policy(cfg: &ServerConfig) -> RetentionPolicy {
    let lim = |l: vigia_config::CameraLimits| CameraRetention {
        max_age_ms: l.max_age_ms,
        max_bytes: l.max_bytes,
    };
    RetentionPolicy {
        default: lim(cfg.retention_default),
        per_camera: cfg
            .retention_cameras
            .iter()
            .map(|(k, v)| (k.clone(), lim(*v)))
            .collect(),
        min_free_bytes: cfg.min_free_bytes,
    }
}

impl Server {
    pub async fn start(cfg: ServerConfig, shutdown: Shutdown) -> anyhow::Result<Server> {
        let store = open_store(&cfg)?;
        let clock: Arc<dyn Clock> = Arc::new(RealClock);
        let live = LiveHub::new(clock.clone(), cfg.offline_after_ms);
        let per = |n: u32| RateLimit {
            max_failures: n,
            window_ms: cfg.login_window_ms,
            lockout_ms: cfg.login_window_ms,
        };
        let web = WebConfig {
            session_ttl_ms: cfg.session_ttl_ms,
            secure_cookies: cfg.tls.is_some(),
            login_rate: LoginRateConfig {
                per_ip: per(cfg.login_max_failures.saturating_mul(4)),
                per_user: per(cfg.login_max_failures),
            },
            system_name: cfg.name.clone(),
        };
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding the web listener on {}", cfg.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let scheme = if cfg.tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}/");
        let mut tasks = Vec::new();

        // The SSH listener for nodes. Bound before the web platform says it
        // is up, so a node started right after finds it.
        let ingest_lock = Arc::new(std::sync::Mutex::new(()));
        let ssh_listener = tokio::net::TcpListener::bind(cfg.ssh.listen)
            .await
            .with_context(|| format!("binding the SSH listener on {}", cfg.ssh.listen))?;
        // Offline / back-online alerts from the nodes' heartbeats; every
        // authorized camera is expected, so one that never comes back after
        // a server restart is reported too.
        let alerts = vigia_notify::Notifications::start_server(&cfg.alerts, shutdown.clone())
            .context("starting the alert notifications")?;
        let (monitor, _) = vigia_notify::LinkMonitor::start(
            cfg.alerts.offline_after_ms,
            clock.clone(),
            alerts,
            shutdown.clone(),
        );
        match vigia_link::keys::read_authorized_keys(&cfg.ssh.authorized_keys) {
            Ok(keys) => {
                for k in keys {
                    live.register(&k.camera);
                    monitor.expect(k.camera);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read authorized_keys"),
        }
        let hooks = Arc::new(StoreHooks {
            store: store.clone(),
            live: live.clone(),
            clock: clock.clone(),
            ingest_lock: ingest_lock.clone(),
            monitor,
        });
        let link = LinkServer::start(
            ssh_listener,
            LinkServerConfig {
                host_key: cfg.ssh.host_key.clone(),
                authorized_keys: cfg.ssh.authorized_keys.clone(),
                incoming: cfg.incoming_dir(),
                heartbeat_ms: cfg.ssh.heartbeat_ms,
                sftp: Default::default(),
            },
            hooks,
            shutdown.clone(),
        )
        .context("starting the SSH server")?;
        let (nodes, ssh_addr, host_key_fingerprint) = (
            link.nodes.clone(),
            link.local_addr,
            link.host_key_fingerprint.clone(),
        );
        tasks.push(tokio::spawn(async move {
            link.wait().await;
            Ok(())
        }));
        let state = AppState::new(store.clone(), live.clone(), web, clock.clone())
            .with_nodes(nodes.clone());
        let app = vigia_web::app(state);

        // Open MJPEG streams never end by themselves: close them when
        // shutting down, or the graceful HTTP shutdown would wait forever.
        let (sd, hub) = (shutdown.clone(), live.clone());
        tokio::spawn(async move {
            sd.wait().await;
            hub.close();
        });
        let sd = shutdown.clone();
        let tls = cfg.tls.clone();
        tasks.push(tokio::spawn(async move {
            match tls {
                Some((cert, key)) => {
                    vigia_web::serve_tls(listener, app, &cert, &key, async move { sd.wait().await })
                        .await
                        .context("serving HTTPS")
                }
                None => vigia_web::serve(listener, app, async move { sd.wait().await })
                    .await
                    .context("serving HTTP"),
            }
        }));

        let (st, sd, incoming, poll) = (
            store.clone(),
            shutdown.clone(),
            cfg.incoming_dir(),
            cfg.ingest_poll_ms,
        );
        let (poll_nodes, orphan_after_ms) = (nodes, cfg.ssh.orphan_after_ms);
        let ck = clock.clone();
        tasks.push(tokio::spawn(async move {
            let mut warned_full = false;
            loop {
                let (s, dir, now, lock) = (st.clone(), incoming.clone(), ck.now_ms(), ingest_lock.clone());
                let connected = poll_nodes.clone();
                let pass = move || {
                    let _g = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let is_connected = |c: &vigia_base::CameraId| connected.get(c).is_some();
                    if let Err(e) = complete_orphans(&dir, now, orphan_after_ms, &is_connected) {
                        tracing::error!(error = %e, "completing cut-off captures");
                    }
                    ingest_pass(&s, &dir, now, super::incoming::SETTLE)
                };
                match tokio::task::spawn_blocking(pass).await {
                    Ok(Ok(r)) => {
                        for id in &r.stored {
                            tracing::info!(capture = %id, "capture ingested");
                        }
                        for (id, why) in &r.rejected {
                            tracing::error!(capture = %id, reason = %why, "capture rejected; kept in incoming/<camera>/.rejected");
                        }
                        if r.disk_full && !warned_full {
                            tracing::error!("disk full: incoming captures wait until space is freed");
                        }
                        warned_full = r.disk_full;
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "scanning the incoming area"),
                    Err(e) => tracing::error!(error = %e, "ingest task failed"),
                }
                tokio::select! {
                    _ = sd.wait() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_millis(poll)) => {}
                }
            }
        }));

        let (st, sd, policy, every) = (
            store.clone(),
            shutdown.clone(),
            retention_policy(&cfg),
            cfg.retention_interval_ms,
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let (s, p, now) = (st.clone(), policy.clone(), clock.now_ms());
                match tokio::task::spawn_blocking(move || s.enforce_retention(&p, now)).await {
                    Ok(Ok(r)) => {
                        for (id, why) in &r.deleted {
                            tracing::info!(capture = %id, reason = %why, "retention deleted capture");
                        }
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "retention pass failed"),
                    Err(e) => tracing::error!(error = %e, "retention task failed"),
                }
                tokio::select! {
                    _ = sd.wait() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_millis(every)) => {}
                }
            }
        }));

        println!("vigia server: web platform on {url}");
        println!(
            "vigia server: nodes connect over SSH to {ssh_addr}, host key {host_key_fingerprint}"
        );
        Ok(Server {
            store,
            url,
            ssh_addr,
            host_key_fingerprint,
            tasks,
        })
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        for t in self.tasks {
            t.await.context("server task panicked")??;
        }
        Ok(())
    }
}
