//! The node's hardware, arming and trigger sections: `[pir]`, `[buzzer]`,
//! `[servo]`, `[ir]`, `[arming]`, `[trigger]` — raw TOML structs with their
//! defaults, and their validation into vigia-hw's and vigia-vision's types.
//!
//! A hardware section that is absent means the device is not fitted; a
//! present one needs at least its line (or device). `[arming]` and
//! `[trigger]` always apply, with defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use vigia_base::Command;
use vigia_hw::{
    BuzzerConfig, BuzzerPattern, HardwareConfig, IdleMode, IrConfig, IrKey, IrParams, LineAddress,
    LineBias, PirConfig, PirParams, ServoConfig, ServoGeometry, ServoOutput, ServoParams,
};
use vigia_vision::{FusionParams, TriggerRule};

use crate::ConfigError;

const DEFAULT_CHIP: &str = "/dev/gpiochip0";

fn default_chip() -> String {
    DEFAULT_CHIP.into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPir {
    #[serde(default = "default_chip")]
    pub chip: String,
    /// Line offset on the chip (on a Pi: the BCM GPIO number). Required.
    pub line: u32,
    #[serde(default)]
    pub active_low: bool,
    /// `as_is` (default), `pull_up`, `pull_down`, `disabled`.
    #[serde(default = "RawPir::default_bias")]
    pub bias: String,
    #[serde(default = "RawPir::default_debounce_ms")]
    pub debounce_ms: u32,
    #[serde(default = "RawPir::default_retrigger_gap_s")]
    pub retrigger_gap_s: f32,
    #[serde(default = "RawPir::default_warmup_s")]
    pub warmup_s: f32,
}

impl RawPir {
    fn default_bias() -> String {
        "as_is".into()
    }
    fn default_debounce_ms() -> u32 {
        PirParams::default().debounce_ms as u32
    }
    fn default_retrigger_gap_s() -> f32 {
        PirParams::default().retrigger_gap_ms as f32 / 1000.0
    }
    fn default_warmup_s() -> f32 {
        PirParams::default().warmup_ms as f32 / 1000.0
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuzzer {
    #[serde(default = "default_chip")]
    pub chip: String,
    /// Required.
    pub line: u32,
    #[serde(default)]
    pub active_low: bool,
    /// Alternating on/off durations in ms. Default [200, 100, 200, 500].
    #[serde(default = "RawBuzzer::default_pattern")]
    pub pattern_ms: Vec<u32>,
    /// Loops of the pattern; 0 = until max_duration_s. Default 0.
    #[serde(default)]
    pub repeat: u32,
    /// One alarm never sounds longer than this. Default 60 s.
    #[serde(default = "RawBuzzer::default_max_s")]
    pub max_duration_s: f32,
}

impl RawBuzzer {
    fn default_pattern() -> Vec<u32> {
        BuzzerPattern::default().on_off_ms
    }
    fn default_max_s() -> f32 {
        BuzzerPattern::default().max_duration_ms as f32 / 1000.0
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPreset {
    pub name: String,
    pub angle: f32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServo {
    /// `pwm` (kernel sysfs PWM, default) or `gpio` (software PWM on a line).
    pub output: String,
    pub pwm_root: String,
    pub pwm_chip: u32,
    pub pwm_channel: u32,
    /// output = "gpio": the line.
    pub chip: String,
    pub line: Option<u32>,
    pub active_low: bool,
    pub min_angle: f32,
    pub max_angle: f32,
    pub min_pulse_us: u32,
    pub max_pulse_us: u32,
    pub period_us: u32,
    pub home: f32,
    /// `fixed` (default) or `patrol`.
    pub idle: String,
    pub track: bool,
    pub invert_track: bool,
    pub dead_band_deg: f32,
    pub max_step_deg: f32,
    pub patrol_dwell_s: f32,
    pub manual_hold_s: f32,
    pub presets: Vec<RawPreset>,
}

impl Default for RawServo {
    fn default() -> Self {
        let p = ServoParams::default();
        let g = p.geometry;
        Self {
            output: "pwm".into(),
            pwm_root: "/sys/class/pwm".into(),
            pwm_chip: 0,
            pwm_channel: 0,
            chip: DEFAULT_CHIP.into(),
            line: None,
            active_low: false,
            min_angle: g.min_deg,
            max_angle: g.max_deg,
            min_pulse_us: g.min_pulse_us,
            max_pulse_us: g.max_pulse_us,
            period_us: g.period_us,
            home: p.home_deg,
            idle: p.idle.to_string(),
            track: p.track,
            invert_track: p.invert_track,
            dead_band_deg: p.dead_band_deg,
            max_step_deg: p.max_step_deg,
            patrol_dwell_s: p.patrol_dwell_ms as f32 / 1000.0,
            manual_hold_s: p.manual_hold_ms as f32 / 1000.0,
            presets: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIr {
    /// The receiver's input device. Required.
    pub device: String,
    #[serde(default = "RawIr::default_debounce_ms")]
    pub debounce_ms: u32,
    #[serde(default = "RawIr::default_scan_repeat_ms")]
    pub scan_repeat_ms: u32,
    /// Button (`KEY_POWER`, `0x160`, `scan:0x45`) → command text (`arm`,
    /// `servo 90`, `preset door`, …).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
}

impl RawIr {
    fn default_debounce_ms() -> u32 {
        IrParams::default().debounce_ms as u32
    }
    fn default_scan_repeat_ms() -> u32 {
        IrParams::default().scan_repeat_ms as u32
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScheduleRange {
    /// `["mon-fri"]`, `["sat", "sun"]`; absent = every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// `HH:MM`; `to` before `from` runs past midnight into the next day.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawArming {
    /// State on the very first start; afterwards the persisted state wins.
    pub armed: bool,
    /// Fixed offset the schedule's times are in, `+HH:MM` / `-HH:MM`.
    pub utc_offset: String,
    /// Arming changes kept for status and the web UI.
    pub log_size: usize,
    pub schedule: Vec<RawScheduleRange>,
}

impl Default for RawArming {
    fn default() -> Self {
        let d = ArmingSettings::default();
        Self {
            armed: d.initial_armed,
            utc_offset: "+00:00".into(),
            log_size: d.log_size,
            schedule: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTrigger {
    pub rule: String,
    pub confirm_window_s: f32,
}

impl Default for RawTrigger {
    fn default() -> Self {
        let d = FusionParams::default();
        Self {
            rule: d.rule.to_string(),
            confirm_window_s: d.confirm_window_ms as f32 / 1000.0,
        }
    }
}

/// One weekly range in which the node is armed. Days are 0 = Monday …
/// 6 = Sunday; minutes count from midnight in the schedule's offset. A range
/// with `to_min <= from_min` ends on the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleRange {
    pub days: [bool; 7],
    pub from_min: u32,
    pub to_min: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmingSettings {
    pub initial_armed: bool,
    /// The schedule's fixed offset from UTC, minutes (no DST: a house in
    /// a DST zone sets the offset it wants, or uses UTC times).
    pub utc_offset_min: i32,
    pub log_size: usize,
    pub schedule: Vec<ScheduleRange>,
}

impl Default for ArmingSettings {
    fn default() -> Self {
        Self {
            initial_armed: false,
            utc_offset_min: 0,
            log_size: 100,
            schedule: Vec::new(),
        }
    }
}

fn secs_ms(key: &str, s: f32, max_s: f32) -> Result<i64, ConfigError> {
    if !s.is_finite() || s < 0.0 || s > max_s {
        return Err(ConfigError::invalid(
            key,
            format!("{s} s is outside 0..={max_s} s"),
        ));
    }
    Ok((f64::from(s) * 1000.0).round() as i64)
}

fn hw(key: &str) -> impl FnOnce(vigia_hw::HwError) -> ConfigError + '_ {
    move |e| ConfigError::invalid(key, e.to_string())
}

fn line_address(
    key: &str,
    chip: &str,
    line: u32,
    active_low: bool,
) -> Result<LineAddress, ConfigError> {
    if chip.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.chip"),
            "must not be empty",
        ));
    }
    Ok(LineAddress {
        chip: PathBuf::from(chip),
        line,
        active_low,
    })
}

pub(crate) fn validate_pir(r: &RawPir) -> Result<PirConfig, ConfigError> {
    let bias = match r.bias.as_str() {
        "as_is" => LineBias::AsIs,
        "pull_up" => LineBias::PullUp,
        "pull_down" => LineBias::PullDown,
        "disabled" => LineBias::Disabled,
        other => {
            return Err(ConfigError::invalid(
                "pir.bias",
                format!("{other:?} is not one of as_is, pull_up, pull_down, disabled"),
            ))
        }
    };
    let params = PirParams {
        debounce_ms: i64::from(r.debounce_ms),
        retrigger_gap_ms: secs_ms("pir.retrigger_gap_s", r.retrigger_gap_s, 600.0)?,
        warmup_ms: secs_ms("pir.warmup_s", r.warmup_s, 600.0)?,
    };
    params.validate().map_err(hw("pir.debounce_ms"))?;
    Ok(PirConfig {
        line: line_address("pir", &r.chip, r.line, r.active_low)?,
        bias,
        params,
    })
}

pub(crate) fn validate_buzzer(r: &RawBuzzer) -> Result<BuzzerConfig, ConfigError> {
    let pattern = BuzzerPattern {
        on_off_ms: r.pattern_ms.clone(),
        repeat: r.repeat,
        max_duration_ms: secs_ms("buzzer.max_duration_s", r.max_duration_s, 3_600.0)? as u32,
    };
    pattern.validate().map_err(hw("buzzer.pattern_ms"))?;
    Ok(BuzzerConfig {
        line: line_address("buzzer", &r.chip, r.line, r.active_low)?,
        pattern,
    })
}

pub(crate) fn validate_servo(r: &RawServo) -> Result<ServoConfig, ConfigError> {
    let output = match r.output.as_str() {
        "pwm" => ServoOutput::SysfsPwm {
            root: PathBuf::from(&r.pwm_root),
            chip: r.pwm_chip,
            channel: r.pwm_channel,
        },
        "gpio" => {
            let line = r.line.ok_or_else(|| {
                ConfigError::invalid("servo.line", "required for output = \"gpio\"")
            })?;
            ServoOutput::GpioSoftPwm {
                line: line_address("servo", &r.chip, line, r.active_low)?,
            }
        }
        other => {
            return Err(ConfigError::invalid(
                "servo.output",
                format!("{other:?} is not one of pwm, gpio"),
            ))
        }
    };
    let idle: IdleMode = r.idle.parse().map_err(hw("servo.idle"))?;
    let mut presets: Vec<(String, f32)> = Vec::new();
    for (i, p) in r.presets.iter().enumerate() {
        let key = format!("servo.presets[{i}].name");
        // The same rule as the `preset NAME` command, so every preset can
        // be called from every front end.
        let cmd = format!("preset {}", p.name);
        if cmd.parse::<Command>().is_err() {
            return Err(ConfigError::invalid(
                key,
                "use 1-32 of a-z, A-Z, 0-9, '-', '_'",
            ));
        }
        if presets.iter().any(|(n, _)| *n == p.name) {
            return Err(ConfigError::invalid(
                key,
                format!("{:?} is defined twice", p.name),
            ));
        }
        presets.push((p.name.clone(), p.angle));
    }
    let params = ServoParams {
        geometry: ServoGeometry {
            min_deg: r.min_angle,
            max_deg: r.max_angle,
            min_pulse_us: r.min_pulse_us,
            max_pulse_us: r.max_pulse_us,
            period_us: r.period_us,
        },
        home_deg: r.home,
        idle,
        track: r.track,
        invert_track: r.invert_track,
        dead_band_deg: r.dead_band_deg,
        max_step_deg: r.max_step_deg,
        presets,
        patrol_dwell_ms: secs_ms("servo.patrol_dwell_s", r.patrol_dwell_s, 86_400.0)?,
        manual_hold_ms: secs_ms("servo.manual_hold_s", r.manual_hold_s, 86_400.0)?,
    };
    params.validate().map_err(hw("servo"))?;
    Ok(ServoConfig { output, params })
}

pub(crate) fn validate_ir(r: &RawIr) -> Result<IrConfig, ConfigError> {
    if r.device.is_empty() {
        return Err(ConfigError::invalid("ir.device", "must not be empty"));
    }
    let mut keys = Vec::new();
    for (k, v) in &r.keys {
        let key: IrKey = k.parse().map_err(hw("ir.keys"))?;
        let cmd: Command = v.parse().map_err(|e: vigia_base::CommandParseError| {
            ConfigError::invalid(format!("ir.keys.{k}"), e.to_string())
        })?;
        keys.push((key, cmd));
    }
    let params = IrParams {
        keys,
        debounce_ms: i64::from(r.debounce_ms),
        scan_repeat_ms: i64::from(r.scan_repeat_ms),
    };
    params.validate().map_err(hw("ir.keys"))?;
    Ok(IrConfig {
        device: PathBuf::from(&r.device),
        params,
    })
}

/// All four device sections; absent ones stay `None`.
pub(crate) fn validate_hardware(
    pir: Option<&RawPir>,
    buzzer: Option<&RawBuzzer>,
    servo: Option<&RawServo>,
    ir: Option<&RawIr>,
) -> Result<HardwareConfig, ConfigError> {
    Ok(HardwareConfig {
        pir: pir.map(validate_pir).transpose()?,
        buzzer: buzzer.map(validate_buzzer).transpose()?,
        servo: servo.map(validate_servo).transpose()?,
        ir: ir.map(validate_ir).transpose()?,
    })
}

fn parse_hhmm(key: &str, s: &str) -> Result<u32, ConfigError> {
    let bad = || ConfigError::invalid(key, format!("{s:?} is not HH:MM (00:00..=24:00)"));
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_days(key: &str, items: &[String]) -> Result<[bool; 7], ConfigError> {
    if items.is_empty() {
        return Ok([true; 7]);
    }
    let idx = |d: &str| {
        DAYS.iter().position(|x| *x == d).ok_or_else(|| {
            ConfigError::invalid(
                key,
                format!("{d:?} is not a day (mon … sun, or a range like mon-fri)"),
            )
        })
    };
    let mut out = [false; 7];
    for item in items {
        let item = item.trim().to_ascii_lowercase();
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (idx(a)?, idx(b)?);
                // A range may wrap the week end (fri-mon).
                let mut d = a;
                loop {
                    out[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out[idx(&item)?] = true,
        }
    }
    Ok(out)
}

fn parse_offset(s: &str) -> Result<i32, ConfigError> {
    let bad = || {
        ConfigError::invalid(
            "arming.utc_offset",
            format!("{s:?} is not +HH:MM or -HH:MM"),
        )
    };
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let m = parse_hhmm("arming.utc_offset", rest).map_err(|_| bad())?;
    if m > 14 * 60 {
        return Err(bad());
    }
    Ok(sign * m as i32)
}

pub(crate) fn validate_arming(r: &RawArming) -> Result<ArmingSettings, ConfigError> {
    let mut schedule = Vec::new();
    for (i, s) in r.schedule.iter().enumerate() {
        let from_min = parse_hhmm(&format!("arming.schedule[{i}].from"), &s.from)?;
        let to_min = parse_hhmm(&format!("arming.schedule[{i}].to"), &s.to)?;
        if from_min == to_min {
            return Err(ConfigError::invalid(
                format!("arming.schedule[{i}].to"),
                "must differ from `from` (use 00:00 to 24:00 for a whole day)",
            ));
        }
        schedule.push(ScheduleRange {
            days: parse_days(&format!("arming.schedule[{i}].days"), &s.days)?,
            from_min,
            to_min,
        });
    }
    if !(1..=10_000).contains(&r.log_size) {
        return Err(ConfigError::invalid(
            "arming.log_size",
            "must be within 1..=10000",
        ));
    }
    Ok(ArmingSettings {
        initial_armed: r.armed,
        utc_offset_min: parse_offset(&r.utc_offset)?,
        log_size: r.log_size,
        schedule,
    })
}

pub(crate) fn validate_trigger(r: &RawTrigger, has_pir: bool) -> Result<FusionParams, ConfigError> {
    let rule: TriggerRule = r
        .rule
        .parse()
        .map_err(|e: vigia_vision::TriggerRuleParseError| {
            ConfigError::invalid("trigger.rule", e.to_string())
        })?;
    if rule.uses_pir() && !has_pir {
        return Err(ConfigError::invalid(
            "trigger.rule",
            format!("\"{rule}\" needs a [pir] section"),
        ));
    }
    Ok(FusionParams {
        rule,
        confirm_window_ms: secs_ms("trigger.confirm_window_s", r.confirm_window_s, 600.0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_node, NodeConfig};
    use std::path::Path;

    const HEAD: &str = "[node]\ncamera = \"p\"\ndata_dir = \"d\"\n";

    fn parse(body: &str) -> Result<NodeConfig, ConfigError> {
        parse_node(
            &format!("{HEAD}{body}"),
            Path::new("t.toml"),
            Path::new("/etc/vigia"),
        )
    }

    const EXAMPLE: &str = include_str!("../../../config/node.example.toml");

    /// The `# key = value` lines of the commented-out `# [name]` section of
    /// the example, uncommented (inline comments dropped).
    fn commented_section(name: &str) -> String {
        let header = format!("# [{name}]");
        let mut lines = EXAMPLE.lines().skip_while(|l| l.trim() != header).skip(1);
        let mut out = format!("[{name}]\n");
        for l in lines.by_ref() {
            let Some(rest) = l.strip_prefix("# ") else {
                break;
            };
            if rest.starts_with('[') {
                break;
            }
            let kv = rest.split(" #").next().unwrap_or(rest).trim();
            let key = kv.split(" = ").next().unwrap_or("");
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                out.push_str(kv);
                out.push('\n');
            }
        }
        out
    }

    /// The example shows each device's keys with their defaults; uncommented
    /// they must give exactly what the code defaults to.
    #[test]
    fn example_hardware_comments_match_the_defaults() {
        let pir = commented_section("pir");
        let buzzer = commented_section("buzzer");
        let servo = commented_section("servo");
        let ir = commented_section("ir");
        assert!(pir.matches(" = ").count() >= 7, "{pir}");
        assert!(servo.matches(" = ").count() >= 20, "{servo}");
        let c = parse(&format!("{pir}{buzzer}{servo}{ir}")).expect("uncommented hardware parses");
        let hw = c.hardware;
        let p = hw.pir.expect("pir");
        assert_eq!(p.params, PirParams::default());
        assert_eq!(
            (p.line.chip.to_str(), p.line.line, p.bias),
            (Some(DEFAULT_CHIP), 17, LineBias::AsIs)
        );
        let b = hw.buzzer.expect("buzzer");
        assert_eq!(b.pattern, BuzzerPattern::default());
        let s = hw.servo.expect("servo");
        assert_eq!(s.params, ServoParams::default());
        assert_eq!(
            s.output,
            ServoOutput::SysfsPwm {
                root: PathBuf::from("/sys/class/pwm"),
                chip: 0,
                channel: 0
            }
        );
        let i = hw.ir.expect("ir");
        assert_eq!(i.params, IrParams::default());
    }

    #[test]
    fn example_arming_and_trigger_are_the_defaults() {
        let c =
            parse_node(EXAMPLE, Path::new("ex.toml"), Path::new("/etc/vigia")).expect("example");
        assert_eq!(c.arming, ArmingSettings::default());
        assert_eq!(c.trigger, FusionParams::default());
        assert_eq!(
            c.hardware,
            HardwareConfig::default(),
            "no device fitted by default"
        );
        // The example's commented schedule and key map are valid too.
        let sched = "[arming]\n[[arming.schedule]]\ndays = [\"mon-fri\"]\nfrom = \"22:00\"\nto = \"07:00\"\n";
        let c = parse(sched).expect("schedule");
        assert_eq!(
            c.arming.schedule,
            [ScheduleRange {
                days: [true, true, true, true, true, false, false],
                from_min: 22 * 60,
                to_min: 7 * 60
            }]
        );
        let keys = "[ir]\ndevice = \"/dev/input/event0\"\n[ir.keys]\nKEY_1 = \"arm\"\nKEY_OK = \"siren_off\"\n\"scan:0x45\" = \"snapshot\"\n\"0x2\" = \"servo 45\"\n";
        let e = parse(keys).expect_err("KEY_1 and 0x2 are the same key");
        assert!(e.to_string().contains("bound twice"), "{e}");
        let keys = keys.replace("\"0x2\" = \"servo 45\"", "KEY_5 = \"preset door\"");
        let ir = parse(&keys).expect("keys").hardware.ir.expect("ir");
        assert_eq!(ir.params.keys.len(), 4);
        assert!(ir
            .params
            .keys
            .contains(&(IrKey::Scan(0x45), Command::Snapshot)));
    }

    #[test]
    fn hardware_errors_name_the_key() {
        let cases = [
            ("[pir]\nline = 4\nbias = \"up\"\n", "pir.bias"),
            ("[pir]\nline = 4\nwarmup_s = -1\n", "pir.warmup_s"),
            ("[pir]\n", "line"),
            (
                "[buzzer]\nline = 5\npattern_ms = [100]\n",
                "buzzer.pattern_ms",
            ),
            ("[servo]\noutput = \"gpio\"\n", "servo.line"),
            ("[servo]\noutput = \"i2c\"\n", "servo.output"),
            ("[servo]\nhome = 200.0\n", "servo"),
            ("[servo]\nidle = \"sweep\"\n", "servo.idle"),
            (
                "[[servo.presets]]\nname = \"../x\"\nangle = 1.0\n",
                "servo.presets[0].name",
            ),
            (
                "[ir]\ndevice = \"/dev/input/event0\"\n[ir.keys]\nKEY_NOPE = \"arm\"\n",
                "ir.keys",
            ),
            (
                "[ir]\ndevice = \"/dev/input/event0\"\n[ir.keys]\nKEY_1 = \"launch\"\n",
                "ir.keys.KEY_1",
            ),
            ("[trigger]\nrule = \"pir\"\n", "trigger.rule"),
            ("[trigger]\nrule = \"both\"\n", "trigger.rule"),
            ("[arming]\nutc_offset = \"CET\"\n", "arming.utc_offset"),
            (
                "[[arming.schedule]]\nfrom = \"25:00\"\nto = \"07:00\"\n",
                "arming.schedule[0].from",
            ),
            (
                "[[arming.schedule]]\ndays = [\"someday\"]\nfrom = \"20:00\"\nto = \"07:00\"\n",
                "arming.schedule[0].days",
            ),
            (
                "[[arming.schedule]]\nfrom = \"07:00\"\nto = \"07:00\"\n",
                "arming.schedule[0].to",
            ),
        ];
        for (body, key) in cases {
            let e = parse(body).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn pir_rules_accept_a_fitted_pir_and_gpio_servo_resolves() {
        let c = parse(
            "[pir]\nline = 4\n[trigger]\nrule = \"pir_and_vision\"\nconfirm_window_s = 2.5\n\
             [servo]\noutput = \"gpio\"\nline = 12\nidle = \"patrol\"\n\
             [[servo.presets]]\nname = \"door\"\nangle = 30.0\n[[servo.presets]]\nname = \"gate\"\nangle = 150.0\n\
             [arming]\nutc_offset = \"-03:30\"\n[[arming.schedule]]\ndays = [\"fri-mon\", \"wed\"]\nfrom = \"00:00\"\nto = \"24:00\"\n",
        )
        .expect("valid");
        assert_eq!(c.trigger.rule, TriggerRule::PirAndVision);
        assert_eq!(c.trigger.confirm_window_ms, 2_500);
        let s = c.hardware.servo.expect("servo");
        assert!(matches!(s.output, ServoOutput::GpioSoftPwm { ref line } if line.line == 12));
        assert_eq!(s.params.idle, IdleMode::Patrol);
        assert_eq!(s.params.presets.len(), 2);
        assert_eq!(c.arming.utc_offset_min, -210);
        assert_eq!(
            c.arming.schedule[0].days,
            [true, false, true, false, true, true, true]
        );
        assert_eq!(
            (c.arming.schedule[0].from_min, c.arming.schedule[0].to_min),
            (0, 1440)
        );
    }
}
