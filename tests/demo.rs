//! `vigia demo` works out of the box: it writes its config, runs a node on
//! the synthetic camera in real time, and prints one line per event.

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

    let caps = captures(&data.join("outbox"));
    let complete: Vec<_> = caps
        .iter()
        .filter_map(|(d, m)| m.as_ref().map(|m| (d, m)))
        .collect();
    assert!(!complete.is_empty());
    for (d, m) in complete {
        verify_capture(d, m);
    }
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
