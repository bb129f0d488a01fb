//! MJPEG over HTTP: IP cameras, Motion's stream port, another vigia server.
//!
//! Owns the socket side only: connect, one hand-written HTTP/1.1 GET
//! (`httparse` for the response head), the body (plain or chunked), timeouts
//! and reconnection. Parsing is delegated to the pure modules
//! [`crate::http_proto`] (URL, chunked) and [`crate::mjpeg`] (parts), and
//! each part is checked by [`crate::jpeg_check`].
//!
//! Does not speak TLS (an `https://` URL is a configuration error naming the
//! reason) nor Digest auth; Basic credentials come from the URL.
//!
//! Failure policy: every transient failure (refused, HTTP error status,
//! connection closed, no complete frame within `read_timeout`) drops the
//! connection and retries after a [`Backoff`] delay. An outage is logged
//! with one `warn!` at its start and one `info!` when it ends; attempts in
//! between are `debug!`, so a camera that is off for a night does not flood
//! the log. All state lives in the source, so a dropped `next_frame` future
//! (shutdown) loses nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use vigia_base::{Backoff, CameraId, Clock};
use vigia_media::Frame;

use crate::http_proto::{ChunkedDecoder, HttpUrl};
use crate::jpeg_check::prepare_jpeg;
use crate::mjpeg::{Event, MjpegParser, DEFAULT_MAX_PART_BYTES};
use crate::{CaptureError, FrameSource, NextFrame, SourceStats};

/// Settings of one HTTP MJPEG camera.
#[derive(Debug, Clone)]
pub struct HttpMjpegConfig {
    pub camera: CameraId,
    /// `http://[user:pass@]host[:port]/path`.
    pub url: String,
    /// Limit for establishing the TCP connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit for the response head, and for the time between two complete
    /// frames: a server that accepts and never answers, or stalls
    /// mid-stream, is dropped after this. Default 10 s.
    pub read_timeout: Duration,
    /// First reconnect delay; doubles per failure up to `backoff_max`.
    /// Defaults 0.5 s and 30 s.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Larger parts are dropped as corrupt. Default 8 MiB.
    pub max_frame_bytes: usize,
}

impl HttpMjpegConfig {
    pub fn new(camera: CameraId, url: impl Into<String>) -> Self {
        Self {
            camera,
            url: url.into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_frame_bytes: DEFAULT_MAX_PART_BYTES,
        }
    }
}

/// Longest response head accepted.
const MAX_HEAD_BYTES: usize = 16 << 10;
const READ_CHUNK: usize = 64 << 10;

pub struct HttpMjpegSource {
    cfg: HttpMjpegConfig,
    url: HttpUrl,
    clock: Arc<dyn Clock>,
    stats: Arc<SourceStats>,
    backoff: Backoff,
    conn: Option<Conn>,
    /// Connection attempts so far; all but the first count as reconnects.
    attempts: u64,
    /// When the next connection attempt may start (after a failure).
    retry_at: Option<Instant>,
    /// In an outage (warned once, not yet recovered).
    in_outage: bool,
    seq: u64,
}

struct Conn {
    stream: TcpStream,
    chunked: Option<ChunkedDecoder>,
    parser: MjpegParser,
    read_buf: Vec<u8>,
    decoded: Vec<u8>,
    /// The body has ended; only the parser's remainder is left.
    eof: bool,
}

impl HttpMjpegSource {
    /// Validates the URL (an `https://` or malformed URL is an error here,
    /// not at the first frame). Does not connect yet.
    pub fn new(cfg: HttpMjpegConfig, clock: Arc<dyn Clock>) -> Result<Self, CaptureError> {
        let url = HttpUrl::parse(&cfg.url)?;
        let seed = clock.now_ms() as u64 ^ cfg.camera.as_str().len() as u64;
        Ok(Self {
            backoff: Backoff::new(cfg.backoff_initial, cfg.backoff_max, seed),
            url,
            clock,
            stats: Arc::new(SourceStats::new()),
            conn: None,
            attempts: 0,
            retry_at: None,
            in_outage: false,
            seq: 0,
            cfg,
        })
    }

    async fn next(&mut self) -> Result<Option<Frame>, CaptureError> {
        let mut deadline = Instant::now() + self.cfg.read_timeout;
        loop {
            if self.conn.is_none() {
                if let Some(at) = self.retry_at {
                    tokio::time::sleep_until(at).await;
                    self.retry_at = None;
                }
                self.attempts += 1;
                if self.attempts > 1 {
                    self.stats.record_reconnect();
                }
                match self.connect().await {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        self.stats.set_connected(true);
                        if self.in_outage {
                            info!(source = %self.url.redacted, attempts = self.backoff.attempts(), "camera stream is back");
                            self.in_outage = false;
                        }
                        self.backoff.reset();
                        deadline = Instant::now() + self.cfg.read_timeout;
                    }
                    Err(e) => {
                        self.fail(e);
                        continue;
                    }
                }
            }
            while let Some(event) = self.conn.as_mut().and_then(|c| c.parser.next_event()) {
                if let Some(frame) = self.accept(event) {
                    return Ok(Some(frame));
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            if conn.eof {
                let last = conn.parser.finish();
                self.conn = None;
                let frame = last.and_then(|e| self.accept(e));
                self.fail("the server closed the stream".to_owned());
                if let Some(frame) = frame {
                    return Ok(Some(frame));
                }
                continue;
            }
            let read =
                tokio::time::timeout_at(deadline, conn.stream.read(&mut conn.read_buf)).await;
            match read {
                Err(_) => self.fail(format!(
                    "no complete frame within {:?}",
                    self.cfg.read_timeout
                )),
                Ok(Err(e)) => self.fail(format!("read error: {e}")),
                Ok(Ok(0)) => conn.eof = true,
                Ok(Ok(n)) => {
                    let input = &conn.read_buf[..n];
                    match conn.chunked.as_mut() {
                        None => conn.parser.push(input),
                        Some(dec) => {
                            conn.decoded.clear();
                            if let Err(e) = dec.decode(input, &mut conn.decoded) {
                                self.fail(format!("bad chunked encoding: {e}"));
                                continue;
                            }
                            conn.parser.push(&conn.decoded);
                            conn.eof = dec.is_done();
                        }
                    }
                }
            }
        }
    }

    /// Turns a parser event into a frame, or counts it as corrupt.
    fn accept(&mut self, event: Event) -> Option<Frame> {
        let part = match event {
            Event::Part(part) => part,
            Event::Discarded { reason, bytes } => {
                debug!(source = %self.url.redacted, ?reason, bytes, "discarded MJPEG part");
                self.stats.record_corrupt();
                return None;
            }
        };
        match prepare_jpeg(part) {
            Ok((jpeg, width, height)) => Some(self.frame(jpeg, width, height)),
            Err(e) => {
                debug!(source = %self.url.redacted, error = %e, "skipping corrupt frame");
                self.stats.record_corrupt();
                None
            }
        }
    }

    fn frame(&mut self, jpeg: Bytes, width: u32, height: u32) -> Frame {
        self.stats.record_frame(jpeg.len());
        let frame = Frame {
            camera: self.cfg.camera.clone(),
            seq: self.seq,
            captured_ms: self.clock.now_ms(),
            width,
            height,
            jpeg,
        };
        self.seq += 1;
        frame
    }

    /// Drops the connection and schedules the next attempt.
    fn fail(&mut self, error: String) {
        self.conn = None;
        self.stats.set_connected(false);
        let delay = self.backoff.next_delay();
        if self.in_outage {
            debug!(source = %self.url.redacted, %error, retry_in = ?delay, "camera stream still down");
        } else {
            warn!(source = %self.url.redacted, %error, retry_in = ?delay, "camera stream lost; retrying with backoff");
            self.in_outage = true;
        }
        self.stats.set_last_error(error);
        self.retry_at = Some(Instant::now() + delay);
    }

    /// Connects, sends the GET and reads the response head. Errors are
    /// transient by policy, so they are plain messages for `last_error`.
    async fn connect(&self) -> Result<Conn, String> {
        let addr = (self.url.host.as_str(), self.url.port);
        let mut stream = tokio::time::timeout(self.cfg.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect timed out after {:?}", self.cfg.connect_timeout))?
            .map_err(|e| format!("connect failed: {e}"))?;
        // Frames are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let head = tokio::time::timeout(self.cfg.read_timeout, async {
            stream
                .write_all(self.url.request().as_bytes())
                .await
                .map_err(|e| format!("sending request failed: {e}"))?;
            read_head(&mut stream).await
        })
        .await
        .map_err(|_| format!("no response within {:?}", self.cfg.read_timeout))??;

        let mut parser = MjpegParser::for_content_type(head.content_type.as_deref())
            .with_max_part_bytes(self.cfg.max_frame_bytes);
        let mut chunked = head.chunked.then(ChunkedDecoder::default);
        let mut eof = false;
        match chunked.as_mut() {
            None => parser.push(&head.rest),
            Some(dec) => {
                let mut out = Vec::new();
                dec.decode(&head.rest, &mut out)
                    .map_err(|e| format!("bad chunked encoding: {e}"))?;
                parser.push(&out);
                eof = dec.is_done();
            }
        }
        Ok(Conn {
            stream,
            chunked,
            parser,
            read_buf: vec![0; READ_CHUNK],
            decoded: Vec::new(),
            eof,
        })
    }
}

struct ResponseHead {
    content_type: Option<String>,
    chunked: bool,
    /// Body bytes that arrived with the head.
    rest: Vec<u8>,
}

async fn read_head(stream: &mut TcpStream) -> Result<ResponseHead, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading response failed: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection before answering".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                return Err("response head too long".into())
            }
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(format!("malformed HTTP response: {e}")),
            Ok(httparse::Status::Complete(len)) => {
                let code = resp.code.unwrap_or(0);
                if code != 200 {
                    return Err(format!("HTTP {code} {}", resp.reason.unwrap_or("")));
                }
                let header = |name: &str| {
                    resp.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).into_owned())
                };
                let chunked = header("transfer-encoding")
                    .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
                return Ok(ResponseHead {
                    content_type: header("content-type"),
                    chunked,
                    rest: buf[len..].to_vec(),
                });
            }
        }
    }
}

impl FrameSource for HttpMjpegSource {
    fn next_frame(&mut self) -> NextFrame<'_> {
        Box::pin(self.next())
    }

    fn stats(&self) -> Arc<SourceStats> {
        Arc::clone(&self.stats)
    }

    fn describe(&self) -> String {
        format!(
            "MJPEG over HTTP {} (camera {})",
            self.url.redacted, self.cfg.camera
        )
    }
}

#[cfg(test)]
#[path = "http_mjpeg_tests.rs"]
mod tests;
