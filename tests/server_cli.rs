//! `vigia server` and `vigia user` as an administrator uses them: users are
//! managed from the command line (also while the server runs), captures
//! dropped into the incoming area are ingested, corrupt ones are set aside,
//! and the server stops cleanly on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn user(config: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut cmd = vigia();
    cmd.arg("user").args(args).arg("--config").arg(config);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("vigia user");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

/// Makes one real capture with a node on the synthetic camera.
fn make_capture(dir: &Path) -> std::path::PathBuf {
    let cfg = node_config(
        dir,
        "gate",
        "[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n",
    );
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(&cfg);
    let mut node = Running::spawn(cmd);
    node.wait_for("capture saved", 1, Duration::from_secs(300));
    assert!(node.stop().success());
    captures(&dir.join("data/outbox"))
        .into_iter()
        .find(|(_, m)| m.is_some())
        .expect("a complete capture")
        .0
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

#[test]
fn users_incoming_captures_and_clean_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        "[server]\ndata_dir = \"srv\"\ningest_poll_s = 0.2\n[http]\nlisten = \"127.0.0.1:0\"\n",
    )
    .expect("config");

    // No default user; weak passwords are refused; passwords come on stdin only.
    let out = user(&config, &["list"], None);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "no default user"
    );
    let out = user(
        &config,
        &["add", "alice", "--admin", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = user(
        &config,
        &["add", "alice", "--admin", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = user(
        &config,
        &["add", "alice", "--password-stdin"],
        Some("another long one\n"),
    );
    assert!(!out.status.success(), "duplicate user refused");

    let mut cmd = vigia();
    cmd.arg("server").arg("--config").arg(&config);
    let mut server = Running::spawn(cmd);
    server.wait_for("web platform on", 1, Duration::from_secs(60));
    let url = server
        .seen
        .iter()
        .find_map(|l| l.split("web platform on ").nth(1))
        .expect("url")
        .to_owned();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(
        http_get(&addr, "/history").starts_with("HTTP/1.1 303"),
        "history needs a session"
    );

    // Users can be managed while the server runs.
    let out = user(
        &config,
        &["add", "bob", "--password-stdin"],
        Some("viewer password 1\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(&user(&config, &["list"], None).stdout).into_owned();
    assert!(
        list.contains("alice\tadmin") && list.contains("bob\tviewer"),
        "{list}"
    );
    assert!(
        user(&config, &["passwd", "bob"], Some("new viewer password\n"))
            .status
            .success()
    );
    assert!(user(&config, &["remove", "bob"], None).status.success());
    assert!(!user(&config, &["remove", "bob"], None).status.success());

    // A capture dropped into incoming/<camera>/ is ingested and removed.
    let node_dir = tempfile::tempdir().expect("tempdir");
    let capture = make_capture(node_dir.path());
    let id = capture.file_name().expect("name").to_owned();
    let incoming = dir.path().join("srv/incoming/gate");
    copy_dir(&capture, &incoming.join(&id));
    // And a tampered copy of another capture is set aside, not lost.
    let mut bad_id = id.to_string_lossy().into_owned();
    bad_id.replace_range(20..28, "0badf00d");
    copy_dir(&capture, &incoming.join(&bad_id));
    std::fs::write(incoming.join(&bad_id).join("snapshot.jpg"), b"tampered").expect("tamper");
    // Uploaded long ago: the server does not wait for it to settle.
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(300);
    let bad_dir = incoming.join(&bad_id);
    for e in std::fs::read_dir(&bad_dir).expect("bad capture") {
        let f = std::fs::File::open(e.expect("entry").path()).expect("open");
        f.set_modified(long_ago).expect("set mtime");
    }
    std::fs::File::open(&bad_dir)
        .and_then(|d| d.set_modified(long_ago))
        .expect("set the folder's mtime");

    let deadline = Instant::now() + Duration::from_secs(60);
    while incoming.join(&id).exists() || incoming.join(&bad_id).exists() {
        assert!(Instant::now() < deadline, "incoming captures not processed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        incoming
            .join(".rejected")
            .join(&bad_id)
            .join("manifest.json")
            .is_file(),
        "rejected capture kept"
    );
    let media = dir.path().join("srv/media/gate");
    let day = std::fs::read_dir(&media)
        .expect("media tree")
        .next()
        .expect("day")
        .expect("entry")
        .path();
    let stored = day.join(&id);
    for f in ["snapshot.jpg", "thumb.jpg", "clip.mp4", "manifest.json"] {
        assert!(
            stored.join(f).is_file(),
            "{f} missing in {}",
            stored.display()
        );
    }
    assert_eq!(ffprobe(&stored.join("clip.mp4")).0, "h264");

    assert!(server.stop().success(), "clean exit on SIGTERM");
}
