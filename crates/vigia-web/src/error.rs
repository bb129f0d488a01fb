//! The one place where errors become HTTP responses.
//!
//! Handlers return [`AppError`] (HTML pages) or [`ApiError`] (the JSON API);
//! both map a failure to a status code with [`AppError::status`] and render
//! it here, nowhere else. Internal failures (store, I/O, a panicked blocking
//! task) are logged once, at the moment they become a response, and the
//! client only ever sees a generic message: paths, SQL and user names in
//! error texts stay in the server's log. Command failures are the
//! exception that proves the rule: their text (camera id, the node's own
//! answer) is what the user asked to see, and holds nothing of ours.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use vigia_base::CommandParseError;
use vigia_link::server::CommandError;
use vigia_store::StoreError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Unknown route, malformed id, or an id that is not stored.
    #[error("not found")]
    NotFound,
    /// No valid session: pages redirect to the login page, the API says 401.
    #[error("not signed in")]
    Unauthenticated,
    /// Signed in, but the role does not allow it.
    #[error("forbidden")]
    Forbidden,
    /// CSRF token missing or wrong on a state-changing request.
    #[error("missing or invalid CSRF token")]
    Csrf,
    /// A query parameter the handler cannot use; the text is ours, not the
    /// client's input, so it is safe to show.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A command text that is not one of ours.
    #[error("{0}")]
    BadCommand(#[from] CommandParseError),
    /// A command that was not carried out: the node is not connected, did
    /// not answer in time, went away, or refused.
    #[error("{0}")]
    Command(#[from] CommandError),
    /// A `Range` header that lies wholly outside the file.
    #[error("range not satisfiable (file is {len} bytes)")]
    RangeNotSatisfiable { len: u64 },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("I/O on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// A blocking task panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) | AppError::BadCommand(_) => StatusCode::BAD_REQUEST,
            // The camera exists but cannot take orders right now.
            AppError::Command(CommandError::NotConnected(_)) => StatusCode::CONFLICT,
            AppError::Command(CommandError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Command(CommandError::Disconnected(_)) => StatusCode::BAD_GATEWAY,
            AppError::Command(CommandError::Failed { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            AppError::Store(StoreError::DiskFull { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Io { .. } | AppError::Random(_) | AppError::Join(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The text shown to the client: never the internal detail.
    pub fn public_message(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            AppError::NotFound => "Not found.",
            AppError::Unauthenticated => "Please sign in.",
            AppError::Forbidden => "Your account is not allowed to do that.",
            AppError::Csrf => "The form has expired or did not come from this site. Reload the page and try again.",
            AppError::BadRequest(m) => m,
            AppError::BadCommand(e) => return Cow::Owned(e.to_string()),
            AppError::Command(e) => return Cow::Owned(e.to_string()),
            AppError::RangeNotSatisfiable { .. } => "Requested range not satisfiable.",
            AppError::Store(StoreError::DiskFull { .. }) => "The server is out of disk space.",
            AppError::Store(_) | AppError::Io { .. } | AppError::Random(_) | AppError::Join(_) => {
                "Internal server error."
            }
        })
    }

    fn log_if_internal(&self) {
        // Command failures are logged once, where the command ran.
        if self.status().is_server_error() && !matches!(self, AppError::Command(_)) {
            tracing::error!(error = %self, "request failed");
        }
    }

    /// Headers every rendering of this error carries.
    fn decorate(&self, resp: &mut Response) {
        if let AppError::RangeNotSatisfiable { len } = self {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log_if_internal();
        if matches!(self, AppError::Unauthenticated) {
            return Redirect::to("/").into_response();
        }
        let status = self.status();
        let page = crate::pages::error_page(status, &self.public_message());
        let mut resp = (status, Html(page.into_string())).into_response();
        self.decorate(&mut resp);
        resp
    }
}

/// An [`AppError`] rendered as JSON (`{"error": "..."}`) for `/api/v1` and
/// `/metrics`, where an anonymous request gets 401 rather than a redirect.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        ApiError(e.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        e.log_if_internal();
        let status = e.status();
        let body = serde_json::json!({ "error": e.public_message() });
        let mut resp = (status, axum::Json(body)).into_response();
        e.decorate(&mut resp);
        resp
    }
}

/// Runs a blocking store call on tokio's blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    Ok(tokio::task::spawn_blocking(f).await??)
}
