//! The node's hardware: a PIR motion sensor, a buzzer, a servo and an IR
//! remote receiver, each behind a small trait with a Linux backend and a
//! simulated one. No network, no async runtime of its own: blocking device
//! reads run on threads ([`pir::spawn_pir_monitor`], [`ir::spawn_ir_monitor`])
//! that hand results to tokio channels.
//!
//! Module map (pure logic ↔ device adapter):
//! - [`pir`] — edge debounce / HC-SR501 retrigger merging ([`PirDecoder`]),
//!   the [`PirInput`] trait, [`SimulatedPir`]; adapter: [`gpio::GpioPir`].
//! - [`buzzer`] — alarm patterns ([`PatternPlayer`], [`Buzzer`]) on a
//!   [`DigitalOutput`]; adapter: [`gpio::GpioOutput`].
//! - [`servo`] — angle ↔ pulse mapping and the aiming controller
//!   ([`ServoController`]); adapters: [`pwm::SysfsPwm`] (kernel PWM) and
//!   [`softpwm::SoftPwm`] (a thread toggling a GPIO line).
//! - [`ir`] — key map and press decoding ([`IrDecoder`]); adapter:
//!   [`ir_evdev::EvdevIr`].
//! - [`sim`] — recording outputs for tests and the demo.
//!
//! [`Hardware`] bundles whichever devices the config enables:
//! [`Hardware::open_real`] on a Pi, [`Hardware::simulated`] in tests and
//! `vigia demo`.

pub mod buzzer;
mod error;
pub mod gpio;
pub mod ir;
pub mod ir_evdev;
pub mod pir;
pub mod pwm;
pub mod servo;
pub mod sim;
pub mod softpwm;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vigia_base::Clock;

pub use buzzer::{Buzzer, BuzzerPattern, PatternPlayer};
pub use error::HwError;
pub use gpio::{DigitalOutput, LineAddress, LineBias};
pub use ir::{
    IrDecoder, IrInput, IrKey, IrParams, IrPress, RawInputEvent, SimulatedIr, SimulatedIrHandle,
};
pub use pir::{Edge, PirDecoder, PirEvent, PirInput, PirParams, SimulatedPir, SimulatedPirHandle};
pub use servo::{
    IdleMode, Servo, ServoActivity, ServoController, ServoDriver, ServoGeometry, ServoParams,
};
pub use sim::{OutputLog, ServoLog, SimulatedOutput, SimulatedServo};

/// `[pir]`: a PIR sensor on a GPIO input line.
#[derive(Debug, Clone, PartialEq)]
pub struct PirConfig {
    pub line: LineAddress,
    pub bias: LineBias,
    pub params: PirParams,
}

/// `[buzzer]`: a buzzer on a GPIO output line.
#[derive(Debug, Clone, PartialEq)]
pub struct BuzzerConfig {
    pub line: LineAddress,
    pub pattern: BuzzerPattern,
}

/// Where servo pulses come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ServoOutput {
    /// Kernel PWM: `root/pwmchip<chip>/pwm<channel>`.
    SysfsPwm {
        root: PathBuf,
        chip: u32,
        channel: u32,
    },
    /// A thread toggling a GPIO line.
    GpioSoftPwm { line: LineAddress },
}

/// `[servo]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServoConfig {
    pub output: ServoOutput,
    pub params: ServoParams,
}

/// `[ir]`: an IR receiver's input device and its key map.
#[derive(Debug, Clone, PartialEq)]
pub struct IrConfig {
    pub device: PathBuf,
    pub params: IrParams,
}

/// Every device section of the node config; `None` = not fitted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HardwareConfig {
    pub pir: Option<PirConfig>,
    pub buzzer: Option<BuzzerConfig>,
    pub servo: Option<ServoConfig>,
    pub ir: Option<IrConfig>,
}

/// How long to wait for the kernel to create an exported PWM channel.
const PWM_EXPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// The opened devices. Each field is `None` when its section is absent.
/// The node takes the parts it needs (`hw.pir.take()`, …).
#[derive(Default)]
pub struct Hardware {
    pub pir: Option<Box<dyn PirInput>>,
    pub buzzer: Option<Box<dyn DigitalOutput>>,
    pub servo: Option<Box<dyn ServoDriver>>,
    pub ir: Option<Box<dyn IrInput>>,
}

impl std::fmt::Debug for Hardware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hardware")
            .field("pir", &self.pir.is_some())
            .field("buzzer", &self.buzzer.is_some())
            .field("servo", &self.servo.is_some())
            .field("ir", &self.ir.is_some())
            .finish()
    }
}

/// Handles to drive and observe [`Hardware::simulated`] devices.
#[derive(Debug, Default)]
pub struct SimulatedHardware {
    pub pir: Option<SimulatedPirHandle>,
    pub buzzer: Option<OutputLog>,
    pub servo: Option<ServoLog>,
    pub ir: Option<SimulatedIrHandle>,
}

impl Hardware {
    /// Opens the real devices the config names. Fails on the first device
    /// that cannot be opened, naming it.
    pub fn open_real(cfg: &HardwareConfig) -> Result<Self, HwError> {
        let mut hw = Hardware::default();
        if let Some(p) = &cfg.pir {
            hw.pir = Some(Box::new(gpio::GpioPir::open(p.line.clone(), p.bias)?));
        }
        if let Some(b) = &cfg.buzzer {
            hw.buzzer = Some(Box::new(gpio::GpioOutput::open(b.line.clone())?));
        }
        if let Some(s) = &cfg.servo {
            let period = s.params.geometry.period_us;
            hw.servo = Some(match &s.output {
                ServoOutput::SysfsPwm {
                    root,
                    chip,
                    channel,
                } => Box::new(pwm::SysfsPwm::open(
                    root,
                    *chip,
                    *channel,
                    period,
                    PWM_EXPORT_TIMEOUT,
                )?),
                ServoOutput::GpioSoftPwm { line } => {
                    let out = gpio::GpioOutput::open(line.clone())?;
                    Box::new(softpwm::SoftPwm::start(Box::new(out), period).map_err(|e| {
                        HwError::invalid("software PWM", format!("cannot start its thread: {e}"))
                    })?)
                }
            });
        }
        if let Some(i) = &cfg.ir {
            hw.ir = Some(Box::new(ir_evdev::EvdevIr::open(&i.device)?));
        }
        Ok(hw)
    }

    /// Simulated stand-ins for exactly the devices the config enables.
    pub fn simulated(cfg: &HardwareConfig, clock: Arc<dyn Clock>) -> (Self, SimulatedHardware) {
        let mut hw = Hardware::default();
        let mut handles = SimulatedHardware::default();
        if cfg.pir.is_some() {
            let (p, h) = SimulatedPir::new();
            hw.pir = Some(Box::new(p));
            handles.pir = Some(h);
        }
        if cfg.buzzer.is_some() {
            let (o, log) = SimulatedOutput::new(clock.clone());
            hw.buzzer = Some(Box::new(o));
            handles.buzzer = Some(log);
        }
        if cfg.servo.is_some() {
            let (s, log) = SimulatedServo::new(clock);
            hw.servo = Some(Box::new(s));
            handles.servo = Some(log);
        }
        if cfg.ir.is_some() {
            let (i, h) = SimulatedIr::new();
            hw.ir = Some(Box::new(i));
            handles.ir = Some(h);
        }
        (hw, handles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_devices(chip: &str, pwm_root: PathBuf) -> HardwareConfig {
        let line = |n| LineAddress {
            chip: PathBuf::from(chip),
            line: n,
            active_low: false,
        };
        HardwareConfig {
            pir: Some(PirConfig {
                line: line(17),
                bias: LineBias::PullDown,
                params: PirParams::default(),
            }),
            buzzer: Some(BuzzerConfig {
                line: line(27),
                pattern: BuzzerPattern::default(),
            }),
            servo: Some(ServoConfig {
                output: ServoOutput::SysfsPwm {
                    root: pwm_root,
                    chip: 0,
                    channel: 0,
                },
                params: ServoParams::default(),
            }),
            ir: Some(IrConfig {
                device: PathBuf::from("/dev/input/vigia-test-no-ir"),
                params: IrParams::default(),
            }),
        }
    }

    #[test]
    fn absent_sections_open_nothing() {
        let hw = Hardware::open_real(&HardwareConfig::default()).expect("nothing to open");
        assert!(hw.pir.is_none() && hw.buzzer.is_none() && hw.servo.is_none() && hw.ir.is_none());
    }

    #[test]
    fn open_real_names_the_first_missing_device() {
        let cfg = all_devices("/dev/gpiochip-vigia-test", PathBuf::from("/nonexistent"));
        let e = Hardware::open_real(&cfg).expect_err("no GPIO here");
        assert!(e.to_string().contains("/dev/gpiochip-vigia-test:17"), "{e}");
        let only_ir = HardwareConfig {
            ir: cfg.ir.clone(),
            ..Default::default()
        };
        let e = Hardware::open_real(&only_ir).expect_err("no IR here");
        assert!(matches!(e, HwError::InputMissing { .. }), "{e}");
    }

    #[test]
    fn simulated_mirrors_the_config() {
        let clock: Arc<dyn Clock> = Arc::new(vigia_base::SimulatedClock::new(0));
        let cfg = all_devices("/dev/gpiochip0", PathBuf::from("/sys/class/pwm"));
        let (mut hw, h) = Hardware::simulated(&cfg, clock.clone());
        assert!(hw.pir.is_some() && hw.servo.is_some() && hw.ir.is_some());
        let log = h.buzzer.expect("buzzer log");
        hw.buzzer.as_mut().expect("buzzer").set(true).expect("set");
        assert!(log.level());
        let only_buzzer = HardwareConfig {
            buzzer: cfg.buzzer,
            ..Default::default()
        };
        let (hw, h) = Hardware::simulated(&only_buzzer, clock);
        assert!(hw.pir.is_none() && h.pir.is_none() && hw.buzzer.is_some());
    }
}
