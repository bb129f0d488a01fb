//! The JSON API under `/api/v1`, for scripts and the live page's
//! conveniences. Same sessions as the pages; anonymous requests get 401,
//! viewers get 403 on admin actions, and every state change (`DELETE`,
//! `POST …/commands`) needs the session's CSRF token in `X-CSRF-Token` (a
//! cookie alone never authorises a state change). Errors are
//! `{"error": "..."}` via [`ApiError`].
//!
//! `POST /api/v1/cameras/{id}/commands` with `{"command": "arm"}` (the
//! text form of [`Command`]: `arm`, `disarm`, `snapshot`, `servo 90`, …)
//! answers `{"ok": true, "camera": …, "command": …, "message": <the
//! node's answer>}`, or: 400 unknown command or malformed body, 403 no or
//! wrong CSRF token, 404 camera unknown to the server, 409 camera known
//! but not connected, 422 the node refused (its reason in `error`), 502
//! the node went away before answering, 504 no answer within the command
//! timeout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use vigia_base::{CameraId, Command};
use vigia_store::{CaptureDetail, CapturePage, MediaKind};

use crate::auth::ApiUser;
use crate::cameras::{self, CameraView};
use crate::commands;
use crate::csrf;
use crate::error::{blocking, ApiError, AppError};
use crate::extract::{Path, Query};
use crate::media;
use crate::pages::capture::parse_id;
use crate::pages::history::{CaptureParams, PAGE_SIZE};
use crate::state::AppState;

pub async fn captures(
    State(state): State<AppState>,
    _user: ApiUser,
    Query(params): Query<CaptureParams>,
) -> Result<Json<CapturePage>, ApiError> {
    let q = params.to_query(PAGE_SIZE)?;
    let store = state.store().clone();
    Ok(Json(blocking(move || store.list_captures(&q)).await?))
}

#[derive(Debug, Serialize)]
pub struct MediaUrls {
    pub snapshot: String,
    pub thumbnail: String,
    pub clip: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CaptureResponse {
    #[serde(flatten)]
    pub detail: CaptureDetail,
    pub media: MediaUrls,
}

pub async fn capture(
    State(state): State<AppState>,
    _user: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<CaptureResponse>, ApiError> {
    let id = parse_id(&id)?;
    let store = state.store().clone();
    let lookup = id.clone();
    let detail = blocking(move || store.get_capture(&lookup))
        .await?
        .ok_or(AppError::NotFound)?;
    let media = MediaUrls {
        snapshot: media::url(&id, MediaKind::Snapshot),
        thumbnail: media::url(&id, MediaKind::Thumbnail),
        clip: detail
            .summary
            .has_clip
            .then(|| media::url(&id, MediaKind::Clip)),
    };
    Ok(Json(CaptureResponse { detail, media }))
}

pub async fn delete_capture(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    user.require_admin()?;
    user.check_csrf(csrf::from_header(&headers))?;
    let store = state.store().clone();
    let target = id.clone();
    if !blocking(move || store.delete_capture(&target)).await? {
        return Err(ApiError(AppError::NotFound));
    }
    tracing::info!(capture = %id, user = %user.name(), "capture deleted via API");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Serialize)]
pub struct CameraResponse {
    /// Live status, `connected` and the node's status (`node`: hello and
    /// latest heartbeat with `armed` and `backlog`, or `null`).
    #[serde(flatten)]
    pub camera: CameraView,
    pub captures: u64,
    pub bytes: u64,
    pub last_capture_ms: Option<i64>,
    pub live_url: String,
}

pub async fn cameras(
    State(state): State<AppState>,
    _user: ApiUser,
) -> Result<Json<Vec<CameraResponse>>, ApiError> {
    let live = cameras::all(&state).await?;
    let store = state.store().clone();
    let stored = blocking(move || store.cameras()).await?;
    Ok(Json(
        live.into_iter()
            .map(|camera| {
                let info = stored.iter().find(|c| c.id == camera.status.id);
                CameraResponse {
                    captures: info.map_or(0, |i| i.captures),
                    bytes: info.map_or(0, |i| i.bytes),
                    last_capture_ms: info.and_then(|i| i.last_capture_ms),
                    live_url: format!("/live/{}.mjpg", camera.status.id),
                    camera,
                }
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// The text form, e.g. `arm` or `servo 90`.
    pub command: String,
}

#[derive(Debug, Serialize)]
pub struct CommandResponse {
    pub ok: bool,
    pub camera: CameraId,
    /// The command as the node received it (text form).
    pub command: String,
    /// The node's answer.
    pub message: String,
}

/// The body is read as bytes and parsed after the CSRF check, so a
/// request without the token is refused the same way whatever it carries.
pub async fn command(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(camera): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CommandResponse>, ApiError> {
    let camera: CameraId = camera.parse().map_err(|_| AppError::NotFound)?;
    user.check_csrf(csrf::from_header(&headers))?;
    if !cameras::is_known(&state, &camera).await? {
        return Err(ApiError(AppError::NotFound));
    }
    let req: CommandRequest = serde_json::from_slice(&body)
        .map_err(|_| AppError::BadRequest("The body must be JSON like {\"command\": \"arm\"}."))?;
    let command: Command = req.command.parse().map_err(AppError::from)?;
    let message = commands::send(&state, &user, &camera, &command).await?;
    Ok(Json(CommandResponse {
        ok: true,
        camera,
        command: command.to_string(),
        message,
    }))
}

#[derive(Debug, Serialize)]
pub struct SessionResponse {
    pub user: String,
    pub role: vigia_store::Role,
    pub csrf_token: String,
    pub expires_ms: i64,
}

pub async fn session(ApiUser(user): ApiUser) -> Json<SessionResponse> {
    Json(SessionResponse {
        user: user.session.user.name.clone(),
        role: user.session.user.role,
        csrf_token: user.session.csrf_token.clone(),
        expires_ms: user.session.expires_ms,
    })
}
