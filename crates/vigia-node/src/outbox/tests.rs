use super::*;

fn id(n: u32) -> CaptureId {
    CaptureId::new(1_795_000_000_000 + i64::from(n), n)
}

fn cam() -> CameraId {
    "porch".parse().expect("camera id")
}

fn manifest_template() -> Manifest {
    Manifest {
        version: MANIFEST_VERSION,
        capture_id: id(0),
        camera: cam(),
        trigger_ms: 1_000,
        start_ms: 0,
        end_ms: 5_000,
        start_utc: String::new(),
        end_utc: String::new(),
        label: "motion".into(),
        scores: Scores {
            motion_max: 0.5,
            motion_mean: 0.2,
            ..Default::default()
        },
        frames: 50,
        snapshot_ms: Some(1_000),
        end_reason: "quiet".into(),
        files: vec![],
    }
}

fn write_capture(ob: &Outbox, n: u32) -> Manifest {
    let mut w = ob.begin(id(n), cam(), 1_000, 0).expect("begin");
    w.write_file(FileKind::Snapshot, b"jpeg", None)
        .expect("snapshot");
    w.write_file(FileKind::ClipInit, b"init", None)
        .expect("init");
    w.write_file(
        FileKind::ClipFragment(1),
        b"frag1",
        Some(FragmentTiming {
            start_ms: 0,
            duration_ms: 2_000,
            frames: 20,
        }),
    )
    .expect("frag");
    w.commit(manifest_template()).expect("commit")
}

fn acks(m: &Manifest) -> Vec<(String, String)> {
    m.files
        .iter()
        .map(|f| (f.name.clone(), f.sha256.clone()))
        .collect()
}

#[test]
fn committed_capture_is_pending_verified_and_removed_by_matching_ack_only() {
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, report) = Outbox::open(d.path(), 1 << 30).expect("open");
    assert_eq!(report, RecoveryReport::default());
    let m = write_capture(&ob, 1);
    assert_eq!(m.files.len(), 3);
    assert_eq!(m.files[0].name, "snapshot.jpg");
    assert_eq!(ob.pending().expect("pending").len(), 1);
    ob.verify(&id(1)).expect("intact");
    assert_eq!(ob.stats().pending_captures.load(Ordering::Relaxed), 1);
    assert!(ob.stats().bytes.load(Ordering::Relaxed) > 14);

    let mut wrong = acks(&m);
    wrong[0].1 = "00".repeat(32);
    assert!(matches!(
        ob.acknowledge(&id(1), &wrong),
        Err(OutboxError::AckMismatch { .. })
    ));
    assert!(matches!(
        ob.acknowledge(&id(1), &acks(&m)[1..]),
        Err(OutboxError::AckMismatch { .. })
    ));
    assert_eq!(ob.pending().expect("pending").len(), 1);

    ob.acknowledge(&id(1), &acks(&m)).expect("ack");
    assert!(ob.pending().expect("pending").is_empty());
    assert_eq!(ob.stats().bytes.load(Ordering::Relaxed), 0);
    assert!(matches!(
        ob.acknowledge(&id(1), &acks(&m)),
        Err(OutboxError::UnknownCapture(_))
    ));
}

#[test]
fn tampered_file_fails_verification() {
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
    write_capture(&ob, 1);
    fs::write(
        d.path().join(id(1).as_str()).join("clip-000001.m4s"),
        b"frag2",
    )
    .expect("tamper");
    assert!(matches!(
        ob.verify(&id(1)),
        Err(OutboxError::Corrupt { .. })
    ));
}

#[test]
fn recovery_completes_interrupted_event_and_removes_temp_files() {
    let d = tempfile::tempdir().expect("tempdir");
    {
        let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
        write_capture(&ob, 1);
        let mut w = ob.begin(id(2), cam(), 7_000, 4_000).expect("begin");
        w.write_file(FileKind::ClipInit, b"init", None)
            .expect("init");
        w.write_file(
            FileKind::ClipFragment(1),
            b"frag1",
            Some(FragmentTiming {
                start_ms: 4_000,
                duration_ms: 2_000,
                frames: 20,
            }),
        )
        .expect("frag");
        // The node dies here: a half-written temp fragment, no manifest.
        fs::write(w.dir().join(".clip-000002.m4s.tmp"), b"half").expect("temp");
        std::mem::forget(w);
        // And while creating a third capture.
        fs::create_dir(d.path().join(format!(".{}.tmp", id(3)))).expect("tmp dir");
        // And while deleting an acknowledged one.
        fs::create_dir(d.path().join(format!(".{}.deleting", id(0)))).expect("del dir");
    }
    let (ob, report) = Outbox::open(d.path(), 1 << 30).expect("reopen");
    assert_eq!(report.complete, 1);
    assert_eq!(report.completed_interrupted, vec![id(2)]);
    assert_eq!(report.removed_partial, 3);
    let pending = ob.pending().expect("pending");
    assert_eq!(pending.len(), 2);
    let m = ob.verify(&id(2)).expect("interrupted capture is intact");
    assert_eq!(m.end_reason, "interrupted");
    assert_eq!(m.start_ms, 4_000);
    assert_eq!(m.end_ms, 6_000);
    assert_eq!(m.frames, 20);
    assert_eq!(m.files.len(), 2);
    let names: Vec<_> = fs::read_dir(d.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn recovery_includes_files_finished_after_the_last_journal_write() {
    let d = tempfile::tempdir().expect("tempdir");
    {
        let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
        let w = ob.begin(id(5), cam(), 0, 0).expect("begin");
        // Renamed into place, but the node died before the journal update.
        durable::write_atomic(w.dir(), "snapshot.jpg", b"late").expect("write");
        std::mem::forget(w);
    }
    let (ob, report) = Outbox::open(d.path(), 1 << 30).expect("reopen");
    assert_eq!(report.completed_interrupted, vec![id(5)]);
    let m = ob.verify(&id(5)).expect("intact");
    assert_eq!(m.files.len(), 1);
    assert_eq!(m.files[0].bytes, 4);
}

#[test]
fn quota_refuses_new_files_and_keeps_pending_captures() {
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, _) = Outbox::open(d.path(), 4_096).expect("open");
    write_capture(&ob, 1);
    let mut w = ob.begin(id(2), cam(), 0, 0).expect("begin");
    let e = w
        .write_file(FileKind::ClipInit, &[0u8; 8_192], None)
        .expect_err("over quota");
    assert!(e.is_space(), "{e}");
    assert_eq!(ob.stats().space_errors.load(Ordering::Relaxed), 1);
    ob.verify(&id(1)).expect("older capture untouched");
    // Space comes back (the older capture was uploaded): writing works again.
    let m = ob.pending().expect("pending").remove(0).manifest;
    ob.acknowledge(&id(1), &acks(&m)).expect("ack");
    w.write_file(FileKind::ClipInit, &[0u8; 2_048], None)
        .expect("fits now");
}

#[test]
fn foreign_entries_are_ignored_not_deleted() {
    let d = tempfile::tempdir().expect("tempdir");
    fs::write(d.path().join("README"), b"mine").expect("write");
    fs::create_dir(d.path().join("not-a-capture")).expect("mkdir");
    let (ob, report) = Outbox::open(d.path(), 1 << 30).expect("open");
    assert_eq!(report.ignored.len(), 2);
    assert!(ob.pending().expect("pending").is_empty());
    assert!(d.path().join("README").exists());
}
