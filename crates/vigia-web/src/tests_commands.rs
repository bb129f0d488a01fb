//! Node status and commands through the web, against simulated nodes: the
//! link's real [`Nodes`] registry with a task standing in for the node at
//! the other end of its control channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tokio::sync::mpsc;
use vigia_base::{CameraId, Command};
use vigia_link::server::Nodes;
use vigia_link::wire::{Backlog, ControlMessage, Heartbeat, Hello, PROTOCOL_VERSION};

use crate::testutil::*;

/// How the simulated node answers one command.
#[derive(Clone, Copy)]
enum Reply {
    /// `(ok, message)`.
    Answer(bool, &'static str),
    /// Never answers.
    Silent,
    /// Drops the connection instead of answering.
    Hang,
}

struct SimNode {
    received: Arc<Mutex<Vec<Command>>>,
}

impl SimNode {
    fn received(&self) -> Vec<Command> {
        self.received.lock().unwrap().clone()
    }
}

fn heartbeat(armed: bool, captures: u64, bytes: u64, oldest_age_ms: u64) -> Heartbeat {
    Heartbeat {
        uptime_ms: 60_000,
        armed,
        backlog: Backlog {
            captures,
            bytes,
            oldest_age_ms,
        },
        frames: 600,
    }
}

/// Connects a node for `cam` as the link does: hello, then a heartbeat,
/// each also a sign of life for the hub; then answers commands.
fn connect(f: &Fixture, cam: &str, hb: Heartbeat, reply: Reply) -> SimNode {
    let camera: CameraId = cam.parse().unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let hello = Hello {
        protocol: PROTOCOL_VERSION,
        camera: camera.clone(),
        software: "vigia-test".into(),
        capabilities: vec!["commands".into()],
    };
    let conn = f.nodes.register(&hello, "127.0.0.1:5".into(), tx);
    f.state.live().seen(&camera);
    f.nodes.heartbeat(&camera, conn, hb);
    f.state.live().seen(&camera);
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let nodes: Nodes = f.nodes.clone();
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let ControlMessage::Command { id, command } = msg else {
                continue;
            };
            log.lock().unwrap().push(command);
            match reply {
                Reply::Answer(ok, m) => nodes.command_result(&camera, conn, id, ok, m.into()),
                Reply::Silent => {}
                Reply::Hang => {
                    nodes.unregister(&camera, conn);
                }
            }
        }
    });
    SimNode { received }
}

fn api_command(cam: &str, cookie: &str, csrf: Option<&str>, body: &str) -> Request<Body> {
    let mut b = Request::post(format!("/api/v1/cameras/{cam}/commands"))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = csrf {
        b = b.header("X-CSRF-Token", c);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

async fn json(resp: axum::http::Response<Body>) -> serde_json::Value {
    serde_json::from_str(&body_string(resp).await).unwrap()
}

#[tokio::test]
async fn live_page_shows_link_arming_backlog_and_buttons() {
    let f = Fixture::new();
    f.capture_of("back", T0, "person", "quiet");
    connect(
        &f,
        "front",
        heartbeat(true, 3, 1_500_000, 45_000),
        Reply::Silent,
    );
    let (cookie, csrf) = f.session("viewer");
    let page = body_string(f.get("/live", Some(&cookie)).await).await;
    // Cameras are listed by id: `back`, then `front`.
    let (back, front) = page
        .split_once("id=\"camera-front\"")
        .expect("front is listed");
    for want in [
        "online",
        "connected since",
        "<span class=\"armed\">armed</span>",
        "3 captures, 1.5 MB, oldest 45 s",
        &format!("{} UTC (0 s ago)", crate::pages::fmt_time(f.state.now_ms())),
        "action=\"/live/front/command\"",
        &format!("value=\"{csrf}\""),
        "value=\"arm\"",
        "value=\"disarm\"",
        "value=\"snapshot\"",
        "Snapshot now",
    ] {
        assert!(front.contains(want), "{want} in {front}");
    }
    assert!(
        !front.contains("disabled"),
        "a connected node takes commands"
    );
    // `back` has captures but no node: listed, not connected, no buttons
    // to press.
    for want in [
        "offline",
        "not connected",
        "never",
        "action=\"/live/back/command\"",
        "disabled",
    ] {
        assert!(back.contains(want), "{want} in {back}");
    }
}

#[tokio::test]
async fn page_command_round_trip_needs_the_csrf_token() {
    let f = Fixture::new();
    let node = connect(
        &f,
        "front",
        heartbeat(false, 0, 0, 0),
        Reply::Answer(true, "armed"),
    );
    let (cookie, csrf) = f.session("viewer");
    let (other, other_csrf) = f.session("admin");
    let uri = "/live/front/command";
    for form in [
        "command=arm".to_owned(),
        "command=arm&csrf=wrong".to_owned(),
        format!("command=arm&csrf={other_csrf}"),
    ] {
        let r = f.post_form(uri, Some(&cookie), &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form}");
    }
    let r = f
        .post_form(uri, None, &format!("command=arm&csrf={csrf}"))
        .await;
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/"));
    let r = f
        .post_form(uri, Some(&cookie), &format!("command=arm&csrf={csrf}"))
        .await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/live#camera-front")
    );
    // FIFO channel: the refused requests sent nothing before this one.
    assert_eq!(node.received(), vec![Command::Arm]);
    // The result is shown once, to the session that asked.
    let other_page = body_string(f.get("/live", Some(&other)).await).await;
    assert!(!other_page.contains("front: arm done"));
    let page = body_string(f.get("/live", Some(&cookie)).await).await;
    assert!(page.contains("front: arm done — armed"), "{page}");
    let page = body_string(f.get("/live", Some(&cookie)).await).await;
    assert!(!page.contains("front: arm done"));
    // Each button's command arrives as itself.
    for (form, cmd) in [("disarm", Command::Disarm), ("snapshot", Command::Snapshot)] {
        let r = f
            .post_form(uri, Some(&cookie), &format!("command={form}&csrf={csrf}"))
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(node.received().last(), Some(&cmd));
    }
}

#[tokio::test]
async fn page_command_failures_are_shown_escaped() {
    let f = Fixture::new();
    f.capture_of("back", T0, "person", "quiet");
    connect(
        &f,
        "front",
        heartbeat(false, 0, 0, 0),
        Reply::Answer(false, "<b>no camera</b>"),
    );
    let (cookie, csrf) = f.session("viewer");
    let post = |cam: &str, cmd: &str| {
        let uri = format!("/live/{cam}/command");
        let form = format!("command={cmd}&csrf={csrf}");
        let (f, cookie) = (&f, &cookie);
        async move { f.post_form(&uri, Some(cookie), &form).await }
    };
    // The node refused: its reason is shown, escaped.
    assert_eq!(
        post("front", "snapshot").await.status(),
        StatusCode::SEE_OTHER
    );
    let page = body_string(f.get("/live", Some(&cookie)).await).await;
    assert!(
        page.contains(
            "front: snapshot failed — camera front could not do it: &lt;b&gt;no camera&lt;/b&gt;"
        ),
        "{page}"
    );
    assert!(!page.contains("<b>no camera"));
    // Known camera, no node connected.
    assert_eq!(post("back", "arm").await.status(), StatusCode::SEE_OTHER);
    let page = body_string(f.get("/live", Some(&cookie)).await).await;
    assert!(
        page.contains("back: arm failed — camera back is not connected"),
        "{page}"
    );
    // Unknown or malformed camera, unknown command.
    assert_eq!(post("nowhere", "arm").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(post("..", "arm").await.status(), StatusCode::NOT_FOUND);
    let r = post("front", "launch").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(body_string(r).await.contains("unknown command"));
}

#[tokio::test]
async fn api_command_round_trip_and_errors() {
    let f = Fixture::new();
    f.capture_of("back", T0, "person", "quiet");
    let node = connect(
        &f,
        "front",
        heartbeat(true, 0, 0, 0),
        Reply::Answer(true, "disarmed"),
    );
    connect(
        &f,
        "side",
        heartbeat(true, 0, 0, 0),
        Reply::Answer(false, "no servo"),
    );
    let (cookie, csrf) = f.session("viewer");
    let body = r#"{"command":"disarm"}"#;
    // No or wrong token: refused, nothing reaches the node.
    for token in [None, Some("wrong")] {
        let r = f.send(api_command("front", &cookie, token, body)).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(json(r).await["error"].is_string());
    }
    let anon = Request::post("/api/v1/cameras/front/commands")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(f.send(anon).await.status(), StatusCode::UNAUTHORIZED);
    let r = f
        .send(api_command("front", &cookie, Some(&csrf), body))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v = json(r).await;
    assert_eq!(v["ok"], true);
    assert_eq!(v["message"], "disarmed");
    assert_eq!(v["command"], "disarm");
    assert_eq!(node.received(), vec![Command::Disarm]);
    let cases = [
        (
            "front",
            r#"{"command":"launch"}"#,
            StatusCode::BAD_REQUEST,
            "unknown command",
        ),
        ("front", "arm", StatusCode::BAD_REQUEST, "must be JSON"),
        (
            "front",
            r#"{"command":"arm","x":1}"#,
            StatusCode::BAD_REQUEST,
            "must be JSON",
        ),
        ("nowhere", body, StatusCode::NOT_FOUND, "Not found"),
        (
            "back",
            body,
            StatusCode::CONFLICT,
            "camera back is not connected",
        ),
        (
            "side",
            r#"{"command":"servo 90"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "camera side could not do it: no servo",
        ),
    ];
    for (cam, body, status, error) in cases {
        let r = f.send(api_command(cam, &cookie, Some(&csrf), body)).await;
        assert_eq!(r.status(), status, "{cam} {body}");
        let v = json(r).await;
        assert!(v["error"].as_str().unwrap().contains(error), "{v}");
    }
    assert_eq!(
        node.received(),
        vec![Command::Disarm],
        "bad requests send nothing"
    );
}

#[tokio::test]
async fn unanswered_and_dropped_commands_end_in_a_clear_error() {
    let f = Fixture::with_command_timeout(Duration::from_millis(100));
    let silent = connect(&f, "front", heartbeat(true, 0, 0, 0), Reply::Silent);
    connect(&f, "side", heartbeat(true, 0, 0, 0), Reply::Hang);
    let (cookie, csrf) = f.session("viewer");
    let body = r#"{"command":"snapshot"}"#;
    let r = f
        .send(api_command("front", &cookie, Some(&csrf), body))
        .await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(json(r).await["error"]
        .as_str()
        .unwrap()
        .contains("did not answer in time"));
    assert_eq!(silent.received(), vec![Command::Snapshot]);
    let r = f
        .post_form(
            "/live/front/command",
            Some(&cookie),
            &format!("command=arm&csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = body_string(f.get("/live", Some(&cookie)).await).await;
    assert!(
        page.contains("front: arm failed — camera front did not answer in time"),
        "{page}"
    );
    let r = f
        .send(api_command("side", &cookie, Some(&csrf), body))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(json(r).await["error"]
        .as_str()
        .unwrap()
        .contains("disconnected before answering"));
    // Gone from the link now: a second try says so.
    let r = f
        .send(api_command("side", &cookie, Some(&csrf), body))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn online_follows_heartbeats_in_the_api() {
    let f = Fixture::new();
    connect(&f, "front", heartbeat(true, 2, 2_048, 9_500), Reply::Silent);
    let (cookie, _) = f.session("viewer");
    let cams = || async { json(f.get("/api/v1/cameras", Some(&cookie)).await).await };
    let v = cams().await;
    let front = &v[0];
    assert_eq!(front["id"], "front");
    assert_eq!(front["online"], true);
    assert_eq!(front["connected"], true);
    assert_eq!(front["last_seen_ms"], f.state.now_ms());
    assert_eq!(front["last_frame_ms"], serde_json::Value::Null);
    assert_eq!(front["node"]["heartbeat"]["armed"], true);
    assert_eq!(front["node"]["heartbeat"]["backlog"]["captures"], 2);
    assert_eq!(front["node"]["heartbeat"]["backlog"]["bytes"], 2_048);
    assert_eq!(front["node"]["software"], "vigia-test");
    // Heartbeats stop (the hub's timeout is 5 s in the fixture): offline,
    // although the TCP connection has not been dropped yet.
    f.clock.advance_ms(5_001);
    let v = cams().await;
    assert_eq!(
        (v[0]["online"].as_bool(), v[0]["connected"].as_bool()),
        (Some(false), Some(true))
    );
    // A heartbeat brings it back.
    f.state.live().seen(&"front".parse().unwrap());
    assert_eq!(cams().await[0]["online"], true);
}

#[tokio::test]
async fn metrics_have_per_camera_node_gauges() {
    let f = Fixture::new();
    connect(
        &f,
        "front",
        heartbeat(true, 3, 1_500_000, 45_500),
        Reply::Silent,
    );
    // Known to the hub only (e.g. its node went away): no heartbeat facts.
    f.state.live().register(&"back".parse().unwrap());
    f.clock.advance_ms(2_500);
    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let text = body_string(f.send(from_ip(req, [127, 0, 0, 1])).await).await;
    for line in [
        "vigia_camera_online{camera=\"front\"} 1",
        "vigia_camera_connected{camera=\"front\"} 1",
        "vigia_camera_armed{camera=\"front\"} 1",
        "vigia_camera_backlog_captures{camera=\"front\"} 3",
        "vigia_camera_backlog_bytes{camera=\"front\"} 1500000",
        "vigia_camera_backlog_oldest_age_seconds{camera=\"front\"} 45.5",
        "vigia_camera_last_seen_age_seconds{camera=\"front\"} 2.5",
        "vigia_camera_online{camera=\"back\"} 0",
        "vigia_camera_connected{camera=\"back\"} 0",
        "# TYPE vigia_camera_backlog_bytes gauge",
        "# TYPE vigia_camera_last_seen_age_seconds gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    for absent in [
        "vigia_camera_armed{camera=\"back\"}",
        "vigia_camera_backlog_captures{camera=\"back\"}",
        "vigia_camera_last_seen_age_seconds{camera=\"back\"}",
    ] {
        assert!(!text.contains(absent), "{absent} in\n{text}");
    }
    f.clock.advance_ms(3_000);
    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let text = body_string(f.send(from_ip(req, [127, 0, 0, 1])).await).await;
    assert!(
        text.lines()
            .any(|l| l == "vigia_camera_online{camera=\"front\"} 0"),
        "{text}"
    );
}
