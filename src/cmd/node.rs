//! `vigia node --config FILE`: run a camera node.

use std::path::PathBuf;

use anyhow::Context;
use vigia_base::Shutdown;
use vigia_node::recorder::RecorderEvent;

#[derive(clap::Args)]
pub struct NodeArgs {
    /// The node configuration file (see config/node.example.toml).
    #[arg(long)]
    config: PathBuf,
    /// Trust the server's SSH host key on first contact and record it in
    /// the node's known_hosts (check its fingerprint against the one
    /// `vigia server` prints). Not needed when `link.server_fingerprint`
    /// is set; never overrides a changed key.
    #[arg(long)]
    trust: bool,
}

pub fn run(a: NodeArgs) -> anyhow::Result<()> {
    let cfg = vigia_config::load_node(&a.config)
        .with_context(|| format!("loading {}", a.config.display()))?;
    let rt = super::runtime()?;
    rt.block_on(async move {
        let shutdown = Shutdown::new();
        super::spawn_signal_handler(shutdown.clone());
        run_with_events(cfg, shutdown, None, a.trust).await
    })
}

/// Runs a node from a validated config until `shutdown` (or the end of a
/// file source), printing one line per event on stdout, with its link to
/// the server when the config has one (`trust`: accept the server's host
/// key on first contact).
pub async fn run_with_events(
    cfg: vigia_config::NodeConfig,
    shutdown: Shutdown,
    ready: Option<tokio::sync::oneshot::Sender<vigia_node::runtime::NodeHandles>>,
    trust: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data_dir {}", cfg.data_dir.display()))?;
    let source = vigia_node::sources::open_source(&cfg, vigia_node::sources::Pace::Live)
        .with_context(|| format!("opening camera {}", cfg.camera))?;
    let outbox = cfg.outbox_dir();
    // Events also feed alarms and notifications, through a bounded queue
    // so the recorder never waits on them.
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(64);
    let on_event = Box::new(move |e: RecorderEvent| {
        print_event(&e, &outbox);
        if matches!(e, RecorderEvent::FileWritten { .. }) {
            return;
        }
        if events_tx.try_send(e).is_err() {
            tracing::warn!("event queue full: an alarm/notification input was dropped");
        }
    });
    // The services need the running node's handles (outbox, latest frame).
    let (handles_tx, handles_rx) =
        tokio::sync::oneshot::channel::<vigia_node::runtime::NodeHandles>();
    let svc_cfg = cfg.clone();
    let svc_shutdown = shutdown.clone();
    let services = tokio::spawn(async move {
        let Ok(handles) = handles_rx.await else {
            return Ok(());
        };
        let clock: std::sync::Arc<dyn vigia_base::Clock> =
            std::sync::Arc::new(vigia_base::RealClock);
        let svc = match super::node_control::start(
            &svc_cfg,
            handles.outbox.clone(),
            handles.live.clone(),
            handles.aim.clone(),
            clock,
            events_rx,
            svc_shutdown.clone(),
        ) {
            Ok(s) => s,
            Err(e) => {
                // Misconfigured hardware or notifiers: stop and say why
                // rather than run a node that cannot alarm.
                tracing::error!(error = %format!("{e:#}"), "cannot start the node's services; stopping");
                svc_shutdown.trigger();
                return Err(e);
            }
        };
        let link = match super::node_link::client_config(&svc_cfg, trust) {
            Some(client) => {
                println!(
                    "link: uploading to {}:{} over SSH",
                    client.host, client.port
                );
                let armed = armed_watch(&svc.control.arming, svc_shutdown.clone());
                Some(
                    super::node_link::start(
                        client,
                        &handles,
                        svc.control.clone(),
                        armed,
                        svc_shutdown,
                    )
                    .0,
                )
            }
            None => {
                tracing::warn!(
                    "no [link] section: captures stay in the outbox at {}",
                    handles.outbox.dir().display()
                );
                None
            }
        };
        if let Some(r) = ready {
            let _ = r.send(handles);
        }
        // Keep the link's handle (and so its channels) alive while the
        // node runs.
        if let Some(link) = link {
            let mut state = link.state();
            while state.changed().await.is_ok() {}
        }
        anyhow::Ok(())
    });
    let stop = shutdown.clone();
    let result = vigia_node::runtime::run_node(cfg, source, shutdown, on_event, Some(handles_tx))
        .await
        .context("node stopped");
    stop.trigger();
    if services.is_finished() {
        // A service that could not start (hardware, notifications) is an
        // error the operator must see.
        services.await.context("node services panicked")??;
    } else {
        services.abort();
    }
    result.map(|_| ())
}

/// The armed flag as a plain watch (the heartbeat's content).
fn armed_watch(
    arming: &vigia_node::arming::Arming,
    shutdown: Shutdown,
) -> tokio::sync::watch::Receiver<bool> {
    let mut status = arming.subscribe();
    let (tx, rx) = tokio::sync::watch::channel(status.borrow().armed);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                r = status.changed() => {
                    if r.is_err() { return }
                    tx.send_replace(status.borrow().armed);
                }
            }
        }
    });
    rx
}

/// Prints one line per event. A closed stdout (the terminal went away, a
/// pipe reader exited) must never stop recording, so write errors are
/// ignored rather than panicking like `println!`.
fn print_event(e: &RecorderEvent, outbox: &std::path::Path) {
    use std::io::Write;
    if let Some(line) = event_line(e, outbox) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// The human line for an event, if it deserves one.
fn event_line(e: &RecorderEvent, outbox: &std::path::Path) -> Option<String> {
    match e {
        RecorderEvent::Started {
            capture_id,
            trigger_ms,
        } => Some(format!(
            "event started   {capture_id}  at {}",
            vigia_base::clock::format_utc_ms(*trigger_ms)
        )),
        RecorderEvent::Committed(m) => {
            let fragments = m.files.iter().filter(|f| f.kind == "clip_fragment").count();
            Some(format!(
                "capture saved   {}  {:.1} s, {} frames, {} clip fragments, {:.2} MB, score {:.3}  -> {}",
                m.capture_id,
                (m.end_ms - m.start_ms) as f64 / 1000.0,
                m.frames,
                fragments,
                m.total_bytes() as f64 / 1e6,
                m.scores.motion_max,
                outbox.join(m.capture_id.as_str()).display()
            ))
        }
        RecorderEvent::Failed { capture_id, error } => Some(format!(
            "capture FAILED  {capture_id}  {error} (kept for recovery)"
        )),
        RecorderEvent::FileWritten { .. } => None,
        RecorderEvent::Verdict {
            capture_id,
            verdict,
            final_verdict,
            ..
        } => Some(format!(
            "event {}  {capture_id}  {}{} (person score {:.2}, {} detections)",
            if *final_verdict { "label  " } else { "label? " },
            verdict.label,
            if verdict.alarm { ", ALARM" } else { "" },
            verdict.person_max,
            verdict.detections
        )),
    }
}
