//! Ingest, query, deletion, recovery and retention tests on real capture
//! folders (see `testutil`). Crash and disk-full tests are in
//! `crash_tests.rs`.

use std::fs;

use vigia_base::CaptureId;

use crate::testutil::{
    self, cam, capture_id, media, tree, write_capture, write_manifest, TestStore,
};
use crate::*;

fn ingest_n(t: &TestStore, camera: &str, n: u32) -> IngestOutcome {
    let src = t.incoming(&format!("{camera}-{n}"));
    write_capture(&src, &cam(camera), n);
    t.store.ingest_dir(&cam(camera), &src, 1).expect("ingest")
}

fn media_tree(t: &TestStore) -> Vec<String> {
    tree(&t.cfg.media_dir)
        .into_iter()
        .filter(|p| p != media::LOCK_NAME)
        .collect()
}

#[test]
fn ingest_stores_row_files_thumbnail_and_concatenated_clip() {
    let t = TestStore::new();
    let src = t.incoming("a");
    let m = write_capture(&src, &cam("porch"), 1);
    let out = t.store.ingest_dir(&cam("porch"), &src, 42).expect("ingest");
    let IngestOutcome::Stored { id, bytes } = out else {
        panic!("{out:?}")
    };
    assert_eq!(id, m.capture_id);

    let day = media::day_of(&id);
    let dir = format!("porch/{day}/{id}");
    assert_eq!(
        media_tree(&t),
        ["clip.mp4", "manifest.json", "snapshot.jpg", "thumb.jpg"]
            .map(|f| format!("{dir}/{f}"))
            .to_vec()
    );
    let md = media();
    let mut want_clip = md.init.clone();
    for f in &md.fragments {
        want_clip.extend_from_slice(&f.0);
    }
    let clip_path = t
        .store
        .media_path(&id, MediaKind::Clip)
        .expect("path")
        .expect("clip");
    assert_eq!(fs::read(&clip_path).expect("clip"), want_clip);
    let snap = t
        .store
        .media_path(&id, MediaKind::Snapshot)
        .expect("p")
        .expect("snap");
    assert_eq!(fs::read(snap).expect("snap"), md.snapshot);
    let thumb = fs::read(
        t.store
            .media_path(&id, MediaKind::Thumbnail)
            .expect("p")
            .expect("thumb"),
    )
    .expect("thumb");
    assert_eq!(
        vigia_media::jpeg_dimensions(&thumb).expect("jpeg"),
        (320, 240)
    );
    assert_eq!(
        fs::read(t.cfg.media_dir.join(&dir).join("manifest.json")).expect("manifest"),
        fs::read(src.join("manifest.json")).expect("src manifest")
    );
    let on_disk: u64 = media_tree(&t)
        .iter()
        .map(|p| fs::metadata(t.cfg.media_dir.join(p)).expect("meta").len())
        .sum();
    assert_eq!(bytes, on_disk);

    let d = t.store.get_capture(&id).expect("get").expect("row");
    assert_eq!(d.manifest, m);
    assert_eq!(d.clip_bytes, Some(want_clip.len() as u64));
    assert_eq!(d.summary.camera, cam("porch"));
    assert_eq!(
        (d.summary.start_ms, d.summary.end_ms),
        (m.start_ms, m.end_ms)
    );
    assert_eq!(d.summary.label, "person");
    assert!(d.summary.has_clip);
    assert_eq!(d.summary.bytes, bytes);
    let s = t.store.stats().expect("stats");
    assert_eq!((s.captures, s.bytes, s.ingest_errors), (1, bytes, 0));
    assert_eq!(
        t.store.camera_ids().expect("camera ids"),
        vec![cam("porch")]
    );
    let cams = t.store.cameras().expect("cameras");
    assert_eq!(
        cams,
        vec![CameraInfo {
            id: cam("porch"),
            captures: 1,
            bytes,
            last_capture_ms: Some(m.start_ms)
        }]
    );
    assert!(t
        .store
        .media_path(&capture_id(99), MediaKind::Clip)
        .expect("p")
        .is_none());
}

#[test]
fn reingest_is_idempotent_and_conflicts_are_refused() {
    let t = TestStore::new();
    let src = t.incoming("a");
    let mut m = write_capture(&src, &cam("porch"), 1);
    assert!(matches!(
        t.store.ingest_dir(&cam("porch"), &src, 1),
        Ok(IngestOutcome::Stored { .. })
    ));
    let before = media_tree(&t);
    assert_eq!(
        t.store.ingest_dir(&cam("porch"), &src, 2).expect("again"),
        IngestOutcome::AlreadyStored {
            id: m.capture_id.clone()
        }
    );
    m.label = "animal".into();
    write_manifest(&src, &m);
    assert!(matches!(
        t.store.ingest_dir(&cam("porch"), &src, 3),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(media_tree(&t), before, "evidence untouched");
    let d = t
        .store
        .get_capture(&m.capture_id)
        .expect("get")
        .expect("row");
    assert_eq!(d.summary.label, "person");
    assert_eq!(t.store.stats().expect("stats").ingest_errors, 1);
}

/// Each case breaks one thing in an otherwise valid folder; none may leave
/// anything in the media tree or the database.
#[test]
fn invalid_folders_are_rejected_and_nothing_is_stored() {
    let t = TestStore::new();
    type Breaker = fn(&std::path::Path, &mut vigia_base::manifest::Manifest);
    let cases: Vec<(&str, Breaker)> = vec![
        ("tampered byte", |d, _| {
            let p = d.join("clip-000001.m4s");
            let mut b = fs::read(&p).expect("read");
            let i = b.len() / 2;
            b[i] ^= 1;
            fs::write(p, b).expect("write");
        }),
        ("wrong size", |_, m| m.files[0].bytes += 1),
        ("wrong sha", |_, m| m.files[1].sha256 = "0".repeat(64)),
        ("extra file", |d, _| {
            fs::write(d.join("notes.txt"), b"x").expect("write")
        }),
        ("unlisted fragment", |d, _| {
            fs::write(d.join("clip-000099.m4s"), b"x").expect("write")
        }),
        ("missing file", |d, _| {
            fs::remove_file(d.join("snapshot.jpg")).expect("rm")
        }),
        ("dot-dot name", |_, m| m.files[0].name = "../x".into()),
        ("traversal name", |_, m| {
            m.files[1].name = "clip-init.mp4/../../etc".into()
        }),
        ("absolute name", |_, m| {
            m.files[1].name = "/etc/passwd".into()
        }),
        ("duplicate entry", |_, m| m.files.push(m.files[0].clone())),
        ("kind mismatch", |_, m| m.files[0].kind = "clip_init".into()),
        ("bad label", |_, m| m.label = "cat".into()),
        ("end before start", |_, m| m.end_ms = m.start_ms - 1),
        ("id not start", |_, m| m.start_ms += 1_000),
        ("other camera", |_, m| m.camera = cam("garage")),
        ("symlinked file", |d, _| {
            let p = d.join("snapshot.jpg");
            let real = d.with_extension("real");
            fs::rename(&p, &real).expect("mv");
            std::os::unix::fs::symlink(&real, &p).expect("symlink");
        }),
        ("subdirectory", |d, _| {
            fs::create_dir(d.join("clip-000009.m4s")).expect("mkdir")
        }),
        ("manifest version", |_, m| m.version = 7),
    ];
    for (i, (what, breaker)) in cases.into_iter().enumerate() {
        let src = t.incoming(&format!("bad-{i}"));
        let mut m = write_capture(&src, &cam("porch"), i as u32);
        breaker(&src, &mut m);
        write_manifest(&src, &m);
        let r = t.store.ingest_dir(&cam("porch"), &src, 1);
        assert!(
            matches!(
                r,
                Err(StoreError::InvalidCapture { .. } | StoreError::CameraMismatch { .. })
            ),
            "{what}: {r:?}"
        );
        assert!(media_tree(&t).is_empty(), "{what}: {:?}", media_tree(&t));
        assert_eq!(t.store.stats().expect("stats").captures, 0, "{what}");
    }
    let r = t
        .store
        .ingest_dir(&cam("porch"), &t.incoming("nonexistent"), 1);
    assert!(matches!(r, Err(StoreError::Io { .. })), "{r:?}");
}

#[test]
fn journal_is_ignored_and_captures_without_clip_are_stored() {
    let t = TestStore::new();
    let src = t.incoming("a");
    let mut m = write_capture(&src, &cam("porch"), 1);
    fs::write(src.join("event.json"), b"{}").expect("journal");
    for f in m.files.split_off(1) {
        fs::remove_file(src.join(&f.name)).expect("rm");
    }
    write_manifest(&src, &m);
    t.store.ingest_dir(&cam("porch"), &src, 1).expect("ingest");
    let d = t
        .store
        .get_capture(&m.capture_id)
        .expect("get")
        .expect("row");
    assert!(!d.summary.has_clip);
    assert_eq!(d.clip_bytes, None);
    assert!(t
        .store
        .media_path(&m.capture_id, MediaKind::Clip)
        .expect("p")
        .is_none());
    assert!(t
        .store
        .media_path(&m.capture_id, MediaKind::Thumbnail)
        .expect("p")
        .is_some());
}

#[test]
fn delete_goes_through_garbage_and_removes_files() {
    let t = TestStore::new();
    let id = ingest_n(&t, "porch", 1).id().clone();
    ingest_n(&t, "porch", 2);
    assert!(t.store.delete_capture(&id).expect("delete"));
    assert!(!t.store.delete_capture(&id).expect("delete again"));
    assert!(t.store.get_capture(&id).expect("get").is_none());
    assert!(!media_tree(&t).iter().any(|p| p.contains(id.as_str())));
    let garbage: i64 = t
        .store
        .db()
        .query_row("select count(*) from garbage", [], |r| r.get(0))
        .expect("count");
    assert_eq!(garbage, 0);
    assert_eq!(t.store.stats().expect("stats").captures, 1);
}

#[test]
fn reopen_repairs_temp_dirs_orphans_rows_without_files_and_garbage() {
    let t = TestStore::new();
    let kept = ingest_n(&t, "porch", 1).id().clone();
    let orphan_complete = ingest_n(&t, "porch", 2).id().clone();
    let orphan_broken = ingest_n(&t, "porch", 3).id().clone();
    let row_only = ingest_n(&t, "porch", 4).id().clone();
    let half_deleted = ingest_n(&t, "garage", 5).id().clone();
    let media_dir = t.cfg.media_dir.clone();
    let dir_of = |c: &str, id: &CaptureId| media::capture_dir(&media_dir, &cam(c), id);

    // Crash after rename, before insert (twice; one directory also lost a file).
    t.store
        .db()
        .execute(
            "delete from capture where id in (?1, ?2)",
            [orphan_complete.as_str(), orphan_broken.as_str()],
        )
        .expect("forget");
    fs::remove_file(dir_of("porch", &orphan_broken).join("clip.mp4")).expect("break");
    // Files lost behind a row.
    fs::remove_dir_all(dir_of("porch", &row_only)).expect("lose files");
    // Crash during deletion: marked as garbage, files half unlinked.
    t.store
        .db()
        .execute_batch(&format!(
            "insert into garbage (capture_id, camera_id, day, marked_ms) values ('{half_deleted}', 'garage', '{}', 0);
             delete from capture where id = '{half_deleted}';",
            media::day_of(&half_deleted)
        ))
        .expect("mark");
    fs::remove_file(dir_of("garage", &half_deleted).join("snapshot.jpg")).expect("half");
    // Crash mid-build.
    let tmp = media::tmp_dir(&media_dir, &capture_id(6));
    fs::create_dir_all(&tmp).expect("tmp");
    fs::write(tmp.join("snapshot.jpg"), b"partial").expect("partial");
    // Something vigia did not make stays.
    fs::write(media_dir.join("README"), b"operator notes").expect("readme");

    let (t, report) = t.reopen();
    assert_eq!(report.garbage_collected, 1);
    assert_eq!(report.reindexed, vec![orphan_complete.clone()]);
    assert_eq!(report.rows_without_files_removed, vec![row_only.clone()]);
    let mut orphans = report.orphan_files_removed.clone();
    orphans.sort();
    let mut want = vec![tmp, dir_of("porch", &orphan_broken)];
    want.sort();
    assert_eq!(orphans, want);

    let ids: Vec<_> = t
        .store
        .list_captures(&CaptureQuery {
            limit: 10,
            ..Default::default()
        })
        .expect("list")
        .items
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![orphan_complete.clone(), kept.clone()]);
    assert!(media_dir.join("README").exists());
    assert!(!dir_of("garage", &half_deleted).exists());
    let d = t
        .store
        .get_capture(&orphan_complete)
        .expect("get")
        .expect("row");
    assert!(d.summary.has_clip);
    assert!(t
        .store
        .media_path(&orphan_complete, MediaKind::Thumbnail)
        .expect("p")
        .is_some());

    let (_t, again) = t.reopen();
    assert!(again.is_empty(), "second start is clean: {again:?}");
}

#[test]
fn a_second_process_does_not_reconcile() {
    let t = TestStore::new();
    let tmp = media::tmp_dir(&t.cfg.media_dir, &capture_id(1));
    fs::create_dir_all(&tmp).expect("in-flight ingest of the owner");
    let (second, report) = Store::open(t.cfg.clone()).expect("second open");
    assert!(!second.owns_media_tree());
    assert!(report.is_empty());
    assert!(tmp.exists());
    second
        .add_user("ana", "correct horse", Role::Admin)
        .expect("CLI writes while the server runs");
    assert_eq!(t.store.list_users().expect("list").len(), 1);
}

#[test]
fn keyset_pagination_over_1000_rows_with_filters() {
    let t = TestStore::new();
    let caps: Vec<FakeCapture> = (0..1000u32)
        .map(|i| FakeCapture {
            camera: cam(if i % 3 == 0 { "porch" } else { "garage" }),
            // Ten per hour, so the set spans several days.
            start_ms: testutil::T0 + i64::from(i) * 360_000,
            nonce: i,
            label: ["person", "animal", "motion"][(i % 7 % 3) as usize].into(),
            bytes: 1000,
        })
        .collect();
    let ids = t
        .store
        .insert_fake_captures_for_bench(&caps)
        .expect("insert");

    let walk = |q: CaptureQuery| -> Vec<CaptureId> {
        let mut out = Vec::new();
        let mut q = q;
        loop {
            let page = t.store.list_captures(&q).expect("page");
            assert!(page.items.len() <= q.limit as usize);
            out.extend(page.items.into_iter().map(|s| s.id));
            match page.next_before {
                Some(b) => q.before = Some(b),
                None => return out,
            }
        }
    };
    let mut all_desc = ids.clone();
    all_desc.reverse();
    assert_eq!(
        walk(CaptureQuery {
            limit: 37,
            ..Default::default()
        }),
        all_desc
    );
    assert_eq!(
        walk(CaptureQuery {
            limit: 1000,
            ..Default::default()
        }),
        all_desc
    );

    let want: Vec<_> = caps
        .iter()
        .zip(&ids)
        .rev()
        .filter(|(c, _)| c.camera == cam("porch") && c.label == "animal")
        .map(|(_, id)| id.clone())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        walk(CaptureQuery {
            camera: Some(cam("porch")),
            label: Some("animal".into()),
            limit: 10,
            ..Default::default()
        }),
        want
    );

    let days = t.store.capture_days(None, None).expect("days");
    assert_eq!(days.iter().map(|d| d.count).sum::<u64>(), 1000);
    assert!(days.windows(2).all(|w| w[0].day > w[1].day), "newest first");
    let day = &days[1];
    let in_day = walk(CaptureQuery {
        day: Some(day.day.clone()),
        limit: 50,
        ..Default::default()
    });
    assert_eq!(in_day.len() as u64, day.count);
    assert!(in_day.iter().all(|id| media::day_of(id) == day.day));
    let porch_days = t
        .store
        .capture_days(Some(&cam("porch")), Some("person"))
        .expect("days");
    let porch_person = caps
        .iter()
        .filter(|c| c.camera == cam("porch") && c.label == "person")
        .count() as u64;
    assert_eq!(
        porch_days.iter().map(|d| d.count).sum::<u64>(),
        porch_person
    );
    assert!(matches!(
        t.store.list_captures(&CaptureQuery {
            day: Some("2026-1-1".into()),
            limit: 1,
            ..Default::default()
        }),
        Err(StoreError::InvalidQuery { .. })
    ));
    let empty = t
        .store
        .list_captures(&CaptureQuery {
            label: Some("unicorn".into()),
            limit: 5,
            ..Default::default()
        })
        .expect("page");
    assert!(empty.items.is_empty() && empty.next_before.is_none());
}

/// Every page query walks an index in id order; none sorts in a temp
/// B-tree. Checked at 100 000 rows, with timing as a sanity bound.
#[test]
fn query_plans_use_indices_at_100k_captures() {
    let t = TestStore::new();
    let caps: Vec<FakeCapture> = (0..100_000u32)
        .map(|i| FakeCapture {
            camera: cam(["porch", "garage", "yard", "door"][(i % 4) as usize]),
            start_ms: testutil::T0 + i64::from(i) * 30_000,
            nonce: i,
            label: ["person", "animal", "motion"][(i % 3) as usize].into(),
            bytes: 1000,
        })
        .collect();
    t.store
        .insert_fake_captures_for_bench(&caps)
        .expect("insert");
    t.store.db().execute_batch("analyze").expect("analyze");
    let cursor = CaptureId::new(testutil::T0 + 50_000 * 30_000, 0);
    let queries = [
        CaptureQuery {
            limit: 50,
            ..Default::default()
        },
        CaptureQuery {
            camera: Some(cam("yard")),
            limit: 50,
            before: Some(cursor.clone()),
            ..Default::default()
        },
        CaptureQuery {
            label: Some("person".into()),
            limit: 50,
            before: Some(cursor.clone()),
            ..Default::default()
        },
        CaptureQuery {
            camera: Some(cam("yard")),
            label: Some("person".into()),
            limit: 50,
            before: Some(cursor.clone()),
            ..Default::default()
        },
        CaptureQuery {
            camera: Some(cam("yard")),
            day: Some("2026-11-20".into()),
            limit: 50,
            ..Default::default()
        },
    ];
    for q in &queries {
        let plan = t.store.explain_list_captures(q).expect("plan");
        // No sort: rows come out of an index (or, unfiltered, the
        // clustered primary key) already in id order, so `limit` stops
        // the walk early.
        assert!(!plan.contains("TEMP B-TREE"), "{q:?}: {plan}");
        let filtered =
            q.camera.is_some() || q.label.is_some() || q.day.is_some() || q.before.is_some();
        assert!(
            !filtered || plan.contains("SEARCH capture USING"),
            "{q:?}: {plan}"
        );
        let start = std::time::Instant::now();
        let page = t.store.list_captures(q).expect("page");
        assert_eq!(page.items.len(), 50, "{q:?}");
        assert!(
            start.elapsed() < std::time::Duration::from_millis(50),
            "{q:?} took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn retention_by_age_bytes_and_free_space() {
    let t = TestStore::new();
    let porch: Vec<_> = (0..4)
        .map(|n| ingest_n(&t, "porch", n).id().clone())
        .collect();
    let garage: Vec<_> = (10..14)
        .map(|n| ingest_n(&t, "garage", n).id().clone())
        .collect();
    let each = t
        .store
        .get_capture(&porch[0])
        .expect("get")
        .expect("row")
        .summary
        .bytes;
    let size = |id: &CaptureId| {
        t.store
            .get_capture(id)
            .expect("get")
            .expect("row")
            .summary
            .bytes
    };
    let want_freed = size(&garage[0]) + size(&garage[1]) + size(&porch[0]);
    let start = |n: i64| testutil::T0 + n * 60_000;

    // porch: keep captures that started in the last 2.5 minutes before capture 3.
    let mut policy = RetentionPolicy::default();
    policy.per_camera.insert(
        cam("porch"),
        CameraRetention {
            max_age_ms: Some(150_000),
            max_bytes: None,
        },
    );
    // garage (default rule): at most two captures' worth of bytes.
    policy.default = CameraRetention {
        max_age_ms: None,
        max_bytes: Some(2 * each + 10),
    };
    let r = t
        .store
        .enforce_retention(&policy, start(3))
        .expect("retention");
    assert_eq!(
        r.deleted,
        vec![
            (garage[0].clone(), "max_bytes".to_owned()),
            (garage[1].clone(), "max_bytes".to_owned()),
            (porch[0].clone(), "max_age".to_owned()),
        ]
    );
    assert_eq!(r.bytes_freed, want_freed);
    for id in r.deleted.iter().map(|d| &d.0) {
        assert!(t.store.get_capture(id).expect("get").is_none());
        assert!(!media_tree(&t).iter().any(|p| p.contains(id.as_str())));
    }
    assert!(t
        .store
        .enforce_retention(&policy, start(3))
        .expect("again")
        .deleted
        .is_empty());

    // Free space: ask for more than the disk has; everything goes, oldest first.
    let free = media::free_bytes(&t.cfg.media_dir).expect("statvfs");
    let greedy = RetentionPolicy {
        min_free_bytes: free + (1 << 40),
        ..Default::default()
    };
    let r = t
        .store
        .enforce_retention(&greedy, start(3))
        .expect("retention");
    let order: Vec<_> = r.deleted.iter().map(|d| d.0.clone()).collect();
    assert_eq!(
        order,
        vec![
            porch[1].clone(),
            porch[2].clone(),
            porch[3].clone(),
            garage[2].clone(),
            garage[3].clone()
        ]
    );
    assert!(r.deleted.iter().all(|d| d.1 == "min_free"));
    assert_eq!(t.store.stats().expect("stats").captures, 0);
    assert!(media_tree(&t).is_empty(), "{:?}", media_tree(&t));
}

/// The per-day counts kept by triggers (schema v3) always equal a direct
/// aggregation of the capture rows, for every filter, through inserts,
/// deletions and relabels.
#[test]
fn day_counts_follow_inserts_deletes_and_relabels() {
    let t = TestStore::new();
    let caps: Vec<FakeCapture> = (0..300u32)
        .map(|i| FakeCapture {
            camera: cam(if i % 2 == 0 { "porch" } else { "garage" }),
            start_ms: testutil::T0 + i64::from(i) * 1_200_000,
            nonce: i,
            label: ["person", "animal", "motion"][(i % 3) as usize].into(),
            bytes: 10,
        })
        .collect();
    t.store
        .insert_fake_captures_for_bench(&caps)
        .expect("insert");
    let check = |when: &str| {
        for camera in [None, Some(cam("porch")), Some(cam("garage"))] {
            for label in [None, Some("person"), Some("motion")] {
                let got = t.store.capture_days(camera.as_ref(), label).expect("days");
                let db = t.store.db();
                let mut stmt = db
                    .prepare(
                        "select substr(id, 1, 8), count(*) from capture
                         where (?1 is null or camera_id = ?1) and (?2 is null or label = ?2)
                         group by 1 order by 1 desc",
                    )
                    .expect("prepare");
                let want: Vec<(String, u64)> = stmt
                    .query_map(
                        rusqlite::params![camera.as_ref().map(|c| c.as_str()), label],
                        |r| {
                            let d: String = r.get(0)?;
                            Ok((
                                format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]),
                                r.get::<_, i64>(1)? as u64,
                            ))
                        },
                    )
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                let got: Vec<(String, u64)> = got.into_iter().map(|d| (d.day, d.count)).collect();
                assert_eq!(got, want, "{when}: camera {camera:?} label {label:?}");
            }
        }
        // Camera totals come from the same counts.
        let db = t.store.db();
        let want: Vec<(String, u64, u64, i64)> = db
            .prepare(
                "select camera_id, count(*), sum(bytes), max(start_ms) from capture
                 group by 1 order by 1",
            )
            .expect("prepare")
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get(3)?,
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        drop(db);
        let mut got = Vec::new();
        for c in t.store.cameras().expect("cameras") {
            match c.last_capture_ms {
                Some(last) => got.push((c.id.to_string(), c.captures, c.bytes, last)),
                None => assert_eq!((c.captures, c.bytes), (0, 0), "{when}: {c:?}"),
            }
        }
        assert_eq!(got, want, "{when}: camera totals");
    };
    check("after inserts");
    {
        let db = t.store.db();
        db.execute(
            "update capture set label = 'animal' where label = 'person' and camera_id = 'porch'",
            [],
        )
        .expect("relabel");
        // Every capture of the first day goes, and half of the rest (those
        // whose nonce, the id's last hex digit, is even).
        let n = db
            .execute(
                "delete from capture where substr(id, 1, 8) = (select min(substr(id, 1, 8)) from capture)
                 or substr(id, 28, 1) in ('0', '2', '4', '6', '8', 'a', 'c', 'e')",
                [],
            )
            .expect("delete");
        assert!(n > 100, "deleted {n}");
    }
    check("after relabels and deletions");
}
