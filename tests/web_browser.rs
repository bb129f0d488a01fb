//! End to end in a real browser: Debian's chromium, driven through
//! chromedriver, against `vigia demo` (server + node on the synthetic
//! camera) on 127.0.0.1. Signs in, finds today's capture in the history,
//! plays its clip, watches the live view update, signs out. Screenshots of
//! each page are saved under the target directory's tmp folder.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn artifacts() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-browser-screenshots");
    std::fs::create_dir_all(&d).expect("artifact dir");
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let p = artifacts().join(format!("{name}.png"));
    std::fs::write(&p, png).expect("write screenshot");
    eprintln!("screenshot: {}", p.display());
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_history_clip_live_and_sign_out_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = vigia();
    cmd.arg("demo")
        .arg("--data")
        .arg(dir.path())
        .args(["--http", "127.0.0.1:0"]);
    let mut demo = Running::spawn(cmd);
    demo.wait_for("open:", 1, Duration::from_secs(60));
    let url = demo
        .seen
        .iter()
        .find_map(|l| l.split("open:").nth(1))
        .expect("url")
        .trim()
        .to_owned();
    let password = demo
        .seen
        .iter()
        .find_map(|l| l.split("admin / ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .expect("one-time admin password")
        .to_owned();
    // The first figure crosses at 6 s; its capture is stored ~15 s in.
    demo.wait_for("capture saved", 1, Duration::from_secs(90));

    let port = free_port();
    let driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/test.sh installs chromium-driver)"),
    );
    let profile = tempfile::tempdir().expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900",
                     format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    let mut client = None;
    for _ in 0..50 {
        let conn = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(conn)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let c = client.expect("connect to chromedriver");

    // Sign in.
    c.goto(&url).await.expect("open login page");
    shot(&c, "1-login").await;
    c.find(Locator::Css("input[name=username]"))
        .await
        .expect("username")
        .send_keys("admin")
        .await
        .expect("type");
    c.find(Locator::Css("input[name=password]"))
        .await
        .expect("password")
        .send_keys(&password)
        .await
        .expect("type");
    c.find(Locator::Css("form button, form input[type=submit]"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    wait_until("history after sign-in", Duration::from_secs(20), || async {
        c.current_url()
            .await
            .map(|u| u.path().starts_with("/history"))
            .unwrap_or(false)
    })
    .await;

    // Today's capture is in the history (the uploader may need a moment).
    wait_until(
        "a capture in the history",
        Duration::from_secs(60),
        || async {
            if c.find(Locator::Css("a[href^='/captures/']")).await.is_ok() {
                return true;
            }
            let _ = c.refresh().await;
            false
        },
    )
    .await;
    shot(&c, "2-history").await;
    // The same page on a phone: no sideways scrolling.
    c.set_window_size(390, 844).await.expect("phone size");
    let fits: serde_json::Value = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .expect("js");
    shot(&c, "2b-history-phone").await;
    assert_eq!(
        fits,
        serde_json::Value::Bool(true),
        "history overflows a phone screen"
    );
    c.set_window_size(1280, 900).await.expect("desktop size");
    let thumb_ok: serde_json::Value = c
        .execute("const i = document.querySelector('img'); return !!i && i.complete && i.naturalWidth > 0;", vec![])
        .await
        .expect("js");
    assert_eq!(thumb_ok, serde_json::Value::Bool(true), "thumbnail loaded");

    // Open it and play the clip.
    c.find(Locator::Css("a[href^='/captures/']"))
        .await
        .expect("capture link")
        .click()
        .await
        .expect("click");
    wait_until("the capture page", Duration::from_secs(20), || async {
        c.find(Locator::Css("video")).await.is_ok()
    })
    .await;
    c.execute(
        "const v = document.querySelector('video'); v.muted = true; v.play();",
        vec![],
    )
    .await
    .expect("play");
    wait_until(
        "the clip to play past 1 s",
        Duration::from_secs(30),
        || async {
            c.execute(
                "return document.querySelector('video').currentTime;",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_f64())
            .is_some_and(|t| t > 1.0)
        },
    )
    .await;
    let duration = c
        .execute("return document.querySelector('video').duration;", vec![])
        .await
        .expect("js")
        .as_f64()
        .expect("duration");
    assert!(
        duration > 5.0,
        "the whole clip is seekable, not just its first fragments: {duration}"
    );
    shot(&c, "3-capture").await;

    // Live view: the MJPEG image keeps changing.
    c.goto(&format!("{}live", url)).await.expect("live page");
    c.find(Locator::Css("img[src*='.mjpg']"))
        .await
        .expect("live image");
    wait_until("the live image to load", Duration::from_secs(20), || async {
        c.execute("const i = document.querySelector(\"img[src*='.mjpg']\"); return i.naturalWidth > 0;", vec![])
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    })
    .await;
    // A fingerprint of what the <img> shows now (drawn onto a canvas:
    // same origin, so its pixels are readable).
    let fingerprint = || async {
        c.execute(
            "const i = document.querySelector(\"img[src*='.mjpg']\");\
             const k = document.createElement('canvas'); k.width = 64; k.height = 48;\
             const g = k.getContext('2d'); g.drawImage(i, 0, 0, 64, 48);\
             const d = g.getImageData(0, 0, 64, 48).data; let h = 0;\
             for (let j = 0; j < d.length; j++) { h = (h * 31 + d[j]) | 0; } return h;",
            vec![],
        )
        .await
        .expect("fingerprint")
    };
    let first = fingerprint().await;
    let mut changed = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if fingerprint().await != first {
            changed = true;
            break;
        }
    }
    assert!(changed, "the live image did not update");
    shot(&c, "4-live").await;

    // Sign out: history is no longer reachable.
    c.find(Locator::Css(
        "form[action='/logout'] button, form[action='/logout'] input[type=submit]",
    ))
    .await
    .expect("logout button")
    .click()
    .await
    .expect("click");
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.goto(&format!("{}history", url))
        .await
        .expect("history again");
    let path = c.current_url().await.expect("url").path().to_owned();
    assert_eq!(path, "/", "history redirects to sign-in after logout");
    shot(&c, "5-after-logout").await;
    c.close().await.expect("close browser");
    drop(driver);
    assert!(demo.stop().success());
}
