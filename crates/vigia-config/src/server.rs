//! The server's configuration: raw TOML structs and their validation.
//!
//! `config/server.example.toml` documents every key; a test parses it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vigia_base::CameraId;

use crate::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerConfig {
    pub server: RawServer,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub live: RawLive,
    /// Where nodes connect (`crate::link`).
    #[serde(default)]
    pub ssh: crate::link::RawSsh,
    /// Camera offline / back-online alerts (`crate::notify`).
    #[serde(default)]
    pub alerts: crate::notify::RawAlerts,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Database, media tree and incoming area live here. Required.
    pub data_dir: String,
    /// Shown on the login page and in page titles. Default "vigia".
    #[serde(default = "default_name")]
    pub name: String,
    /// Seconds between scans of `<data_dir>/incoming/<camera>/` for
    /// captures dropped there. Default 1.
    #[serde(default = "default_poll")]
    pub ingest_poll_s: f32,
}

fn default_name() -> String {
    "vigia".into()
}

fn default_poll() -> f32 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHttp {
    /// Address of the web platform. Default 127.0.0.1:8080 (put a reverse
    /// proxy or `tls_cert`/`tls_key` in front before exposing it).
    pub listen: String,
    /// PEM certificate chain and private key: serve HTTPS (and mark cookies Secure).
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// Session lifetime in hours. Default 12.
    pub session_ttl_h: f32,
    /// Failed logins allowed per client address and per user name within
    /// `login_window_s` before further attempts are refused. Defaults 5 and 300.
    pub login_max_failures: u32,
    pub login_window_s: u32,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            session_ttl_h: 12.0,
            login_max_failures: 5,
            login_window_s: 300,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCameraRetention {
    /// Delete captures older than this many days (0 = keep forever).
    pub max_age_days: Option<f32>,
    /// Keep at most this many bytes of captures (0 = no limit).
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRetention {
    /// Defaults for every camera: 30 days, no byte limit.
    pub max_age_days: f32,
    pub max_bytes: u64,
    /// Oldest captures are deleted while free disk space is below this, and
    /// ingest is refused (the node keeps the capture and retries). Default 1 GiB.
    pub min_free_bytes: u64,
    /// Seconds between retention passes. Default 60.
    pub interval_s: u32,
    /// Per-camera overrides: `[retention.cameras.front-door]`.
    pub cameras: BTreeMap<String, RawCameraRetention>,
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            max_age_days: 30.0,
            max_bytes: 0,
            min_free_bytes: 1 << 30,
            interval_s: 60,
            cameras: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLive {
    /// A camera without a frame or heartbeat for this long is shown offline. Default 30.
    pub offline_after_s: f32,
}

impl Default for RawLive {
    fn default() -> Self {
        Self {
            offline_after_s: 30.0,
        }
    }
}

/// Retention limits of one camera; `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CameraLimits {
    pub max_age_ms: Option<i64>,
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub name: String,
    pub ingest_poll_ms: u64,
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub session_ttl_ms: i64,
    pub login_max_failures: u32,
    pub login_window_ms: i64,
    pub retention_default: CameraLimits,
    pub retention_cameras: BTreeMap<CameraId, CameraLimits>,
    pub min_free_bytes: u64,
    pub retention_interval_ms: u64,
    pub offline_after_ms: i64,
    pub ssh: crate::link::SshConfig,
    pub alerts: crate::notify::AlertsConfig,
}

impl ServerConfig {
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("vigia.db")
    }
    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }
    /// Captures dropped here (one folder per camera) are ingested.
    pub fn incoming_dir(&self) -> PathBuf {
        self.data_dir.join("incoming")
    }
}

fn limits(
    key: &str,
    age_days: Option<f32>,
    max_bytes: Option<u64>,
) -> Result<CameraLimits, ConfigError> {
    let max_age_ms = match age_days {
        None => None,
        Some(0.0) => None,
        Some(d) if d.is_finite() && d > 0.0 && d <= 36_500.0 => {
            Some((f64::from(d) * 86_400_000.0) as i64)
        }
        Some(d) => {
            return Err(ConfigError::invalid(
                format!("{key}.max_age_days"),
                format!("{d} is outside 0..=36500"),
            ))
        }
    };
    Ok(CameraLimits {
        max_age_ms,
        max_bytes: max_bytes.filter(|b| *b > 0),
    })
}

impl RawServerConfig {
    pub fn validate(self, base: &Path) -> Result<ServerConfig, ConfigError> {
        if self.server.data_dir.is_empty() {
            return Err(ConfigError::invalid("server.data_dir", "must not be empty"));
        }
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let name = self.server.name.trim().to_owned();
        if name.is_empty() || name.len() > 64 {
            return Err(ConfigError::invalid(
                "server.name",
                "must be 1-64 characters",
            ));
        }
        let poll = self.server.ingest_poll_s;
        if !poll.is_finite() || !(0.05..=3600.0).contains(&poll) {
            return Err(ConfigError::invalid(
                "server.ingest_poll_s",
                "must be within 0.05..=3600",
            ));
        }
        let h = &self.http;
        let listen: SocketAddr = h
            .listen
            .parse()
            .map_err(|e| ConfigError::invalid("http.listen", format!("{:?}: {e}", h.listen)))?;
        let tls = match (&h.tls_cert, &h.tls_key) {
            (Some(c), Some(k)) => Some((resolve(c), resolve(k))),
            (None, None) => None,
            _ => {
                return Err(ConfigError::invalid(
                    "http.tls_cert/tls_key",
                    "set both or neither",
                ))
            }
        };
        if !h.session_ttl_h.is_finite() || !(0.01..=720.0).contains(&h.session_ttl_h) {
            return Err(ConfigError::invalid(
                "http.session_ttl_h",
                "must be within 0.01..=720",
            ));
        }
        if h.login_max_failures == 0 || h.login_max_failures > 1000 {
            return Err(ConfigError::invalid(
                "http.login_max_failures",
                "must be within 1..=1000",
            ));
        }
        if h.login_window_s == 0 || h.login_window_s > 86_400 {
            return Err(ConfigError::invalid(
                "http.login_window_s",
                "must be within 1..=86400",
            ));
        }
        let r = &self.retention;
        let retention_default = limits("retention", Some(r.max_age_days), Some(r.max_bytes))?;
        let mut retention_cameras = BTreeMap::new();
        for (cam, lim) in &r.cameras {
            let key = format!("retention.cameras.{cam}");
            let id: CameraId = cam
                .parse()
                .map_err(|e: vigia_base::IdError| ConfigError::invalid(&key, e.to_string()))?;
            let l = limits(
                &key,
                lim.max_age_days.or(Some(r.max_age_days)),
                lim.max_bytes.or(Some(r.max_bytes)),
            )?;
            retention_cameras.insert(id, l);
        }
        if r.interval_s == 0 {
            return Err(ConfigError::invalid(
                "retention.interval_s",
                "must be at least 1",
            ));
        }
        let off = self.live.offline_after_s;
        if !off.is_finite() || !(1.0..=86_400.0).contains(&off) {
            return Err(ConfigError::invalid(
                "live.offline_after_s",
                "must be within 1..=86400",
            ));
        }
        Ok(ServerConfig {
            data_dir: resolve(&self.server.data_dir),
            name,
            ingest_poll_ms: (f64::from(poll) * 1000.0) as u64,
            listen,
            tls,
            session_ttl_ms: (f64::from(h.session_ttl_h) * 3_600_000.0) as i64,
            login_max_failures: h.login_max_failures,
            login_window_ms: i64::from(h.login_window_s) * 1000,
            retention_default,
            retention_cameras,
            min_free_bytes: r.min_free_bytes,
            retention_interval_ms: u64::from(r.interval_s) * 1000,
            offline_after_ms: (f64::from(off) * 1000.0) as i64,
            ssh: self.ssh.validate(base, &resolve(&self.server.data_dir))?,
            alerts: self.alerts.validate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_server;

    fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
        parse_server(text, Path::new("server.toml"), Path::new("/etc/vigia"))
    }

    #[test]
    fn minimal_server_config_gets_defaults() {
        let c = parse("[server]\ndata_dir = \"srv\"\n").expect("valid");
        assert_eq!(c.data_dir, PathBuf::from("/etc/vigia/srv"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.retention_default.max_age_ms, Some(30 * 86_400_000));
        assert_eq!(c.retention_default.max_bytes, None);
        assert!(c.tls.is_none());
        assert_eq!(c.name, "vigia");
    }

    #[test]
    fn per_camera_retention_inherits_and_overrides() {
        let c = parse(
            "[server]\ndata_dir = \"d\"\n[retention]\nmax_bytes = 1000\n[retention.cameras.porch]\nmax_age_days = 7\n",
        )
        .expect("valid");
        let p = c.retention_cameras[&"porch".parse::<CameraId>().expect("id")];
        assert_eq!(p.max_age_ms, Some(7 * 86_400_000));
        assert_eq!(p.max_bytes, Some(1000));
    }

    #[test]
    fn invalid_server_values_name_the_key() {
        for (text, key) in [
            (
                "[server]\ndata_dir = \"d\"\n[http]\nlisten = \"nowhere\"\n",
                "http.listen",
            ),
            (
                "[server]\ndata_dir = \"d\"\n[http]\ntls_cert = \"c.pem\"\n",
                "http.tls_cert/tls_key",
            ),
            (
                "[server]\ndata_dir = \"d\"\n[retention.cameras.\"Bad Cam\"]\nmax_age_days = 1\n",
                "retention.cameras.Bad Cam",
            ),
            (
                "[server]\ndata_dir = \"d\"\n[retention]\nmax_age_days = -1\n",
                "retention.max_age_days",
            ),
            ("[server]\ndata_dir = \"d\"\npassword = \"x\"\n", "password"),
        ] {
            let e = parse(text).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn example_server_config_is_valid() {
        let text = include_str!("../../../config/server.example.toml");
        parse(text).expect("config/server.example.toml must stay valid");
    }
}
