//! Shared test fixtures: a real store in a temp dir, captures ingested from
//! capture folders laid out as the node's outbox writes them (real JPEG,
//! real fragmented MP4), users, sessions, and request helpers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, Response};
use axum::Router;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use vigia_base::manifest::{FileEntry, Manifest, Scores, MANIFEST_NAME, MANIFEST_VERSION};
use vigia_base::{CameraId, CaptureId, SimulatedClock};
use vigia_link::server::Nodes;
use vigia_media::{ClipChunk, ClipConfig, ClipEncoder, Yuv420};
use vigia_store::{Role, Store, StoreConfig};

use crate::{app, AppState, LiveHub, LoginRateConfig, RateLimit, WebConfig};

/// 2026-11-18T11:11:53.120Z
pub const T0: i64 = 1_795_000_313_120;
pub const DAY_MS: i64 = 86_400_000;
pub const TTL_MS: i64 = 3_600_000;
pub const ADMIN_PW: &str = "admin-password-1";
pub const VIEWER_PW: &str = "viewer-password-1";

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub clock: SimulatedClock,
    /// The link's view of connected nodes; tests connect simulated ones.
    pub nodes: Nodes,
    pub state: AppState,
    pub app: Router,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_command_timeout(Duration::from_secs(5))
    }

    pub fn with_command_timeout(command_timeout: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(StoreConfig {
            db_path: dir.path().join("vigia.db"),
            media_dir: dir.path().join("media"),
            min_free_bytes: 0,
        })
        .unwrap();
        store.add_user("admin", ADMIN_PW, Role::Admin).unwrap();
        store.add_user("viewer", VIEWER_PW, Role::Viewer).unwrap();
        let clock = SimulatedClock::new(T0 + 10 * DAY_MS);
        let live = LiveHub::new(Arc::new(clock.clone()), 5_000);
        let config = WebConfig {
            session_ttl_ms: TTL_MS,
            secure_cookies: false,
            login_rate: LoginRateConfig {
                per_ip: RateLimit {
                    max_failures: 8,
                    window_ms: 300_000,
                    lockout_ms: 300_000,
                },
                per_user: RateLimit {
                    max_failures: 5,
                    window_ms: 300_000,
                    lockout_ms: 300_000,
                },
            },
            system_name: "Test House".into(),
        };
        let nodes = Nodes::default();
        let state = AppState::new(store.clone(), live, config, Arc::new(clock.clone()))
            .with_nodes(nodes.clone())
            .with_command_timeout(command_timeout);
        let app = app(state.clone());
        Self {
            _dir: dir,
            store,
            clock,
            nodes,
            state,
            app,
        }
    }

    /// Ingests one capture of camera `front` starting at `start_ms`.
    pub fn capture(&self, start_ms: i64, label: &str) -> CaptureId {
        self.capture_of("front", start_ms, label, "quiet")
    }

    pub fn capture_of(
        &self,
        camera: &str,
        start_ms: i64,
        label: &str,
        end_reason: &str,
    ) -> CaptureId {
        let camera: CameraId = camera.parse().unwrap();
        let id = CaptureId::new(start_ms, (start_ms % 0xffff) as u32);
        let dir = self._dir.path().join("outbox").join(id.as_str());
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = write_capture(&dir, &camera, &id, start_ms, label, end_reason);
        std::fs::write(
            dir.join(MANIFEST_NAME),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        self.store
            .ingest_dir(&camera, &dir, self.clock.now())
            .unwrap();
        id
    }

    /// A session for `user` created directly in the store: (cookie, csrf).
    pub fn session(&self, user: &str) -> (String, String) {
        let u = self
            .store
            .list_users()
            .unwrap()
            .into_iter()
            .find(|u| u.name == user)
            .unwrap();
        let s = self
            .store
            .create_session(u.id, self.clock.now(), TTL_MS)
            .unwrap();
        (format!("vigia_session={}", s.token), s.csrf_token)
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(req).await.unwrap()
    }

    pub async fn get(&self, uri: &str, cookie: Option<&str>) -> Response<Body> {
        let mut b = Request::get(uri);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    pub async fn post_form(&self, uri: &str, cookie: Option<&str>, form: &str) -> Response<Body> {
        let mut b =
            Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(form.to_owned())).unwrap())
            .await
    }
}

trait Now {
    fn now(&self) -> i64;
}

impl Now for SimulatedClock {
    fn now(&self) -> i64 {
        vigia_base::Clock::now_ms(self)
    }
}

/// A request as if from `ip` (what `serve` attaches for real sockets).
pub fn from_ip(mut req: Request<Body>, ip: [u8; 4]) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
    req
}

pub async fn body_bytes(resp: Response<Body>) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

pub async fn body_string(resp: Response<Body>) -> String {
    String::from_utf8(body_bytes(resp).await).unwrap()
}

pub fn location(resp: &Response<Body>) -> &str {
    resp.headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn entry(dir: &Path, name: &str, kind: &str, bytes: &[u8]) -> FileEntry {
    std::fs::write(dir.join(name), bytes).unwrap();
    FileEntry {
        name: name.to_owned(),
        kind: kind.to_owned(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
        start_ms: None,
        duration_ms: None,
        frames: None,
    }
}

/// A real 160x96 JPEG.
pub fn jpeg(luma: u8) -> Vec<u8> {
    vigia_media::encode_jpeg_yuv(&Yuv420::filled(160, 96, luma, 128, 128), 80).unwrap()
}

/// Writes snapshot and a real fMP4 clip (init + fragments) into `dir` and
/// returns the manifest describing them (not yet written).
fn write_capture(
    dir: &Path,
    camera: &CameraId,
    id: &CaptureId,
    start_ms: i64,
    label: &str,
    end_reason: &str,
) -> Manifest {
    let mut files = vec![entry(dir, "snapshot.jpg", "snapshot", &jpeg(90))];
    let mut enc = ClipEncoder::new(ClipConfig {
        fragment_ms: 500,
        ..ClipConfig::default()
    });
    let mut chunks = Vec::new();
    let frames = 12u32;
    for i in 0..frames {
        let img = Yuv420::filled(160, 96, (i * 20) as u8, 100, 150);
        chunks.extend(enc.push_yuv(&img, start_ms + i64::from(i) * 100).unwrap());
    }
    chunks.extend(enc.finish().unwrap());
    for c in chunks {
        match c {
            ClipChunk::Init(b) => files.push(entry(dir, "clip-init.mp4", "clip_init", &b)),
            ClipChunk::Fragment {
                index,
                bytes,
                start_ms,
                duration_ms,
                frames,
            } => {
                let mut e = entry(
                    dir,
                    &format!("clip-{index:06}.m4s"),
                    "clip_fragment",
                    &bytes,
                );
                e.start_ms = Some(start_ms);
                e.duration_ms = Some(duration_ms);
                e.frames = Some(frames);
                files.push(e);
            }
        }
    }
    let end_ms = start_ms + i64::from(frames) * 100;
    Manifest {
        version: MANIFEST_VERSION,
        capture_id: id.clone(),
        camera: camera.clone(),
        trigger_ms: start_ms + 200,
        start_ms,
        end_ms,
        start_utc: vigia_base::clock::format_utc_ms(start_ms),
        end_utc: vigia_base::clock::format_utc_ms(end_ms),
        label: label.to_owned(),
        scores: Scores {
            motion_max: 0.5,
            motion_mean: 0.25,
            ..Default::default()
        },
        frames,
        snapshot_ms: Some(start_ms + 300),
        end_reason: end_reason.to_owned(),
        files,
    }
}
