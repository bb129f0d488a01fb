//! Commands: the orders a node obeys, whoever gives them.
//!
//! The same order can come from the web UI (over the link's `control`
//! channel), Telegram, MQTT or the IR remote. Every front end parses its own
//! syntax into this one type and the node executes it in one place, so
//! "disarm" means the same thing everywhere and is logged the same way.
//!
//! The text form (`arm`, `servo 90`, …) is what MQTT payloads, Telegram
//! commands without the slash, IR key maps in the config and logs use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Who gave a command; recorded with every arming change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandSource {
    Web,
    Telegram,
    Mqtt,
    IrRemote,
    Schedule,
    Local,
}

impl CommandSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandSource::Web => "web",
            CommandSource::Telegram => "telegram",
            CommandSource::Mqtt => "mqtt",
            CommandSource::IrRemote => "ir_remote",
            CommandSource::Schedule => "schedule",
            CommandSource::Local => "local",
        }
    }
}

impl fmt::Display for CommandSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order to a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Events raise alarms (buzzer, notifications) from now on.
    Arm,
    /// Events are still recorded and uploaded, but raise no alarm.
    Disarm,
    /// Take a snapshot now and ship it as a capture.
    Snapshot,
    /// Send the latest clip (Telegram `/clip`).
    Clip,
    SirenOn,
    SirenOff,
    /// Aim the servo at an angle in degrees (clamped to the configured range).
    Servo {
        angle: f32,
    },
    /// Aim the servo at a named preset from the config.
    ServoPreset {
        name: String,
    },
    /// Report the node's status (arming, uptime, backlog).
    Status,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command {0:?} (expected arm, disarm, snapshot, clip, siren_on, siren_off, servo ANGLE, preset NAME or status)")]
pub struct CommandParseError(pub String);

impl FromStr for Command {
    type Err = CommandParseError;

    /// Parses the text form, case-insensitively, ignoring a leading `/`
    /// (Telegram) and surrounding white space.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CommandParseError(s.chars().take(64).collect());
        let t = s.trim();
        let t = t.strip_prefix('/').unwrap_or(t);
        let mut words = t.split_whitespace();
        let verb = words.next().ok_or_else(err)?.to_ascii_lowercase();
        let arg = words.next();
        if words.next().is_some() {
            return Err(err());
        }
        let cmd = match (verb.as_str(), arg) {
            ("arm", None) => Command::Arm,
            ("disarm", None) => Command::Disarm,
            ("snapshot" | "snap", None) => Command::Snapshot,
            ("clip", None) => Command::Clip,
            ("siren_on", None) => Command::SirenOn,
            ("siren_off", None) => Command::SirenOff,
            ("status", None) => Command::Status,
            ("servo", Some(a)) => {
                let angle: f32 = a.parse().map_err(|_| err())?;
                if !angle.is_finite() {
                    return Err(err());
                }
                Command::Servo { angle }
            }
            ("preset", Some(name))
                if !name.is_empty()
                    && name.len() <= 32
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                Command::ServoPreset {
                    name: name.to_owned(),
                }
            }
            _ => return Err(err()),
        };
        Ok(cmd)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Arm => f.write_str("arm"),
            Command::Disarm => f.write_str("disarm"),
            Command::Snapshot => f.write_str("snapshot"),
            Command::Clip => f.write_str("clip"),
            Command::SirenOn => f.write_str("siren_on"),
            Command::SirenOff => f.write_str("siren_off"),
            Command::Servo { angle } => write!(f, "servo {angle}"),
            Command::ServoPreset { name } => write!(f, "preset {name}"),
            Command::Status => f.write_str("status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let all = [
            Command::Arm,
            Command::Disarm,
            Command::Snapshot,
            Command::Clip,
            Command::SirenOn,
            Command::SirenOff,
            Command::Servo { angle: 42.5 },
            Command::ServoPreset {
                name: "door".into(),
            },
            Command::Status,
        ];
        for c in all {
            assert_eq!(c.to_string().parse::<Command>(), Ok(c));
        }
    }

    #[test]
    fn telegram_style_and_case_are_accepted() {
        assert_eq!("/ARM".parse::<Command>(), Ok(Command::Arm));
        assert_eq!(" /snap ".parse::<Command>(), Ok(Command::Snapshot));
        assert_eq!(
            "/servo -10".parse::<Command>(),
            Ok(Command::Servo { angle: -10.0 })
        );
    }

    #[test]
    fn garbage_is_refused_with_the_offending_text() {
        for bad in [
            "",
            "launch",
            "arm now",
            "servo",
            "servo NaN",
            "servo inf",
            "preset ../x",
            "servo 1 2",
        ] {
            let e = bad.parse::<Command>().unwrap_err();
            assert!(e.to_string().contains("unknown command"), "{bad}: {e}");
        }
    }

    #[test]
    fn json_form_is_tagged() {
        let j = serde_json::to_string(&Command::Servo { angle: 90.0 }).unwrap();
        assert_eq!(j, r#"{"command":"servo","angle":90.0}"#);
        let back: Command = serde_json::from_str(&j).unwrap();
        assert_eq!(back, Command::Servo { angle: 90.0 });
    }
}
