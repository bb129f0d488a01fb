//! The Linux GPIO character device (`/dev/gpiochipN`) adapters: the PIR
//! input line and digital output lines (buzzer, software-PWM servo).
//!
//! This is the only module that talks to `gpiocdev`. Everything it does is
//! request a line and move levels and timestamps across; the decisions
//! (debounce, patterns) live in pure modules. The old sysfs GPIO interface
//! is deliberately not supported: it is deprecated and gone from recent
//! Raspberry Pi kernels.
//!
//! Tested only by compiling here: no GPIO chip exists on the build machine
//! (opening one gives [`HwError::Gpio`] naming the chip and line).

use std::path::{Path, PathBuf};
use std::time::Duration;

use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, EventClock, Value};
use gpiocdev::Request;

use crate::pir::{Edge, PirInput};
use crate::HwError;

const CONSUMER: &str = "vigia";

/// Pull resistor setting for an input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineBias {
    /// Leave as configured by firmware / device tree.
    #[default]
    AsIs,
    PullUp,
    PullDown,
    Disabled,
}

/// Where a line is: chip device path and line offset on that chip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAddress {
    pub chip: PathBuf,
    pub line: u32,
    /// Logical high = electrical low (an open-collector PIR, a buzzer
    /// module switched by a PNP transistor).
    pub active_low: bool,
}

fn gpio_err(addr: &LineAddress) -> impl FnOnce(gpiocdev::Error) -> HwError + '_ {
    move |source| HwError::Gpio {
        chip: addr.chip.clone(),
        line: addr.line,
        source,
    }
}

/// A PIR output wired to a GPIO input line, with kernel edge detection.
pub struct GpioPir {
    addr: LineAddress,
    req: Request,
    /// Edge timestamps are CLOCK_REALTIME when the kernel supports it (5.11+)
    /// and CLOCK_MONOTONIC otherwise; for the latter we convert using the
    /// offset between the two clocks at read time.
    realtime: bool,
}

impl GpioPir {
    pub fn open(addr: LineAddress, bias: LineBias) -> Result<Self, HwError> {
        let build = |clock: EventClock| {
            let mut b = Request::builder();
            b.on_chip(&addr.chip)
                .with_consumer(CONSUMER)
                .with_line(addr.line)
                .as_input()
                .with_edge_detection(EdgeDetection::BothEdges)
                .with_event_clock(clock);
            if addr.active_low {
                b.as_active_low();
            }
            match bias {
                LineBias::AsIs => {}
                LineBias::PullUp => {
                    b.with_bias(Bias::PullUp);
                }
                LineBias::PullDown => {
                    b.with_bias(Bias::PullDown);
                }
                LineBias::Disabled => {
                    b.with_bias(Bias::Disabled);
                }
            }
            b.request()
        };
        let (req, realtime) = match build(EventClock::Realtime) {
            Ok(r) => (r, true),
            Err(first) => match build(EventClock::Monotonic) {
                Ok(r) => (r, false),
                // The first error is the informative one (no such chip, busy).
                Err(_) => return Err(gpio_err(&addr)(first)),
            },
        };
        Ok(Self {
            addr,
            req,
            realtime,
        })
    }

    fn to_wall_ms(&self, timestamp_ns: u64) -> i64 {
        let ns = timestamp_ns as i128;
        if self.realtime {
            return (ns / 1_000_000) as i64;
        }
        let offset_ns = clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC);
        ((ns + offset_ns) / 1_000_000) as i64
    }
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl PirInput for GpioPir {
    fn level(&mut self) -> Result<bool, HwError> {
        let v = self.req.lone_value().map_err(gpio_err(&self.addr))?;
        Ok(v == Value::Active)
    }

    fn wait_edge(&mut self, timeout: Duration) -> Result<Option<Edge>, HwError> {
        if !self
            .req
            .wait_edge_event(timeout)
            .map_err(gpio_err(&self.addr))?
        {
            return Ok(None);
        }
        let ev = self.req.read_edge_event().map_err(gpio_err(&self.addr))?;
        Ok(Some(Edge {
            at_ms: self.to_wall_ms(ev.timestamp_ns),
            high: ev.kind == EdgeKind::Rising,
        }))
    }
}

/// A digital output: a buzzer, or the line a software-PWM servo is on.
pub trait DigitalOutput: Send {
    fn set(&mut self, high: bool) -> Result<(), HwError>;
}

/// A GPIO output line, driven low (inactive) on open and on drop.
pub struct GpioOutput {
    addr: LineAddress,
    req: Request,
}

impl GpioOutput {
    pub fn open(addr: LineAddress) -> Result<Self, HwError> {
        let mut b = Request::builder();
        b.on_chip(&addr.chip)
            .with_consumer(CONSUMER)
            .with_line(addr.line);
        if addr.active_low {
            b.as_active_low();
        }
        b.as_output(Value::Inactive);
        let req = b.request().map_err(gpio_err(&addr))?;
        Ok(Self { addr, req })
    }

    pub fn chip(&self) -> &Path {
        &self.addr.chip
    }
}

impl DigitalOutput for GpioOutput {
    fn set(&mut self, high: bool) -> Result<(), HwError> {
        let v = if high { Value::Active } else { Value::Inactive };
        self.req.set_lone_value(v).map_err(gpio_err(&self.addr))
    }
}

impl Drop for GpioOutput {
    fn drop(&mut self) {
        // A buzzer left sounding after a crash is the worst failure mode;
        // released lines keep their last value on many chips.
        let _ = self.req.set_lone_value(Value::Inactive);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only GPIO behaviour observable without a chip: the error names
    /// the chip and line the user configured.
    #[test]
    fn missing_chip_is_a_clear_error() {
        let addr = LineAddress {
            chip: PathBuf::from("/dev/gpiochip-vigia-test-missing"),
            line: 17,
            active_low: false,
        };
        let e = GpioOutput::open(addr.clone()).err().expect("no such chip");
        let msg = e.to_string();
        assert!(msg.contains("/dev/gpiochip-vigia-test-missing:17"), "{msg}");
        let e = GpioPir::open(addr, LineBias::PullDown)
            .err()
            .expect("no such chip");
        assert!(matches!(e, HwError::Gpio { line: 17, .. }), "{e}");
    }
}
