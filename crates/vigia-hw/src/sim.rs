//! Simulated outputs: a digital line and a servo driver that record what
//! they were told, stamped by a [`Clock`], for tests and `vigia demo`.
//!
//! The simulated inputs live next to their decoders
//! ([`crate::pir::SimulatedPir`], [`crate::ir::SimulatedIr`]) because they
//! share the event types.

use std::sync::{Arc, Mutex, PoisonError};

use vigia_base::Clock;

use crate::gpio::DigitalOutput;
use crate::servo::ServoDriver;
use crate::HwError;

/// The levels a [`SimulatedOutput`] was set to, with their times.
#[derive(Debug, Clone, Default)]
pub struct OutputLog {
    sets: Arc<Mutex<Vec<(i64, bool)>>>,
}

impl OutputLog {
    /// Every `set` call, in order.
    pub fn sets(&self) -> Vec<(i64, bool)> {
        self.sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Only the calls that changed the level (the line starts low).
    pub fn changes(&self) -> Vec<(i64, bool)> {
        let mut level = false;
        let mut out = Vec::new();
        for (t, v) in self.sets() {
            if v != level {
                out.push((t, v));
                level = v;
            }
        }
        out
    }

    /// The current level.
    pub fn level(&self) -> bool {
        self.sets().last().is_some_and(|&(_, v)| v)
    }
}

/// A digital output that only records.
pub struct SimulatedOutput {
    clock: Arc<dyn Clock>,
    log: OutputLog,
}

impl SimulatedOutput {
    pub fn new(clock: Arc<dyn Clock>) -> (Self, OutputLog) {
        let log = OutputLog::default();
        (
            Self {
                clock,
                log: log.clone(),
            },
            log,
        )
    }
}

impl DigitalOutput for SimulatedOutput {
    fn set(&mut self, high: bool) -> Result<(), HwError> {
        let t = self.clock.now_ms();
        self.log
            .sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((t, high));
        Ok(())
    }
}

/// One servo write: time, and `Some(pulse µs)` or `None` (disabled).
pub type ServoWrite = (i64, Option<u32>);

/// What a [`SimulatedServo`] was told.
#[derive(Debug, Clone, Default)]
pub struct ServoLog {
    writes: Arc<Mutex<Vec<ServoWrite>>>,
}

impl ServoLog {
    pub fn writes(&self) -> Vec<ServoWrite> {
        self.writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last pulse width written, if the output is enabled.
    pub fn pulse_us(&self) -> Option<u32> {
        self.writes().last().and_then(|&(_, p)| p)
    }
}

/// A servo driver that only records.
pub struct SimulatedServo {
    clock: Arc<dyn Clock>,
    log: ServoLog,
}

impl SimulatedServo {
    pub fn new(clock: Arc<dyn Clock>) -> (Self, ServoLog) {
        let log = ServoLog::default();
        (
            Self {
                clock,
                log: log.clone(),
            },
            log,
        )
    }

    fn push(&self, p: Option<u32>) {
        let t = self.clock.now_ms();
        self.log
            .writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((t, p));
    }
}

impl ServoDriver for SimulatedServo {
    fn set_pulse_us(&mut self, pulse_us: u32) -> Result<(), HwError> {
        self.push(Some(pulse_us));
        Ok(())
    }

    fn disable(&mut self) -> Result<(), HwError> {
        self.push(None);
        Ok(())
    }
}
