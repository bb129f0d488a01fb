//! `/history`: captures grouped by capture date (UTC), newest first, with
//! day navigation (`?day=YYYY-MM-DD`), camera and label filters, thumbnails
//! and keyset pagination (`?before=<capture id>`).
//!
//! The query parsing is shared with `GET /api/v1/captures`, so the page
//! and the API accept exactly the same filters.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use vigia_base::{CameraId, CaptureId};
use vigia_store::{CaptureQuery, CaptureSummary, DayCount, MediaKind};

use crate::auth::User;
use crate::error::{blocking, AppError};
use crate::extract::Query;
use crate::media;
use crate::pages::{day_of, fmt_bytes, fmt_duration, fmt_time, layout, Nav};
use crate::state::AppState;

/// Captures per page.
pub const PAGE_SIZE: u32 = 50;
/// Labels offered in the filter; other labels still work via the URL.
pub const KNOWN_LABELS: [&str; 3] = ["person", "animal", "motion"];

/// Filters as they arrive in the URL; empty strings mean "any".
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CaptureParams {
    pub camera: Option<String>,
    pub label: Option<String>,
    pub day: Option<String>,
    pub before: Option<String>,
    pub limit: Option<u32>,
}

/// Whether `s` is a plausible `YYYY-MM-DD`.
pub fn valid_day(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let month: u32 = s[5..7].parse().unwrap_or(0);
    let day: u32 = s[8..10].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl CaptureParams {
    /// Validates the filters into a store query.
    pub fn to_query(&self, default_limit: u32) -> Result<CaptureQuery, AppError> {
        let camera = nonempty(&self.camera)
            .map(|c| c.parse::<CameraId>())
            .transpose()
            .map_err(|_| AppError::BadRequest("Unknown camera."))?;
        let label = nonempty(&self.label).map(str::to_owned);
        if label.as_ref().is_some_and(|l| l.len() > 64) {
            return Err(AppError::BadRequest("Label too long."));
        }
        let day = nonempty(&self.day).map(str::to_owned);
        if day.as_deref().is_some_and(|d| !valid_day(d)) {
            return Err(AppError::BadRequest("The day must look like 2026-11-24."));
        }
        let before = nonempty(&self.before)
            .map(|b| b.parse::<CaptureId>())
            .transpose()
            .map_err(|_| AppError::BadRequest("Invalid page cursor."))?;
        Ok(CaptureQuery {
            camera,
            label,
            day,
            before,
            limit: self.limit.unwrap_or(default_limit).clamp(1, 500),
        })
    }
}

/// `/history?...` with the given filters (empty ones left out).
pub fn history_url(q: &CaptureQuery, day: Option<&str>, before: Option<&CaptureId>) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    if let Some(c) = &q.camera {
        ser.append_pair("camera", c.as_str());
    }
    if let Some(l) = &q.label {
        ser.append_pair("label", l);
    }
    if let Some(d) = day {
        ser.append_pair("day", d);
    }
    if let Some(b) = before {
        ser.append_pair("before", b.as_str());
    }
    let qs = ser.finish();
    if qs.is_empty() {
        "/history".to_owned()
    } else {
        format!("/history?{qs}")
    }
}

fn filters(q: &CaptureQuery, cameras: &[CameraId]) -> Markup {
    let label = q.label.as_deref().unwrap_or("");
    html! {
        form.filters method="get" action="/history" {
            label { "Camera "
                select name="camera" {
                    option value="" { "all" }
                    @for c in cameras {
                        option value=(c) selected[q.camera.as_ref() == Some(c)] { (c) }
                    }
                }
            }
            label { "Label "
                select name="label" {
                    option value="" { "all" }
                    @for l in KNOWN_LABELS {
                        option value=(l) selected[label == l] { (l) }
                    }
                    @if !label.is_empty() && !KNOWN_LABELS.contains(&label) {
                        option value=(label) selected { (label) }
                    }
                }
            }
            @if let Some(d) = &q.day {
                input type="hidden" name="day" value=(d);
            }
            button type="submit" { "Filter" }
        }
    }
}

fn day_nav(q: &CaptureQuery, days: &[DayCount]) -> Markup {
    let current = q.day.as_deref();
    // Days are newest first: "newer" is the previous entry.
    let pos = current.and_then(|d| days.iter().position(|x| x.day == d));
    let newer = pos.and_then(|i| i.checked_sub(1)).and_then(|i| days.get(i));
    let older = match pos {
        Some(i) => days.get(i + 1),
        None if current.is_none() => None,
        None => days.iter().find(|x| Some(x.day.as_str()) < current),
    };
    html! {
        nav.days aria-label="Days" {
            a href=(history_url(q, None, None)) aria-current=[current.is_none().then_some("page")] { "All days" }
            @if let Some(n) = newer {
                a href=(history_url(q, Some(&n.day), None)) { "← " (n.day) }
            }
            @if let Some(o) = older {
                a href=(history_url(q, Some(&o.day), None)) { (o.day) " →" }
            }
            details.daylist {
                summary { "Pick a day" }
                ul {
                    @for d in days.iter().take(90) {
                        li {
                            a href=(history_url(q, Some(&d.day), None))
                              aria-current=[(Some(d.day.as_str()) == current).then_some("page")] {
                                (d.day) " (" (d.count) ")"
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One capture in a list.
pub fn capture_card(c: &CaptureSummary) -> Markup {
    html! {
        li.capture {
            a href=(format!("/captures/{}", c.id)) {
                img src=(media::url(&c.id, MediaKind::Thumbnail)) alt="" width="160" height="90" loading="lazy";
                span.meta {
                    strong { (fmt_time(c.start_ms)) }
                    span { (c.camera) " · " span.label { (c.label) } }
                    span { (fmt_duration(c.end_ms - c.start_ms)) " · " (fmt_bytes(c.bytes)) }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    user: User,
    Query(params): Query<CaptureParams>,
) -> Result<Response, AppError> {
    let q = params.to_query(PAGE_SIZE)?;
    let store = state.store().clone();
    let q2 = q.clone();
    let (page, days, cameras) = blocking(move || {
        let page = store.list_captures(&q2)?;
        let days = store.capture_days(q2.camera.as_ref(), q2.label.as_deref())?;
        let cameras = store.camera_ids()?;
        Ok((page, days, cameras))
    })
    .await?;
    let mut cam_ids: Vec<CameraId> = cameras;
    for s in state.live().cameras() {
        if !cam_ids.contains(&s.id) {
            cam_ids.push(s.id);
        }
    }
    cam_ids.sort();
    // Group consecutive captures by UTC day (the list is newest first).
    let mut groups: Vec<(String, Vec<&CaptureSummary>)> = Vec::new();
    for c in &page.items {
        let d = day_of(c.start_ms);
        match groups.last_mut() {
            Some((day, items)) if *day == d => items.push(c),
            _ => groups.push((d, vec![c])),
        }
    }
    let body = html! {
        h1 { "History" @if let Some(d) = &q.day { " · " (d) } }
        (filters(&q, &cam_ids))
        (day_nav(&q, &days))
        @if groups.is_empty() {
            p.empty { "No captures match." }
        }
        @for (day, items) in &groups {
            section.day {
                h2 { (day) }
                ul.captures {
                    @for c in items { (capture_card(c)) }
                }
            }
        }
        @if let Some(next) = &page.next_before {
            p.more { a href=(history_url(&q, q.day.as_deref(), Some(next))) { "Older captures →" } }
        }
    };
    Ok(Html(layout(&state, &user, Nav::History, "History", body).into_string()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_validated() {
        assert!(valid_day("2026-11-24"));
        for bad in ["2026-13-01", "2026-1-01", "x", "2026-11-24x", "../../etc"] {
            assert!(!valid_day(bad), "{bad}");
        }
    }

    #[test]
    fn history_urls_encode_filters() {
        let q = CaptureQuery {
            label: Some("a b&c".into()),
            ..Default::default()
        };
        assert_eq!(
            history_url(&q, Some("2026-11-24"), None),
            "/history?label=a+b%26c&day=2026-11-24"
        );
        assert_eq!(
            history_url(&CaptureQuery::default(), None, None),
            "/history"
        );
    }
}
