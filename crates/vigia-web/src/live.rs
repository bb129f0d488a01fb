//! The live hub: the latest frame of every camera, relayed to browsers.
//!
//! Per camera there is one `tokio::sync::watch` channel of `Option<Frame>`.
//! A watch keeps only the newest value, so a slow viewer skips frames
//! instead of queueing them: it never delays the publisher or other
//! viewers, and memory stays one frame per camera however many watch.
//!
//! The hub also knows each camera's status and counts viewers per camera.
//! A camera is online while the newer of its last frame and its last sign
//! of life ([`LiveHub::seen`]: the node's hello or heartbeat) is at most
//! `offline_after_ms` old on the injected clock. Frames alone would not
//! do: a node streams them only while someone watches, so an idle camera
//! would look dead; heartbeats arrive whether or not anyone watches. The count is itself a watch
//! ([`LiveHub::viewer_watch`]) so the server's link to a node can send
//! frames only while someone watches. It does not know about HTTP; the
//! MJPEG framing lives in [`crate::pages::live`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use vigia_base::{CameraId, Clock};
use vigia_media::Frame;

/// What the hub knows about one camera right now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CameraStatus {
    pub id: CameraId,
    /// When the last frame reached the hub (server clock, ms UTC).
    pub last_frame_ms: Option<i64>,
    /// When the node last said hello or sent a heartbeat (server clock,
    /// ms UTC).
    pub last_seen_ms: Option<i64>,
    pub online: bool,
    pub viewers: usize,
    /// Frames published since the server started.
    pub frames: u64,
}

struct Slot {
    frame: watch::Sender<Option<Frame>>,
    viewers: watch::Sender<usize>,
    /// `i64::MIN` until the first frame.
    last_frame_ms: AtomicI64,
    /// `i64::MIN` until the first hello or heartbeat.
    last_seen_ms: AtomicI64,
    frames: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        Self {
            frame: watch::channel(None).0,
            viewers: watch::channel(0).0,
            last_frame_ms: AtomicI64::new(i64::MIN),
            last_seen_ms: AtomicI64::new(i64::MIN),
            frames: AtomicU64::new(0),
        }
    }
}

struct Inner {
    clock: Arc<dyn Clock>,
    offline_after_ms: i64,
    slots: Mutex<BTreeMap<CameraId, Arc<Slot>>>,
    /// Flips to true once, at shutdown: every viewer's stream ends.
    closed: watch::Sender<bool>,
}

/// Cheap to clone; clones share the hub.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub")
            .field("offline_after_ms", &self.inner.offline_after_ms)
            .finish_non_exhaustive()
    }
}

impl LiveHub {
    /// A camera is online while its last frame or heartbeat is at most
    /// `offline_after_ms` old.
    pub fn new(clock: Arc<dyn Clock>, offline_after_ms: i64) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock,
                offline_after_ms,
                slots: Mutex::new(BTreeMap::new()),
                closed: watch::channel(false).0,
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<CameraId, Arc<Slot>>> {
        // The map is only ever inserted into; a panic cannot leave it torn.
        self.inner.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, camera: &CameraId) -> Arc<Slot> {
        self.slots()
            .entry(camera.clone())
            .or_insert_with(|| Arc::new(Slot::new()))
            .clone()
    }

    /// Makes a camera known before its first frame (e.g. a configured or
    /// connected node), so it is listed as offline rather than missing.
    pub fn register(&self, camera: &CameraId) {
        self.slot(camera);
    }

    /// Whether the hub knows the camera.
    pub fn contains(&self, camera: &CameraId) -> bool {
        self.slots().contains_key(camera)
    }

    /// Records a sign of life from the camera's node (its hello or a
    /// heartbeat), registering the camera if new. Called by the link.
    pub fn seen(&self, camera: &CameraId) {
        self.slot(camera)
            .last_seen_ms
            .store(self.inner.clock.now_ms(), Ordering::Relaxed);
    }

    /// Replaces the camera's latest frame; never blocks.
    pub fn publish(&self, frame: Frame) {
        let slot = self.slot(&frame.camera);
        slot.last_frame_ms
            .store(self.inner.clock.now_ms(), Ordering::Relaxed);
        slot.frames.fetch_add(1, Ordering::Relaxed);
        slot.frame.send_replace(Some(frame));
    }

    /// Starts watching a camera (registering it if new). The viewer counts
    /// in [`CameraStatus::viewers`] until dropped.
    pub fn subscribe(&self, camera: &CameraId) -> LiveViewer {
        let slot = self.slot(camera);
        slot.viewers.send_modify(|n| *n += 1);
        LiveViewer {
            frames: slot.frame.subscribe(),
            closed: self.inner.closed.subscribe(),
            slot,
        }
    }

    /// The number of viewers of a camera, as a watch: the link to the node
    /// asks for live frames while it is above zero.
    pub fn viewer_watch(&self, camera: &CameraId) -> watch::Receiver<usize> {
        self.slot(camera).viewers.subscribe()
    }

    /// Status of every known camera, by id.
    pub fn cameras(&self) -> Vec<CameraStatus> {
        let now = self.inner.clock.now_ms();
        self.slots()
            .iter()
            .map(|(id, s)| {
                let known = |t: &AtomicI64| {
                    let t = t.load(Ordering::Relaxed);
                    (t != i64::MIN).then_some(t)
                };
                let last_frame_ms = known(&s.last_frame_ms);
                let last_seen_ms = known(&s.last_seen_ms);
                CameraStatus {
                    id: id.clone(),
                    last_frame_ms,
                    last_seen_ms,
                    online: last_frame_ms
                        .max(last_seen_ms)
                        .is_some_and(|t| now.saturating_sub(t) <= self.inner.offline_after_ms),
                    viewers: *s.viewers.borrow(),
                    frames: s.frames.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Ends every viewer's stream (at shutdown, so graceful HTTP shutdown
    /// does not wait forever on endless MJPEG responses).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }
}

/// One viewer of one camera.
pub struct LiveViewer {
    frames: watch::Receiver<Option<Frame>>,
    closed: watch::Receiver<bool>,
    slot: Arc<Slot>,
}

impl LiveViewer {
    /// The latest frame not yet seen by this viewer, waiting for one if
    /// needed; `None` once the hub is closed.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if *self.closed.borrow() {
                return None;
            }
            if self.frames.has_changed().unwrap_or(false) {
                if let Some(f) = self.frames.borrow_and_update().clone() {
                    return Some(f);
                }
            }
            // `changed()` marks the new value as seen when it returns, so
            // take it here rather than asking `has_changed()` again.
            tokio::select! {
                r = self.frames.changed() => {
                    r.ok()?;
                    if let Some(f) = self.frames.borrow_and_update().clone() {
                        return Some(f);
                    }
                }
                r = self.closed.changed() => { r.ok()?; }
            }
        }
    }

    /// The latest frame, seen or not (to repeat it as a keep-alive).
    pub fn latest(&self) -> Option<Frame> {
        self.frames.borrow().clone()
    }

    /// Marks the current frame as seen, so the next call to
    /// [`Self::next_frame`] waits for a newer one.
    pub fn mark_seen(&mut self) {
        self.frames.borrow_and_update();
    }
}

impl Drop for LiveViewer {
    fn drop(&mut self) {
        self.slot.viewers.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use vigia_base::SimulatedClock;

    fn frame(cam: &str, seq: u64) -> Frame {
        Frame {
            camera: cam.parse().unwrap(),
            seq,
            captured_ms: seq as i64,
            width: 2,
            height: 2,
            jpeg: Bytes::from(vec![0xff, 0xd8, seq as u8, 0xff, 0xd9]),
        }
    }

    #[tokio::test]
    async fn latest_wins_and_status_follows_the_clock() {
        let clock = SimulatedClock::new(1_000);
        let hub = LiveHub::new(Arc::new(clock.clone()), 5_000);
        let cam: CameraId = "front".parse().unwrap();
        let mut v = hub.subscribe(&cam);
        assert_eq!(hub.cameras()[0].viewers, 1);
        assert!(!hub.cameras()[0].online);
        for seq in 0..100 {
            hub.publish(frame("front", seq));
        }
        // A slow viewer sees only the newest frame, not a backlog.
        assert_eq!(v.next_frame().await.unwrap().seq, 99);
        let st = &hub.cameras()[0];
        assert!(st.online);
        assert_eq!((st.frames, st.last_frame_ms), (100, Some(1_000)));
        clock.advance_ms(5_001);
        assert!(!hub.cameras()[0].online);
        drop(v);
        assert_eq!(hub.cameras()[0].viewers, 0);
    }

    /// Regression: a viewer waiting for the next frame used to miss every
    /// frame published while it waited (`changed()` had already marked it
    /// seen), so live views froze on their first frame.
    #[tokio::test]
    async fn a_waiting_viewer_gets_each_new_frame() {
        let hub = LiveHub::new(Arc::new(SimulatedClock::new(0)), 5_000);
        let cam: CameraId = "front".parse().unwrap();
        let mut v = hub.subscribe(&cam);
        for seq in 0..3 {
            let h = hub.clone();
            let publisher = tokio::spawn(async move {
                tokio::task::yield_now().await;
                h.publish(frame("front", seq));
            });
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), v.next_frame())
                .await
                .expect("a frame published while waiting is delivered");
            assert_eq!(got.unwrap().seq, seq);
            publisher.await.unwrap();
        }
    }

    /// Frames flow only while someone watches, so heartbeats alone keep an
    /// unwatched camera online; when both stop it goes offline.
    #[test]
    fn heartbeats_keep_a_camera_online_without_frames() {
        let clock = SimulatedClock::new(10_000);
        let hub = LiveHub::new(Arc::new(clock.clone()), 5_000);
        let cam: CameraId = "porch".parse().unwrap();
        hub.seen(&cam);
        let st = &hub.cameras()[0];
        assert_eq!(
            (st.online, st.last_seen_ms, st.last_frame_ms),
            (true, Some(10_000), None)
        );
        for _ in 0..3 {
            clock.advance_ms(4_000);
            hub.seen(&cam);
            assert!(hub.cameras()[0].online);
        }
        // A frame newer than the last heartbeat also counts.
        clock.advance_ms(4_000);
        hub.publish(frame("porch", 1));
        clock.advance_ms(4_000);
        let st = &hub.cameras()[0];
        assert!(st.online);
        assert_eq!(st.last_seen_ms, Some(22_000));
        clock.advance_ms(1_001);
        assert!(!hub.cameras()[0].online);
    }

    #[tokio::test]
    async fn close_ends_viewers_and_demand_is_watchable() {
        let hub = LiveHub::new(Arc::new(SimulatedClock::new(0)), 1);
        let cam: CameraId = "yard".parse().unwrap();
        let demand = hub.viewer_watch(&cam);
        let mut v = hub.subscribe(&cam);
        assert_eq!(*demand.borrow(), 1);
        let t = tokio::spawn(async move { v.next_frame().await.is_none() });
        tokio::task::yield_now().await;
        hub.close();
        assert!(t.await.unwrap());
        assert_eq!(*demand.borrow(), 0);
    }
}
