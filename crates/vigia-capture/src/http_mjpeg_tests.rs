//! Loopback tests against a scripted test server: each accepted connection
//! plays the next [`Script`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use vigia_base::SimulatedClock;

use super::*;
use crate::testutil::test_jpeg;

enum Script {
    /// Answer with `head`, write `body` in pieces of `piece` bytes, then
    /// close (or hold the connection open, sending nothing more).
    Answer {
        head: String,
        body: Vec<u8>,
        piece: usize,
        close: bool,
    },
    /// Accept, read the request, never answer.
    Silent,
}

const MULTIPART_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=--frame\r\n\r\n";

fn answer(body: Vec<u8>, close: bool) -> Script {
    Script::Answer {
        head: MULTIPART_HEAD.into(),
        body,
        piece: 1000,
        close,
    }
}

fn multipart(parts: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(b"--frame\r\nContent-Type: image/jpeg\r\n");
        body.extend_from_slice(format!("Content-Length: {}\r\n\r\n", p.len()).as_bytes());
        body.extend_from_slice(p);
        body.extend_from_slice(b"\r\n");
    }
    body
}

/// Starts the server; requests it receives are sent on the returned channel.
async fn serve(scripts: Vec<Script>) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut scripts = scripts.into_iter();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let script = scripts.next();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.ends_with(b"\r\n\r\n") {
                    match sock.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&req).into_owned());
                match script {
                    Some(Script::Answer {
                        head,
                        body,
                        piece,
                        close,
                    }) => {
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                        for p in body.chunks(piece) {
                            if sock.write_all(p).await.is_err() {
                                return;
                            }
                            tokio::task::yield_now().await;
                        }
                        if !close {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                    }
                    Some(Script::Silent) | None => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn source(url: String, clock: SimulatedClock) -> HttpMjpegSource {
    let mut cfg = HttpMjpegConfig::new("front".parse().expect("id"), url);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.read_timeout = Duration::from_millis(300);
    cfg.backoff_initial = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(50);
    HttpMjpegSource::new(cfg, Arc::new(clock)).expect("valid config")
}

/// Next frame, with a generous limit so a bug fails instead of hanging.
async fn next(src: &mut HttpMjpegSource) -> Frame {
    tokio::time::timeout(Duration::from_secs(10), src.next_frame())
        .await
        .expect("frame within 10 s")
        .expect("no error")
        .expect("streams never end")
}

#[tokio::test]
async fn normal_stream_with_basic_auth() {
    let frames: Vec<_> = (0..3).map(|i| test_jpeg(32, 24, i)).collect();
    let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    let (addr, mut requests) = serve(vec![answer(multipart(&refs), false)]).await;
    let clock = SimulatedClock::new(1_000);
    let mut src = source(
        format!("http://admin:s3cret@{addr}/mjpeg?cam=1"),
        clock.clone(),
    );
    assert!(!src.describe().contains("s3cret"));
    assert!(src.describe().contains("admin:***@"));

    for (i, want) in frames.iter().enumerate() {
        let f = next(&mut src).await;
        assert_eq!(f.seq, i as u64);
        assert_eq!(&f.jpeg, want);
        assert_eq!((f.width, f.height), (32, 24));
        assert_eq!(
            f.captured_ms,
            1_000 + 100 * i as i64,
            "arrival time from the Clock"
        );
        assert_eq!(f.camera.as_str(), "front");
        clock.advance_ms(100);
    }
    let req = requests.recv().await.expect("request");
    assert!(req.starts_with("GET /mjpeg?cam=1 HTTP/1.1\r\n"), "{req}");
    assert!(
        req.contains("Authorization: Basic YWRtaW46czNjcmV0\r\n"),
        "{req}"
    );
    let s = src.stats().snapshot();
    assert_eq!((s.frames, s.corrupt_frames, s.reconnects), (3, 0, 0));
    assert_eq!(s.bytes, frames.iter().map(|f| f.len() as u64).sum::<u64>());
    assert!(s.connected);
}

#[tokio::test]
async fn corrupt_frame_is_skipped_and_counted() {
    let a = test_jpeg(16, 16, 1);
    let b = test_jpeg(16, 16, 2);
    let mut corrupt = test_jpeg(16, 16, 3).to_vec();
    corrupt.truncate(corrupt.len() - 20);
    let body = multipart(&[&a, &corrupt, b"not a jpeg at all", &b]);
    let (addr, _req) = serve(vec![answer(body, false)]).await;
    let mut src = source(format!("http://{addr}/"), SimulatedClock::new(0));
    let f0 = next(&mut src).await;
    let f1 = next(&mut src).await;
    assert_eq!((f0.jpeg, f0.seq), (a, 0));
    assert_eq!((f1.jpeg, f1.seq), (b, 1), "seq counts delivered frames");
    let s = src.stats().snapshot();
    assert_eq!((s.frames, s.corrupt_frames, s.reconnects), (2, 2, 0));
}

#[tokio::test]
async fn server_closing_mid_frame_reconnects_and_continues() {
    let a = test_jpeg(16, 16, 1);
    let b = test_jpeg(16, 16, 2);
    let c = test_jpeg(16, 16, 3);
    let mut first = multipart(&[&a, &b]);
    first.truncate(first.len() - b.len() / 2);
    let (addr, _req) = serve(vec![answer(first, true), answer(multipart(&[&c]), false)]).await;
    let mut src = source(format!("http://{addr}/"), SimulatedClock::new(0));
    assert_eq!(next(&mut src).await.jpeg, a);
    let f = next(&mut src).await;
    assert_eq!((f.jpeg, f.seq), (c, 1));
    let s = src.stats().snapshot();
    assert_eq!(s.reconnects, 1);
    assert_eq!(s.corrupt_frames, 1, "the half frame");
    assert!(s.last_error.expect("recorded").contains("closed"));
}

/// A server that accepts and never answers, then one that stalls after a
/// frame: both are detected by the read timeout and left for a new
/// connection.
#[tokio::test]
async fn silent_and_stalled_servers_time_out_and_reconnect() {
    let a = test_jpeg(16, 16, 1);
    let b = test_jpeg(16, 16, 2);
    let (addr, _req) = serve(vec![
        Script::Silent,
        answer(multipart(&[&a]), false),
        answer(multipart(&[&b]), false),
    ])
    .await;
    let mut src = source(format!("http://{addr}/"), SimulatedClock::new(0));
    assert_eq!(next(&mut src).await.jpeg, a);
    let s = src.stats().snapshot();
    assert_eq!(s.reconnects, 1);
    assert!(s.last_error.expect("recorded").contains("no response"));
    assert_eq!(next(&mut src).await.jpeg, b);
    let s = src.stats().snapshot();
    assert_eq!(s.reconnects, 2);
    assert!(s
        .last_error
        .expect("recorded")
        .contains("no complete frame"));
}

#[tokio::test]
async fn error_statuses_are_retried_and_recorded() {
    let a = test_jpeg(16, 16, 1);
    let status = |line: &str| Script::Answer {
        head: format!("HTTP/1.1 {line}\r\nContent-Length: 0\r\n\r\n"),
        body: Vec::new(),
        piece: 1,
        close: true,
    };
    let (addr, _req) = serve(vec![
        status("404 Not Found"),
        status("500 Internal Server Error"),
        answer(multipart(&[&a]), false),
    ])
    .await;
    let mut src = source(format!("http://{addr}/"), SimulatedClock::new(0));
    assert_eq!(next(&mut src).await.jpeg, a);
    let s = src.stats().snapshot();
    assert_eq!(s.reconnects, 2);
    assert_eq!(
        s.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
}

#[tokio::test]
async fn chunked_transfer_encoding() {
    let frames: Vec<_> = (0..3).map(|i| test_jpeg(24, 16, i)).collect();
    let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    let plain = multipart(&refs);
    // Chunk boundaries that fall anywhere relative to parts.
    let mut body = Vec::new();
    for c in plain.chunks(333) {
        body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
                Content-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n";
    let (addr, _req) = serve(vec![Script::Answer {
        head: head.into(),
        body,
        piece: 97,
        close: false,
    }])
    .await;
    let mut src = source(format!("http://{addr}/"), SimulatedClock::new(0));
    for want in &frames {
        assert_eq!(&next(&mut src).await.jpeg, want);
    }
    assert_eq!(src.stats().snapshot().corrupt_frames, 0);
}

#[tokio::test]
async fn refused_connection_is_retried_not_fatal() {
    // Grab a free port, then close it so connecting is refused.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let mut src = source(format!("http://{addr}/"), SimulatedClock::new(0));
    let r = tokio::time::timeout(Duration::from_millis(500), src.next_frame()).await;
    assert!(r.is_err(), "still retrying, no error returned");
    let s = src.stats().snapshot();
    assert!(s.reconnects >= 1);
    assert!(!s.connected);
    assert!(s.last_error.expect("recorded").contains("connect failed"));
}

#[test]
fn https_is_a_clear_configuration_error() {
    let cfg = HttpMjpegConfig::new("front".parse().expect("id"), "https://u:pw@cam/x");
    let Err(e) = HttpMjpegSource::new(cfg, Arc::new(SimulatedClock::new(0))) else {
        panic!("https must be rejected");
    };
    assert!(e.to_string().contains("TLS"), "{e}");
    assert!(!e.to_string().contains("pw@"), "{e}");
}
