//! The state every handler shares: the store, the live hub, the connected
//! nodes (status and commands), the web configuration, the clock, the
//! login rate limiter and the counters.
//!
//! It is two `Arc`s so cloning it per request is two reference-count
//! bumps; the link part is separate so [`AppState::with_nodes`] can be a
//! plain builder step.
//! Nothing here does I/O by itself; the store's blocking calls are made by
//! handlers through [`crate::error::blocking`].

use std::sync::Arc;
use std::time::Duration;

use vigia_base::Clock;
use vigia_link::server::Nodes;
use vigia_store::Store;

use crate::flash::Flashes;
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
    flashes: Flashes,
}

/// How long a command waits for the node's answer unless
/// [`AppState::with_command_timeout`] says otherwise.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

struct Link {
    nodes: Nodes,
    command_timeout: Duration,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    link: Arc<Link>,
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
                flashes: Flashes::default(),
            }),
            link: Arc::new(Link {
                nodes: Nodes::default(),
                command_timeout: DEFAULT_COMMAND_TIMEOUT,
            }),
        }
    }

    /// Uses `nodes` (filled by the server's link) for node status and
    /// commands. Without it no node is ever connected.
    pub fn with_nodes(self, nodes: Nodes) -> Self {
        let command_timeout = self.link.command_timeout;
        Self {
            inner: self.inner,
            link: Arc::new(Link {
                nodes,
                command_timeout,
            }),
        }
    }

    /// How long a command from the web waits for the node's answer.
    pub fn with_command_timeout(self, command_timeout: Duration) -> Self {
        let nodes = self.link.nodes.clone();
        Self {
            inner: self.inner,
            link: Arc::new(Link {
                nodes,
                command_timeout,
            }),
        }
    }

    pub fn nodes(&self) -> &Nodes {
        &self.link.nodes
    }

    pub fn command_timeout(&self) -> Duration {
        self.link.command_timeout
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

    pub(crate) fn flashes(&self) -> &Flashes {
        &self.inner.flashes
    }
}
