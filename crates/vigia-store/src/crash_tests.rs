//! Tests that need a real process or a real file system: `kill -9` in the
//! middle of ingest and deletion, and a full disk (a tiny tmpfs; these
//! tests run as root in CI and say so clearly when mounting fails).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vigia_base::manifest::Manifest;
use vigia_base::CaptureId;

use crate::testutil::{cam, config, tree, write_capture, write_manifest, T0};
use crate::*;

const CHILD_ENV: &str = "VIGIA_STORE_KILL9_ROOT";

/// Prepares `root/incoming/<n>` from the template folder: hard links to
/// its media and a manifest with a fresh id and start time.
fn stage(root: &Path, template: &Manifest, n: u32) -> (PathBuf, CaptureId) {
    let src = root.join("incoming").join(n.to_string());
    let _ = fs::remove_dir_all(&src);
    fs::create_dir_all(&src).expect("mkdir");
    for f in &template.files {
        fs::hard_link(root.join("template").join(&f.name), src.join(&f.name)).expect("link");
    }
    let start_ms = T0 + i64::from(n) * 60_000;
    let mut m = template.clone();
    m.capture_id = CaptureId::new(start_ms, n);
    m.start_ms = start_ms;
    m.end_ms = start_ms + 1_500;
    write_manifest(&src, &m);
    (src, m.capture_id)
}

/// The child side of `kill9_during_ingest_leaves_a_consistent_store`:
/// ingests (and now and then deletes) in a tight loop until killed. Does
/// nothing when run as an ordinary test.
#[test]
fn kill9_child() {
    let Some(root) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let template: Manifest =
        serde_json::from_slice(&fs::read(root.join("template/manifest.json")).expect("template"))
            .expect("json");
    let (store, _) = Store::open(config(&root)).expect("child open");
    let first: u32 = fs::read_to_string(root.join("next"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    for n in first.. {
        fs::write(root.join("next"), (n + 1).to_string()).expect("next");
        let (src, _id) = stage(&root, &template, n);
        store
            .ingest_dir(&cam("porch"), &src, 1)
            .expect("child ingest");
        if n % 3 == 2 {
            let older = CaptureId::new(T0 + i64::from(n - 1) * 60_000, n - 1);
            store.delete_capture(&older).expect("child delete");
        }
    }
}

/// Checks the invariants a crash must never break: every row's files are
/// there and complete, every capture directory has its row, no temp dir
/// or garbage row is left.
fn assert_consistent(store: &Store, media_dir: &Path) -> usize {
    let page = store
        .list_captures(&CaptureQuery {
            limit: 1000,
            ..Default::default()
        })
        .expect("list");
    for s in &page.items {
        let d = store.get_capture(&s.id).expect("get").expect("row");
        let clip = store
            .media_path(&s.id, MediaKind::Clip)
            .expect("p")
            .expect("clip");
        assert_eq!(
            fs::metadata(&clip).expect("clip exists").len(),
            d.clip_bytes.expect("clip bytes")
        );
        for k in [MediaKind::Snapshot, MediaKind::Thumbnail] {
            let p = store.media_path(&s.id, k).expect("p").expect("file");
            assert!(p.is_file(), "{}", p.display());
        }
    }
    let rows: std::collections::HashSet<_> = page
        .items
        .iter()
        .map(|s| s.id.as_str().to_owned())
        .collect();
    for path in tree(media_dir) {
        assert!(!path.starts_with(media::TMP_PREFIX), "temp left: {path}");
        if path == media::LOCK_NAME {
            continue;
        }
        let id = path.split('/').nth(2).expect("camera/day/id/file");
        assert!(rows.contains(id), "directory without row: {path}");
    }
    page.items.len()
}

#[test]
fn kill9_during_ingest_leaves_a_consistent_store() {
    let root = tempfile::tempdir().expect("tempdir");
    write_capture(&root.path().join("template"), &cam("porch"), 0);
    let exe = std::env::current_exe().expect("test binary");
    let mut total_repairs = 0;
    for (round, ms) in [350u64, 520, 610, 730, 880, 990].into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args([
                "crash_tests::kill9_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn child");
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        let (store, report) = Store::open(config(root.path())).expect("open after kill");
        assert!(store.owns_media_tree());
        total_repairs += usize::from(!report.is_empty());
        let n = assert_consistent(&store, &config(root.path()).media_dir);
        let garbage: i64 = store
            .db()
            .query_row("select count(*) from garbage", [], |r| r.get(0))
            .expect("garbage");
        assert_eq!(garbage, 0, "round {round}");
        assert!(
            n > 0 || round == 0,
            "round {round}: the child never ingested anything"
        );
    }
    let ingested: u32 = fs::read_to_string(root.path().join("next"))
        .expect("progress")
        .trim()
        .parse()
        .expect("n");
    assert!(ingested > 6, "only {ingested} ingests in six rounds");
    eprintln!("kill -9: {ingested} ingests attempted, {total_repairs} restarts needed repairs");
}

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount(8)");
        assert!(
            out.status.success(),
            "mounting a tmpfs ({options}) failed: {}. The disk-full tests need root (CI runs them as root).",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn store_on(root: &Path, media_dir: &Path, min_free_bytes: u64) -> Store {
    let cfg = StoreConfig {
        db_path: root.join("vigia.db"),
        media_dir: media_dir.to_owned(),
        min_free_bytes,
    };
    Store::open(cfg).expect("open").0
}

fn visible(media_dir: &Path) -> Vec<String> {
    tree(media_dir)
        .into_iter()
        .filter(|p| p != media::LOCK_NAME)
        .collect()
}

#[test]
fn enospc_mid_ingest_is_disk_full_and_leaves_nothing_half_visible() {
    // Few inodes: the free-space check passes, then creating a file fails
    // with ENOSPC part-way through building the second capture.
    let fs_ = Tmpfs::mount("size=4m,nr_inodes=12");
    let root = tempfile::tempdir().expect("tempdir");
    let store = store_on(root.path(), fs_.path(), 0);
    let src1 = root.path().join("in1");
    write_capture(&src1, &cam("porch"), 1);
    store
        .ingest_dir(&cam("porch"), &src1, 1)
        .expect("first fits");
    let before = visible(fs_.path());
    let src2 = root.path().join("in2");
    write_capture(&src2, &cam("porch"), 2);
    let r = store.ingest_dir(&cam("porch"), &src2, 1);
    assert!(matches!(r, Err(StoreError::DiskFull { .. })), "{r:?}");
    assert!(r.as_ref().err().is_some_and(StoreError::is_retryable));
    assert_eq!(
        visible(fs_.path()),
        before,
        "temp dir removed, nothing half visible"
    );
    assert_eq!(store.stats().expect("stats").captures, 1);
    drop(store);
    let again = store_on(root.path(), fs_.path(), 0);
    assert_eq!(again.stats().expect("stats").captures, 1);
}

#[test]
fn full_disk_and_free_space_floor_refuse_ingest_until_retention_frees_space() {
    let fs_ = Tmpfs::mount("size=2m");
    let root = tempfile::tempdir().expect("tempdir");
    let store = store_on(root.path(), fs_.path(), 0);
    let mut stored = Vec::new();
    let mut refused = None;
    for n in 0..200 {
        let src = root.path().join(format!("in{n}"));
        write_capture(&src, &cam("porch"), n);
        match store.ingest_dir(&cam("porch"), &src, 1) {
            Ok(o) => stored.push(o.id().clone()),
            Err(e) => {
                refused = Some((n, e));
                break;
            }
        }
    }
    let (n, e) = refused.expect("a 2 MiB disk fills up");
    assert!(matches!(e, StoreError::DiskFull { .. }), "{e:?}");
    assert!(stored.len() > 2, "only {} captures fit", stored.len());
    assert!(!tree(fs_.path())
        .iter()
        .any(|p| p.starts_with(media::TMP_PREFIX)));
    assert_eq!(
        store.stats().expect("stats").captures as usize,
        stored.len()
    );

    // Retention frees the oldest captures until the floor is met...
    let free = media::free_bytes(fs_.path()).expect("statvfs");
    let policy = RetentionPolicy {
        min_free_bytes: free + 600_000,
        ..Default::default()
    };
    let r = store.enforce_retention(&policy, T0).expect("retention");
    assert!(!r.deleted.is_empty());
    assert_eq!(r.deleted[0].0, stored[0], "oldest first");
    assert!(media::free_bytes(fs_.path()).expect("statvfs") >= policy.min_free_bytes);
    // ... and the refused capture goes in on retry.
    let src = root.path().join(format!("in{n}"));
    assert!(matches!(
        store.ingest_dir(&cam("porch"), &src, 1),
        Ok(IngestOutcome::Stored { .. })
    ));

    // A store whose floor is above the free space refuses, leaving no trace.
    drop(store);
    let free = media::free_bytes(fs_.path()).expect("statvfs");
    let strict = store_on(root.path(), fs_.path(), free);
    let before = visible(fs_.path());
    let src = root.path().join("strict");
    write_capture(&src, &cam("porch"), 500);
    assert!(matches!(
        strict.ingest_dir(&cam("porch"), &src, 1),
        Err(StoreError::DiskFull { .. })
    ));
    assert_eq!(visible(fs_.path()), before);
}
