//! `/media/{capture id}/{snapshot.jpg|thumb.jpg|clip.mp4}`: a capture's
//! files, with single-range `Range` support so browsers can seek in clips.
//!
//! The path is parsed into a [`CaptureId`] and a [`MediaKind`] from a fixed
//! table; anything else is 404 before the store is asked. The file's path
//! comes only from [`vigia_store::Store::media_path`], which derives it from
//! ids: no request string ever becomes a path.
//!
//! Ranges: one `bytes=a-b`, `bytes=a-` or `bytes=-n` range is served as
//! 206 with `Content-Range`; a range wholly past the end is 416. Multiple
//! ranges and malformed headers are ignored (RFC 9110 allows that) and the
//! whole file is sent with 200.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use vigia_base::CaptureId;
use vigia_store::MediaKind;

use crate::auth::User;
use crate::error::{blocking, AppError};
use crate::extract::{Path, Query};
use crate::state::AppState;

/// URL file names; the only ones served.
pub fn kind_from_file_name(name: &str) -> Option<MediaKind> {
    match name {
        "snapshot.jpg" => Some(MediaKind::Snapshot),
        "thumb.jpg" => Some(MediaKind::Thumbnail),
        "clip.mp4" => Some(MediaKind::Clip),
        _ => None,
    }
}

pub fn url_file_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Snapshot => "snapshot.jpg",
        MediaKind::Thumbnail => "thumb.jpg",
        MediaKind::Clip => "clip.mp4",
    }
}

pub fn url(id: &CaptureId, kind: MediaKind) -> String {
    format!("/media/{id}/{}", url_file_name(kind))
}

/// A byte range to serve, inclusive bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeReq {
    Full,
    Partial { start: u64, end: u64 },
    Unsatisfiable,
}

/// Interprets a `Range` header against a file of `len` bytes.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeReq {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Full;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match num(suffix) {
            None => RangeReq::Full,
            Some(0) => RangeReq::Unsatisfiable,
            Some(_) if len == 0 => RangeReq::Unsatisfiable,
            Some(n) => RangeReq::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        },
        (start, end) => {
            let Some(start) = num(start) else {
                return RangeReq::Full;
            };
            let end = if end.is_empty() {
                None
            } else {
                match num(end) {
                    Some(e) if e >= start => Some(e),
                    _ => return RangeReq::Full,
                }
            };
            if start >= len {
                return RangeReq::Unsatisfiable;
            }
            RangeReq::Partial {
                start,
                end: end.map_or(len - 1, |e| e.min(len - 1)),
            }
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct MediaParams {
    #[serde(default)]
    download: Option<String>,
}

const CHUNK: usize = 64 * 1024;

pub async fn handler(
    _user: User,
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
    Query(params): Query<MediaParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id: CaptureId = id.parse().map_err(|_| AppError::NotFound)?;
    let kind = kind_from_file_name(&file).ok_or(AppError::NotFound)?;
    let store = state.store().clone();
    let lookup = id.clone();
    let path = blocking(move || store.media_path(&lookup, kind))
        .await?
        .ok_or(AppError::NotFound)?;
    let io = |source| AppError::Io {
        path: path.clone(),
        source,
    };
    let mut f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        // Deleted between the lookup and the open.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AppError::NotFound),
        Err(e) => return Err(io(e)),
    };
    let len = f.metadata().await.map_err(io)?.len();
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, count) = match range {
        RangeReq::Full => (StatusCode::OK, 0, len),
        RangeReq::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeReq::Unsatisfiable => return Err(AppError::RangeNotSatisfiable { len }),
    };
    if start > 0 {
        f.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
    }
    let body = Body::from_stream(stream::unfold(
        (f.take(count), path.clone()),
        |(mut r, p)| async move {
            let mut buf = vec![0u8; CHUNK];
            match r.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(bytes::Bytes::from(buf)), (r, p)))
                }
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "reading media failed mid-response");
                    Some((Err(e), (r, p)))
                }
            }
        },
    ));
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let v = format!("bytes {start}-{}/{len}", start + count - 1);
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if params.download.as_deref().is_some_and(|d| d == "1") {
        // The name is built from the id and our table: safe in a header.
        let v = format!("attachment; filename=\"{id}-{}\"", url_file_name(kind));
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), RangeReq::Full);
        assert_eq!(p("bytes=0-99"), RangeReq::Partial { start: 0, end: 99 });
        assert_eq!(
            p("bytes=900-"),
            RangeReq::Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(
            p("bytes=-100"),
            RangeReq::Partial {
                start: 900,
                end: 999
            }
        );
        assert_eq!(p("bytes=-5000"), RangeReq::Partial { start: 0, end: 999 });
        assert_eq!(
            p("bytes=990-5000"),
            RangeReq::Partial {
                start: 990,
                end: 999
            }
        );
        assert_eq!(p("bytes=1000-"), RangeReq::Unsatisfiable);
        assert_eq!(p("bytes=-0"), RangeReq::Unsatisfiable);
        assert_eq!(p("bytes=5-2"), RangeReq::Full);
        assert_eq!(p("bytes=0-1,5-6"), RangeReq::Full);
        assert_eq!(p("items=0-1"), RangeReq::Full);
        assert_eq!(p("bytes=x-1"), RangeReq::Full);
        assert_eq!(p("bytes=+1-2"), RangeReq::Full);
        assert_eq!(parse_range(Some("bytes=0-"), 0), RangeReq::Unsatisfiable);
        assert!(kind_from_file_name("../snapshot.jpg").is_none());
    }
}
