//! The IR remote: kernel input events in, [`Command`]s out.
//!
//! With `dtoverlay=gpio-ir`, the kernel's rc-core decodes the remote's
//! pulses (NEC, RC-5, …) and exposes an input device. For each received
//! frame it sends `EV_MSC/MSC_SCAN` with the protocol scancode; when a
//! keymap (`ir-keytable`) maps that scancode it also sends `EV_KEY` with
//! value 1 (press), 2 (autorepeat while held) and 0 (release); every report
//! ends with `EV_SYN`. Cheap remotes usually have no kernel keymap, so
//! buttons can be bound by key name (`KEY_POWER`), key code, or raw
//! scancode (`scan:0x45`).
//!
//! [`IrDecoder`] is pure and tested on recorded event sequences:
//! - a key fires on press (value 1); autorepeat (2) and release (0) never
//!   fire, so holding "arm" arms once;
//! - a second press of the same key within `debounce_ms` is a bounce;
//! - a scancode fires when it differs from the previous frame's, or when
//!   more than `scan_repeat_ms` have passed since that frame (a held NEC
//!   button resends every ~110 ms);
//! - one report fires at most one command, so a button bound both by name
//!   and by scancode does not act twice.

use std::fmt;
use std::str::FromStr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use vigia_base::{Command, CommandSource, Shutdown};

use crate::HwError;

pub const EV_SYN: u16 = 0x00;
pub const EV_KEY: u16 = 0x01;
pub const EV_MSC: u16 = 0x04;
pub const MSC_SCAN: u16 = 0x04;

/// One input event as the kernel delivers it (time converted to ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawInputEvent {
    pub at_ms: i64,
    pub kind: u16,
    pub code: u16,
    pub value: i32,
}

/// How a button is named in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IrKey {
    /// A Linux key code (`KEY_*`), from the kernel keymap.
    Key(u16),
    /// A raw rc-core scancode.
    Scan(u32),
}

impl FromStr for IrKey {
    type Err = HwError;

    /// `KEY_POWER`, `BTN_0`, a number (`352`, `0x160`: key code) or
    /// `scan:0x45` / `scan:69` (scancode).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            HwError::invalid(
                "IR key",
                format!("{s:?} is not a KEY_* name, a key code, or scan:<number>"),
            )
        };
        let num = |t: &str| -> Option<u64> {
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => t.parse().ok(),
            }
        };
        if let Some(rest) = s.strip_prefix("scan:") {
            let v = num(rest.trim()).ok_or_else(bad)?;
            return u32::try_from(v).map(IrKey::Scan).map_err(|_| bad());
        }
        if let Some(v) = num(s) {
            // KEY_MAX is 0x2ff.
            return match u16::try_from(v) {
                Ok(c) if c <= 0x2ff => Ok(IrKey::Key(c)),
                _ => Err(bad()),
            };
        }
        evdev::KeyCode::from_str(s)
            .map(|k| IrKey::Key(k.code()))
            .map_err(|_| bad())
    }
}

impl fmt::Display for IrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IrKey::Key(c) => {
                let name = format!("{:?}", evdev::KeyCode::new(*c));
                if name.starts_with("unknown") {
                    write!(f, "{c:#x}")
                } else {
                    f.write_str(&name)
                }
            }
            IrKey::Scan(s) => write!(f, "scan:{s:#x}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IrParams {
    /// Button → command, from the config.
    pub keys: Vec<(IrKey, Command)>,
    pub debounce_ms: i64,
    pub scan_repeat_ms: i64,
}

impl Default for IrParams {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            debounce_ms: 300,
            scan_repeat_ms: 250,
        }
    }
}

impl IrParams {
    pub fn validate(&self) -> Result<(), HwError> {
        for (i, (k, _)) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|(k2, _)| k2 == k) {
                return Err(HwError::invalid("IR keys", format!("{k} is bound twice")));
            }
        }
        if !(0..=10_000).contains(&self.debounce_ms) || !(0..=10_000).contains(&self.scan_repeat_ms)
        {
            return Err(HwError::invalid(
                "IR timings",
                "debounce and scan repeat must be within 0..=10 s",
            ));
        }
        Ok(())
    }

    fn lookup(&self, key: IrKey) -> Option<&Command> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, c)| c)
    }
}

/// A button press that maps to a command.
#[derive(Debug, Clone, PartialEq)]
pub struct IrPress {
    pub at_ms: i64,
    pub key: IrKey,
    pub command: Command,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct IrDecoder {
    params: IrParams,
    last_key: Option<(u16, i64)>,
    last_scan: Option<(u32, i64)>,
    fired_in_report: bool,
}

impl IrDecoder {
    pub fn new(params: IrParams) -> Self {
        Self {
            params,
            last_key: None,
            last_scan: None,
            fired_in_report: false,
        }
    }

    pub fn feed(&mut self, ev: RawInputEvent) -> Option<IrPress> {
        match (ev.kind, ev.code) {
            (EV_SYN, _) => {
                self.fired_in_report = false;
                None
            }
            (EV_KEY, code) if ev.value == 1 => {
                let bounce = self
                    .last_key
                    .is_some_and(|(c, t)| c == code && ev.at_ms - t < self.params.debounce_ms);
                self.last_key = Some((code, ev.at_ms));
                if bounce {
                    return None;
                }
                self.fire(IrKey::Key(code), ev.at_ms)
            }
            (EV_MSC, MSC_SCAN) => {
                let scan = ev.value as u32;
                let repeat = self
                    .last_scan
                    .is_some_and(|(s, t)| s == scan && ev.at_ms - t <= self.params.scan_repeat_ms);
                self.last_scan = Some((scan, ev.at_ms));
                if repeat {
                    return None;
                }
                self.fire(IrKey::Scan(scan), ev.at_ms)
            }
            _ => None,
        }
    }

    fn fire(&mut self, key: IrKey, at_ms: i64) -> Option<IrPress> {
        if self.fired_in_report {
            return None;
        }
        let command = self.params.lookup(key)?.clone();
        self.fired_in_report = true;
        Some(IrPress {
            at_ms,
            key,
            command,
        })
    }
}

/// A source of input events (an evdev device, or a simulation).
pub trait IrInput: Send {
    /// Waits up to `timeout` for events; returns those available (maybe none).
    fn wait_events(&mut self, timeout: Duration) -> Result<Vec<RawInputEvent>, HwError>;
}

/// An IR receiver driven through a [`SimulatedIrHandle`].
#[derive(Debug)]
pub struct SimulatedIr {
    rx: std_mpsc::Receiver<RawInputEvent>,
}

#[derive(Debug, Clone)]
pub struct SimulatedIrHandle {
    tx: std_mpsc::Sender<RawInputEvent>,
}

impl SimulatedIr {
    pub fn new() -> (Self, SimulatedIrHandle) {
        let (tx, rx) = std_mpsc::channel();
        (Self { rx }, SimulatedIrHandle { tx })
    }
}

impl SimulatedIrHandle {
    pub fn send(&self, ev: RawInputEvent) -> bool {
        self.tx.send(ev).is_ok()
    }

    /// A full press-and-release of a mapped key at `at_ms`, as rc-core
    /// reports it (scancode, key down, sync; key up, sync).
    pub fn press(&self, at_ms: i64, key_code: u16, scancode: u32) -> bool {
        let ev = |at_ms, kind, code, value| RawInputEvent {
            at_ms,
            kind,
            code,
            value,
        };
        [
            ev(at_ms, EV_MSC, MSC_SCAN, scancode as i32),
            ev(at_ms, EV_KEY, key_code, 1),
            ev(at_ms, EV_SYN, 0, 0),
            ev(at_ms + 120, EV_KEY, key_code, 0),
            ev(at_ms + 120, EV_SYN, 0, 0),
        ]
        .into_iter()
        .all(|e| self.send(e))
    }
}

impl IrInput for SimulatedIr {
    fn wait_events(&mut self, timeout: Duration) -> Result<Vec<RawInputEvent>, HwError> {
        let first = match self.rx.recv_timeout(timeout) {
            Ok(e) => e,
            Err(std_mpsc::RecvTimeoutError::Timeout) => return Ok(Vec::new()),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                return Err(HwError::SimulationEnded { device: "ir" })
            }
        };
        let mut out = vec![first];
        out.extend(self.rx.try_iter());
        Ok(out)
    }
}

/// Reads `input` on its own thread and sends each mapped press as a
/// command from [`CommandSource::IrRemote`]. Ends on shutdown, when the
/// receiver is dropped, or on an input error (returned).
pub fn spawn_ir_monitor(
    mut input: Box<dyn IrInput>,
    params: IrParams,
    shutdown: Shutdown,
    tx: tokio::sync::mpsc::Sender<(Command, CommandSource)>,
) -> std::io::Result<std::thread::JoinHandle<Result<(), HwError>>> {
    std::thread::Builder::new()
        .name("vigia-ir".into())
        .spawn(move || {
            let mut decoder = IrDecoder::new(params);
            while !shutdown.is_triggered() {
                for ev in input.wait_events(Duration::from_millis(200))? {
                    if let Some(press) = decoder.feed(ev) {
                        tracing::info!(key = %press.key, command = %press.command, "IR remote");
                        if tx
                            .blocking_send((press.command, CommandSource::IrRemote))
                            .is_err()
                        {
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_ms: i64, kind: u16, code: u16, value: i32) -> RawInputEvent {
        RawInputEvent {
            at_ms,
            kind,
            code,
            value,
        }
    }

    const KEY_1: u16 = 2;
    const KEY_POWER: u16 = 116;
    const KEY_OK: u16 = 0x160;

    fn params() -> IrParams {
        IrParams {
            keys: vec![
                ("KEY_1".parse().expect("key"), Command::Arm),
                ("KEY_POWER".parse().expect("key"), Command::Disarm),
                ("0x160".parse().expect("key"), Command::SirenOff),
                ("scan:0x45".parse().expect("key"), Command::Snapshot),
                (
                    "scan:0x46".parse().expect("key"),
                    Command::ServoPreset {
                        name: "door".into(),
                    },
                ),
            ],
            ..Default::default()
        }
    }

    fn decode(events: &[RawInputEvent]) -> Vec<(i64, Command)> {
        let mut d = IrDecoder::new(params());
        events
            .iter()
            .filter_map(|&e| d.feed(e))
            .map(|p| (p.at_ms, p.command))
            .collect()
    }

    #[test]
    fn key_names_codes_and_scancodes_parse() {
        assert_eq!("KEY_1".parse::<IrKey>().expect("k"), IrKey::Key(KEY_1));
        assert_eq!("KEY_OK".parse::<IrKey>().expect("k"), IrKey::Key(KEY_OK));
        assert_eq!("352".parse::<IrKey>().expect("k"), IrKey::Key(KEY_OK));
        assert_eq!("scan:0x45".parse::<IrKey>().expect("k"), IrKey::Scan(0x45));
        assert_eq!("scan:69".parse::<IrKey>().expect("k"), IrKey::Scan(0x45));
        for bad in ["KEY_FOOBAR", "0x1000", "scan:", "scan:-1", "key_1", ""] {
            assert!(bad.parse::<IrKey>().is_err(), "{bad}");
        }
        assert_eq!(IrKey::Key(KEY_POWER).to_string(), "KEY_POWER");
        assert_eq!(IrKey::Scan(0x45).to_string(), "scan:0x45");
    }

    /// Recorded from rc-core's report order for a keymapped NEC remote:
    /// press "1", hold it (autorepeat 2s), release; then POWER.
    #[test]
    fn press_fires_once_and_autorepeat_and_release_do_not() {
        let events = [
            ev(1_000, EV_MSC, MSC_SCAN, 0x16),
            ev(1_000, EV_KEY, KEY_1, 1),
            ev(1_000, EV_SYN, 0, 0),
            ev(1_110, EV_MSC, MSC_SCAN, 0x16),
            ev(1_110, EV_SYN, 0, 0),
            ev(1_500, EV_KEY, KEY_1, 2),
            ev(1_500, EV_SYN, 0, 0),
            ev(1_533, EV_KEY, KEY_1, 2),
            ev(1_533, EV_SYN, 0, 0),
            ev(1_700, EV_KEY, KEY_1, 0),
            ev(1_700, EV_SYN, 0, 0),
            ev(3_000, EV_MSC, MSC_SCAN, 0x0c),
            ev(3_000, EV_KEY, KEY_POWER, 1),
            ev(3_000, EV_SYN, 0, 0),
            ev(3_120, EV_KEY, KEY_POWER, 0),
            ev(3_120, EV_SYN, 0, 0),
        ];
        assert_eq!(
            decode(&events),
            [(1_000, Command::Arm), (3_000, Command::Disarm)]
        );
    }

    #[test]
    fn a_bounced_second_press_is_ignored_but_a_later_one_counts() {
        let events = [
            ev(1_000, EV_KEY, KEY_OK, 1),
            ev(1_000, EV_SYN, 0, 0),
            ev(1_050, EV_KEY, KEY_OK, 0),
            ev(1_050, EV_SYN, 0, 0),
            ev(1_150, EV_KEY, KEY_OK, 1),
            ev(1_150, EV_SYN, 0, 0),
            ev(1_200, EV_KEY, KEY_OK, 0),
            ev(1_200, EV_SYN, 0, 0),
            ev(2_000, EV_KEY, KEY_OK, 1),
            ev(2_000, EV_SYN, 0, 0),
        ];
        assert_eq!(
            decode(&events),
            [(1_000, Command::SirenOff), (2_000, Command::SirenOff)]
        );
    }

    /// No kernel keymap: only scancodes, resent every 110 ms while held.
    #[test]
    fn scancodes_fire_once_per_press_while_held() {
        let mut events = Vec::new();
        for t in (0..600).step_by(110) {
            events.push(ev(5_000 + t, EV_MSC, MSC_SCAN, 0x45));
            events.push(ev(5_000 + t, EV_SYN, 0, 0));
        }
        // Released; pressed again 400 ms later; then another button.
        events.push(ev(6_000, EV_MSC, MSC_SCAN, 0x45));
        events.push(ev(6_000, EV_SYN, 0, 0));
        events.push(ev(6_100, EV_MSC, MSC_SCAN, 0x46));
        events.push(ev(6_100, EV_SYN, 0, 0));
        events.push(ev(6_200, EV_MSC, MSC_SCAN, 0x99));
        events.push(ev(6_200, EV_SYN, 0, 0));
        assert_eq!(
            decode(&events),
            [
                (5_000, Command::Snapshot),
                (6_000, Command::Snapshot),
                (
                    6_100,
                    Command::ServoPreset {
                        name: "door".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn a_button_bound_by_name_and_scancode_acts_once() {
        let mut p = params();
        p.keys.push((IrKey::Scan(0x16), Command::Arm));
        let mut d = IrDecoder::new(p);
        let fired: Vec<_> = [
            ev(0, EV_MSC, MSC_SCAN, 0x16),
            ev(0, EV_KEY, KEY_1, 1),
            ev(0, EV_SYN, 0, 0),
        ]
        .into_iter()
        .filter_map(|e| d.feed(e))
        .collect();
        assert_eq!(fired.len(), 1, "{fired:?}");
    }

    #[test]
    fn duplicate_bindings_are_refused() {
        let mut p = params();
        p.keys.push((IrKey::Key(KEY_1), Command::Status));
        let e = p.validate().expect_err("KEY_1 twice");
        assert!(e.to_string().contains("KEY_1"), "{e}");
    }

    #[test]
    fn monitor_sends_commands_from_the_remote() {
        let (ir, handle) = SimulatedIr::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let shutdown = Shutdown::new();
        let t = spawn_ir_monitor(Box::new(ir), params(), shutdown.clone(), tx).expect("spawn");
        assert!(handle.press(10_000, KEY_POWER, 0x0c));
        assert_eq!(
            rx.blocking_recv(),
            Some((Command::Disarm, CommandSource::IrRemote))
        );
        shutdown.trigger();
        t.join().expect("join").expect("clean");
    }
}
