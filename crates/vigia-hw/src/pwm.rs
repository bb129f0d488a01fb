//! Servo pulses from the kernel's PWM sysfs interface
//! (`/sys/class/pwm/pwmchipN`), the hardware PWM of a Raspberry Pi
//! (`dtoverlay=pwm` or `pwm-2chan`).
//!
//! The kernel contract (Documentation/driver-api/pwm.rst):
//! - writing the channel number to `pwmchipN/export` makes the kernel
//!   create `pwmchipN/pwmM/`; udev may take a moment to make its files
//!   writable, so we wait for it;
//! - `period` and `duty_cycle` are in nanoseconds and the kernel refuses a
//!   duty cycle longer than the period, so the order of writes matters:
//!   duty 0 first (always valid), then the period, then the duty;
//! - `enable` is `1` or `0`.
//!
//! The root is configurable so tests run against a temporary directory
//! laid out like sysfs, with a thread playing the kernel's part for
//! `export`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::servo::ServoDriver;
use crate::HwError;

/// One PWM channel, exported and configured with a fixed period.
#[derive(Debug)]
pub struct SysfsPwm {
    dir: PathBuf,
    period_ns: u64,
    enabled: bool,
}

fn write_attr(path: &Path, value: &str) -> Result<(), HwError> {
    let io = |source| HwError::Pwm {
        path: path.to_owned(),
        source,
    };
    // sysfs attributes take one write of the whole value; no create, no
    // truncate semantics needed, but a regular file in tests needs
    // truncation to hold only the last value.
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(io)?;
    f.write_all(value.as_bytes()).map_err(io)
}

impl SysfsPwm {
    /// Exports channel `channel` of `root/pwmchip<chip>` if needed and sets
    /// its period. `root` is `/sys/class/pwm` on a real system.
    pub fn open(
        root: &Path,
        chip: u32,
        channel: u32,
        period_us: u32,
        export_timeout: Duration,
    ) -> Result<Self, HwError> {
        let chip_dir = root.join(format!("pwmchip{chip}"));
        if !chip_dir.is_dir() {
            return Err(HwError::Pwm {
                path: chip_dir,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such PWM chip (is the pwm overlay enabled in config.txt?)",
                ),
            });
        }
        let dir = chip_dir.join(format!("pwm{channel}"));
        if !dir.is_dir() {
            write_attr(&chip_dir.join("export"), &channel.to_string())?;
            wait_for_channel(&dir, export_timeout)?;
        }
        let mut pwm = Self {
            dir,
            period_ns: u64::from(period_us) * 1_000,
            enabled: false,
        };
        pwm.write("duty_cycle", "0")?;
        let period = pwm.period_ns.to_string();
        pwm.write("period", &period)?;
        Ok(pwm)
    }

    /// The channel's directory (`…/pwmchipN/pwmM`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn write(&mut self, attr: &str, value: &str) -> Result<(), HwError> {
        write_attr(&self.dir.join(attr), value)
    }
}

/// Waits until the kernel (and udev) have created the channel's attribute
/// files and made them writable.
fn wait_for_channel(dir: &Path, timeout: Duration) -> Result<(), HwError> {
    let deadline = Instant::now() + timeout;
    let ready = || {
        ["period", "duty_cycle", "enable"]
            .iter()
            .all(|a| OpenOptions::new().write(true).open(dir.join(a)).is_ok())
    };
    loop {
        if ready() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(HwError::PwmExportTimeout {
                path: dir.to_owned(),
                waited_ms: timeout.as_millis() as u64,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl ServoDriver for SysfsPwm {
    fn set_pulse_us(&mut self, pulse_us: u32) -> Result<(), HwError> {
        let duty = (u64::from(pulse_us) * 1_000).min(self.period_ns);
        self.write("duty_cycle", &duty.to_string())?;
        if !self.enabled {
            self.write("enable", "1")?;
            self.enabled = true;
        }
        Ok(())
    }

    fn disable(&mut self) -> Result<(), HwError> {
        self.write("enable", "0")?;
        self.enabled = false;
        Ok(())
    }
}

impl Drop for SysfsPwm {
    fn drop(&mut self) {
        // Leave the servo limp rather than holding (and buzzing) forever.
        if self.enabled {
            let _ = self.write("enable", "0");
        }
    }
}

/// Removes the channel again (`unexport`); for tidy shutdown or tests.
pub fn unexport(root: &Path, chip: u32, channel: u32) -> Result<(), HwError> {
    write_attr(
        &root.join(format!("pwmchip{chip}")).join("unexport"),
        &channel.to_string(),
    )
}

/// Reads an attribute back (what the kernel holds), trimmed.
pub fn read_attr(path: &Path) -> Result<String, HwError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| HwError::Pwm {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servo::{Servo, ServoParams};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A fake sysfs PWM chip: `pwmchip0/{export,unexport,npwm}`, and a
    /// thread that does what the kernel does on export: create `pwmN/` with
    /// its attributes (after a delay, as udev's chmod can lag).
    struct FakeSysfs {
        root: tempfile::TempDir,
        stop: Arc<AtomicBool>,
        kernel: Option<std::thread::JoinHandle<()>>,
    }

    impl FakeSysfs {
        fn new(export_delay: Duration) -> Self {
            let root = tempfile::tempdir().expect("tempdir");
            let chip = root.path().join("pwmchip0");
            fs::create_dir(&chip).expect("mkdir");
            for (f, v) in [("export", ""), ("unexport", ""), ("npwm", "2\n")] {
                fs::write(chip.join(f), v).expect("write");
            }
            let stop = Arc::new(AtomicBool::new(false));
            let (stop2, chip2) = (stop.clone(), chip.clone());
            let kernel = std::thread::spawn(move || {
                while !stop2.load(Ordering::SeqCst) {
                    let req = fs::read_to_string(chip2.join("export")).unwrap_or_default();
                    if let Ok(n) = req.trim().parse::<u32>() {
                        fs::write(chip2.join("export"), "").expect("consume export");
                        std::thread::sleep(export_delay);
                        let ch = chip2.join(format!("pwm{n}"));
                        fs::create_dir(&ch).expect("mkdir pwmN");
                        for (f, v) in [
                            ("period", "0\n"),
                            ("duty_cycle", "0\n"),
                            ("enable", "0\n"),
                            ("polarity", "normal\n"),
                        ] {
                            fs::write(ch.join(f), v).expect("attr");
                        }
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            });
            Self {
                root,
                stop,
                kernel: Some(kernel),
            }
        }

        fn attr(&self, rel: &str) -> String {
            read_attr(&self.root.path().join(rel)).expect("attr")
        }
    }

    impl Drop for FakeSysfs {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(k) = self.kernel.take() {
                let _ = k.join();
            }
        }
    }

    #[test]
    fn export_waits_for_the_channel_then_writes_period_duty_enable() {
        let fake = FakeSysfs::new(Duration::from_millis(30));
        let mut pwm =
            SysfsPwm::open(fake.root.path(), 0, 1, 20_000, Duration::from_secs(5)).expect("open");
        assert_eq!(pwm.dir(), fake.root.path().join("pwmchip0/pwm1"));
        assert_eq!(fake.attr("pwmchip0/pwm1/period"), "20000000");
        assert_eq!(fake.attr("pwmchip0/pwm1/duty_cycle"), "0");
        assert_eq!(fake.attr("pwmchip0/pwm1/enable"), "0");
        pwm.set_pulse_us(1_500).expect("pulse");
        assert_eq!(fake.attr("pwmchip0/pwm1/duty_cycle"), "1500000");
        assert_eq!(fake.attr("pwmchip0/pwm1/enable"), "1");
        pwm.disable().expect("disable");
        assert_eq!(fake.attr("pwmchip0/pwm1/enable"), "0");
    }

    #[test]
    fn already_exported_channel_is_reused_and_angles_become_duty_cycles() {
        let fake = FakeSysfs::new(Duration::ZERO);
        drop(SysfsPwm::open(fake.root.path(), 0, 0, 20_000, Duration::from_secs(5)).expect("1st"));
        fs::write(fake.root.path().join("pwmchip0/pwm0/duty_cycle"), "2400000").expect("stale");
        let pwm =
            SysfsPwm::open(fake.root.path(), 0, 0, 20_000, Duration::from_secs(5)).expect("reopen");
        assert_eq!(fake.attr("pwmchip0/export"), "", "no second export");
        assert_eq!(
            fake.attr("pwmchip0/pwm0/duty_cycle"),
            "0",
            "stale duty cleared first"
        );
        let mut servo = Servo::new(ServoParams::default(), Box::new(pwm), 0).expect("servo");
        assert_eq!(
            fake.attr("pwmchip0/pwm0/duty_cycle"),
            "1500000",
            "home = 90°"
        );
        servo
            .command(&vigia_base::Command::Servo { angle: 0.0 }, 0)
            .expect("cmd");
        assert_eq!(fake.attr("pwmchip0/pwm0/duty_cycle"), "500000");
        servo
            .command(&vigia_base::Command::Servo { angle: 180.0 }, 0)
            .expect("cmd");
        assert_eq!(fake.attr("pwmchip0/pwm0/duty_cycle"), "2500000");
        drop(servo);
        assert_eq!(fake.attr("pwmchip0/pwm0/enable"), "0", "limp on drop");
        unexport(fake.root.path(), 0, 0).expect("unexport");
        assert_eq!(fake.attr("pwmchip0/unexport"), "0");
    }

    #[test]
    fn missing_chip_and_export_timeout_are_named() {
        let fake = FakeSysfs::new(Duration::ZERO);
        let e = SysfsPwm::open(fake.root.path(), 3, 0, 20_000, Duration::from_millis(50))
            .expect_err("no chip 3");
        assert!(e.to_string().contains("pwmchip3"), "{e}");
        // A chip whose "kernel" never answers the export.
        let dead = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dead.path().join("pwmchip0")).expect("mkdir");
        fs::write(dead.path().join("pwmchip0/export"), "").expect("export");
        let e = SysfsPwm::open(dead.path(), 0, 0, 20_000, Duration::from_millis(50))
            .expect_err("timeout");
        assert!(matches!(e, HwError::PwmExportTimeout { .. }), "{e}");
        assert!(e.to_string().contains("pwmchip0/pwm0"), "{e}");
    }
}
