//! Who is asking: session cookies and the extractors that turn them into a
//! signed-in user.
//!
//! The cookie `vigia_session` holds the session's random token (hex);
//! vigia-store keeps only its sha256 and decides expiry against our
//! injected clock, so a test can advance time and watch a session die.
//! The cookie is HttpOnly (no script reads it), SameSite=Strict (no other
//! site makes the browser send it), Path=/, and Secure under TLS.
//!
//! [`User`] rejects anonymous requests with [`AppError::Unauthenticated`]
//! (a redirect to the sign-in page); [`ApiUser`] with a JSON 401. Role and
//! CSRF checks are explicit calls in the handlers that change state.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use vigia_store::{Role, Session};

use crate::csrf;
use crate::error::{blocking, ApiError, AppError};
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "vigia_session";

/// The value of cookie `name`, if the request has exactly that cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Session tokens are 64 hex digits; anything else is not looked up.
fn plausible_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A `Set-Cookie` value with our fixed attributes.
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v =
        format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}");
    // Names are ours and values are hex, so this never fails; an empty
    // cookie (which clears nothing) is the harmless fallback.
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The client's address as the socket saw it. `X-Forwarded-For` is not
/// trusted: behind a reverse proxy every client shares the proxy's budget,
/// which errs on the side of locking out.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// A signed-in user, for pages.
#[derive(Debug, Clone)]
pub struct User {
    pub session: Session,
    /// The cookie's token, needed to end the session at sign-out.
    pub token: String,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.session.user.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Checks the CSRF token offered with a state-changing request.
    pub fn check_csrf(&self, offered: Option<&str>) -> Result<(), AppError> {
        csrf::verify(&self.session.csrf_token, offered)
    }

    pub fn name(&self) -> &str {
        &self.session.user.name
    }
}

/// Looks the request's session up; `Ok(None)` when there is none or it
/// expired.
pub async fn current_user(headers: &HeaderMap, state: &AppState) -> Result<Option<User>, AppError> {
    let Some(token) = cookie(headers, SESSION_COOKIE).filter(|t| plausible_token(t)) else {
        return Ok(None);
    };
    let token = token.to_owned();
    let store = state.store().clone();
    let now = state.now_ms();
    let t = token.clone();
    let session = blocking(move || store.session(&t, now)).await?;
    Ok(session.map(|session| User { session, token }))
}

impl FromRequestParts<AppState> for User {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        current_user(&parts.headers, state)
            .await?
            .ok_or(AppError::Unauthenticated)
    }
}

/// A signed-in user, for the JSON API: anonymous requests get 401.
#[derive(Debug, Clone)]
pub struct ApiUser(pub User);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match current_user(&parts.headers, state).await? {
            Some(u) => Ok(ApiUser(u)),
            None => Err(ApiError(AppError::Unauthenticated)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing_finds_exact_names() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; vigia_session_x=2; vigia_session=abc"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn set_cookie_has_the_security_attributes() {
        let v = set_cookie(SESSION_COOKIE, "ab", 60, true);
        let v = v.to_str().unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
            "Secure",
        ] {
            assert!(v.contains(part), "{v}");
        }
        assert!(!set_cookie("x", "y", 1, false)
            .to_str()
            .unwrap()
            .contains("Secure"));
    }
}
