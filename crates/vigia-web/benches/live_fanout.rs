//! Live MJPEG fan-out over real TCP: one camera at 10 fps, 50 viewers,
//! plus one viewer that connects and never reads.
//!
//! The server is `vigia_web::serve` on 127.0.0.1:0 on its own multi-thread
//! runtime (one worker per core). The frames are 768x576 synthetic scenes
//! encoded at JPEG q80; a publisher thread feeds them into the `LiveHub`
//! at 10 fps, as the link from a node would.
//!
//! Latency: the MJPEG parts carry only `Content-Type` and `Content-Length`
//! (no sequence number or timestamp header), so each published JPEG gets a
//! COM segment (`FF FE`, "vseq" + the frame's `seq`, big-endian) right after
//! SOI; `Frame::seq` holds the same number and `captured_ms` the wall time.
//! The publisher records the monotonic publish time per seq just before
//! `LiveHub::publish`; a viewer records the time the read that completed a
//! part (its JPEG's last byte and the trailing CRLF) returned. Latency is
//! the difference. The first second of every run is left out (warm-up).
//!
//! CPU: viewers run as tasks on ONE separate current-thread runtime (one OS
//! thread), so their CPU is that thread's `RUSAGE_THREAD`; the publisher
//! thread's is measured the same way; "server" is `RUSAGE_SELF` minus
//! both. A run with 0 viewers is the baseline. Memory: `VmRSS` sampled
//! every 500 ms from `/proc/self/status` while the stalled viewer is
//! connected, and `VmHWM` (peak).
//!
//! Prints figures and goals (p99 <= 50 ms; RSS flat with a stalled viewer);
//! asserts nothing. Run: `cargo bench -p vigia-web --bench live_fanout`

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};
use vigia_base::{CameraId, Clock, RealClock};
use vigia_media::synthetic::{SceneConfig, SyntheticScene};
use vigia_media::Frame;
use vigia_store::{Role, Store, StoreConfig};
use vigia_web::{app, AppState, LiveHub, WebConfig};

const FPS: u64 = 10;
const WARMUP_FRAMES: u64 = FPS;
const VIEWERS: usize = 50;
const GOAL_P99_MS: f64 = 50.0;
const BOUNDARY: &[u8] = b"--vigia-frame";

// ---------------------------------------------------------------- process stats

fn cpu_s(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(r, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn proc_status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fionread(s: &TcpStream) -> i64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int for a socket we own.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r == 0 {
        i64::from(n)
    } else {
        -1
    }
}

// ---------------------------------------------------------------- frames

/// A few distinct 768x576 synthetic frames, JPEG q80.
fn base_jpegs() -> Vec<Vec<u8>> {
    let mut scene = SyntheticScene::new(SceneConfig::default());
    (0..5u64)
        .map(|i| {
            let img = scene.render(i * 37);
            vigia_media::jpeg::encode_jpeg_yuv(&img, 80).expect("encode")
        })
        .collect()
}

/// `jpeg` with a COM segment carrying `seq` right after SOI.
fn tag_jpeg(jpeg: &[u8], seq: u64) -> Bytes {
    let mut v = Vec::with_capacity(jpeg.len() + 18);
    v.extend_from_slice(&[0xff, 0xd8, 0xff, 0xfe, 0x00, 14]);
    v.extend_from_slice(b"vseq");
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&jpeg[2..]);
    Bytes::from(v)
}

fn seq_of(jpeg: &[u8]) -> Option<u64> {
    (jpeg.len() >= 18 && &jpeg[6..10] == b"vseq")
        .then(|| u64::from_be_bytes(jpeg[10..18].try_into().expect("8 bytes")))
}

// ---------------------------------------------------------------- viewer side

/// Incremental HTTP/1.1 response + chunked + multipart parser, just enough
/// to know when each part's last byte arrived.
#[derive(Default)]
struct Parser {
    raw: Vec<u8>,
    head_done: bool,
    chunked: bool,
    chunk_left: usize,
    need_crlf: bool,
    body: Vec<u8>,
    ended: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Parser {
    fn feed(&mut self, data: &[u8], now_ns: u64, out: &mut Vec<(u64, u64)>) -> Result<(), String> {
        self.raw.extend_from_slice(data);
        if !self.head_done {
            let Some(end) = find(&self.raw, b"\r\n\r\n") else {
                return Ok(());
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err(format!("unexpected response: {head}"));
            }
            self.chunked = head.contains("transfer-encoding: chunked");
            self.raw.drain(..end + 4);
            self.head_done = true;
        }
        if !self.chunked {
            self.body.append(&mut self.raw);
        } else {
            let mut pos = 0;
            while pos < self.raw.len() {
                let rest = &self.raw[pos..];
                if self.chunk_left > 0 {
                    let n = self.chunk_left.min(rest.len());
                    self.body.extend_from_slice(&rest[..n]);
                    pos += n;
                    self.chunk_left -= n;
                    self.need_crlf = self.chunk_left == 0;
                } else if self.need_crlf {
                    if rest.len() < 2 {
                        break;
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err("missing CRLF after chunk".into());
                    }
                    pos += 2;
                    self.need_crlf = false;
                } else {
                    let Some(eol) = find(rest, b"\r\n") else {
                        break;
                    };
                    let line = std::str::from_utf8(&rest[..eol]).map_err(|e| e.to_string())?;
                    let size =
                        usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                            .map_err(|e| format!("chunk size {line:?}: {e}"))?;
                    pos += eol + 2;
                    if size == 0 {
                        self.ended = true;
                        break;
                    }
                    self.chunk_left = size;
                }
            }
            self.raw.drain(..pos);
        }
        // Multipart: "--vigia-frame\r\nContent-Type: ..\r\nContent-Length: N\r\n\r\n" JPEG "\r\n".
        let mut pos = 0;
        loop {
            let rest = &self.body[pos..];
            let Some(hend) = find(&rest[..rest.len().min(512)], b"\r\n\r\n") else {
                break;
            };
            if !rest.starts_with(BOUNDARY) {
                return Err("part without boundary".into());
            }
            let head = String::from_utf8_lossy(&rest[..hend]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or("part without content-length")?;
            let total = hend + 4 + len + 2;
            if rest.len() < total {
                break;
            }
            let jpeg = &rest[hend + 4..hend + 4 + len];
            out.push((seq_of(jpeg).unwrap_or(u64::MAX), now_ns));
            pos += total;
        }
        self.body.drain(..pos);
        Ok(())
    }
}

struct ViewerOut {
    /// (seq, arrival ns since `base`)
    parts: Vec<(u64, u64)>,
    bytes: u64,
    error: Option<String>,
}

fn request(cookie: &str) -> String {
    format!(
        "GET /live/front.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nAccept: */*\r\n\r\n"
    )
}

async fn viewer(
    addr: SocketAddr,
    req: String,
    base: Instant,
    mut stop: watch::Receiver<bool>,
) -> ViewerOut {
    let mut out = ViewerOut {
        parts: Vec::with_capacity(512),
        bytes: 0,
        error: None,
    };
    let mut sock = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(format!("connect: {e}"));
            return out;
        }
    };
    if let Err(e) = sock.write_all(req.as_bytes()).await {
        out.error = Some(format!("write: {e}"));
        return out;
    }
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            r = sock.read(&mut buf) => {
                let n = match r {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => { out.error = Some(format!("read: {e}")); break; }
                };
                let now = base.elapsed().as_nanos() as u64;
                out.bytes += n as u64;
                if let Err(e) = parser.feed(&buf[..n], now, &mut out.parts) {
                    out.error = Some(e);
                    break;
                }
                if parser.ended {
                    break;
                }
            }
        }
    }
    out
}

/// Connects, asks for the stream, never reads. Returns the bytes waiting
/// unread in its socket's receive queue at the end.
async fn stalled_viewer(addr: SocketAddr, req: String, mut stop: watch::Receiver<bool>) -> i64 {
    let mut sock = TcpStream::connect(addr).await.expect("connect stalled");
    sock.write_all(req.as_bytes()).await.expect("write stalled");
    let _ = stop.changed().await;
    fionread(&sock)
}

// ---------------------------------------------------------------- one run

struct Env {
    store: Store,
    cookie: String,
    jpegs: Vec<Vec<u8>>,
    server_rt: tokio::runtime::Runtime,
    viewer_rt: Handle,
}

struct RunOut {
    lat_ms: Vec<f64>,
    p99_ms: f64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn thread_cpu_on(h: &Handle, rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(h.spawn(async { cpu_s(libc::RUSAGE_THREAD) }))
        .expect("cpu task")
}

fn run(env: &Env, name: &str, viewers: usize, stalled: bool, secs: u64) -> RunOut {
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    let hub = LiveHub::new(clock.clone(), 30_000);
    let camera: CameraId = "front".parse().expect("camera");
    hub.register(&camera);
    let state = AppState::new(env.store.clone(), hub.clone(), WebConfig::default(), clock);
    let rt = &env.server_rt;
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (shut_tx, shut_rx) = oneshot::channel::<()>();
    let server = rt.spawn(vigia_web::serve(listener, app(state), async {
        let _ = shut_rx.await;
    }));

    let base = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let req = request(&env.cookie);
    let handles: Vec<_> = (0..viewers)
        .map(|_| {
            env.viewer_rt
                .spawn(viewer(addr, req.clone(), base, stop_rx.clone()))
        })
        .collect();
    let stalled_h = stalled.then(|| {
        env.viewer_rt
            .spawn(stalled_viewer(addr, req.clone(), stop_rx.clone()))
    });
    let expect = viewers + usize::from(stalled);
    let t = Instant::now();
    while hub.cameras()[0].viewers < expect {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "only {} of {expect} viewers connected",
            hub.cameras()[0].viewers
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Measurement window: the whole publishing period.
    let frames = secs * FPS;
    let publish_ns: Arc<Vec<AtomicU64>> =
        Arc::new((0..frames).map(|_| AtomicU64::new(0)).collect());
    let self0 = cpu_s(libc::RUSAGE_SELF);
    let view0 = thread_cpu_on(&env.viewer_rt, rt);
    let rss0 = proc_status_kb("VmRSS:");
    let wall0 = Instant::now();
    let publisher = {
        let hub = hub.clone();
        let jpegs = env.jpegs.clone();
        let publish_ns = publish_ns.clone();
        let camera = camera.clone();
        std::thread::spawn(move || {
            let c0 = cpu_s(libc::RUSAGE_THREAD);
            let start = Instant::now();
            for seq in 0..frames {
                let due = start + Duration::from_millis(seq * 1000 / FPS);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
                let jpeg = tag_jpeg(&jpegs[seq as usize % jpegs.len()], seq);
                let frame = Frame {
                    camera: camera.clone(),
                    seq,
                    captured_ms: RealClock.now_ms(),
                    width: 768,
                    height: 576,
                    jpeg,
                };
                publish_ns[seq as usize].store(base.elapsed().as_nanos() as u64, Ordering::SeqCst);
                hub.publish(frame);
            }
            // Let the last frame reach everyone before the window closes.
            std::thread::sleep(Duration::from_millis(1000 / FPS));
            cpu_s(libc::RUSAGE_THREAD) - c0
        })
    };
    let mut rss_samples = vec![rss0];
    while !publisher.is_finished() {
        std::thread::sleep(Duration::from_millis(500));
        rss_samples.push(proc_status_kb("VmRSS:"));
    }
    let pub_cpu = publisher.join().expect("publisher");
    let wall = wall0.elapsed().as_secs_f64();
    let view_cpu = thread_cpu_on(&env.viewer_rt, rt) - view0;
    let self_cpu = cpu_s(libc::RUSAGE_SELF) - self0;
    let rss1 = proc_status_kb("VmRSS:");
    let hwm = proc_status_kb("VmHWM:");
    let watching = hub.cameras()[0].viewers;

    stop_tx.send_replace(true);
    let outs: Vec<ViewerOut> = handles
        .into_iter()
        .map(|h| rt.block_on(h).expect("viewer task"))
        .collect();
    let stalled_queued = stalled_h.map(|h| rt.block_on(h).expect("stalled task"));
    hub.close();
    let _ = shut_tx.send(());
    rt.block_on(server).expect("server task").expect("serve");

    // ---- figures
    let p = |k: &str| format!("live.{name}.{k}");
    let measured = frames - WARMUP_FRAMES;
    let mut lat_ms = Vec::new();
    let mut worst: Vec<(f64, usize, u64)> = Vec::new();
    let mut per_viewer: Vec<u64> = Vec::new();
    let mut errors = 0;
    let mut bytes = 0;
    for (vi, o) in outs.iter().enumerate() {
        if let Some(e) = &o.error {
            errors += 1;
            eprintln!("viewer {vi}: {e}");
        }
        bytes += o.bytes;
        let mut n = 0;
        for &(seq, at) in &o.parts {
            if seq == u64::MAX || seq >= frames || seq < WARMUP_FRAMES {
                continue;
            }
            let sent = publish_ns[seq as usize].load(Ordering::SeqCst);
            let ms = at.saturating_sub(sent) as f64 / 1e6;
            lat_ms.push(ms);
            worst.push((ms, vi, seq));
            n += 1;
        }
        per_viewer.push(n);
    }
    lat_ms.sort_by(f64::total_cmp);
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    per_viewer.sort_unstable();
    let p99 = pct(&lat_ms, 0.99);
    println!(
        "live.{name}: {viewers} viewers{}, {secs} s at {FPS} fps, {} frames published ({measured} measured after {WARMUP_FRAMES} warm-up)",
        if stalled { " + 1 stalled" } else { "" },
        frames
    );
    if viewers > 0 {
        println!("{}: {:.2}", p("latency.p50_ms"), pct(&lat_ms, 0.5));
        println!(
            "{}: {:.2}  (goal <= {GOAL_P99_MS}{})",
            p("latency.p99_ms"),
            p99,
            if p99 <= GOAL_P99_MS {
                ", met"
            } else {
                ", MISSED"
            }
        );
        println!("{}: {:.2}", p("latency.max_ms"), pct(&lat_ms, 1.0));
        println!(
            "{}: {}",
            p("latency.over_10ms"),
            lat_ms.iter().filter(|&&m| m > 10.0).count()
        );
        println!(
            "{}: {}  (of {} samples)",
            p("latency.over_50ms"),
            lat_ms.iter().filter(|&&m| m > 50.0).count(),
            lat_ms.len()
        );
        let w: Vec<String> = worst
            .iter()
            .take(5)
            .map(|(ms, v, s)| format!("{ms:.1}ms@viewer{v}/seq{s}"))
            .collect();
        println!("{}: {}", p("latency.worst5"), w.join(" "));
        println!(
            "{}: min {} / median {} / max {}  (published {measured}; goal = all)",
            p("frames_per_viewer"),
            per_viewer[0],
            per_viewer[per_viewer.len() / 2],
            per_viewer[per_viewer.len() - 1]
        );
        println!("{}: {errors}", p("viewer_errors"));
        println!(
            "{}: {:.1}",
            p("delivered_mbit_s"),
            bytes as f64 * 8.0 / 1e6 / wall
        );
    }
    let server_cpu = self_cpu - view_cpu - pub_cpu;
    println!(
        "{}: {:.3}  ({:.1} % of one core over {wall:.1} s; {:.2} ms per published frame)",
        p("cpu.server_s"),
        server_cpu,
        server_cpu / wall * 100.0,
        server_cpu * 1e3 / frames as f64
    );
    println!(
        "{}: {:.3}  (viewer thread) / publisher {:.3} / process total {:.3}",
        p("cpu.viewers_s"),
        view_cpu,
        pub_cpu,
        self_cpu
    );
    let rss_max = rss_samples.iter().copied().max().unwrap_or(0);
    let rss_after_2s = rss_samples.get(4).copied().unwrap_or(rss0);
    println!(
        "{}: start {:.1} / after 2 s {:.1} / end {:.1} / max {:.1}; growth 2 s->end {:+} kB, start->end {:+} kB  (goal: flat)",
        p("rss_mb"),
        rss0 as f64 / 1024.0,
        rss_after_2s as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        rss_max as f64 / 1024.0,
        rss1 as i64 - rss_after_2s as i64,
        rss1 as i64 - rss0 as i64
    );
    let series: Vec<String> = rss_samples
        .iter()
        .step_by(4)
        .map(|kb| format!("{:.1}", *kb as f64 / 1024.0))
        .collect();
    println!("{}: {}", p("rss_every_2s_mb"), series.join(" "));
    println!("{}: {:.1}", p("vm_hwm_mb"), hwm as f64 / 1024.0);
    println!("{}: {watching}", p("hub_viewers_at_end"));
    if let Some(q) = stalled_queued {
        println!(
            "{}: {q}  (bytes unread in the stalled client's socket at the end)",
            p("stalled_queued_bytes")
        );
    }
    RunOut {
        lat_ms,
        p99_ms: p99,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = Store::open(StoreConfig {
        db_path: dir.path().join("vigia.db"),
        media_dir: dir.path().join("media"),
        min_free_bytes: 0,
    })
    .expect("open store");
    let user = store
        .add_user("bench", "bench-password-1", Role::Viewer)
        .expect("user");
    let session = store
        .create_session(user.id, RealClock.now_ms(), 3_600_000)
        .expect("session");
    let jpegs = base_jpegs();
    let sizes: Vec<usize> = jpegs.iter().map(Vec::len).collect();
    println!("live.setup.jpeg_bytes: {sizes:?}  (768x576 q80 synthetic)");

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server runtime");
    // Viewers: one OS thread, one current-thread runtime.
    let (htx, hrx) = std::sync::mpsc::channel();
    let (vstop_tx, vstop_rx) = oneshot::channel::<()>();
    let viewer_thread = std::thread::Builder::new()
        .name("viewers".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("viewer runtime");
            htx.send(rt.handle().clone()).expect("handle");
            rt.block_on(async {
                let _ = vstop_rx.await;
            });
        })
        .expect("viewer thread");
    let viewer_rt = hrx.recv().expect("viewer runtime handle");
    println!(
        "live.setup: server runtime {} workers; viewers on 1 separate thread; {} cores",
        server_rt.metrics().num_workers(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let env = Env {
        store,
        cookie: format!("vigia_session={}", session.token),
        jpegs,
        server_rt,
        viewer_rt,
    };

    let with = run(&env, "stalled", VIEWERS, true, 20);
    let without = run(&env, "no_stall", VIEWERS, false, 10);
    run(&env, "baseline_0_viewers", 0, false, 10);
    println!(
        "live.stall_effect.p99_ms: with stalled {:.2} / without {:.2}  ({} / {} samples)",
        with.p99_ms,
        without.p99_ms,
        with.lat_ms.len(),
        without.lat_ms.len()
    );

    let _ = vstop_tx.send(());
    viewer_thread.join().expect("viewer thread");
}
