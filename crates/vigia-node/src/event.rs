//! The event state machine: when an event starts and ends.
//!
//! Pure logic driven by frame timestamps (no clock, no I/O), so a replayed
//! file and a live camera produce the same events and tests can walk through
//! hours of frames in microseconds.
//!
//! Rules (times are the frames' capture times):
//! - Idle + trigger at `t` → the event starts at `t`; the recorder adds the
//!   pre-roll from the pre-buffer.
//! - While active, every motion frame moves `last_motion` forward. The event
//!   ends at the first frame where both `t - last_motion ≥ post_roll` and
//!   `t - start ≥ min_length`: post-roll is footage after the last motion,
//!   min-length a floor for very short events.
//! - At `t - start ≥ max_length` the event is closed; if motion is still
//!   going on a new event starts on the same frame (no cooldown), so long
//!   activity becomes consecutive bounded captures instead of one huge clip.
//! - After an end, no event starts for `cooldown`; a trigger then is not
//!   lost: the next event begins when cooldown expires if motion persists,
//!   and its pre-roll covers the gap.

use vigia_config::EventSettings;

/// What the machine decided for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// Nothing is being recorded; the frame only feeds the pre-buffer.
    Idle,
    /// A new event starts with this frame.
    Start { start_ms: i64 },
    /// The frame belongs to the running event.
    Continue,
    /// The running event ended at this frame (the frame is not part of it).
    /// If `restart` is set, a new event starts with this same frame.
    End {
        end_ms: i64,
        reason: EndReason,
        restart: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Post-roll elapsed without motion.
    Quiet,
    /// The event reached `max_length`.
    MaxLength,
    /// The source ended (end of file, shutdown).
    Flush,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle { cooldown_until_ms: i64 },
    Active { start_ms: i64, last_motion_ms: i64 },
}

#[derive(Debug, Clone)]
pub struct EventMachine {
    settings: EventSettings,
    state: State,
    /// Triggers seen during cooldown (for metrics).
    suppressed_triggers: u64,
    /// Whether a trigger arrived during cooldown and motion has continued
    /// since, so the event should start when the cooldown expires.
    pending_trigger: bool,
}

impl EventMachine {
    pub fn new(settings: EventSettings) -> Self {
        Self {
            settings,
            state: State::Idle {
                cooldown_until_ms: i64::MIN,
            },
            suppressed_triggers: 0,
            pending_trigger: false,
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Active { .. })
    }

    pub fn suppressed_triggers(&self) -> u64 {
        self.suppressed_triggers
    }

    /// Start time of the running event, if any.
    pub fn active_start_ms(&self) -> Option<i64> {
        match self.state {
            State::Active { start_ms, .. } => Some(start_ms),
            State::Idle { .. } => None,
        }
    }

    /// Feeds one frame: `motion` means this frame shows motion, `trigger`
    /// that the detectors agree presence is established (e.g. motion for
    /// enough consecutive frames, or the PIR fired).
    pub fn on_frame(&mut self, t_ms: i64, motion: bool, trigger: bool) -> EventAction {
        let s = self.settings;
        match self.state {
            State::Idle { cooldown_until_ms } => {
                if t_ms < cooldown_until_ms {
                    if trigger {
                        self.suppressed_triggers += 1;
                        self.pending_trigger = true;
                    } else if !motion {
                        self.pending_trigger = false;
                    }
                    return EventAction::Idle;
                }
                if trigger || (self.pending_trigger && motion) {
                    self.pending_trigger = false;
                    self.state = State::Active {
                        start_ms: t_ms,
                        last_motion_ms: t_ms,
                    };
                    return EventAction::Start { start_ms: t_ms };
                }
                self.pending_trigger = false;
                EventAction::Idle
            }
            State::Active {
                start_ms,
                last_motion_ms,
            } => {
                let last_motion_ms = if motion || trigger {
                    t_ms
                } else {
                    last_motion_ms
                };
                if t_ms - start_ms >= s.max_length_ms {
                    let restart = t_ms - last_motion_ms < s.post_roll_ms;
                    self.state = if restart {
                        State::Active {
                            start_ms: t_ms,
                            last_motion_ms,
                        }
                    } else {
                        State::Idle {
                            cooldown_until_ms: t_ms + s.cooldown_ms,
                        }
                    };
                    return EventAction::End {
                        end_ms: t_ms,
                        reason: EndReason::MaxLength,
                        restart,
                    };
                }
                if t_ms - last_motion_ms >= s.post_roll_ms && t_ms - start_ms >= s.min_length_ms {
                    self.state = State::Idle {
                        cooldown_until_ms: t_ms + s.cooldown_ms,
                    };
                    return EventAction::End {
                        end_ms: t_ms,
                        reason: EndReason::Quiet,
                        restart: false,
                    };
                }
                self.state = State::Active {
                    start_ms,
                    last_motion_ms,
                };
                EventAction::Continue
            }
        }
    }

    /// Ends a running event because the stream ended; `t_ms` is the time
    /// just after the last frame.
    pub fn flush(&mut self, t_ms: i64) -> Option<EventAction> {
        if let State::Active { .. } = self.state {
            self.state = State::Idle {
                cooldown_until_ms: t_ms + self.settings.cooldown_ms,
            };
            Some(EventAction::End {
                end_ms: t_ms,
                reason: EndReason::Flush,
                restart: false,
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EventSettings {
        EventSettings {
            pre_roll_ms: 2_000,
            post_roll_ms: 3_000,
            min_length_ms: 5_000,
            max_length_ms: 20_000,
            cooldown_ms: 0,
            prebuffer_max_bytes: 1 << 20,
        }
    }

    /// Runs 10 fps frames over `0..until_ms`; `motion(t)` says whether the
    /// frame at t has motion (a trigger needs two motion frames in a row).
    fn run(
        m: &mut EventMachine,
        until_ms: i64,
        motion: impl Fn(i64) -> bool,
    ) -> Vec<(i64, EventAction)> {
        let mut out = Vec::new();
        let mut prev = false;
        for t in (0..until_ms).step_by(100) {
            let mo = motion(t);
            let a = m.on_frame(t, mo, mo && prev);
            prev = mo;
            if !matches!(a, EventAction::Idle | EventAction::Continue) {
                out.push((t, a));
            }
        }
        out
    }

    #[test]
    fn one_burst_of_motion_gives_one_event_with_post_roll() {
        let mut m = EventMachine::new(settings());
        let acts = run(&mut m, 30_000, |t| (5_000..12_000).contains(&t));
        assert_eq!(
            acts,
            vec![
                (5_100, EventAction::Start { start_ms: 5_100 }),
                (
                    14_900,
                    EventAction::End {
                        end_ms: 14_900,
                        reason: EndReason::Quiet,
                        restart: false
                    }
                ),
            ]
        );
    }

    #[test]
    fn short_blip_still_records_min_length() {
        let mut m = EventMachine::new(settings());
        let acts = run(&mut m, 30_000, |t| (1_000..1_300).contains(&t));
        assert_eq!(acts[0].1, EventAction::Start { start_ms: 1_100 });
        // last motion at 1.2 s + 3 s post-roll = 4.2 s, but min length holds it to 6.1 s.
        assert_eq!(acts[1].0, 6_100);
    }

    #[test]
    fn gaps_shorter_than_post_roll_do_not_split_events() {
        let mut m = EventMachine::new(settings());
        let acts = run(&mut m, 30_000, |t| {
            (2_000..4_000).contains(&t) || (6_000..8_000).contains(&t)
        });
        assert_eq!(acts.len(), 2, "{acts:?}");
    }

    #[test]
    fn long_activity_is_split_at_max_length_without_gap() {
        let mut m = EventMachine::new(settings());
        let acts = run(&mut m, 50_000, |t| (1_000..45_000).contains(&t));
        let kinds: Vec<_> = acts.iter().map(|(t, a)| (*t, *a)).collect();
        assert_eq!(kinds[0], (1_100, EventAction::Start { start_ms: 1_100 }));
        assert_eq!(
            kinds[1],
            (
                21_100,
                EventAction::End {
                    end_ms: 21_100,
                    reason: EndReason::MaxLength,
                    restart: true
                }
            )
        );
        assert_eq!(
            kinds[2],
            (
                41_100,
                EventAction::End {
                    end_ms: 41_100,
                    reason: EndReason::MaxLength,
                    restart: true
                }
            )
        );
        assert_eq!(
            kinds[3].1,
            EventAction::End {
                end_ms: 47_900,
                reason: EndReason::Quiet,
                restart: false
            }
        );
        assert!(!m.is_active());
    }

    #[test]
    fn cooldown_defers_but_does_not_drop_persistent_motion() {
        let mut m = EventMachine::new(EventSettings {
            cooldown_ms: 4_000,
            ..settings()
        });
        // first event 1.1–9.0 s (min length 5 s dominates); motion again 10–16 s.
        let acts = run(&mut m, 30_000, |t| {
            (1_000..2_000).contains(&t) || (10_000..16_000).contains(&t)
        });
        assert_eq!(acts[0].1, EventAction::Start { start_ms: 1_100 });
        let end1 = acts[1].0;
        assert_eq!(end1, 6_100);
        // Cooldown until 10.1 s; motion resumed at 10 s, so the next event starts right at 10.1 s.
        assert_eq!(acts[2].1, EventAction::Start { start_ms: 10_100 });
    }

    #[test]
    fn trigger_during_cooldown_is_counted_and_resumed() {
        let mut m = EventMachine::new(EventSettings {
            cooldown_ms: 4_000,
            min_length_ms: 0,
            post_roll_ms: 1_000,
            ..settings()
        });
        let acts = run(&mut m, 20_000, |t| {
            (1_000..1_500).contains(&t) || (3_000..9_000).contains(&t)
        });
        // event 1 ends at 2.4 s; cooldown to 6.4 s; triggers at 3.1 s.. are suppressed.
        assert_eq!(acts[1].0, 2_400);
        assert!(m.suppressed_triggers() > 0);
        assert_eq!(acts[2].1, EventAction::Start { start_ms: 6_400 });
    }

    #[test]
    fn flush_ends_a_running_event_only() {
        let mut m = EventMachine::new(settings());
        assert_eq!(m.flush(0), None);
        m.on_frame(0, true, true);
        assert_eq!(
            m.flush(100),
            Some(EventAction::End {
                end_ms: 100,
                reason: EndReason::Flush,
                restart: false
            })
        );
        assert!(!m.is_active());
    }
}
