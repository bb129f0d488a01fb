//! The one entry point: start the configured channels, get a handle whose
//! methods never wait.
//!
//! Every method of [`NotifyHandle`] hands its message to each channel's
//! bounded queue with `try_send` and returns; a dead Telegram, broker or
//! webhook receiver fills its own queue and drops (counted), and recording
//! and upload never notice. Shutdown: trigger the token, then
//! [`NotifyHandle::join`] waits for the workers (the MQTT task publishes
//! `offline` and disconnects cleanly on the way out).

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigia_base::{CameraId, Shutdown};
use vigia_config::{AlertsConfig, NotifyConfig};

use crate::mqtt::{self, MqttPublisher, Role};
use crate::notice::{
    CameraAlert, CommandReply, CommandRequest, EventNotice, FinishedEvent, Message, NodeState,
};
use crate::stats::{Counters, NotifyStats};
use crate::telegram::{self, TelegramError, TelegramSender};
use crate::webhook::{self, WebhookError, WebhookSender};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Secret(#[from] vigia_config::ConfigError),
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

/// File (in the node's state directory) holding the Telegram update offset.
pub const TELEGRAM_OFFSET_FILE: &str = "telegram.offset";

struct Inner {
    telegram: Option<TelegramSender>,
    mqtt: Option<MqttPublisher>,
    webhook: Option<WebhookSender>,
    counters: [Arc<Counters>; 3],
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The caller's side of every channel. Cheap to clone; all methods return
/// at once.
#[derive(Clone)]
pub struct NotifyHandle {
    inner: Arc<Inner>,
}

/// Starts notification channels.
pub struct Notifications;

impl Notifications {
    /// A node's channels: Telegram (photos, clips, bot commands), MQTT
    /// (events, state, discovery, commands), webhook. Commands from Telegram
    /// and MQTT go to `commands`; `state_dir` keeps the Telegram offset.
    /// Must be called within a tokio runtime.
    pub fn start(
        cfg: &NotifyConfig,
        camera: CameraId,
        state_dir: &Path,
        commands: mpsc::Sender<CommandRequest>,
        shutdown: Shutdown,
    ) -> Result<NotifyHandle, NotifyError> {
        start_inner(cfg, "", Some((camera, commands)), Some(state_dir), shutdown)
    }

    /// The server's alert channels (`[alerts]`): camera offline/online to
    /// Telegram (no bot commands), MQTT and the webhook.
    pub fn start_server(
        cfg: &AlertsConfig,
        shutdown: Shutdown,
    ) -> Result<NotifyHandle, NotifyError> {
        start_inner(&cfg.notify, "alerts.", None, None, shutdown)
    }
}

fn start_inner(
    cfg: &NotifyConfig,
    prefix: &str,
    node: Option<(CameraId, mpsc::Sender<CommandRequest>)>,
    state_dir: Option<&Path>,
    shutdown: Shutdown,
) -> Result<NotifyHandle, NotifyError> {
    let counters = [Counters::new(), Counters::new(), Counters::new()];
    let mut tasks = Vec::new();
    // Resolve every secret first: a missing variable fails start-up before
    // any task runs.
    let tg_token = cfg
        .telegram
        .as_ref()
        .map(|t| t.token.resolve(&format!("{prefix}telegram.token_env")))
        .transpose()?;
    let mqtt_password = cfg
        .mqtt
        .as_ref()
        .and_then(|m| m.password.as_ref())
        .map(|p| p.resolve(&format!("{prefix}mqtt.password_env")))
        .transpose()?;
    let webhook_secret = cfg
        .webhook
        .as_ref()
        .map(|w| w.secret.resolve(&format!("{prefix}webhook.secret_env")))
        .transpose()?;

    let telegram = match (&cfg.telegram, tg_token) {
        (Some(t), Some(token)) => {
            let offset_file = state_dir
                .unwrap_or(Path::new("."))
                .join(TELEGRAM_OFFSET_FILE);
            let commands = match (&node, state_dir) {
                (Some((_, c)), Some(_)) => Some(c.clone()),
                _ => None,
            };
            let tg = telegram::start(
                t,
                &token,
                offset_file,
                commands,
                counters[0].clone(),
                shutdown.clone(),
            )?;
            tasks.extend(tg.tasks);
            Some(tg.sender)
        }
        _ => None,
    };
    let mqtt = cfg.mqtt.as_ref().map(|m| {
        let role = match &node {
            Some((camera, commands)) => Role::Node {
                camera: camera.clone(),
                commands: Some(commands.clone()),
            },
            None => Role::Server,
        };
        let (p, task) = mqtt::start(
            m,
            mqtt_password.clone(),
            role,
            counters[1].clone(),
            shutdown.clone(),
        );
        tasks.push(task);
        p
    });
    let webhook = match (&cfg.webhook, webhook_secret) {
        (Some(w), Some(secret)) => {
            let (s, task) = webhook::start(w, secret, counters[2].clone(), shutdown.clone())?;
            tasks.push(task);
            Some(s)
        }
        _ => None,
    };
    Ok(NotifyHandle {
        inner: Arc::new(Inner {
            telegram,
            mqtt,
            webhook,
            counters,
            tasks: Mutex::new(tasks),
        }),
    })
}

impl NotifyHandle {
    /// An event started: photo to Telegram (armed only), event JSON and
    /// snapshot on MQTT, webhook POST.
    pub fn event_started(&self, e: EventNotice) {
        let i = &self.inner;
        if let Some(m) = &i.mqtt {
            m.event_started(&e);
        }
        if let Some(w) = &i.webhook {
            w.post(Message::started(&e).to_json());
        }
        if let (Some(t), true) = (&i.telegram, e.armed) {
            t.event_started(Arc::new(e));
        }
    }

    /// An event ended: the clip to Telegram (armed only; after its photo),
    /// event JSON on MQTT, webhook POST.
    pub fn event_finished(&self, f: FinishedEvent) {
        let i = &self.inner;
        if let Some(m) = &i.mqtt {
            m.event_finished(&f);
        }
        if let Some(w) = &i.webhook {
            w.post(Message::finished(&f, f.capture_url.clone()).to_json());
        }
        if let (Some(t), true) = (&i.telegram, f.event.armed) {
            t.event_finished(f);
        }
    }

    /// The node's state changed (MQTT state topics, retained).
    pub fn state(&self, s: NodeState) {
        if let Some(m) = &self.inner.mqtt {
            m.state(s);
        }
    }

    /// A snapshot outside an event: refreshes the MQTT camera entity.
    pub fn snapshot(&self, jpeg: bytes::Bytes) {
        if let Some(m) = &self.inner.mqtt {
            m.snapshot(&jpeg);
        }
    }

    /// Text to every allowed Telegram chat (e.g. "armed from the IR remote").
    pub fn telegram_text(&self, text: String) {
        if let Some(t) = &self.inner.telegram {
            t.broadcast(text);
        }
    }

    /// Sends a command reply to one chat (for answers the node gives later).
    pub fn telegram_reply(&self, chat: i64, reply: CommandReply) {
        if let Some(t) = &self.inner.telegram {
            t.reply(chat, reply);
        }
    }

    /// A camera went offline or came back: every channel.
    pub fn alert(&self, a: CameraAlert) {
        let i = &self.inner;
        if let Some(t) = &i.telegram {
            t.broadcast(a.text());
        }
        if let Some(m) = &i.mqtt {
            m.alert(&a);
        }
        if let Some(w) = &i.webhook {
            w.post(Message::alert(&a).to_json());
        }
    }

    pub fn stats(&self) -> NotifyStats {
        let c = &self.inner.counters;
        NotifyStats {
            telegram: c[0].snapshot(),
            mqtt: c[1].snapshot(),
            webhook: c[2].snapshot(),
        }
    }

    /// Waits for the worker tasks; they end once the shutdown token fires.
    pub async fn join(&self) {
        let tasks: Vec<_> = match self.inner.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(p) => p.into_inner().drain(..).collect(),
        };
        for t in tasks {
            let _ = t.await;
        }
    }
}
