//! The labelling rule: an event is a `person` event once the person score
//! reached the threshold on `n` of the last `m` detections.
//!
//! One confident frame is not enough (a dog's silhouette or a coat on a
//! hook can fool the model once), and demanding every frame would lose a
//! person half hidden by a hedge. The decision latches for the event: a
//! person who walks out of view does not turn the event back into motion.

/// `n` of the last `m` detections at or above `threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoteRule {
    pub threshold: f32,
    pub n: u32,
    pub m: u32,
}

impl Default for VoteRule {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            n: 2,
            m: 3,
        }
    }
}

/// The rule's state over one event.
#[derive(Debug, Clone)]
pub struct PersonVote {
    rule: VoteRule,
    /// Last `m` outcomes as bits, newest in bit 0.
    window: u64,
    seen: u32,
    person: bool,
    best: f32,
    detections: u32,
}

impl PersonVote {
    /// `m` is capped at 64 (the window is a bit set); `n` at `m`.
    pub fn new(rule: VoteRule) -> Self {
        let m = rule.m.clamp(1, 64);
        Self {
            rule: VoteRule {
                m,
                n: rule.n.clamp(1, m),
                ..rule
            },
            window: 0,
            seen: 0,
            person: false,
            best: 0.0,
            detections: 0,
        }
    }

    /// Adds one detection's person score; returns true on the detection
    /// that makes the event a person event (only once).
    pub fn push(&mut self, score: f32) -> bool {
        self.detections += 1;
        if score > self.best {
            self.best = score;
        }
        let mask = if self.rule.m == 64 {
            u64::MAX
        } else {
            (1u64 << self.rule.m) - 1
        };
        self.window = ((self.window << 1) | u64::from(score >= self.rule.threshold)) & mask;
        self.seen = (self.seen + 1).min(self.rule.m);
        if !self.person && self.window.count_ones() >= self.rule.n {
            self.person = true;
            return true;
        }
        false
    }

    pub fn is_person(&self) -> bool {
        self.person
    }

    /// Highest person score so far (0 before any detection).
    pub fn best(&self) -> f32 {
        self.best
    }

    pub fn detections(&self) -> u32 {
        self.detections
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(n: u32, m: u32) -> VoteRule {
        VoteRule {
            threshold: 0.5,
            n,
            m,
        }
    }

    #[test]
    fn two_of_three_needs_two_hits_within_three() {
        let mut v = PersonVote::new(rule(2, 3));
        assert!(!v.push(0.9));
        assert!(!v.push(0.1));
        assert!(
            !v.push(0.2),
            "the first hit is 3 back now; only one in the window"
        );
        assert!(!v.push(0.8), "window 0.1, 0.2, 0.8: one hit");
        assert!(v.push(0.7), "0.2, 0.8, 0.7: two hits");
        assert!(v.is_person());
    }

    #[test]
    fn the_decision_latches_and_fires_once() {
        let mut v = PersonVote::new(rule(1, 1));
        assert!(v.push(0.6));
        assert!(!v.push(0.9), "already a person: no second firing");
        assert!(!v.push(0.0));
        assert!(v.is_person());
        assert!((v.best() - 0.9).abs() < 1e-6);
        assert_eq!(v.detections(), 3);
    }

    #[test]
    fn scores_below_threshold_never_make_a_person() {
        let mut v = PersonVote::new(rule(2, 3));
        for _ in 0..100 {
            assert!(!v.push(0.49));
        }
        assert!(!v.is_person());
    }

    #[test]
    fn out_of_range_rules_are_clamped() {
        let mut v = PersonVote::new(rule(10, 200));
        for _ in 0..9 {
            assert!(!v.push(1.0));
        }
        assert!(v.push(1.0), "n = 10 of m = 64");
        let mut z = PersonVote::new(rule(0, 0));
        assert!(z.push(0.5), "n and m at least 1");
    }
}
