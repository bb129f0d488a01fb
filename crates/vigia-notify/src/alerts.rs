//! Camera offline / back-online alerts, on the server.
//!
//! A stolen or cut camera is the moment the user most needs to hear from
//! the system, and the node cannot say it itself. The server watches each
//! node's heartbeats: [`LinkTracker`] is the pure rule (times in, alerts
//! out: `Offline` once when heartbeats stop for the timeout, `Online` once
//! when they resume, with the captures the node still has to upload), and
//! [`LinkMonitor`] runs it against a clock and fans the alerts out through
//! a [`NotifyHandle`](crate::NotifyHandle).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use vigia_base::{CameraId, Clock, Shutdown};

use crate::facade::NotifyHandle;
use crate::notice::CameraAlert;

#[derive(Debug, Clone, Copy)]
struct Seen {
    last_ms: i64,
    offline: bool,
}

/// Per-camera heartbeat bookkeeping. No I/O, no clock of its own.
#[derive(Debug, Clone)]
pub struct LinkTracker {
    offline_after_ms: i64,
    cameras: BTreeMap<CameraId, Seen>,
}

impl LinkTracker {
    pub fn new(offline_after_ms: i64) -> Self {
        Self {
            offline_after_ms: offline_after_ms.max(1),
            cameras: BTreeMap::new(),
        }
    }

    /// A camera known to exist (e.g. from the database) but not heard from
    /// since `now_ms`: it is reported offline if it stays silent, so a
    /// camera cut while the server was down is not missed.
    pub fn expect(&mut self, camera: CameraId, now_ms: i64) {
        self.cameras.entry(camera).or_insert(Seen {
            last_ms: now_ms,
            offline: false,
        });
    }

    /// A heartbeat (or any sign of life) from `camera`. Returns `Online`
    /// when the camera had been reported offline.
    pub fn heartbeat(
        &mut self,
        camera: &CameraId,
        now_ms: i64,
        pending_captures: u64,
    ) -> Option<CameraAlert> {
        let seen = self.cameras.entry(camera.clone()).or_insert(Seen {
            last_ms: now_ms,
            offline: false,
        });
        let alert = seen.offline.then(|| CameraAlert::Online {
            camera: camera.clone(),
            last_seen_ms: seen.last_ms,
            now_ms,
            late_captures: pending_captures,
        });
        seen.offline = false;
        seen.last_ms = seen.last_ms.max(now_ms);
        alert
    }

    /// `Offline` for every camera silent for the timeout, once each.
    pub fn check(&mut self, now_ms: i64) -> Vec<CameraAlert> {
        let mut out = Vec::new();
        for (camera, seen) in &mut self.cameras {
            if !seen.offline && now_ms - seen.last_ms >= self.offline_after_ms {
                seen.offline = true;
                out.push(CameraAlert::Offline {
                    camera: camera.clone(),
                    last_seen_ms: seen.last_ms,
                });
            }
        }
        out
    }

    pub fn is_offline(&self, camera: &CameraId) -> bool {
        self.cameras.get(camera).is_some_and(|s| s.offline)
    }

    /// Stop watching a camera (removed from the server).
    pub fn forget(&mut self, camera: &CameraId) {
        self.cameras.remove(camera);
    }
}

/// A [`LinkTracker`] driven by a clock, sending its alerts.
#[derive(Clone)]
pub struct LinkMonitor {
    tracker: Arc<Mutex<LinkTracker>>,
    clock: Arc<dyn Clock>,
    out: NotifyHandle,
}

impl LinkMonitor {
    /// Checks for silent cameras every second (or a quarter of the timeout
    /// if shorter) until shutdown.
    pub fn start(
        offline_after_ms: i64,
        clock: Arc<dyn Clock>,
        out: NotifyHandle,
        shutdown: Shutdown,
    ) -> (Self, JoinHandle<()>) {
        let m = Self {
            tracker: Arc::new(Mutex::new(LinkTracker::new(offline_after_ms))),
            clock,
            out,
        };
        let tick = Duration::from_millis((offline_after_ms / 4).clamp(10, 1000) as u64);
        let me = m.clone();
        let task = tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = iv.tick() => {}
                }
                let now = me.clock.now_ms();
                for a in me.with(|t| t.check(now)) {
                    tracing::warn!(camera = %a.camera(), "camera offline");
                    me.out.alert(a);
                }
            }
        });
        (m, task)
    }

    fn with<R>(&self, f: impl FnOnce(&mut LinkTracker) -> R) -> R {
        let mut g = match self.tracker.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    pub fn expect(&self, camera: CameraId) {
        let now = self.clock.now_ms();
        self.with(|t| t.expect(camera, now));
    }

    pub fn heartbeat(&self, camera: &CameraId, pending_captures: u64) {
        let now = self.clock.now_ms();
        if let Some(a) = self.with(|t| t.heartbeat(camera, now, pending_captures)) {
            tracing::info!(camera = %camera, "camera back online");
            self.out.alert(a);
        }
    }

    pub fn is_offline(&self, camera: &CameraId) -> bool {
        self.with(|t| t.is_offline(camera))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(s: &str) -> CameraId {
        s.parse().expect("camera id")
    }

    #[test]
    fn offline_once_then_online_once_with_late_captures() {
        let mut t = LinkTracker::new(30_000);
        let porch = cam("porch");
        assert_eq!(t.heartbeat(&porch, 1_000, 0), None);
        assert_eq!(t.check(30_999), vec![]);
        assert_eq!(
            t.check(31_000),
            vec![CameraAlert::Offline {
                camera: porch.clone(),
                last_seen_ms: 1_000
            }]
        );
        assert!(t.is_offline(&porch));
        assert_eq!(t.check(90_000), vec![], "offline is reported once");
        assert_eq!(
            t.heartbeat(&porch, 95_000, 3),
            Some(CameraAlert::Online {
                camera: porch.clone(),
                last_seen_ms: 1_000,
                now_ms: 95_000,
                late_captures: 3
            })
        );
        assert_eq!(
            t.heartbeat(&porch, 96_000, 2),
            None,
            "online is reported once"
        );
        assert_eq!(t.check(100_000), vec![]);
    }

    #[test]
    fn cameras_are_independent_and_expected_ones_are_watched() {
        let mut t = LinkTracker::new(10_000);
        t.expect(cam("garage"), 0);
        t.heartbeat(&cam("porch"), 5_000, 0);
        let a = t.check(10_000);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].camera().as_str(), "garage");
        t.heartbeat(&cam("porch"), 14_000, 0);
        assert_eq!(t.check(20_000), vec![]);
        // A late, out-of-order heartbeat does not move last-seen backwards.
        t.heartbeat(&cam("porch"), 13_000, 0);
        assert_eq!(t.check(23_999), vec![]);
        assert_eq!(t.check(24_000).len(), 1);
        t.forget(&cam("garage"));
        assert!(!t.is_offline(&cam("garage")));
    }

    /// The monitor turns heartbeats and clock time into Telegram messages.
    #[tokio::test]
    async fn monitor_fans_alerts_out_to_telegram() {
        use crate::telegram::fake::FakeTelegram;
        let token = "42:alerts";
        let fake = FakeTelegram::start(token).await.expect("fake");
        let cfg = vigia_config::AlertsConfig {
            offline_after_ms: 400,
            notify: vigia_config::NotifyConfig {
                telegram: Some(vigia_config::TelegramConfig {
                    token: vigia_config::Secret::Inline(token.into()),
                    chat_ids: vec![7],
                    api_url: fake.base_url(),
                    commands: true,
                    poll_timeout_s: 1,
                    server_url: None,
                    max_upload_bytes: 1 << 20,
                    request_timeout_ms: 2_000,
                    upload_timeout_ms: 2_000,
                    max_attempts: 2,
                    queue_len: 8,
                }),
                ..Default::default()
            },
        };
        let shutdown = Shutdown::new();
        let out = crate::Notifications::start_server(&cfg, shutdown.clone()).expect("start");
        let clock = vigia_base::SimulatedClock::new(1_000_000);
        let (m, task) = LinkMonitor::start(
            cfg.offline_after_ms,
            Arc::new(clock.clone()),
            out.clone(),
            shutdown.clone(),
        );
        let porch = cam("porch");
        m.heartbeat(&porch, 0);
        clock.advance_ms(400);
        let texts = |n: usize| {
            let fake = &fake;
            async move {
                assert!(
                    fake.wait_until(Duration::from_secs(10), |r| r
                        .iter()
                        .filter(|r| r.method == "sendMessage" && r.status == 200)
                        .count()
                        >= n)
                        .await
                );
                fake.accepted("sendMessage")
            }
        };
        let sent = texts(1).await;
        assert!(m.is_offline(&porch));
        assert_eq!(sent[0].chat_id(), Some(7));
        assert!(
            sent[0].params["text"].contains("porch is offline"),
            "{:?}",
            sent[0].params
        );
        clock.advance_ms(60_000);
        m.heartbeat(&porch, 4);
        let sent = texts(2).await;
        assert!(
            sent[1].params["text"].contains("back online after 60 s; 4 capture(s) arriving late"),
            "{:?}",
            sent[1].params
        );
        // The server never polls for commands.
        assert!(!fake.requests().iter().any(|r| r.method == "getUpdates"));
        shutdown.trigger();
        task.await.expect("monitor ends");
        out.join().await;
    }
}
