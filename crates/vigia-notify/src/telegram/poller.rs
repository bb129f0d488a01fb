//! Bot commands: long polling `getUpdates`, the allow-list, and the offset
//! that makes every update run at most once.
//!
//! Telegram re-sends an update until a later `getUpdates` names an offset
//! past it. The next offset is therefore written to a state file (temp
//! file, fsync, rename, fsync directory) *before* the batch's commands run:
//! after a crash in between, a command is lost rather than run twice, and a
//! duplicated `/disarm` or `/servo` is the worse failure for an alarm.
//! Messages from chats not on the allow-list get no answer at all, so the
//! bot does not even confirm to a stranger that it exists.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use vigia_base::{Backoff, Command, CommandSource, Shutdown};

use super::api::{BotApi, TelegramError, Update};
use super::sender::TelegramSender;
use crate::notice::{CommandReply, CommandRequest};

pub const HELP: &str = "vigia commands:\n/status — arming, uptime, backlog\n/arm, /disarm\n/snap — a photo now\n/clip — the latest clip\n/siren_off\n/servo ANGLE";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("telegram offset file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("telegram offset file {path}: {content:?} is not an update offset")]
    Corrupt { path: PathBuf, content: String },
}

/// The persisted `getUpdates` offset (last processed update_id + 1).
#[derive(Debug, Clone)]
pub struct OffsetStore {
    path: PathBuf,
}

impl OffsetStore {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn load(&self) -> Result<Option<i64>, StateError> {
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        text.trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| StateError::Corrupt {
                path: self.path.clone(),
                content: text.chars().take(40).collect(),
            })
    }

    /// Durable replace: temp file, fsync, rename, fsync the directory.
    pub fn save(&self, offset: i64) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        writeln!(f, "{offset}").map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
    }
}

/// What a chat message asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    Help,
    Command(Command),
    Bad(String),
}

/// `/arm`, `/servo 90`, `/arm@my_bot` (groups add the bot's name).
pub(crate) fn parse_message(text: &str) -> Parsed {
    let t = text.trim();
    let Some(rest) = t.strip_prefix('/') else {
        return Parsed::Help;
    };
    let (first, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let verb = first
        .split('@')
        .next()
        .unwrap_or(first)
        .to_ascii_lowercase();
    if verb == "start" || verb == "help" {
        return Parsed::Help;
    }
    match format!("{verb} {args}").parse::<Command>() {
        Ok(c) => Parsed::Command(c),
        Err(e) => Parsed::Bad(e.to_string()),
    }
}

pub(crate) struct Poller {
    pub api: BotApi,
    pub allow: HashSet<i64>,
    pub poll_timeout_s: u32,
    pub store: OffsetStore,
    pub commands: mpsc::Sender<CommandRequest>,
    pub sender: TelegramSender,
    pub shutdown: Shutdown,
    /// How long a chat waits for the node's answer.
    pub reply_timeout: Duration,
}

impl Poller {
    pub async fn run(self) {
        let (mut offset, mut skip_backlog) = match self.store.load() {
            Ok(o) => (o, false),
            Err(e) => {
                // Unknown position: commands waiting at Telegram may already
                // have run. Drop them instead of risking a second run.
                tracing::error!(error = %e, "telegram: skipping pending commands");
                (None, true)
            }
        };
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), 0x5eed);
        loop {
            let mut params = serde_json::json!({
                "timeout": self.poll_timeout_s,
                "allowed_updates": ["message"],
            });
            if skip_backlog {
                params["offset"] = (-1).into();
            } else if let Some(o) = offset {
                params["offset"] = o.into();
            }
            let poll = Duration::from_secs(u64::from(self.poll_timeout_s));
            let res = tokio::select! {
                _ = self.shutdown.wait() => return,
                r = self.api.call::<Vec<Update>>("getUpdates", &params, poll) => r,
            };
            let updates = match res {
                Ok(u) => {
                    backoff.reset();
                    u
                }
                Err(e) => {
                    let delay = match &e {
                        TelegramError::Api {
                            code: 429,
                            retry_after_s: Some(s),
                            ..
                        } => Duration::from_secs(*s),
                        _ => backoff.next_delay(),
                    };
                    tracing::warn!(error = %e, ?delay, "telegram: polling failed");
                    tokio::select! {
                        _ = self.shutdown.wait() => return,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            let Some(max_id) = updates.iter().map(|u| u.update_id).max() else {
                skip_backlog = false;
                continue;
            };
            let next = max_id + 1;
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || store.save(next)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "telegram: offset not saved; these commands may run again after a restart")
                }
                Err(e) => tracing::error!(error = %e, "telegram: offset writer failed"),
            }
            let from = offset;
            offset = Some(next);
            if skip_backlog {
                skip_backlog = false;
                continue;
            }
            // `from` drops updates confirmed by an earlier batch; `ran`
            // drops a repeat within this one.
            let mut ran = HashSet::new();
            for u in updates {
                // Telegram never resends a confirmed update; a misbehaving
                // proxy or API clone might, and a replay must not run.
                if from.is_some_and(|o| u.update_id < o) || !ran.insert(u.update_id) {
                    tracing::warn!(
                        update_id = u.update_id,
                        "telegram: ignoring a replayed update"
                    );
                    continue;
                }
                self.handle(u).await;
            }
        }
    }

    async fn handle(&self, u: Update) {
        let Some(msg) = u.message else { return };
        let chat = msg.chat.id;
        if !self.allow.contains(&chat) {
            tracing::warn!(
                chat,
                "telegram: ignoring a message from a chat not in telegram.chat_ids"
            );
            return;
        }
        let Some(text) = msg.text else { return };
        let command = match parse_message(&text) {
            Parsed::Help => {
                self.sender.reply(chat, CommandReply::Text(HELP.into()));
                return;
            }
            Parsed::Bad(e) => {
                self.sender
                    .reply(chat, CommandReply::Text(format!("{e}\n\n{HELP}")));
                return;
            }
            Parsed::Command(c) => c,
        };
        tracing::info!(chat, %command, "telegram: command");
        let (tx, rx) = oneshot::channel();
        let req = CommandRequest {
            command: command.clone(),
            source: CommandSource::Telegram,
            reply: Some(tx),
        };
        // Sent in order, before the next update is looked at, so `/arm`
        // then `/disarm` reach the node in that order.
        let sent = tokio::time::timeout(Duration::from_secs(5), self.commands.send(req)).await;
        let text = match sent {
            Ok(Ok(())) => {
                let sender = self.sender.clone();
                let wait = self.reply_timeout;
                tokio::spawn(async move {
                    let reply = match tokio::time::timeout(wait, rx).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(_)) => CommandReply::Text(format!("✓ {command}")),
                        Err(_) => CommandReply::Text(format!("{command}: no answer from the node")),
                    };
                    sender.reply(chat, reply);
                });
                return;
            }
            Ok(Err(_)) => "the node is not taking commands",
            Err(_) => "the node is busy; try again",
        };
        self.sender.reply(chat, CommandReply::Text(text.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_parse_into_commands() {
        assert_eq!(parse_message("/arm"), Parsed::Command(Command::Arm));
        assert_eq!(
            parse_message("/arm@vigia_bot"),
            Parsed::Command(Command::Arm)
        );
        assert_eq!(parse_message("/snap"), Parsed::Command(Command::Snapshot));
        assert_eq!(
            parse_message("/servo@vigia_bot  45"),
            Parsed::Command(Command::Servo { angle: 45.0 })
        );
        assert_eq!(
            parse_message("/siren_off"),
            Parsed::Command(Command::SirenOff)
        );
        assert_eq!(parse_message("/start"), Parsed::Help);
        assert_eq!(parse_message("hello"), Parsed::Help);
        assert!(matches!(parse_message("/servo left"), Parsed::Bad(_)));
        assert!(matches!(parse_message("/launch"), Parsed::Bad(_)));
    }

    #[test]
    fn offset_store_round_trips_and_reports_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = OffsetStore::new(dir.path().join("state/telegram.offset"));
        assert_eq!(s.load().expect("missing is fine"), None);
        s.save(41).expect("save");
        s.save(42).expect("save");
        assert_eq!(s.load().expect("load"), Some(42));
        assert!(!dir.path().join("state/telegram.tmp").exists());
        std::fs::write(dir.path().join("state/telegram.offset"), "4x2").expect("write");
        assert!(matches!(s.load(), Err(StateError::Corrupt { .. })));
    }
}
