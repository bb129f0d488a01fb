//! `/live`: every camera with its status (online, link, armed, upload
//! backlog, last heartbeat), its live view and its command buttons;
//! `/live/{camera}.mjpg`: the MJPEG stream (`multipart/x-mixed-replace`)
//! an `<img>` plays without any script; `POST /live/{camera}/command`:
//! the buttons' target.
//!
//! The buttons are plain forms carrying the CSRF token (see
//! [`crate::commands`] for who may use them). The POST waits for the
//! node's answer, stores it as the session's [`Flash`] and redirects back
//! to `/live` (POST-redirect-GET: a reload shows the page, it does not
//! arm again), where the answer is shown once, escaped.
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
use axum::response::{Html, IntoResponse, Redirect, Response};
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use maud::{html, Markup};
use serde::Deserialize;
use vigia_base::{CameraId, Command};
use vigia_media::Frame;

use crate::auth::User;
use crate::cameras::{self, CameraView};
use crate::commands;
use crate::error::AppError;
use crate::extract::{Form, Path};
use crate::flash::Flash;
use crate::live::LiveViewer;
use crate::pages::{csrf_field, fmt_age, fmt_bytes, fmt_time, layout, Nav};
use crate::state::AppState;

pub const BOUNDARY: &str = "vigia-frame";
pub const KEEPALIVE: Duration = Duration::from_secs(10);

/// The buttons on every camera: (command, label).
pub const BUTTONS: [(&str, &str); 3] = [
    ("arm", "Arm"),
    ("disarm", "Disarm"),
    ("snapshot", "Snapshot now"),
];

fn flash_banner(f: &Flash) -> Markup {
    html! {
        @if f.ok {
            p.flash.ok role="status" {
                (f.camera) ": " (f.command) " done"
                @if !f.text.is_empty() { " — " (f.text) }
            }
        } @else {
            p.flash.failed role="alert" { (f.camera) ": " (f.command) " failed — " (f.text) }
        }
    }
}

/// Link, arming, backlog and heartbeat of one camera.
fn node_facts(c: &CameraView, now_ms: i64) -> Markup {
    let hb = c.heartbeat();
    html! {
        dl.node {
            dt { "Link" }
            dd {
                @match &c.node {
                    Some(n) => { "connected since " (fmt_time(n.connected_ms)) " UTC" }
                    None => { "not connected" }
                }
            }
            dt { "Alarm" }
            dd {
                @match c.armed() {
                    Some(true) => { span.armed { "armed" } }
                    Some(false) => { span.disarmed { "disarmed" } }
                    None => { "unknown" }
                }
            }
            dt { "Upload backlog" }
            dd {
                @match hb.map(|h| h.backlog) {
                    Some(b) if b.captures == 0 => { "empty" }
                    Some(b) => {
                        (b.captures) @if b.captures == 1 { " capture, " } @else { " captures, " }
                        (fmt_bytes(b.bytes)) ", oldest "
                        (fmt_age(i64::try_from(b.oldest_age_ms).unwrap_or(i64::MAX)))
                    }
                    None => { "unknown" }
                }
            }
            dt { "Last heartbeat" }
            dd {
                @match c.status.last_seen_ms {
                    Some(t) => { (fmt_time(t)) " UTC (" (fmt_age(now_ms.saturating_sub(t))) " ago)" }
                    None => { "never" }
                }
            }
        }
    }
}

fn command_buttons(c: &CameraView, user: &User) -> Markup {
    html! {
        form.commands method="post" action=(format!("/live/{}/command", c.status.id)) {
            (csrf_field(user))
            @for (command, label) in BUTTONS {
                button type="submit" name="command" value=(command) disabled[!c.connected] { (label) }
            }
        }
    }
}

pub async fn page(State(state): State<AppState>, user: User) -> Result<Response, AppError> {
    let cams = cameras::all(&state).await?;
    let now_ms = state.now_ms();
    let flash = state.flashes().take(&user.session.csrf_token, now_ms);
    let body = html! {
        h1 { "Live" }
        @if let Some(f) = &flash { (flash_banner(f)) }
        @if cams.is_empty() {
            p.empty { "No camera has connected yet." }
        }
        ul.live {
            @for c in &cams {
                @let id = &c.status.id;
                li.camera id=(format!("camera-{id}")) {
                    h2 {
                        (id) " "
                        @if c.status.online { span.status.online { "online" } } @else { span.status.offline { "offline" } }
                    }
                    img.mjpeg src=(format!("/live/{id}.mjpg")) alt=(format!("Live view of {id}")) width="640" height="360";
                    p.meta {
                        @match c.status.last_frame_ms {
                            Some(t) => { "Last frame " (fmt_time(t)) " UTC" }
                            None => { "No frame yet" }
                        }
                        " · " (c.status.viewers) " watching"
                    }
                    (node_facts(c, now_ms))
                    (command_buttons(c, &user))
                }
            }
        }
    };
    Ok(Html(layout(&state, &user, Nav::Live, "Live", body).into_string()).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CommandForm {
    pub csrf: Option<String>,
    pub command: Option<String>,
}

pub async fn command(
    State(state): State<AppState>,
    user: User,
    Path(camera): Path<String>,
    Form(form): Form<CommandForm>,
) -> Result<Response, AppError> {
    let camera: CameraId = camera.parse().map_err(|_| AppError::NotFound)?;
    user.check_csrf(form.csrf.as_deref())?;
    if !cameras::is_known(&state, &camera).await? {
        return Err(AppError::NotFound);
    }
    let command: Command = form.command.as_deref().unwrap_or_default().parse()?;
    let result = commands::send(&state, &user, &camera, &command).await;
    let flash = Flash {
        command: command.to_string(),
        ok: result.is_ok(),
        text: match result {
            Ok(answer) => answer,
            Err(e) => e.to_string(),
        },
        camera: camera.clone(),
    };
    state
        .flashes()
        .put(&user.session.csrf_token, state.now_ms(), flash);
    Ok(Redirect::to(&format!("/live#camera-{camera}")).into_response())
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
    if !cameras::is_known(&state, &camera).await? {
        return Err(AppError::NotFound);
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
