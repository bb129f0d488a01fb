//! Static assets compiled into the binary (`/assets/{name}`): the style
//! sheet, the logo and the small script. No CDN, nothing read from disk at
//! run time, so the server works offline and the CSP can stay `'self'`.
//! Assets are public (the sign-in page needs them) and contain nothing
//! about cameras or users.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::extract::Path;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("style.css"),
    },
    Asset {
        name: "logo.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("logo.svg"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("app.js"),
    },
];

pub async fn handler(Path(name): Path<String>) -> Result<Response, AppError> {
    let a = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or(AppError::NotFound)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        a.bytes,
    )
        .into_response())
}
