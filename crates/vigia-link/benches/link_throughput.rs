//! SFTP upload throughput of one 100 MB file over loopback, the node's
//! client against vigia's server and against Debian's OpenSSH, same run.
//!
//! - vigia → vigia: [`Session::put_file`] (what the node's uploader calls
//!   for every capture file) into a [`LinkServer`] started here, with
//!   hooks that store nothing (only the upload is timed). The server
//!   fsyncs the file when it is closed, so the figure includes making
//!   100 MB durable.
//! - OpenSSH `scp` → `sshd`: a stock sshd started on a free port with its
//!   own configuration, as the interop tests do. scp does not fsync; the
//!   "+ fsync" line adds `sync FILE` on the received file, so the two
//!   sides compare like for like.
//! - Crossed pairs to tell the client from the server: OpenSSH `sftp` →
//!   vigia's server, and vigia's client in plain-SFTP mode → `sshd` (which
//!   asks for `fsync@openssh.com`, so it includes the fsync too).
//!
//! Everything runs on this machine's cores at once: client and server
//! compete for them, as they do on a loopback run of the real thing. Each
//! figure is the median of three uploads (min and max shown).
//!
//! Prints figures and the ratio (goal ≥ 0.9); asserts nothing. Run:
//! `cargo bench -p vigia-link --bench link_throughput` or
//! `bench/link-throughput.sh`. Without `/usr/sbin/sshd` only the vigia
//! figures are printed.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use tokio::sync::watch;
use vigia_base::manifest::Manifest;
use vigia_base::{CameraId, CaptureId, Shutdown};
use vigia_link::client::{ClientConfig, Link, LinkMode, Session};
use vigia_link::keys;
use vigia_link::server::{CommitError, LinkServer, LinkServerConfig, ServerHooks};
use vigia_link::wire::{AckedFile, Heartbeat, LiveFrame};

const FILE_BYTES: usize = 100_000_000;
const RUNS: usize = 3;
const SSHD: &str = "/usr/sbin/sshd";

/// Hooks of a server that only receives files.
struct NoStore {
    viewers: watch::Sender<usize>,
}

impl ServerHooks for NoStore {
    fn commit(
        &self,
        _camera: &CameraId,
        _area: &Path,
        _manifest: &Manifest,
    ) -> Result<Vec<AckedFile>, CommitError> {
        Err(CommitError {
            reason: "benchmark server: nothing is stored".into(),
            retryable: false,
            bad_files: vec![],
        })
    }
    fn live_frame(&self, _camera: &CameraId, _frame: LiveFrame) {}
    fn viewers(&self, _camera: &CameraId) -> watch::Receiver<usize> {
        self.viewers.subscribe()
    }
    fn node_seen(&self, _camera: &CameraId, _heartbeat: Option<&Heartbeat>) {}
    fn node_gone(&self, _camera: &CameraId) {}
}

struct Figure {
    what: &'static str,
    runs: Vec<Duration>,
}

impl Figure {
    fn mb_s(d: Duration) -> f64 {
        FILE_BYTES as f64 / 1e6 / d.as_secs_f64()
    }
    fn median_mb_s(&self) -> f64 {
        let mut v: Vec<f64> = self.runs.iter().map(|d| Self::mb_s(*d)).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
    fn print(&self) {
        let v: Vec<f64> = self.runs.iter().map(|d| Self::mb_s(*d)).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        println!(
            "  {:<44} {:7.1} MB/s  (min {:.1}, max {:.1})",
            self.what,
            self.median_mb_s(),
            lo,
            hi
        );
    }
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn run_ok(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// OpenSSH client options: no user config, no agent, no prompts.
fn openssh_opts(key: &Path) -> Vec<String> {
    let mut v: Vec<String> = [
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
        "LogLevel=ERROR",
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(key.display().to_string());
    v
}

/// A stock sshd letting the current user in with `authorized_keys`.
struct Sshd {
    child: std::process::Child,
    port: u16,
}

impl Sshd {
    fn start(dir: &Path, authorized_keys: &Path) -> Sshd {
        std::fs::create_dir_all(dir).expect("mkdir");
        let host_key = dir.join("host_key");
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-N", "", "-t", "ed25519", "-f"])
                .arg(&host_key),
        );
        let root = current_user() == "root";
        if root {
            std::fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd");
        }
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\n{}Subsystem sftp internal-sftp\n",
                host_key.display(),
                dir.join("sshd.pid").display(),
                authorized_keys.display(),
                if root {
                    "PermitRootLogin prohibit-password\n"
                } else {
                    ""
                }
            ),
        )
        .expect("sshd_config");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).expect("log"))
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { child, port }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn blocking(mut cmd: Command) -> Duration {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        run_ok(&mut cmd);
        t.elapsed()
    })
    .await
    .expect("blocking task")
}

fn client_config(port: u16, user: &str, dir: &Path, mode: LinkMode) -> ClientConfig {
    ClientConfig {
        host: "127.0.0.1".into(),
        port,
        user: user.into(),
        camera: "bench".parse().expect("camera id"),
        key: dir.join("node_key"),
        known_hosts: dir.join(format!("known_hosts-{port}")),
        trust_new_host: true,
        host_fingerprint: None,
        mode,
        capabilities: vec![],
        connect_timeout: Duration::from_secs(10),
    }
}

async fn connect(cfg: ClientConfig, shutdown: &Shutdown) -> (Arc<Session>, Link) {
    let (_status, status_rx) = watch::channel(Heartbeat::default());
    let (link, _commands) = Link::spawn(cfg, status_rx, shutdown.clone());
    let session = tokio::time::timeout(Duration::from_secs(30), link.connected())
        .await
        .expect("connected within 30 s")
        .expect("link running");
    (session, link)
}

async fn put_runs(
    session: &Session,
    capture: &CaptureId,
    file: &Path,
    landed: &Path,
) -> Vec<Duration> {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let sent = session
            .put_file(capture, "clip-000001.m4s", file, true)
            .await
            .expect("upload");
        runs.push(t.elapsed());
        assert_eq!(sent, FILE_BYTES as u64);
        assert_eq!(
            std::fs::metadata(landed).expect("uploaded file").len(),
            FILE_BYTES as u64
        );
    }
    runs
}

async fn run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = dir.join("clip.bin");
    let mut bytes = vec![0u8; FILE_BYTES];
    rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut bytes);
    std::fs::write(&file, &bytes).expect("write test file");
    drop(bytes);

    let node_key = keys::new_ed25519("bench");
    keys::write_key_pair(&node_key, &dir.join("node_key")).expect("node key");
    let camera: CameraId = "bench".parse().expect("camera id");
    let authorized = dir.join("authorized_keys");
    keys::authorize(&authorized, node_key.public_key(), &camera).expect("authorize");
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let incoming = dir.join("incoming");
    let server = LinkServer::start(
        listener,
        LinkServerConfig {
            host_key: dir.join("host_key"),
            authorized_keys: authorized,
            incoming: incoming.clone(),
            heartbeat_ms: 5000,
            sftp: Default::default(),
        },
        Arc::new(NoStore {
            viewers: watch::channel(0).0,
        }),
        shutdown.clone(),
    )
    .expect("link server");
    let vport = server.local_addr.port();
    let capture = CaptureId::new(1_700_000_000_000, 1);
    let mut figures = Vec::new();

    let (session, _link) = connect(
        client_config(vport, "bench", dir, LinkMode::Vigia),
        &shutdown,
    )
    .await;
    let landed = incoming
        .join("bench")
        .join(capture.as_str())
        .join("clip-000001.m4s");
    figures.push(Figure {
        what: "vigia node -> vigia server (incl. fsync)",
        runs: put_runs(&session, &capture, &file, &landed).await,
    });
    session.remove_file(&capture, "clip-000001.m4s").await.ok();

    let batch = dir.join("batch");
    std::fs::write(
        &batch,
        format!("put {} /{}/sftp.m4s\n", file.display(), capture.as_str()),
    )
    .expect("batch");
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let mut cmd = Command::new("sftp");
        cmd.args(openssh_opts(&dir.join("node_key")))
            .args(["-P", &vport.to_string(), "-b"])
            .arg(&batch)
            .arg("bench@127.0.0.1");
        runs.push(blocking(cmd).await);
    }
    figures.push(Figure {
        what: "OpenSSH sftp -> vigia server (incl. fsync)",
        runs,
    });

    let mut openssh = None;
    if Path::new(SSHD).is_file() {
        let ak = dir.join("sshd_authorized_keys");
        std::fs::write(&ak, keys::public_line(node_key.public_key())).expect("authorized_keys");
        let sshd = Sshd::start(&dir.join("sshd"), &ak);
        let remote = dir.join("remote");
        std::fs::create_dir_all(&remote).expect("mkdir remote");
        let target = remote.join("scp.bin");
        let user = current_user();
        let (mut plain, mut synced) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let mut cmd = Command::new("scp");
            cmd.args(openssh_opts(&dir.join("node_key")))
                .args(["-P", &sshd.port.to_string()])
                .arg(&file)
                .arg(format!("{user}@127.0.0.1:{}", target.display()));
            let t = blocking(cmd).await;
            let mut sync = Command::new("sync");
            sync.arg(&target);
            let s = blocking(sync).await;
            plain.push(t);
            synced.push(t + s);
        }
        let scp = Figure {
            what: "OpenSSH scp -> sshd",
            runs: plain,
        };
        let scp_sync = Figure {
            what: "OpenSSH scp -> sshd, + fsync",
            runs: synced,
        };
        let (psession, _plink) = connect(
            client_config(
                sshd.port,
                &user,
                dir,
                LinkMode::PlainSftp {
                    remote_dir: remote.display().to_string(),
                },
            ),
            &shutdown,
        )
        .await;
        let landed = remote.join(capture.as_str()).join("clip-000001.m4s");
        figures.push(Figure {
            what: "vigia node -> sshd (plain SFTP, incl. fsync)",
            runs: put_runs(&psession, &capture, &file, &landed).await,
        });
        openssh = Some((scp.median_mb_s(), scp_sync.median_mb_s()));
        figures.push(scp);
        figures.push(scp_sync);
    }

    println!(
        "SFTP upload of a {} MB random file over loopback, median of {RUNS}:",
        FILE_BYTES / 1_000_000
    );
    for f in &figures {
        f.print();
    }
    let vigia = figures[0].median_mb_s();
    match openssh {
        Some((scp, scp_sync)) => println!(
            "ratio vigia->vigia / scp->sshd: {:.2} (vs scp + fsync: {:.2}; goal >= 0.9)",
            vigia / scp,
            vigia / scp_sync
        ),
        None => println!("no {SSHD}: install openssh-server for the OpenSSH comparison"),
    }
    shutdown.trigger();
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}
