//! The alarm controller: turns "an event that raises an alarm" into the
//! buzzer pattern and an [`AlarmNotice`] for notifiers, when armed.
//!
//! Owns the decision and the buzzer; does not own arming (it follows
//! [`Arming`]'s watch), notifications (they subscribe to the notices and
//! deliver in their own tasks, so a dead Telegram never delays the buzzer
//! or the recording), or what counts as alarming (the caller says, e.g.
//! only `person` events).
//!
//! Rules:
//! - armed + alarming event → buzzer sounds (at most its max duration), a
//!   notice is broadcast;
//! - disarmed → nothing (the event is still recorded by the pipeline);
//! - `siren_on` sounds the buzzer whatever the arming (a test or a panic
//!   button); `siren_off` and disarming silence it at once.
//!
//! The sync methods do the work with time from a [`Clock`], so tests drive
//! them with a simulated clock; [`AlarmController::run`] is the task that
//! wakes them at the buzzer's deadlines.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use vigia_base::{Clock, Command, CommandSource, Shutdown};
use vigia_hw::{Buzzer, HwError};

use crate::arming::{Arming, ArmingStatus};

/// An event as the alarm sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmTrigger {
    /// Event start, ms since the Unix epoch.
    pub at_ms: i64,
    /// `person`, `animal`, `motion` (or not yet known).
    pub label: Option<String>,
    /// The caller's verdict: this event is worth an alarm.
    pub raises: bool,
}

/// What notifiers hear.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlarmNotice {
    /// An armed node saw an alarming event.
    Raised { at_ms: i64, label: Option<String> },
    /// The siren was switched on by a command.
    SirenOn { at_ms: i64, source: CommandSource },
    /// The buzzer was silenced (siren_off or disarm).
    Silenced { at_ms: i64, source: CommandSource },
}

/// What [`AlarmController::on_event`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmDecision {
    Raised,
    /// The event is not alarming.
    NotAlarming,
    /// Alarming, but the node is disarmed.
    Disarmed,
}

/// Inputs of the alarm task.
#[derive(Debug, Clone)]
pub enum AlarmInput {
    Event(AlarmTrigger),
    Command(Command, CommandSource),
}

pub struct AlarmController {
    buzzer: Option<Buzzer>,
    arming: watch::Receiver<ArmingStatus>,
    notices: broadcast::Sender<AlarmNotice>,
    clock: Arc<dyn Clock>,
}

impl AlarmController {
    /// `buzzer` is `None` on nodes without one: notices still go out.
    pub fn new(buzzer: Option<Buzzer>, arming: &Arming, clock: Arc<dyn Clock>) -> Self {
        let (notices, _) = broadcast::channel(64);
        Self {
            buzzer,
            arming: arming.subscribe(),
            notices,
            clock,
        }
    }

    /// The notification hook: every notice from now on. A receiver that
    /// lags loses the oldest notices (and is told so), never blocks us.
    pub fn subscribe(&self) -> broadcast::Receiver<AlarmNotice> {
        self.notices.subscribe()
    }

    pub fn is_sounding(&self) -> bool {
        self.buzzer.as_ref().is_some_and(Buzzer::is_playing)
    }

    fn notify(&self, n: AlarmNotice) {
        // No receiver is fine: notifications may be off.
        let _ = self.notices.send(n);
    }

    fn armed(&self) -> bool {
        self.arming.borrow().armed
    }

    pub fn on_event(&mut self, t: &AlarmTrigger) -> Result<AlarmDecision, HwError> {
        self.follow_arming()?;
        if !t.raises {
            return Ok(AlarmDecision::NotAlarming);
        }
        if !self.armed() {
            return Ok(AlarmDecision::Disarmed);
        }
        tracing::warn!(label = ?t.label, "alarm raised");
        self.notify(AlarmNotice::Raised {
            at_ms: t.at_ms,
            label: t.label.clone(),
        });
        if let Some(b) = &mut self.buzzer {
            b.sound()?;
        }
        Ok(AlarmDecision::Raised)
    }

    /// Obeys `siren_on` / `siren_off`; returns whether the command was the
    /// alarm's.
    pub fn on_command(&mut self, cmd: &Command, source: CommandSource) -> Result<bool, HwError> {
        let at_ms = self.clock.now_ms();
        match cmd {
            Command::SirenOn => {
                self.notify(AlarmNotice::SirenOn { at_ms, source });
                if let Some(b) = &mut self.buzzer {
                    b.sound()?;
                }
                Ok(true)
            }
            Command::SirenOff => {
                self.silence(source)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn silence(&mut self, source: CommandSource) -> Result<(), HwError> {
        let was = self.is_sounding();
        if let Some(b) = &mut self.buzzer {
            b.silence()?;
        }
        if was {
            self.notify(AlarmNotice::Silenced {
                at_ms: self.clock.now_ms(),
                source,
            });
        }
        Ok(())
    }

    /// Silences the buzzer if the node was disarmed since the last look.
    pub fn follow_arming(&mut self) -> Result<(), HwError> {
        if !self.arming.has_changed().unwrap_or(false) {
            return Ok(());
        }
        let status = *self.arming.borrow_and_update();
        if !status.armed {
            self.silence(status.source.unwrap_or(CommandSource::Local))?;
        }
        Ok(())
    }

    /// Brings the buzzer line up to date; returns when to call again.
    pub fn poll(&mut self) -> Result<Option<i64>, HwError> {
        self.follow_arming()?;
        match &mut self.buzzer {
            Some(b) => b.update(),
            None => Ok(None),
        }
    }

    /// The alarm task: handles inputs and arming changes, and wakes at the
    /// buzzer's deadlines. Ends on shutdown or when `inputs` closes, with
    /// the buzzer silenced. Buzzer errors are logged, never fatal: a broken
    /// buzzer must not stop notifications.
    pub async fn run(mut self, mut inputs: mpsc::Receiver<AlarmInput>, shutdown: Shutdown) {
        let mut arming = self.arming.clone();
        loop {
            let deadline = match self.poll() {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "buzzer");
                    None
                }
            };
            let sleep = deadline
                .map(|d| Duration::from_millis(d.saturating_sub(self.clock.now_ms()).max(0) as u64))
                .unwrap_or(Duration::from_secs(3_600));
            tokio::select! {
                _ = shutdown.wait() => break,
                input = inputs.recv() => match input {
                    None => break,
                    Some(AlarmInput::Event(t)) => {
                        if let Err(e) = self.on_event(&t) {
                            tracing::error!(error = %e, "buzzer");
                        }
                    }
                    Some(AlarmInput::Command(c, s)) => {
                        if let Err(e) = self.on_command(&c, s) {
                            tracing::error!(error = %e, "buzzer");
                        }
                    }
                },
                changed = arming.changed() => {
                    if changed.is_err() {
                        // The Arming is gone; keep serving commands.
                        arming = self.arming.clone();
                        tokio::select! {
                            _ = shutdown.wait() => break,
                            _ = tokio::time::sleep(sleep) => {}
                        }
                    }
                }
                _ = tokio::time::sleep(sleep) => {}
            }
        }
        if let Some(b) = &mut self.buzzer {
            if let Err(e) = b.silence() {
                tracing::error!(error = %e, "cannot silence the buzzer at shutdown");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_base::SimulatedClock;
    use vigia_config::ArmingSettings;
    use vigia_hw::{BuzzerPattern, OutputLog, SimulatedOutput};

    struct Rig {
        _dir: tempfile::TempDir,
        clock: SimulatedClock,
        arming: Arming,
        alarm: AlarmController,
        line: OutputLog,
    }

    fn rig() -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = SimulatedClock::new(1_000_000);
        let arming = Arming::open(dir.path(), ArmingSettings::default(), 0).expect("arming");
        let (out, line) = SimulatedOutput::new(Arc::new(clock.clone()));
        let pattern = BuzzerPattern {
            on_off_ms: vec![300, 200],
            repeat: 0,
            max_duration_ms: 2_000,
        };
        let buzzer = Buzzer::new(Box::new(out), pattern, Arc::new(clock.clone()));
        let alarm = AlarmController::new(Some(buzzer), &arming, Arc::new(clock.clone()));
        Rig {
            _dir: dir,
            clock,
            arming,
            alarm,
            line,
        }
    }

    fn person(at_ms: i64) -> AlarmTrigger {
        AlarmTrigger {
            at_ms,
            label: Some("person".into()),
            raises: true,
        }
    }

    #[test]
    fn disarmed_nodes_stay_quiet_and_armed_ones_sound_and_notify() {
        let mut r = rig();
        let mut notices = r.alarm.subscribe();
        assert_eq!(
            r.alarm.on_event(&person(1)).expect("ev"),
            AlarmDecision::Disarmed
        );
        assert!(r.line.changes().is_empty());
        r.arming.set(true, CommandSource::Web, 2).expect("arm");
        let mut not_alarming = person(3);
        not_alarming.raises = false;
        assert_eq!(
            r.alarm.on_event(&not_alarming).expect("ev"),
            AlarmDecision::NotAlarming
        );
        assert_eq!(
            r.alarm.on_event(&person(4)).expect("ev"),
            AlarmDecision::Raised
        );
        assert_eq!(
            notices.try_recv().expect("notice"),
            AlarmNotice::Raised {
                at_ms: 4,
                label: Some("person".into())
            }
        );
        // Drive the pattern to its end on the simulated clock.
        let mut next = r.alarm.poll().expect("poll");
        while let Some(t) = next {
            r.clock.set_ms(t);
            next = r.alarm.poll().expect("poll");
        }
        let t0 = 1_000_000;
        let rel: Vec<_> = r.line.changes().iter().map(|&(t, v)| (t - t0, v)).collect();
        assert_eq!(
            rel,
            [
                (0, true),
                (300, false),
                (500, true),
                (800, false),
                (1_000, true),
                (1_300, false),
                (1_500, true),
                (1_800, false)
            ]
        );
        assert!(!r.alarm.is_sounding(), "stopped at max duration");
    }

    #[test]
    fn disarm_silences_mid_pattern() {
        let mut r = rig();
        let mut notices = r.alarm.subscribe();
        r.arming.set(true, CommandSource::Web, 0).expect("arm");
        r.alarm.on_event(&person(0)).expect("ev");
        let _ = notices.try_recv();
        r.clock.advance_ms(100);
        r.arming
            .set(false, CommandSource::IrRemote, 100)
            .expect("disarm");
        assert_eq!(r.alarm.poll().expect("poll"), None);
        assert_eq!(r.line.changes(), [(1_000_000, true), (1_000_100, false)]);
        assert_eq!(
            notices.try_recv().expect("notice"),
            AlarmNotice::Silenced {
                at_ms: 1_000_100,
                source: CommandSource::IrRemote
            }
        );
    }

    #[test]
    fn siren_commands_work_whatever_the_arming() {
        let mut r = rig();
        assert!(r
            .alarm
            .on_command(&Command::SirenOn, CommandSource::Telegram)
            .expect("on"));
        assert!(r.alarm.is_sounding());
        r.clock.advance_ms(50);
        assert!(r
            .alarm
            .on_command(&Command::SirenOff, CommandSource::Telegram)
            .expect("off"));
        assert!(!r.alarm.is_sounding());
        assert!(!r.line.level());
        assert!(!r
            .alarm
            .on_command(&Command::Snapshot, CommandSource::Web)
            .expect("n/a"));
    }

    #[test]
    fn nodes_without_a_buzzer_still_notify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(SimulatedClock::new(0));
        let arming = Arming::open(dir.path(), ArmingSettings::default(), 0).expect("arming");
        arming.set(true, CommandSource::Local, 0).expect("arm");
        let mut alarm = AlarmController::new(None, &arming, clock);
        let mut n = alarm.subscribe();
        assert_eq!(
            alarm.on_event(&person(7)).expect("ev"),
            AlarmDecision::Raised
        );
        assert!(matches!(
            n.try_recv(),
            Ok(AlarmNotice::Raised { at_ms: 7, .. })
        ));
        assert_eq!(alarm.poll().expect("poll"), None);
    }

    /// The task on the real clock: an event sounds, a disarm from another
    /// front end silences, shutdown ends it with the line low.
    #[tokio::test]
    async fn run_task_reacts_to_events_and_disarm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock: Arc<dyn Clock> = Arc::new(vigia_base::RealClock);
        let arming =
            Arming::open(dir.path(), ArmingSettings::default(), clock.now_ms()).expect("arming");
        arming
            .set(true, CommandSource::Web, clock.now_ms())
            .expect("arm");
        let (out, line) = SimulatedOutput::new(clock.clone());
        let pattern = BuzzerPattern {
            on_off_ms: vec![60_000, 1_000],
            repeat: 0,
            max_duration_ms: 600_000,
        };
        let alarm = AlarmController::new(
            Some(Buzzer::new(Box::new(out), pattern, clock.clone())),
            &arming,
            clock.clone(),
        );
        let (tx, rx) = mpsc::channel(4);
        let shutdown = Shutdown::new();
        let task = tokio::spawn(alarm.run(rx, shutdown.clone()));
        tx.send(AlarmInput::Event(person(clock.now_ms())))
            .await
            .expect("send");
        wait_for(|| line.level()).await;
        let a2 = arming.clone();
        let now = clock.now_ms();
        tokio::task::spawn_blocking(move || a2.set(false, CommandSource::Mqtt, now))
            .await
            .expect("join")
            .expect("disarm");
        wait_for(|| !line.level()).await;
        shutdown.trigger();
        task.await.expect("task");
        assert!(!line.level());
    }

    async fn wait_for(cond: impl Fn() -> bool) {
        for _ in 0..500 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached within 5 s");
    }
}
