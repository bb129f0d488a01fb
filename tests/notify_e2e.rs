//! Notifications end to end, with a real `vigia node` process on the
//! synthetic camera: Telegram against the crate's fake Bot API (served
//! from this test process over loopback), MQTT against a real Mosquitto
//! broker started here on a free port.
//!
//! What is proven: an armed event's photo reaches the chat before its clip,
//! with a caption naming the camera and the label; strangers are ignored;
//! `/status`, `/snap`, `/disarm` work and a disarmed node stops notifying
//! but keeps recording; 429 `retry_after` is honoured; an update id seen
//! twice runs once, also across a crash; a dead Telegram never stops
//! recording. On MQTT: retained discovery configs, event JSON, `set/armed`
//! arming the node, the last will on SIGKILL, and arming kept across a
//! restart.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::link::eventually;
use common::*;
use serde_json::{json, Value};
use vigia_notify::telegram::fake::{FakeTelegram, Forced, RecordedRequest};

const TOKEN: &str = "123456:vigia-e2e-token";
const OWNER: i64 = 4242;
const STRANGER: i64 = 666;
/// A synthetic camera run flat out: a figure crosses every few seconds.
const FAST_CAMERA: &str = "[source]\nkind = \"synthetic\"\nrealtime = false\nwidth = 384\nheight = 288\n\n[event]\npre_roll_s = 1.0\npost_roll_s = 1.0\n";
const LIMIT: Duration = Duration::from_secs(40);

/// No figures: a node that only answers commands.
const QUIET_CAMERA: &str =
    "[source]\nkind = \"synthetic\"\nscene = \"quiet\"\nwidth = 384\nheight = 288\n";

fn telegram_node(dir: &Path, camera: &str, api_url: &str, armed: bool) -> PathBuf {
    node_config(
        dir,
        "yard",
        &format!(
            "{camera}\n[arming]\narmed = {armed}\n\n[telegram]\ntoken = \"{TOKEN}\"\n\
             chat_ids = [{OWNER}]\napi_url = \"{api_url}\"\npoll_timeout_s = 1\nrequest_timeout_s = 5.0\n"
        ),
    )
}

fn start(config: &Path) -> Running {
    let mut cmd = vigia();
    cmd.args(["node", "--config"]).arg(config);
    Running::spawn(cmd)
}

/// A text message update as Telegram sends it, with a chosen update id.
fn text_update(update_id: i64, chat: i64, text: &str) -> Value {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": chat, "is_bot": false, "first_name": "Test"},
            "chat": {"id": chat, "type": "private", "first_name": "Test"},
            "date": 1_700_000_000,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": text.split(' ').next().map_or(0, str::len)}],
        }
    })
}

fn caption(r: &RecordedRequest) -> &str {
    r.params.get("caption").map(String::as_str).unwrap_or("")
}

fn text(r: &RecordedRequest) -> &str {
    r.params.get("text").map(String::as_str).unwrap_or("")
}

/// Accepted event photos: their caption starts with the alarm sign.
fn event_photos(fake: &FakeTelegram) -> Vec<RecordedRequest> {
    fake.accepted("sendPhoto")
        .into_iter()
        .filter(|r| caption(r).starts_with('🚨'))
        .collect()
}

/// Text replies to `chat` containing `needle`.
fn replies(fake: &FakeTelegram, chat: i64, needle: &str) -> usize {
    fake.accepted("sendMessage")
        .iter()
        .filter(|r| r.chat_id() == Some(chat) && text(r).contains(needle))
        .count()
}

/// Polls the fake's request log from this (blocking) test thread.
fn wait_fake(fake: &FakeTelegram, what: &str, cond: impl Fn(&FakeTelegram) -> bool) {
    eventually(what, LIMIT, || cond(fake));
}

/// The persisted arming state; `None` until the first change is written.
fn armed_on_disk(node_dir: &Path) -> Option<bool> {
    let bytes = std::fs::read(node_dir.join("data/arming.json")).ok()?;
    let v: Value = serde_json::from_slice(&bytes).expect("arming.json is JSON");
    Some(v["armed"].as_bool().expect("armed flag"))
}

fn count(node: &Running, needle: &str) -> usize {
    node.seen.iter().filter(|l| l.contains(needle)).count()
}

/// The fake Bot API on its own runtime, so that shutting the runtime down
/// kills it completely (listener and kept-alive connections alike).
fn fake_telegram() -> (tokio::runtime::Runtime, FakeTelegram) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt
        .block_on(FakeTelegram::start(TOKEN))
        .expect("fake telegram");
    (rt, fake)
}

/// The trigger time an `event started` line prints, as captions show it.
fn event_times(node: &Running, from: usize) -> Vec<String> {
    node.seen
        .iter()
        .filter(|l| l.contains("event started"))
        .skip(from)
        .filter_map(|l| l.split("  at ").nth(1))
        .map(|t| t.trim().to_owned())
        .collect()
}

#[test]
fn telegram_photo_before_clip_commands_allow_list_429_and_dead_api() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (rt, fake) = fake_telegram();
    // Waiting before the node starts: a stranger's /disarm, the owner's
    // /status.
    fake.push_update(text_update(1, STRANGER, "/disarm"));
    fake.push_update(text_update(2, OWNER, "/status"));
    // Telegram's flood control on the first photo.
    fake.force(
        Some("sendPhoto"),
        Forced::TooManyRequests { retry_after_s: 2 },
    );
    let cfg = telegram_node(dir.path(), FAST_CAMERA, &fake.base_url(), true);
    let mut node = start(&cfg);

    wait_fake(&fake, "the /status reply", |f| {
        replies(f, OWNER, "yard: armed") >= 1
    });
    // An event: its photo (after the 429), then its clip.
    wait_fake(&fake, "an event's clip", |f| {
        !f.accepted("sendVideo").is_empty()
    });
    let reqs = fake.requests();
    let photos: Vec<_> = reqs.iter().filter(|r| r.method == "sendPhoto").collect();
    assert_eq!(photos[0].status, 429, "the forced 429 came first");
    let first_ok = photos
        .iter()
        .find(|r| r.status == 200)
        .expect("a photo after the 429");
    let waited = first_ok.at - photos[0].at;
    assert!(
        waited >= Duration::from_secs(2),
        "retry_after = 2 s was honoured: the retry came after {waited:?}"
    );
    for video in fake.accepted("sendVideo") {
        assert_eq!(video.chat_id(), Some(OWNER));
        let cap = caption(&video);
        let event = cap.rsplit_once(" (").map_or(cap, |(c, _)| c);
        let photo = event_photos(&fake)
            .into_iter()
            .find(|p| caption(p) == event)
            .unwrap_or_else(|| panic!("no photo captioned {event:?} before its clip"));
        assert!(photo.at < video.at, "photo after its clip: {event}");
        assert!(
            event.contains("yard") && event.contains("motion"),
            "caption names camera and label: {event}"
        );
        let clip = &video.files[0].bytes;
        assert_eq!(&clip[4..8], b"ftyp", "the clip is an MP4");
        assert_eq!(
            &photo.files[0].bytes[..2],
            &[0xFF, 0xD8],
            "the photo is a JPEG"
        );
    }
    // The stranger got nothing and changed nothing.
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.chat_id() != Some(STRANGER)),
        "a chat off the allow-list got an answer"
    );
    assert_ne!(
        armed_on_disk(dir.path()),
        Some(false),
        "a stranger's /disarm was obeyed"
    );

    // /snap: a photo now.
    fake.push_text(OWNER, "/snap");
    wait_fake(&fake, "the /snap photo", |f| {
        f.accepted("sendPhoto")
            .iter()
            .any(|r| caption(r).starts_with("snapshot "))
    });

    // /disarm: later events are recorded but not sent.
    fake.push_text(OWNER, "/disarm");
    wait_fake(&fake, "the /disarm reply", |f| {
        replies(f, OWNER, "yard disarmed") == 1
    });
    assert_eq!(armed_on_disk(dir.path()), Some(false));
    while node.lines.try_recv().map(|l| node.seen.push(l)).is_ok() {}
    let started = count(&node, "event started");
    // Two more events start after the disarm and are saved; neither is sent.
    node.wait_for("capture saved", started + 2, LIMIT);
    let disarmed_events = event_times(&node, started);
    assert!(disarmed_events.len() >= 2, "{:?}", node.seen);
    for p in event_photos(&fake) {
        assert!(
            !disarmed_events
                .iter()
                .any(|t| caption(&p).ends_with(t.as_str())),
            "a disarmed node sent {:?}",
            caption(&p)
        );
    }
    assert!(
        fake.accepted("sendVideo").len() <= event_photos(&fake).len(),
        "a clip without its photo"
    );

    // Telegram goes away (armed again, so the node keeps trying to send):
    // recording goes on.
    fake.push_text(OWNER, "/arm");
    wait_fake(&fake, "the /arm reply", |f| {
        replies(f, OWNER, "yard armed") == 1
    });
    drop(fake);
    rt.shutdown_background();
    let saved = count(&node, "capture saved");
    node.wait_for("capture saved", saved + 2, LIMIT);
    assert!(node.stop().success(), "node exit status");
    for (capdir, m) in captures(&dir.path().join("data/outbox")) {
        verify_capture(&capdir, m.as_ref().expect("manifest after a clean stop"));
    }
    eprintln!("telegram test: {:.1} s", t0.elapsed().as_secs_f64());
}

/// Telegram itself never repeats an update within one `getUpdates` answer,
/// but the poller's own doc promises that a misbehaving proxy or API clone
/// replaying one cannot make it run twice.
#[test]
fn telegram_update_repeated_in_one_batch_runs_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_rt, fake) = fake_telegram();
    fake.push_update(text_update(2, OWNER, "/status"));
    fake.push_update(text_update(2, OWNER, "/status"));
    // Runs after both copies (commands reach the node in order, replies
    // leave in order): once its photo is out, every status reply is too.
    fake.push_update(text_update(3, OWNER, "/snap"));
    let cfg = telegram_node(dir.path(), QUIET_CAMERA, &fake.base_url(), true);
    let node = start(&cfg);
    wait_fake(&fake, "the /snap photo", |f| {
        f.accepted("sendPhoto")
            .iter()
            .any(|r| caption(r).starts_with("snapshot "))
    });
    assert_eq!(
        replies(&fake, OWNER, "yard: armed"),
        1,
        "update 2 ran twice"
    );
    assert!(node.stop().success());
}

#[test]
fn telegram_offset_and_arming_survive_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_rt, fake) = fake_telegram();
    // The configured state is "armed"; only the first start may apply it.
    let cfg = telegram_node(dir.path(), QUIET_CAMERA, &fake.base_url(), true);
    let mut node = start(&cfg);
    let disarm = fake.push_text(OWNER, "/disarm");
    wait_fake(&fake, "the /disarm reply", |f| {
        replies(f, OWNER, "yard disarmed") == 1
    });
    assert_eq!(armed_on_disk(dir.path()), Some(false));
    // The node dies before Telegram hears that /disarm was handled: Telegram
    // would hand it out again to a client that forgot its offset.
    fake.lose_confirmations(true);
    node.signal(9);
    let _ = node.child.wait();
    let offset = std::fs::read_to_string(dir.path().join("data/telegram.offset"))
        .expect("the offset file survives the crash");
    assert_eq!(offset.trim().parse::<i64>().ok(), Some(disarm + 1));

    let polls = fake.requests().len();
    let node = start(&cfg);
    // Two polls of the new process: the first one is where a replay would land.
    wait_fake(&fake, "the restarted node's polls", |f| {
        f.requests()[polls..]
            .iter()
            .filter(|r| r.method == "getUpdates" && r.status == 200)
            .count()
            >= 2
    });
    fake.push_text(OWNER, "/status");
    wait_fake(&fake, "the /status reply", |f| {
        replies(f, OWNER, "yard: disarmed") == 1
    });
    assert_eq!(
        replies(&fake, OWNER, "already disarmed") + replies(&fake, OWNER, "yard disarmed"),
        1,
        "/disarm ran twice"
    );
    assert_eq!(
        armed_on_disk(dir.path()),
        Some(false),
        "the restart re-armed the node"
    );
    assert!(node.stop().success());
}

/// A Mosquitto broker (Debian `mosquitto`) on a free loopback port, with
/// its own config in a temp dir.
struct Broker {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = common::link::free_port();
        // `user root`: as root, mosquitto otherwise drops to the `mosquitto`
        // user, which cannot read this temp dir; as non-root it is ignored.
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nlog_dest stderr\nlog_type error\n"
            ),
        )
        .expect("write mosquitto.conf");
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mosquitto");
        let child = std::process::Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start mosquitto (Debian package mosquitto; scripts/test.sh installs it)");
        let broker = Self {
            port,
            child,
            _dir: dir,
        };
        eventually("mosquitto to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        broker
    }
}

/// A plain MQTT client standing in for Home Assistant; what it receives
/// arrives on a std channel so the (blocking) test thread can wait on it.
struct Observer {
    client: rumqttc::AsyncClient,
    rx: std::sync::mpsc::Receiver<rumqttc::Publish>,
}

impl Observer {
    fn new(rt: &tokio::runtime::Runtime, port: u16, name: &str, filters: &[&str]) -> Self {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let mut o = MqttOptions::new(name, "127.0.0.1", port);
        o.set_max_packet_size(8 << 20, 8 << 20);
        let _guard = rt.enter();
        let (client, mut el) = AsyncClient::new(o, 64);
        for f in filters {
            client
                .try_subscribe(*f, QoS::AtLeastOnce)
                .expect("subscribe");
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (subscribed_tx, subscribed) = std::sync::mpsc::channel();
        rt.spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed_tx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        for _ in filters {
            subscribed
                .recv_timeout(Duration::from_secs(10))
                .expect("the broker acknowledged the subscription");
        }
        Self { client, rx }
    }

    /// The next message on `topic` (others are skipped).
    fn next_on(&self, topic: &str) -> rumqttc::Publish {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let p = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no message on {topic} within {LIMIT:?}"));
            if p.topic == topic {
                return p;
            }
        }
    }

    /// Waits for `payload` on `topic`.
    fn expect(&self, topic: &str, payload: &str) {
        while self.next_on(topic).payload.as_ref() != payload.as_bytes() {}
    }

    /// The next event document matching `f`.
    fn event(&self, f: impl Fn(&Value) -> bool) -> Value {
        loop {
            let p = self.next_on("vigia/yard/event");
            let v: Value = serde_json::from_slice(&p.payload).expect("event JSON");
            if f(&v) {
                return v;
            }
        }
    }

    fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }
}

#[test]
fn mqtt_discovery_events_set_command_last_will_and_restart() {
    let t0 = Instant::now();
    let broker = Broker::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = node_config(
        dir.path(),
        "yard",
        &format!(
            "{FAST_CAMERA}\n[arming]\narmed = false\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\nkeep_alive_s = 5\n",
            broker.port
        ),
    );
    let status = Observer::new(&rt, broker.port, "status", &["vigia/yard/status"]);
    let mut node = start(&cfg);
    status.expect("vigia/yard/status", "online");

    // Home Assistant connecting after the node still finds every config.
    let ha = Observer::new(&rt, broker.port, "ha", &["homeassistant/#"]);
    let mut configs = Vec::new();
    while configs.len() < 5 {
        let p = ha
            .rx
            .recv_timeout(LIMIT)
            .expect("retained discovery configs");
        assert!(p.retain, "{} is not retained", p.topic);
        let v: Value = serde_json::from_slice(&p.payload).expect("config JSON");
        assert_eq!(v["availability_topic"], "vigia/yard/status", "{}", p.topic);
        configs.push(p.topic.clone());
    }
    configs.sort();
    assert_eq!(
        configs,
        [
            "homeassistant/binary_sensor/vigia_yard/motion/config",
            "homeassistant/binary_sensor/vigia_yard/person/config",
            "homeassistant/camera/vigia_yard/snapshot/config",
            "homeassistant/sensor/vigia_yard/backlog/config",
            "homeassistant/switch/vigia_yard/armed/config",
        ]
    );

    // Events, disarmed.
    let ev = Observer::new(
        &rt,
        broker.port,
        "ev",
        &["vigia/yard/event", "vigia/yard/armed"],
    );
    ev.expect("vigia/yard/armed", "OFF");
    let started = ev.event(|v| v["type"] == "event_started");
    assert_eq!(started["camera"], "yard");
    assert_eq!(started["label"], "motion");
    assert_eq!(started["armed"], false);
    let id = started["capture_id"]
        .as_str()
        .expect("capture_id")
        .to_owned();
    let finished = ev.event(|v| v["type"] == "event_finished");
    assert_eq!(finished["capture_id"], id.as_str(), "events do not overlap");
    assert!(finished["end_ms"].as_i64() > started["time_ms"].as_i64());

    // Home Assistant flips the switch.
    ev.client
        .try_publish(
            "vigia/yard/set/armed",
            rumqttc::QoS::AtLeastOnce,
            false,
            "ON",
        )
        .expect("publish");
    ev.expect("vigia/yard/armed", "ON");
    eventually("arming.json to say armed", LIMIT, || {
        armed_on_disk(dir.path()) == Some(true)
    });
    let armed_event = ev.event(|v| v["type"] == "event_started" && v["armed"] == true);
    assert_eq!(armed_event["camera"], "yard");

    // Killed: the broker publishes the last will.
    node.signal(9);
    let _ = node.child.wait();
    status.expect("vigia/yard/status", "offline");

    // Restarted with the same config (armed = false): the state on disk wins.
    ev.drain();
    let node = start(&cfg);
    status.expect("vigia/yard/status", "online");
    let armed = ev.next_on("vigia/yard/armed");
    assert_eq!(armed.payload.as_ref(), b"ON", "the restart lost the arming");
    assert_eq!(armed_on_disk(dir.path()), Some(true));
    assert!(node.stop().success());
    status.expect("vigia/yard/status", "offline");
    eprintln!("mqtt test: {:.1} s", t0.elapsed().as_secs_f64());
}
