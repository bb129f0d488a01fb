//! The node's control room: one place that carries out commands, whoever
//! gives them (web over the link, Telegram, MQTT, the IR remote), and that
//! turns recorder events into alarms and notifications.
//!
//! Alarms depend on arming; recording and uploading never do. A failing
//! buzzer or notifier is logged and never blocks the pipeline: every input
//! here arrives through a bounded channel that drops (and logs) when full.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use vigia_base::manifest::Manifest;
use vigia_base::{CameraId, CaptureId, Clock, Command, CommandSource, Shutdown};
use vigia_hw::{Buzzer, Hardware, Servo};
use vigia_media::Frame;
use vigia_node::alarm::{AlarmController, AlarmInput};
use vigia_node::arming::Arming;
use vigia_node::outbox::Outbox;
use vigia_node::pipeline::Aim;
use vigia_node::recorder::RecorderEvent;
use vigia_node::uploader::BoxFuture;
use vigia_notify::{
    Clip, CommandReply, CommandRequest, EventNotice, FinishedEvent, NodeState, NotifyHandle,
};

/// The answer to a command: a message, and for Telegram the photo or clip.
pub struct Outcome {
    pub message: String,
    pub photo: Option<Bytes>,
    pub clip: Option<Bytes>,
}

impl Outcome {
    fn text(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            photo: None,
            clip: None,
        }
    }
}

pub struct NodeControl {
    pub camera: CameraId,
    pub outbox: Outbox,
    pub live: watch::Receiver<Option<Frame>>,
    pub clock: Arc<dyn Clock>,
    pub arming: Arming,
    pub alarm: mpsc::Sender<AlarmInput>,
    pub servo: Option<mpsc::Sender<Command>>,
    /// The latest clip, for Telegram's `/clip` (the outbox copy is deleted
    /// once the server has it).
    pub last_clip: Mutex<Option<(CaptureId, Bytes)>>,
}

impl NodeControl {
    pub async fn execute(
        &self,
        command: Command,
        source: CommandSource,
    ) -> Result<Outcome, String> {
        tracing::info!(%command, %source, "command");
        let now = self.clock.now_ms();
        match &command {
            Command::Arm | Command::Disarm => {
                let changed = self
                    .arming
                    .command(&command, source, now)
                    .map_err(|e| e.to_string())?;
                let _ = self
                    .alarm
                    .try_send(AlarmInput::Command(command.clone(), source));
                let state = if self.arming.is_armed() {
                    "armed"
                } else {
                    "disarmed"
                };
                Ok(Outcome::text(match changed {
                    Some(true) => format!("{} {state}", self.camera),
                    _ => format!("{} was already {state}", self.camera),
                }))
            }
            Command::SirenOn | Command::SirenOff => {
                self.alarm
                    .send(AlarmInput::Command(command.clone(), source))
                    .await
                    .map_err(|_| "the alarm task has stopped".to_string())?;
                Ok(Outcome::text(if command == Command::SirenOn {
                    "siren on"
                } else {
                    "siren off"
                }))
            }
            Command::Snapshot => {
                use vigia_node::snapshot::{fresh_frame, save_snapshot, FRAME_WAIT};
                let frame = fresh_frame(&self.live, self.clock.as_ref(), FRAME_WAIT)
                    .await
                    .map_err(|e| e.to_string())?;
                let (ob, cam) = (self.outbox.clone(), self.camera.clone());
                let photo = frame.jpeg.clone();
                let id = tokio::task::spawn_blocking(move || save_snapshot(&ob, &cam, &frame))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                // The photo sent is the frame saved, not a later one.
                Ok(Outcome {
                    message: format!("snapshot {id} saved"),
                    photo: Some(photo),
                    clip: None,
                })
            }
            Command::Clip => {
                let last = self
                    .last_clip
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                match last {
                    Some((id, clip)) => Ok(Outcome {
                        message: format!("clip of {id}"),
                        photo: None,
                        clip: Some(clip),
                    }),
                    None => Err("no clip recorded since the node started".into()),
                }
            }
            Command::Servo { .. } | Command::ServoPreset { .. } => match &self.servo {
                Some(tx) => {
                    tx.try_send(command.clone())
                        .map_err(|_| "the servo is busy".to_string())?;
                    Ok(Outcome::text(format!("{command}: moving")))
                }
                None => Err("this node has no servo".into()),
            },
            Command::Status => {
                let b = self.outbox.backlog();
                let status = self.arming.status();
                let frame_age = self
                    .live
                    .borrow()
                    .as_ref()
                    .map(|f| format!("{:.1} s ago", (now - f.captured_ms) as f64 / 1000.0))
                    .unwrap_or_else(|| "never".into());
                Ok(Outcome::text(format!(
                    "{}: {}, last frame {frame_age}, {} captures ({:.1} MB) waiting to upload",
                    self.camera,
                    if status.armed { "armed" } else { "disarmed" },
                    b.captures,
                    b.bytes as f64 / 1e6
                )))
            }
        }
    }
}

impl vigia_node::link::CommandExecutor for NodeControl {
    fn execute(
        &self,
        command: Command,
        source: CommandSource,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            NodeControl::execute(self, command, source)
                .await
                .map(|o| o.message)
        })
    }
}

/// The node's hardware and notification services, started from its config.
pub struct Services {
    pub control: Arc<NodeControl>,
}

/// Opens the configured hardware, the arming state, the alarm, the servo
/// and the notifiers, and starts their tasks.
pub fn start(
    cfg: &vigia_config::NodeConfig,
    outbox: Outbox,
    live: watch::Receiver<Option<Frame>>,
    aim: watch::Receiver<Option<Aim>>,
    clock: Arc<dyn Clock>,
    events: mpsc::Receiver<RecorderEvent>,
    shutdown: Shutdown,
) -> anyhow::Result<Services> {
    use anyhow::Context;
    // The PIR belongs to the analysis thread (runtime), not to this room.
    let devices = vigia_hw::HardwareConfig {
        pir: None,
        ..cfg.hardware.clone()
    };
    let mut hw = Hardware::open_real(&devices).context("opening the node's hardware")?;
    let arming = Arming::open(&cfg.data_dir, cfg.arming.clone(), clock.now_ms())
        .context("opening the arming state")?;
    let buzzer = match (hw.buzzer.take(), &cfg.hardware.buzzer) {
        (Some(out), Some(b)) => Some(Buzzer::new(out, b.pattern.clone(), clock.clone())),
        _ => None,
    };
    let alarm = AlarmController::new(buzzer, &arming, clock.clone());
    let (alarm_tx, alarm_rx) = mpsc::channel(32);
    tokio::spawn(alarm.run(alarm_rx, shutdown.clone()));

    let servo = match (hw.servo.take(), &cfg.hardware.servo) {
        (Some(driver), Some(s)) => {
            let servo = Servo::new(s.params.clone(), driver, clock.now_ms())
                .context("starting the servo")?;
            let (tx, rx) = mpsc::channel(8);
            tokio::spawn(run_servo(servo, rx, aim, clock.clone(), shutdown.clone()));
            Some(tx)
        }
        _ => None,
    };

    let control = Arc::new(NodeControl {
        camera: cfg.camera.clone(),
        outbox,
        live,
        clock: clock.clone(),
        arming: arming.clone(),
        alarm: alarm_tx.clone(),
        servo,
        last_clip: Mutex::new(None),
    });

    if let (Some(ir), Some(ir_cfg)) = (hw.ir.take(), &cfg.hardware.ir) {
        let (tx, mut rx) = mpsc::channel(8);
        vigia_hw::ir::spawn_ir_monitor(ir, ir_cfg.params.clone(), shutdown.clone(), tx)
            .context("starting the IR remote reader")?;
        let c = control.clone();
        tokio::spawn(async move {
            while let Some((cmd, source)) = rx.recv().await {
                if let Err(e) = c.execute(cmd, source).await {
                    tracing::warn!(error = %e, "IR remote command failed");
                }
            }
        });
    }

    let notify = if cfg.notify.is_empty() {
        None
    } else {
        let (tx, rx) = mpsc::channel(16);
        let handle = vigia_notify::Notifications::start(
            &cfg.notify,
            cfg.camera.clone(),
            &cfg.data_dir,
            tx,
            shutdown.clone(),
        )
        .context("starting notifications")?;
        tokio::spawn(run_notify_commands(rx, control.clone()));
        tokio::spawn(run_state(
            handle.clone(),
            arming.subscribe(),
            control.clone(),
            shutdown.clone(),
        ));
        Some(handle)
    };
    tokio::spawn(run_events(
        events,
        control.clone(),
        notify.clone(),
        alarm_tx,
    ));
    Ok(Services { control })
}

/// Drives the servo: remote commands, tracking the motion during events
/// (when `servo.track` is on), and the idle behaviour in between.
async fn run_servo(
    mut servo: Servo,
    mut rx: mpsc::Receiver<Command>,
    mut aim: watch::Receiver<Option<Aim>>,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
) {
    let mut tracking_lost = false;
    loop {
        let now = clock.now_ms();
        if let Err(e) = servo.tick(now) {
            tracing::error!(error = %e, "servo");
        }
        let wait = servo
            .controller()
            .next_deadline()
            .map(|d| Duration::from_millis(d.saturating_sub(now).clamp(10, 60_000) as u64))
            .unwrap_or(Duration::from_secs(60));
        tokio::select! {
            _ = shutdown.wait() => break,
            c = rx.recv() => match c {
                Some(c) => if let Err(e) = servo.command(&c, clock.now_ms()) {
                    tracing::error!(error = %e, "servo command");
                },
                None => break,
            },
            changed = aim.changed(), if !tracking_lost => {
                if changed.is_err() {
                    // The pipeline stopped; commands still work.
                    tracking_lost = true;
                    continue;
                }
                let a = *aim.borrow_and_update();
                let now = clock.now_ms();
                match a {
                    Some(Aim::At(x)) => if let Err(e) = servo.aim(x, now) {
                        tracing::error!(error = %e, "servo tracking");
                    },
                    Some(Aim::EventEnded) => servo.event_ended(now),
                    None => {}
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let _ = servo.disable();
}

async fn run_notify_commands(mut rx: mpsc::Receiver<CommandRequest>, control: Arc<NodeControl>) {
    while let Some(req) = rx.recv().await {
        let reply = match control.execute(req.command, req.source).await {
            Ok(Outcome {
                photo: Some(jpeg),
                message,
                ..
            }) => CommandReply::Photo {
                jpeg,
                caption: message,
            },
            Ok(Outcome {
                clip: Some(clip),
                message,
                ..
            }) => CommandReply::Video {
                clip: Clip::Bytes(clip),
                caption: message,
            },
            Ok(o) => CommandReply::Text(o.message),
            Err(e) => CommandReply::Text(format!("failed: {e}")),
        };
        if let Some(tx) = req.reply {
            let _ = tx.send(reply);
        }
    }
}

/// Keeps the MQTT state topics current (armed, backlog).
async fn run_state(
    notify: NotifyHandle,
    mut arming: watch::Receiver<vigia_node::arming::ArmingStatus>,
    control: Arc<NodeControl>,
    shutdown: Shutdown,
) {
    loop {
        let b = control.outbox.backlog();
        notify.state(NodeState {
            armed: arming.borrow_and_update().armed,
            motion: false,
            person: false,
            backlog_captures: b.captures,
        });
        tokio::select! {
            _ = shutdown.wait() => return,
            r = arming.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Reads the whole clip (init segment + fragments) of a committed capture.
fn read_clip(outbox: &Outbox, m: &Manifest) -> Option<Bytes> {
    let dir = outbox.dir().join(m.capture_id.as_str());
    let mut clip = Vec::new();
    for f in m.files.iter().filter(|f| f.name != "snapshot.jpg") {
        clip.extend(std::fs::read(dir.join(&f.name)).ok()?);
    }
    (!clip.is_empty()).then(|| Bytes::from(clip))
}

/// Recorder events → alarm, notifications, `/clip`.
async fn run_events(
    mut events: mpsc::Receiver<RecorderEvent>,
    control: Arc<NodeControl>,
    notify: Option<NotifyHandle>,
    alarm: mpsc::Sender<AlarmInput>,
) {
    // The notice of the running event, once its verdict is known.
    let mut current: Option<EventNotice> = None;
    let mut alarmed = false;
    loop {
        // Not stopped by shutdown: the recorder's last events (the final
        // capture) come after it, and the channel closes when it is done.
        let Some(e) = events.recv().await else {
            return;
        };
        match e {
            RecorderEvent::Started { .. } => {
                current = None;
                alarmed = false;
                if let Some(n) = &notify {
                    n.state(NodeState {
                        armed: control.arming.is_armed(),
                        motion: true,
                        person: false,
                        backlog_captures: control.outbox.backlog().captures,
                    });
                }
            }
            RecorderEvent::Verdict {
                capture_id,
                trigger_ms,
                verdict,
                ..
            } => {
                if verdict.alarm && !alarmed {
                    alarmed = true;
                    if alarm
                        .try_send(AlarmInput::Event(verdict.alarm_trigger(trigger_ms)))
                        .is_err()
                    {
                        tracing::warn!("alarm task busy; alarm input dropped");
                    }
                }
                let armed = control.arming.is_armed() && verdict.alarm;
                let label = verdict.label.as_str();
                // Notify at the first verdict, and again when the event
                // turns alarming (a person appeared mid-event).
                let news = match &current {
                    Some(c) if c.capture_id == capture_id => armed && !c.armed || c.label != label,
                    _ => true,
                };
                if news {
                    let snapshot = control
                        .live
                        .borrow()
                        .as_ref()
                        .map(|f| f.jpeg.clone())
                        .unwrap_or_default();
                    let notice = EventNotice {
                        camera: control.camera.clone(),
                        capture_id,
                        time_ms: trigger_ms,
                        label: label.to_owned(),
                        armed,
                        snapshot_jpeg: snapshot,
                    };
                    if let Some(n) = &notify {
                        n.event_started(notice.clone());
                    }
                    current = Some(notice);
                }
            }
            RecorderEvent::Committed(m) => {
                let ob = control.outbox.clone();
                let m2 = m.clone();
                let clip = tokio::task::spawn_blocking(move || read_clip(&ob, &m2))
                    .await
                    .ok()
                    .flatten();
                if let Some(c) = &clip {
                    *control.last_clip.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((m.capture_id.clone(), c.clone()));
                }
                if let Some(n) = &notify {
                    let event = current
                        .take()
                        .filter(|c| c.capture_id == m.capture_id)
                        .unwrap_or_else(|| EventNotice {
                            camera: control.camera.clone(),
                            capture_id: m.capture_id.clone(),
                            time_ms: m.trigger_ms,
                            label: m.label.clone(),
                            armed: false,
                            snapshot_jpeg: Bytes::new(),
                        });
                    n.event_finished(FinishedEvent {
                        event,
                        end_ms: m.end_ms,
                        clip: clip.map(Clip::Bytes),
                        capture_url: None,
                    });
                    n.state(NodeState {
                        armed: control.arming.is_armed(),
                        motion: false,
                        person: m.label == "person",
                        backlog_captures: control.outbox.backlog().captures,
                    });
                }
            }
            RecorderEvent::FileWritten { .. } | RecorderEvent::Failed { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_base::SimulatedClock;
    use vigia_hw::servo::ServoParams;
    use vigia_hw::sim::SimulatedServo;

    /// The motion the pipeline reports moves a tracking servo toward it,
    /// and the end of the event sends it home.
    #[tokio::test]
    async fn a_tracking_servo_follows_the_motion_and_returns_home() {
        let clock = SimulatedClock::new(1_000);
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let (driver, log) = SimulatedServo::new(dyn_clock.clone());
        let params = ServoParams {
            track: true,
            max_step_deg: 20.0,
            ..Default::default()
        };
        let geometry = params.geometry;
        let servo = Servo::new(params, Box::new(driver), clock.now_ms()).expect("servo");
        let (_cmd_tx, cmd_rx) = mpsc::channel(1);
        let (aim_tx, aim_rx) = watch::channel(None);
        let shutdown = Shutdown::new();
        let task = tokio::spawn(run_servo(
            servo,
            cmd_rx,
            aim_rx,
            dyn_clock,
            shutdown.clone(),
        ));
        let home = geometry.pulse_us(90.0);
        let wait_for = |want: u32| {
            let log = log.clone();
            async move {
                for _ in 0..500 {
                    if log.pulse_us() == Some(want) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("servo never reached {want} µs: {:?}", log.writes());
            }
        };
        wait_for(home).await;
        // Motion at the right edge: one step of at most 20°.
        aim_tx.send_replace(Some(Aim::At(1.0)));
        wait_for(geometry.pulse_us(110.0)).await;
        clock.advance_ms(100);
        aim_tx.send_replace(Some(Aim::At(0.99)));
        wait_for(geometry.pulse_us(130.0)).await;
        aim_tx.send_replace(Some(Aim::EventEnded));
        wait_for(home).await;
        shutdown.trigger();
        task.await.expect("servo task");
        assert_eq!(log.pulse_us(), None, "the servo goes limp at shutdown");
    }
}
