//! vigia's notifications: Telegram, MQTT (with Home Assistant discovery),
//! signed webhooks, and the server's camera offline/online alerts.
//!
//! Start the configured channels with [`Notifications::start`] (node) or
//! [`Notifications::start_server`] (server alerts) and call the returned
//! [`NotifyHandle`]. The handle never waits on the network: every channel
//! has its own bounded queue and worker task, and a channel that is down
//! drops what does not fit (counted in [`NotifyStats`]), so a notification
//! failure can never stall recording or upload. Commands arriving from
//! Telegram or MQTT are parsed into [`vigia_base::Command`] and delivered
//! to the node as [`CommandRequest`]s.
//!
//! This crate does not know about the outbox, the link or the web: the
//! node and server feed it plain [`notice`] values.

mod alerts;
mod facade;
pub mod mqtt;
pub mod notice;
mod stats;
pub mod telegram;
#[cfg(test)]
mod testutil;
pub mod webhook;

pub use alerts::{LinkMonitor, LinkTracker};
pub use facade::{Notifications, NotifyError, NotifyHandle, TELEGRAM_OFFSET_FILE};
pub use notice::{
    CameraAlert, Clip, CommandReply, CommandRequest, EventNotice, FinishedEvent, Message, NodeState,
};
pub use stats::{ChannelStats, NotifyStats};
