//! Webhook delivery against a local axum receiver that checks signatures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use vigia_base::{CaptureId, Shutdown};
use vigia_config::{NotifyConfig, Secret, WebhookConfig};

use super::*;
use crate::notice::{CameraAlert, EventNotice};
use crate::Notifications;

const SECRET: &str = "correct horse battery staple";

#[derive(Default)]
struct Receiver {
    /// Answers to give, in order; then 200.
    script: Vec<StatusCode>,
    /// (valid signature, delivery id, timestamp, body) per request.
    seen: Vec<(bool, String, u64, serde_json::Value)>,
}

async fn receive(
    State(r): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let valid = verify(SECRET.as_bytes(), &body, &h(SIGNATURE_HEADER));
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let mut g = r.lock().expect("lock");
    g.seen.push((
        valid,
        h(DELIVERY_HEADER),
        h(TIMESTAMP_HEADER).parse().unwrap_or(0),
        json,
    ));
    if !valid {
        return StatusCode::UNAUTHORIZED;
    }
    if g.script.is_empty() {
        StatusCode::OK
    } else {
        g.script.remove(0)
    }
}

async fn receiver(script: Vec<StatusCode>) -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver {
        script,
        seen: Vec::new(),
    }));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (url, state)
}

fn config(url: &str, secret: &str) -> NotifyConfig {
    NotifyConfig {
        webhook: Some(WebhookConfig {
            url: url.into(),
            secret: Secret::Inline(secret.into()),
            timeout_ms: 2_000,
            max_attempts: 4,
            queue_len: 8,
        }),
        ..NotifyConfig::default()
    }
}

async fn wait_for(state: &Arc<Mutex<Receiver>>, n: usize) {
    for _ in 0..2000 {
        if state.lock().expect("lock").seen.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("receiver saw fewer than {n} requests");
}

#[test]
fn signatures_are_hmac_sha256_of_the_body() {
    // RFC 4231 test case 2.
    assert_eq!(
        sign(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let s = sign(b"k", b"{}");
    assert!(verify(b"k", b"{}", &s));
    assert!(!verify(b"k", b"{ }", &s));
    assert!(!verify(b"other", b"{}", &s));
    assert!(!verify(b"k", b"{}", "sha1=00"));
}

#[tokio::test]
async fn events_and_alerts_are_posted_signed_and_retried() {
    let (url, state) = receiver(vec![
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ])
    .await;
    let shutdown = Shutdown::new();
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let h = Notifications::start(
        &config(&url, SECRET),
        "porch".parse().expect("id"),
        dir.path(),
        tx,
        shutdown.clone(),
    )
    .expect("start");
    let e = EventNotice {
        camera: "porch".parse().expect("id"),
        capture_id: CaptureId::new(1_795_000_313_120, 1),
        time_ms: 1_795_000_313_120,
        label: "person".into(),
        armed: false,
        snapshot_jpeg: bytes::Bytes::new(),
    };
    h.event_started(e);
    h.alert(CameraAlert::Offline {
        camera: "garage".parse().expect("id"),
        last_seen_ms: 1_795_000_000_000,
    });
    wait_for(&state, 4).await;
    let seen = state.lock().expect("lock").seen.clone();
    assert!(seen.iter().all(|s| s.0), "every signature verifies");
    // The first body failed twice and was delivered on the third try, with
    // the same delivery id each time.
    assert_eq!(seen[0].3, seen[2].3);
    assert_eq!(seen[0].1, seen[2].1);
    assert_eq!(seen[0].3["type"], "event_started");
    assert_eq!(seen[0].3["armed"], false);
    assert_eq!(seen[3].3["type"], "camera_offline");
    assert_eq!(seen[3].3["camera"], "garage");
    assert_ne!(seen[0].1, seen[3].1);
    assert!(
        seen[0].2 > 1_700_000_000,
        "timestamp header in unix seconds"
    );
    let s = h.stats().webhook;
    assert_eq!((s.sent, s.retries, s.failed), (2, 2, 0));
    shutdown.trigger();
    h.join().await;
}

#[tokio::test]
async fn a_refused_body_is_not_retried() {
    let (url, state) = receiver(vec![]).await;
    let shutdown = Shutdown::new();
    let h = Notifications::start_server(
        &vigia_config::AlertsConfig {
            offline_after_ms: 1_000,
            notify: config(&url, "wrong secret"),
        },
        shutdown.clone(),
    )
    .expect("start");
    h.alert(CameraAlert::Online {
        camera: "porch".parse().expect("id"),
        last_seen_ms: 0,
        now_ms: 5_000,
        late_captures: 2,
    });
    h.alert(CameraAlert::Offline {
        camera: "porch".parse().expect("id"),
        last_seen_ms: 5_000,
    });
    wait_for(&state, 2).await;
    for _ in 0..500 {
        if h.stats().webhook.failed == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = state.lock().expect("lock").seen.clone();
    assert_eq!(seen.len(), 2, "401 is final: one request per body");
    assert!(seen.iter().all(|s| !s.0));
    assert_eq!(h.stats().webhook.failed, 2);
    shutdown.trigger();
    h.join().await;
}
