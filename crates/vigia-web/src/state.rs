//! The state every handler shares: the store, the live hub, the web
//! configuration, the clock, the login rate limiter and the counters.
//!
//! It is one `Arc` so cloning it per request is a reference-count bump.
//! Nothing here does I/O by itself; the store's blocking calls are made by
//! handlers through [`crate::error::blocking`].

use std::sync::Arc;

use vigia_base::Clock;
use vigia_store::Store;

use crate::live::LiveHub;
use crate::metrics::WebMetrics;
use crate::ratelimit::LoginLimiter;

/// One rate limit: after `max_failures` failed sign-ins within `window_ms`,
/// further attempts are refused for `lockout_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max_failures: u32,
    pub window_ms: i64,
    pub lockout_ms: i64,
}

/// Sign-in limits, counted separately per client IP and per user name, so
/// neither one address guessing many names nor many addresses guessing one
/// name gets more than a handful of tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRateConfig {
    pub per_ip: RateLimit,
    pub per_user: RateLimit,
}

impl Default for LoginRateConfig {
    /// 5 failures in 5 minutes lock out for 5 minutes (per user), and 20
    /// failures in 5 minutes lock out an address for 5 minutes.
    fn default() -> Self {
        Self {
            per_ip: RateLimit {
                max_failures: 20,
                window_ms: 5 * 60_000,
                lockout_ms: 5 * 60_000,
            },
            per_user: RateLimit {
                max_failures: 5,
                window_ms: 5 * 60_000,
                lockout_ms: 5 * 60_000,
            },
        }
    }
}

/// The web interface's settings (resolved by vigia-config from `[web]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// How long a session lasts after sign-in.
    pub session_ttl_ms: i64,
    /// Mark cookies `Secure`; set when serving over TLS.
    pub secure_cookies: bool,
    pub login_rate: LoginRateConfig,
    /// Shown on every page and in the title.
    pub system_name: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_ttl_ms: 7 * 24 * 3600 * 1000,
            secure_cookies: false,
            login_rate: LoginRateConfig::default(),
            system_name: "vigia".to_owned(),
        }
    }
}

struct Inner {
    store: Store,
    live: LiveHub,
    config: WebConfig,
    clock: Arc<dyn Clock>,
    metrics: WebMetrics,
    limiter: LoginLimiter,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    pub fn new(store: Store, live: LiveHub, config: WebConfig, clock: Arc<dyn Clock>) -> Self {
        let limiter = LoginLimiter::new(config.login_rate);
        Self {
            inner: Arc::new(Inner {
                store,
                live,
                config,
                clock,
                metrics: WebMetrics::default(),
                limiter,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn live(&self) -> &LiveHub {
        &self.inner.live
    }

    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub fn metrics(&self) -> &WebMetrics {
        &self.inner.metrics
    }

    pub(crate) fn limiter(&self) -> &LoginLimiter {
        &self.inner.limiter
    }
}
