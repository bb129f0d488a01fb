//! Cross-site request forgery protection.
//!
//! Signed-in requests: every state change (logout, delete, the API's
//! `DELETE`) must carry the session's CSRF token (`Session::csrf_token`,
//! created and stored by vigia-store) in the form field `csrf` or the
//! `X-CSRF-Token` header. A page embeds it in its forms; the JSON API hands
//! it out at `GET /api/v1/session`, which other origins cannot read.
//!
//! Sign-in (no session yet) uses a double-submit token: `GET /` sets a
//! random `vigia_login_csrf` cookie (HttpOnly, SameSite=Strict) and puts
//! the same value in a hidden form field; `POST /login` requires both and
//! requires them equal. A cross-site form can neither read the cookie nor
//! make the browser send it (SameSite=Strict), which stops login CSRF
//! (signing a victim into the attacker's account). We chose this over an
//! `Origin` check alone because some browsers and privacy proxies omit
//! `Origin`, and a missing header would have to be either trusted or
//! rejected.
//!
//! Comparisons are constant-time so the token cannot be guessed byte by
//! byte from response timing.

use axum::http::HeaderMap;

use crate::error::AppError;

/// Form field carrying the token.
pub const FIELD: &str = "csrf";
/// Header carrying the token (API, scripts).
pub const HEADER: &str = "x-csrf-token";
/// Cookie carrying the pre-session sign-in token.
pub const LOGIN_COOKIE: &str = "vigia_login_csrf";

/// Compares without an early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a token offered with a request against the expected one; an
/// empty expectation never matches.
pub fn verify(expected: &str, offered: Option<&str>) -> Result<(), AppError> {
    match offered {
        Some(o) if !expected.is_empty() && constant_time_eq(expected.as_bytes(), o.as_bytes()) => {
            Ok(())
        }
        _ => Err(AppError::Csrf),
    }
}

/// The token from the `X-CSRF-Token` header, if any.
pub fn from_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(HEADER).and_then(|v| v.to_str().ok())
}

/// 128 random bits, hex: a fresh sign-in token.
pub fn new_login_token() -> Result<String, AppError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| AppError::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

/// Whether a cookie value looks like one of our sign-in tokens.
pub fn is_login_token(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_requires_exact_nonempty_match() {
        assert!(verify("abc", Some("abc")).is_ok());
        assert!(verify("abc", Some("abd")).is_err());
        assert!(verify("abc", Some("ab")).is_err());
        assert!(verify("abc", None).is_err());
        assert!(verify("", Some("")).is_err());
    }

    #[test]
    fn login_tokens_are_random_hex() {
        let a = new_login_token().unwrap();
        let b = new_login_token().unwrap();
        assert!(is_login_token(&a) && is_login_token(&b));
        assert_ne!(a, b);
    }
}
