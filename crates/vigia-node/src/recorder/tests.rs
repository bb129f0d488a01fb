use std::sync::Mutex;

use bytes::Bytes;

use super::*;

/// A 64x48 JPEG: flat grey at `level`, or, for `level` 255, noise (which
/// H.264 cannot compress, so captures of it have a predictable size).
fn jpeg(level: u8) -> Bytes {
    let mut img = vigia_media::Yuv420::filled(64, 48, level, 128, 128);
    if level == 255 {
        let mut x = 0x2545_f491_u32.wrapping_mul(u32::from(level) + 7);
        for p in img.y.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *p = x as u8;
        }
    }
    Bytes::from(vigia_media::jpeg::encode_jpeg_yuv(&img, 80).expect("encode"))
}

fn frame(seq: u64, t: i64, level: u8) -> Frame {
    Frame {
        camera: "porch".parse().expect("id"),
        seq,
        captured_ms: t,
        width: 64,
        height: 48,
        jpeg: jpeg(level),
    }
}

type Events = Arc<Mutex<Vec<RecorderEvent>>>;

fn recorder(outbox: &Outbox) -> (Recorder, Events) {
    let events: Events = Arc::default();
    let e2 = events.clone();
    let mut r = Recorder::new(
        "porch".parse().expect("id"),
        outbox.clone(),
        RecordingSettings {
            fragment_ms: 1_000,
            ..RecordingSettings::default()
        },
        10.0,
        Box::new(move |e| e2.lock().expect("lock").push(e)),
    );
    r.set_retry_interval(Duration::ZERO);
    (r, events)
}

fn committed(events: &Events) -> Vec<Manifest> {
    events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::Committed(m) => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

/// An event of `pre` pre-roll frames then `n` frames at 10 fps; frame
/// `best` has the highest motion score.
fn record_event(r: &mut Recorder, id: CaptureId, pre: u64, n: u64, best: u64) {
    let pre_frames: Vec<_> = (0..pre).map(|i| frame(i, i as i64 * 100, 50)).collect();
    r.handle(RecorderMsg::Start {
        capture_id: id,
        trigger_ms: (pre as i64 - 1) * 100,
        frames: pre_frames,
        trigger_score: 0.1,
    });
    for i in pre..pre + n {
        let score = if i == best { 0.9 } else { 0.2 };
        r.handle(RecorderMsg::Frame {
            frame: frame(i, i as i64 * 100, if i == best { 200 } else { 60 }),
            motion_score: score,
        });
    }
    r.handle(RecorderMsg::End {
        end_ms: (pre + n) as i64 * 100,
        reason: EndReason::Quiet,
    });
}

#[test]
fn event_becomes_a_complete_capture_with_preroll_fragments_and_best_snapshot() {
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
    let (mut r, events) = recorder(&ob);
    let id = CaptureId::new(0, 1);
    record_event(&mut r, id.clone(), 10, 25, 20);

    let ms = committed(&events);
    assert_eq!(ms.len(), 1);
    let m = &ms[0];
    assert_eq!(m.capture_id, id);
    assert_eq!(
        m.frames, 35,
        "pre-roll and event frames are all in the clip"
    );
    assert_eq!(m.start_ms, 0);
    assert_eq!(m.trigger_ms, 900);
    assert_eq!(m.end_ms, 3_500);
    assert_eq!(m.snapshot_ms, Some(2_000));
    assert!((m.scores.motion_max - 0.9).abs() < 1e-6);
    let names: Vec<_> = m.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "snapshot.jpg",
            "clip-init.mp4",
            "clip-000001.m4s",
            "clip-000002.m4s",
            "clip-000003.m4s",
            "clip-000004.m4s"
        ]
    );
    let frames: u32 = m.files.iter().filter_map(|f| f.frames).sum();
    assert_eq!(frames, 35);
    ob.verify(&id).expect("files match the manifest");
    let snap = std::fs::read(d.path().join(id.as_str()).join("snapshot.jpg")).expect("snapshot");
    assert_eq!(
        snap,
        jpeg(200).to_vec(),
        "the snapshot is the best-scoring frame"
    );

    // Fragments were announced as they were written, before the commit.
    let ev = events.lock().expect("lock");
    let first_frag = ev.iter().position(
        |e| matches!(e, RecorderEvent::FileWritten { name, .. } if name == "clip-000001.m4s"),
    );
    let commit = ev
        .iter()
        .position(|e| matches!(e, RecorderEvent::Committed(_)));
    assert!(first_frag.expect("fragment written") < commit.expect("committed"));
    assert!(matches!(ev[0], RecorderEvent::Started { .. }));
}

/// Like `record_event` but with noisy frames of a varying pattern.
fn record_noisy_event(r: &mut Recorder, id: CaptureId, t0: i64, n: u64) {
    let noisy = |i: u64| {
        let mut f = frame(i, t0 + i as i64 * 100, 255);
        // Rotate the noise so consecutive frames differ.
        let mut v = f.jpeg.to_vec();
        let img = vigia_media::jpeg::decode_yuv420(&v).expect("decode");
        let mut img2 = img.clone();
        let k = (i as usize * 97) % img.y.len();
        img2.y.rotate_left(k);
        v = vigia_media::jpeg::encode_jpeg_yuv(&img2, 80).expect("encode");
        f.jpeg = Bytes::from(v);
        f
    };
    r.handle(RecorderMsg::Start {
        capture_id: id,
        trigger_ms: t0,
        frames: vec![noisy(0)],
        trigger_score: 0.5,
    });
    for i in 1..n {
        r.handle(RecorderMsg::Frame {
            frame: noisy(i),
            motion_score: 0.5,
        });
    }
    r.handle(RecorderMsg::End {
        end_ms: t0 + n as i64 * 100,
        reason: EndReason::Quiet,
    });
}

#[test]
fn full_outbox_defers_files_keeps_older_captures_and_commits_when_space_returns() {
    // Measure the two captures' sizes in a scratch outbox first.
    let scratch = tempfile::tempdir().expect("tempdir");
    let (sob, _) = Outbox::open(scratch.path(), 1 << 30).expect("open");
    let (mut sr, _) = recorder(&sob);
    record_noisy_event(&mut sr, CaptureId::new(0, 1), 0, 15);
    let s1 = sob.stats().bytes.load(Ordering::Relaxed);
    record_noisy_event(&mut sr, CaptureId::new(100_000, 2), 100_000, 25);
    let s2 = sob.stats().bytes.load(Ordering::Relaxed) - s1;
    assert!(s1 > 8_192 && s2 > s1, "sizes {s1} {s2}");

    // Room for the second capture alone, not for both.
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, _) = Outbox::open(d.path(), s2 + s1 / 2).expect("open");
    let (mut r, events) = recorder(&ob);
    record_noisy_event(&mut r, CaptureId::new(0, 1), 0, 15);
    let first = committed(&events);
    assert_eq!(first.len(), 1);
    record_noisy_event(&mut r, CaptureId::new(100_000, 2), 100_000, 25);
    assert_eq!(
        committed(&events).len(),
        1,
        "no room: the second capture waits in memory"
    );
    assert!(r.is_busy());
    assert!(ob.stats().space_errors.load(Ordering::Relaxed) > 0);
    ob.verify(&first[0].capture_id)
        .expect("older capture intact");

    // The older capture is acknowledged (uploaded): space returns.
    let acks: Vec<_> = first[0]
        .files
        .iter()
        .map(|f| (f.name.clone(), f.sha256.clone()))
        .collect();
    ob.acknowledge(&first[0].capture_id, &acks).expect("ack");
    r.retry_unfinished();
    let ms = committed(&events);
    assert_eq!(
        ms.len(),
        2,
        "the waiting capture is committed once there is space"
    );
    assert_eq!(ms[1].frames, 25);
    assert!(!r.is_busy());
    ob.verify(&ms[1].capture_id).expect("complete and intact");
}

#[test]
fn undecodable_frame_is_counted_and_the_clip_goes_on() {
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
    let (mut r, events) = recorder(&ob);
    r.handle(RecorderMsg::Start {
        capture_id: CaptureId::new(0, 3),
        trigger_ms: 0,
        frames: vec![frame(0, 0, 80)],
        trigger_score: 0.5,
    });
    let mut bad = frame(1, 100, 80);
    bad.jpeg = Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xDB, 0, 3, 0, 0xFF, 0xD9]);
    r.handle(RecorderMsg::Frame {
        frame: bad,
        motion_score: 0.5,
    });
    for i in 2..10 {
        r.handle(RecorderMsg::Frame {
            frame: frame(i, i as i64 * 100, 80),
            motion_score: 0.3,
        });
    }
    r.handle(RecorderMsg::End {
        end_ms: 1_000,
        reason: EndReason::Quiet,
    });
    assert_eq!(r.stats().encode_errors.load(Ordering::Relaxed), 1);
    let ms = committed(&events);
    assert_eq!(ms.len(), 1);
    let clip_frames: u32 = ms[0].files.iter().filter_map(|f| f.frames).sum();
    assert_eq!(clip_frames, 9);
}

/// A person event: the verdict is reported when it changes and once more
/// at the end, the manifest carries the label, and the snapshot is the best
/// person frame with a red box drawn on a copy (the clip keeps the frame).
#[test]
fn person_verdict_labels_the_capture_and_draws_the_box_on_the_snapshot() {
    use crate::detection::{EventLabel, Verdict};
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
    let (mut r, events) = recorder(&ob);
    let id = CaptureId::new(0, 7);
    r.handle(RecorderMsg::Start {
        capture_id: id.clone(),
        trigger_ms: 0,
        frames: vec![frame(0, 0, 60)],
        trigger_score: 0.5,
    });
    let person_frame = frame(3, 300, 90);
    for i in 1..10u64 {
        let f = if i == 3 {
            person_frame.clone()
        } else {
            frame(i, i as i64 * 100, 60)
        };
        // The motion score favours frame 8; the person sighting must win.
        let score = if i == 8 { 0.9 } else { 0.2 };
        r.handle(RecorderMsg::Frame {
            frame: f,
            motion_score: score,
        });
    }
    let person = Verdict {
        label: EventLabel::Person,
        person_max: 0.8,
        detections: 3,
        alarm: true,
    };
    r.handle(RecorderMsg::Person {
        frame: person_frame,
        score: 0.8,
        rect: vigia_detect::Rect {
            x1: 10.0,
            y1: 8.0,
            x2: 40.0,
            y2: 40.0,
        },
    });
    r.handle(RecorderMsg::Verdict(person));
    r.handle(RecorderMsg::Verdict(person)); // unchanged: not reported again
    r.handle(RecorderMsg::End {
        end_ms: 1_000,
        reason: EndReason::Quiet,
    });

    let verdicts: Vec<(Verdict, bool)> = events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::Verdict {
                verdict,
                final_verdict,
                capture_id,
                ..
            } if *capture_id == id => Some((*verdict, *final_verdict)),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, vec![(person, false), (person, true)]);
    let ms = committed(&events);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].label, "person");
    assert_eq!(ms[0].scores.person_max, Some(0.8));
    assert_eq!(ms[0].scores.detections, 3);
    assert_eq!(ms[0].snapshot_ms, Some(300));
    let snap = std::fs::read(d.path().join(id.as_str()).join("snapshot.jpg")).expect("snapshot");
    let img = vigia_media::jpeg::decode_yuv420(&snap).expect("snapshot decodes");
    let at = |x: usize, y: usize| (img.y[y * 64 + x], img.v[(y / 2) * 32 + x / 2]);
    let (edge_y, edge_v) = at(10, 20);
    assert!(edge_v > 200, "box edge is red (V {edge_v}, Y {edge_y})");
    let (inside_y, inside_v) = at(25, 24);
    assert!(
        (i32::from(inside_y) - 90).abs() < 6 && (i32::from(inside_v) - 128).abs() < 6,
        "inside the box the frame is untouched: Y {inside_y} V {inside_v}"
    );
}

/// A motion-only event is labelled motion and reports its final verdict.
#[test]
fn motion_event_reports_a_final_motion_verdict() {
    let d = tempfile::tempdir().expect("tempdir");
    let (ob, _) = Outbox::open(d.path(), 1 << 30).expect("open");
    let (mut r, events) = recorder(&ob);
    record_event(&mut r, CaptureId::new(0, 9), 2, 5, 4);
    let finals: Vec<bool> = events
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            RecorderEvent::Verdict {
                verdict,
                final_verdict: true,
                ..
            } => Some(verdict.alarm),
            _ => None,
        })
        .collect();
    assert_eq!(finals, vec![false]);
    let m = &committed(&events)[0];
    assert_eq!(m.label, "motion");
    assert_eq!(
        m.scores.person_max, None,
        "no detection ran: no person score"
    );
}
