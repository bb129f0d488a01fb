//! What the server does with what its nodes send over the link: committed
//! captures go into the store, live frames into the live hub, heartbeats
//! mark the camera as seen.
//!
//! A commit follows the durability order of DESIGN.md: the files are in
//! `incoming/<camera>/<capture id>/` (fsynced by the SFTP subsystem on
//! close); the manifest from the commit message is written there, the
//! store verifies every sha256, makes the capture durable and indexes it;
//! only then is the folder removed and the acknowledgement sent. The
//! incoming-area poller takes the same lock, so it never sees a manifest
//! the commit path is still working on.

use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use vigia_base::manifest::{Manifest, MANIFEST_NAME};
use vigia_base::{CameraId, Clock};
use vigia_link::server::{CommitError, ServerHooks};
use vigia_link::wire::{AckedFile, Heartbeat, LiveFrame};
use vigia_store::{Store, StoreError};
use vigia_web::LiveHub;

pub struct StoreHooks {
    pub store: Store,
    pub live: LiveHub,
    pub clock: Arc<dyn Clock>,
    /// Shared with the incoming-area poller.
    pub ingest_lock: Arc<Mutex<()>>,
    /// Raises offline / back-online alerts.
    pub monitor: vigia_notify::LinkMonitor,
}

fn retry(reason: impl Into<String>) -> CommitError {
    CommitError {
        reason: reason.into(),
        retryable: true,
        bad_files: vec![],
    }
}

/// Files of the capture folder that are missing or differ from the
/// manifest.
fn bad_files(dir: &Path, manifest: &Manifest) -> Vec<String> {
    manifest
        .files
        .iter()
        .filter(|f| match std::fs::read(dir.join(&f.name)) {
            Ok(b) => b.len() as u64 != f.bytes || hex::encode(Sha256::digest(&b)) != f.sha256,
            Err(_) => true,
        })
        .map(|f| f.name.clone())
        .collect()
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let body = serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?;
    let tmp = dir.join(".manifest.json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&body)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(MANIFEST_NAME))?;
    std::fs::File::open(dir)?.sync_all()
}

impl StoreHooks {
    /// Whether the stored capture with this id is one the server completed
    /// from a cut-off upload.
    fn was_cut_off(&self, camera: &CameraId, manifest: &Manifest) -> bool {
        let path = self
            .store
            .capture_dir(camera, &manifest.capture_id)
            .join(MANIFEST_NAME);
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .is_some_and(|m| m.end_reason == "cut_off")
    }
}

impl ServerHooks for StoreHooks {
    fn commit(
        &self,
        camera: &CameraId,
        area: &Path,
        manifest: &Manifest,
    ) -> Result<Vec<AckedFile>, CommitError> {
        let _guard = self.ingest_lock.lock().unwrap_or_else(|p| p.into_inner());
        // The folder name comes from the typed id, never from a peer string.
        let dir = area.join(manifest.capture_id.as_str());
        write_manifest(&dir, manifest)
            .map_err(|e| retry(format!("writing the manifest on the server: {e}")))?;
        let mut result = self.store.ingest_dir(camera, &dir, self.clock.now_ms());
        if matches!(result, Err(StoreError::Conflict { .. })) && self.was_cut_off(camera, manifest)
        {
            // The server completed this capture from a partial upload while
            // the node was gone; the node's whole capture supersedes it.
            tracing::info!(camera = %camera, capture = %manifest.capture_id, "replacing a cut-off capture with the node's complete one");
            if let Err(e) = self.store.delete_capture(&manifest.capture_id) {
                tracing::error!(error = %e, "cannot remove the cut-off capture");
            }
            result = self.store.ingest_dir(camera, &dir, self.clock.now_ms());
        }
        match result {
            Ok(_) => {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "ingested capture left in incoming/");
                }
                Ok(manifest
                    .files
                    .iter()
                    .map(|f| AckedFile {
                        name: f.name.clone(),
                        sha256: f.sha256.clone(),
                    })
                    .collect())
            }
            Err(e) => {
                // Without its manifest the folder is an upload in progress
                // again, invisible to the poller, until the node resends.
                let _ = std::fs::remove_file(dir.join(MANIFEST_NAME));
                Err(match e {
                    StoreError::DiskFull { .. } => retry(format!("server disk full: {e}")),
                    StoreError::Conflict { .. } | StoreError::CameraMismatch { .. } => {
                        CommitError {
                            reason: e.to_string(),
                            retryable: false,
                            bad_files: vec![],
                        }
                    }
                    StoreError::InvalidCapture { .. } => {
                        let bad = bad_files(&dir, manifest);
                        CommitError {
                            reason: e.to_string(),
                            retryable: !bad.is_empty(),
                            bad_files: bad,
                        }
                    }
                    other => retry(other.to_string()),
                })
            }
        }
    }

    fn live_frame(&self, camera: &CameraId, frame: LiveFrame) {
        let Ok((width, height)) = vigia_media::jpeg::jpeg_dimensions(&frame.jpeg) else {
            tracing::debug!(camera = %camera, "live frame without readable dimensions dropped");
            return;
        };
        self.live.publish(vigia_media::Frame {
            camera: camera.clone(),
            seq: frame.seq,
            captured_ms: frame.captured_ms,
            width,
            height,
            jpeg: frame.jpeg.into(),
        });
    }

    fn viewers(&self, camera: &CameraId) -> watch::Receiver<usize> {
        self.live.viewer_watch(camera)
    }

    fn node_seen(&self, camera: &CameraId, heartbeat: Option<&Heartbeat>) {
        self.live.seen(camera);
        if let Some(hb) = heartbeat {
            self.monitor.heartbeat(camera, hb.backlog.captures);
        }
    }

    fn node_gone(&self, camera: &CameraId) {
        tracing::info!(camera = %camera, "node link closed");
    }
}
