//! The server's web interface: sign-in, history, capture pages, media with
//! range requests, live MJPEG, a JSON API, Prometheus metrics.
//!
//! [`app`] builds the whole [`Router`] from an [`AppState`]; tests drive it
//! with `tower::ServiceExt::oneshot`, no socket needed. [`serve`] and
//! [`serve_tls`] run it on a bound listener until a shutdown future
//! completes.
//!
//! Owns HTTP only: persistence is vigia-store's (its blocking calls run on
//! tokio's blocking pool), the live frames arrive from the link through
//! [`LiveHub::publish`] and its heartbeats through [`LiveHub::seen`]; node
//! status and commands go through the link's
//! [`vigia_link::server::Nodes`], given with [`AppState::with_nodes`]. Errors become HTTP responses in one place,
//! [`error`]; security headers are added to every response in [`headers`].
//!
//! Routes (every page and media URL needs a session):
//! ```text
//! GET  /                       sign-in page          POST /login, POST /logout
//! GET  /history                captures by day       ?day= &camera= &label= &before=
//! GET  /captures/{id}          one capture           POST /captures/{id}/delete (admin, CSRF)
//! GET  /media/{id}/{snapshot.jpg|thumb.jpg|clip.mp4} [?download=1], Range
//! GET  /live                   cameras               GET /live/{camera}.mjpg
//! POST /live/{camera}/command  arm/disarm/snapshot (signed in, CSRF)
//! GET  /api/v1/captures[/{id}] DELETE /api/v1/captures/{id} (admin, X-CSRF-Token)
//! GET  /api/v1/cameras         POST /api/v1/cameras/{id}/commands (X-CSRF-Token)
//! GET  /api/v1/session
//! GET  /metrics (loopback or session)   GET /healthz   GET /assets/{name}
//! ```

pub mod api;
pub mod assets;
pub mod auth;
pub mod cameras;
pub mod commands;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod flash;
pub mod headers;
pub mod live;
pub mod media;
pub mod metrics;
pub mod pages;
pub mod ratelimit;
pub mod server;
pub mod state;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commands;
#[cfg(test)]
mod tests_media;
#[cfg(test)]
mod testutil;

use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use cameras::CameraView;
pub use error::{ApiError, AppError};
pub use live::{CameraStatus, LiveHub, LiveViewer};
pub use metrics::WebMetrics;
pub use server::{serve, serve_tls, ServeError};
pub use state::{AppState, LoginRateConfig, RateLimit, WebConfig, DEFAULT_COMMAND_TIMEOUT};

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError(AppError::NotFound).into_response()
    } else {
        AppError::NotFound.into_response()
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// The complete web application.
pub fn app(state: AppState) -> Router {
    use pages::{capture, history, live as live_page, login};
    Router::new()
        .route("/", get(login::page))
        .route("/login", post(login::submit))
        .route("/logout", post(login::logout))
        .route("/history", get(history::page))
        .route("/captures/{id}", get(capture::page))
        .route("/captures/{id}/delete", post(capture::delete))
        .route("/media/{id}/{file}", get(media::handler))
        .route("/live", get(live_page::page))
        .route("/live/{file}", get(live_page::stream))
        .route("/live/{camera}/command", post(live_page::command))
        .route("/api/v1/captures", get(api::captures))
        .route(
            "/api/v1/captures/{id}",
            get(api::capture).delete(api::delete_capture),
        )
        .route("/api/v1/cameras", get(api::cameras))
        .route("/api/v1/cameras/{id}/commands", post(api::command))
        .route("/api/v1/session", get(api::session))
        .route("/metrics", get(metrics::handler))
        .route("/healthz", get(healthz))
        .route("/assets/{name}", get(assets::handler))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::map_response(
            headers::add_security_headers,
        ))
}
