//! Wall-clock time behind a trait, so tests can run hours of footage in
//! milliseconds and assert on exact timestamps.
//!
//! Monotonic waiting (sleeps, timeouts) is tokio's job; tests pause tokio's
//! clock instead. This trait only answers "what UTC time is it", which is
//! what captures and manifests record.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Source of wall-clock time in milliseconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl Clock for RealClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now();
        match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            // A clock before 1970 is a broken RTC (common on a Pi without
            // network time); report it as negative rather than panicking.
            Err(e) => -(e.duration().as_millis() as i64),
        }
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct SimulatedClock {
    now_ms: Arc<AtomicI64>,
}

impl SimulatedClock {
    pub fn new(start_ms: i64) -> Self {
        Self {
            now_ms: Arc::new(AtomicI64::new(start_ms)),
        }
    }

    pub fn advance_ms(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set_ms(&self, ms: i64) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for SimulatedClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// Formats a UTC timestamp in ms as RFC 3339 with millisecond precision,
/// e.g. `2026-11-24T11:11:53.120Z`.
pub fn format_utc_ms(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let fmt = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            t.format(&fmt).unwrap_or_else(|_| ms.to_string())
        }
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_clones_share_time() {
        let c = SimulatedClock::new(1_000);
        let c2 = c.clone();
        c.advance_ms(250);
        assert_eq!(c2.now_ms(), 1_250);
        c2.set_ms(5);
        assert_eq!(c.now_ms(), 5);
    }

    #[test]
    fn formats_utc_with_millis() {
        assert_eq!(format_utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc_ms(1_795_000_313_120), "2026-11-18T11:11:53.120Z");
    }

    #[test]
    fn real_clock_is_after_2020() {
        assert!(RealClock.now_ms() > 1_577_836_800_000);
    }
}
