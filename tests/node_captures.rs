//! A node on the synthetic camera, run as fast as the CPU allows, leaves
//! one complete, verifiable capture per walking figure, with a clip that
//! ffprobe accepts and whose length matches the event.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn synthetic_node_writes_verifiable_captures_with_playable_clips() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two loops of the 60 s scene = four figure crossings, no real-time pacing.
    let cfg = node_config(
        dir.path(),
        "yard",
        "[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n\
         [event]\npre_roll_s = 2.0\npost_roll_s = 3.0\n",
    );
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(&cfg);
    let mut node = Running::spawn(cmd);
    node.wait_for("capture saved", 4, Duration::from_secs(300));
    let status = node.stop();
    assert!(status.success(), "node exit status {status}");

    let outbox = dir.path().join("data/outbox");
    let caps = captures(&outbox);
    assert!(caps.len() >= 4, "{caps:?}");
    for (capdir, manifest) in &caps {
        let m = manifest
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no manifest after a clean stop", capdir.display()));
        verify_capture(capdir, m);
        assert_eq!(m["camera"], "yard");
        assert_eq!(m["label"], "motion");
        let kinds: Vec<_> = m["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["kind"].as_str().expect("kind").to_owned())
            .collect();
        assert!(kinds.contains(&"snapshot".to_owned()), "{kinds:?}");
        assert!(kinds.contains(&"clip_init".to_owned()), "{kinds:?}");
        let fragments = kinds.iter().filter(|k| *k == "clip_fragment").count();
        if m["end_reason"] == "quiet" {
            assert!(
                fragments >= 2,
                "an event of several seconds spans several fragments: {kinds:?}"
            );
        }
        let clip = dir.path().join("clip.mp4");
        assemble_clip(capdir, m, &clip);
        let (codec, frames, duration) = ffprobe(&clip);
        assert_eq!(codec, "h264");
        assert_eq!(
            frames,
            m["frames"].as_u64().expect("frames"),
            "every frame of the event is in the clip"
        );
        let span = (m["end_ms"].as_i64().expect("end") - m["start_ms"].as_i64().expect("start"))
            as f64
            / 1000.0;
        // Within one fragment (2 s) of the event span including pre/post roll.
        assert!(
            (duration - span).abs() <= 2.0,
            "clip {duration} s vs event span {span} s"
        );
        // Pre-roll: the clip starts before the trigger.
        assert!(m["start_ms"].as_i64() < m["trigger_ms"].as_i64(), "{m}");
        let snap = std::fs::read(capdir.join("snapshot.jpg")).expect("snapshot");
        assert_eq!(&snap[..2], &[0xFF, 0xD8], "snapshot is a JPEG");
    }
    let metrics =
        std::fs::read_to_string(dir.path().join("data/metrics.prom")).expect("metrics file");
    assert!(
        metrics.contains("vigia_captures_committed_total{camera=\"yard\"}"),
        "{metrics}"
    );
}
