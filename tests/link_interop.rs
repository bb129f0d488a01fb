//! The link against Debian's OpenSSH, both ways, with real processes on
//! loopback: the stock `sftp` and `scp` clients holding an authorized key
//! upload into vigia's server (and cannot get out of their camera's area);
//! vigia's node uploads captures to a stock `sshd` as a plain SFTP target
//! (the seed system's behaviour); an RSA node key made by `ssh-keygen`
//! works as well as vigia's Ed25519 ones.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::link::*;
use common::*;

/// A synthetic camera run flat out: events come every few seconds.
const FAST_CAMERA: &str = "[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n\n[event]\npre_roll_s = 1.0\npost_roll_s = 1.0\n";
/// No figures: no new events, so the outbox can drain.
const QUIET_CAMERA: &str =
    "[source]\nkind = \"synthetic\"\nscene = \"quiet\"\nwidth = 384\nheight = 288\n";

/// One complete capture made by a node without a link; returns its folder.
fn make_capture(dir: &Path, camera: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let cfg = node_config(dir, camera, FAST_CAMERA);
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

fn manifest_of(capture: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(capture.join("manifest.json")).expect("manifest"))
        .expect("manifest json")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn stock_sftp_uploads_a_capture_the_server_ingests() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let key = server.enroll(&dir.path().join("node"), "yard");
    let _srv = server.start();
    let capture = make_capture(&dir.path().join("made"), "yard");
    let id = capture.file_name().unwrap().to_string_lossy().into_owned();
    let manifest = manifest_of(&capture);

    // What an operator would type: a folder per capture, the files, and the
    // manifest last, since its presence tells the server the capture is
    // complete (under another name first, so the poller never reads a
    // half-written one).
    let mut batch = format!("mkdir /{id}\n");
    for f in manifest["files"].as_array().expect("files") {
        let name = f["name"].as_str().expect("name");
        batch += &format!("put {} /{id}/{name}\n", capture.join(name).display());
    }
    batch += &format!(
        "put {} /{id}/manifest.part\nrename /{id}/manifest.part /{id}/manifest.json\n",
        capture.join("manifest.json").display()
    );
    let out = sftp_batch(&key, server.ssh_port, "yard", &batch);
    assert!(out.status.success(), "sftp upload: {}", text(&out));

    eventually(
        "the incoming poller to store the capture",
        Duration::from_secs(60),
        || server.stored().iter().any(|d| d.ends_with(&id)),
    );
    let stored = server
        .stored()
        .into_iter()
        .find(|d| d.ends_with(&id))
        .unwrap();
    let m = verify_stored(&stored);
    assert_eq!(m["capture_id"], id.as_str());
    assert_eq!(m["camera"], "yard");
    let digests = |m: &serde_json::Value| -> Vec<(String, String)> {
        m["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| (f["name"].to_string(), f["sha256"].to_string()))
            .collect()
    };
    assert_eq!(digests(&m), digests(&manifest), "the node's sha256s, kept");
    let (_, frames, _) = ffprobe(&stored.join("clip.mp4"));
    assert_eq!(frames, manifest["frames"].as_u64().unwrap());
    let area = server.data().join("incoming/yard");
    eventually(
        "the ingested folder to leave the incoming area",
        Duration::from_secs(30),
        || !area.join(&id).exists(),
    );
}

/// OpenSSH 9's scp speaks SFTP: it must both deliver the file and exit 0,
/// which it only does once the server reports the subsystem's exit status
/// (as sshd does when its sftp-server exits).
#[test]
fn stock_scp_puts_a_file_into_the_area() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let key = server.enroll(&dir.path().join("node"), "yard");
    let _srv = server.start();
    let area = server.data().join("incoming/yard");
    // Bigger than one SFTP packet.
    let payload: Vec<u8> = (0..700_000u64).map(|i| (i * 7919 % 251) as u8).collect();
    let local = dir.path().join("note.bin");
    std::fs::write(&local, &payload).unwrap();
    let out = openssh("scp")
        .args(openssh_opts(&key))
        .args(["-P", &server.ssh_port.to_string()])
        .arg(&local)
        .arg("yard@127.0.0.1:note.bin")
        .output()
        .expect("run scp");
    assert_eq!(
        std::fs::read(area.join("note.bin")).expect("scp's file in the area"),
        payload
    );
    assert!(out.status.success(), "scp: {}", text(&out));
}

#[test]
fn a_stock_sftp_client_cannot_leave_its_area() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let key = server.enroll(&dir.path().join("node"), "yard");
    // Another camera's area next door, and a folder outside the server.
    server.enroll(&dir.path().join("other"), "other");
    let _srv = server.start();
    let area = server.data().join("incoming/yard");
    let neighbour = server.data().join("incoming/other");
    std::fs::create_dir_all(&area).unwrap();
    std::fs::create_dir_all(&neighbour).unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "original").unwrap();
    let outside_mode = std::fs::metadata(&outside).unwrap().permissions().mode();
    // Symlinks planted in the area (by a careless admin or an earlier
    // bug): following them would lead out.
    std::os::unix::fs::symlink(&outside, area.join("trapdir")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), area.join("trapfile")).unwrap();
    let payload = dir.path().join("payload.txt");
    std::fs::write(&payload, "payload").unwrap();
    let got = dir.path().join("got");
    let p = payload.display();
    let g = got.display();

    let before = tree(dir.path());
    // (what, sftp batch, must fail). `cd ..` is folded at `/` as in a
    // chroot, so the put after it may succeed: it must land in the area.
    let attempts: Vec<(&str, String, bool)> = vec![
        ("put ../../escape", format!("put {p} ../../escape"), true),
        ("put /../x", format!("put {p} /../x"), true),
        (
            "put into the other camera's area",
            format!("put {p} ../other/x"),
            true,
        ),
        ("put with a deep path", format!("put {p} /a/b/c"), true),
        ("mkdir ../x", "mkdir ../x".into(), true),
        ("mkdir /../../x", "mkdir /../../x".into(), true),
        ("symlink", "symlink / /rootlink".into(), true),
        ("ln -s", "ln -s /etc/passwd /pw".into(), true),
        (
            "put through a planted folder symlink",
            format!("put {p} /trapdir/x"),
            true,
        ),
        (
            "put over a planted file symlink",
            format!("put {p} /trapfile"),
            true,
        ),
        (
            "get through a planted file symlink",
            format!("get /trapfile {g}"),
            true,
        ),
        (
            "get ../../server.toml",
            format!("get ../../server.toml {g}"),
            true,
        ),
        (
            "chmod through a planted symlink",
            "chmod 777 /trapdir".into(),
            true,
        ),
        (
            "rename out of the area",
            "rename /trapfile ../moved".into(),
            true,
        ),
        ("cd .. then put", format!("cd ..\nput {p} escape2"), false),
        (
            "cd ../.. then mkdir",
            "cd ../..\nmkdir escape3".into(),
            false,
        ),
    ];
    for (what, batch, must_fail) in &attempts {
        let out = sftp_batch(&key, server.ssh_port, "yard", batch);
        if *must_fail {
            assert!(!out.status.success(), "{what} was allowed: {}", text(&out));
        }
    }

    let after = tree(dir.path());
    let area_rel = area.strip_prefix(dir.path()).unwrap();
    let new: Vec<&PathBuf> = after
        .difference(&before)
        .filter(|p| !p.starts_with(area_rel))
        // The store's SQLite sidecar files come and go on their own.
        .filter(|p| {
            let n = p.to_string_lossy();
            !(n.ends_with("-wal") || n.ends_with("-shm") || n.ends_with("-journal"))
        })
        .collect();
    assert!(new.is_empty(), "created outside the area: {new:?}");
    assert_eq!(
        std::fs::read_to_string(outside.join("secret")).unwrap(),
        "original"
    );
    assert_eq!(
        tree(&outside),
        BTreeSet::from([PathBuf::from("secret")]),
        "nothing written through the planted symlinks"
    );
    assert_eq!(
        std::fs::metadata(&outside).unwrap().permissions().mode(),
        outside_mode,
        "chmod followed a symlink"
    );
    assert!(
        tree(&neighbour).is_empty(),
        "wrote into another camera's area"
    );
    assert!(!got.exists(), "read a file outside the area");
    // The two `cd` attempts stayed inside: whatever they made is in the area.
    let made: Vec<_> = after.difference(&before).collect();
    for p in &made {
        let name = p.file_name().unwrap().to_string_lossy();
        if name.starts_with("escape") {
            assert!(p.starts_with(area_rel), "{} escaped", p.display());
        }
    }
}

#[test]
fn the_node_uploads_to_a_stock_sshd_as_a_plain_sftp_target() {
    let dir = tempfile::tempdir().unwrap();
    let node_dir = dir.path().join("node");
    keygen(&node_dir);
    let authorized = dir.path().join("authorized_keys");
    std::fs::copy(node_dir.join("node_key.pub"), &authorized).unwrap();
    let sshd = Sshd::start(&dir.path().join("sshd"), &authorized);
    let remote = dir.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let link = format!(
        "mode = \"sftp\"\nuser = \"{user}\"\nremote_dir = \"{r}\"\nserver_fingerprint = \"{fp}\"\n",
        user = current_user(),
        r = remote.display(),
        fp = openssh_fingerprint(&sshd.host_key_pub),
    );

    // The pinned fingerprint replaces --trust on first contact.
    let cfg = linked_node_config(
        &node_dir,
        "porch",
        sshd.port,
        &format!("{link}{FAST_CAMERA}"),
    );
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(&cfg);
    let mut node = Running::spawn(cmd);
    node.wait_for("capture saved", 3, Duration::from_secs(240));
    assert!(node.stop_here().success());
    let reported = saved_ids(&node);

    let cfg = linked_node_config(
        &node_dir,
        "porch",
        sshd.port,
        &format!("{link}{QUIET_CAMERA}"),
    );
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(&cfg);
    let mut drain = Running::spawn(cmd);
    drain.wait_for("link: uploading", 1, Duration::from_secs(60));
    eventually(
        "the outbox to drain into sshd",
        Duration::from_secs(180),
        || outbox_captures(&node_dir) == 0,
    );
    assert!(drain.stop().success());

    let folders: Vec<PathBuf> = std::fs::read_dir(&remote)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let names: Vec<String> = folders
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for id in &reported {
        assert!(
            names.contains(id),
            "{id} is not on the SFTP target: {names:?}"
        );
    }
    for f in &folders {
        let m = manifest_of(f);
        assert_eq!(
            m["capture_id"],
            f.file_name().unwrap().to_string_lossy().as_ref()
        );
        // Every listed file with the manifest's sha256, and nothing else
        // (no temp manifest left behind).
        verify_capture(f, &m);
    }
    let known = std::fs::read_to_string(node_dir.join("data/known_hosts")).unwrap();
    assert!(
        known.contains(&format!("[127.0.0.1]:{}", sshd.port)),
        "the host key was pinned: {known}"
    );
}

#[test]
fn an_rsa_node_key_from_ssh_keygen_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).unwrap();
    let key = node_dir.join("node_key");
    openssh_keygen(&key, &["rsa", "-b", "3072"]);
    let out = vigia()
        .arg("authorize")
        .arg(node_dir.join("node_key.pub"))
        .args(["--camera", "shed", "--config"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "authorize: {}", text(&out));
    let log = dir.path().join("server.log");
    let _srv = server.start_logged(&log);
    let cfg = linked_node_config(&node_dir, "shed", server.ssh_port, FAST_CAMERA);
    let mut node = start_node(&cfg);
    node.wait_for("capture saved", 1, Duration::from_secs(180));
    eventually("a capture on the server", Duration::from_secs(60), || {
        !server.stored().is_empty()
    });
    for d in server.stored() {
        assert_eq!(verify_stored(&d)["camera"], "shed");
    }
    assert!(node.stop().success());
    let fp = openssh_fingerprint(&node_dir.join("node_key.pub"));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("node authenticated") && l.contains(&fp)),
        "the server authenticated the RSA key {fp}:\n{log}"
    );
}
