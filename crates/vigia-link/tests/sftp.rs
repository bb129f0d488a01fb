//! The confined SFTP subsystem over a real SFTP protocol session (no SSH):
//! russh-sftp's client on one end of an in-memory pipe, `ConfinedSftp` on
//! the other, real files in a temp dir. Proves uploads with resume land
//! where they should, byte for byte, and that nothing a client sends — path
//! tricks, planted symlinks, symlink requests, oversized files, forged
//! handles — touches anything outside the camera's area.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::{RawSftpSession, SftpSession};
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use vigia_link::sftp::{ConfinedSftp, SftpLimits};

struct Fixture {
    _tmp: tempfile::TempDir,
    /// Everything the test owns; the area is `root/incoming/cam1`.
    root: PathBuf,
    area: PathBuf,
    /// A folder next to `incoming`, holding a file no client may touch.
    outside: PathBuf,
}

const SECRET: &[u8] = b"not for cameras";

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let outside = root.join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret.txt"), SECRET).unwrap();
    fs::create_dir(root.join("incoming")).unwrap();
    Fixture {
        area: root.join("incoming").join("cam1"),
        root,
        outside,
        _tmp: tmp,
    }
}

async fn pipe(area: &Path, limits: SftpLimits) -> tokio::io::DuplexStream {
    let (client, server) = tokio::io::duplex(1 << 20);
    // Spawns the session task and returns at once.
    russh_sftp::server::run(server, ConfinedSftp::new(area.to_path_buf(), limits)).await;
    client
}

async fn session(area: &Path, limits: SftpLimits) -> SftpSession {
    SftpSession::new(pipe(area, limits).await).await.unwrap()
}

async fn raw_session(area: &Path, limits: SftpLimits) -> RawSftpSession {
    let raw = RawSftpSession::new(pipe(area, limits).await);
    raw.init().await.unwrap();
    raw
}

/// Create (or truncate) a file and write `data`, closing it.
async fn put(sftp: &SftpSession, path: &str, data: &[u8]) -> Result<(), SftpError> {
    let mut file = sftp.create(path).await?;
    file.write_all(data).await?;
    file.shutdown().await?;
    Ok(())
}

/// The status code of a refused request; panics if it succeeded.
fn code<T>(result: Result<T, SftpError>) -> StatusCode {
    match result {
        Ok(_) => panic!("request succeeded; a refusal was expected"),
        Err(SftpError::Status(s)) => s.status_code,
        Err(e) => panic!("expected a status error, got {e}"),
    }
}

/// Every path under `dir` (symlinks not followed) with its kind and size.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (String, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let md = fs::symlink_metadata(entry.path()).unwrap();
            let kind = if md.file_type().is_symlink() {
                format!("link->{}", fs::read_link(entry.path()).unwrap().display())
            } else if md.is_dir() {
                stack.push(entry.path());
                "dir".to_owned()
            } else {
                "file".to_owned()
            };
            out.insert(entry.path(), (kind, md.len()));
        }
    }
    out
}

/// The tree outside the area.
fn tree_outside_area(f: &Fixture) -> BTreeMap<PathBuf, (String, u64)> {
    tree(&f.root)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&f.area))
        .collect()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn upload_into_a_capture_folder_then_stat_list_and_read_back() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    assert!(f.area.is_dir(), "init creates the area");
    assert_eq!(sftp.canonicalize(".").await.unwrap(), "/");
    assert_eq!(sftp.canonicalize("cap1/..").await.unwrap(), "/");

    sftp.create_dir("/cap1").await.unwrap();
    let data = pattern(700 * 1024);
    let mut file = sftp.create("/cap1/clip-0001.mp4").await.unwrap();
    file.write_all(&data).await.unwrap();
    file.shutdown().await.unwrap();

    assert_eq!(
        fs::read(f.area.join("cap1/clip-0001.mp4")).unwrap(),
        data,
        "bytes on disk"
    );
    let md = sftp.metadata("/cap1/clip-0001.mp4").await.unwrap();
    assert_eq!(md.size, Some(data.len() as u64));
    assert!(md.is_regular());
    assert!(sftp.metadata("cap1").await.unwrap().is_dir());
    assert!(sftp.metadata("/").await.unwrap().is_dir());

    let names: Vec<String> = sftp
        .read_dir("/cap1")
        .await
        .unwrap()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec!["clip-0001.mp4".to_owned()]);
    let root: Vec<(String, bool)> = sftp
        .read_dir("/")
        .await
        .unwrap()
        .map(|e| (e.file_name(), e.file_type().is_dir()))
        .collect();
    assert_eq!(root, vec![("cap1".to_owned(), true)]);

    assert_eq!(sftp.read("/cap1/clip-0001.mp4").await.unwrap(), data);

    // `scp file host:` sends `./name`: it lands at the root of the area.
    put(&sftp, "./snapshot.jpg", b"jpeg").await.unwrap();
    assert_eq!(fs::read(f.area.join("snapshot.jpg")).unwrap(), b"jpeg");
    // A trailing slash names a folder, never a file to create (`scp f
    // host:missing/` must fail, not make a file called `missing`).
    assert_eq!(code(sftp.create("/missing/").await), StatusCode::Failure);
    assert!(!f.area.join("missing").exists());
    assert_eq!(
        code(sftp.metadata("/snapshot.jpg/").await),
        StatusCode::NoSuchFile
    );
    assert!(sftp.metadata("/cap1/").await.unwrap().is_dir());
}

#[tokio::test]
async fn resume_appends_the_second_half_at_the_current_size() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    sftp.create_dir("cap").await.unwrap();
    let data = pattern(600 * 1024 + 17);
    let (first, second) = data.split_at(250 * 1024 + 3);

    let mut file = sftp
        .open_with_flags("/cap/clip.mp4", OpenFlags::WRITE | OpenFlags::CREATE)
        .await
        .unwrap();
    file.write_all(first).await.unwrap();
    file.shutdown().await.unwrap();

    // The node reconnects, asks the size, continues from there.
    let size = sftp.metadata("/cap/clip.mp4").await.unwrap().size.unwrap();
    assert_eq!(size, first.len() as u64);
    let mut file = sftp
        .open_with_flags("/cap/clip.mp4", OpenFlags::WRITE)
        .await
        .unwrap();
    file.seek(std::io::SeekFrom::Start(size)).await.unwrap();
    file.write_all(second).await.unwrap();
    file.shutdown().await.unwrap();

    assert_eq!(fs::read(f.area.join("cap/clip.mp4")).unwrap(), data);

    // APPEND is honoured too (what `reput`-style clients may send).
    let mut file = sftp
        .open_with_flags("/cap/clip.mp4", OpenFlags::WRITE | OpenFlags::APPEND)
        .await
        .unwrap();
    file.write_all(b"tail").await.unwrap();
    file.shutdown().await.unwrap();
    let on_disk = fs::read(f.area.join("cap/clip.mp4")).unwrap();
    assert_eq!(on_disk.len(), data.len() + 4);
    assert!(on_disk.ends_with(b"tail"));
}

#[tokio::test]
async fn traversal_is_refused_and_nothing_is_created_outside() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    sftp.create_dir("/cap1").await.unwrap();
    put(&sftp, "/cap1/f", b"x").await.unwrap();
    let before = tree_outside_area(&f);

    let long = "a".repeat(256);
    let bad_files = [
        "../evil".to_owned(),
        "/../evil".to_owned(),
        "/cap1/../../evil".to_owned(),
        "/cap1/../../outside/secret.txt".to_owned(),
        "../outside/secret.txt".to_owned(),
        "cap1/./evil".to_owned(),
        "//evil".to_owned(),
        "/.evil".to_owned(),
        "/cap1/ev\0il".to_owned(),
        "/cap1/ev\nil".to_owned(),
        format!("/cap1/{long}"),
        "/cap1/sub/deep".to_owned(),
    ];
    for p in &bad_files {
        assert_eq!(
            code(sftp.create(p.as_str()).await),
            StatusCode::PermissionDenied,
            "create {p:?}"
        );
        assert_eq!(
            code(sftp.metadata(p.as_str()).await),
            StatusCode::PermissionDenied,
            "stat {p:?}"
        );
        assert_eq!(
            code(sftp.remove_file(p.as_str()).await),
            StatusCode::PermissionDenied,
            "remove {p:?}"
        );
    }
    for p in ["../x", "/..", "/cap1/sub", "/.x", "a//b"] {
        assert_eq!(
            code(sftp.create_dir(p).await),
            StatusCode::PermissionDenied,
            "mkdir {p:?}"
        );
    }
    for p in ["..", "/../outside", "/cap1/../.."] {
        assert_eq!(
            code(sftp.read_dir(p).await),
            StatusCode::PermissionDenied,
            "opendir {p:?}"
        );
    }
    assert_eq!(
        code(sftp.rename("/cap1/f", "../stolen").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.rename("../outside/secret.txt", "/cap1/g").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.remove_dir("/").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.remove_dir("../outside").await),
        StatusCode::PermissionDenied
    );

    assert_eq!(tree_outside_area(&f), before);
    assert_eq!(fs::read(f.outside.join("secret.txt")).unwrap(), SECRET);
    assert!(
        f.area.join("cap1/f").exists(),
        "the legitimate file survives"
    );
}

#[tokio::test]
async fn planted_symlinks_are_never_followed() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    sftp.create_dir("/cap1").await.unwrap();
    // Someone with access to the server's disk plants links in the area.
    symlink(&f.outside, f.area.join("linkdir")).unwrap();
    symlink(f.outside.join("secret.txt"), f.area.join("cap1/link.mp4")).unwrap();
    symlink(f.outside.join("new.txt"), f.area.join("cap1/dangling")).unwrap();
    let before = tree_outside_area(&f);

    // A folder that is a link: nothing inside it is reachable.
    assert_eq!(
        code(sftp.create("/linkdir/x").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.create("/linkdir/secret.txt").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.read("/linkdir/secret.txt").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.remove_file("/linkdir/secret.txt").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.read_dir("/linkdir").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.metadata("/linkdir").await),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.rename("/cap1/link.mp4", "/linkdir/moved").await),
        StatusCode::PermissionDenied
    );

    // A file that is a link: no open through it, whatever the flags.
    for flags in [
        OpenFlags::WRITE,
        OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        OpenFlags::WRITE | OpenFlags::APPEND,
        OpenFlags::READ,
    ] {
        assert_eq!(
            code(sftp.open_with_flags("/cap1/link.mp4", flags).await),
            StatusCode::PermissionDenied,
            "{flags:?}"
        );
    }
    // A dangling link must not create its target.
    assert_eq!(
        code(
            sftp.open_with_flags("/cap1/dangling", OpenFlags::WRITE | OpenFlags::CREATE)
                .await
        ),
        StatusCode::PermissionDenied
    );
    assert_eq!(
        code(sftp.metadata("/cap1/link.mp4").await),
        StatusCode::PermissionDenied
    );
    // lstat shows the link for what it is.
    assert!(sftp
        .symlink_metadata("/cap1/link.mp4")
        .await
        .unwrap()
        .is_symlink());

    assert_eq!(tree_outside_area(&f), before);
    assert_eq!(fs::read(f.outside.join("secret.txt")).unwrap(), SECRET);
    assert!(!f.outside.join("new.txt").exists());
}

#[tokio::test]
async fn symlink_requests_are_refused() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    let secret = f.outside.join("secret.txt");
    assert_eq!(
        code(sftp.symlink("/escape", secret.to_str().unwrap()).await),
        StatusCode::PermissionDenied
    );
    assert!(fs::symlink_metadata(f.area.join("escape")).is_err());
    symlink(&secret, f.area.join("planted")).unwrap();
    assert_eq!(
        code(sftp.read_link("/planted").await),
        StatusCode::PermissionDenied
    );
}

#[tokio::test]
async fn writes_beyond_the_file_size_limit_are_refused() {
    let f = fixture();
    let limits = SftpLimits {
        max_file_bytes: 1000,
        ..SftpLimits::default()
    };
    let raw = raw_session(&f.area, limits).await;
    let h = raw
        .open(
            "/big",
            OpenFlags::WRITE | OpenFlags::CREATE,
            FileAttributes::empty(),
        )
        .await
        .unwrap()
        .handle;
    raw.write(h.as_str(), 0, vec![1; 600]).await.unwrap();
    raw.write(h.as_str(), 600, vec![2; 400]).await.unwrap();
    let refused = raw.write(h.as_str(), 1000, vec![3; 1]).await;
    let Err(SftpError::Status(status)) = refused else {
        panic!("write past the limit accepted");
    };
    assert_eq!(status.status_code, StatusCode::Failure);
    assert!(status.error_message.contains("1000"), "{status:?}");
    assert_eq!(
        code(raw.write(h.as_str(), u64::MAX - 2, vec![0; 8]).await),
        StatusCode::Failure,
        "offset overflow"
    );
    // The handle had a refused write: closing it must not report success.
    assert_eq!(code(raw.close(h.as_str()).await), StatusCode::Failure);
    assert_eq!(fs::metadata(f.area.join("big")).unwrap().len(), 1000);
}

#[tokio::test]
async fn handles_are_limited_and_cannot_be_forged() {
    let f = fixture();
    let limits = SftpLimits {
        max_open_handles: 2,
        ..SftpLimits::default()
    };
    let raw = raw_session(&f.area, limits).await;
    let flags = OpenFlags::WRITE | OpenFlags::CREATE;
    let a = raw
        .open("/a", flags, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    let _b = raw.opendir("/").await.unwrap().handle;
    assert_eq!(
        code(raw.open("/c", flags, FileAttributes::empty()).await),
        StatusCode::Failure
    );
    assert!(!f.area.join("c").exists());
    assert!(!a.contains('/'), "handle {a:?} names no path");

    for forged in ["/a", "a", "1", "1.0000000000000000", ""] {
        assert_eq!(
            code(raw.write(forged, 0, b"x".to_vec()).await),
            StatusCode::Failure,
            "{forged:?}"
        );
        assert_eq!(code(raw.close(forged).await), StatusCode::Failure);
    }
    raw.close(a.as_str()).await.unwrap();
    raw.open("/c", flags, FileAttributes::empty())
        .await
        .unwrap();
}

#[tokio::test]
async fn open_flags_are_honoured() {
    let f = fixture();
    let raw = raw_session(&f.area, SftpLimits::default()).await;
    fs::write(f.area.join("exists"), b"old content").unwrap();
    let open = |path: &'static str, flags| raw.open(path, flags, FileAttributes::empty());

    let excl = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
    assert_eq!(code(open("/exists", excl).await), StatusCode::Failure);
    assert_eq!(
        code(open("/missing", OpenFlags::WRITE).await),
        StatusCode::NoSuchFile
    );
    assert!(!f.area.join("missing").exists());
    assert_eq!(
        code(open("/x", OpenFlags::READ | OpenFlags::CREATE).await),
        StatusCode::Failure,
        "create without write"
    );

    let ro = open("/exists", OpenFlags::READ).await.unwrap().handle;
    assert_eq!(
        code(raw.write(ro.as_str(), 0, b"x".to_vec()).await),
        StatusCode::PermissionDenied
    );
    let data = raw.read(ro.as_str(), 0, 4).await.unwrap().data;
    assert_eq!(data, b"old ");
    assert_eq!(code(raw.read(ro.as_str(), 100, 4).await), StatusCode::Eof);
    raw.close(ro.as_str()).await.unwrap();

    let t = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let h = open("/exists", t).await.unwrap().handle;
    raw.write(h.as_str(), 0, b"new".to_vec()).await.unwrap();
    // fsync@openssh.com is advertised and works on an open handle.
    raw.fsync(h.as_str()).await.unwrap();
    raw.close(h.as_str()).await.unwrap();
    assert_eq!(fs::read(f.area.join("exists")).unwrap(), b"new");

    // Opening a folder as a file is refused.
    fs::create_dir(f.area.join("cap")).unwrap();
    assert_eq!(
        code(open("/cap", OpenFlags::READ).await),
        StatusCode::Failure
    );
    assert_eq!(code(open("/", OpenFlags::READ).await), StatusCode::Failure);
}

#[tokio::test]
async fn remove_and_rmdir() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    sftp.create_dir("/cap").await.unwrap();
    put(&sftp, "/cap/f", b"x").await.unwrap();

    assert_eq!(code(sftp.remove_file("/cap").await), StatusCode::Failure);
    assert_eq!(code(sftp.remove_dir("/cap").await), StatusCode::Failure);
    assert_eq!(
        code(sftp.remove_dir("/cap/f").await),
        StatusCode::NoSuchFile
    );
    assert_eq!(
        code(sftp.remove_file("/cap/none").await),
        StatusCode::NoSuchFile
    );
    sftp.remove_file("/cap/f").await.unwrap();
    assert!(!f.area.join("cap/f").exists());
    sftp.remove_dir("/cap").await.unwrap();
    assert!(!f.area.join("cap").exists());
    assert_eq!(code(sftp.create_dir("/").await), StatusCode::Failure);
}

#[tokio::test]
async fn rename_within_the_area() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    let raw = raw_session(&f.area, SftpLimits::default()).await;
    sftp.create_dir("/cap").await.unwrap();
    sftp.create_dir("/other").await.unwrap();
    put(&sftp, "/cap/clip.part", b"clip").await.unwrap();
    put(&sftp, "/cap/taken", b"keep me").await.unwrap();

    sftp.rename("/cap/clip.part", "/cap/clip.mp4")
        .await
        .unwrap();
    assert_eq!(fs::read(f.area.join("cap/clip.mp4")).unwrap(), b"clip");
    assert!(!f.area.join("cap/clip.part").exists());

    // Plain rename never replaces.
    assert_eq!(
        code(sftp.rename("/cap/clip.mp4", "/cap/taken").await),
        StatusCode::Failure
    );
    assert_eq!(fs::read(f.area.join("cap/taken")).unwrap(), b"keep me");
    assert_eq!(
        code(sftp.rename("/cap/none", "/cap/x").await),
        StatusCode::NoSuchFile
    );
    assert_eq!(
        code(sftp.rename("/cap/taken", "/cap/x/").await),
        StatusCode::NoSuchFile,
        "a trailing slash names a folder"
    );

    // Across folders, and a folder at the top level.
    sftp.rename("/cap/clip.mp4", "/other/clip.mp4")
        .await
        .unwrap();
    sftp.rename("/other", "/renamed").await.unwrap();
    assert_eq!(fs::read(f.area.join("renamed/clip.mp4")).unwrap(), b"clip");
    // A folder cannot go one level down: its files would be too deep.
    assert_eq!(
        code(sftp.rename("/renamed", "/cap/renamed").await),
        StatusCode::PermissionDenied
    );

    // posix-rename@openssh.com replaces the target atomically.
    let mut payload = Vec::new();
    for s in ["/renamed/clip.mp4", "/cap/taken"] {
        payload.extend_from_slice(&(s.len() as u32).to_be_bytes());
        payload.extend_from_slice(s.as_bytes());
    }
    match raw
        .extended("posix-rename@openssh.com", payload)
        .await
        .unwrap()
    {
        Packet::Status(s) => assert_eq!(s.status_code, StatusCode::Ok, "{s:?}"),
        other => panic!("unexpected reply {other:?}"),
    }
    assert_eq!(fs::read(f.area.join("cap/taken")).unwrap(), b"clip");
    assert!(!f.area.join("renamed/clip.mp4").exists());

    // Extensions we do not advertise are refused, not half-done.
    match raw.extended("hardlink@openssh.com", Vec::new()).await {
        Ok(Packet::Status(s)) => assert_eq!(s.status_code, StatusCode::OpUnsupported),
        other => panic!("unexpected reply {other:?}"),
    }
}

#[tokio::test]
async fn setstat_changes_nothing_but_is_accepted() {
    let f = fixture();
    let sftp = session(&f.area, SftpLimits::default()).await;
    put(&sftp, "/f", b"data").await.unwrap();
    let mode_before = fs::metadata(f.area.join("f")).unwrap().permissions();
    let attrs = FileAttributes {
        permissions: Some(0o777),
        uid: Some(0),
        gid: Some(0),
        mtime: Some(1),
        atime: Some(1),
        ..FileAttributes::empty()
    };
    sftp.set_metadata("/f", attrs).await.unwrap();
    assert_eq!(
        fs::metadata(f.area.join("f")).unwrap().permissions(),
        mode_before
    );
    let truncate = FileAttributes {
        size: Some(0),
        ..FileAttributes::empty()
    };
    assert_eq!(
        code(sftp.set_metadata("/f", truncate).await),
        StatusCode::OpUnsupported
    );
    assert_eq!(fs::read(f.area.join("f")).unwrap(), b"data");
    assert_eq!(
        code(sftp.set_metadata("/missing", FileAttributes::empty()).await),
        StatusCode::NoSuchFile
    );
}

#[tokio::test]
async fn fsetstat_sets_the_size_as_scp_expects() {
    let f = fixture();
    let limits = SftpLimits {
        max_file_bytes: 100,
        ..SftpLimits::default()
    };
    let raw = raw_session(&f.area, limits).await;
    // scp (SFTP mode) opens without TRUNCATE, writes, then sets the size.
    fs::write(f.area.join("f"), [7u8; 50]).unwrap();
    let h = raw
        .open(
            "/f",
            OpenFlags::WRITE | OpenFlags::CREATE,
            FileAttributes::empty(),
        )
        .await
        .unwrap()
        .handle;
    raw.write(h.as_str(), 0, b"short".to_vec()).await.unwrap();
    let size = |n| FileAttributes {
        size: Some(n),
        ..FileAttributes::empty()
    };
    raw.fsetstat(h.as_str(), size(5)).await.unwrap();
    raw.close(h.as_str()).await.unwrap();
    assert_eq!(fs::read(f.area.join("f")).unwrap(), b"short");

    let h = raw
        .open("/f", OpenFlags::WRITE, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    assert_eq!(
        code(raw.fsetstat(h.as_str(), size(101)).await),
        StatusCode::Failure
    );
    assert_eq!(code(raw.close(h.as_str()).await), StatusCode::Failure);
    assert_eq!(fs::metadata(f.area.join("f")).unwrap().len(), 5);

    let ro = raw
        .open("/f", OpenFlags::READ, FileAttributes::empty())
        .await
        .unwrap()
        .handle;
    assert_eq!(
        code(raw.fsetstat(ro.as_str(), size(0)).await),
        StatusCode::PermissionDenied
    );
    assert_eq!(fs::metadata(f.area.join("f")).unwrap().len(), 5);
}
