//! Signed webhooks: one POST with a JSON body per event and per alert.
//!
//! Headers: `X-Vigia-Signature: sha256=<hex HMAC-SHA256 of the exact body,
//! keyed with the configured secret>`, `X-Vigia-Timestamp: <unix seconds at
//! sending>` and `X-Vigia-Delivery: <id>`, which stays the same across
//! retries of one body so receivers can drop duplicates. The receiver checks
//! the signature over the raw bytes before parsing them ([`verify`]).
//!
//! Network errors, 5xx, 408 and 429 are retried with backoff; other 4xx
//! mean the receiver refuses this body, and retrying cannot change that.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigia_base::{Backoff, Shutdown};
use vigia_config::WebhookConfig;

use crate::stats::Counters;

pub const SIGNATURE_HEADER: &str = "x-vigia-signature";
pub const TIMESTAMP_HEADER: &str = "x-vigia-timestamp";
pub const DELIVERY_HEADER: &str = "x-vigia-delivery";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook client: {0}")]
    Client(#[source] reqwest::Error),
}

/// `sha256=<hex>` of `body` keyed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header in constant time.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(sig) = header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[derive(Clone)]
pub(crate) struct WebhookSender {
    tx: mpsc::Sender<Vec<u8>>,
    counters: Arc<Counters>,
}

impl WebhookSender {
    /// Queues one JSON body; never waits.
    pub fn post(&self, body: Vec<u8>) {
        if self.tx.try_send(body).is_err() {
            Counters::inc(&self.counters.dropped);
            tracing::warn!("webhook: queue full, notification dropped");
        }
    }
}

pub(crate) fn start(
    cfg: &WebhookConfig,
    secret: String,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> Result<(WebhookSender, JoinHandle<()>), WebhookError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .user_agent(concat!("vigia/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(WebhookError::Client)?;
    let (tx, rx) = mpsc::channel(cfg.queue_len);
    let worker = Worker {
        http,
        url: cfg.url.clone(),
        secret: secret.into_bytes(),
        max_attempts: cfg.max_attempts,
        counters: counters.clone(),
        shutdown,
    };
    Ok((WebhookSender { tx, counters }, tokio::spawn(worker.run(rx))))
}

struct Worker {
    http: reqwest::Client,
    url: String,
    secret: Vec<u8>,
    max_attempts: u32,
    counters: Arc<Counters>,
    shutdown: Shutdown,
}

enum Outcome {
    Done,
    Refused(u16),
    Retry(String),
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Vec<u8>>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60), 0x4ebb);
        loop {
            let body = tokio::select! {
                _ = self.shutdown.wait() => return,
                b = rx.recv() => match b { Some(b) => b, None => return },
            };
            let signature = sign(&self.secret, &body);
            let delivery = hex::encode(&Sha256::digest(&body)[..12]);
            let mut attempt = 0;
            loop {
                attempt += 1;
                let outcome = tokio::select! {
                    _ = self.shutdown.wait() => return,
                    o = self.post_once(&body, &signature, &delivery) => o,
                };
                match outcome {
                    Outcome::Done => {
                        Counters::inc(&self.counters.sent);
                        backoff.reset();
                        break;
                    }
                    Outcome::Refused(status) => {
                        Counters::inc(&self.counters.failed);
                        tracing::warn!(status, "webhook: receiver refused the notification");
                        break;
                    }
                    Outcome::Retry(why) if attempt >= self.max_attempts => {
                        Counters::inc(&self.counters.failed);
                        tracing::warn!(attempt, %why, "webhook: giving up");
                        break;
                    }
                    Outcome::Retry(why) => {
                        Counters::inc(&self.counters.retries);
                        let delay = backoff.next_delay();
                        tracing::debug!(attempt, %why, ?delay, "webhook: retrying");
                        tokio::select! {
                            _ = self.shutdown.wait() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
        }
    }

    async fn post_once(&self, body: &[u8], signature: &str, delivery: &str) -> Outcome {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let r = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(DELIVERY_HEADER, delivery)
            .body(body.to_vec())
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => Outcome::Done,
            Ok(resp) => {
                let s = resp.status().as_u16();
                if s >= 500 || s == 408 || s == 429 {
                    Outcome::Retry(format!("HTTP {s}"))
                } else {
                    Outcome::Refused(s)
                }
            }
            // Without the URL: it may carry a token in its query.
            Err(e) => Outcome::Retry(e.without_url().to_string()),
        }
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
