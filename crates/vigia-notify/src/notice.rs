//! What the node and the server tell this crate, and what it tells them
//! back: event notices, node state, camera alerts, and commands with their
//! replies.
//!
//! These are plain data. The JSON form of events and alerts ([`Message`])
//! is shared by MQTT and the webhook so a consumer sees the same document
//! on both.

use std::path::PathBuf;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::oneshot;
use vigia_base::clock::format_utc_ms;
use vigia_base::{CameraId, CaptureId, Command, CommandSource};

/// The start of an event, with its snapshot.
#[derive(Debug, Clone)]
pub struct EventNotice {
    pub camera: CameraId,
    pub capture_id: CaptureId,
    /// Trigger time, ms since the Unix epoch (UTC).
    pub time_ms: i64,
    /// `person`, `animal` or `motion`.
    pub label: String,
    /// Whether the node was armed when the event started: only armed events
    /// go to Telegram; MQTT and the webhook report every event with this flag.
    pub armed: bool,
    pub snapshot_jpeg: Bytes,
}

/// The clip of a finished event.
#[derive(Debug, Clone)]
pub enum Clip {
    /// An MP4 file; opened once when its upload starts, so the outbox may
    /// delete it afterwards without breaking retries.
    File(PathBuf),
    Bytes(Bytes),
}

/// The end of an event.
#[derive(Debug, Clone)]
pub struct FinishedEvent {
    pub event: EventNotice,
    pub end_ms: i64,
    pub clip: Option<Clip>,
    /// The capture's page on the server; sent instead of a clip that is too
    /// large to upload. Without it, `telegram.server_url` builds one.
    pub capture_url: Option<String>,
}

/// The node's state as shown on MQTT state topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeState {
    pub armed: bool,
    /// Software motion or PIR trigger is active.
    pub motion: bool,
    /// The current event has been classified as a person.
    pub person: bool,
    /// Captures in the outbox, not yet acknowledged by the server.
    pub backlog_captures: u64,
}

/// A camera's link to the server stopped or came back (server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraAlert {
    Offline {
        camera: CameraId,
        last_seen_ms: i64,
    },
    Online {
        camera: CameraId,
        /// When it went silent (its last heartbeat before the gap).
        last_seen_ms: i64,
        now_ms: i64,
        /// Captures the node still holds and will upload late.
        late_captures: u64,
    },
}

impl CameraAlert {
    pub fn camera(&self) -> &CameraId {
        match self {
            CameraAlert::Offline { camera, .. } | CameraAlert::Online { camera, .. } => camera,
        }
    }

    /// One-line text for chat messages.
    pub fn text(&self) -> String {
        match self {
            CameraAlert::Offline {
                camera,
                last_seen_ms,
            } => format!(
                "⚠️ {camera} is offline: no heartbeat since {}",
                format_utc_ms(*last_seen_ms)
            ),
            CameraAlert::Online {
                camera,
                last_seen_ms,
                now_ms,
                late_captures,
            } => format!(
                "✅ {camera} is back online after {} s; {late_captures} capture(s) arriving late",
                (now_ms - last_seen_ms).max(0) / 1000
            ),
        }
    }
}

/// A command for the node from Telegram or MQTT.
#[derive(Debug)]
pub struct CommandRequest {
    pub command: Command,
    pub source: CommandSource,
    /// Telegram waits for an answer to send back to the chat; MQTT does not.
    /// Dropping it without sending answers "done".
    pub reply: Option<oneshot::Sender<CommandReply>>,
}

/// The node's answer to a command.
#[derive(Debug)]
pub enum CommandReply {
    Text(String),
    /// `/snap`: the snapshot itself.
    Photo {
        jpeg: Bytes,
        caption: String,
    },
    /// `/clip`: the latest clip.
    Video {
        clip: Clip,
        caption: String,
    },
}

/// The JSON document published on MQTT and POSTed to the webhook.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    EventStarted {
        camera: String,
        capture_id: String,
        time: String,
        time_ms: i64,
        label: String,
        armed: bool,
    },
    EventFinished {
        camera: String,
        capture_id: String,
        time: String,
        time_ms: i64,
        end_ms: i64,
        label: String,
        armed: bool,
        capture_url: Option<String>,
    },
    CameraOffline {
        camera: String,
        last_seen: String,
        last_seen_ms: i64,
    },
    CameraOnline {
        camera: String,
        offline_for_ms: i64,
        late_captures: u64,
    },
}

impl Message {
    pub fn started(e: &EventNotice) -> Self {
        Message::EventStarted {
            camera: e.camera.to_string(),
            capture_id: e.capture_id.to_string(),
            time: format_utc_ms(e.time_ms),
            time_ms: e.time_ms,
            label: e.label.clone(),
            armed: e.armed,
        }
    }

    pub fn finished(f: &FinishedEvent, capture_url: Option<String>) -> Self {
        let e = &f.event;
        Message::EventFinished {
            camera: e.camera.to_string(),
            capture_id: e.capture_id.to_string(),
            time: format_utc_ms(e.time_ms),
            time_ms: e.time_ms,
            end_ms: f.end_ms,
            label: e.label.clone(),
            armed: e.armed,
            capture_url,
        }
    }

    pub fn alert(a: &CameraAlert) -> Self {
        match a {
            CameraAlert::Offline {
                camera,
                last_seen_ms,
            } => Message::CameraOffline {
                camera: camera.to_string(),
                last_seen: format_utc_ms(*last_seen_ms),
                last_seen_ms: *last_seen_ms,
            },
            CameraAlert::Online {
                camera,
                last_seen_ms,
                now_ms,
                late_captures,
            } => Message::CameraOnline {
                camera: camera.to_string(),
                offline_for_ms: (now_ms - last_seen_ms).max(0),
                late_captures: *late_captures,
            },
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these plain structs cannot fail; an empty object keeps
        // the signature well-defined if it ever did.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// The photo caption: camera, label, time.
pub fn caption(e: &EventNotice) -> String {
    format!(
        "🚨 {} — {} at {}",
        e.camera,
        e.label,
        format_utc_ms(e.time_ms)
    )
}

/// The capture page on the server, `<server_url>/captures/<id>`.
pub fn capture_page(server_url: &str, id: &CaptureId) -> String {
    format!("{}/captures/{id}", server_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_type_tag_and_utc_times() {
        let e = EventNotice {
            camera: "porch".parse().expect("id"),
            capture_id: CaptureId::new(1_795_000_313_120, 1),
            time_ms: 1_795_000_313_120,
            label: "person".into(),
            armed: true,
            snapshot_jpeg: Bytes::new(),
        };
        let v: serde_json::Value =
            serde_json::from_slice(&Message::started(&e).to_json()).expect("json");
        assert_eq!(v["type"], "event_started");
        assert_eq!(v["time"], "2026-11-18T11:11:53.120Z");
        assert_eq!(v["capture_id"], "20261118T111153120Z-00000001");
        assert_eq!(caption(&e), "🚨 porch — person at 2026-11-18T11:11:53.120Z");
        assert_eq!(
            capture_page("https://x.org/", &e.capture_id),
            "https://x.org/captures/20261118T111153120Z-00000001"
        );
    }
}
