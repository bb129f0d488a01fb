//! Telegram: photos and clips of armed events, text alerts, and bot
//! commands from an allow-listed set of chats.
//!
//! [`api`] speaks HTTP and owns the retry policy, [`sender`] the outgoing
//! lanes and the photo-before-clip rule, [`poller`] the incoming commands
//! and their persisted offset. `fake` (feature `fake-telegram`) is a fake
//! Bot API server to test all of it over loopback.

mod api;
#[cfg(any(test, feature = "fake-telegram"))]
pub mod fake;
mod poller;
mod sender;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigia_base::Shutdown;
use vigia_config::TelegramConfig;

pub use api::TelegramError;
pub use poller::{OffsetStore, StateError, HELP};
pub(crate) use sender::TelegramSender;

use crate::notice::CommandRequest;
use crate::stats::Counters;

/// How long a chat waits for the node's answer to a command.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Telegram {
    pub sender: TelegramSender,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Starts the sender lanes and, with `commands` and `cfg.commands`, the
/// command poller whose offset lives in `offset_file`.
pub(crate) fn start(
    cfg: &TelegramConfig,
    token: &str,
    offset_file: PathBuf,
    commands: Option<mpsc::Sender<CommandRequest>>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> Result<Telegram, TelegramError> {
    let api = api::BotApi::new(
        &cfg.api_url,
        token,
        Duration::from_millis(cfg.request_timeout_ms),
        Duration::from_millis(cfg.upload_timeout_ms),
    )?;
    let settings = sender::SenderSettings {
        chats: cfg.chat_ids.clone(),
        policy: api::RetryPolicy {
            max_attempts: cfg.max_attempts,
            max_rate_limited: 10,
        },
        max_upload_bytes: cfg.max_upload_bytes,
        server_url: cfg.server_url.clone(),
        queue_len: cfg.queue_len,
    };
    let (sender, mut tasks) =
        TelegramSender::start(api.clone(), settings, counters, shutdown.clone());
    if let (Some(commands), true) = (commands, cfg.commands) {
        let poller = poller::Poller {
            api,
            allow: cfg.chat_ids.iter().copied().collect::<HashSet<_>>(),
            poll_timeout_s: cfg.poll_timeout_s,
            store: OffsetStore::new(offset_file),
            commands,
            sender: sender.clone(),
            shutdown,
            reply_timeout: REPLY_TIMEOUT,
        };
        tasks.push(tokio::spawn(poller.run()));
    }
    Ok(Telegram { sender, tasks })
}
