//! MQTT against a real Mosquitto broker (Debian `mosquitto`, installed by
//! `scripts/test.sh`), started per test on a free loopback port.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;
use vigia_base::{CaptureId, Command, CommandSource, Shutdown};
use vigia_config::{MqttConfig, NotifyConfig, Secret};

use crate::notice::{CommandRequest, EventNotice, NodeState};
use crate::{Notifications, NotifyHandle};

const WAIT: Duration = Duration::from_secs(15);

struct Broker {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mosquitto_bin() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

impl Broker {
    /// `users`: (name, password) pairs; none means anonymous access.
    fn start(users: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        // `user root`: as root, mosquitto otherwise drops to the `mosquitto`
        // user, which cannot read this temp dir; as non-root it is ignored.
        let mut conf = format!(
            "listener {port} 127.0.0.1\npersistence false\nuser root\nlog_dest stderr\nlog_type error\n"
        );
        if users.is_empty() {
            conf.push_str("allow_anonymous true\n");
        } else {
            let pw = dir.path().join("passwd");
            for (i, (u, p)) in users.iter().enumerate() {
                let mut cmd = std::process::Command::new("mosquitto_passwd");
                if i == 0 {
                    cmd.arg("-c");
                }
                let st = cmd
                    .arg("-b")
                    .arg(&pw)
                    .args([u, p])
                    .stdout(Stdio::null())
                    .status()
                    .expect("mosquitto_passwd (Debian package mosquitto)");
                assert!(st.success());
            }
            conf.push_str(&format!(
                "allow_anonymous false\npassword_file {}\n",
                pw.display()
            ));
        }
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).expect("write config");
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).expect("log file");
        let child = std::process::Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start mosquitto (Debian package mosquitto; scripts/test.sh installs it)");
        let broker = Self {
            port,
            child,
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return broker;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("mosquitto did not listen on {port}");
    }
}

fn mqtt_config(port: u16) -> MqttConfig {
    MqttConfig {
        host: "127.0.0.1".into(),
        port,
        client_id: None,
        username: None,
        password: None,
        topic_prefix: "vigia".into(),
        discovery_prefix: Some("homeassistant".into()),
        keep_alive_s: 5,
        queue_len: 64,
    }
}

fn start_node(
    cfg: MqttConfig,
    shutdown: &Shutdown,
) -> (
    NotifyHandle,
    mpsc::Receiver<CommandRequest>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, rx) = mpsc::channel(8);
    let cfg = NotifyConfig {
        mqtt: Some(cfg),
        ..NotifyConfig::default()
    };
    let h = Notifications::start(
        &cfg,
        "porch".parse().expect("id"),
        dir.path(),
        tx,
        shutdown.clone(),
    )
    .expect("start");
    (h, rx, dir)
}

/// A plain client standing in for Home Assistant.
struct Observer {
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Publish>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Observer {
    fn new(port: u16, name: &str, creds: Option<(&str, &str)>, filters: &[&str]) -> Self {
        let mut o = MqttOptions::new(name, "127.0.0.1", port);
        o.set_max_packet_size(8 << 20, 8 << 20);
        if let Some((u, p)) = creds {
            o.set_credentials(u, p);
        }
        let (client, mut el) = AsyncClient::new(o, 64);
        for f in filters {
            client
                .try_subscribe(*f, QoS::AtLeastOnce)
                .expect("subscribe");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        Self { client, rx, task }
    }

    /// The next message on `topic` (others are skipped).
    async fn next_on(&mut self, topic: &str) -> Publish {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let p = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no message on {topic}"))
                .expect("observer running");
            if p.topic == topic {
                return p;
            }
        }
    }

    /// Waits for `payload` on `topic`.
    async fn expect(&mut self, topic: &str, payload: &str) {
        loop {
            let p = self.next_on(topic).await;
            if p.payload.as_ref() == payload.as_bytes() {
                return;
            }
        }
    }
}

#[tokio::test]
async fn discovery_state_events_and_commands_through_mosquitto() {
    let broker = Broker::start(&[]);
    // A retained command left on the broker must not run at connect.
    let stale = Observer::new(broker.port, "stale", None, &[]);
    stale
        .client
        .publish("vigia/porch/set/armed", QoS::AtLeastOnce, true, "ON")
        .await
        .expect("publish");
    let mut status = Observer::new(broker.port, "status", None, &["vigia/porch/status"]);

    let shutdown = Shutdown::new();
    let (h, mut commands, _dir) = start_node(mqtt_config(broker.port), &shutdown);
    h.state(NodeState {
        armed: true,
        motion: false,
        person: false,
        backlog_captures: 3,
    });
    status.expect("vigia/porch/status", "online").await;

    // Home Assistant arriving later still finds every config, retained.
    let mut ha = Observer::new(
        broker.port,
        "ha",
        None,
        &["homeassistant/#", "vigia/porch/#"],
    );
    let mut configs = Vec::new();
    while configs.len() < 5 {
        let p = ha.rx.recv().await.expect("message");
        if p.topic.starts_with("homeassistant/") {
            assert!(p.retain, "{} not retained", p.topic);
            let v: serde_json::Value = serde_json::from_slice(&p.payload).expect("json");
            assert_eq!(v["availability_topic"], "vigia/porch/status");
            configs.push(p.topic.clone());
        }
    }
    configs.sort();
    assert_eq!(
        configs,
        [
            "homeassistant/binary_sensor/vigia_porch/motion/config",
            "homeassistant/binary_sensor/vigia_porch/person/config",
            "homeassistant/camera/vigia_porch/snapshot/config",
            "homeassistant/sensor/vigia_porch/backlog/config",
            "homeassistant/switch/vigia_porch/armed/config",
        ]
    );
    let mut ha2 = Observer::new(broker.port, "ha2", None, &["vigia/porch/+"]);
    let armed = ha2.next_on("vigia/porch/armed").await;
    assert!(armed.retain);
    assert_eq!(armed.payload.as_ref(), b"ON");
    ha2.expect("vigia/porch/backlog", "3").await;

    let snapshot = crate::testutil::jpeg(5);
    h.event_started(EventNotice {
        camera: "porch".parse().expect("id"),
        capture_id: CaptureId::new(1_795_000_313_120, 1),
        time_ms: 1_795_000_313_120,
        label: "person".into(),
        armed: true,
        snapshot_jpeg: snapshot.clone(),
    });
    let ev = ha.next_on("vigia/porch/event").await;
    let v: serde_json::Value = serde_json::from_slice(&ev.payload).expect("json");
    assert_eq!(v["type"], "event_started");
    assert_eq!(v["label"], "person");
    assert_eq!(v["capture_id"], "20261118T111153120Z-00000001");
    let snap = ha.next_on("vigia/porch/snapshot").await;
    assert_eq!(Bytes::from(snap.payload.to_vec()), snapshot);

    ha.client
        .publish("vigia/porch/set/armed", QoS::AtLeastOnce, false, "OFF")
        .await
        .expect("publish");
    ha.client
        .publish(
            "vigia/porch/set/command",
            QoS::AtLeastOnce,
            false,
            "servo 90",
        )
        .await
        .expect("publish");
    for want in [Command::Disarm, Command::Servo { angle: 90.0 }] {
        let req = tokio::time::timeout(WAIT, commands.recv())
            .await
            .expect("command in time")
            .expect("open");
        assert_eq!(req.command, want, "the retained ON must not have run");
        assert_eq!(req.source, CommandSource::Mqtt);
        assert!(req.reply.is_none());
    }

    // A clean stop says offline itself (a DISCONNECT suppresses the will).
    shutdown.trigger();
    tokio::time::timeout(WAIT, h.join()).await.expect("stops");
    status.expect("vigia/porch/status", "offline").await;
    assert_eq!(h.stats().mqtt.dropped, 0);
}

/// Child process for [`last_will_marks_a_killed_node_offline`]: runs a node
/// client until killed.
#[tokio::test]
#[ignore = "run as a child process by last_will_marks_a_killed_node_offline"]
async fn mqtt_child_node() {
    let Some(port) = std::env::var("VIGIA_TEST_MQTT_CHILD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
    else {
        return;
    };
    let shutdown = Shutdown::new();
    let (_h, _rx, _dir) = start_node(mqtt_config(port), &shutdown);
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test]
async fn last_will_marks_a_killed_node_offline() {
    let broker = Broker::start(&[]);
    let mut status = Observer::new(broker.port, "status", None, &["vigia/porch/status"]);
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "mqtt::tests::mqtt_child_node",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("VIGIA_TEST_MQTT_CHILD_PORT", broker.port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    status.expect("vigia/porch/status", "online").await;
    // SIGKILL: no DISCONNECT, no explicit offline; only the broker's will.
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    status.expect("vigia/porch/status", "offline").await;
}

#[tokio::test]
async fn credentials_from_an_environment_variable_log_in() {
    let broker = Broker::start(&[("vigia", "s3cret pass"), ("ha", "ha-pass")]);
    let var = "VIGIA_TEST_MQTT_PASSWORD_91C2";
    std::env::set_var(var, "s3cret pass");
    let mut status = Observer::new(
        broker.port,
        "status",
        Some(("ha", "ha-pass")),
        &["vigia/porch/status"],
    );
    let mut cfg = mqtt_config(broker.port);
    cfg.username = Some("vigia".into());
    cfg.password = Some(Secret::Env(var.into()));
    let shutdown = Shutdown::new();
    let (h, _rx, _dir) = start_node(cfg, &shutdown);
    status.expect("vigia/porch/status", "online").await;
    shutdown.trigger();
    h.join().await;
}

#[tokio::test]
async fn server_alerts_publish_link_state_and_documents() {
    let broker = Broker::start(&[]);
    let mut obs = Observer::new(broker.port, "obs", None, &["vigia/#"]);
    let shutdown = Shutdown::new();
    let cfg = vigia_config::AlertsConfig {
        offline_after_ms: 1_000,
        notify: NotifyConfig {
            mqtt: Some(mqtt_config(broker.port)),
            ..NotifyConfig::default()
        },
    };
    let h = Notifications::start_server(&cfg, shutdown.clone()).expect("start");
    obs.expect("vigia/server/status", "online").await;
    h.alert(crate::CameraAlert::Offline {
        camera: "garage".parse().expect("id"),
        last_seen_ms: 1_795_000_000_000,
    });
    obs.expect("vigia/garage/link", "offline").await;
    let doc = obs.next_on("vigia/garage/alert").await;
    let v: serde_json::Value = serde_json::from_slice(&doc.payload).expect("json");
    assert_eq!(v["type"], "camera_offline");
    assert_eq!(v["last_seen"], "2026-11-18T11:06:40.000Z");
    shutdown.trigger();
    h.join().await;
}
