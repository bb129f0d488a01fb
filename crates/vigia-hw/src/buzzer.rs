//! The buzzer: alarm patterns played on a [`DigitalOutput`].
//!
//! [`PatternPlayer`] is pure: the level at any time is a function of the
//! time since the alarm started, so a late wake-up never shifts the rest of
//! the pattern and tests can ask "what sounds at t" directly. [`Buzzer`]
//! adds the output line and a [`Clock`]; whoever owns it (the node's alarm
//! task) calls [`Buzzer::update`] at the deadline it returns.
//!
//! Every alarm stops by itself after `max_duration_ms`: a siren that never
//! stops gets the node unplugged, and neighbours complain.

use std::sync::Arc;

use vigia_base::Clock;

use crate::gpio::DigitalOutput;
use crate::HwError;

/// On/off timings played in a loop until `max_duration_ms` (or `repeat`
/// loops) have passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuzzerPattern {
    /// Alternating on, off, on, off … durations in ms; even length, ≥ 2.
    pub on_off_ms: Vec<u32>,
    /// Loops to play; 0 = loop until `max_duration_ms`.
    pub repeat: u32,
    /// Hard limit of one alarm.
    pub max_duration_ms: u32,
}

impl Default for BuzzerPattern {
    /// Two short beeps and a pause, for at most a minute.
    fn default() -> Self {
        Self {
            on_off_ms: vec![200, 100, 200, 500],
            repeat: 0,
            max_duration_ms: 60_000,
        }
    }
}

impl BuzzerPattern {
    pub fn validate(&self) -> Result<(), HwError> {
        let n = self.on_off_ms.len();
        if n < 2 || n % 2 != 0 || n > 64 {
            return Err(HwError::invalid(
                "buzzer pattern",
                "needs an even number (2..=64) of on/off durations",
            ));
        }
        if self.on_off_ms.iter().any(|&d| d == 0 || d > 60_000) {
            return Err(HwError::invalid(
                "buzzer pattern",
                "each duration must be within 1..=60000 ms",
            ));
        }
        if self.max_duration_ms == 0 || self.max_duration_ms > 3_600_000 {
            return Err(HwError::invalid(
                "buzzer max duration",
                "must be within 1 ms..=1 h",
            ));
        }
        Ok(())
    }

    fn cycle_ms(&self) -> i64 {
        self.on_off_ms.iter().map(|&d| i64::from(d)).sum()
    }

    /// How long one alarm lasts.
    pub fn total_ms(&self) -> i64 {
        let max = i64::from(self.max_duration_ms);
        if self.repeat == 0 {
            max
        } else {
            (self.cycle_ms() * i64::from(self.repeat)).min(max)
        }
    }
}

/// The pure pattern clock: started at some time, it says the level at any
/// later time and when it next changes.
#[derive(Debug, Clone)]
pub struct PatternPlayer {
    pattern: BuzzerPattern,
    started_ms: Option<i64>,
}

impl PatternPlayer {
    pub fn new(pattern: BuzzerPattern) -> Self {
        Self {
            pattern,
            started_ms: None,
        }
    }

    pub fn pattern(&self) -> &BuzzerPattern {
        &self.pattern
    }

    /// Starts the alarm at `now_ms`. An alarm already playing keeps its
    /// phase and end time (a second trigger does not extend the noise).
    pub fn start(&mut self, now_ms: i64) {
        if !self.is_playing(now_ms) {
            self.started_ms = Some(now_ms);
        }
    }

    pub fn stop(&mut self) {
        self.started_ms = None;
    }

    pub fn is_playing(&self, now_ms: i64) -> bool {
        match self.started_ms {
            Some(s) => now_ms >= s && now_ms - s < self.pattern.total_ms(),
            None => false,
        }
    }

    /// Index of the step sounding `elapsed` ms into the alarm, and the
    /// elapsed time at which that step ends.
    fn step_at(&self, elapsed: i64) -> (usize, i64) {
        let cycle = self.pattern.cycle_ms();
        let base = elapsed - elapsed % cycle;
        let mut end = base;
        for (i, &d) in self.pattern.on_off_ms.iter().enumerate() {
            end += i64::from(d);
            if elapsed < end {
                return (i, end);
            }
        }
        // Unreachable for elapsed within a cycle; treat as the cycle's end.
        (0, base + cycle)
    }

    /// Whether the buzzer should sound at `now_ms`.
    pub fn level_at(&self, now_ms: i64) -> bool {
        let Some(s) = self.started_ms else {
            return false;
        };
        if !self.is_playing(now_ms) {
            return false;
        }
        self.step_at(now_ms - s).0 % 2 == 0
    }

    /// The next time after `now_ms` at which the level changes or the alarm
    /// ends; `None` once it is over.
    pub fn next_change(&self, now_ms: i64) -> Option<i64> {
        let s = self.started_ms?;
        if !self.is_playing(now_ms) {
            return None;
        }
        let end = s + self.pattern.total_ms();
        let (_, step_end) = self.step_at(now_ms - s);
        Some((s + step_end).min(end))
    }
}

/// A buzzer on an output line, timed by a [`Clock`].
pub struct Buzzer {
    output: Box<dyn DigitalOutput>,
    player: PatternPlayer,
    clock: Arc<dyn Clock>,
    sounding: bool,
}

impl Buzzer {
    pub fn new(
        output: Box<dyn DigitalOutput>,
        pattern: BuzzerPattern,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            output,
            player: PatternPlayer::new(pattern),
            clock,
            sounding: false,
        }
    }

    /// Starts the alarm pattern (no-op while one plays); returns the next
    /// deadline for [`update`](Self::update).
    pub fn sound(&mut self) -> Result<Option<i64>, HwError> {
        self.player.start(self.clock.now_ms());
        self.update()
    }

    /// Stops at once and drives the line low.
    pub fn silence(&mut self) -> Result<(), HwError> {
        self.player.stop();
        self.sounding = false;
        self.output.set(false)
    }

    pub fn is_playing(&self) -> bool {
        self.player.is_playing(self.clock.now_ms())
    }

    /// Sets the line to the pattern's level now; returns when to call again
    /// (`None`: the alarm is over and the line is low).
    pub fn update(&mut self) -> Result<Option<i64>, HwError> {
        let now = self.clock.now_ms();
        let want = self.player.level_at(now);
        if want != self.sounding {
            self.output.set(want)?;
            self.sounding = want;
        }
        let next = self.player.next_change(now);
        if next.is_none() {
            self.player.stop();
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimulatedOutput;
    use vigia_base::SimulatedClock;

    fn pattern(on_off: &[u32], repeat: u32, max: u32) -> BuzzerPattern {
        BuzzerPattern {
            on_off_ms: on_off.to_vec(),
            repeat,
            max_duration_ms: max,
        }
    }

    #[test]
    fn level_follows_the_pattern_and_wraps() {
        let mut p = PatternPlayer::new(pattern(&[200, 100, 300, 400], 0, 10_000));
        p.start(1_000);
        let at = |t: i64| p.level_at(1_000 + t);
        assert!(at(0) && at(199));
        assert!(!at(200) && !at(299));
        assert!(at(300) && at(599));
        assert!(!at(600) && !at(999));
        assert!(at(1_000) && !at(1_200));
        assert_eq!(p.next_change(1_000), Some(1_200));
        assert_eq!(p.next_change(1_250), Some(1_300));
        assert_eq!(p.next_change(1_950), Some(2_000));
        assert!(!p.level_at(999), "nothing before the start");
    }

    #[test]
    fn max_duration_and_repeat_bound_the_alarm() {
        let mut p = PatternPlayer::new(pattern(&[500, 500], 0, 1_700));
        p.start(0);
        assert!(p.level_at(1_100) && !p.level_at(1_600));
        assert_eq!(p.next_change(1_600), Some(1_700));
        assert!(!p.level_at(1_700) && !p.is_playing(1_700));
        assert_eq!(p.next_change(1_700), None);

        let mut p = PatternPlayer::new(pattern(&[100, 100], 3, 60_000));
        p.start(0);
        assert!(p.level_at(400) && !p.level_at(500));
        assert!(!p.is_playing(600));
    }

    #[test]
    fn a_second_start_keeps_the_phase_and_end() {
        let mut p = PatternPlayer::new(pattern(&[100, 100], 0, 1_000));
        p.start(0);
        p.start(550);
        assert!(!p.is_playing(1_000), "end not extended");
        p.start(1_200);
        assert!(p.level_at(1_200), "a new alarm after the end starts anew");
    }

    /// The buzzer driven as the alarm task does: sleep to each deadline on
    /// a simulated clock and record what the line did, and when.
    #[test]
    fn buzzer_line_timing_on_a_simulated_clock() {
        let clock = SimulatedClock::new(10_000);
        let (out, log) = SimulatedOutput::new(Arc::new(clock.clone()));
        let mut b = Buzzer::new(
            Box::new(out),
            pattern(&[200, 100, 200, 500], 0, 2_000),
            Arc::new(clock.clone()),
        );
        let mut next = b.sound().expect("sound");
        while let Some(t) = next {
            clock.set_ms(t);
            next = b.update().expect("update");
        }
        let expected = [
            (10_000, true),
            (10_200, false),
            (10_300, true),
            (10_500, false),
            (11_000, true),
            (11_200, false),
            (11_300, true),
            (11_500, false),
        ];
        assert_eq!(log.changes(), expected);
        assert!(!b.is_playing());
    }

    #[test]
    fn silence_stops_mid_beep() {
        let clock = SimulatedClock::new(0);
        let (out, log) = SimulatedOutput::new(Arc::new(clock.clone()));
        let mut b = Buzzer::new(
            Box::new(out),
            BuzzerPattern::default(),
            Arc::new(clock.clone()),
        );
        b.sound().expect("sound");
        clock.advance_ms(50);
        b.silence().expect("silence");
        clock.advance_ms(1_000);
        assert_eq!(b.update().expect("update"), None);
        assert_eq!(log.changes(), [(0, true), (50, false)]);
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(BuzzerPattern::default().validate().is_ok());
        assert!(pattern(&[100], 0, 1_000).validate().is_err());
        assert!(pattern(&[100, 0], 0, 1_000).validate().is_err());
        assert!(pattern(&[100, 100], 0, 0).validate().is_err());
    }
}
