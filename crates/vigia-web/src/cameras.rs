//! Every camera the server knows, in one view: the live hub's status
//! (frames, heartbeats, viewers), the connected node's status (arming,
//! upload backlog) and the store's captures. The live page, the JSON API
//! and the metrics all read it from here, so they agree on which cameras
//! exist and whether they are online.
//!
//! "Online" is the hub's (a frame or heartbeat within `offline_after_ms`);
//! "connected" means the link holds a control connection to the node right
//! now. A node whose heartbeats stopped but whose TCP connection has not
//! yet timed out is connected and offline; only a connected node can take
//! commands.

use serde::Serialize;
use vigia_base::CameraId;
use vigia_link::server::NodeStatus;

use crate::error::{blocking, AppError};
use crate::live::CameraStatus;
use crate::state::AppState;

/// One camera as the web shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    #[serde(flatten)]
    pub status: CameraStatus,
    /// The node holds a control connection now.
    pub connected: bool,
    /// The connected node's hello and latest heartbeat; `None` while not
    /// connected.
    pub node: Option<NodeStatus>,
}

impl CameraView {
    /// From the node's latest heartbeat; `None` when unknown.
    pub fn armed(&self) -> Option<bool> {
        self.heartbeat().map(|h| h.armed)
    }

    pub fn heartbeat(&self) -> Option<&vigia_link::wire::Heartbeat> {
        self.node.as_ref().and_then(|n| n.heartbeat.as_ref())
    }
}

fn unseen(id: CameraId) -> CameraStatus {
    CameraStatus {
        id,
        last_frame_ms: None,
        last_seen_ms: None,
        online: false,
        viewers: 0,
        frames: 0,
    }
}

/// Cameras the hub or the link knows (no store access), by id.
pub fn linked(state: &AppState) -> Vec<CameraView> {
    let mut nodes = state.nodes().list();
    let mut cams: Vec<CameraView> = state
        .live()
        .cameras()
        .into_iter()
        .map(|status| {
            let node = nodes
                .iter()
                .position(|n| n.camera == status.id)
                .map(|i| nodes.swap_remove(i));
            CameraView {
                connected: node.is_some(),
                node,
                status,
            }
        })
        .collect();
    cams.extend(nodes.into_iter().map(|n| CameraView {
        status: unseen(n.camera.clone()),
        connected: true,
        node: Some(n),
    }));
    cams.sort_by(|a, b| a.status.id.cmp(&b.status.id));
    cams
}

/// Every camera the hub, the link or the store knows, by id.
pub async fn all(state: &AppState) -> Result<Vec<CameraView>, AppError> {
    let store = state.store().clone();
    let stored = blocking(move || store.cameras()).await?;
    let mut cams = linked(state);
    for c in stored {
        if !cams.iter().any(|v| v.status.id == c.id) {
            cams.push(CameraView {
                status: unseen(c.id),
                connected: false,
                node: None,
            });
        }
    }
    cams.sort_by(|a, b| a.status.id.cmp(&b.status.id));
    Ok(cams)
}

/// Whether the camera is known anywhere. URLs name cameras, and a client
/// must not be able to create hub entries or probe at will.
pub async fn is_known(state: &AppState, camera: &CameraId) -> Result<bool, AppError> {
    if state.live().contains(camera) || state.nodes().get(camera).is_some() {
        return Ok(true);
    }
    let store = state.store().clone();
    let stored = blocking(move || store.cameras()).await?;
    Ok(stored.iter().any(|c| &c.id == camera))
}
