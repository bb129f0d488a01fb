//! Tests for media range requests, the MJPEG live stream, and serving over
//! real sockets (plain HTTP with graceful shutdown, and TLS).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigia_media::Frame;

use crate::testutil::*;

fn ranged(uri: &str, cookie: &str, range: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .header(header::RANGE, range)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn clip_supports_single_range_requests() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let (cookie, _) = f.session("viewer");
    let uri = format!("/media/{id}/clip.mp4");
    let full = f.get(&uri, Some(&cookie)).await;
    assert_eq!(full.status(), StatusCode::OK);
    let h = full.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(h[header::ACCEPT_RANGES], "bytes");
    assert!(h.get(header::CONTENT_DISPOSITION).is_none());
    let file = body_bytes(full).await;
    let len = file.len();
    assert!(len > 300, "a real clip");
    assert_eq!(h[header::CONTENT_LENGTH], len.to_string().as_str());
    assert_eq!(&file[4..8], b"ftyp", "init segment first");

    let cases = [
        ("bytes=0-99".to_owned(), 0, 99),
        ("bytes=-100".to_owned(), len - 100, len - 1),
        (format!("bytes={}-", len - 10), len - 10, len - 1),
        (format!("bytes=100-{}", len + 500), 100, len - 1),
    ];
    for (range, start, end) in cases {
        let r = f.send(ranged(&uri, &cookie, &range)).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            format!("bytes {start}-{end}/{len}").as_str()
        );
        assert_eq!(
            r.headers()[header::CONTENT_LENGTH],
            (end - start + 1).to_string().as_str()
        );
        assert_eq!(body_bytes(r).await, &file[start..=end], "{range}");
    }
    for range in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 1, len + 9),
        "bytes=-0".to_owned(),
    ] {
        let r = f.send(ranged(&uri, &cookie, &range)).await;
        assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            r.headers()[header::CONTENT_RANGE],
            format!("bytes */{len}").as_str()
        );
    }
    // Multiple ranges: the whole file.
    let r = f.send(ranged(&uri, &cookie, "bytes=0-1,4-5")).await;
    assert_eq!(r.status(), StatusCode::OK);

    let dl = f.get(&format!("{uri}?download=1"), Some(&cookie)).await;
    assert_eq!(
        dl.headers()[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"{id}-clip.mp4\"").as_str()
    );
}

#[tokio::test]
async fn snapshots_and_thumbnails_are_jpeg() {
    let f = Fixture::new();
    let id = f.capture(T0, "person");
    let (cookie, _) = f.session("viewer");
    for file in ["snapshot.jpg", "thumb.jpg"] {
        let r = f.get(&format!("/media/{id}/{file}"), Some(&cookie)).await;
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "image/jpeg");
        let b = body_bytes(r).await;
        assert_eq!(&b[..2], &[0xff, 0xd8], "{file}");
    }
}

fn frame(seq: u64, jpeg: Vec<u8>) -> Frame {
    Frame {
        camera: "front".parse().unwrap(),
        seq,
        captured_ms: T0 + seq as i64,
        width: 160,
        height: 96,
        jpeg: Bytes::from(jpeg),
    }
}

#[tokio::test]
async fn mjpeg_stream_delivers_frames_and_counts_viewers() {
    let f = Fixture::new();
    let (cookie, _) = f.session("viewer");
    let hub = f.state.live().clone();
    // Unknown cameras are 404, and create no hub entry.
    assert_eq!(
        f.get("/live/ghost.mjpg", Some(&cookie)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!hub.contains(&"ghost".parse().unwrap()));
    hub.publish(frame(1, jpeg(10)));
    let r = f.get("/live/front.mjpg", Some(&cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "multipart/x-mixed-replace; boundary=vigia-frame"
    );
    assert_eq!(hub.cameras()[0].viewers, 1);
    let mut body = r.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let j1 = jpeg(10);
    let head = format!(
        "--vigia-frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        j1.len()
    );
    assert!(first.starts_with(head.as_bytes()));
    assert_eq!(&first[head.len()..first.len() - 2], &j1[..]);
    assert!(first.ends_with(b"\r\n"));
    // A second viewer, and a newer frame to both.
    let second = f.get("/live/front.mjpg", Some(&cookie)).await;
    assert_eq!(hub.cameras()[0].viewers, 2);
    let j2 = jpeg(200);
    hub.publish(frame(2, j2.clone()));
    let next = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(next.windows(j2.len()).any(|w| w == &j2[..]));
    drop(second);
    drop(body);
    assert_eq!(hub.cameras()[0].viewers, 0);
    // Closing the hub ends streams (graceful shutdown).
    let r = f.get("/live/front.mjpg", Some(&cookie)).await;
    let mut body = r.into_body();
    let _ = body.frame().await;
    hub.close();
    assert!(body.frame().await.is_none());
}

async fn raw_get(
    stream: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin),
    path: &str,
) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn serve_answers_and_shuts_down_gracefully() {
    let f = Fixture::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(listener, f.app.clone(), async move {
        let _ = rx.await;
    }));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let resp = raw_get(&mut s, "/healthz").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    // The real socket's address reaches the handlers: loopback metrics.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(raw_get(&mut s, "/metrics")
        .await
        .starts_with("HTTP/1.1 200"));
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn serve_tls_with_a_self_signed_certificate() {
    use tokio_rustls::rustls;
    let f = Fixture::new();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = f.app.clone();
    let (c2, k2) = (cert.clone(), key.clone());
    let server = tokio::spawn(async move {
        crate::serve_tls(listener, app, &c2, &k2, async move {
            let _ = rx.await;
        })
        .await
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let resp = raw_get(&mut tls, "/healthz").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.to_ascii_lowercase().contains("strict") || resp.contains("content-security-policy")
    );
    // A client that never handshakes does not block others.
    let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    assert!(raw_get(&mut tls, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    // Bad key files are typed errors, not panics.
    let err = crate::server::tls_config(&cert, &dir.path().join("missing.pem")).unwrap_err();
    assert!(err.to_string().contains("missing.pem"));
}
