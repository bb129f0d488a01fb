//! A server and nodes connected over the SSH link, as an operator sets
//! them up: `vigia server`, `vigia keygen`, `vigia authorize`,
//! `vigia node --trust`; plus a plain HTTP client for the web platform.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{vigia, Running};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub struct ServerSetup {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub http: String,
    pub ssh_port: u16,
}

impl ServerSetup {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let (http, ssh_port) = (format!("127.0.0.1:{}", free_port()), free_port());
        let config = dir.join("server.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\ndata_dir = \"{d}/data\"\ningest_poll_s = 0.2\n\n[http]\nlisten = \"{http}\"\n\n\
                 [ssh]\nlisten = \"127.0.0.1:{ssh_port}\"\nheartbeat_s = 1.0\n\n[live]\noffline_after_s = 3.0\n",
                d = dir.display()
            ),
        )
        .expect("write server.toml");
        Self {
            dir: dir.to_owned(),
            config,
            http,
            ssh_port,
        }
    }

    pub fn start(&self) -> Running {
        let mut cmd = vigia();
        cmd.args(["server", "--config"]).arg(&self.config);
        let mut s = Running::spawn(cmd);
        s.wait_for("nodes connect over SSH", 1, Duration::from_secs(60));
        s
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Makes a node key with `vigia keygen` and authorizes it with
    /// `vigia authorize`; returns the private key's path.
    pub fn enroll(&self, node_dir: &Path, camera: &str) -> PathBuf {
        let key = keygen(node_dir);
        let out = vigia()
            .arg("authorize")
            .arg(node_dir.join("node_key.pub"))
            .args(["--camera", camera, "--config"])
            .arg(&self.config)
            .output()
            .expect("authorize");
        assert!(
            out.status.success(),
            "authorize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        key
    }

    pub fn add_admin(&self, password: &str) {
        let mut child = vigia()
            .args([
                "user",
                "add",
                "admin",
                "--admin",
                "--password-stdin",
                "--config",
            ])
            .arg(&self.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("user add");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(password.as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success());
    }

    /// Every stored capture folder: `media/<camera>/<day>/<id>`.
    pub fn stored(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let media = self.data().join("media");
        for cam in read_dirs(&media) {
            for day in read_dirs(&cam) {
                out.extend(read_dirs(&day));
            }
        }
        out.sort();
        out
    }
}

fn read_dirs(p: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(p) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// A node config with a link to `port`; `extra` is appended.
pub fn linked_node_config(node_dir: &Path, camera: &str, port: u16, extra: &str) -> PathBuf {
    let p = node_dir.join("node.toml");
    std::fs::write(
        &p,
        format!(
            "[node]\ncamera = \"{camera}\"\ndata_dir = \"{d}/data\"\n\n[link]\nserver = \"127.0.0.1\"\nport = {port}\nkey = \"{d}/node_key\"\nconnect_timeout_s = 5.0\n{extra}",
            d = node_dir.display()
        ),
    )
    .expect("write node.toml");
    p
}

pub fn start_node(config: &Path) -> Running {
    let mut cmd = vigia();
    cmd.args(["node", "--trust", "--config"]).arg(config);
    Running::spawn(cmd)
}

/// Checks a stored capture the way a court would: the server's manifest
/// lists each file's sha256, the snapshot matches, and clip.mp4 is exactly
/// the init segment and fragments in order. Returns the manifest.
pub fn verify_stored(dir: &Path) -> serde_json::Value {
    use sha2::{Digest, Sha256};
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("manifest json");
    let files = m["files"].as_array().expect("files");
    let clip = std::fs::read(dir.join("clip.mp4")).unwrap_or_default();
    let mut at = 0usize;
    for f in files {
        let name = f["name"].as_str().expect("name");
        let n = f["bytes"].as_u64().expect("bytes") as usize;
        let sha = f["sha256"].as_str().expect("sha");
        let bytes: Vec<u8> = if name == "snapshot.jpg" {
            std::fs::read(dir.join(name)).expect("snapshot")
        } else {
            let part = clip
                .get(at..at + n)
                .unwrap_or_else(|| panic!("{} clip.mp4 too short for {name}", dir.display()))
                .to_vec();
            at += n;
            part
        };
        assert_eq!(bytes.len(), n, "{}: {name} size", dir.display());
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            sha,
            "{}: {name} sha256",
            dir.display()
        );
    }
    assert_eq!(
        at,
        clip.len(),
        "{}: clip.mp4 has bytes no manifest part explains",
        dir.display()
    );
    m
}

/// Waits until `f` holds, polling; panics with `what` after `limit`.
pub fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A signed-in browser session over plain HTTP.
pub struct Web {
    pub addr: String,
    pub cookie: String,
    pub csrf: String,
}

pub fn http(addr: &str, req: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(req.as_bytes()).expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head[9..12].parse().expect("status");
    (status, head, out[split + 4..].to_vec())
}

fn cookie_value(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {head}"))
        .to_string()
}

impl Web {
    pub fn login(addr: &str, user: &str, password: &str) -> Web {
        let (_, head, body) = http(
            addr,
            &format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
        );
        let pre = cookie_value(&head, "vigia_login_csrf");
        let body = String::from_utf8_lossy(&body);
        let token = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("csrf field")
            .to_string();
        let form = format!("csrf={token}&username={user}&password={password}");
        let (status, head, _) = http(
            addr,
            &format!(
                "POST /login HTTP/1.1\r\nHost: {addr}\r\nCookie: vigia_login_csrf={pre}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
                form.len()
            ),
        );
        assert!(status == 303 || status == 302, "login failed: {head}");
        let cookie = format!("vigia_session={}", cookie_value(&head, "vigia_session"));
        let (_, _, body) = http(
            addr,
            &format!("GET /api/v1/session HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
        );
        let v: serde_json::Value = serde_json::from_slice(&body).expect("session json");
        Web {
            addr: addr.to_string(),
            cookie,
            csrf: v["csrf_token"].as_str().expect("csrf_token").to_string(),
        }
    }

    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let (s, _, b) = http(
            &self.addr,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
                self.addr, self.cookie
            ),
        );
        (s, b)
    }

    pub fn post_json(&self, path: &str, json: &str) -> (u16, Vec<u8>) {
        let (s, _, b) = http(
            &self.addr,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nX-CSRF-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                self.addr,
                self.cookie,
                self.csrf,
                json.len()
            ),
        );
        (s, b)
    }

    /// Opens the camera's MJPEG stream and returns the first JPEG in it.
    pub fn first_live_jpeg(&self, camera: &str, limit: Duration) -> Vec<u8> {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(limit)).expect("timeout");
        write!(
            s,
            "GET /live/{camera}.mjpg HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\r\n",
            self.addr, self.cookie
        )
        .expect("send");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16384];
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let n = s.read(&mut chunk).expect("live stream read");
            assert!(n > 0, "live stream closed before a frame");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(start) = buf.windows(2).position(|w| w == [0xFF, 0xD8]) {
                if let Some(end) = buf[start..].windows(2).position(|w| w == [0xFF, 0xD9]) {
                    return buf[start..start + end + 2].to_vec();
                }
            }
        }
        panic!("no live frame within {limit:?}");
    }
}

/// As [`Running::spawn`], with stderr (the tracing log) written to `log`
/// so a test can look for what the process logged.
pub fn spawn_logged(mut cmd: std::process::Command, log: &Path) -> Running {
    use std::io::BufRead;
    let file = std::fs::File::create(log).expect("create log file");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(file)
        .spawn()
        .expect("spawn vigia");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

impl ServerSetup {
    /// As [`ServerSetup::start`], with the server's log written to `log`.
    pub fn start_logged(&self, log: &Path) -> Running {
        let mut cmd = vigia();
        cmd.args(["server", "--config"]).arg(&self.config);
        let mut s = spawn_logged(cmd, log);
        s.wait_for("nodes connect over SSH", 1, Duration::from_secs(60));
        s
    }
}

/// `vigia keygen` into `node_dir/node_key` without authorizing it.
pub fn keygen(node_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(node_dir).expect("mkdir");
    let key = node_dir.join("node_key");
    let out = vigia()
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen");
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    key
}

/// An OpenSSH tool (`ssh`, `sftp`, `scp`, `ssh-keygen`, `sshd`), failing
/// clearly when it is not installed.
pub fn openssh(tool: &str) -> std::process::Command {
    let path = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{tool} missing: run the tests through scripts/test.sh, which installs OpenSSH")
        });
    std::process::Command::new(path)
}

/// Options that make an OpenSSH client non-interactive, deaf to the
/// user's own configuration and agent, and accept the test server's key.
pub fn openssh_opts(key: &Path) -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "LogLevel=ERROR",
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([key.display().to_string()])
    .collect()
}

/// Runs `sftp -b` with `batch` as the command file.
pub fn sftp_batch(key: &Path, port: u16, user: &str, batch: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("batch");
    std::fs::write(&file, batch).expect("write batch");
    openssh("sftp")
        .args(openssh_opts(key))
        .arg("-b")
        .arg(&file)
        .args(["-P", &port.to_string()])
        .arg(format!("{user}@127.0.0.1"))
        .stdin(Stdio::null())
        .output()
        .expect("run sftp")
}

/// The login name of the user running the tests.
pub fn current_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `SHA256:…` fingerprint of a public key file, as `ssh-keygen -l` says.
pub fn openssh_fingerprint(pub_key: &Path) -> String {
    let out = openssh("ssh-keygen")
        .arg("-lf")
        .arg(pub_key)
        .output()
        .expect("ssh-keygen -l");
    assert!(out.status.success(), "ssh-keygen -lf {}", pub_key.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_string()
}

/// `ssh-keygen -t <kind>` without a passphrase into `path` (+ `.pub`).
pub fn openssh_keygen(path: &Path, kind: &[&str]) {
    let out = openssh("ssh-keygen")
        .args(["-q", "-N", "", "-C", "vigia-test", "-t"])
        .args(kind)
        .arg("-f")
        .arg(path)
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A stock OpenSSH server on a free loopback port, with its own host key
/// and configuration in `dir`, letting the current user in with the keys in
/// `authorized_keys` only. Stopped when dropped.
pub struct Sshd {
    pub child: std::process::Child,
    pub port: u16,
    pub host_key_pub: PathBuf,
    pub log: PathBuf,
}

impl Sshd {
    pub fn start(dir: &Path, authorized_keys: &Path) -> Sshd {
        std::fs::create_dir_all(dir).expect("mkdir");
        let host_key = dir.join("ssh_host_ed25519_key");
        openssh_keygen(&host_key, &["ed25519"]);
        let root = current_user() == "root";
        if root {
            // Privilege separation needs it; Debian creates it only when
            // the packaged service starts.
            std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        }
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {ak}\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n{root}\
                 Subsystem sftp internal-sftp\nLogLevel VERBOSE\n",
                hk = host_key.display(),
                d = dir.display(),
                ak = authorized_keys.display(),
                root = if root {
                    "PermitRootLogin prohibit-password\n"
                } else {
                    ""
                },
            ),
        )
        .expect("write sshd_config");
        let log = dir.join("sshd.log");
        let child = openssh("sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("sshd log"))
            .spawn()
            .expect("start sshd");
        let mut sshd = Sshd {
            child,
            port,
            host_key_pub: keys_pub(&host_key),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!(
                    "sshd exited with {status}: {}",
                    std::fs::read_to_string(&sshd.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "sshd did not listen within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }
}

fn keys_pub(private: &Path) -> PathBuf {
    let mut p = private.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every path under `root` (not following symlinks), relative to it.
pub fn tree(root: &Path) -> std::collections::BTreeSet<PathBuf> {
    let mut out = std::collections::BTreeSet::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p.clone());
            }
            out.insert(p.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
    out
}

/// Writes a control/live frame: 4-byte big-endian length, then the body.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// Captures (complete or in progress) still in a node's outbox.
pub fn outbox_captures(node_dir: &Path) -> usize {
    std::fs::read_dir(node_dir.join("data/outbox"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

/// Capture ids the node reported saved on stdout.
pub fn saved_ids(node: &Running) -> Vec<String> {
    node.seen
        .iter()
        .filter_map(|l| l.strip_prefix("capture saved   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}
