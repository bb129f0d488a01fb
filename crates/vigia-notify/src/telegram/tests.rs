//! Telegram end to end against the fake Bot API over loopback, through the
//! public facade.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use vigia_base::{CaptureId, Command, CommandSource, Shutdown};
use vigia_config::{NotifyConfig, Secret, TelegramConfig};

use super::fake::{FakeTelegram, Forced, RecordedRequest};
use crate::notice::{caption, Clip, CommandReply, CommandRequest, EventNotice, FinishedEvent};
use crate::testutil::jpeg;
use crate::{Notifications, NotifyHandle};

const TOKEN: &str = "123456:TEST-token_abc";
const WAIT: Duration = Duration::from_secs(20);

fn tg_config(api_url: &str, chats: &[i64]) -> TelegramConfig {
    TelegramConfig {
        token: Secret::Inline(TOKEN.into()),
        chat_ids: chats.to_vec(),
        api_url: api_url.into(),
        commands: true,
        poll_timeout_s: 1,
        server_url: Some("https://cams.example.org".into()),
        max_upload_bytes: 50_000_000,
        request_timeout_ms: 2_000,
        upload_timeout_ms: 5_000,
        max_attempts: 3,
        queue_len: 8,
    }
}

struct Node {
    handle: NotifyHandle,
    commands: mpsc::Receiver<CommandRequest>,
    shutdown: Shutdown,
}

fn start(tg: TelegramConfig, state_dir: &Path) -> Node {
    let shutdown = Shutdown::new();
    let (tx, rx) = mpsc::channel(16);
    let cfg = NotifyConfig {
        telegram: Some(tg),
        ..NotifyConfig::default()
    };
    let handle = Notifications::start(
        &cfg,
        "porch".parse().expect("camera"),
        state_dir,
        tx,
        shutdown.clone(),
    )
    .expect("start notifications");
    Node {
        handle,
        commands: rx,
        shutdown,
    }
}

impl Node {
    async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(WAIT, self.handle.join())
            .await
            .expect("workers stop after shutdown");
    }
}

fn event(time_ms: i64, label: &str, armed: bool) -> EventNotice {
    EventNotice {
        camera: "porch".parse().expect("camera"),
        capture_id: CaptureId::new(time_ms, 7),
        time_ms,
        label: label.into(),
        armed,
        snapshot_jpeg: jpeg((time_ms % 200) as u8 + 3),
    }
}

fn finished(e: &EventNotice, clip: Option<Clip>) -> FinishedEvent {
    FinishedEvent {
        event: e.clone(),
        end_ms: e.time_ms + 12_000,
        clip,
        capture_url: None,
    }
}

fn sends(reqs: &[RecordedRequest]) -> Vec<&RecordedRequest> {
    reqs.iter()
        .filter(|r| r.method.starts_with("send") && r.status == 200)
        .collect()
}

#[tokio::test]
async fn photo_precedes_clip_with_caption_even_when_calls_race() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(tg_config(&fake.base_url(), &[42, -1001]), dir.path());
    // A slow first photo: without the ordering rule, A's clip would overtake it.
    fake.force(Some("sendPhoto"), Forced::Delay(Duration::from_millis(300)));

    let clip_bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let clip_path = dir.path().join("a.mp4");
    std::fs::write(&clip_path, &clip_bytes).expect("clip");

    // A: the usual order. The file is deleted right after the call, as the
    // outbox may do once the server acknowledged it.
    let a = event(1_795_000_313_120, "person", true);
    node.handle.event_started(a.clone());
    node.handle
        .event_finished(finished(&a, Some(Clip::File(clip_path.clone()))));
    // B: the two calls race and the end is processed first.
    let b = event(1_795_000_400_000, "animal", true);
    node.handle.event_finished(finished(
        &b,
        Some(Clip::Bytes(Bytes::from(clip_bytes.clone()))),
    ));
    node.handle.event_started(b.clone());
    // C: disarmed, so nothing reaches Telegram.
    let c = event(1_795_000_500_000, "motion", false);
    node.handle.event_started(c.clone());
    node.handle.event_finished(finished(&c, None));

    assert!(
        fake.wait_until(WAIT, |r| sends(r).len() >= 8).await,
        "{:#?}",
        fake.requests()
    );
    std::fs::remove_file(&clip_path).ok();
    let reqs = fake.requests();
    let sent = sends(&reqs);
    assert_eq!(sent.len(), 8, "2 events x 2 chats x (photo + clip)");
    for e in [&a, &b] {
        let cap = caption(e);
        for chat in [42, -1001] {
            let mine: Vec<&&RecordedRequest> = sent
                .iter()
                .filter(|r| r.chat_id() == Some(chat) && r.params["caption"].starts_with(&cap))
                .collect();
            let methods: Vec<&str> = mine.iter().map(|r| r.method.as_str()).collect();
            assert_eq!(methods, ["sendPhoto", "sendVideo"], "{cap} to {chat}");
            assert_eq!(mine[0].params["caption"], cap);
            assert!(mine[1].params["caption"].ends_with("(12 s)"));
        }
        // The first chat gets the uploads, the second the same files by id.
        let photo = sent
            .iter()
            .find(|r| r.method == "sendPhoto" && r.params["caption"] == cap)
            .expect("photo");
        assert_eq!(photo.files[0].bytes, e.snapshot_jpeg);
        assert_eq!(photo.files[0].content_type.as_deref(), Some("image/jpeg"));
        let video = sent
            .iter()
            .find(|r| r.method == "sendVideo" && r.params["caption"].starts_with(&cap))
            .expect("video");
        assert_eq!(video.files[0].bytes.as_ref(), clip_bytes.as_slice());
        assert_eq!(video.files[0].field, "video");
    }
    assert!(sent.iter().any(|r| r.chat_id() == Some(-1001)
        && r.params
            .get("photo")
            .is_some_and(|p| p.starts_with("fake-photo"))));
    assert!(!sent.iter().any(|r| r
        .params
        .get("caption")
        .is_some_and(|p| p.contains("motion"))));
    assert_eq!(node.handle.stats().telegram.sent, 8);
    node.stop().await;
}

#[tokio::test]
async fn clip_over_the_upload_limit_becomes_a_link() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = tg_config(&fake.base_url(), &[42]);
    cfg.max_upload_bytes = 10_000;
    let node = start(cfg, dir.path());
    let e = event(1_795_000_313_120, "person", true);
    node.handle.event_started(e.clone());
    node.handle.event_finished(finished(
        &e,
        Some(Clip::Bytes(Bytes::from(vec![0u8; 10_001]))),
    ));
    assert!(fake.wait_until(WAIT, |r| sends(r).len() >= 2).await);
    let reqs = fake.requests();
    let sent = sends(&reqs);
    assert_eq!(sent[0].method, "sendPhoto");
    assert_eq!(sent[1].method, "sendMessage");
    let text = &sent[1].params["text"];
    assert!(
        text.contains(&format!(
            "https://cams.example.org/captures/{}",
            e.capture_id
        )),
        "{text}"
    );
    assert!(!reqs.iter().any(|r| r.method == "sendVideo"));
    node.stop().await;
}

#[tokio::test]
async fn commands_from_allowed_chats_only_reach_the_node() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = start(tg_config(&fake.base_url(), &[42]), dir.path());
    fake.push_text(666, "/disarm");
    fake.push_text(42, "/arm");
    fake.push_text(42, "/servo@vigia_test_bot 30");
    fake.push_text(42, "/launch");
    fake.push_text(42, "/snap");

    let mut got = Vec::new();
    for _ in 0..3 {
        let req = tokio::time::timeout(WAIT, node.commands.recv())
            .await
            .expect("command in time")
            .expect("channel open");
        assert_eq!(req.source, CommandSource::Telegram);
        let reply = req.reply.expect("telegram waits for a reply");
        match req.command {
            Command::Arm => {
                let _ = reply.send(CommandReply::Text("armed".into()));
            }
            Command::Snapshot => {
                let _ = reply.send(CommandReply::Photo {
                    jpeg: jpeg(9),
                    caption: "porch now".into(),
                });
            }
            _ => drop(reply),
        }
        got.push(req.command);
    }
    assert_eq!(
        got,
        [
            Command::Arm,
            Command::Servo { angle: 30.0 },
            Command::Snapshot
        ]
    );
    assert!(
        fake.wait_until(WAIT, |r| sends(r).len() >= 4).await,
        "{:#?}",
        fake.requests()
    );
    let reqs = fake.requests();
    let sent = sends(&reqs);
    assert!(sent.iter().all(|r| r.chat_id() == Some(42)), "{sent:#?}");
    let texts: Vec<&str> = sent
        .iter()
        .filter_map(|r| r.params.get("text").map(String::as_str))
        .collect();
    assert!(texts.contains(&"armed"), "{texts:?}");
    assert!(texts.contains(&"✓ servo 30"), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("unknown command")),
        "{texts:?}"
    );
    let photo = sent.iter().find(|r| r.method == "sendPhoto").expect("snap");
    assert_eq!(photo.params["caption"], "porch now");
    assert!(node.commands.try_recv().is_err(), "chat 666 was obeyed");
    node.stop().await;
}

#[tokio::test]
async fn persisted_offset_keeps_updates_from_running_twice_across_a_restart() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    // As if the confirmation of the first batch never reached Telegram.
    fake.lose_confirmations(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = tg_config(&fake.base_url(), &[42]);

    let mut first = start(cfg.clone(), dir.path());
    let arm_id = fake.push_text(42, "/arm");
    let req = tokio::time::timeout(WAIT, first.commands.recv())
        .await
        .expect("arm in time")
        .expect("open");
    assert_eq!(req.command, Command::Arm);
    first.stop().await;
    let offset =
        std::fs::read_to_string(dir.path().join(crate::TELEGRAM_OFFSET_FILE)).expect("offset file");
    assert_eq!(offset.trim(), (arm_id + 1).to_string());
    assert_eq!(fake.pending_updates(), 1, "the fake still holds /arm");

    let polls_before = fake.requests().len();
    let mut second = start(cfg, dir.path());
    fake.push_text(42, "/disarm");
    let req = tokio::time::timeout(WAIT, second.commands.recv())
        .await
        .expect("disarm in time")
        .expect("open");
    // Updates run in order, so a replayed /arm would have come first.
    assert_eq!(req.command, Command::Disarm);
    let first_poll = fake.requests()[polls_before..]
        .iter()
        .find(|r| r.method == "getUpdates")
        .cloned()
        .expect("second instance polled");
    assert_eq!(first_poll.params["offset"], (arm_id + 1).to_string());
    second.stop().await;
}

#[tokio::test]
async fn rate_limit_retry_after_is_honoured_and_5xx_retried() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = tg_config(&fake.base_url(), &[42]);
    cfg.commands = false;
    let node = start(cfg, dir.path());
    fake.force(
        Some("sendPhoto"),
        Forced::TooManyRequests { retry_after_s: 1 },
    );
    fake.force(Some("sendMessage"), Forced::Status(502));
    node.handle
        .event_started(event(1_795_000_313_120, "person", true));
    node.handle.telegram_text("hello".into());
    assert!(fake.wait_until(WAIT, |r| sends(r).len() >= 2).await);
    let reqs = fake.requests();
    let photos: Vec<&RecordedRequest> = reqs.iter().filter(|r| r.method == "sendPhoto").collect();
    assert_eq!(
        photos.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let gap = photos[1].at - photos[0].at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    let texts: Vec<u16> = reqs
        .iter()
        .filter(|r| r.method == "sendMessage")
        .map(|r| r.status)
        .collect();
    assert_eq!(texts, [502, 200]);
    // The fake records a request before the client has read its answer
    // and counted it: wait for the counters to settle.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = node.handle.stats().telegram;
        if (s.sent, s.retries, s.failed) == (2, 2, 0) || tokio::time::Instant::now() > deadline {
            assert_eq!((s.sent, s.retries, s.failed), (2, 2, 0));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.stop().await;
}

/// Accepts connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_dead_telegram_never_stalls_the_caller() {
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let (hanging, hole) = black_hole().await;
    for url in [refused, hanging] {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = start(tg_config(&url, &[42]), dir.path());
        let calls = 500;
        for i in 0..calls {
            let e = event(1_795_000_000_000 + i * 1000, "person", true);
            node.handle.event_started(e.clone());
            node.handle.event_finished(finished(
                &e,
                Some(Clip::Bytes(Bytes::from_static(b"\0\0\0\x18ftypmp42"))),
            ));
            node.handle.telegram_text(format!("text {i}"));
        }
        let s = node.handle.stats().telegram;
        // Queues: 8 urgent, 2 bulk, plus what the workers hold.
        assert!(s.dropped >= 3 * calls as u64 - 14, "{url}: {s:?}");
        assert_eq!(s.sent, 0);
        node.stop().await;
    }
    hole.abort();
}
