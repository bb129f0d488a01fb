//! A full disk under the outbox: the node logs and counts the error, keeps
//! older captures intact, keeps running, and writes again once space is
//! freed. Uses a real tmpfs, so it needs root (as in CI).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn full_disk_keeps_old_captures_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = dir.path().join("data/outbox");
    std::fs::create_dir_all(&outbox).expect("mkdir");
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&outbox)
        .status()
        .expect("run mount");
    assert!(
        ok.success(),
        "mounting a 3 MiB tmpfs needs root (CI runs as root)"
    );
    let _mount = Mount(outbox.clone());

    let metrics_path = dir.path().join("metrics.prom");
    let cfg = node_config(
        dir.path(),
        "shed",
        &format!(
            "metrics_file = \"{}\"\n[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n\
             [event]\npre_roll_s = 2.0\npost_roll_s = 3.0\n[recording]\nbitrate_kbps = 2000\n",
            metrics_path.display()
        ),
    );
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(&cfg);
    let mut node = Running::spawn(cmd);
    node.wait_for("capture saved", 1, Duration::from_secs(300));

    // Keep going until the disk is full and the node has said so.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let text = std::fs::read_to_string(&metrics_path).unwrap_or_default();
        if metric(&text, "vigia_outbox_space_errors_total") > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no space error reported; metrics:\n{text}"
        );
        assert!(
            node.child.try_wait().expect("wait").is_none(),
            "node died on a full disk"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        node.child.try_wait().expect("wait").is_none(),
        "node keeps running on a full disk"
    );

    // Every capture completed before the disk filled is intact.
    let complete: Vec<_> = captures(&outbox)
        .into_iter()
        .filter_map(|(d, m)| m.map(|m| (d, m)))
        .collect();
    assert!(!complete.is_empty());
    for (d, m) in &complete {
        verify_capture(d, m);
    }

    // Free space as an upload acknowledgement would: the node writes again.
    let saved_before = node
        .seen
        .iter()
        .filter(|l| l.contains("capture saved"))
        .count();
    for (d, _) in &complete {
        std::fs::remove_dir_all(d).expect("free space");
    }
    node.wait_for("capture saved", saved_before + 1, Duration::from_secs(300));
    assert!(node.stop().success());
    for (d, m) in captures(&outbox)
        .into_iter()
        .filter_map(|(d, m)| m.map(|m| (d, m)))
    {
        verify_capture(&d, &m);
    }
}
