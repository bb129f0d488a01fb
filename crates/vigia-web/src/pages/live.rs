//! `/live`: every camera with its status and its live view, and
//! `/live/{camera}.mjpg`: the MJPEG stream (`multipart/x-mixed-replace`)
//! an `<img>` plays without any script.
//!
//! A stream is a [`LiveViewer`] of the hub: it counts as a viewer for as
//! long as the response body lives. When the client goes away, hyper drops
//! the body, the viewer is dropped and the gauge goes down. Each stream
//! waits on a latest-wins watch, so a slow client gets fewer frames and
//! never holds more than one. If no new frame arrives for
//! [`KEEPALIVE`], the latest one is sent again: that keeps proxies from
//! timing out, and a write to a vanished client fails, ending the stream.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use maud::html;
use vigia_base::CameraId;
use vigia_media::Frame;

use crate::auth::User;
use crate::error::{blocking, AppError};
use crate::extract::Path;
use crate::live::{CameraStatus, LiveViewer};
use crate::pages::{fmt_time, layout, Nav};
use crate::state::AppState;

pub const BOUNDARY: &str = "vigia-frame";
pub const KEEPALIVE: Duration = Duration::from_secs(10);

/// Every camera the hub or the store knows, with live status.
pub async fn all_cameras(state: &AppState) -> Result<Vec<CameraStatus>, AppError> {
    let store = state.store().clone();
    let stored = blocking(move || store.cameras()).await?;
    let mut cams = state.live().cameras();
    for c in stored {
        if !cams.iter().any(|s| s.id == c.id) {
            cams.push(CameraStatus {
                id: c.id,
                last_frame_ms: None,
                online: false,
                viewers: 0,
                frames: 0,
            });
        }
    }
    cams.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(cams)
}

pub async fn page(State(state): State<AppState>, user: User) -> Result<Response, AppError> {
    let cams = all_cameras(&state).await?;
    let body = html! {
        h1 { "Live" }
        @if cams.is_empty() {
            p.empty { "No camera has connected yet." }
        }
        ul.live {
            @for c in &cams {
                li.camera {
                    h2 {
                        (c.id) " "
                        @if c.online { span.status.online { "online" } } @else { span.status.offline { "offline" } }
                    }
                    img.mjpeg src=(format!("/live/{}.mjpg", c.id)) alt=(format!("Live view of {}", c.id)) width="640" height="360";
                    p.meta {
                        @match c.last_frame_ms {
                            Some(t) => { "Last frame " (fmt_time(t)) " UTC" }
                            None => { "No frame yet" }
                        }
                        " · " (c.viewers) " watching"
                    }
                }
            }
        }
    };
    Ok(Html(layout(&state, &user, Nav::Live, "Live", body).into_string()).into_response())
}

/// One multipart part: headers, the JPEG, CRLF.
pub fn part(frame: &Frame) -> Bytes {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        frame.jpeg.len()
    );
    let mut b = BytesMut::with_capacity(head.len() + frame.jpeg.len() + 2);
    b.extend_from_slice(head.as_bytes());
    b.extend_from_slice(&frame.jpeg);
    b.extend_from_slice(b"\r\n");
    b.freeze()
}

async fn next_part(viewer: &mut LiveViewer) -> Option<Bytes> {
    loop {
        match tokio::time::timeout(KEEPALIVE, viewer.next_frame()).await {
            Ok(Some(f)) => return Some(part(&f)),
            Ok(None) => return None,
            Err(_) => {
                if let Some(f) = viewer.latest() {
                    viewer.mark_seen();
                    return Some(part(&f));
                }
            }
        }
    }
}

pub async fn stream(
    State(state): State<AppState>,
    _user: User,
    Path(file): Path<String>,
) -> Result<Response, AppError> {
    let camera: CameraId = file
        .strip_suffix(".mjpg")
        .and_then(|c| c.parse().ok())
        .ok_or(AppError::NotFound)?;
    // Only known cameras: a client must not create hub entries at will.
    if !state.live().contains(&camera) {
        let store = state.store().clone();
        let stored = blocking(move || store.cameras()).await?;
        if !stored.iter().any(|c| c.id == camera) {
            return Err(AppError::NotFound);
        }
    }
    let viewer = state.live().subscribe(&camera);
    let body = Body::from_stream(stream::unfold(viewer, |mut v| async move {
        let part = next_part(&mut v).await?;
        Some((Ok::<_, std::convert::Infallible>(part), v))
    }));
    let mut resp = body.into_response();
    let ct = format!("multipart/x-mixed-replace; boundary={BOUNDARY}");
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ct) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
