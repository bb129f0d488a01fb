//! Arming: whether events raise alarms (buzzer, notifications). Disarmed
//! nodes still record and upload; only alarms depend on this state.
//!
//! Owns the state, its optional weekly schedule, its persistence and its
//! change log. Does not own what happens on a change: others subscribe
//! ([`Arming::subscribe`], a tokio `watch`) and react (the alarm controller
//! silences the buzzer, MQTT publishes the switch state).
//!
//! - **Persistence**: `data_dir/arming.json`, rewritten on every change with
//!   the outbox's durable order (temp → fsync → rename → fsync dir), so a
//!   power cut leaves either the old or the new state, never none. A file
//!   that cannot be read is logged and replaced by the configured initial
//!   state (a camera that refuses to start over a state file protects no one).
//! - **Schedule**: weekly ranges in a fixed UTC offset (see
//!   `vigia_config::ArmingSettings`). At each range's start the node arms,
//!   at its end it disarms, with source `schedule`; a manual change in
//!   between holds until the next boundary. The last schedule verdict is
//!   persisted, so a boundary crossed while the node was off is applied at
//!   start-up, and a restart without a crossing does not undo a manual
//!   change.
//! - **Log**: every change with its time and [`CommandSource`], the newest
//!   `log_size` kept (persisted with the state) for status and the web UI.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use vigia_base::{Command, CommandSource};
use vigia_config::{ArmingSettings, ScheduleRange};

use crate::outbox::durable::write_atomic;

const FILE: &str = "arming.json";
const MS_PER_MIN: i64 = 60_000;
const MS_PER_DAY: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum ArmingError {
    #[error("cannot persist the arming state to {path}: {source}")]
    Persist {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One change of the arming state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmingChange {
    /// When, ms since the Unix epoch (UTC).
    pub at_ms: i64,
    pub armed: bool,
    pub source: CommandSource,
}

/// The current state, as published to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArmingStatus {
    pub armed: bool,
    /// Last change (`None`: never changed since the state file was created).
    pub since_ms: Option<i64>,
    pub source: Option<CommandSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Persisted {
    version: u32,
    armed: bool,
    /// What the schedule wanted when its verdict last changed (`None`: no
    /// schedule yet), and when that was.
    schedule_armed: Option<bool>,
    #[serde(default)]
    schedule_checked_ms: Option<i64>,
    /// Oldest first.
    log: Vec<ArmingChange>,
}

struct Inner {
    dir: PathBuf,
    settings: ArmingSettings,
    state: Persisted,
}

/// The node's arming state; clones share it.
#[derive(Clone)]
pub struct Arming {
    inner: Arc<Mutex<Inner>>,
    tx: Arc<watch::Sender<ArmingStatus>>,
}

impl std::fmt::Debug for Arming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arming")
            .field("status", &self.status())
            .finish()
    }
}

fn status_of(p: &Persisted) -> ArmingStatus {
    let last = p.log.last();
    ArmingStatus {
        armed: p.armed,
        since_ms: last.map(|c| c.at_ms),
        source: last.map(|c| c.source),
    }
}

impl Arming {
    /// Loads the state from `data_dir` (or starts from the configured
    /// initial state) and applies the schedule at `now_ms`.
    pub fn open(
        data_dir: &Path,
        settings: ArmingSettings,
        now_ms: i64,
    ) -> Result<Self, ArmingError> {
        let path = data_dir.join(FILE);
        let fresh = || Persisted {
            version: 1,
            armed: settings.initial_armed,
            schedule_armed: None,
            schedule_checked_ms: None,
            log: Vec::new(),
        };
        let state = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Persisted>(&bytes) {
                Ok(p) if p.version == 1 => p,
                Ok(p) => {
                    tracing::warn!(path = %path.display(), version = p.version, "unknown arming state version; starting from the configured state");
                    fresh()
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable arming state; starting from the configured state");
                    fresh()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the arming state; starting from the configured state");
                fresh()
            }
        };
        let (tx, _) = watch::channel(status_of(&state));
        let arming = Self {
            inner: Arc::new(Mutex::new(Inner {
                dir: data_dir.to_owned(),
                settings,
                state,
            })),
            tx: Arc::new(tx),
        };
        arming.tick(now_ms)?;
        Ok(arming)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn status(&self) -> ArmingStatus {
        status_of(&self.lock().state)
    }

    pub fn is_armed(&self) -> bool {
        self.lock().state.armed
    }

    /// Follow every change; the receiver starts at the current state.
    pub fn subscribe(&self) -> watch::Receiver<ArmingStatus> {
        self.tx.subscribe()
    }

    /// The logged changes, oldest first.
    pub fn recent_changes(&self) -> Vec<ArmingChange> {
        self.lock().state.log.clone()
    }

    /// Arms or disarms. Returns whether the state changed (setting the
    /// current state again is neither logged nor persisted).
    pub fn set(
        &self,
        armed: bool,
        source: CommandSource,
        now_ms: i64,
    ) -> Result<bool, ArmingError> {
        let mut inner = self.lock();
        if inner.state.armed == armed {
            return Ok(false);
        }
        let mut next = inner.state.clone();
        Self::apply(&mut next, &inner.settings, armed, source, now_ms);
        Self::persist(&inner.dir, &next)?;
        inner.state = next;
        tracing::info!(armed, %source, "arming changed");
        self.tx.send_replace(status_of(&inner.state));
        Ok(true)
    }

    fn apply(
        p: &mut Persisted,
        s: &ArmingSettings,
        armed: bool,
        source: CommandSource,
        at_ms: i64,
    ) {
        p.armed = armed;
        p.log.push(ArmingChange {
            at_ms,
            armed,
            source,
        });
        let excess = p.log.len().saturating_sub(s.log_size);
        p.log.drain(..excess);
    }

    fn persist(dir: &Path, p: &Persisted) -> Result<(), ArmingError> {
        let err = |source| ArmingError::Persist {
            path: dir.join(FILE),
            source,
        };
        let bytes = serde_json::to_vec_pretty(p).map_err(|e| err(std::io::Error::other(e)))?;
        std::fs::create_dir_all(dir).map_err(err)?;
        write_atomic(dir, FILE, &bytes).map_err(err)
    }

    /// Obeys `arm` / `disarm`; other commands are not arming's and give
    /// `Ok(None)`. Otherwise returns whether the state changed.
    pub fn command(
        &self,
        cmd: &Command,
        source: CommandSource,
        now_ms: i64,
    ) -> Result<Option<bool>, ArmingError> {
        match cmd {
            Command::Arm => self.set(true, source, now_ms).map(Some),
            Command::Disarm => self.set(false, source, now_ms).map(Some),
            _ => Ok(None),
        }
    }

    /// Applies a schedule boundary crossed since the last call. Returns the
    /// change made, if any.
    pub fn tick(&self, now_ms: i64) -> Result<Option<ArmingChange>, ArmingError> {
        let mut inner = self.lock();
        let s = &inner.settings;
        let wants = schedule_wants(s, now_ms);
        // Only a boundary acts: a verdict that differs from the last one, or
        // one that flipped and flipped back while the node was off.
        let crossed = match (inner.state.schedule_armed, inner.state.schedule_checked_ms) {
            (Some(prev), Some(t0)) => {
                wants != Some(prev) || (wants.is_some() && verdict_changes_between(s, t0, now_ms))
            }
            (prev, _) => wants != prev,
        };
        if !crossed {
            return Ok(None);
        }
        let mut next = inner.state.clone();
        next.schedule_armed = wants;
        next.schedule_checked_ms = Some(now_ms);
        let mut change = None;
        if let Some(armed) = wants {
            if next.armed != armed {
                Self::apply(
                    &mut next,
                    &inner.settings,
                    armed,
                    CommandSource::Schedule,
                    now_ms,
                );
                change = next.log.last().copied();
            }
        }
        Self::persist(&inner.dir, &next)?;
        inner.state = next;
        if let Some(c) = change {
            tracing::info!(armed = c.armed, "arming changed by schedule");
            self.tx.send_replace(status_of(&inner.state));
        }
        Ok(change)
    }

    /// The next time (on a minute boundary) at which the schedule's verdict
    /// changes, within a week; `None` without a schedule.
    pub fn next_schedule_change(&self, now_ms: i64) -> Option<i64> {
        let inner = self.lock();
        let s = &inner.settings;
        let now_wants = schedule_wants(s, now_ms)?;
        let first = now_ms - now_ms.rem_euclid(MS_PER_MIN) + MS_PER_MIN;
        (0..=7 * 24 * 60)
            .map(|i| first + i * MS_PER_MIN)
            .find(|&t| schedule_wants(s, t) != Some(now_wants))
    }
}

/// Day of week (0 = Monday) and minute of day at `utc_ms` in the offset.
fn local_day_minute(utc_offset_min: i32, utc_ms: i64) -> (usize, u32) {
    let local = utc_ms + i64::from(utc_offset_min) * MS_PER_MIN;
    let days = local.div_euclid(MS_PER_DAY);
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let minute = (local.rem_euclid(MS_PER_DAY) / MS_PER_MIN) as u32;
    (weekday, minute)
}

fn range_contains(r: &ScheduleRange, weekday: usize, minute: u32) -> bool {
    let yesterday = (weekday + 6) % 7;
    if r.from_min < r.to_min {
        r.days[weekday] && minute >= r.from_min && minute < r.to_min
    } else {
        (r.days[weekday] && minute >= r.from_min) || (r.days[yesterday] && minute < r.to_min)
    }
}

/// Whether the schedule's verdict at some minute in `(t0_ms, t1_ms]` differs
/// from the one at `t0_ms`. Looks at most a week ahead: a weekly schedule
/// that does not change within a week never does.
fn verdict_changes_between(s: &ArmingSettings, t0_ms: i64, t1_ms: i64) -> bool {
    let Some(at_t0) = schedule_wants(s, t0_ms) else {
        return false;
    };
    let end = t1_ms.min(t0_ms + 8 * MS_PER_DAY);
    let mut t = t0_ms - t0_ms.rem_euclid(MS_PER_MIN) + MS_PER_MIN;
    while t <= end {
        if schedule_wants(s, t) != Some(at_t0) {
            return true;
        }
        t += MS_PER_MIN;
    }
    false
}

/// Whether the schedule wants the node armed at `utc_ms`; `None` without
/// a schedule.
pub fn schedule_wants(s: &ArmingSettings, utc_ms: i64) -> Option<bool> {
    if s.schedule.is_empty() {
        return None;
    }
    let (d, m) = local_day_minute(s.utc_offset_min, utc_ms);
    Some(s.schedule.iter().any(|r| range_contains(r, d, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2026-11-23 00:00 UTC.
    const MONDAY: i64 = 1_795_392_000_000;
    const H: i64 = 3_600_000;

    fn nights(offset_min: i32) -> ArmingSettings {
        ArmingSettings {
            utc_offset_min: offset_min,
            schedule: vec![ScheduleRange {
                days: [true, true, true, true, true, false, false],
                from_min: 22 * 60,
                to_min: 7 * 60,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn monday_constant_is_a_monday() {
        assert_eq!(local_day_minute(0, MONDAY), (0, 0));
        assert_eq!(
            local_day_minute(0, MONDAY + 6 * 24 * H + 23 * H),
            (6, 23 * 60)
        );
        assert_eq!(
            local_day_minute(60, MONDAY - 30 * 60_000),
            (0, 30),
            "UTC+1 is already Monday"
        );
    }

    #[test]
    fn schedule_wraps_midnight_and_respects_days_and_offset() {
        let s = nights(0);
        let at = |h: i64| schedule_wants(&s, MONDAY + h * H);
        assert_eq!(at(0), Some(false), "Sunday night is not scheduled");
        assert_eq!(at(21), Some(false));
        assert_eq!(at(22), Some(true), "Monday 22:00");
        assert_eq!(at(24 + 6), Some(true), "Tuesday 06:00, Monday's range");
        assert_eq!(at(24 + 7), Some(false));
        assert_eq!(at(4 * 24 + 23), Some(true), "Friday 23:00");
        assert_eq!(at(5 * 24 + 3), Some(true), "Saturday 03:00, Friday's range");
        assert_eq!(at(5 * 24 + 22), Some(false), "Saturday 22:00");
        let s = nights(120);
        assert_eq!(
            schedule_wants(&s, MONDAY + 20 * H),
            Some(true),
            "22:00 at UTC+2"
        );
        assert_eq!(schedule_wants(&ArmingSettings::default(), MONDAY), None);
    }

    #[test]
    fn state_and_log_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Arming::open(dir.path(), ArmingSettings::default(), MONDAY).expect("open");
        assert!(!a.is_armed());
        assert!(a
            .set(true, CommandSource::IrRemote, MONDAY + 1_000)
            .expect("arm"));
        assert!(!a
            .set(true, CommandSource::Web, MONDAY + 2_000)
            .expect("again"));
        assert_eq!(
            a.command(&Command::Disarm, CommandSource::Telegram, MONDAY + 3_000)
                .expect("cmd"),
            Some(true)
        );
        a.command(&Command::Arm, CommandSource::Mqtt, MONDAY + 4_000)
            .expect("cmd");
        assert_eq!(
            a.command(&Command::Snapshot, CommandSource::Web, 0)
                .expect("n/a"),
            None
        );
        drop(a);

        let b =
            Arming::open(dir.path(), ArmingSettings::default(), MONDAY + 10_000).expect("reopen");
        assert!(b.is_armed(), "armed state persisted");
        let log = b.recent_changes();
        let summary: Vec<_> = log
            .iter()
            .map(|c| (c.at_ms - MONDAY, c.armed, c.source))
            .collect();
        assert_eq!(
            summary,
            [
                (1_000, true, CommandSource::IrRemote),
                (3_000, false, CommandSource::Telegram),
                (4_000, true, CommandSource::Mqtt),
            ]
        );
        assert_eq!(
            b.status(),
            ArmingStatus {
                armed: true,
                since_ms: Some(MONDAY + 4_000),
                source: Some(CommandSource::Mqtt)
            }
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["arming.json"], "no temp file left");
    }

    #[test]
    fn log_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ArmingSettings {
            log_size: 3,
            ..Default::default()
        };
        let a = Arming::open(dir.path(), s, 0).expect("open");
        for i in 0..10 {
            a.set(i % 2 == 0, CommandSource::Local, i).expect("set");
        }
        let at: Vec<_> = a.recent_changes().iter().map(|c| c.at_ms).collect();
        assert_eq!(at, [7, 8, 9]);
    }

    #[test]
    fn schedule_boundaries_arm_and_disarm_and_manual_holds_until_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Arming::open(dir.path(), nights(0), MONDAY + 12 * H).expect("open");
        assert!(!a.is_armed());
        assert_eq!(
            a.next_schedule_change(MONDAY + 12 * H),
            Some(MONDAY + 22 * H)
        );
        let c = a
            .tick(MONDAY + 22 * H)
            .expect("tick")
            .expect("armed by schedule");
        assert_eq!((c.armed, c.source), (true, CommandSource::Schedule));
        // The owner comes home late and disarms; the schedule does not
        // re-arm until its next boundary.
        a.set(false, CommandSource::IrRemote, MONDAY + 23 * H)
            .expect("disarm");
        assert_eq!(a.tick(MONDAY + 23 * H + 60_000).expect("tick"), None);
        assert!(!a.is_armed());
        assert_eq!(
            a.tick(MONDAY + 31 * H).expect("tick"),
            None,
            "07:00 end: already disarmed"
        );
        assert_eq!(
            a.tick(MONDAY + 46 * H).expect("tick").map(|c| c.armed),
            Some(true)
        );
        // A manual disarm survives a restart that crosses no boundary...
        a.set(false, CommandSource::Web, MONDAY + 47 * H)
            .expect("disarm");
        drop(a);
        let a = Arming::open(dir.path(), nights(0), MONDAY + 48 * H).expect("reopen");
        assert!(!a.is_armed());
        drop(a);
        // ... and a boundary crossed while off is applied at start-up
        // (Tuesday's range ended Wed 07:00 and Wednesday's began at 22:00).
        let a = Arming::open(dir.path(), nights(0), MONDAY + 70 * H).expect("reopen");
        assert!(a.is_armed());
        assert_eq!(a.status().source, Some(CommandSource::Schedule));
    }

    #[tokio::test]
    async fn subscribers_see_every_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Arming::open(dir.path(), ArmingSettings::default(), 0).expect("open");
        let mut rx = a.subscribe();
        assert!(!rx.borrow().armed);
        let a2 = a.clone();
        tokio::task::spawn_blocking(move || a2.set(true, CommandSource::Web, 5))
            .await
            .expect("join")
            .expect("set");
        rx.changed().await.expect("changed");
        assert_eq!(rx.borrow().source, Some(CommandSource::Web));
        assert!(rx.borrow().armed);
    }

    #[test]
    fn unreadable_state_falls_back_to_the_configured_initial_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), b"{ not json").expect("write");
        let s = ArmingSettings {
            initial_armed: true,
            ..Default::default()
        };
        let a = Arming::open(dir.path(), s, 0).expect("open");
        assert!(a.is_armed());
        a.set(false, CommandSource::Local, 1)
            .expect("set rewrites the file");
        let text = std::fs::read_to_string(dir.path().join(FILE)).expect("read");
        assert!(text.contains("\"armed\": false"), "{text}");
    }

    #[test]
    fn a_failed_persist_leaves_the_state_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Arming::open(dir.path(), ArmingSettings::default(), 0).expect("open");
        // A directory where the temp file goes makes the write fail.
        std::fs::create_dir(dir.path().join(".arming.json.tmp")).expect("mkdir");
        let e = a
            .set(true, CommandSource::Web, 1)
            .expect_err("cannot persist");
        assert!(e.to_string().contains("arming.json"), "{e}");
        assert!(!a.is_armed());
        assert!(a.recent_changes().is_empty());
    }
}
