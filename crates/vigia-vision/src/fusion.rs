//! Trigger fusion: PIR and software motion combined into the `motion` and
//! `trigger` flags the node's event machine takes for each frame.
//!
//! Pure and clock-free: PIR spans and frames arrive with their times.
//! The rule ([`TriggerRule`]) decides what starts an event; what keeps an
//! event going is deliberately looser than what starts it (either sensor
//! still seeing something extends it), so a person standing still in front
//! of the PIR, or walking out of its cone but still on camera, does not cut
//! the clip short.
//!
//! | rule | starts an event | keeps it going |
//! |---|---|---|
//! | `vision` | motion detector triggered | motion in the frame |
//! | `pir` | PIR active (or pulsed since the last frame) | PIR active |
//! | `pir_or_vision` | either of the above | either |
//! | `pir_and_vision` | vision triggered while PIR is active or ended at most `confirm_window_ms` ago | either |
//!
//! `pir_and_vision` is the false-alarm killer: the PIR ignores shadows,
//! rain and headlights that fool the camera, the camera ignores warm air
//! that fools the PIR. The window covers the HC-SR501's lag and a person
//! who trips the PIR first and walks into the picture a few seconds later.

use std::fmt;
use std::str::FromStr;

/// What has to fire for an event to start; see the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TriggerRule {
    Pir,
    /// The default: works on every node, with or without a PIR.
    #[default]
    Vision,
    PirAndVision,
    PirOrVision,
}

impl TriggerRule {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::Pir => "pir",
            TriggerRule::Vision => "vision",
            TriggerRule::PirAndVision => "pir_and_vision",
            TriggerRule::PirOrVision => "pir_or_vision",
        }
    }

    /// Whether the rule needs a PIR sensor.
    pub fn uses_pir(self) -> bool {
        self != TriggerRule::Vision
    }
}

impl fmt::Display for TriggerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trigger rule {0:?} (expected pir, vision, pir_and_vision or pir_or_vision)")]
pub struct TriggerRuleParseError(pub String);

impl FromStr for TriggerRule {
    type Err = TriggerRuleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pir" => Ok(TriggerRule::Pir),
            "vision" => Ok(TriggerRule::Vision),
            "pir_and_vision" => Ok(TriggerRule::PirAndVision),
            "pir_or_vision" => Ok(TriggerRule::PirOrVision),
            other => Err(TriggerRuleParseError(other.chars().take(64).collect())),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FusionParams {
    pub rule: TriggerRule,
    /// `pir_and_vision`: how long after the PIR goes quiet a vision trigger
    /// still counts as confirmed.
    pub confirm_window_ms: i64,
}

impl Default for FusionParams {
    fn default() -> Self {
        Self {
            rule: TriggerRule::default(),
            confirm_window_ms: 5_000,
        }
    }
}

/// One frame's verdict, for `EventMachine::on_frame`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fused {
    pub motion: bool,
    pub trigger: bool,
}

/// The fusion state: the PIR's span so far and the rule.
#[derive(Debug, Clone)]
pub struct TriggerFusion {
    params: FusionParams,
    pir_active: bool,
    /// End of the last PIR span (for the confirmation window).
    pir_last_end_ms: Option<i64>,
    /// A PIR span began since the last frame (it may already have ended:
    /// a short pulse between two frames still counts once).
    pir_pulse_pending: bool,
}

impl TriggerFusion {
    pub fn new(params: FusionParams) -> Self {
        Self {
            params,
            pir_active: false,
            pir_last_end_ms: None,
            pir_pulse_pending: false,
        }
    }

    pub fn params(&self) -> FusionParams {
        self.params
    }

    /// The PIR's motion span started (at `at_ms`).
    pub fn pir_start(&mut self, _at_ms: i64) {
        self.pir_active = true;
        self.pir_pulse_pending = true;
    }

    /// The PIR's motion span ended at `at_ms`.
    pub fn pir_end(&mut self, at_ms: i64) {
        self.pir_active = false;
        self.pir_last_end_ms = Some(at_ms);
    }

    /// PIR seen at `t_ms`: active now, pulsed since the last frame, or
    /// ended at most the confirmation window ago.
    fn pir_recent(&self, t_ms: i64) -> bool {
        self.pir_active
            || self.pir_pulse_pending
            || self
                .pir_last_end_ms
                .is_some_and(|e| t_ms - e <= self.params.confirm_window_ms)
    }

    /// Combines one analysed frame at `t_ms` with the PIR state.
    pub fn frame(&mut self, t_ms: i64, vision_motion: bool, vision_trigger: bool) -> Fused {
        let pir_now = self.pir_active || self.pir_pulse_pending;
        let fused = match self.params.rule {
            TriggerRule::Vision => Fused {
                motion: vision_motion,
                trigger: vision_trigger,
            },
            TriggerRule::Pir => Fused {
                motion: pir_now,
                trigger: pir_now,
            },
            TriggerRule::PirOrVision => Fused {
                motion: pir_now || vision_motion,
                trigger: pir_now || vision_trigger,
            },
            TriggerRule::PirAndVision => Fused {
                motion: pir_now || vision_motion,
                trigger: vision_trigger && self.pir_recent(t_ms),
            },
        };
        self.pir_pulse_pending = false;
        fused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fusion(rule: TriggerRule) -> TriggerFusion {
        TriggerFusion::new(FusionParams {
            rule,
            confirm_window_ms: 3_000,
        })
    }

    const NONE: Fused = Fused {
        motion: false,
        trigger: false,
    };
    const BOTH: Fused = Fused {
        motion: true,
        trigger: true,
    };

    #[test]
    fn rule_text_round_trips_and_defaults_to_vision() {
        for r in [
            TriggerRule::Pir,
            TriggerRule::Vision,
            TriggerRule::PirAndVision,
            TriggerRule::PirOrVision,
        ] {
            assert_eq!(r.to_string().parse::<TriggerRule>(), Ok(r));
        }
        assert_eq!(TriggerRule::default(), TriggerRule::Vision);
        assert!(!TriggerRule::Vision.uses_pir() && TriggerRule::Pir.uses_pir());
        assert!("pir_and".parse::<TriggerRule>().is_err());
    }

    #[test]
    fn vision_rule_ignores_the_pir() {
        let mut f = fusion(TriggerRule::Vision);
        f.pir_start(0);
        assert_eq!(f.frame(100, false, false), NONE);
        assert_eq!(
            f.frame(200, true, false),
            Fused {
                motion: true,
                trigger: false
            }
        );
        assert_eq!(f.frame(300, true, true), BOTH);
    }

    #[test]
    fn pir_rule_follows_the_pir_and_catches_short_pulses() {
        let mut f = fusion(TriggerRule::Pir);
        assert_eq!(
            f.frame(0, true, true),
            NONE,
            "camera motion alone is nothing"
        );
        f.pir_start(50);
        assert_eq!(f.frame(100, false, false), BOTH);
        f.pir_end(150);
        assert_eq!(f.frame(200, true, true), NONE);
        // Starts and ends between two frames.
        f.pir_start(210);
        f.pir_end(260);
        assert_eq!(f.frame(300, false, false), BOTH);
        assert_eq!(f.frame(400, false, false), NONE, "counted once");
    }

    #[test]
    fn pir_or_vision_takes_either() {
        let mut f = fusion(TriggerRule::PirOrVision);
        assert_eq!(f.frame(0, true, true), BOTH);
        assert_eq!(f.frame(100, false, false), NONE);
        f.pir_start(150);
        assert_eq!(f.frame(200, false, false), BOTH);
    }

    #[test]
    fn pir_and_vision_needs_both_within_the_window() {
        let mut f = fusion(TriggerRule::PirAndVision);
        assert_eq!(
            f.frame(0, true, true),
            Fused {
                motion: true,
                trigger: false
            },
            "vision alone: a shadow, no event"
        );
        f.pir_start(1_000);
        assert_eq!(
            f.frame(1_100, false, false),
            Fused {
                motion: true,
                trigger: false
            },
            "PIR alone: warm air, no event"
        );
        assert_eq!(f.frame(1_200, true, true), BOTH, "confirmed while active");
        f.pir_end(4_000);
        assert_eq!(
            f.frame(6_900, true, true),
            BOTH,
            "2.9 s after the PIR: in the window"
        );
        assert_eq!(
            f.frame(7_000, true, true),
            BOTH,
            "3.0 s: the window's edge counts"
        );
        assert_eq!(
            f.frame(7_100, true, true),
            Fused {
                motion: true,
                trigger: false
            },
            "3.1 s: too late"
        );
    }

    #[test]
    fn pir_then_vision_after_a_short_pulse_is_confirmed() {
        let mut f = fusion(TriggerRule::PirAndVision);
        f.pir_start(10_000);
        f.pir_end(10_300);
        assert!(!f.frame(10_400, false, false).trigger);
        assert!(f.frame(12_000, true, true).trigger);
    }
}
