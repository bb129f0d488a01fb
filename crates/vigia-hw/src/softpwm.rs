//! Servo pulses by toggling a GPIO line from a thread, for boards or pins
//! without hardware PWM.
//!
//! Expect some jitter: a pulse 50 µs too long is ~4.5° off on a 0.5–2.5 ms
//! servo. To keep the pulse itself exact the thread spins through it (and
//! the last 0.3 ms before it) instead of sleeping, at the cost of ~10 % of
//! one core; preemption can still stretch a pulse under heavy load
//! (`cargo bench -p vigia-hw --bench softpwm` measures it). Hardware PWM
//! ([`crate::pwm`]) is preferred when available.
//!
//! [`PwmSchedule`] holds the timing logic and is pure: given when a period
//! started and the time now, it says what the line should be and when it
//! next changes. A wake-up that overruns a period skips to the current one
//! instead of emitting a burst of short pulses, which a servo would read as
//! a jump.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::gpio::DigitalOutput;
use crate::servo::ServoDriver;
use crate::HwError;

/// Pure timing of a software PWM: times are µs on any monotonic scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PwmSchedule {
    pub period_us: u64,
    /// Start of the current period.
    pub period_start_us: u64,
}

/// What the line should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PwmStep {
    pub high: bool,
    /// When to look again (the next edge).
    pub until_us: u64,
}

impl PwmSchedule {
    pub fn new(period_us: u64, start_us: u64) -> Self {
        Self {
            period_us: period_us.max(1),
            period_start_us: start_us,
        }
    }

    /// The level at `now_us` for pulses of `pulse_us`, moving the period
    /// start forward by whole periods if `now_us` is past it.
    pub fn step(&mut self, now_us: u64, pulse_us: u64) -> PwmStep {
        if now_us >= self.period_start_us + self.period_us {
            let missed = (now_us - self.period_start_us) / self.period_us;
            self.period_start_us += missed * self.period_us;
        }
        let pulse = pulse_us.min(self.period_us);
        let fall = self.period_start_us + pulse;
        let next_period = self.period_start_us + self.period_us;
        if now_us < fall {
            PwmStep {
                high: true,
                until_us: fall,
            }
        } else {
            PwmStep {
                high: false,
                until_us: next_period,
            }
        }
    }
}

/// Spin (instead of sleeping) this long before each rising edge: a sleep
/// can overshoot by a scheduler tick under load.
const SPIN_MARGIN_US: u64 = 300;

/// How long to sleep before spinning up to the next edge, `remaining_us`
/// away. The high pulse is what the servo reads as its angle, so it is
/// timed by spinning alone (at most 2.5 ms of every 20 ms, ~12 % of one
/// core); the low part sleeps until shortly before the next rise.
pub fn sleep_before_edge(high: bool, remaining_us: u64) -> u64 {
    if high {
        0
    } else {
        remaining_us.saturating_sub(SPIN_MARGIN_US)
    }
}

/// A software-PWM servo output: a thread drives `output` with the pulse
/// width last set; 0 means "line low, no pulses".
pub struct SoftPwm {
    pulse_us: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), HwError>>>,
}

impl SoftPwm {
    pub fn start(mut output: Box<dyn DigitalOutput>, period_us: u32) -> std::io::Result<Self> {
        let pulse_us = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (pulse_us.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("vigia-softpwm".into())
            .spawn(move || {
                let origin = Instant::now();
                let now_us = || origin.elapsed().as_micros() as u64;
                let mut sched = PwmSchedule::new(u64::from(period_us), 0);
                let mut level = false;
                output.set(false)?;
                while !s.load(Ordering::Relaxed) {
                    let pulse = u64::from(p.load(Ordering::Relaxed));
                    let step = sched.step(now_us(), pulse);
                    let high = step.high && pulse > 0;
                    if high != level {
                        output.set(high)?;
                        level = high;
                    }
                    let sleep_us = sleep_before_edge(high, step.until_us.saturating_sub(now_us()));
                    if sleep_us > 0 {
                        std::thread::sleep(Duration::from_micros(sleep_us));
                    }
                    while now_us() < step.until_us && !s.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                }
                output.set(false)
            })?;
        Ok(Self {
            pulse_us,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and returns its outcome (an output error, if any).
    pub fn stop(mut self) -> Result<(), HwError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), HwError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(HwError::invalid("software PWM", "its thread panicked")),
            None => Ok(()),
        }
    }
}

impl ServoDriver for SoftPwm {
    fn set_pulse_us(&mut self, pulse_us: u32) -> Result<(), HwError> {
        self.pulse_us.store(pulse_us, Ordering::Relaxed);
        Ok(())
    }

    fn disable(&mut self) -> Result<(), HwError> {
        self.pulse_us.store(0, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for SoftPwm {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimulatedOutput;
    use vigia_base::SimulatedClock;

    #[test]
    fn schedule_gives_high_for_the_pulse_then_low_to_the_period_end() {
        let mut s = PwmSchedule::new(20_000, 0);
        assert_eq!(
            s.step(0, 1_500),
            PwmStep {
                high: true,
                until_us: 1_500
            }
        );
        assert_eq!(
            s.step(1_500, 1_500),
            PwmStep {
                high: false,
                until_us: 20_000
            }
        );
        assert_eq!(
            s.step(20_000, 1_500),
            PwmStep {
                high: true,
                until_us: 21_500
            }
        );
    }

    #[test]
    fn an_overrun_skips_whole_periods_without_a_burst() {
        let mut s = PwmSchedule::new(20_000, 0);
        // Woke 3.1 periods late: we are 2 ms into the 4th period, past a
        // 1.5 ms pulse, so the line stays low until the next period.
        assert_eq!(
            s.step(62_000, 1_500),
            PwmStep {
                high: false,
                until_us: 80_000
            }
        );
        assert_eq!(s.period_start_us, 60_000);
        // A pulse change mid-period takes effect from the next rising edge
        // or, if still inside the new pulse, extends the current one.
        assert_eq!(
            s.step(60_400, 500),
            PwmStep {
                high: true,
                until_us: 60_500
            }
        );
        assert_eq!(
            s.step(61_000, 30_000).until_us,
            80_000,
            "a pulse longer than the period is capped"
        );
    }

    #[test]
    fn the_pulse_is_spun_and_the_gap_mostly_slept() {
        assert_eq!(sleep_before_edge(true, 1_500), 0);
        assert_eq!(sleep_before_edge(false, 18_500), 18_200);
        assert_eq!(sleep_before_edge(false, 100), 0);
    }

    /// The real thread against a recording output: it produces alternating
    /// levels, none while disabled, and leaves the line low. (No timing is
    /// asserted: this machine's scheduler decides that.)
    #[test]
    fn thread_toggles_the_line_and_ends_low() {
        let clock = SimulatedClock::new(0);
        let (out, log) = SimulatedOutput::new(Arc::new(clock));
        let mut pwm = SoftPwm::start(Box::new(out), 20_000).expect("start");
        std::thread::sleep(Duration::from_millis(60));
        assert!(log.changes().is_empty(), "no pulses before a width is set");
        pwm.set_pulse_us(1_500).expect("set");
        let t0 = Instant::now();
        while log.changes().len() < 6 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        pwm.stop().expect("stop");
        let changes = log.changes();
        assert!(changes.len() >= 6, "{changes:?}");
        for pair in changes.windows(2) {
            assert_ne!(pair[0].1, pair[1].1, "levels alternate");
        }
        assert!(!log.level(), "low after stop");
    }
}
