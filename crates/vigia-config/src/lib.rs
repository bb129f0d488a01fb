//! vigia's configuration, in two steps.
//!
//! 1. [`raw`]: serde structs mirroring the TOML file exactly, with
//!    `deny_unknown_fields` (a typo is an error, not a silently ignored key)
//!    and every default written next to its field.
//! 2. [`node`]: validation turns a raw file into a [`NodeConfig`] whose
//!    values are resolved (durations in ms, paths absolute, enums checked),
//!    so the rest of the node never re-checks its inputs.
//!
//! Validation errors name the key (`motion.threshold`) and the reason.
//! The only I/O here is reading the file in [`load_node`].

pub mod detect;
pub mod hw;
pub mod link;
pub mod node;
pub mod notify;
pub mod raw;
pub mod server;

pub use detect::{AlarmOn, DetectSettings};
pub use hw::{ArmingSettings, ScheduleRange};
pub use link::{LinkConfig, LinkModeConfig, SshConfig};
pub use node::{
    EventSettings, NodeConfig, OutboxSettings, RecordingSettings, SourceConfig, SourceKind,
};
pub use notify::{AlertsConfig, MqttConfig, NotifyConfig, Secret, TelegramConfig, WebhookConfig};
pub use server::{CameraLimits, ServerConfig};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Reads, parses and validates a node configuration file. Relative paths in
/// the file are resolved against the file's directory, so a config works
/// the same whatever the working directory of the daemon.
pub fn load_node(path: &Path) -> Result<NodeConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_node(&text, path, base)
}

/// Parses and validates node configuration text; `origin` names it in errors.
pub fn parse_node(text: &str, origin: &Path, base_dir: &Path) -> Result<NodeConfig, ConfigError> {
    let raw: raw::RawNodeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: origin.to_owned(),
        message: e.to_string(),
    })?;
    raw.validate(base_dir)
}

/// Reads, parses and validates a server configuration file.
pub fn load_server(path: &Path) -> Result<ServerConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_server(&text, path, base)
}

/// Parses and validates server configuration text.
pub fn parse_server(
    text: &str,
    origin: &Path,
    base_dir: &Path,
) -> Result<ServerConfig, ConfigError> {
    let raw: server::RawServerConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: origin.to_owned(),
        message: e.to_string(),
    })?;
    raw.validate(base_dir)
}
