//! Outgoing Telegram messages: two bounded lanes and the photo-before-clip
//! rule.
//!
//! The *urgent* lane carries snapshots, text and command replies; the *bulk*
//! lane carries clips. A 50 MB clip crawling up a camera's uplink must not
//! hold back the next intruder's photo, so the lanes run as separate tasks.
//! The price is that ordering between them is not free: the [`Ledger`]
//! remembers, per capture, whether its photo is queued or done, and the clip
//! of a capture waits for its photo (or sends the photo itself when there
//! is none queued: the start notice was dropped at a full queue, or the
//! caller's two calls raced). Either way the chat sees photo, then clip.
//!
//! Callers never wait: both lanes are bounded and `try_send` drops (and
//! counts) what does not fit.

use std::collections::{HashMap, VecDeque};
use std::io::{Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use vigia_base::{Backoff, CaptureId, Shutdown};

use super::api::{with_retry, BotApi, Media, RetryPolicy, SentMessage, TelegramError};
use crate::notice::{caption, capture_page, Clip, CommandReply, EventNotice, FinishedEvent};
use crate::stats::Counters;

/// Captures remembered by the ledger; older entries are forgotten (their
/// clips then resend the photo, which keeps the order at worst duplicated).
const LEDGER_CAPACITY: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhotoState {
    Queued,
    Done,
}

#[derive(Default)]
struct Ledger {
    map: Mutex<(HashMap<CaptureId, PhotoState>, VecDeque<CaptureId>)>,
    changed: Notify,
}

impl Ledger {
    fn with<R>(
        &self,
        f: impl FnOnce(&mut HashMap<CaptureId, PhotoState>, &mut VecDeque<CaptureId>) -> R,
    ) -> R {
        let mut g = match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (m, order) = &mut *g;
        f(m, order)
    }

    /// Claims the photo of `id` for `state`; false if someone already has.
    fn claim(&self, id: &CaptureId, state: PhotoState) -> bool {
        self.with(|m, order| {
            if m.contains_key(id) {
                return false;
            }
            m.insert(id.clone(), state);
            order.push_back(id.clone());
            while order.len() > LEDGER_CAPACITY {
                if let Some(old) = order.pop_front() {
                    m.remove(&old);
                }
            }
            true
        })
    }

    fn get(&self, id: &CaptureId) -> Option<PhotoState> {
        self.with(|m, _| m.get(id).copied())
    }

    fn set_done(&self, id: &CaptureId) {
        self.with(|m, _| {
            if let Some(s) = m.get_mut(id) {
                *s = PhotoState::Done;
            }
        });
        self.changed.notify_waiters();
    }

    fn forget(&self, id: &CaptureId) {
        self.with(|m, order| {
            m.remove(id);
            order.retain(|x| x != id);
        });
        self.changed.notify_waiters();
    }
}

enum Job {
    Photo(Arc<EventNotice>),
    Clip(Box<FinishedEvent>),
    Text { to: Vec<i64>, text: String },
    Reply { chat: i64, reply: CommandReply },
}

pub(crate) struct SenderSettings {
    pub chats: Vec<i64>,
    pub policy: RetryPolicy,
    pub max_upload_bytes: u64,
    pub server_url: Option<String>,
    pub queue_len: usize,
}

struct Worker {
    api: BotApi,
    s: Arc<SenderSettings>,
    ledger: Arc<Ledger>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    backoff: Backoff,
}

/// The caller's side of the two lanes. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct TelegramSender {
    urgent: mpsc::Sender<Job>,
    bulk: mpsc::Sender<Job>,
    ledger: Arc<Ledger>,
    counters: Arc<Counters>,
    chats: Arc<Vec<i64>>,
}

impl TelegramSender {
    pub fn start(
        api: BotApi,
        settings: SenderSettings,
        counters: Arc<Counters>,
        shutdown: Shutdown,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let (urgent_tx, urgent_rx) = mpsc::channel(settings.queue_len);
        let (bulk_tx, bulk_rx) = mpsc::channel(settings.queue_len.div_ceil(4).max(2));
        let ledger = Arc::new(Ledger::default());
        let chats = Arc::new(settings.chats.clone());
        let s = Arc::new(settings);
        let worker = |seed| Worker {
            api: api.clone(),
            s: s.clone(),
            ledger: ledger.clone(),
            counters: counters.clone(),
            shutdown: shutdown.clone(),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(60), seed),
        };
        let tasks = vec![
            tokio::spawn(worker(0x7e1e).run(urgent_rx)),
            tokio::spawn(worker(0xb01c).run(bulk_rx)),
        ];
        (
            Self {
                urgent: urgent_tx,
                bulk: bulk_tx,
                ledger,
                counters,
                chats,
            },
            tasks,
        )
    }

    fn push(&self, lane: &mpsc::Sender<Job>, job: Job) -> bool {
        match lane.try_send(job) {
            Ok(()) => true,
            Err(_) => {
                Counters::inc(&self.counters.dropped);
                tracing::warn!("telegram: queue full, notification dropped");
                false
            }
        }
    }

    pub fn event_started(&self, e: Arc<EventNotice>) {
        let id = e.capture_id.clone();
        if self.ledger.claim(&id, PhotoState::Queued) && !self.push(&self.urgent, Job::Photo(e)) {
            // Nobody will send it now; let the clip send it.
            self.ledger.forget(&id);
        }
    }

    pub fn event_finished(&self, f: FinishedEvent) {
        self.push(&self.bulk, Job::Clip(Box::new(f)));
    }

    /// Text to every allowed chat.
    pub fn broadcast(&self, text: String) {
        let to = self.chats.to_vec();
        self.push(&self.urgent, Job::Text { to, text });
    }

    pub fn reply(&self, chat: i64, reply: CommandReply) {
        let lane = match reply {
            CommandReply::Video { .. } => &self.bulk,
            _ => &self.urgent,
        };
        self.push(lane, Job::Reply { chat, reply });
    }
}

/// A clip opened once: retries and further chats reread the same open file,
/// so the outbox deleting the path meanwhile does not matter.
enum OpenClip {
    File(std::fs::File, u64),
    Bytes(Bytes),
}

impl OpenClip {
    async fn open(clip: &Clip) -> Result<Self, TelegramError> {
        match clip {
            Clip::Bytes(b) => Ok(OpenClip::Bytes(b.clone())),
            Clip::File(path) => {
                let p = path.clone();
                let err = |source| TelegramError::Clip {
                    path: path.clone(),
                    source,
                };
                let f = tokio::task::spawn_blocking(move || {
                    let f = std::fs::File::open(&p)?;
                    let len = f.metadata()?.len();
                    Ok::<_, std::io::Error>((f, len))
                })
                .await
                .map_err(|e| err(std::io::Error::other(e)))?
                .map_err(err)?;
                Ok(OpenClip::File(f.0, f.1))
            }
        }
    }

    fn len(&self) -> u64 {
        match self {
            OpenClip::File(_, len) => *len,
            OpenClip::Bytes(b) => b.len() as u64,
        }
    }

    fn media(&self) -> std::io::Result<Media> {
        Ok(match self {
            OpenClip::Bytes(b) => Media::Bytes {
                data: b.clone(),
                file_name: "clip.mp4",
                mime: "video/mp4",
            },
            OpenClip::File(f, len) => {
                let mut f = f.try_clone()?;
                f.seek(SeekFrom::Start(0))?;
                Media::File {
                    file: tokio::fs::File::from_std(f),
                    len: *len,
                    file_name: "clip.mp4",
                    mime: "video/mp4",
                }
            }
        })
    }
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        loop {
            let job = tokio::select! {
                _ = self.shutdown.wait() => return,
                j = rx.recv() => match j { Some(j) => j, None => return },
            };
            match job {
                Job::Photo(e) => self.photo(&e).await,
                Job::Clip(f) => self.clip(*f).await,
                Job::Text { to, text } => {
                    for chat in to {
                        self.text(chat, &text).await;
                    }
                }
                Job::Reply { chat, reply } => match reply {
                    CommandReply::Text(t) => self.text(chat, &t).await,
                    CommandReply::Photo { jpeg, caption } => {
                        self.upload_photo(&[chat], &jpeg, &caption).await;
                    }
                    CommandReply::Video { clip, caption } => {
                        self.upload_clip(&[chat], &clip, &caption, None).await;
                    }
                },
            }
        }
    }

    fn policy(&self) -> RetryPolicy {
        self.s.policy
    }

    /// Records the outcome of one message.
    fn outcome<T>(&self, what: &str, chat: i64, r: Result<T, TelegramError>) -> Option<T> {
        match r {
            Ok(v) => {
                Counters::inc(&self.counters.sent);
                Some(v)
            }
            Err(TelegramError::Shutdown { .. }) => None,
            Err(e) => {
                Counters::inc(&self.counters.failed);
                tracing::warn!(chat, error = %e, "telegram: {what} not sent");
                None
            }
        }
    }

    async fn text(&mut self, chat: i64, text: &str) {
        let params = serde_json::json!({ "chat_id": chat, "text": text });
        let api = self.api.clone();
        let counters = self.counters.clone();
        let r = with_retry(
            &api,
            self.policy(),
            &mut self.backoff,
            &self.shutdown,
            "sendMessage",
            |_| Counters::inc(&counters.retries),
            || api.call::<serde_json::Value>("sendMessage", &params, Duration::ZERO),
        )
        .await;
        self.outcome("message", chat, r);
    }

    async fn upload_photo(&mut self, chats: &[i64], jpeg: &Bytes, caption: &str) {
        let mut file_id: Option<String> = None;
        for &chat in chats {
            let api = self.api.clone();
            let counters = self.counters.clone();
            let r = with_retry(
                &api,
                self.policy(),
                &mut self.backoff,
                &self.shutdown,
                "sendPhoto",
                |_| Counters::inc(&counters.retries),
                || {
                    let media = match &file_id {
                        Some(id) => Media::FileId(id.clone()),
                        None => Media::Bytes {
                            data: jpeg.clone(),
                            file_name: "snapshot.jpg",
                            mime: "image/jpeg",
                        },
                    };
                    api.upload("sendPhoto", "photo", chat, caption, media)
                },
            )
            .await;
            if let Some(sent) = self.outcome("photo", chat, r) {
                file_id = file_id.or_else(|| SentMessage::photo_file_id(&sent));
            }
            if self.shutdown.is_triggered() {
                return;
            }
        }
    }

    async fn photo(&mut self, e: &EventNotice) {
        // The clip lane may have sent it already (it found no queued photo).
        if self.ledger.get(&e.capture_id) != Some(PhotoState::Queued) {
            return;
        }
        let chats = self.s.chats.clone();
        self.upload_photo(&chats, &e.snapshot_jpeg, &caption(e))
            .await;
        // Done even on failure: the clip must not wait for a photo that
        // will never come.
        self.ledger.set_done(&e.capture_id);
    }

    /// Waits until the photo of `id` is sent, or claims it (true: the
    /// caller sends it).
    async fn photo_first(&self, id: &CaptureId) -> bool {
        loop {
            let changed = self.ledger.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.ledger.get(id) {
                Some(PhotoState::Done) => return false,
                None => {
                    if self.ledger.claim(id, PhotoState::Done) {
                        return true;
                    }
                }
                Some(PhotoState::Queued) => {
                    tokio::select! {
                        _ = self.shutdown.wait() => return false,
                        _ = changed => {}
                    }
                }
            }
        }
    }

    async fn clip(&mut self, f: FinishedEvent) {
        let e = &f.event;
        let chats = self.s.chats.clone();
        if self.photo_first(&e.capture_id).await {
            self.upload_photo(&chats, &e.snapshot_jpeg, &caption(e))
                .await;
        }
        if let Some(clip) = &f.clip {
            let link = f.capture_url.clone().or_else(|| {
                self.s
                    .server_url
                    .as_deref()
                    .map(|u| capture_page(u, &e.capture_id))
            });
            let secs = (f.end_ms - e.time_ms).max(0) as f64 / 1000.0;
            let cap = format!("{} ({secs:.0} s)", caption(e));
            self.upload_clip(&chats, clip, &cap, link).await;
        }
        // The entry stays (Done) until evicted, so a start notice arriving
        // after all this still finds its photo sent and is not sent again.
    }

    async fn upload_clip(&mut self, chats: &[i64], clip: &Clip, cap: &str, link: Option<String>) {
        let open = match OpenClip::open(clip).await {
            Ok(o) => o,
            Err(e) => {
                Counters::inc(&self.counters.failed);
                tracing::warn!(error = %e, "telegram: clip not sent");
                return;
            }
        };
        if open.len() > self.s.max_upload_bytes {
            let mb = open.len() as f64 / 1e6;
            let text = match link {
                Some(l) => format!("{cap}\nThe clip ({mb:.1} MB) is too large for Telegram: {l}"),
                None => format!(
                    "{cap}\nThe clip ({mb:.1} MB) is too large for Telegram; see the server."
                ),
            };
            for &chat in chats {
                self.text(chat, &text).await;
            }
            return;
        }
        let mut file_id: Option<String> = None;
        for &chat in chats {
            let api = self.api.clone();
            let counters = self.counters.clone();
            let open = &open;
            let r = with_retry(
                &api,
                self.policy(),
                &mut self.backoff,
                &self.shutdown,
                "sendVideo",
                |_| Counters::inc(&counters.retries),
                || {
                    let media = match &file_id {
                        Some(id) => Ok(Media::FileId(id.clone())),
                        None => open.media(),
                    };
                    let api = api.clone();
                    async move {
                        let media = media.map_err(|source| TelegramError::Clip {
                            path: "clip".into(),
                            source,
                        })?;
                        api.upload("sendVideo", "video", chat, cap, media).await
                    }
                },
            )
            .await;
            if let Some(sent) = self.outcome("clip", chat, r) {
                file_id = file_id.or_else(|| sent.video_file_id());
            }
            if self.shutdown.is_triggered() {
                return;
            }
        }
    }
}
