//! `vigia demo` works out of the box: it writes its configs, runs a server
//! and a node on the synthetic camera in real time, prints one line per
//! event, and every capture ends up in the server's store.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn demo_prints_event_lines_and_writes_a_reusable_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo");
    let mut cmd = vigia();
    cmd.arg("demo")
        .arg("--data")
        .arg(&data)
        .args(["--seconds", "40"]);
    let mut demo = Running::spawn(cmd);
    // The first figure walks in at 6 s; its event ends ~4 s after it leaves.
    demo.wait_for("event started", 1, Duration::from_secs(60));
    demo.wait_for("capture saved", 1, Duration::from_secs(60));
    let status = demo.child.wait().expect("demo exits after --seconds");
    assert!(status.success(), "{status}");

    let node_toml = data.join("node.toml");
    let out = vigia()
        .arg("check-config")
        .arg(&node_toml)
        .output()
        .expect("check-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("camera:   demo"));

    assert!(
        demo.seen.iter().any(|l| l.contains("admin / ")),
        "a one-time admin password is printed"
    );

    // Delivered to the server: the node's outbox is empty of complete
    // captures and the server's media tree holds them, clip and all.
    let pending = captures(&data.join("node/outbox"));
    assert!(
        pending.iter().all(|(_, m)| m.is_none()),
        "undelivered captures: {pending:?}"
    );
    let media = data.join("server/media/demo");
    let mut stored = Vec::new();
    for day in std::fs::read_dir(&media).expect("camera folder in the media tree") {
        for cap in std::fs::read_dir(day.expect("day").path()).expect("day folder") {
            stored.push(cap.expect("capture").path());
        }
    }
    assert!(!stored.is_empty(), "no capture reached the server");
    for cap in stored {
        for f in ["snapshot.jpg", "thumb.jpg", "clip.mp4", "manifest.json"] {
            assert!(cap.join(f).is_file(), "{} lacks {f}", cap.display());
        }
        let (codec, frames, duration) = ffprobe(&cap.join("clip.mp4"));
        assert_eq!(codec, "h264");
        assert!(
            frames > 50 && duration > 5.0,
            "{frames} frames, {duration} s"
        );
    }
    let out = vigia()
        .arg("check-config")
        .arg(data.join("node.toml"))
        .output()
        .expect("check-config");
    assert!(out.status.success());
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = node_config(dir.path(), "cam", "[event]\npost_roll_s = -3\n");
    let out = vigia()
        .arg("check-config")
        .arg(&p)
        .output()
        .expect("check-config");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("event.post_roll_s"), "{err}");
}
