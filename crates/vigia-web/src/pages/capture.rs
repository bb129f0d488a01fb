//! `/captures/{id}`: one capture — the clip (seekable, served with range
//! requests), the snapshot, the manifest, download links — and, for
//! admins, deletion behind a `<details>` confirmation (no script needed)
//! with the CSRF token: `POST /captures/{id}/delete`.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use vigia_base::CaptureId;
use vigia_store::MediaKind;

use crate::auth::User;
use crate::error::{blocking, AppError};
use crate::extract::{Form, Path};
use crate::media;
use crate::pages::login::CsrfForm;
use crate::pages::{csrf_field, fmt_bytes, fmt_duration, fmt_time, layout, Nav};
use crate::state::AppState;

/// Parses a capture id from the URL; anything else is 404.
pub fn parse_id(s: &str) -> Result<CaptureId, AppError> {
    s.parse().map_err(|_| AppError::NotFound)
}

pub async fn page(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let store = state.store().clone();
    let lookup = id.clone();
    let d = blocking(move || store.get_capture(&lookup))
        .await?
        .ok_or(AppError::NotFound)?;
    let s = &d.summary;
    let m = &d.manifest;
    let clip = media::url(&id, MediaKind::Clip);
    let snap = media::url(&id, MediaKind::Snapshot);
    let body = html! {
        h1 { (s.camera) " · " span.label { (s.label) } " · " (fmt_time(s.start_ms)) " UTC" }
        @if s.has_clip {
            video.clip controls preload="metadata" poster=(snap) src=(clip) {
                a href=(clip) { "Download the clip" }
            }
        }
        figure.snapshot {
            img src=(snap) alt=(format!("Snapshot of {} at {}", s.camera, fmt_time(s.start_ms)));
        }
        p.actions {
            @if s.has_clip {
                a.button href=(format!("{clip}?download=1")) download { "Download clip" }
            }
            a.button href=(format!("{snap}?download=1")) download { "Download snapshot" }
            a href=(format!("/history?day={}", crate::pages::day_of(s.start_ms))) { "Back to that day" }
        }
        section.manifest {
            h2 { "Manifest" }
            dl {
                dt { "Capture" } dd { code { (m.capture_id) } }
                dt { "Camera" } dd { (m.camera) }
                dt { "Label" } dd { (m.label) }
                dt { "Trigger" } dd { (fmt_time(m.trigger_ms)) }
                dt { "Footage" } dd { (m.start_utc) " – " (m.end_utc) " (" (fmt_duration(m.end_ms - m.start_ms)) ")" }
                dt { "Frames" } dd { (m.frames) }
                dt { "Motion score" } dd { (format!("max {:.3}, mean {:.3}", m.scores.motion_max, m.scores.motion_mean)) }
                dt { "Person score" } dd {
                    @match m.scores.person_max {
                        Some(p) => (format!("{p:.2} (best of {} detections)", m.scores.detections)),
                        None => "not checked (no person detector ran)",
                    }
                }
                dt { "End" } dd { (m.end_reason) }
                dt { "Stored" } dd { (fmt_bytes(s.bytes)) @if let Some(b) = d.clip_bytes { " (clip " (fmt_bytes(b)) ")" } }
            }
            div.scroll {
                table.files {
                    thead { tr { th { "File" } th { "Bytes" } th { "SHA-256" } } }
                    tbody {
                        @for f in &m.files {
                            tr { td { (f.name) } td { (f.bytes) } td { code { (f.sha256) } } }
                        }
                    }
                }
            }
        }
        @if user.is_admin() {
            details.danger {
                summary { "Delete this capture…" }
                form method="post" action=(format!("/captures/{id}/delete")) {
                    (csrf_field(&user))
                    p { "The clip, snapshot and manifest will be removed for good." }
                    button.delete type="submit" { "Delete permanently" }
                }
            }
        }
    };
    let title = format!("{} {}", s.camera, fmt_time(s.start_ms));
    Ok(Html(layout(&state, &user, Nav::Other, &title, body).into_string()).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    user.require_admin()?;
    user.check_csrf(form.csrf.as_deref())?;
    let store = state.store().clone();
    let target = id.clone();
    if !blocking(move || store.delete_capture(&target)).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(capture = %id, user = %user.name(), "capture deleted");
    Ok(Redirect::to("/history").into_response())
}
