//! `/metrics`: Prometheus text exposition of the store's totals, the live
//! hub's gauges and the web layer's own counters.
//!
//! Access: requests from a loopback address (a Prometheus agent on the same
//! host, or an SSH tunnel) are served without a session; anyone else needs
//! to be signed in. Nothing here is secret, but camera names and activity
//! are not for the open network.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::{header, Request};
use axum::response::{IntoResponse, Response};

use crate::auth;
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

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
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
    let cams = state.live().cameras();
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
    let per_cam = |f: &dyn Fn(&crate::live::CameraStatus) -> u64| {
        cams.iter()
            .map(|c| (format!("{{camera=\"{}\"}}", c.id), f(c)))
            .collect::<Vec<_>>()
    };
    metric(
        &mut out,
        "vigia_live_viewers",
        "gauge",
        "Browsers watching a camera live.",
        &per_cam(&|c| c.viewers as u64),
    );
    metric(
        &mut out,
        "vigia_camera_online",
        "gauge",
        "1 while the camera's live frames arrive.",
        &per_cam(&|c| u64::from(c.online)),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
