//! The live node: the detection core and the recorder wired to a camera
//! with tasks and bounded queues.
//!
//! ```text
//! capture task ──bounded──▶ analysis thread ──bounded──▶ recorder thread ──▶ outbox
//!      └──▶ live watch (latest frame wins; a slow viewer never stalls recording)
//! ```
//! Full queues drop frames and count them (`vigia_frames_dropped_*`);
//! nothing upstream ever waits on the encoder or the disk, except event
//! start/end messages, which are tiny and must not be lost.
//!
//! Shutdown drains in order: the capture task stops reading, the analysis
//! thread ends the running event, the recorder finishes the clip and writes
//! the manifest, the metrics file is written one last time.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use vigia_base::Shutdown;
use vigia_capture::{CaptureError, FrameSource};
use vigia_config::NodeConfig;
use vigia_media::Frame;

use crate::metrics::{NodeMetrics, PipelineStats};
use crate::outbox::{Outbox, OutboxError};
use crate::pipeline::{Aim, Analyzer};
use crate::recorder::{Recorder, RecorderEvent, RecorderMsg};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("opening the outbox: {0}")]
    Outbox(#[from] OutboxError),
    #[error("camera: {0}")]
    Capture(#[from] CaptureError),
    #[error("motion detector: {0}")]
    Vision(#[from] vigia_vision::VisionError),
    #[error("PIR sensor: {0}")]
    Pir(#[from] vigia_hw::HwError),
    #[error("starting thread {name}: {source}")]
    Thread {
        name: &'static str,
        source: std::io::Error,
    },
}

/// Frames waiting for analysis before the capture side starts dropping.
const ANALYSIS_QUEUE: usize = 8;
const METRICS_INTERVAL: Duration = Duration::from_secs(10);

/// A running node's handles for callers (the demo, tests, later the link).
pub struct NodeHandles {
    pub metrics: NodeMetrics,
    /// The latest frame, for live view and snapshots on demand.
    pub live: watch::Receiver<Option<Frame>>,
    /// The outbox, for the uploader.
    pub outbox: Outbox,
    /// Where the motion is during an event, for a tracking servo.
    pub aim: watch::Receiver<Option<Aim>>,
}

/// Runs the node until `shutdown` or until the source ends (a file).
/// `on_event` receives the recorder's events (event started, capture
/// committed); `ready` gets the handles once everything is running.
pub async fn run_node(
    cfg: NodeConfig,
    mut source: Box<dyn FrameSource>,
    shutdown: Shutdown,
    on_event: Box<dyn FnMut(RecorderEvent) + Send>,
    ready: Option<tokio::sync::oneshot::Sender<NodeHandles>>,
) -> Result<NodeMetrics, NodeError> {
    // A file or a synthetic scene run flat out can wait for the pipeline;
    // a live camera cannot, so its frames are dropped (and counted) instead.
    let backpressure = crate::sources::can_wait(&cfg, crate::sources::Pace::Live);
    let (outbox, report) = Outbox::open(&cfg.outbox_dir(), cfg.outbox.max_bytes)?;
    if report.removed_partial > 0 || !report.completed_interrupted.is_empty() {
        tracing::warn!(
            removed_partial = report.removed_partial,
            completed_interrupted = report.completed_interrupted.len(),
            "outbox recovered after an unclean stop"
        );
    }
    for name in &report.ignored {
        tracing::warn!(entry = %name, "outbox holds an entry vigia does not own; left alone");
    }
    tracing::info!(pending = report.complete + report.completed_interrupted.len(), dir = %outbox.dir().display(), "outbox open");

    let recorder = Recorder::new(
        cfg.camera.clone(),
        outbox.clone(),
        cfg.recording,
        cfg.source.fps,
        on_event,
    );
    let pipeline = Arc::new(PipelineStats::default());
    let metrics = NodeMetrics {
        camera: cfg.camera.clone(),
        source: source.stats(),
        pipeline: pipeline.clone(),
        recorder: recorder.stats(),
        outbox: outbox.stats(),
    };
    let mut analyzer = Analyzer::new(
        cfg.camera.clone(),
        cfg.motion_scale,
        cfg.motion.clone(),
        cfg.event,
        true,
    )?;
    analyzer.set_detection(&cfg.detect, crate::detection::RunMode::Worker);

    let (rec_tx, rec_rx) = sync_channel::<RecorderMsg>(cfg.recording.queue_frames);
    let recorder_thread = std::thread::Builder::new()
        .name("vigia-recorder".into())
        .spawn(move || recorder.run(rec_rx))
        .map_err(|source| NodeError::Thread {
            name: "recorder",
            source,
        })?;

    // A PIR sensor feeds the analysis thread's trigger fusion. It is opened
    // here (not with the other devices) because its edges must reach the
    // event machine in frame order.
    let mut pir_rx = None;
    if let Some(pir) = &cfg.hardware.pir {
        let input = vigia_hw::gpio::GpioPir::open(pir.line.clone(), pir.bias)?;
        let (tx, rx) = mpsc::channel(64);
        vigia_hw::pir::spawn_pir_monitor(
            Box::new(input),
            pir.params,
            Arc::new(vigia_base::RealClock),
            shutdown.clone(),
            tx,
        )
        .map_err(|source| NodeError::Thread {
            name: "pir",
            source,
        })?;
        analyzer.set_fusion(cfg.trigger);
        pir_rx = Some(rx);
        tracing::info!(rule = %cfg.trigger.rule, "PIR sensor fused with software motion");
    }

    let (frame_tx, mut frame_rx) = mpsc::channel::<Frame>(ANALYSIS_QUEUE);
    let (aim_tx, aim_rx) = watch::channel::<Option<Aim>>(None);
    let p = pipeline.clone();
    let analysis_thread = std::thread::Builder::new()
        .name("vigia-analysis".into())
        .spawn(move || {
            let mut out = Vec::new();
            while let Some(frame) = frame_rx.blocking_recv() {
                if let Some(rx) = &mut pir_rx {
                    while let Ok(e) = rx.try_recv() {
                        analyzer.pir(e);
                    }
                }
                let t0 = Instant::now();
                let seq = frame.seq;
                match analyzer.process(frame, &mut out) {
                    Ok(outcome) => {
                        if let Some(aim) = outcome.aim() {
                            aim_tx.send_if_modified(|a| {
                                let changed = *a != Some(aim);
                                *a = Some(aim);
                                changed
                            });
                        }
                    }
                    Err(e) => tracing::debug!(seq, error = %e, "frame skipped"),
                }
                // The analyzer counts; the metrics mirror its counters.
                let st = analyzer.stats();
                p.frames_analysed.store(st.analysed, Ordering::Relaxed);
                p.decode_errors.store(st.decode_errors, Ordering::Relaxed);
                p.motion_frames.store(st.motion_frames, Ordering::Relaxed);
                p.events.store(st.events, Ordering::Relaxed);
                if let Some(d) = analyzer.detection_stats() {
                    p.detector_running.store(1, Ordering::Relaxed);
                    p.detections.store(d.runs, Ordering::Relaxed);
                    p.detections_replaced.store(d.replaced, Ordering::Relaxed);
                    p.detection_errors.store(d.errors, Ordering::Relaxed);
                    p.detection_us.store(d.detect_us, Ordering::Relaxed);
                }
                p.analysis_us
                    .fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                forward(&rec_tx, &mut out, &p, backpressure);
            }
            analyzer.flush(&mut out);
            forward(&rec_tx, &mut out, &p, backpressure);
        })
        .map_err(|source| NodeError::Thread {
            name: "analysis",
            source,
        })?;

    let (live_tx, live_rx) = watch::channel::<Option<Frame>>(None);
    if let Some(ready) = ready {
        let _ = ready.send(NodeHandles {
            metrics: metrics.clone(),
            live: live_rx,
            outbox: outbox.clone(),
            aim: aim_rx,
        });
    }
    tracing::info!(camera = %cfg.camera, source = %source.describe(), "node running");

    let metrics_file = cfg.metrics_file.clone();
    let m2 = metrics.clone();
    let sd = shutdown.clone();
    let metrics_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(METRICS_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = sd.wait() => break,
            }
            write_metrics(&metrics_file, &m2);
            tracing::info!(status = %m2.status_line(), "node status");
        }
    });

    let result = loop {
        let next = tokio::select! {
            _ = shutdown.wait() => break Ok(()),
            r = source.next_frame() => r,
        };
        match next {
            Ok(Some(frame)) => {
                live_tx.send_replace(Some(frame.clone()));
                if backpressure {
                    tokio::select! {
                        _ = shutdown.wait() => break Ok(()),
                        r = frame_tx.send(frame) => if r.is_err() { break Ok(()) },
                    }
                    continue;
                }
                match frame_tx.try_send(frame) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        pipeline.dropped_analysis.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break Ok(()),
                }
            }
            Ok(None) => {
                tracing::info!("camera stream ended");
                break Ok(());
            }
            Err(e) => break Err(NodeError::Capture(e)),
        }
    };
    drop(frame_tx);
    // The threads finish the running event and write its manifest.
    let joined = tokio::task::spawn_blocking(move || {
        let a = analysis_thread.join();
        let r = recorder_thread.join();
        a.is_ok() && r.is_ok()
    })
    .await;
    if !matches!(joined, Ok(true)) {
        tracing::error!("a pipeline thread panicked");
    }
    shutdown.trigger();
    let _ = metrics_task.await;
    write_metrics(&cfg.metrics_file, &metrics);
    result.map(|()| metrics)
}

fn forward(
    tx: &std::sync::mpsc::SyncSender<RecorderMsg>,
    out: &mut Vec<RecorderMsg>,
    p: &PipelineStats,
    wait: bool,
) {
    for msg in out.drain(..) {
        match msg {
            RecorderMsg::Frame { .. } if !wait => match tx.try_send(msg) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    p.dropped_recording.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => return,
            },
            // Starts and ends are rare and must arrive: wait for room.
            other => {
                if tx.send(other).is_err() {
                    return;
                }
            }
        }
    }
}

/// Replaces the metrics file atomically (readers never see half a file).
/// No fsync: metrics are rewritten every few seconds and are not worth
/// wearing a Raspberry Pi's SD card for.
fn write_metrics(path: &std::path::Path, m: &NodeMetrics) {
    let Some(dir) = path.parent() else { return };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let tmp = dir.join(crate::outbox::durable::temp_name(name));
    let r = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, m.render_prometheus()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(path = %path.display(), error = %e, "cannot write metrics file");
    }
}
