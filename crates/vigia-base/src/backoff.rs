//! Exponential backoff with jitter for reconnecting to cameras and servers.
//!
//! Jitter keeps a fleet of nodes that lost the same server from reconnecting
//! in lockstep. The random source is a tiny xorshift seeded by the caller, so
//! tests are deterministic and this crate needs no RNG dependency.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
    attempts: u32,
    rng: u64,
}

impl Backoff {
    /// `initial` is the first delay; each failure doubles it up to `max`.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            current: initial,
            attempts: 0,
            rng: seed | 1,
        }
    }

    /// The delay to wait before the next attempt: the current step scaled by
    /// a random factor in [0.5, 1.0), then the step doubles.
    pub fn next_delay(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = 0.5 + (self.rng % 1000) as f64 / 2000.0;
        let delay = self.current.mul_f64(frac);
        self.current = (self.current * 2).min(self.max);
        self.attempts += 1;
        delay
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Call after a success: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.current = self.initial;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_max_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 7);
        let d: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] < Duration::from_millis(100));
        assert!(d[1] >= Duration::from_millis(100) && d[1] < Duration::from_millis(200));
        for x in &d[4..] {
            assert!(*x >= Duration::from_millis(500) && *x < Duration::from_secs(1));
        }
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert!(b.next_delay() < Duration::from_millis(100));
    }
}
