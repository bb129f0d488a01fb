//! The one error type of vigia-hw. Every variant names the device (chip
//! path and line, sysfs path, input device) so a log line alone says which
//! wire to check.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HwError {
    #[error("GPIO {chip}:{line}: {source}")]
    Gpio {
        chip: PathBuf,
        line: u32,
        #[source]
        source: gpiocdev::Error,
    },
    #[error("PWM {path}: {source}")]
    Pwm {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("PWM {path}: the kernel did not create it within {waited_ms} ms of the export")]
    PwmExportTimeout { path: PathBuf, waited_ms: u64 },
    #[error("input device {path}: {source}")]
    Input {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("input device {path} does not exist (is the gpio-ir overlay loaded? see `ls /dev/input/by-path/`)")]
    InputMissing { path: PathBuf },
    #[error("{device}: the simulated device's controlling handle was dropped")]
    SimulationEnded { device: &'static str },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("unknown servo preset {0:?}")]
    UnknownPreset(String),
}

impl HwError {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }
}
