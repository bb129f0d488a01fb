//! Camera offline / back-online alerts end to end: a real `vigia server`
//! with `[alerts]` posting to a signed webhook (a small HTTP receiver in
//! this test), and a real `vigia node` linked to it over SSH.
//!
//! The story is the one the alert exists for: the camera is cut (SIGKILL,
//! so it cannot say goodbye), the server notices its silent heartbeats and
//! says so; the camera then records with no network, and when its link
//! returns the server says it is back and how many captures arrive late.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::link::*;
use common::*;
use serde_json::Value;

const SECRET: &str = "correct horse battery staple";
const FAST_CAMERA: &str = "[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n\n[event]\npre_roll_s = 1.0\npost_roll_s = 1.0\n";
const QUIET_CAMERA: &str =
    "[source]\nkind = \"synthetic\"\nscene = \"quiet\"\nwidth = 384\nheight = 288\n";

/// One POST as the receiver got it: lower-case headers and the raw body.
#[derive(Clone, Debug)]
struct Post {
    at: Instant,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Post {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A webhook receiver: records every POST and answers 200 (keep-alive
/// connections included, as reqwest reuses them).
struct Hook {
    url: String,
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Hook {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/hooks/vigia",
            listener.local_addr().expect("addr")
        );
        let posts = Arc::new(Mutex::new(Vec::new()));
        let p = posts.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().map_while(Result::ok) {
                let p = p.clone();
                std::thread::spawn(move || serve(s, &p));
            }
        });
        Self { url, posts }
    }

    fn posts(&self) -> Vec<Post> {
        self.posts.lock().expect("lock").clone()
    }

    /// Waits for the first alert of `kind` after the first `from` posts.
    fn wait_alert(&self, kind: &str, from: usize, limit: Duration) -> Post {
        let mut found = None;
        eventually(&format!("a {kind} alert"), limit, || {
            found = self.posts()[from..]
                .iter()
                .find(|p| p.json()["type"] == kind)
                .cloned();
            found.is_some()
        });
        found.expect("found")
    }
}

fn serve(s: TcpStream, posts: &Mutex<Vec<Post>>) {
    let mut w = s.try_clone().expect("clone");
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        assert!(line.starts_with("POST /hooks/vigia "), "{line}");
        posts.lock().expect("lock").push(Post {
            at: Instant::now(),
            headers,
            body,
        });
        if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// The receiver's side of the signature: valid over the exact body, and
/// worthless over any other.
fn check_signature(p: &Post) {
    let sig = p
        .headers
        .get(vigia_notify::webhook::SIGNATURE_HEADER)
        .expect("signature header");
    assert!(
        vigia_notify::webhook::verify(SECRET.as_bytes(), &p.body, sig),
        "bad signature {sig} on {}",
        String::from_utf8_lossy(&p.body)
    );
    let mut forged = p.body.clone();
    forged.push(b' ');
    assert!(!vigia_notify::webhook::verify(
        SECRET.as_bytes(),
        &forged,
        sig
    ));
    assert!(!vigia_notify::webhook::verify(
        b"another secret",
        &p.body,
        sig
    ));
    assert!(p
        .headers
        .contains_key(vigia_notify::webhook::TIMESTAMP_HEADER));
}

fn outbox_captures(node_dir: &Path) -> usize {
    std::fs::read_dir(node_dir.join("data/outbox"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn server_alerts_when_a_node_is_cut_and_when_it_returns_with_late_captures() {
    let t0 = Instant::now();
    let hook = Hook::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = ServerSetup::new(&tmp.path().join("server"));
    let mut toml = std::fs::read_to_string(&server.config).expect("server.toml");
    toml.push_str(&format!(
        "\n[alerts]\noffline_after_s = 3.0\n\n[alerts.webhook]\nurl = \"{}\"\nsecret = \"{SECRET}\"\ntimeout_s = 2.0\n",
        hook.url
    ));
    std::fs::write(&server.config, toml).expect("write server.toml");
    let _srv = server.start();
    let node_dir = tmp.path().join("node");
    // Enrolled after the server started: the camera is watched from its
    // first heartbeat on.
    server.enroll(&node_dir, "gate");
    let cfg = linked_node_config(&node_dir, "gate", server.ssh_port, FAST_CAMERA);
    let mut node = start_node(&cfg);
    // A stored capture means the link is up and heartbeats flow (the first
    // one goes out before any upload).
    eventually("a capture on the server", Duration::from_secs(60), || {
        !server.stored().is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        hook.posts().is_empty(),
        "alerts while the node was fine: {:?}",
        hook.posts()
    );

    // Cut.
    let killed = Instant::now();
    node.signal(9);
    let _ = node.child.wait();
    let offline = hook.wait_alert("camera_offline", 0, Duration::from_secs(20));
    check_signature(&offline);
    assert_eq!(offline.json()["camera"], "gate");
    let offline_after = offline.at - killed;
    eprintln!(
        "offline alert {:.1} s after SIGKILL",
        offline_after.as_secs_f64()
    );
    assert!(
        offline_after >= Duration::from_secs(1),
        "offline raised before the heartbeats could be missed: {offline_after:?}"
    );

    // No network: the camera keeps recording into its outbox.
    let offline_cfg = node_dir.join("offline.toml");
    std::fs::write(
        &offline_cfg,
        format!(
            "[node]\ncamera = \"gate\"\ndata_dir = \"{}/data\"\n{FAST_CAMERA}",
            node_dir.display()
        ),
    )
    .expect("write offline.toml");
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(&offline_cfg);
    let mut cut = Running::spawn(cmd);
    cut.wait_for("capture saved", 2, Duration::from_secs(60));
    assert!(cut.stop().success());
    let late = outbox_captures(&node_dir);
    assert!(late >= 2, "{late} captures waiting");
    let posts_before = hook.posts().len();
    assert_eq!(
        posts_before,
        1,
        "one offline alert, once: {:?}",
        hook.posts()
    );

    // Back: the server says so, with the number of late captures.
    let node = start_node(&linked_node_config(
        &node_dir,
        "gate",
        server.ssh_port,
        QUIET_CAMERA,
    ));
    let online = hook.wait_alert("camera_online", posts_before, Duration::from_secs(30));
    check_signature(&online);
    let v = online.json();
    assert_eq!(v["camera"], "gate");
    assert_eq!(v["late_captures"].as_u64(), Some(late as u64), "{v}");
    assert!(
        v["offline_for_ms"].as_i64().expect("offline_for_ms") >= offline_after.as_millis() as i64,
        "{v}"
    );
    // The late captures do arrive.
    eventually("the outbox to drain", Duration::from_secs(60), || {
        outbox_captures(&node_dir) == 0
    });
    assert_eq!(
        hook.posts()
            .iter()
            .filter(|p| p.json()["type"] == "camera_online")
            .count(),
        1,
        "online is said once"
    );
    assert!(node.stop().success());
    eprintln!("alerts test: {:.1} s", t0.elapsed().as_secs_f64());
}
