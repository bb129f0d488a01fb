//! Shared test setup: a store in a temp dir, and real capture folders
//! (synthetic scene → JPEG snapshot + H.264 fMP4 fragments → manifest with
//! correct sha256s), written exactly as the node's outbox lays them out.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vigia_base::manifest::{
    FileEntry, FileKind, Manifest, Scores, MANIFEST_NAME, MANIFEST_VERSION,
};
use vigia_base::{CameraId, CaptureId};
use vigia_media::{ClipChunk, ClipConfig, ClipEncoder, SceneConfig, SyntheticScene};

use crate::ingest::sha256_hex;
use crate::{RecoveryReport, Store, StoreConfig};

pub const T0: i64 = 1_795_000_000_000;

pub fn cam(s: &str) -> CameraId {
    s.parse().expect("camera id")
}

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub cfg: StoreConfig,
    pub store: Store,
}

impl TestStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config(dir.path());
        let (store, report) = Store::open(cfg.clone()).expect("open");
        assert!(report.is_empty(), "{report:?}");
        Self { dir, cfg, store }
    }

    /// Drops the store (releasing the media tree lock) and opens it
    /// again, as a restart does; returns the recovery report.
    pub fn reopen(self) -> (Self, RecoveryReport) {
        let TestStore { dir, cfg, store } = self;
        drop(store);
        let (store, report) = Store::open(cfg.clone()).expect("reopen");
        (TestStore { dir, cfg, store }, report)
    }

    pub fn incoming(&self, name: &str) -> PathBuf {
        self.dir.path().join("incoming").join(name)
    }
}

pub fn config(root: &Path) -> StoreConfig {
    StoreConfig {
        db_path: root.join("db").join("vigia.db"),
        media_dir: root.join("media"),
        min_free_bytes: 0,
    }
}

/// Media of one synthetic capture, encoded once per test binary.
pub struct Media {
    pub snapshot: Vec<u8>,
    pub init: Vec<u8>,
    /// (bytes, start offset ms, duration ms, frames)
    pub fragments: Vec<(Vec<u8>, i64, u32, u32)>,
}

pub fn media() -> &'static Media {
    static MEDIA: OnceLock<Media> = OnceLock::new();
    MEDIA.get_or_init(|| {
        let mut big = SyntheticScene::new(SceneConfig {
            width: 640,
            height: 480,
            ..SceneConfig::default()
        });
        let snapshot = vigia_media::jpeg::encode_jpeg_yuv(&big.render(5), 80).expect("snapshot");
        let mut scene = SyntheticScene::new(SceneConfig {
            width: 160,
            height: 120,
            ..SceneConfig::default()
        });
        let mut enc = ClipEncoder::new(ClipConfig {
            fragment_ms: 500,
            ..ClipConfig::default()
        });
        let mut chunks = Vec::new();
        for i in 0..15u64 {
            let img = scene.render(i);
            chunks.extend(enc.push_yuv(&img, i as i64 * 100).expect("encode"));
        }
        chunks.extend(enc.finish().expect("finish"));
        let mut init = Vec::new();
        let mut fragments = Vec::new();
        for c in chunks {
            match c {
                ClipChunk::Init(b) => init = b,
                ClipChunk::Fragment {
                    bytes,
                    start_ms,
                    duration_ms,
                    frames,
                    ..
                } => fragments.push((bytes, start_ms, duration_ms, frames)),
            }
        }
        assert!(
            !init.is_empty() && fragments.len() >= 2,
            "clip has {} fragments",
            fragments.len()
        );
        Media {
            snapshot,
            init,
            fragments,
        }
    })
}

pub fn capture_id(n: u32) -> CaptureId {
    CaptureId::new(T0 + i64::from(n) * 60_000, n)
}

/// Writes a complete capture folder for `camera` starting at
/// `capture_id(n)`'s time into `dir` and returns its manifest.
pub fn write_capture(dir: &Path, camera: &CameraId, n: u32) -> Manifest {
    let id = capture_id(n);
    let start_ms = T0 + i64::from(n) * 60_000;
    write_capture_with_id(dir, camera, id, start_ms)
}

pub fn write_capture_with_id(
    dir: &Path,
    camera: &CameraId,
    id: CaptureId,
    start_ms: i64,
) -> Manifest {
    let m = media();
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut files = Vec::new();
    let mut put = |kind: FileKind, bytes: &[u8], timing: Option<(i64, u32, u32)>| {
        std::fs::write(dir.join(kind.file_name()), bytes).expect("write");
        files.push(FileEntry {
            name: kind.file_name(),
            kind: kind.label().into(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            start_ms: timing.map(|t| t.0),
            duration_ms: timing.map(|t| t.1),
            frames: timing.map(|t| t.2),
        });
    };
    put(FileKind::Snapshot, &m.snapshot, None);
    put(FileKind::ClipInit, &m.init, None);
    for (i, (b, s, d, f)) in m.fragments.iter().enumerate() {
        put(
            FileKind::ClipFragment(i as u32 + 1),
            b,
            Some((start_ms + s, *d, *f)),
        );
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        capture_id: id,
        camera: camera.clone(),
        trigger_ms: start_ms + 200,
        start_ms,
        end_ms: start_ms + 1_500,
        start_utc: vigia_base::clock::format_utc_ms(start_ms),
        end_utc: vigia_base::clock::format_utc_ms(start_ms + 1_500),
        label: "person".into(),
        scores: Scores {
            motion_max: 0.8,
            motion_mean: 0.3,
            ..Default::default()
        },
        frames: 15,
        snapshot_ms: Some(start_ms + 500),
        end_reason: "quiet".into(),
        files,
    };
    write_manifest(dir, &manifest);
    manifest
}

pub fn write_manifest(dir: &Path, m: &Manifest) {
    std::fs::write(
        dir.join(MANIFEST_NAME),
        serde_json::to_vec_pretty(m).expect("json"),
    )
    .expect("manifest");
}

/// Every file under `root`, relative, sorted.
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
