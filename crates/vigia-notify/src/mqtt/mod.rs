//! MQTT: events, state topics, availability by last will, commands, and
//! Home Assistant discovery, through `rumqttc`.
//!
//! One task drives the connection (`EventLoop::poll`) and reconnects with
//! backoff; on every CONNACK it re-subscribes and republishes what a broker
//! that lost its memory needs (discovery configs, `online`, the last state,
//! all retained). Callers publish with `try_publish` into rumqttc's bounded
//! request queue and never wait: a full queue drops the message and counts
//! it. A clean shutdown publishes `offline` itself and disconnects; any
//! other end of the connection leaves it to the broker's last will.
//!
//! Commands arrive on `<prefix>/<camera>/set/<verb>` (see [`parse_set`]).
//! Retained command messages are ignored: a stale `set/armed` kept by the
//! broker would otherwise re-run on every reconnect.

mod discovery;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vigia_base::{Backoff, CameraId, Command, CommandParseError, CommandSource, Shutdown};
use vigia_config::MqttConfig;

use crate::notice::{CameraAlert, CommandRequest, EventNotice, FinishedEvent, Message, NodeState};
use crate::stats::Counters;
use discovery::{Topics, OFF, OFFLINE, ON, ONLINE};

/// Snapshots larger than this are not published (the camera entity would
/// choke on them anyway); rumqttc's outgoing packet limit sits above it.
const MAX_SNAPSHOT_BYTES: usize = 4 << 20;
const MAX_PACKET_BYTES: usize = 8 << 20;

/// Whose client this is.
pub(crate) enum Role {
    /// A node: discovery, state, commands; availability on `<camera>/status`.
    Node {
        camera: CameraId,
        commands: Option<mpsc::Sender<CommandRequest>>,
    },
    /// The server: alerts for any camera; its own availability on `server/status`.
    Server,
}

/// Parses a `set/<verb>` message: `armed` and `siren` take ON/OFF,
/// `command` takes the text form (`servo 90`), any other verb is a command
/// verb whose payload is its argument (`set/servo` `90`); Home Assistant's
/// button payload `PRESS` counts as no argument.
pub fn parse_set(verb: &str, payload: &[u8]) -> Result<Command, CommandParseError> {
    let p = String::from_utf8_lossy(payload);
    let p = p.trim();
    let on_off = |on: Command, off: Command| match p.to_ascii_uppercase().as_str() {
        "ON" | "TRUE" | "1" => Ok(on),
        "OFF" | "FALSE" | "0" => Ok(off),
        _ => Err(CommandParseError(format!("{verb} {p}"))),
    };
    match verb {
        "armed" => on_off(Command::Arm, Command::Disarm),
        "siren" => on_off(Command::SirenOn, Command::SirenOff),
        "command" => p.parse(),
        _ if p.is_empty() || p.eq_ignore_ascii_case("PRESS") => verb.parse(),
        _ => format!("{verb} {p}").parse(),
    }
}

/// The caller's side: publishes without waiting.
#[derive(Clone)]
pub(crate) struct MqttPublisher {
    client: AsyncClient,
    prefix: String,
    topics: Option<Topics>,
    counters: Arc<Counters>,
    /// Republished on reconnect (retained state must survive a broker restart).
    last_state: Arc<Mutex<Option<NodeState>>>,
}

impl MqttPublisher {
    fn publish(&self, topic: String, retain: bool, payload: impl Into<Vec<u8>>) {
        match self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload.into())
        {
            Ok(()) => Counters::inc(&self.counters.sent),
            Err(e) => {
                Counters::inc(&self.counters.dropped);
                tracing::warn!(error = %e, "mqtt: queue full, message dropped");
            }
        }
    }

    pub fn event_started(&self, e: &EventNotice) {
        let Some(t) = &self.topics else { return };
        self.publish(t.event(), false, Message::started(e).to_json());
        if !e.snapshot_jpeg.is_empty() && e.snapshot_jpeg.len() <= MAX_SNAPSHOT_BYTES {
            self.publish(t.snapshot(), true, e.snapshot_jpeg.to_vec());
        }
    }

    pub fn event_finished(&self, f: &FinishedEvent) {
        let Some(t) = &self.topics else { return };
        self.publish(
            t.event(),
            false,
            Message::finished(f, f.capture_url.clone()).to_json(),
        );
    }

    /// A snapshot outside an event (`/snap`, periodic refresh).
    pub fn snapshot(&self, jpeg: &Bytes) {
        let Some(t) = &self.topics else { return };
        if jpeg.len() <= MAX_SNAPSHOT_BYTES {
            self.publish(t.snapshot(), true, jpeg.to_vec());
        }
    }

    pub fn state(&self, s: NodeState) {
        let Some(t) = &self.topics else { return };
        if let Ok(mut l) = self.last_state.lock() {
            *l = Some(s);
        }
        for (name, payload) in state_payloads(s) {
            self.publish(t.state(name), true, payload);
        }
    }

    pub fn alert(&self, a: &CameraAlert) {
        let t = Topics::new(&self.prefix, a.camera().as_str());
        let link = match a {
            CameraAlert::Offline { .. } => OFFLINE,
            CameraAlert::Online { .. } => ONLINE,
        };
        self.publish(t.link(), true, link);
        self.publish(t.alert(), false, Message::alert(a).to_json());
    }
}

fn state_payloads(s: NodeState) -> [(&'static str, String); 4] {
    let b = |v: bool| if v { ON } else { OFF }.to_owned();
    [
        ("armed", b(s.armed)),
        ("motion", b(s.motion)),
        ("person", b(s.person)),
        ("backlog", s.backlog_captures.to_string()),
    ]
}

/// Connects (in the background) and returns the publisher and the task
/// driving the connection.
pub(crate) fn start(
    cfg: &MqttConfig,
    password: Option<String>,
    role: Role,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> (MqttPublisher, JoinHandle<()>) {
    let (client_id, status_topic, topics, camera, commands) = match role {
        Role::Node { camera, commands } => {
            let t = Topics::new(&cfg.topic_prefix, camera.as_str());
            (
                cfg.client_id
                    .clone()
                    .unwrap_or_else(|| format!("vigia-{camera}")),
                t.status(),
                Some(t),
                Some(camera),
                commands,
            )
        }
        Role::Server => (
            cfg.client_id
                .clone()
                .unwrap_or_else(|| "vigia-server".to_owned()),
            format!("{}/server/status", cfg.topic_prefix),
            None,
            None,
            None,
        ),
    };
    let mut opts = MqttOptions::new(client_id, cfg.host.clone(), cfg.port);
    opts.set_keep_alive(Duration::from_secs(u64::from(cfg.keep_alive_s)))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_last_will(LastWill::new(
            status_topic.clone(),
            OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(user) = &cfg.username {
        opts.set_credentials(user.clone(), password.unwrap_or_default());
    }
    let (client, eventloop) = AsyncClient::new(opts, cfg.queue_len);
    let publisher = MqttPublisher {
        client: client.clone(),
        prefix: cfg.topic_prefix.clone(),
        topics: topics.clone(),
        counters: counters.clone(),
        last_state: Arc::default(),
    };
    let conn = Connection {
        client,
        status_topic,
        topics,
        camera,
        discovery_prefix: cfg.discovery_prefix.clone(),
        commands,
        last_state: publisher.last_state.clone(),
        counters,
        shutdown,
    };
    (publisher, tokio::spawn(conn.run(eventloop)))
}

struct Connection {
    client: AsyncClient,
    status_topic: String,
    topics: Option<Topics>,
    camera: Option<CameraId>,
    discovery_prefix: Option<String>,
    commands: Option<mpsc::Sender<CommandRequest>>,
    last_state: Arc<Mutex<Option<NodeState>>>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
}

impl Connection {
    async fn run(self, mut eventloop: rumqttc::EventLoop) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30), 0x3a77);
        let mut connected = false;
        loop {
            let ev = tokio::select! {
                _ = self.shutdown.wait() => break,
                ev = eventloop.poll() => ev,
            };
            match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    backoff.reset();
                    tracing::info!(topic = %self.status_topic, "mqtt: connected");
                    self.on_connect();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => self.on_publish(&p),
                Ok(_) => {}
                Err(e) => {
                    let delay = backoff.next_delay();
                    if connected || backoff.attempts() == 1 {
                        tracing::warn!(error = %e, ?delay, "mqtt: connection lost, retrying");
                    }
                    connected = false;
                    tokio::select! {
                        _ = self.shutdown.wait() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        if connected {
            // A clean DISCONNECT suppresses the will, so say offline first.
            let _ = self
                .client
                .try_publish(&self.status_topic, QoS::AtLeastOnce, true, OFFLINE);
            let _ = self.client.try_disconnect();
            let drain = async {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        }
    }

    /// Everything a fresh session needs, published from a helper task that
    /// may wait for queue space while this task keeps the connection going.
    fn on_connect(&self) {
        let mut msgs: Vec<(String, Vec<u8>)> = Vec::new();
        if let (Some(t), Some(cam)) = (&self.topics, &self.camera) {
            if let Some(dp) = &self.discovery_prefix {
                msgs.extend(discovery::discovery_configs(dp, t, cam));
            }
            let state = self.last_state.lock().ok().and_then(|s| *s);
            if let Some(s) = state {
                msgs.extend(
                    state_payloads(s)
                        .into_iter()
                        .map(|(n, p)| (t.state(n), p.into_bytes())),
                );
            }
        }
        msgs.push((self.status_topic.clone(), ONLINE.as_bytes().to_vec()));
        let client = self.client.clone();
        let filter = self.topics.as_ref().map(Topics::set_filter);
        let subscribe = self.commands.is_some();
        let counters = self.counters.clone();
        tokio::spawn(async move {
            if let (Some(f), true) = (filter, subscribe) {
                if let Err(e) = client.subscribe(f, QoS::AtLeastOnce).await {
                    tracing::warn!(error = %e, "mqtt: subscribe failed");
                }
            }
            for (topic, payload) in msgs {
                match client.publish(topic, QoS::AtLeastOnce, true, payload).await {
                    Ok(()) => Counters::inc(&counters.sent),
                    Err(_) => return,
                }
            }
        });
    }

    fn on_publish(&self, p: &rumqttc::Publish) {
        let (Some(t), Some(commands)) = (&self.topics, &self.commands) else {
            return;
        };
        let Some(verb) = t.set_verb(&p.topic) else {
            return;
        };
        if p.retain {
            tracing::warn!(topic = %p.topic, "mqtt: ignoring a retained command");
            return;
        }
        match parse_set(verb, &p.payload) {
            Ok(command) => {
                tracing::info!(%command, "mqtt: command");
                let req = CommandRequest {
                    command,
                    source: CommandSource::Mqtt,
                    reply: None,
                };
                if commands.try_send(req).is_err() {
                    tracing::warn!(topic = %p.topic, "mqtt: command dropped, the node is busy");
                }
            }
            Err(e) => tracing::warn!(topic = %p.topic, error = %e, "mqtt: bad command"),
        }
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn set_payloads_parse() {
        assert_eq!(parse_set("armed", b"ON"), Ok(Command::Arm));
        assert_eq!(parse_set("armed", b" off\n"), Ok(Command::Disarm));
        assert_eq!(parse_set("siren", b"OFF"), Ok(Command::SirenOff));
        assert_eq!(
            parse_set("command", b"servo 90"),
            Ok(Command::Servo { angle: 90.0 })
        );
        assert_eq!(
            parse_set("servo", b"45.5"),
            Ok(Command::Servo { angle: 45.5 })
        );
        assert_eq!(parse_set("snapshot", b"PRESS"), Ok(Command::Snapshot));
        assert_eq!(parse_set("status", b""), Ok(Command::Status));
        assert!(parse_set("armed", b"maybe").is_err());
        assert!(parse_set("launch", b"").is_err());
    }
}
