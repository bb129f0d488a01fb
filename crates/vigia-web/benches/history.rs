//! History and capture-list latency at 100 000 captures.
//!
//! A real `vigia_store::Store` in a temp dir holds 100 000 capture rows
//! (3 cameras, 60 days, inserted with the store's bench helper: rows
//! without files, fine for listing as long as the store is not reopened).
//! The whole router is driven with `tower::ServiceExt::oneshot`, no
//! socket, one request at a time; each timing covers routing, the session
//! lookup, the store queries on the blocking pool, rendering and
//! collecting the body. Prints p50/p99/max per request kind next to the
//! goal (p99 <= 50 ms); nothing is asserted.
//!
//! Also times the store calls behind `GET /history` on their own, so a
//! slow page can be attributed to a query.
//!
//! Run: `cargo bench -p vigia-web --bench history`

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use vigia_base::{CameraId, CaptureId, Clock, RealClock};
use vigia_store::{CaptureQuery, FakeCapture, Role, Store, StoreConfig};
use vigia_web::{app, AppState, LiveHub, WebConfig};

const CAPTURES: u32 = 100_000;
const DAYS: i64 = 60;
const DAY_MS: i64 = 86_400_000;
const CAMERAS: [&str; 3] = ["front", "garage", "yard"];
const REQUESTS: usize = 200;
const WARMUP: usize = 5;
const GOAL_P99_MS: f64 = 50.0;

/// Deterministic xorshift, so every run lists the same rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut ms: Vec<f64>, extra: &str) {
    ms.sort_by(f64::total_cmp);
    let p99 = pct(&ms, 0.99);
    println!(
        "history.{name}.p50_ms: {:.2}\nhistory.{name}.p99_ms: {:.2}  (goal <= {GOAL_P99_MS}{})\nhistory.{name}.max_ms: {:.2}  (n={}{extra})",
        pct(&ms, 0.5),
        p99,
        if p99 <= GOAL_P99_MS { ", met" } else { ", MISSED" },
        ms[ms.len() - 1],
        ms.len(),
    );
}

async fn get(app: &Router, uri: &str, cookie: &str) -> (Duration, usize) {
    let req = Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    let t = Instant::now();
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    let dt = t.elapsed();
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    (dt, body.len())
}

fn time_store<T>(n: usize, mut f: impl FnMut() -> T) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(StoreConfig {
        db_path: dir.path().join("vigia.db"),
        media_dir: dir.path().join("media"),
        min_free_bytes: 0,
    })
    .expect("open store");
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    let now = clock.now_ms();

    // 100 000 captures over 60 days ending now, cameras and labels mixed
    // (labels weighted: motion 60 %, person 30 %, animal 10 %).
    let t = Instant::now();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let span = DAYS * DAY_MS;
    let step = span / i64::from(CAPTURES);
    let caps: Vec<FakeCapture> = (0..CAPTURES)
        .map(|i| {
            let r = rng.next();
            let label = match r % 10 {
                0..=5 => "motion",
                6..=8 => "person",
                _ => "animal",
            };
            FakeCapture {
                camera: CAMERAS[((r >> 8) % 3) as usize].parse().expect("camera"),
                start_ms: now - span + i64::from(i) * step + ((r >> 16) % step as u64) as i64,
                nonce: (r >> 32) as u32,
                label: label.into(),
                bytes: 200_000 + (r >> 40) % 2_000_000,
            }
        })
        .collect();
    let mut ids = store
        .insert_fake_captures_for_bench(&caps)
        .expect("insert captures");
    println!(
        "history.setup.insert_100k_s: {:.2}",
        t.elapsed().as_secs_f64()
    );
    ids.sort();
    ids.reverse(); // newest first, as listed
    let user = store
        .add_user("bench", "bench-password-1", Role::Viewer)
        .expect("user");
    let session = store
        .create_session(user.id, now, 3_600_000)
        .expect("session");
    let cookie = format!("vigia_session={}", session.token);

    // A cursor 90 % of the way down the list, a camera+label pair, a day
    // in the middle of the range.
    let deep: &CaptureId = &ids[(ids.len() * 9) / 10];
    let mid_day = {
        let s = ids[ids.len() / 2].as_str();
        format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8])
    };
    let cases: Vec<(&str, String)> = vec![
        ("history_first_page", "/history".to_owned()),
        ("history_before_deep", format!("/history?before={deep}")),
        (
            "history_camera_label",
            "/history?camera=garage&label=person".to_owned(),
        ),
        ("history_day", format!("/history?day={mid_day}")),
        ("api_first_page", "/api/v1/captures".to_owned()),
        ("api_before_deep", format!("/api/v1/captures?before={deep}")),
    ];

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let state = AppState::new(
        store.clone(),
        LiveHub::new(clock.clone(), 30_000),
        WebConfig::default(),
        clock,
    );
    let router = app(state);
    println!(
        "history.setup: {CAPTURES} captures, {} cameras, {DAYS} days; {REQUESTS} sequential requests per case after {WARMUP} warm-up; deep cursor at index {} ({deep}), day {mid_day}",
        CAMERAS.len(),
        (ids.len() * 9) / 10
    );
    rt.block_on(async {
        for (name, uri) in &cases {
            for _ in 0..WARMUP {
                get(&router, uri, &cookie).await;
            }
            let mut ms = Vec::with_capacity(REQUESTS);
            let mut bytes = 0;
            for _ in 0..REQUESTS {
                let (dt, n) = get(&router, uri, &cookie).await;
                ms.push(dt.as_secs_f64() * 1e3);
                bytes = n;
            }
            report(name, ms, &format!(", body {bytes} B, {uri}"));
        }
    });

    // What `GET /history` asks the store, each on its own (same thread,
    // no HTTP): which query dominates the page? Fewer samples: this is for
    // attribution, and the slow ones would blow the time budget.
    let first = CaptureQuery {
        limit: 50,
        ..Default::default()
    };
    let garage: CameraId = "garage".parse().expect("camera");
    let n = 30;
    report(
        "store_list_captures_first",
        time_store(n, || store.list_captures(&first).expect("list")),
        "",
    );
    report(
        "store_capture_days_all",
        time_store(n, || store.capture_days(None, None).expect("days")),
        "",
    );
    report(
        "store_capture_days_camera_label",
        time_store(n, || {
            store
                .capture_days(Some(&garage), Some("person"))
                .expect("days")
        }),
        "",
    );
    report(
        "store_cameras",
        time_store(n, || store.cameras().expect("cameras")),
        "",
    );
    report(
        "store_session_lookup",
        time_store(n, || store.session(&session.token, now).expect("session")),
        "",
    );
}
