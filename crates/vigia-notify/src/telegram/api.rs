//! The Telegram Bot API over HTTPS: one request per call, typed errors, and
//! the retry policy (429 `retry_after`, backoff on network errors and 5xx).
//!
//! Every call goes to `{api_url}/bot{token}/{method}`. The token is part of
//! the URL, so errors are stripped of their URL before they can reach a log.
//! A 429 makes the whole bot wait (Telegram's limits are per bot), which is
//! why the wait lives in a [`RateGate`] shared by every lane.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::time::Instant;
use vigia_base::{Backoff, Shutdown};

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("telegram {method}: network error: {source}")]
    Network {
        method: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("telegram {method}: error {code}: {description}")]
    Api {
        method: &'static str,
        code: u16,
        description: String,
        retry_after_s: Option<u64>,
    },
    #[error("telegram {method}: unexpected response (HTTP {status}): {detail}")]
    Protocol {
        method: &'static str,
        status: u16,
        detail: String,
    },
    #[error("cannot read clip {path}: {source}")]
    Clip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("telegram {method}: stopped by shutdown")]
    Shutdown { method: &'static str },
}

enum Retry {
    Never,
    Backoff,
    After(Duration),
}

impl TelegramError {
    fn retry(&self) -> Retry {
        match self {
            TelegramError::Network { .. } => Retry::Backoff,
            TelegramError::Api {
                code: 429,
                retry_after_s,
                ..
            } => Retry::After(Duration::from_secs(
                retry_after_s.unwrap_or(1).clamp(1, 3600),
            )),
            TelegramError::Api { code, .. } | TelegramError::Protocol { status: code, .. }
                if *code >= 500 =>
            {
                Retry::Backoff
            }
            _ => Retry::Never,
        }
    }
}

/// "Not before" instant shared by every request of one bot.
#[derive(Debug, Default)]
pub(crate) struct RateGate {
    until: Mutex<Option<Instant>>,
}

impl RateGate {
    fn hold_for(&self, d: Duration) {
        let t = Instant::now() + d;
        if let Ok(mut u) = self.until.lock() {
            *u = Some(u.map_or(t, |old| old.max(t)));
        }
    }

    async fn wait(&self) {
        let until = self.until.lock().ok().and_then(|u| *u);
        if let Some(t) = until {
            tokio::time::sleep_until(t).await;
        }
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    ok: bool,
    result: Option<T>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// The parts of a `Message` result we use: the file id of what we uploaded,
/// to send the same file to the next chat without uploading it again.
#[derive(Debug, Deserialize)]
pub(crate) struct SentMessage {
    #[serde(default)]
    photo: Vec<FileRef>,
    video: Option<FileRef>,
}

#[derive(Debug, Deserialize)]
struct FileRef {
    file_id: String,
}

impl SentMessage {
    pub fn photo_file_id(&self) -> Option<String> {
        // Telegram lists the sizes it made, smallest first; the last is the original.
        self.photo.last().map(|f| f.file_id.clone())
    }
    pub fn video_file_id(&self) -> Option<String> {
        self.video.as_ref().map(|f| f.file_id.clone())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Update {
    pub update_id: i64,
    pub message: Option<IncomingMessage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IncomingMessage {
    pub chat: Chat,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Chat {
    pub id: i64,
}

/// What to upload as a photo or video: new bytes, an open file, or the id
/// of a file Telegram already has.
pub(crate) enum Media {
    Bytes {
        data: Bytes,
        file_name: &'static str,
        mime: &'static str,
    },
    File {
        file: tokio::fs::File,
        len: u64,
        file_name: &'static str,
        mime: &'static str,
    },
    FileId(String),
}

#[derive(Debug, Clone)]
pub(crate) struct BotApi {
    http: reqwest::Client,
    /// `{api_url}/bot{token}`.
    base: String,
    request_timeout: Duration,
    pub upload_timeout: Duration,
    gate: Arc<RateGate>,
}

impl BotApi {
    pub fn new(
        api_url: &str,
        token: &str,
        request_timeout: Duration,
        upload_timeout: Duration,
    ) -> Result<Self, TelegramError> {
        let http = reqwest::Client::builder()
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("vigia/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelegramError::Network {
                method: "client",
                source: e.without_url(),
            })?;
        Ok(Self {
            http,
            base: format!("{}/bot{token}", api_url.trim_end_matches('/')),
            request_timeout,
            upload_timeout,
            gate: Arc::default(),
        })
    }

    async fn finish<T: DeserializeOwned>(
        method: &'static str,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, TelegramError> {
        let net = |e: reqwest::Error| TelegramError::Network {
            method,
            source: e.without_url(),
        };
        let resp = sent.map_err(net)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(net)?;
        let env: Envelope<T> =
            serde_json::from_slice(&body).map_err(|e| TelegramError::Protocol {
                method,
                status,
                detail: e.to_string(),
            })?;
        match (env.ok, env.result) {
            (true, Some(r)) => Ok(r),
            (true, None) => Err(TelegramError::Protocol {
                method,
                status,
                detail: "ok without result".into(),
            }),
            (false, _) => Err(TelegramError::Api {
                method,
                code: env.error_code.unwrap_or(status),
                description: env.description.unwrap_or_default(),
                retry_after_s: env.parameters.and_then(|p| p.retry_after),
            }),
        }
    }

    /// One JSON call, no retry.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        params: &serde_json::Value,
        extra_timeout: Duration,
    ) -> Result<T, TelegramError> {
        let sent = self
            .http
            .post(format!("{}/{method}", self.base))
            .timeout(self.request_timeout + extra_timeout)
            .json(params)
            .send()
            .await;
        Self::finish(method, sent).await
    }

    /// One multipart upload (`sendPhoto`, `sendVideo`), no retry.
    pub async fn upload(
        &self,
        method: &'static str,
        field: &'static str,
        chat_id: i64,
        caption: &str,
        media: Media,
    ) -> Result<SentMessage, TelegramError> {
        let mime_err = |e: reqwest::Error| TelegramError::Protocol {
            method,
            status: 0,
            detail: e.without_url().to_string(),
        };
        let mut form = Form::new()
            .text("chat_id", chat_id.to_string())
            .text("caption", caption.to_owned());
        if method == "sendVideo" {
            form = form.text("supports_streaming", "true");
        }
        let (form, timeout) = match media {
            Media::FileId(id) => (form.text(field, id), self.request_timeout),
            Media::Bytes {
                data,
                file_name,
                mime,
            } => {
                let len = data.len() as u64;
                let part = Part::stream_with_length(data, len)
                    .file_name(file_name)
                    .mime_str(mime)
                    .map_err(mime_err)?;
                (form.part(field, part), self.upload_timeout)
            }
            Media::File {
                file,
                len,
                file_name,
                mime,
            } => {
                let part = Part::stream_with_length(file, len)
                    .file_name(file_name)
                    .mime_str(mime)
                    .map_err(mime_err)?;
                (form.part(field, part), self.upload_timeout)
            }
        };
        let sent = self
            .http
            .post(format!("{}/{method}", self.base))
            .timeout(timeout)
            .multipart(form)
            .send()
            .await;
        Self::finish(method, sent).await
    }
}

/// Retry policy for one logical message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    /// 429s are waited out without using attempts, up to this many.
    pub max_rate_limited: u32,
}

/// Runs `attempt` until it succeeds, fails for good, runs out of attempts,
/// or shutdown. `on_retry` is called before every repeat (for counters).
pub(crate) async fn with_retry<T, F, Fut>(
    api: &BotApi,
    policy: RetryPolicy,
    backoff: &mut Backoff,
    shutdown: &Shutdown,
    method: &'static str,
    mut on_retry: impl FnMut(&TelegramError),
    mut attempt: F,
) -> Result<T, TelegramError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TelegramError>>,
{
    let mut failures = 0;
    let mut rate_limited = 0;
    loop {
        tokio::select! {
            _ = shutdown.wait() => return Err(TelegramError::Shutdown { method }),
            _ = api.gate.wait() => {}
        }
        let result = tokio::select! {
            _ = shutdown.wait() => return Err(TelegramError::Shutdown { method }),
            r = attempt() => r,
        };
        let err = match result {
            Ok(v) => {
                backoff.reset();
                return Ok(v);
            }
            Err(e) => e,
        };
        let delay = match err.retry() {
            Retry::Never => return Err(err),
            Retry::After(d) => {
                rate_limited += 1;
                if rate_limited > policy.max_rate_limited {
                    return Err(err);
                }
                api.gate.hold_for(d);
                Duration::ZERO
            }
            Retry::Backoff => {
                failures += 1;
                if failures >= policy.max_attempts {
                    return Err(err);
                }
                backoff.next_delay()
            }
        };
        tracing::debug!(error = %err, ?delay, "telegram: retrying");
        on_retry(&err);
        tokio::select! {
            _ = shutdown.wait() => return Err(TelegramError::Shutdown { method }),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classes_follow_the_bot_api() {
        let api = |code, retry_after_s| TelegramError::Api {
            method: "sendPhoto",
            code,
            description: String::new(),
            retry_after_s,
        };
        assert!(
            matches!(api(429, Some(7)).retry(), Retry::After(d) if d == Duration::from_secs(7))
        );
        assert!(matches!(api(502, None).retry(), Retry::Backoff));
        // Bad request, blocked by the user, wrong token: retrying cannot help.
        for code in [400, 401, 403, 404] {
            assert!(matches!(api(code, None).retry(), Retry::Never), "{code}");
        }
    }
}
