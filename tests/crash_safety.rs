//! kill -9 the node while it writes captures, restart it, and check that no
//! partial capture is visible and every complete one is intact.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn kill_9_mid_capture_leaves_only_intact_captures_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = node_config(
        dir.path(),
        "door",
        "[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n\
         [event]\npre_roll_s = 2.0\npost_roll_s = 3.0\n[recording]\nfragment_s = 1.0\n",
    );
    let outbox = dir.path().join("data/outbox");
    let mut interrupted = 0;
    for round in 0..3 {
        let mut cmd = vigia();
        cmd.args(["node", "--config"]).arg(&cfg);
        let mut node = Running::spawn(cmd);
        // Die in the middle of the (round+1)-th event of this run, while
        // fragments are being written.
        node.wait_for("event started", round + 1, Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(150 * round as u64 + 50));
        node.signal(9);
        let _ = node.child.wait();
        let caps = captures(&outbox);
        interrupted += caps.iter().filter(|(_, m)| m.is_none()).count();
    }
    assert!(
        interrupted > 0,
        "the kills should have hit at least one running event"
    );

    // Restart: recovery runs at start-up; then a clean stop.
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(&cfg);
    let mut node = Running::spawn(cmd);
    node.wait_for("event started", 1, Duration::from_secs(300));
    assert!(node.stop().success());

    let caps = captures(&outbox);
    assert!(!caps.is_empty());
    let mut recovered = 0;
    for (capdir, manifest) in &caps {
        let m = manifest
            .as_ref()
            .unwrap_or_else(|| panic!("{} is half-visible after restart", capdir.display()));
        verify_capture(capdir, m);
        if m["end_reason"] == "interrupted" {
            recovered += 1;
        }
        for e in std::fs::read_dir(capdir).expect("ls") {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "temp file {name} left in {}",
                capdir.display()
            );
        }
    }
    assert!(
        recovered > 0,
        "interrupted events are completed from their journal, not dropped"
    );
    for e in std::fs::read_dir(&outbox).expect("ls") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "temp dir {name} left in the outbox");
    }
}
