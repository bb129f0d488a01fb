use std::sync::Mutex;

use sha2::{Digest, Sha256};
use vigia_base::CaptureId;

use super::*;
use crate::outbox::{FileKind, Manifest, Scores, MANIFEST_VERSION};

/// An in-memory receiver with the server's rules: resumable files, a
/// commit that verifies every sha256 and names the bad files. Faults are
/// injected per call.
#[derive(Default)]
struct Receiver {
    files: Mutex<HashMap<(CaptureId, String), Vec<u8>>>,
    stored: Mutex<Vec<CaptureId>>,
    /// Fail this many put_file calls after writing half the bytes.
    cut_mid_file: Mutex<u32>,
    /// Corrupt this file once it is complete (a flipped byte on the wire).
    corrupt_once: Mutex<Option<String>>,
    refuse: Option<CaptureId>,
    puts: Mutex<Vec<(String, bool)>>,
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Transport for Receiver {
    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn put_file<'a>(
        &'a self,
        capture: &'a CaptureId,
        name: &'a str,
        local: &'a Path,
        restart: bool,
    ) -> BoxFuture<'a, Result<u64, TransportError>> {
        Box::pin(async move {
            let bytes = std::fs::read(local).map_err(|e| TransportError::new(e.to_string()))?;
            self.puts.lock().unwrap().push((name.to_string(), restart));
            let mut files = self.files.lock().unwrap();
            let have = files
                .entry((capture.clone(), name.to_string()))
                .or_default();
            if restart || have.len() > bytes.len() {
                have.clear();
            }
            let from = have.len();
            let mut cut = self.cut_mid_file.lock().unwrap();
            if *cut > 0 && bytes.len() - from > 1 {
                *cut -= 1;
                let half = from + (bytes.len() - from) / 2;
                have.extend_from_slice(&bytes[from..half]);
                return Err(TransportError::new("connection dropped mid-file"));
            }
            have.extend_from_slice(&bytes[from..]);
            if self.corrupt_once.lock().unwrap().as_deref() == Some(name) {
                *self.corrupt_once.lock().unwrap() = None;
                have[0] ^= 0xFF;
            }
            Ok((bytes.len() - from) as u64)
        })
    }

    fn commit<'a>(
        &'a self,
        manifest: &'a Manifest,
        _dir: &'a Path,
    ) -> BoxFuture<'a, Result<Commit, TransportError>> {
        Box::pin(async move {
            let id = manifest.capture_id.clone();
            if self.refuse.as_ref() == Some(&id) {
                return Ok(Commit::Rejected {
                    reason: "refused".into(),
                    retryable: false,
                    bad_files: vec![],
                });
            }
            let files = self.files.lock().unwrap();
            let bad: Vec<String> = manifest
                .files
                .iter()
                .filter(|f| {
                    files
                        .get(&(id.clone(), f.name.clone()))
                        .is_none_or(|b| sha(b) != f.sha256)
                })
                .map(|f| f.name.clone())
                .collect();
            if !bad.is_empty() {
                return Ok(Commit::Rejected {
                    reason: "sha256 mismatch".into(),
                    retryable: true,
                    bad_files: bad,
                });
            }
            let mut stored = self.stored.lock().unwrap();
            if !stored.contains(&id) {
                stored.push(id);
            }
            Ok(Commit::Acked(
                manifest
                    .files
                    .iter()
                    .map(|f| (f.name.clone(), f.sha256.clone()))
                    .collect(),
            ))
        })
    }
}

fn manifest(id: &CaptureId) -> Manifest {
    Manifest {
        version: MANIFEST_VERSION,
        capture_id: id.clone(),
        camera: "cam".parse().unwrap(),
        trigger_ms: 0,
        start_ms: 0,
        end_ms: 1,
        start_utc: String::new(),
        end_utc: String::new(),
        label: "motion".into(),
        scores: Scores {
            motion_max: 0.0,
            motion_mean: 0.0,
            ..Default::default()
        },
        frames: 0,
        snapshot_ms: None,
        end_reason: "quiet".into(),
        files: vec![],
    }
}

fn commit(ob: &Outbox, n: u32) -> CaptureId {
    let id = CaptureId::new(1_700_000_000_000 + i64::from(n) * 1000, n);
    let mut w = ob.begin(id.clone(), "cam".parse().unwrap(), 0, 0).unwrap();
    w.write_file(FileKind::Snapshot, &[n as u8; 1000], None)
        .unwrap();
    w.write_file(FileKind::ClipInit, &[7; 300], None).unwrap();
    w.write_file(FileKind::ClipFragment(1), &[n as u8 + 1; 5000], None)
        .unwrap();
    w.commit(manifest(&id)).unwrap();
    id
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn start(ob: &Outbox, rx: &Arc<Receiver>) -> (Shutdown, tokio::task::JoinHandle<()>) {
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_uploader(
        ob.clone(),
        rx.clone(),
        Arc::new(UploadStats::default()),
        shutdown.clone(),
    ));
    (shutdown, task)
}

#[tokio::test(start_paused = true)]
async fn fragments_leave_while_the_event_runs_and_the_capture_goes_on_commit() {
    let d = tempfile::tempdir().unwrap();
    let (ob, _) = Outbox::open(d.path(), 1 << 30).unwrap();
    let rx = Arc::new(Receiver::default());
    let (shutdown, task) = start(&ob, &rx);

    let id = CaptureId::new(1_700_000_000_000, 1);
    let mut w = ob.begin(id.clone(), "cam".parse().unwrap(), 0, 0).unwrap();
    w.write_file(FileKind::Snapshot, b"snap", None).unwrap();
    w.write_file(FileKind::ClipInit, b"init", None).unwrap();
    w.write_file(FileKind::ClipFragment(1), b"frag one", None)
        .unwrap();
    let has = |name: &str| {
        rx.files
            .lock()
            .unwrap()
            .contains_key(&(id.clone(), name.to_string()))
    };
    until("the first fragment on the receiver", || {
        has("clip-000001.m4s")
    })
    .await;
    until("the journal on the receiver", || has("event.json")).await;
    assert!(rx.stored.lock().unwrap().is_empty(), "not committed yet");
    let order: Vec<String> = rx
        .puts
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.0.clone())
        .filter(|n| n != "event.json")
        .collect();
    assert_eq!(order, ["snapshot.jpg", "clip-init.mp4", "clip-000001.m4s"]);

    w.write_file(FileKind::ClipFragment(2), b"frag two", None)
        .unwrap();
    until("the second fragment", || has("clip-000002.m4s")).await;
    w.commit(manifest(&id)).unwrap();
    until("the acknowledgement", || ob.scan().unwrap().is_empty()).await;
    assert_eq!(*rx.stored.lock().unwrap(), vec![id]);
    // No snapshot or clip file was sent twice.
    let files = rx
        .puts
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.0 != "event.json")
        .count();
    assert_eq!(files, 4);
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cut_uploads_resume_and_corrupt_files_are_resent_from_scratch() {
    let d = tempfile::tempdir().unwrap();
    let (ob, _) = Outbox::open(d.path(), 1 << 30).unwrap();
    let ids: Vec<_> = (1..=3).map(|n| commit(&ob, n)).collect();
    let rx = Arc::new(Receiver {
        cut_mid_file: Mutex::new(4),
        corrupt_once: Mutex::new(Some("clip-000001.m4s".into())),
        ..Default::default()
    });
    let (shutdown, task) = start(&ob, &rx);
    until("every capture acknowledged", || {
        ob.scan().unwrap().is_empty()
    })
    .await;
    assert_eq!(*rx.stored.lock().unwrap(), ids, "in order, each once");
    for id in &ids {
        let files = rx.files.lock().unwrap();
        let frag = &files[&(id.clone(), "clip-000001.m4s".to_string())];
        assert_eq!(frag.len(), 5000);
        assert!(frag.iter().all(|b| *b == frag[0]), "no corrupt byte left");
    }
    assert!(
        rx.puts
            .lock()
            .unwrap()
            .iter()
            .any(|(n, restart)| n == "clip-000001.m4s" && *restart),
        "the corrupt file was resent from the start"
    );
    shutdown.trigger();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_refused_capture_is_kept_and_does_not_block_the_others() {
    let d = tempfile::tempdir().unwrap();
    let (ob, _) = Outbox::open(d.path(), 1 << 30).unwrap();
    let ids: Vec<_> = (1..=3).map(|n| commit(&ob, n)).collect();
    let rx = Arc::new(Receiver {
        refuse: Some(ids[1].clone()),
        ..Default::default()
    });
    let (shutdown, task) = start(&ob, &rx);
    until("the two good captures", || {
        rx.stored.lock().unwrap().len() == 2
    })
    .await;
    until("the outbox to settle", || ob.scan().unwrap().len() == 1).await;
    let left: Vec<_> = ob.scan().unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(left, vec![ids[1].clone()], "only the refused capture stays");
    shutdown.trigger();
    task.await.unwrap();
}
