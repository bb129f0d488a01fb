//! The JSON API under `/api/v1`, for scripts and the live page's
//! conveniences. Same sessions as the pages; anonymous requests get 401,
//! viewers get 403 on admin actions, and `DELETE` needs the session's
//! CSRF token in `X-CSRF-Token` (a cookie alone never authorises a state
//! change). Errors are `{"error": "..."}` via [`ApiError`].

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use vigia_store::{CaptureDetail, CapturePage, MediaKind};

use crate::auth::ApiUser;
use crate::csrf;
use crate::error::{blocking, ApiError, AppError};
use crate::extract::{Path, Query};
use crate::live::CameraStatus;
use crate::media;
use crate::pages::capture::parse_id;
use crate::pages::history::{CaptureParams, PAGE_SIZE};
use crate::pages::live::all_cameras;
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
    #[serde(flatten)]
    pub status: CameraStatus,
    pub captures: u64,
    pub bytes: u64,
    pub last_capture_ms: Option<i64>,
    pub live_url: String,
}

pub async fn cameras(
    State(state): State<AppState>,
    _user: ApiUser,
) -> Result<Json<Vec<CameraResponse>>, ApiError> {
    let live = all_cameras(&state).await?;
    let store = state.store().clone();
    let stored = blocking(move || store.cameras()).await?;
    Ok(Json(
        live.into_iter()
            .map(|status| {
                let info = stored.iter().find(|c| c.id == status.id);
                CameraResponse {
                    captures: info.map_or(0, |i| i.captures),
                    bytes: info.map_or(0, |i| i.bytes),
                    last_capture_ms: info.and_then(|i| i.last_capture_ms),
                    live_url: format!("/live/{}.mjpg", status.id),
                    status,
                }
            })
            .collect(),
    ))
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
