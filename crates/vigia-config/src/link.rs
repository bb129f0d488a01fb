//! The link's settings: the node's `[link]` (where captures go) and the
//! server's `[ssh]` (where nodes connect).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ConfigError;

/// `[link]` in the node's file. Absent: captures stay in the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// Host name or address of the server. Required.
    pub server: String,
    /// SSH port. Default 2222 (vigia server); 22 for a stock sshd.
    #[serde(default = "default_port")]
    pub port: u16,
    /// "vigia" (a vigia server: uploads, live view, commands) or "sftp"
    /// (any OpenSSH server: uploads only). Default "vigia".
    #[serde(default = "default_mode")]
    pub mode: String,
    /// SSH user. Default: the camera id (what a vigia server expects).
    pub user: Option<String>,
    /// "sftp" mode: remote folder receiving `<capture id>/<files>`.
    /// Default "." (the user's home).
    pub remote_dir: Option<String>,
    /// The node's private key (`vigia keygen` makes it). Default
    /// `<data_dir>/node_key`.
    pub key: Option<String>,
    /// The server's pinned host key, known_hosts format. Default
    /// `<data_dir>/known_hosts`.
    pub known_hosts: Option<String>,
    /// `SHA256:…` fingerprint the server's host key must have (shown by
    /// `vigia server` at start). With it, first contact needs no `--trust`.
    pub server_fingerprint: Option<String>,
    /// Seconds to wait for TCP + SSH handshake. Default 10.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f32,
}

fn default_port() -> u16 {
    2222
}
fn default_mode() -> String {
    "vigia".into()
}
fn default_connect_timeout() -> f32 {
    10.0
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkModeConfig {
    Vigia,
    PlainSftp { remote_dir: String },
}

#[derive(Debug, Clone)]
pub struct LinkConfig {
    pub server: String,
    pub port: u16,
    pub mode: LinkModeConfig,
    pub user: String,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub server_fingerprint: Option<String>,
    pub connect_timeout_ms: u64,
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

impl RawLink {
    /// `base` resolves relative paths; `data_dir` gives the defaults.
    pub fn validate(
        &self,
        base: &Path,
        data_dir: &Path,
        camera: &str,
    ) -> Result<LinkConfig, ConfigError> {
        let server = self.server.trim();
        if server.is_empty() || server.len() > 253 || server.contains(char::is_whitespace) {
            return Err(ConfigError::invalid(
                "link.server",
                "must be a host name or address",
            ));
        }
        if self.port == 0 {
            return Err(ConfigError::invalid("link.port", "must be 1-65535"));
        }
        let mode = match self.mode.as_str() {
            "vigia" => {
                if self.remote_dir.is_some() {
                    return Err(ConfigError::invalid(
                        "link.remote_dir",
                        "only used with mode = \"sftp\"",
                    ));
                }
                LinkModeConfig::Vigia
            }
            "sftp" => LinkModeConfig::PlainSftp {
                remote_dir: self.remote_dir.clone().unwrap_or_else(|| ".".into()),
            },
            other => {
                return Err(ConfigError::invalid(
                    "link.mode",
                    format!("{other:?} is not \"vigia\" or \"sftp\""),
                ))
            }
        };
        let user = self.user.clone().unwrap_or_else(|| camera.to_owned());
        if user.is_empty() || user.len() > 64 || !user.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                "link.user",
                "must be 1-64 printable characters",
            ));
        }
        if let Some(fp) = &self.server_fingerprint {
            if !fp.starts_with("SHA256:") || fp.len() < 20 {
                return Err(ConfigError::invalid(
                    "link.server_fingerprint",
                    "must look like SHA256:… (as printed by `vigia server`)",
                ));
            }
        }
        let t = self.connect_timeout_s;
        if !t.is_finite() || !(0.5..=300.0).contains(&t) {
            return Err(ConfigError::invalid(
                "link.connect_timeout_s",
                "must be within 0.5..=300",
            ));
        }
        Ok(LinkConfig {
            server: server.to_owned(),
            port: self.port,
            mode,
            user,
            key: self
                .key
                .as_deref()
                .map_or_else(|| data_dir.join("node_key"), |k| resolve(base, k)),
            known_hosts: self
                .known_hosts
                .as_deref()
                .map_or_else(|| data_dir.join("known_hosts"), |k| resolve(base, k)),
            server_fingerprint: self.server_fingerprint.clone(),
            connect_timeout_ms: (f64::from(t) * 1000.0) as u64,
        })
    }
}

/// `[ssh]` in the server's file: where nodes connect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSsh {
    /// Listen address. Default 0.0.0.0:2222 (keys only, so it is safe to
    /// expose to the cameras' network).
    pub listen: String,
    /// Host key, generated (Ed25519) on first start. Default
    /// `<data_dir>/ssh_host_ed25519_key`.
    pub host_key: Option<String>,
    /// Authorized node keys, one camera each (`vigia authorize` writes it).
    /// Default `<data_dir>/authorized_keys`.
    pub authorized_keys: Option<String>,
    /// Seconds between a node's heartbeats. Default 5.
    pub heartbeat_s: f32,
    /// A capture whose upload stopped mid-event (no manifest) while its node
    /// stays disconnected this long is completed from the files it sent and
    /// shown in the history (end reason `cut_off`): the camera may have been
    /// destroyed. Default 600.
    pub orphan_after_s: f32,
}

impl Default for RawSsh {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:2222".into(),
            host_key: None,
            authorized_keys: None,
            heartbeat_s: 5.0,
            orphan_after_s: 600.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SshConfig {
    pub listen: SocketAddr,
    pub host_key: PathBuf,
    pub authorized_keys: PathBuf,
    pub heartbeat_ms: u64,
    pub orphan_after_ms: i64,
}

impl RawSsh {
    pub fn validate(&self, base: &Path, data_dir: &Path) -> Result<SshConfig, ConfigError> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|e| ConfigError::invalid("ssh.listen", format!("{:?}: {e}", self.listen)))?;
        let hb = self.heartbeat_s;
        if !hb.is_finite() || !(0.5..=60.0).contains(&hb) {
            return Err(ConfigError::invalid(
                "ssh.heartbeat_s",
                "must be within 0.5..=60",
            ));
        }
        let orphan = self.orphan_after_s;
        if !orphan.is_finite() || !(1.0..=604_800.0).contains(&orphan) {
            return Err(ConfigError::invalid(
                "ssh.orphan_after_s",
                "must be within 1..=604800",
            ));
        }
        Ok(SshConfig {
            listen,
            host_key: self.host_key.as_deref().map_or_else(
                || data_dir.join("ssh_host_ed25519_key"),
                |p| resolve(base, p),
            ),
            authorized_keys: self
                .authorized_keys
                .as_deref()
                .map_or_else(|| data_dir.join("authorized_keys"), |p| resolve(base, p)),
            heartbeat_ms: (f64::from(hb) * 1000.0) as u64,
            orphan_after_ms: (f64::from(orphan) * 1000.0) as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(extra: &str) -> RawLink {
        toml::from_str(&format!("server = \"srv\"\n{extra}")).unwrap()
    }

    #[test]
    fn defaults_follow_the_data_dir_and_camera() {
        let c = raw("")
            .validate(
                Path::new("/etc/vigia"),
                Path::new("/var/lib/vigia"),
                "front",
            )
            .unwrap();
        assert_eq!(c.port, 2222);
        assert_eq!(c.user, "front");
        assert_eq!(c.mode, LinkModeConfig::Vigia);
        assert_eq!(c.key, Path::new("/var/lib/vigia/node_key"));
        assert_eq!(c.known_hosts, Path::new("/var/lib/vigia/known_hosts"));
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            ("mode = \"ftp\"", "link.mode"),
            ("remote_dir = \"x\"", "link.remote_dir"),
            ("server_fingerprint = \"abc\"", "link.server_fingerprint"),
            ("port = 0", "link.port"),
            ("connect_timeout_s = 0", "link.connect_timeout_s"),
        ] {
            let e = raw(extra)
                .validate(Path::new("/"), Path::new("/d"), "c")
                .unwrap_err();
            assert!(e.to_string().contains(key), "{extra}: {e}");
        }
    }

    #[test]
    fn sftp_mode_takes_a_remote_dir() {
        let c = raw("mode = \"sftp\"\nremote_dir = \"captures\"\nport = 22")
            .validate(Path::new("/"), Path::new("/d"), "c")
            .unwrap();
        assert_eq!(
            c.mode,
            LinkModeConfig::PlainSftp {
                remote_dir: "captures".into()
            }
        );
    }

    #[test]
    fn ssh_defaults() {
        let s = RawSsh::default()
            .validate(Path::new("/"), Path::new("/d"))
            .unwrap();
        assert_eq!(s.listen.port(), 2222);
        assert_eq!(s.authorized_keys, Path::new("/d/authorized_keys"));
        assert_eq!(s.heartbeat_ms, 5000);
    }

    /// The example's commented `[link]` section, uncommented, is valid and
    /// its values are the defaults (with the required server set).
    #[test]
    fn example_link_section_matches_the_defaults() {
        let text = include_str!("../../../config/node.example.toml");
        let start = text
            .find("# [link]")
            .expect("a [link] section in the example");
        let section: String = text[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| l.split(" #").next().unwrap_or(l).trim().to_string())
            .filter(|l| !l.starts_with("server_fingerprint") && !l.starts_with("remote_dir"))
            .collect::<Vec<_>>()
            .join("\n");
        let raw: RawLink = toml::from_str(&section).expect("the example's [link] keys parse");
        let c = raw
            .validate(Path::new("/b"), Path::new("/d"), "front-door")
            .unwrap();
        let d = RawLink {
            server: raw.server.clone(),
            ..toml::from_str("server = \"x\"").unwrap()
        }
        .validate(Path::new("/b"), Path::new("/d"), "front-door")
        .unwrap();
        assert_eq!((c.port, &c.mode, &c.user), (d.port, &d.mode, &d.user));
        assert_eq!(c.connect_timeout_ms, d.connect_timeout_ms);
        assert_eq!(c.key, Path::new("/b/node_key"));
    }
}
