//! Sign-in and sign-out: `GET /`, `POST /login`, `POST /logout`.
//!
//! Wrong user name and wrong password give one and the same message, and
//! the store hashes a dummy password for unknown users, so the page does
//! not reveal which accounts exist. Failed attempts feed the rate limiter
//! ([`crate::ratelimit`]); a locked-out client is told how long to wait
//! and its password is not even checked. Login CSRF uses the
//! double-submit cookie described in [`crate::csrf`].

use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

use crate::auth::{self, User, SESSION_COOKIE};
use crate::csrf;
use crate::error::{blocking, AppError};
use crate::extract::Form;
use crate::pages::bare;
use crate::state::AppState;

/// The one message for every credential failure.
pub const BAD_CREDENTIALS: &str = "Wrong user name or password.";

fn render(state: &AppState, token: &str, status: StatusCode, message: Option<&str>) -> Response {
    let name = &state.config().system_name;
    let page = bare(
        &format!("Sign in · {name}"),
        html! {
            section.card.login {
                img.logo src="/assets/logo.svg" alt="" width="64" height="64";
                h1 { (name) }
                @if let Some(m) = message {
                    p.error role="alert" { (m) }
                }
                form method="post" action="/login" {
                    input type="hidden" name=(csrf::FIELD) value=(token);
                    label for="username" { "User name" }
                    input #username name="username" autocomplete="username" required autofocus;
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    button type="submit" { "Sign in" }
                }
            }
        },
    );
    let cookie = auth::set_cookie(
        csrf::LOGIN_COOKIE,
        token,
        3600,
        state.config().secure_cookies,
    );
    (
        status,
        [(header::SET_COOKIE, cookie)],
        Html(page.into_string()),
    )
        .into_response()
}

/// The sign-in token already in the browser, or a new one.
fn login_token(headers: &HeaderMap) -> Result<String, AppError> {
    match auth::cookie(headers, csrf::LOGIN_COOKIE).filter(|t| csrf::is_login_token(t)) {
        Some(t) => Ok(t.to_owned()),
        None => csrf::new_login_token(),
    }
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if auth::current_user(&headers, &state).await?.is_some() {
        return Ok(Redirect::to("/history").into_response());
    }
    Ok(render(
        &state,
        &login_token(&headers)?,
        StatusCode::OK,
        None,
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let cookie_token = auth::cookie(&headers, csrf::LOGIN_COOKIE).unwrap_or("");
    csrf::verify(cookie_token, Some(&form.csrf))?;
    let ip = auth::client_ip(&ext);
    let now = state.now_ms();
    if let Some(wait_ms) = state.limiter().check(ip, &form.username, now) {
        state
            .metrics()
            .login_rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let secs = (wait_ms + 999) / 1000;
        let msg = format!("Too many failed sign-in attempts. Try again in {secs} s.");
        let mut resp = render(
            &state,
            cookie_token,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&msg),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        return Ok(resp);
    }
    let store = state.store().clone();
    let (name, password) = (form.username.clone(), form.password);
    let user = blocking(move || store.verify_password(&name, &password)).await?;
    let Some(user) = user else {
        state.limiter().record_failure(ip, &form.username, now);
        state
            .metrics()
            .login_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(user = %form.username.escape_debug(), ip = ?ip, "sign-in failed");
        return Ok(render(
            &state,
            cookie_token,
            StatusCode::UNAUTHORIZED,
            Some(BAD_CREDENTIALS),
        ));
    };
    state.limiter().record_success(&form.username);
    let store = state.store().clone();
    let ttl = state.config().session_ttl_ms;
    let session = blocking(move || store.create_session(user.id, now, ttl)).await?;
    let secure = state.config().secure_cookies;
    let mut resp = Redirect::to("/history").into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        auth::set_cookie(SESSION_COOKIE, &session.token, ttl / 1000, secure),
    );
    h.append(
        header::SET_COOKIE,
        auth::set_cookie(csrf::LOGIN_COOKIE, "", 0, secure),
    );
    Ok(resp)
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: Option<String>,
}

pub async fn logout(
    State(state): State<AppState>,
    user: User,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    user.check_csrf(form.csrf.as_deref())?;
    let store = state.store().clone();
    let token = user.token.clone();
    blocking(move || store.delete_session(&token)).await?;
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        auth::set_cookie(SESSION_COOKIE, "", 0, state.config().secure_cookies),
    );
    Ok(resp)
}
