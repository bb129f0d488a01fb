//! Shared setup for the end-to-end tests: fixture lookup, running the
//! `vigia` binary, reading captures back.
#![allow(dead_code)] // each test file uses a different subset

pub mod link;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub fn vigia() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigia"))
}

/// Real footage from Debian's opencv-doc (scripts/test.sh provides it).
pub fn fixture(name: &str) -> PathBuf {
    let dir = std::env::var_os("VIGIA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/doc/opencv-doc/examples/data"));
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "fixture {} missing: run the tests through scripts/test.sh, which fetches it",
        p.display()
    );
    p
}

/// A running `vigia` process whose stdout lines arrive on a channel.
pub struct Running {
    pub child: Child,
    pub lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn vigia");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits until `n` stdout lines contain `needle` (counting earlier
    /// ones); panics after `limit` so a broken build fails instead of hanging.
    pub fn wait_for(&mut self, needle: &str, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.seen.iter().filter(|l| l.contains(needle)).count() >= n {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(l) => {
                    eprintln!("vigia> {l}");
                    self.seen.push(l);
                }
                Err(_) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    panic!(
                        "timed out waiting for {n} x {needle:?}; saw {:?}",
                        self.seen
                    )
                }
                Err(_) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        panic!(
                            "vigia exited with {status} before {n} x {needle:?}; saw {:?}",
                            self.seen
                        );
                    }
                }
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.stop_here()
    }

    /// As [`Running::stop`], keeping the lines seen for inspection.
    pub fn stop_here(&mut self) -> std::process::ExitStatus {
        self.signal(15);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                while let Ok(l) = self.lines.try_recv() {
                    self.seen.push(l);
                }
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "vigia did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    /// A failed test must not leave a daemon behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn sha256_file(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).expect("read file")))
}

/// Every capture directory of an outbox with its parsed manifest (if any).
pub fn captures(outbox: &Path) -> Vec<(PathBuf, Option<serde_json::Value>)> {
    let mut v: Vec<_> = std::fs::read_dir(outbox)
        .expect("outbox exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let m = std::fs::read(p.join("manifest.json"))
                .ok()
                .map(|b| serde_json::from_slice(&b).expect("manifest is valid JSON"));
            (p, m)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Checks every file a manifest lists against its size and sha256, and
/// that nothing else but the journal is in the capture.
pub fn verify_capture(dir: &Path, manifest: &serde_json::Value) {
    let files = manifest["files"].as_array().expect("files");
    assert!(!files.is_empty(), "{} lists no files", dir.display());
    for f in files {
        let name = f["name"].as_str().expect("name");
        let p = dir.join(name);
        let len = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .len();
        assert_eq!(len, f["bytes"].as_u64().expect("bytes"), "{}", p.display());
        assert_eq!(
            sha256_file(&p),
            f["sha256"].as_str().expect("sha"),
            "{}",
            p.display()
        );
    }
    let listed: Vec<&str> = files.iter().filter_map(|f| f["name"].as_str()).collect();
    for e in std::fs::read_dir(dir).expect("capture dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(
            listed.contains(&name.as_str()) || name == "manifest.json" || name == "event.json",
            "{} holds {name}, which its manifest does not list",
            dir.display()
        );
    }
}

/// Concatenates a capture's init segment and fragments into one MP4.
pub fn assemble_clip(dir: &Path, manifest: &serde_json::Value, out: &Path) {
    let mut bytes = Vec::new();
    for f in manifest["files"].as_array().expect("files") {
        if f["kind"] == "clip_init" || f["kind"] == "clip_fragment" {
            bytes.extend(std::fs::read(dir.join(f["name"].as_str().expect("name"))).expect("read"));
        }
    }
    std::fs::write(out, bytes).expect("write clip");
}

/// ffprobe's view of a clip: (codec, frames, duration seconds).
pub fn ffprobe(clip: &Path) -> (String, u64, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,nb_read_frames:format=duration",
            "-of",
            "json",
        ])
        .arg(clip)
        .output()
        .expect("ffprobe runs (scripts/test.sh installs ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe rejected {}: {}",
        clip.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap_or_default().to_owned(),
        s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    )
}

/// Writes a node config for tests; `extra` is appended verbatim.
pub fn node_config(dir: &Path, camera: &str, extra: &str) -> PathBuf {
    let p = dir.join("node.toml");
    std::fs::write(
        &p,
        format!(
            "[node]\ncamera = \"{camera}\"\ndata_dir = \"{}\"\n{extra}",
            dir.join("data").display()
        ),
    )
    .expect("write config");
    p
}
