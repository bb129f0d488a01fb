//! Security headers added to every response, including errors, redirects,
//! media and the 404 fallback.
//!
//! The CSP allows only same-origin resources and no inline script or
//! style, so even an escaping bug cannot run injected code; pages are
//! built to work under it (external `/assets/*.js`, CSS classes only).
//! Responses that did not set their own `Cache-Control` get `no-store`:
//! pages show who is signed in and what the cameras saw.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;

pub const CSP: &str = "default-src 'self'; img-src 'self'; media-src 'self'; script-src 'self'; \
style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub async fn add_security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
