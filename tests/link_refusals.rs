//! What the link refuses, with real processes on loopback and Debian's
//! OpenSSH client as the hostile peer: an unknown node key, a server whose
//! host key changed, passwords and keyboard-interactive, shells and exec
//! (so legacy `scp -O`), malformed, oversized and lying control messages.
//! Each refusal leaves the server running and serving real nodes.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::link::*;
use common::*;

/// A synthetic camera run flat out: events come every few seconds.
const FAST_CAMERA: &str = "[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n\n[event]\npre_roll_s = 1.0\npost_roll_s = 1.0\n";

fn outbox_captures(node_dir: &Path) -> usize {
    std::fs::read_dir(node_dir.join("data/outbox"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Regular files under `dir` (uploads), ignoring the folders the server
/// may make for itself.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    tree(dir)
        .into_iter()
        .filter(|p| !dir.join(p).is_dir())
        .collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Runs `cmd` with `input` on stdin; kills it if it outlives `limit`.
fn run_with_input(mut cmd: std::process::Command, input: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // The server may close before reading everything: a broken pipe here
    // is part of what is tested.
    let _ = stdin.write_all(input);
    drop(stdin);
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("still connected after {limit:?}: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// `ssh -s <subsystem>` as camera `user`, the channel's bytes from `input`.
fn subsystem(key: &Path, port: u16, user: &str, name: &str, input: &[u8]) -> Output {
    let mut cmd = openssh("ssh");
    cmd.args(openssh_opts(key))
        .args(["-p", &port.to_string(), "-s"])
        .arg(format!("{user}@127.0.0.1"))
        .arg(name);
    run_with_input(cmd, input, Duration::from_secs(30))
}

/// A real node with its own key uploads a capture: the server still works.
fn a_real_node_still_uploads(server: &ServerSetup, dir: &Path, camera: &str) {
    let node_dir = dir.join(format!("node-{camera}"));
    server.enroll(&node_dir, camera);
    let cfg = linked_node_config(&node_dir, camera, server.ssh_port, FAST_CAMERA);
    let mut node = start_node(&cfg);
    node.wait_for("capture saved", 1, Duration::from_secs(180));
    eventually(
        "the real node's capture on the server",
        Duration::from_secs(60),
        || {
            server
                .stored()
                .iter()
                .any(|d| verify_stored(d)["camera"] == camera)
        },
    );
    assert!(node.stop().success());
}

#[test]
fn an_unknown_key_uploads_nothing_and_keeps_its_captures() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let srv_log = dir.path().join("server.log");
    let _srv = server.start_logged(&srv_log);
    let node_dir = dir.path().join("node");
    keygen(&node_dir); // never authorized
    let cfg = linked_node_config(&node_dir, "yard", server.ssh_port, FAST_CAMERA);
    let log = dir.path().join("node.log");
    let mut cmd = vigia();
    cmd.args(["node", "--trust", "--config"]).arg(&cfg);
    let mut node = spawn_logged(cmd, &log);
    node.wait_for("capture saved", 1, Duration::from_secs(180));
    // Ten seconds in which an upload would have happened several times over.
    std::thread::sleep(Duration::from_secs(10));
    assert!(node.stop_here().success());
    assert!(server.stored().is_empty(), "a capture got through");
    let uploaded = files_under(&server.data().join("incoming"));
    assert!(uploaded.is_empty(), "something was uploaded: {uploaded:?}");
    assert!(
        outbox_captures(&node_dir) >= 1,
        "the node kept its captures"
    );
    let log = read(&log);
    assert!(
        log.contains("refused our key"),
        "the node says its key was refused:\n{log}"
    );
    let srv_log = read(&srv_log);
    assert!(
        !srv_log.contains("node authenticated") && !srv_log.contains("node connected"),
        "{srv_log}"
    );
}

#[test]
fn a_changed_host_key_stops_the_node_from_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let node_dir = dir.path().join("node");
    server.enroll(&node_dir, "yard");
    let srv_log = dir.path().join("server.log");
    let _srv = server.start_logged(&srv_log);
    // known_hosts pinning some other key for this server's address.
    let impostor = dir.path().join("impostor");
    openssh_keygen(&impostor, &["ed25519"]);
    let other = read(&dir.path().join("impostor.pub"));
    let mut fields = other.split_whitespace();
    let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
    std::fs::create_dir_all(node_dir.join("data")).unwrap();
    std::fs::write(
        node_dir.join("data/known_hosts"),
        format!("[127.0.0.1]:{} {kind} {blob}\n", server.ssh_port),
    )
    .unwrap();

    // --trust must not override a changed key.
    let cfg = linked_node_config(&node_dir, "yard", server.ssh_port, FAST_CAMERA);
    let log = dir.path().join("node.log");
    let mut cmd = vigia();
    cmd.args(["node", "--trust", "--config"]).arg(&cfg);
    let mut node = spawn_logged(cmd, &log);
    node.wait_for("capture saved", 1, Duration::from_secs(180));
    std::thread::sleep(Duration::from_secs(5));
    assert!(node.stop_here().success());
    let log = read(&log);
    assert!(log.contains("HOST KEY HAS CHANGED"), "node log:\n{log}");
    assert!(server.stored().is_empty(), "a capture got through");
    let uploaded = files_under(&server.data().join("incoming"));
    assert!(uploaded.is_empty(), "something was uploaded: {uploaded:?}");
    assert!(
        outbox_captures(&node_dir) >= 1,
        "the node kept its captures"
    );
    let srv_log = read(&srv_log);
    assert!(
        !srv_log.contains("node authenticated") && !srv_log.contains("node connected"),
        "the node went past the host key check:\n{srv_log}"
    );
    // The pinned line is left alone for the operator to judge.
    assert!(read(&node_dir.join("data/known_hosts")).contains(blob));
}

#[test]
fn passwords_shells_exec_and_legacy_scp_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let key = server.enroll(&dir.path().join("node"), "yard");
    let _srv = server.start();
    let port = server.ssh_port.to_string();

    // A password ready to be typed by SSH_ASKPASS, which the server never
    // gets to ask for: it offers public keys only.
    let askpass = dir.path().join("askpass.sh");
    std::fs::write(&askpass, "#!/bin/sh\necho hunter2\n").unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for user in ["yard", "root"] {
        let out = openssh("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=no",
                "-o",
                "PreferredAuthentications=password,keyboard-interactive",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-p",
                &port,
            ])
            .arg(format!("{user}@127.0.0.1"))
            .arg("true")
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Permission denied (publickey)"),
            "{}",
            text(&out)
        );
    }

    // The key is good (sftp works) but a command is not.
    let out = sftp_batch(&key, server.ssh_port, "yard", "ls /\n");
    assert!(out.status.success(), "sftp with the key: {}", text(&out));
    let out = openssh("ssh")
        .args(openssh_opts(&key))
        .args(["-p", &port, "yard@127.0.0.1", "id"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "exec: {}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("uid="));
    // A shell, with and without a terminal.
    for tty in ["-T", "-tt"] {
        let out = run_with_input(
            {
                let mut c = openssh("ssh");
                c.args(openssh_opts(&key))
                    .args(["-p", &port, tty, "yard@127.0.0.1"]);
                c
            },
            b"id\nexit\n",
            Duration::from_secs(30),
        );
        assert!(!out.status.success(), "shell {tty}: {}", text(&out));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("uid="));
    }
    // Legacy scp runs `scp -t` on the server: exec, refused.
    let local = dir.path().join("f.txt");
    std::fs::write(&local, "x").unwrap();
    let out = openssh("scp")
        .args(openssh_opts(&key))
        .args(["-O", "-P", &port])
        .arg(&local)
        .arg("yard@127.0.0.1:f.txt")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "scp -O: {}", text(&out));
    assert!(!server.data().join("incoming/yard/f.txt").exists());
}

/// Counts the log lines holding `needle`.
fn count(log: &Path, needle: &str) -> usize {
    read(log).lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn malformed_oversized_and_lying_control_messages_close_the_connection_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerSetup::new(&dir.path().join("server"));
    let key = server.enroll(&dir.path().join("node"), "yard");
    let log = dir.path().join("server.log");
    let mut srv = server.start_logged(&log);
    let port = server.ssh_port;
    let control = "vigia-control@vigia";

    // First the control case: a proper hello gets a welcome, so what
    // follows fails for what is sent, not for how.
    let hello =
        br#"{"type":"hello","protocol":1,"camera":"yard","software":"x","capabilities":[]}"#;
    let out = subsystem(&key, port, "yard", control, &frame(hello));
    let reply = &out.stdout;
    assert!(reply.len() > 4, "no welcome: {}", text(&out));
    let len = u32::from_be_bytes(reply[..4].try_into().unwrap()) as usize;
    let welcome: serde_json::Value =
        serde_json::from_slice(&reply[4..4 + len]).expect("welcome is a JSON frame");
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    let refused = "control channel refused";
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("garbage", control, frame(b"abcde"), "malformed control message"),
        (
            "a 4 GiB length",
            control,
            vec![0xFF, 0xFF, 0xFF, 0xFF, b'x'],
            "exceeds the",
        ),
        (
            "a hello for another camera",
            control,
            frame(br#"{"type":"hello","protocol":1,"camera":"other","software":"x","capabilities":[]}"#),
            "hello names camera other",
        ),
        (
            "a future protocol",
            control,
            frame(br#"{"type":"hello","protocol":99,"camera":"yard","software":"x","capabilities":[]}"#),
            "protocol version 99",
        ),
    ];
    for (what, channel, input, says) in &cases {
        let before = count(&log, refused);
        let started = Instant::now();
        let out = subsystem(&key, port, "yard", channel, input);
        assert!(
            !out.status.success(),
            "{what}: ssh ended cleanly: {}",
            text(&out)
        );
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "{what}: closed by the hello timeout, not by the refusal"
        );
        assert!(
            out.stdout.is_empty(),
            "{what}: the server answered: {}",
            text(&out)
        );
        assert!(
            srv.child.try_wait().unwrap().is_none(),
            "{what}: the server died"
        );
        // Logged once, saying why.
        eventually(
            "the refusal in the server's log",
            Duration::from_secs(5),
            || count(&log, refused) > before,
        );
        std::thread::sleep(Duration::from_millis(300));
        let lines: Vec<String> = read(&log)
            .lines()
            .filter(|l| l.contains(refused))
            .skip(before)
            .map(str::to_string)
            .collect();
        assert_eq!(lines.len(), 1, "{what}: logged {lines:?}");
        assert!(lines[0].contains(says), "{what}: {lines:?}");
    }

    // The live channel takes frames of up to 8 MiB; a bigger one is refused
    // before anything is buffered.
    let before = count(&log, "bad live channel data");
    let out = subsystem(
        &key,
        port,
        "yard",
        "vigia-live@vigia",
        &[0xFF, 0xFF, 0xFF, 0xFF],
    );
    assert!(!out.status.success(), "live: {}", text(&out));
    eventually(
        "the live refusal in the log",
        Duration::from_secs(5),
        || count(&log, "bad live channel data") == before + 1,
    );
    // An unknown subsystem.
    let out = subsystem(&key, port, "yard", "shell@vigia", b"");
    assert!(!out.status.success(), "unknown subsystem: {}", text(&out));

    assert!(srv.child.try_wait().unwrap().is_none(), "the server died");
    a_real_node_still_uploads(&server, dir.path(), "gate");
    assert!(srv.child.try_wait().unwrap().is_none());
    let _ = srv.stop_here();
}
