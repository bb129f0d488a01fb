//! Which nodes are connected now, their last status, and the way to send
//! one of them a command and wait for its answer.
//!
//! Held by the web platform (status page, command buttons) and filled by
//! the link's control tasks. A camera has at most one live connection:
//! when a node reconnects before the old connection timed out, the new one
//! replaces it.
//!
//! `register`, `heartbeat`, `command_result` and `unregister` are called by
//! the link's control tasks; they are public so crates that use `Nodes`
//! (the web platform) can test against a simulated node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use vigia_base::{CameraId, Command};

use crate::wire::{ControlMessage, Heartbeat, Hello};

/// A connected node as the server sees it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub camera: CameraId,
    pub peer: String,
    pub software: String,
    pub capabilities: Vec<String>,
    /// Wall-clock ms since the Unix epoch.
    pub connected_ms: i64,
    pub last_seen_ms: i64,
    pub heartbeat: Option<Heartbeat>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("camera {0} is not connected")]
    NotConnected(CameraId),
    #[error("camera {0} did not answer in time")]
    Timeout(CameraId),
    #[error("camera {0} disconnected before answering")]
    Disconnected(CameraId),
    #[error("camera {camera} could not do it: {message}")]
    Failed { camera: CameraId, message: String },
}

struct Entry {
    conn: u64,
    tx: mpsc::Sender<ControlMessage>,
    status: NodeStatus,
    pending: HashMap<u64, oneshot::Sender<(bool, String)>>,
}

#[derive(Clone, Default)]
pub struct Nodes {
    inner: Arc<Mutex<HashMap<CameraId, Entry>>>,
    next_id: Arc<AtomicU64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Nodes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CameraId, Entry>> {
        // A panic while holding this lock leaves plain data behind; keep
        // serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<NodeStatus> {
        let mut v: Vec<_> = self.lock().values().map(|e| e.status.clone()).collect();
        v.sort_by(|a, b| a.camera.cmp(&b.camera));
        v
    }

    pub fn get(&self, camera: &CameraId) -> Option<NodeStatus> {
        self.lock().get(camera).map(|e| e.status.clone())
    }

    /// Sends `command` and waits for the node's answer (its message on
    /// success).
    pub async fn send_command(
        &self,
        camera: &CameraId,
        command: Command,
        timeout: Duration,
    ) -> Result<String, CommandError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (done_tx, done_rx) = oneshot::channel();
        let tx = {
            let mut map = self.lock();
            let e = map
                .get_mut(camera)
                .ok_or_else(|| CommandError::NotConnected(camera.clone()))?;
            e.pending.insert(id, done_tx);
            e.tx.clone()
        };
        tx.send(ControlMessage::Command { id, command })
            .await
            .map_err(|_| CommandError::Disconnected(camera.clone()))?;
        let answer = tokio::time::timeout(timeout, done_rx).await;
        if let Some(e) = self.lock().get_mut(camera) {
            e.pending.remove(&id);
        }
        match answer {
            Err(_) => Err(CommandError::Timeout(camera.clone())),
            Ok(Err(_)) => Err(CommandError::Disconnected(camera.clone())),
            Ok(Ok((true, message))) => Ok(message),
            Ok(Ok((false, message))) => Err(CommandError::Failed {
                camera: camera.clone(),
                message,
            }),
        }
    }

    /// Records a new connection, replacing an older one of the same
    /// camera. Returns the connection's id for later updates.
    pub fn register(&self, hello: &Hello, peer: String, tx: mpsc::Sender<ControlMessage>) -> u64 {
        let conn = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let now = now_ms();
        let status = NodeStatus {
            camera: hello.camera.clone(),
            peer,
            software: hello.software.chars().take(64).collect(),
            capabilities: hello
                .capabilities
                .iter()
                .take(32)
                .map(|c| c.chars().take(32).collect())
                .collect(),
            connected_ms: now,
            last_seen_ms: now,
            heartbeat: None,
        };
        self.lock().insert(
            hello.camera.clone(),
            Entry {
                conn,
                tx,
                status,
                pending: HashMap::new(),
            },
        );
        conn
    }

    pub fn unregister(&self, camera: &CameraId, conn: u64) -> bool {
        let mut map = self.lock();
        if map.get(camera).is_some_and(|e| e.conn == conn) {
            map.remove(camera);
            true
        } else {
            false
        }
    }

    pub fn heartbeat(&self, camera: &CameraId, conn: u64, hb: Heartbeat) {
        if let Some(e) = self.lock().get_mut(camera).filter(|e| e.conn == conn) {
            e.status.last_seen_ms = now_ms();
            e.status.heartbeat = Some(hb);
        }
    }

    pub fn command_result(&self, camera: &CameraId, conn: u64, id: u64, ok: bool, message: String) {
        let waiter = self
            .lock()
            .get_mut(camera)
            .filter(|e| e.conn == conn)
            .and_then(|e| e.pending.remove(&id));
        if let Some(w) = waiter {
            let _ = w.send((ok, message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PROTOCOL_VERSION;

    fn hello(cam: &str) -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            camera: cam.parse().unwrap(),
            software: "t".into(),
            capabilities: vec![],
        }
    }

    #[tokio::test]
    async fn a_command_is_answered_through_its_id() {
        let nodes = Nodes::default();
        let (tx, mut rx) = mpsc::channel(4);
        let conn = nodes.register(&hello("cam"), "peer".into(), tx);
        let cam: CameraId = "cam".parse().unwrap();
        let n2 = nodes.clone();
        let c2 = cam.clone();
        let answer = tokio::spawn(async move {
            n2.send_command(&c2, Command::Arm, Duration::from_secs(5))
                .await
        });
        let Some(ControlMessage::Command { id, command }) = rx.recv().await else {
            panic!("no command sent");
        };
        assert_eq!(command, Command::Arm);
        nodes.command_result(&cam, conn, id, true, "armed".into());
        assert_eq!(answer.await.unwrap(), Ok("armed".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn unanswered_and_unknown_cameras_fail_clearly() {
        let nodes = Nodes::default();
        let cam: CameraId = "cam".parse().unwrap();
        assert_eq!(
            nodes
                .send_command(&cam, Command::Arm, Duration::from_secs(1))
                .await,
            Err(CommandError::NotConnected(cam.clone()))
        );
        let (tx, _rx) = mpsc::channel(4);
        nodes.register(&hello("cam"), "peer".into(), tx);
        assert_eq!(
            nodes
                .send_command(&cam, Command::Arm, Duration::from_secs(1))
                .await,
            Err(CommandError::Timeout(cam.clone()))
        );
    }

    #[test]
    fn a_reconnection_replaces_the_old_entry_and_the_old_cannot_remove_it() {
        let nodes = Nodes::default();
        let (tx1, _r1) = mpsc::channel(1);
        let (tx2, _r2) = mpsc::channel(1);
        let old = nodes.register(&hello("cam"), "a".into(), tx1);
        let new = nodes.register(&hello("cam"), "b".into(), tx2);
        let cam: CameraId = "cam".parse().unwrap();
        assert!(!nodes.unregister(&cam, old));
        assert_eq!(nodes.get(&cam).unwrap().peer, "b");
        assert!(nodes.unregister(&cam, new));
        assert!(nodes.list().is_empty());
    }
}
