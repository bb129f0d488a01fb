//! Notification settings: `[telegram]`, `[mqtt]` and `[webhook]` on the
//! node, and the same three under `[alerts]` on the server (camera offline
//! and back-online alerts).
//!
//! Each section is optional: present means on. The same raw structs serve
//! both daemons so a user copies a working `[telegram]` block from one file
//! to the other. Secrets (bot token, MQTT password, webhook secret) can be
//! written inline or named by an environment variable (`*_env` keys); the
//! variable is read by [`Secret::resolve`] when the daemon starts, not here,
//! so validating a config never depends on the environment it runs in.

use std::fmt;

use serde::Deserialize;

use crate::ConfigError;

/// A secret from the file or from an environment variable. `Debug` never
/// prints the value, so configs can be logged.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    /// The name of the environment variable holding the secret.
    Env(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret::Inline(<redacted>)"),
            Secret::Env(v) => write!(f, "Secret::Env({v:?})"),
        }
    }
}

impl Secret {
    /// The secret's value; `key` names the config key in the error.
    pub fn resolve(&self, key: &str) -> Result<String, ConfigError> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(ConfigError::invalid(
                    key,
                    format!("environment variable {var} is not set or empty"),
                )),
            },
        }
    }

    fn from_pair(
        key: &str,
        inline: &Option<String>,
        env: &Option<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (inline, env) {
            (Some(_), Some(_)) => Err(ConfigError::invalid(
                key,
                format!("set {key} or {key}_env, not both"),
            )),
            (Some(s), None) if s.is_empty() => Err(ConfigError::invalid(key, "must not be empty")),
            (Some(s), None) => Ok(Some(Secret::Inline(s.clone()))),
            (None, Some(v)) if v.is_empty() || v.contains('=') || v.contains('\0') => Err(
                ConfigError::invalid(format!("{key}_env"), "is not a valid variable name"),
            ),
            (None, Some(v)) => Ok(Some(Secret::Env(v.clone()))),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTelegram {
    /// Bot token from @BotFather, or `token_env` naming a variable holding it.
    pub token: Option<String>,
    pub token_env: Option<String>,
    /// Chats that are notified and whose commands are obeyed. Required.
    pub chat_ids: Vec<i64>,
    /// Bot API base URL. Default `https://api.telegram.org`.
    pub api_url: String,
    /// Obey bot commands (`/arm`, `/status`, …) by long polling. Default true.
    pub commands: bool,
    /// Long-poll timeout of `getUpdates`, seconds. Default 50.
    pub poll_timeout_s: u32,
    /// The server's public URL; a clip too large to upload is sent as a link
    /// to `<server_url>/captures/<id>` instead.
    pub server_url: Option<String>,
    /// Largest clip uploaded with `sendVideo` (the Bot API allows 50 MB). Default 50000000.
    pub max_upload_bytes: u64,
    /// Timeout of one API request, and of one clip upload, seconds. Defaults 30 and 300.
    pub request_timeout_s: f32,
    pub upload_timeout_s: f32,
    /// Attempts per message before it is given up (429 waits do not count). Default 5.
    pub max_attempts: u32,
    /// Messages waiting to be sent; beyond this new ones are dropped and counted. Default 32.
    pub queue_len: usize,
}

impl Default for RawTelegram {
    fn default() -> Self {
        Self {
            token: None,
            token_env: None,
            chat_ids: Vec::new(),
            api_url: "https://api.telegram.org".into(),
            commands: true,
            poll_timeout_s: 50,
            server_url: None,
            max_upload_bytes: 50_000_000,
            request_timeout_s: 30.0,
            upload_timeout_s: 300.0,
            max_attempts: 5,
            queue_len: 32,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMqtt {
    /// Broker address. Defaults 127.0.0.1 and 1883.
    pub host: String,
    pub port: u16,
    /// Default `vigia-<camera>` on a node, `vigia-server` on the server.
    pub client_id: Option<String>,
    pub username: Option<String>,
    /// Password, or `password_env` naming a variable holding it.
    pub password: Option<String>,
    pub password_env: Option<String>,
    /// Topics are `<topic_prefix>/<camera>/...`. Default "vigia".
    pub topic_prefix: String,
    /// Publish Home Assistant discovery configs. Default true.
    pub discovery: bool,
    pub discovery_prefix: String,
    /// Keep-alive, seconds; the broker publishes the last will (offline)
    /// about 1.5 x this after the node vanishes. Default 30.
    pub keep_alive_s: u16,
    /// Messages waiting for the broker; beyond this new ones are dropped and counted. Default 64.
    pub queue_len: usize,
}

impl Default for RawMqtt {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: None,
            username: None,
            password: None,
            password_env: None,
            topic_prefix: "vigia".into(),
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            keep_alive_s: 30,
            queue_len: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWebhook {
    /// Receives one POST with a JSON body per event and alert. Required.
    pub url: String,
    /// HMAC-SHA256 key for the `X-Vigia-Signature` header, or `secret_env`. Required.
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    /// Timeout of one POST, seconds. Default 10.
    pub timeout_s: f32,
    /// Attempts per POST before it is given up. Default 5.
    pub max_attempts: u32,
    /// POSTs waiting; beyond this new ones are dropped and counted. Default 64.
    pub queue_len: usize,
}

impl Default for RawWebhook {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: None,
            secret_env: None,
            timeout_s: 10.0,
            max_attempts: 5,
            queue_len: 64,
        }
    }
}

/// The server's `[alerts]` section: camera offline / back-online alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAlerts {
    /// A camera whose heartbeats stop for this long raises an offline alert. Default 60.
    pub offline_after_s: f32,
    pub telegram: Option<RawTelegram>,
    pub mqtt: Option<RawMqtt>,
    pub webhook: Option<RawWebhook>,
}

impl Default for RawAlerts {
    fn default() -> Self {
        Self {
            offline_after_s: 60.0,
            telegram: None,
            mqtt: None,
            webhook: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TelegramConfig {
    pub token: Secret,
    pub chat_ids: Vec<i64>,
    /// Without a trailing slash.
    pub api_url: String,
    pub commands: bool,
    pub poll_timeout_s: u32,
    /// Without a trailing slash.
    pub server_url: Option<String>,
    pub max_upload_bytes: u64,
    pub request_timeout_ms: u64,
    pub upload_timeout_ms: u64,
    pub max_attempts: u32,
    pub queue_len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub topic_prefix: String,
    /// `None` when discovery is off.
    pub discovery_prefix: Option<String>,
    pub keep_alive_s: u16,
    pub queue_len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: Secret,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub queue_len: usize,
}

/// Where notifications go; every channel is optional.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifyConfig {
    pub telegram: Option<TelegramConfig>,
    pub mqtt: Option<MqttConfig>,
    pub webhook: Option<WebhookConfig>,
}

impl NotifyConfig {
    pub fn is_empty(&self) -> bool {
        self.telegram.is_none() && self.mqtt.is_none() && self.webhook.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    pub offline_after_ms: i64,
    pub notify: NotifyConfig,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            offline_after_ms: 60_000,
            notify: NotifyConfig::default(),
        }
    }
}

fn secs(key: &str, s: f32, min: f32, max: f32) -> Result<u64, ConfigError> {
    if !s.is_finite() || s < min || s > max {
        return Err(ConfigError::invalid(
            key,
            format!("{s} s is outside {min}..={max} s"),
        ));
    }
    Ok((f64::from(s) * 1000.0).round() as u64)
}

fn in_range<T: PartialOrd + fmt::Display + Copy>(
    key: &str,
    v: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if v < min || v > max {
        return Err(ConfigError::invalid(
            key,
            format!("{v} is outside {min}..={max}"),
        ));
    }
    Ok(v)
}

fn http_url(key: &str, u: &str) -> Result<String, ConfigError> {
    let ok = (u.starts_with("http://") || u.starts_with("https://"))
        && u.len() > "https://".len()
        && !u.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(ConfigError::invalid(
            key,
            format!("{u:?} is not an http:// or https:// URL"),
        ));
    }
    Ok(u.trim_end_matches('/').to_owned())
}

/// One or more MQTT topic levels without wildcards or empty levels.
fn topic_prefix(key: &str, p: &str) -> Result<String, ConfigError> {
    let ok = !p.is_empty()
        && p.len() <= 64
        && p.split('/').all(|l| !l.is_empty())
        && !p.contains(['+', '#', '\0']);
    if !ok {
        return Err(ConfigError::invalid(
            key,
            format!("{p:?} must be non-empty topic levels without '+', '#' or empty levels"),
        ));
    }
    Ok(p.to_owned())
}

impl RawTelegram {
    /// `section` is `telegram` or `alerts.telegram`.
    pub fn validate(&self, section: &str) -> Result<TelegramConfig, ConfigError> {
        let k = |name: &str| format!("{section}.{name}");
        let token = Secret::from_pair(&k("token"), &self.token, &self.token_env)?
            .ok_or_else(|| ConfigError::invalid(k("token"), "set token or token_env"))?;
        if let Secret::Inline(t) = &token {
            // A token is `<bot id>:<secret>`; anything else is a paste error
            // that would otherwise surface as a 404 from every call.
            let valid = t.split_once(':').is_some_and(|(id, s)| {
                !id.is_empty()
                    && id.bytes().all(|b| b.is_ascii_digit())
                    && !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
            if !valid {
                return Err(ConfigError::invalid(
                    k("token"),
                    "is not of the form <bot id>:<secret>",
                ));
            }
        }
        if self.chat_ids.is_empty() {
            return Err(ConfigError::invalid(
                k("chat_ids"),
                "list at least one chat id (others are ignored)",
            ));
        }
        Ok(TelegramConfig {
            token,
            chat_ids: self.chat_ids.clone(),
            api_url: http_url(&k("api_url"), &self.api_url)?,
            commands: self.commands,
            poll_timeout_s: in_range(&k("poll_timeout_s"), self.poll_timeout_s, 0, 300)?,
            server_url: match &self.server_url {
                Some(u) => Some(http_url(&k("server_url"), u)?),
                None => None,
            },
            max_upload_bytes: in_range(
                &k("max_upload_bytes"),
                self.max_upload_bytes,
                1,
                2_000_000_000,
            )?,
            request_timeout_ms: secs(&k("request_timeout_s"), self.request_timeout_s, 0.1, 600.0)?,
            upload_timeout_ms: secs(&k("upload_timeout_s"), self.upload_timeout_s, 0.1, 3600.0)?,
            max_attempts: in_range(&k("max_attempts"), self.max_attempts, 1, 100)?,
            queue_len: in_range(&k("queue_len"), self.queue_len, 1, 10_000)?,
        })
    }
}

impl RawMqtt {
    /// `section` is `mqtt` or `alerts.mqtt`.
    pub fn validate(&self, section: &str) -> Result<MqttConfig, ConfigError> {
        let k = |name: &str| format!("{section}.{name}");
        if self.host.trim().is_empty() {
            return Err(ConfigError::invalid(k("host"), "must not be empty"));
        }
        if self.port == 0 {
            return Err(ConfigError::invalid(k("port"), "must not be 0"));
        }
        if let Some(id) = &self.client_id {
            if id.is_empty() || id.len() > 64 {
                return Err(ConfigError::invalid(
                    k("client_id"),
                    "must be 1-64 characters",
                ));
            }
        }
        let password = Secret::from_pair(&k("password"), &self.password, &self.password_env)?;
        if password.is_some() && self.username.is_none() {
            return Err(ConfigError::invalid(
                k("password"),
                "needs a username (MQTT 3.1.1 has no password-only login)",
            ));
        }
        Ok(MqttConfig {
            host: self.host.trim().to_owned(),
            port: self.port,
            client_id: self.client_id.clone(),
            username: self.username.clone(),
            password,
            topic_prefix: topic_prefix(&k("topic_prefix"), &self.topic_prefix)?,
            discovery_prefix: if self.discovery {
                Some(topic_prefix(
                    &k("discovery_prefix"),
                    &self.discovery_prefix,
                )?)
            } else {
                None
            },
            keep_alive_s: in_range(&k("keep_alive_s"), self.keep_alive_s, 5, 3600)?,
            queue_len: in_range(&k("queue_len"), self.queue_len, 1, 10_000)?,
        })
    }
}

impl RawWebhook {
    /// `section` is `webhook` or `alerts.webhook`.
    pub fn validate(&self, section: &str) -> Result<WebhookConfig, ConfigError> {
        let k = |name: &str| format!("{section}.{name}");
        let secret = Secret::from_pair(&k("secret"), &self.secret, &self.secret_env)?
            .ok_or_else(|| ConfigError::invalid(k("secret"), "set secret or secret_env"))?;
        Ok(WebhookConfig {
            url: http_url(&k("url"), &self.url)?,
            secret,
            timeout_ms: secs(&k("timeout_s"), self.timeout_s, 0.1, 600.0)?,
            max_attempts: in_range(&k("max_attempts"), self.max_attempts, 1, 100)?,
            queue_len: in_range(&k("queue_len"), self.queue_len, 1, 10_000)?,
        })
    }
}

/// Validates the three optional sections; `prefix` is "" on the node and
/// "alerts." on the server.
pub fn validate_notify(
    prefix: &str,
    telegram: Option<&RawTelegram>,
    mqtt: Option<&RawMqtt>,
    webhook: Option<&RawWebhook>,
) -> Result<NotifyConfig, ConfigError> {
    Ok(NotifyConfig {
        telegram: telegram
            .map(|t| t.validate(&format!("{prefix}telegram")))
            .transpose()?,
        mqtt: mqtt
            .map(|m| m.validate(&format!("{prefix}mqtt")))
            .transpose()?,
        webhook: webhook
            .map(|w| w.validate(&format!("{prefix}webhook")))
            .transpose()?,
    })
}

impl RawAlerts {
    pub fn validate(&self) -> Result<AlertsConfig, ConfigError> {
        Ok(AlertsConfig {
            offline_after_ms: secs(
                "alerts.offline_after_s",
                self.offline_after_s,
                1.0,
                86_400.0,
            )? as i64,
            notify: validate_notify(
                "alerts.",
                self.telegram.as_ref(),
                self.mqtt.as_ref(),
                self.webhook.as_ref(),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const NODE: &str = "[node]\ncamera = \"porch\"\ndata_dir = \"d\"\n";

    fn node(extra: &str) -> Result<crate::NodeConfig, ConfigError> {
        crate::parse_node(
            &format!("{NODE}{extra}"),
            Path::new("n.toml"),
            Path::new("/etc/vigia"),
        )
    }

    #[test]
    fn sections_are_off_unless_present() {
        let c = node("").expect("valid");
        assert!(c.notify.is_empty());
        let s = crate::parse_server(
            "[server]\ndata_dir = \"d\"\n",
            Path::new("s.toml"),
            Path::new("/"),
        )
        .expect("valid");
        assert!(s.alerts.notify.is_empty());
        assert_eq!(s.alerts.offline_after_ms, 60_000);
    }

    #[test]
    fn full_sections_resolve() {
        let c = node(
            "[telegram]\ntoken_env = \"TG\"\nchat_ids = [42, -100123]\napi_url = \"http://127.0.0.1:9/\"\n\
             server_url = \"https://cams.example.org/\"\n\
             [mqtt]\nusername = \"u\"\npassword = \"p\"\ndiscovery = false\n\
             [webhook]\nurl = \"https://hooks.example.org/v\"\nsecret = \"s3\"\n",
        )
        .expect("valid");
        let t = c.notify.telegram.expect("telegram");
        assert_eq!(t.token, Secret::Env("TG".into()));
        assert_eq!(t.chat_ids, vec![42, -100123]);
        assert_eq!(t.api_url, "http://127.0.0.1:9");
        assert_eq!(t.server_url.as_deref(), Some("https://cams.example.org"));
        assert_eq!(t.max_upload_bytes, 50_000_000);
        let m = c.notify.mqtt.expect("mqtt");
        assert_eq!(m.discovery_prefix, None);
        assert_eq!(m.password, Some(Secret::Inline("p".into())));
        let w = c.notify.webhook.expect("webhook");
        assert_eq!(w.timeout_ms, 10_000);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            ("[telegram]\nchat_ids = [1]\n", "telegram.token"),
            (
                "[telegram]\ntoken = \"nonsense\"\nchat_ids = [1]\n",
                "telegram.token",
            ),
            (
                "[telegram]\ntoken = \"1:a\"\ntoken_env = \"X\"\nchat_ids = [1]\n",
                "telegram.token",
            ),
            ("[telegram]\ntoken = \"1:a\"\n", "telegram.chat_ids"),
            (
                "[telegram]\ntoken = \"1:a\"\nchat_ids = [1]\napi_url = \"ftp://x\"\n",
                "telegram.api_url",
            ),
            ("[mqtt]\ntopic_prefix = \"a/#\"\n", "mqtt.topic_prefix"),
            ("[mqtt]\npassword = \"p\"\n", "mqtt.password"),
            ("[mqtt]\nport = 0\n", "mqtt.port"),
            ("[webhook]\nurl = \"http://h/x\"\n", "webhook.secret"),
            ("[webhook]\nurl = \"h\"\nsecret = \"s\"\n", "webhook.url"),
            (
                "[webhook]\nurl = \"http://h/x\"\nsecret = \"s\"\nsecrte = \"t\"\n",
                "secrte",
            ),
        ] {
            let e = node(extra).expect_err(key);
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn secrets_resolve_from_the_environment_and_never_print() {
        let var = "VIGIA_CONFIG_TEST_SECRET_7F3A";
        std::env::set_var(var, "hunter2");
        assert_eq!(
            Secret::Env(var.into())
                .resolve("mqtt.password")
                .as_deref()
                .ok(),
            Some("hunter2")
        );
        let e = Secret::Env("VIGIA_CONFIG_TEST_UNSET_7F3A".into())
            .resolve("mqtt.password")
            .expect_err("unset");
        assert!(e.to_string().contains("mqtt.password"), "{e}");
        assert!(!format!("{:?}", Secret::Inline("hunter2".into())).contains("hunter2"));
    }

    /// Strips `# ` from the commented-out example block starting at
    /// `# [header]`, up to the next blank line.
    fn uncomment_block(text: &str, header: &str) -> String {
        let start = text
            .find(&format!("# [{header}]\n"))
            .unwrap_or_else(|| panic!("example documents [{header}]"));
        let mut out = String::new();
        for line in text[start..].lines() {
            if line.trim().is_empty() {
                break;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let rest = rest.split(" #").next().unwrap_or(rest);
                if rest.starts_with('[') || rest.contains(" = ") {
                    out.push_str(rest);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// The examples show every key with its default, commented out; parsed,
    /// they must give the code's defaults (required keys aside).
    #[test]
    fn example_comments_match_the_defaults() {
        let text = include_str!("../../../config/node.example.toml");
        let block = |h: &str| uncomment_block(text, h);
        let t: RawTelegram = toml::from_str(block("telegram").trim_start_matches("[telegram]\n"))
            .expect("telegram block");
        let d = RawTelegram::default();
        assert_eq!(
            (t.api_url, t.commands, t.poll_timeout_s, t.max_upload_bytes),
            (d.api_url, d.commands, d.poll_timeout_s, d.max_upload_bytes)
        );
        assert_eq!(
            (
                t.request_timeout_s,
                t.upload_timeout_s,
                t.max_attempts,
                t.queue_len
            ),
            (
                d.request_timeout_s,
                d.upload_timeout_s,
                d.max_attempts,
                d.queue_len
            )
        );
        let m: RawMqtt =
            toml::from_str(block("mqtt").trim_start_matches("[mqtt]\n")).expect("mqtt block");
        let d = RawMqtt::default();
        assert_eq!(
            (
                m.host,
                m.port,
                m.topic_prefix,
                m.discovery,
                m.discovery_prefix
            ),
            (
                d.host,
                d.port,
                d.topic_prefix,
                d.discovery,
                d.discovery_prefix
            )
        );
        assert_eq!((m.keep_alive_s, m.queue_len), (d.keep_alive_s, d.queue_len));
        let w: RawWebhook = toml::from_str(block("webhook").trim_start_matches("[webhook]\n"))
            .expect("webhook block");
        let d = RawWebhook::default();
        assert_eq!(
            (w.timeout_s, w.max_attempts, w.queue_len),
            (d.timeout_s, d.max_attempts, d.queue_len)
        );
        // Uncommented, the example's blocks form a valid node config.
        let all = format!("{}{}{}", block("telegram"), block("mqtt"), block("webhook"));
        node(&all).expect("uncommented notification blocks are valid");

        let server = include_str!("../../../config/server.example.toml");
        let base = "[server]\ndata_dir = \"d\"\n[alerts]\n";
        let parse = |t: &str| crate::parse_server(t, Path::new("s.toml"), Path::new("/"));
        let c = parse(server).expect("server example");
        assert_eq!(c.alerts, crate::AlertsConfig::default());
        let blocks: String = ["alerts.telegram", "alerts.mqtt", "alerts.webhook"]
            .iter()
            .map(|h| uncomment_block(server, h))
            .collect();
        let c = parse(&format!("{base}{blocks}")).expect("uncommented alert blocks are valid");
        assert!(c.alerts.notify.telegram.is_some() && c.alerts.notify.webhook.is_some());
    }
}
