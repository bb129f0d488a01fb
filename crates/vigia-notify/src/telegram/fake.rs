//! A fake Telegram Bot API server for tests (feature `fake-telegram`).
//!
//! The real API cannot be reached from CI, so this implements the slice of
//! it vigia uses, as documented at <https://core.telegram.org/bots/api>:
//! `POST|GET {base}/bot{token}/{method}` with parameters as a query string,
//! `application/x-www-form-urlencoded`, JSON or `multipart/form-data` (file
//! parts); the `{"ok":true,"result":…}` / `{"ok":false,"error_code":…,
//! "description":…,"parameters":{"retry_after":N}}` envelope; `getMe`;
//! `getUpdates` with `offset` (confirming and forgetting earlier updates;
//! negative offsets count from the end), `limit` and `timeout` long
//! polling; `sendMessage`, `sendPhoto`, `sendVideo` with their required
//! fields, size limits and file ids for re-sending an uploaded file.
//!
//! Tests inject updates, force 429/5xx answers or hang a method, and read
//! every request back in arrival order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;

/// Uploads above this are refused with 413 (the Bot API's limit for bots).
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;
const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

/// One file part of a multipart request.
#[derive(Debug, Clone)]
pub struct RecordedFile {
    pub field: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Bytes,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub at: Instant,
    pub method: String,
    /// Non-file parameters; JSON values other than strings keep their JSON text.
    pub params: BTreeMap<String, String>,
    pub files: Vec<RecordedFile>,
    /// The HTTP status the fake answered (0 while a hung request is open).
    pub status: u16,
}

impl RecordedRequest {
    pub fn chat_id(&self) -> Option<i64> {
        self.params.get("chat_id").and_then(|c| c.parse().ok())
    }
}

/// An answer to force on the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// 429 with `parameters.retry_after`.
    TooManyRequests { retry_after_s: u64 },
    /// An error status (500, 502, …) in the documented error shape.
    Status(u16),
    /// Accept the request and never answer.
    Hang,
    /// Answer normally after this long (a slow uplink or API).
    Delay(Duration),
}

#[derive(Default)]
struct Inner {
    updates: VecDeque<Value>,
    next_update_id: i64,
    requests: Vec<RecordedRequest>,
    forced: Vec<(Option<String>, Forced)>,
    files: HashMap<String, Bytes>,
    next_message_id: i64,
    lose_confirmations: bool,
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The running fake; stops when dropped.
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: StatusCode, description: &str) -> Response {
    let body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    (status, Json(body)).into_response()
}

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

impl FakeTelegram {
    /// Serves `/bot{token}/…` on a free loopback port.
    pub async fn start(token: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            inner: Mutex::new(Inner {
                next_update_id: 100_000,
                next_message_id: 1,
                ..Inner::default()
            }),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", any(handle))
            .layer(axum::extract::DefaultBodyLimit::max(
                MAX_UPLOAD_BYTES + (1 << 20),
            ))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake telegram stopped");
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// The `api_url` to configure (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a text message from `chat_id` as a new update; returns its update_id.
    pub fn push_text(&self, chat_id: i64, text: &str) -> i64 {
        let mut g = self.shared.lock();
        let id = g.next_update_id;
        let message_id = g.next_message_id;
        g.next_message_id += 1;
        let update = json!({
            "update_id": id,
            "message": {
                "message_id": message_id,
                "from": {"id": chat_id, "is_bot": false, "first_name": "Test"},
                "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
                "date": 1_700_000_000,
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": text.split(' ').next().map_or(0, str::len)}],
            }
        });
        g.next_update_id += 1;
        g.updates.push_back(update);
        drop(g);
        self.shared.changed.notify_waiters();
        id
    }

    /// Queues an update as given (for replays and odd shapes). Update ids
    /// are taken as they are.
    pub fn push_update(&self, update: Value) {
        self.shared.lock().updates.push_back(update);
        self.shared.changed.notify_waiters();
    }

    /// The next request to `method` (any method if `None`) gets `answer`.
    pub fn force(&self, method: Option<&str>, answer: Forced) {
        self.shared
            .lock()
            .forced
            .push((method.map(str::to_owned), answer));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Requests to `method` answered 200.
    pub fn accepted(&self, method: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.status == 200)
            .collect()
    }

    /// Simulates confirmations that never reach Telegram (the bot crashed
    /// before its next `getUpdates`): offsets still filter what is
    /// returned, but confirmed updates are kept and come back to a client
    /// that polls without an offset.
    pub fn lose_confirmations(&self, lose: bool) {
        self.shared.lock().lose_confirmations = lose;
    }

    /// Updates not yet confirmed by a `getUpdates` offset.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().updates.len()
    }

    /// Polls `cond` over the recorded requests until it holds or `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        cond: impl Fn(&[RecordedRequest]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.requests()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn json_param(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn read_params(
    req: Request,
) -> Result<(BTreeMap<String, String>, Vec<RecordedFile>), Response> {
    let mut params: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<BTreeMap<String, String>>()
        })
        .unwrap_or_default();
    let mut files = Vec::new();
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bad = |m: String| error(StatusCode::BAD_REQUEST, &format!("Bad Request: {m}"));
    if ctype.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| bad(e.body_text()))?;
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Request Entity Too Large",
                    ))
                }
                Err(e) => return Err(bad(e.body_text())),
            };
            let name = field.name().unwrap_or("").to_owned();
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
                } else {
                    bad(e.body_text())
                }
            })?;
            if file_name.is_some() {
                files.push(RecordedFile {
                    field: name,
                    file_name,
                    content_type,
                    bytes,
                });
            } else {
                params.insert(name, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    } else {
        let body = axum::body::to_bytes(req.into_body(), MAX_UPLOAD_BYTES)
            .await
            .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"))?;
        if ctype.starts_with("application/json") {
            let v: Value =
                serde_json::from_slice(&body).map_err(|_| bad("can't parse JSON object".into()))?;
            let Value::Object(m) = v else {
                return Err(bad("can't parse JSON object".into()));
            };
            params.extend(m.iter().map(|(k, v)| (k.clone(), json_param(v))));
        } else if !body.is_empty() {
            params.extend(url_pairs(&String::from_utf8_lossy(&body)));
        }
    }
    Ok((params, files))
}

/// `a=1&b=x%20y` → pairs (percent and `+` decoding).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(b[i + 1]), hex(b[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Width and height from a baseline or progressive JPEG's SOF marker.
fn jpeg_size(b: &[u8]) -> Option<(u16, u16)> {
    if b.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    while i + 9 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]);
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]);
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

async fn handle(
    State(s): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    req: Request,
) -> Response {
    let at = Instant::now();
    if bot != format!("bot{}", s.token) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let (params, files) = match read_params(req).await {
        Ok(p) => p,
        Err(resp) => {
            record(
                &s,
                at,
                &method,
                BTreeMap::new(),
                Vec::new(),
                resp.status().as_u16(),
            );
            return resp;
        }
    };
    let forced = {
        let mut g = s.lock();
        let pos = g
            .forced
            .iter()
            .position(|(m, _)| m.as_deref().is_none_or(|m| m == method));
        pos.map(|p| g.forced.remove(p).1)
    };
    let resp = match forced {
        Some(Forced::TooManyRequests { retry_after_s }) => {
            let body = json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {retry_after_s}"),
                "parameters": {"retry_after": retry_after_s},
            });
            (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
        }
        Some(Forced::Status(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(st, st.canonical_reason().unwrap_or("Internal Server Error"))
        }
        Some(Forced::Hang) => {
            record(&s, at, &method, params, files, 0);
            std::future::pending::<()>().await;
            return error(StatusCode::INTERNAL_SERVER_ERROR, "unreachable");
        }
        Some(Forced::Delay(d)) => {
            tokio::time::sleep(d).await;
            dispatch(&s, &method, &params, &files).await
        }
        None => dispatch(&s, &method, &params, &files).await,
    };
    record(&s, at, &method, params, files, resp.status().as_u16());
    resp
}

fn record(
    s: &Shared,
    at: Instant,
    method: &str,
    params: BTreeMap<String, String>,
    files: Vec<RecordedFile>,
    status: u16,
) {
    s.lock().requests.push(RecordedRequest {
        at,
        method: method.to_owned(),
        params,
        files,
        status,
    });
}

async fn dispatch(
    s: &Shared,
    method: &str,
    p: &BTreeMap<String, String>,
    files: &[RecordedFile],
) -> Response {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, &format!("Bad Request: {m}"));
    match method {
        "getMe" => ok(json!({
            "id": s.token.split(':').next().and_then(|i| i.parse::<i64>().ok()).unwrap_or(1),
            "is_bot": true,
            "first_name": "vigia test",
            "username": "vigia_test_bot",
        })),
        "getUpdates" => get_updates(s, p).await,
        "sendMessage" | "sendPhoto" | "sendVideo" => {
            let Some(chat) = p.get("chat_id").filter(|c| !c.is_empty()) else {
                return bad("chat_id is empty");
            };
            let Ok(chat) = chat.parse::<i64>() else {
                return bad("chat not found");
            };
            let mut msg = json!({
                "chat": {"id": chat, "type": if chat < 0 { "group" } else { "private" }},
                "date": 1_700_000_000,
            });
            if method == "sendMessage" {
                let text = p.get("text").map(String::as_str).unwrap_or("");
                if text.trim().is_empty() {
                    return bad("message text is empty");
                }
                if text.chars().count() > 4096 {
                    return bad("message is too long");
                }
                msg["text"] = text.into();
            } else {
                if p.get("caption").is_some_and(|c| c.chars().count() > 1024) {
                    return bad("message caption is too long");
                }
                let field = if method == "sendPhoto" {
                    "photo"
                } else {
                    "video"
                };
                let file = match (files.iter().find(|f| f.field == field), p.get(field)) {
                    (Some(f), _) => f.bytes.clone(),
                    (None, Some(id)) => match s.lock().files.get(id) {
                        Some(b) => b.clone(),
                        None => return bad("wrong file identifier/HTTP URL specified"),
                    },
                    (None, None) => return bad(&format!("there is no {field} in the request")),
                };
                if file.is_empty() {
                    return bad("file must be non-empty");
                }
                let mut g = s.lock();
                let file_id = format!("fake-{field}-{}", g.files.len() + 1);
                g.files.insert(file_id.clone(), file.clone());
                drop(g);
                let meta = |extra: Value| {
                    let mut m = json!({
                        "file_id": file_id,
                        "file_unique_id": format!("u{file_id}"),
                        "file_size": file.len(),
                    });
                    if let (Value::Object(m), Value::Object(e)) = (&mut m, extra) {
                        m.extend(e);
                    }
                    m
                };
                if method == "sendPhoto" {
                    if file.len() > MAX_PHOTO_BYTES {
                        return bad("PHOTO_INVALID_DIMENSIONS");
                    }
                    let Some((w, h)) = jpeg_size(&file) else {
                        return bad("IMAGE_PROCESS_FAILED");
                    };
                    msg["photo"] = json!([meta(json!({"width": w, "height": h}))]);
                } else {
                    msg["video"] = meta(json!({"mime_type": "video/mp4"}));
                }
                if let Some(c) = p.get("caption") {
                    msg["caption"] = c.as_str().into();
                }
            }
            let mut g = s.lock();
            msg["message_id"] = g.next_message_id.into();
            g.next_message_id += 1;
            ok(msg)
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn get_updates(s: &Shared, p: &BTreeMap<String, String>) -> Response {
    // Err carries the name of the unparsable parameter.
    let num = |k: &'static str| -> Result<Option<i64>, &'static str> {
        p.get(k).map(|v| v.parse().map_err(|_| k)).transpose()
    };
    let (offset, limit, timeout) = match (num("offset"), num("limit"), num("timeout")) {
        (Ok(o), Ok(l), Ok(t)) => (o, l.unwrap_or(100).clamp(1, 100), t.unwrap_or(0).max(0)),
        (Err(k), _, _) | (_, Err(k), _) | (_, _, Err(k)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Bad Request: invalid {k} specified"),
            )
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout as u64);
    loop {
        let changed = s.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        {
            let mut g = s.lock();
            let id = |u: &Value| u["update_id"].as_i64().unwrap_or(0);
            match offset {
                // A negative offset keeps the last -offset updates and forgets the rest.
                Some(o) if o < 0 => {
                    let keep = usize::try_from(-o).unwrap_or(usize::MAX);
                    while g.updates.len() > keep {
                        g.updates.pop_front();
                    }
                }
                Some(o) if !g.lose_confirmations => g.updates.retain(|u| id(u) >= o),
                _ => {}
            }
            let from = offset.filter(|o| *o > 0).unwrap_or(i64::MIN);
            let out: Vec<Value> = g
                .updates
                .iter()
                .filter(|u| id(u) >= from)
                .take(limit as usize)
                .cloned()
                .collect();
            if !out.is_empty() || tokio::time::Instant::now() >= deadline {
                return ok(Value::Array(out));
            }
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return ok(json!([]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            url_pairs("chat_id=42&text=a+b%21&x"),
            vec![
                ("chat_id".into(), "42".into()),
                ("text".into(), "a b!".into()),
                ("x".into(), String::new())
            ]
        );
    }

    #[test]
    fn jpeg_dimensions_come_from_the_sof_marker() {
        // SOI, APP0 (len 16), SOF0 (len 17): 8 bits, 48 high, 64 wide.
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        j.extend([0u8; 14]);
        j.extend([0xFF, 0xC0, 0, 17, 8, 0, 48, 0, 64, 3]);
        j.extend([0u8; 9]);
        assert_eq!(jpeg_size(&j), Some((64, 48)));
        assert_eq!(jpeg_size(b"GIF89a"), None);
    }
}
