//! `/metrics`: Prometheus text exposition of the store's totals, the live
//! hub's gauges, each camera's node status and the web layer's own
//! counters.
//!
//! Per-camera gauges cover every camera the hub or the link knows. Those
//! that come from the node's heartbeat (armed, backlog) have no sample
//! while no heartbeat is known (node not connected, or none yet): an
//! absent series says "unknown", where a 0 would lie. The last-seen age
//! has no sample until the first hello or heartbeat.
//!
//! Access: requests from a loopback address (a Prometheus agent on the same
//! host, or an SSH tunnel) are served without a session; anyone else needs
//! to be signed in. Nothing here is secret, but camera names and activity
//! are not for the open network.

use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{header, Request};
use axum::response::{IntoResponse, Response};

use crate::auth;
use crate::cameras::{self, CameraView};
use crate::error::{blocking, ApiError, AppError};
use crate::state::AppState;

/// Counters the web layer owns.
#[derive(Debug, Default)]
pub struct WebMetrics {
    pub login_failures: AtomicU64,
    pub login_rate_limited: AtomicU64,
}

impl WebMetrics {
    pub fn login_failures(&self) -> u64 {
        self.login_failures.load(Ordering::Relaxed)
    }

    pub fn login_rate_limited(&self) -> u64 {
        self.login_rate_limited.load(Ordering::Relaxed)
    }
}

/// Name, help, and the value for one camera (`None`: no sample).
type Gauge<'a> = (&'a str, &'a str, &'a dyn Fn(&CameraView) -> Option<f64>);

fn metric<V: Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(String, V)],
) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

pub async fn handler(
    State(state): State<AppState>,
    req: Request<axum::body::Body>,
) -> Result<Response, ApiError> {
    let loopback = auth::client_ip(req.extensions()).is_some_and(|ip| ip.is_loopback());
    if !loopback && auth::current_user(req.headers(), &state).await?.is_none() {
        return Err(ApiError(AppError::Unauthenticated));
    }
    let store = state.store().clone();
    let stats = blocking(move || store.stats()).await?;
    let cams = cameras::linked(&state);
    let now_ms = state.now_ms();
    let mut out = String::new();
    let one = |v: u64| vec![(String::new(), v)];
    metric(
        &mut out,
        "vigia_captures_stored",
        "gauge",
        "Captures in the store.",
        &one(stats.captures),
    );
    metric(
        &mut out,
        "vigia_capture_bytes",
        "gauge",
        "Bytes of stored captures.",
        &one(stats.bytes),
    );
    metric(
        &mut out,
        "vigia_ingest_errors_total",
        "counter",
        "Failed ingests since the store was opened.",
        &one(stats.ingest_errors),
    );
    metric(
        &mut out,
        "vigia_login_failures_total",
        "counter",
        "Sign-ins refused for wrong credentials.",
        &one(state.metrics().login_failures()),
    );
    metric(
        &mut out,
        "vigia_login_rate_limited_total",
        "counter",
        "Sign-ins refused by the rate limit.",
        &one(state.metrics().login_rate_limited()),
    );
    // Camera ids are [a-z0-9_-] only: no label escaping is needed.
    let per_cam = |f: &dyn Fn(&CameraView) -> Option<f64>| {
        cams.iter()
            .filter_map(|c| Some((format!("{{camera=\"{}\"}}", c.status.id), f(c)?)))
            .collect::<Vec<_>>()
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let gauges: [Gauge<'_>; 8] = [
        (
            "vigia_live_viewers",
            "Browsers watching a camera live.",
            &|c| Some(c.status.viewers as f64),
        ),
        (
            "vigia_camera_online",
            "1 while the camera's heartbeats or live frames arrive within the offline timeout.",
            &|c| Some(flag(c.status.online)),
        ),
        (
            "vigia_camera_connected",
            "1 while the camera's node holds a control connection.",
            &|c| Some(flag(c.connected)),
        ),
        (
            "vigia_camera_armed",
            "1 if the node's last heartbeat said armed, 0 if disarmed.",
            &|c| c.armed().map(flag),
        ),
        (
            "vigia_camera_backlog_captures",
            "Captures waiting in the node's outbox, from its last heartbeat.",
            &|c| c.heartbeat().map(|h| h.backlog.captures as f64),
        ),
        (
            "vigia_camera_backlog_bytes",
            "Bytes waiting in the node's outbox, from its last heartbeat.",
            &|c| c.heartbeat().map(|h| h.backlog.bytes as f64),
        ),
        (
            "vigia_camera_backlog_oldest_age_seconds",
            "Age of the oldest capture in the node's outbox, from its last heartbeat.",
            &|c| {
                c.heartbeat()
                    .map(|h| h.backlog.oldest_age_ms as f64 / 1000.0)
            },
        ),
        (
            "vigia_camera_last_seen_age_seconds",
            "Seconds since the node's last hello or heartbeat.",
            &|c| {
                c.status
                    .last_seen_ms
                    .map(|t| now_ms.saturating_sub(t).max(0) as f64 / 1000.0)
            },
        ),
    ];
    for (name, help, f) in gauges {
        metric(&mut out, name, "gauge", help, &per_cam(f));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
