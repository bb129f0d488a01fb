//! The IR receiver's input device (`/dev/input/eventN`, or better its
//! stable `/dev/input/by-path/platform-ir-receiver@…-event` link), read with
//! the `evdev` crate. The only module that touches evdev devices.
//!
//! Reads wait in `poll(2)` with a timeout so the reading thread notices
//! shutdown; events are converted to [`RawInputEvent`] for the pure decoder.
//! Not exercised against a device here (none exists, and no uinput):
//! opening a missing device is tested, reading only compiles.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::ir::{IrInput, RawInputEvent};
use crate::HwError;

pub struct EvdevIr {
    path: PathBuf,
    device: evdev::Device,
}

impl EvdevIr {
    pub fn open(path: &Path) -> Result<Self, HwError> {
        if !path.exists() {
            return Err(HwError::InputMissing {
                path: path.to_owned(),
            });
        }
        let device = evdev::Device::open(path).map_err(|source| HwError::Input {
            path: path.to_owned(),
            source,
        })?;
        tracing::info!(path = %path.display(), name = device.name().unwrap_or("?"), "IR receiver opened");
        Ok(Self {
            path: path.to_owned(),
            device,
        })
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> HwError + '_ {
        move |source| HwError::Input {
            path: self.path.clone(),
            source,
        }
    }
}

fn to_raw(ev: &evdev::InputEvent) -> RawInputEvent {
    let at_ms = match ev.timestamp().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    };
    RawInputEvent {
        at_ms,
        kind: ev.event_type().0,
        code: ev.code(),
        value: ev.value(),
    }
}

impl IrInput for EvdevIr {
    fn wait_events(&mut self, timeout: Duration) -> Result<Vec<RawInputEvent>, HwError> {
        let mut pfd = libc::pollfd {
            fd: self.device.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, owned by this frame, for the call's duration.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                return Ok(Vec::new());
            }
            return Err((self.io())(err));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err((self.io())(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "device went away",
            )));
        }
        let path = self.path.clone();
        let events = self
            .device
            .fetch_events()
            .map_err(|source| HwError::Input { path, source })?;
        Ok(events.map(|e| to_raw(&e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_says_what_to_check() {
        let e = EvdevIr::open(Path::new("/dev/input/by-path/vigia-test-no-ir-event"))
            .err()
            .expect("missing");
        let msg = e.to_string();
        assert!(msg.contains("vigia-test-no-ir-event"), "{msg}");
        assert!(msg.contains("gpio-ir"), "{msg}");
    }

    #[test]
    fn a_file_that_is_not_an_input_device_is_refused() {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        let e = EvdevIr::open(f.path()).err().expect("not evdev");
        assert!(matches!(e, HwError::Input { .. }), "{e}");
    }

    #[test]
    fn kernel_events_convert_with_their_timestamps() {
        let ev = evdev::InputEvent::new(1, 116, 1);
        let raw = to_raw(&ev);
        assert_eq!((raw.kind, raw.code, raw.value), (1, 116, 1));
    }
}
