//! How accurate is the GPIO software-PWM fallback on this machine?
//!
//! Runs the real `SoftPwm` thread for a few seconds against an output that
//! timestamps every level change with `Instant`, then prints the error of
//! the high pulses (what a servo reads as its angle) and of the periods.
//! A 0.5–2.5 ms servo over 180° turns 0.09° per µs of pulse error.
//!
//!     cargo bench -p vigia-hw --bench softpwm

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use vigia_hw::softpwm::SoftPwm;
use vigia_hw::{DigitalOutput, HwError, ServoDriver};

struct Stamping {
    log: Arc<Mutex<Vec<(Instant, bool)>>>,
}

impl DigitalOutput for Stamping {
    fn set(&mut self, high: bool) -> Result<(), HwError> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), high));
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let pulse_us = 1_500u32;
    let period_us = 20_000u32;
    let seconds = 3;
    let log = Arc::new(Mutex::new(Vec::new()));
    let out = Stamping { log: log.clone() };
    let mut pwm = match SoftPwm::start(Box::new(out), period_us) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot start the software PWM thread: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = pwm.set_pulse_us(pulse_us) {
        eprintln!("set pulse: {e}");
        std::process::exit(1);
    }
    std::thread::sleep(Duration::from_secs(seconds));
    if let Err(e) = pwm.stop() {
        eprintln!("stop: {e}");
        std::process::exit(1);
    }
    let log = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let rises: Vec<Instant> = log.iter().filter(|e| e.1).map(|e| e.0).collect();
    let mut pulse_err = Vec::new();
    for w in log.windows(2) {
        if w[0].1 && !w[1].1 {
            let width = w[1].0.duration_since(w[0].0).as_secs_f64() * 1e6;
            pulse_err.push((width - f64::from(pulse_us)).abs());
        }
    }
    let mut period_err: Vec<f64> = rises
        .windows(2)
        .map(|w| (w[1].duration_since(w[0]).as_secs_f64() * 1e6 - f64::from(period_us)).abs())
        .collect();
    pulse_err.sort_by(f64::total_cmp);
    period_err.sort_by(f64::total_cmp);
    println!(
        "softpwm: {} pulses of {pulse_us} µs every {period_us} µs in {seconds} s (expected {})",
        pulse_err.len(),
        seconds * 1_000_000 / u64::from(period_us)
    );
    println!(
        "softpwm: pulse width error µs: median {:.0}, p90 {:.0}, p99 {:.0}, max {:.0} (0.09° per µs on a 180° servo)",
        percentile(&pulse_err, 0.5),
        percentile(&pulse_err, 0.9),
        percentile(&pulse_err, 0.99),
        pulse_err.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "softpwm: period error µs: median {:.0}, p99 {:.0}, max {:.0}",
        percentile(&period_err, 0.5),
        percentile(&period_err, 0.99),
        period_err.last().copied().unwrap_or(f64::NAN)
    );
}
