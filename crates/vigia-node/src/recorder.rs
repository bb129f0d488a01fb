//! The recorder: turns an event's frames into a capture in the outbox.
//!
//! It runs on its own thread because H.264 encoding is the node's most
//! expensive work and must never stall analysis: the analysis stage hands it
//! frames through a bounded queue and drops (and counts) frames when the
//! queue is full rather than waiting.
//!
//! Per event it writes, in this order: the snapshot of the trigger frame at
//! once (so even a camera smashed a second later leaves a photo), the clip's
//! init segment and each fragment as the encoder finishes it (each one can
//! leave the device while the event still runs), then at the end the best
//! snapshot and the manifest. When the person detector found someone, the
//! best snapshot is the frame with the highest person score, with the
//! person's box drawn on it (a copy: the clip keeps the untouched frame),
//! and the manifest's label is the event's verdict (`person` or `motion`).
//!
//! When the outbox is out of space (quota or disk full) the files of the
//! running event wait in memory, bounded, and are retried at most once a
//! second; older pending captures are never touched. What cannot be kept is
//! dropped and counted, never silently.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigia_base::{CameraId, CaptureId};
use vigia_config::RecordingSettings;
use vigia_media::clip::{ClipChunk, ClipConfig, ClipEncoder};
use vigia_media::Frame;

use crate::detection::Verdict;
use crate::event::EndReason;
use crate::outbox::{
    CaptureWriter, FileKind, FragmentTiming, Manifest, Outbox, OutboxError, Scores,
    MANIFEST_VERSION,
};

/// What the analysis stage tells the recorder.
#[derive(Debug)]
pub enum RecorderMsg {
    /// An event starts: `frames` is the pre-roll, oldest first, ending with
    /// the trigger frame.
    Start {
        capture_id: CaptureId,
        trigger_ms: i64,
        frames: Vec<Frame>,
        trigger_score: f32,
    },
    /// A frame of the running event with its motion score.
    Frame {
        frame: Frame,
        motion_score: f32,
    },
    End {
        end_ms: i64,
        reason: EndReason,
    },
    /// The running event's label and alarm decision changed (or is final,
    /// just before `End`).
    Verdict(Verdict),
    /// The best person sighting of the running event so far: becomes the
    /// snapshot, with `rect` (source pixels) drawn on it.
    Person {
        frame: Frame,
        score: f32,
        rect: vigia_detect::Rect,
    },
}

/// What the recorder reports (for the demo's event lines, and later the
/// uploader and notifications).
#[derive(Debug, Clone)]
pub enum RecorderEvent {
    Started {
        capture_id: CaptureId,
        trigger_ms: i64,
    },
    FileWritten {
        capture_id: CaptureId,
        name: String,
        bytes: u64,
    },
    Committed(Box<Manifest>),
    Failed {
        capture_id: CaptureId,
        error: String,
    },
    /// What the event is and whether it raises an alarm on an armed node.
    /// Sent when that becomes known and whenever it changes: at the start
    /// when every event alarms (`alarm_on = "motion"`, or no detector), as
    /// soon as the event becomes a `person` event, and once more with
    /// `final_verdict` at the end, before the capture is committed. An
    /// alarm consumer raises at the first `alarm: true` of a capture
    /// ([`Verdict::alarm_trigger`] builds the alarm controller's input).
    Verdict {
        capture_id: CaptureId,
        trigger_ms: i64,
        verdict: Verdict,
        final_verdict: bool,
    },
}

#[derive(Debug, Default)]
pub struct RecorderStats {
    pub captures_committed: AtomicU64,
    pub frames_encoded: AtomicU64,
    pub frames_not_encoded: AtomicU64,
    pub bytes_dropped: AtomicU64,
    pub write_retries: AtomicU64,
    pub encode_errors: AtomicU64,
    /// Total encoder time, µs (with frames_encoded: ms per frame).
    pub encode_us: AtomicU64,
}

/// Files waiting for space are bounded by this many bytes.
const MAX_DEFERRED_BYTES: u64 = 32 << 20;
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

struct Deferred {
    kind: FileKind,
    bytes: Vec<u8>,
    timing: Option<FragmentTiming>,
}

struct ActiveCapture {
    capture_id: CaptureId,
    trigger_ms: i64,
    start_ms: i64,
    writer: Option<CaptureWriter>,
    clip: Option<ClipEncoder>,
    deferred: VecDeque<Deferred>,
    deferred_bytes: u64,
    last_retry: Option<Instant>,
    best: Option<(f32, Frame)>,
    snapshot_seq: Option<u64>,
    frames: u32,
    last_frame_ms: i64,
    motion_sum: f64,
    motion_n: u32,
    motion_max: f32,
    verdict: Verdict,
    /// Best person sighting: score, frame, box.
    person: Option<(f32, Frame, vigia_detect::Rect)>,
}

pub struct Recorder {
    camera: CameraId,
    outbox: Outbox,
    settings: RecordingSettings,
    fps_hint: f32,
    stats: Arc<RecorderStats>,
    events: Box<dyn FnMut(RecorderEvent) + Send>,
    active: Option<ActiveCapture>,
    /// Finished captures whose files or manifest still wait for space.
    unfinished: Vec<(ActiveCapture, Manifest)>,
    retry_interval: Duration,
}

impl Recorder {
    pub fn new(
        camera: CameraId,
        outbox: Outbox,
        settings: RecordingSettings,
        fps_hint: f32,
        events: Box<dyn FnMut(RecorderEvent) + Send>,
    ) -> Self {
        Self {
            camera,
            outbox,
            settings,
            fps_hint,
            stats: Arc::new(RecorderStats::default()),
            events,
            active: None,
            unfinished: Vec::new(),
            retry_interval: RETRY_INTERVAL,
        }
    }

    /// How long to wait between attempts to write into a full outbox.
    pub fn set_retry_interval(&mut self, d: Duration) {
        self.retry_interval = d;
    }

    /// Whether an event is being recorded or a capture still waits for space.
    pub fn is_busy(&self) -> bool {
        self.active.is_some() || !self.unfinished.is_empty()
    }

    pub fn stats(&self) -> Arc<RecorderStats> {
        self.stats.clone()
    }

    /// Runs until the channel closes, then finishes the running event.
    pub fn run(mut self, rx: std::sync::mpsc::Receiver<RecorderMsg>) {
        loop {
            match rx.recv_timeout(self.retry_interval) {
                Ok(msg) => self.handle(msg),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => self.retry_unfinished(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        if self.active.is_some() {
            let end = self.active.as_ref().map_or(0, |a| a.last_frame_ms);
            self.handle(RecorderMsg::End {
                end_ms: end,
                reason: EndReason::Flush,
            });
        }
        // Last chance for captures that waited for space; what remains is
        // completed by the outbox's start-up recovery next time.
        self.retry_unfinished();
    }

    pub fn handle(&mut self, msg: RecorderMsg) {
        match msg {
            RecorderMsg::Start {
                capture_id,
                trigger_ms,
                frames,
                trigger_score,
            } => self.start(capture_id, trigger_ms, frames, trigger_score),
            RecorderMsg::Frame {
                frame,
                motion_score,
            } => {
                if self.active.is_some() {
                    self.add_frame(frame, motion_score);
                }
            }
            RecorderMsg::End { end_ms, reason } => self.end(end_ms, reason),
            RecorderMsg::Verdict(v) => self.set_verdict(v),
            RecorderMsg::Person { frame, score, rect } => {
                if let Some(cap) = self.active.as_mut() {
                    if cap.person.as_ref().is_none_or(|(s, _, _)| score > *s) {
                        cap.person = Some((score, frame, rect));
                    }
                }
            }
        }
        self.retry_unfinished();
    }

    fn start(
        &mut self,
        capture_id: CaptureId,
        trigger_ms: i64,
        frames: Vec<Frame>,
        trigger_score: f32,
    ) {
        if self.active.is_some() {
            // The analysis stage always ends before it starts; be safe anyway.
            let end = self.active.as_ref().map_or(trigger_ms, |a| a.last_frame_ms);
            self.end(end, EndReason::Flush);
        }
        let start_ms = frames.first().map_or(trigger_ms, |f| f.captured_ms);
        (self.events)(RecorderEvent::Started {
            capture_id: capture_id.clone(),
            trigger_ms,
        });
        let clip = ClipEncoder::new(ClipConfig {
            fragment_ms: self.settings.fragment_ms,
            bitrate_bps: self.settings.bitrate_bps,
            fps_hint: self.fps_hint,
            ..ClipConfig::default()
        });
        let mut cap = ActiveCapture {
            capture_id,
            trigger_ms,
            start_ms,
            writer: None,
            clip: Some(clip),
            deferred: VecDeque::new(),
            deferred_bytes: 0,
            last_retry: None,
            best: None,
            snapshot_seq: None,
            frames: 0,
            last_frame_ms: start_ms,
            motion_sum: 0.0,
            motion_n: 0,
            motion_max: 0.0,
            verdict: Verdict::default(),
            person: None,
        };
        // The trigger frame's photo goes first.
        if let Some(trigger) = frames.last() {
            self.defer(&mut cap, FileKind::Snapshot, trigger.jpeg.to_vec(), None);
            cap.best = Some((trigger_score, trigger.clone()));
            cap.snapshot_seq = Some(trigger.seq);
        }
        self.flush(&mut cap, true);
        self.active = Some(cap);
        let n = frames.len();
        for (i, f) in frames.into_iter().enumerate() {
            let score = if i + 1 == n { trigger_score } else { 0.0 };
            self.add_frame(f, score);
        }
    }

    fn add_frame(&mut self, frame: Frame, motion_score: f32) {
        let Some(mut cap) = self.active.take() else {
            return;
        };
        cap.frames += 1;
        cap.last_frame_ms = frame.captured_ms;
        if motion_score > 0.0 {
            cap.motion_sum += f64::from(motion_score);
            cap.motion_n += 1;
        }
        cap.motion_max = cap.motion_max.max(motion_score);
        if let Some(clip) = cap.clip.as_mut() {
            let t0 = Instant::now();
            match clip.push_jpeg(&frame.jpeg, frame.captured_ms) {
                Ok(chunks) => {
                    self.stats.frames_encoded.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .encode_us
                        .fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                    self.queue_chunks(&mut cap, chunks);
                }
                Err(vigia_media::MediaError::SizeChanged { .. }) => {
                    // The camera changed resolution mid-event: close this
                    // clip cleanly; the snapshot still follows the event.
                    tracing::warn!(capture = %cap.capture_id, "frame size changed; clip closed early");
                    if let Some(mut c) = cap.clip.take() {
                        let chunks = c.finish().unwrap_or_default();
                        self.queue_chunks(&mut cap, chunks);
                    }
                    self.stats
                        .frames_not_encoded
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(capture = %cap.capture_id, seq = frame.seq, error = %e, "frame not encoded");
                    self.stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .frames_not_encoded
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        } else {
            self.stats
                .frames_not_encoded
                .fetch_add(1, Ordering::Relaxed);
        }
        if cap.best.as_ref().is_none_or(|(s, _)| motion_score > *s) {
            cap.best = Some((motion_score, frame));
        }
        self.flush(&mut cap, false);
        self.active = Some(cap);
    }

    fn queue_chunks(&mut self, cap: &mut ActiveCapture, chunks: Vec<ClipChunk>) {
        for chunk in chunks {
            match chunk {
                ClipChunk::Init(bytes) => self.defer(cap, FileKind::ClipInit, bytes, None),
                ClipChunk::Fragment {
                    index,
                    bytes,
                    start_ms,
                    duration_ms,
                    frames,
                } => self.defer(
                    cap,
                    FileKind::ClipFragment(index),
                    bytes,
                    Some(FragmentTiming {
                        start_ms,
                        duration_ms,
                        frames,
                    }),
                ),
            }
        }
    }

    fn defer(
        &self,
        cap: &mut ActiveCapture,
        kind: FileKind,
        bytes: Vec<u8>,
        timing: Option<FragmentTiming>,
    ) {
        let len = bytes.len() as u64;
        if cap.deferred_bytes + len > MAX_DEFERRED_BYTES {
            tracing::error!(capture = %cap.capture_id, file = %kind.file_name(), bytes = len,
                "outbox has had no space for too long; dropping this file of the capture");
            self.stats.bytes_dropped.fetch_add(len, Ordering::Relaxed);
            return;
        }
        // A newer snapshot replaces one still waiting.
        if let Some(pos) = cap.deferred.iter().position(|d| d.kind == kind) {
            let old = cap.deferred.remove(pos).map_or(0, |d| d.bytes.len() as u64);
            cap.deferred_bytes -= old;
        }
        cap.deferred_bytes += len;
        cap.deferred.push_back(Deferred {
            kind,
            bytes,
            timing,
        });
    }

    /// Writes what is waiting, in order. With `force` false, after a space
    /// error, it waits `retry_interval` before trying again.
    fn flush(&mut self, cap: &mut ActiveCapture, force: bool) -> bool {
        if cap.deferred.is_empty() && cap.writer.is_some() {
            return true;
        }
        if !force
            && cap
                .last_retry
                .is_some_and(|t| t.elapsed() < self.retry_interval)
        {
            return false;
        }
        if cap.last_retry.is_some() {
            self.stats.write_retries.fetch_add(1, Ordering::Relaxed);
        }
        if cap.writer.is_none() {
            match self.outbox.begin(
                cap.capture_id.clone(),
                self.camera.clone(),
                cap.trigger_ms,
                cap.start_ms,
            ) {
                Ok(w) => cap.writer = Some(w),
                Err(e) => {
                    self.write_failed(cap, &e);
                    return false;
                }
            }
        }
        let Some(writer) = cap.writer.as_mut() else {
            return false;
        };
        while let Some(d) = cap.deferred.front() {
            match writer.write_file(d.kind, &d.bytes, d.timing) {
                Ok(entry) => {
                    (self.events)(RecorderEvent::FileWritten {
                        capture_id: cap.capture_id.clone(),
                        name: entry.name,
                        bytes: entry.bytes,
                    });
                    cap.deferred_bytes -= d.bytes.len() as u64;
                    cap.deferred.pop_front();
                }
                Err(e) => {
                    self.write_failed(cap, &e);
                    return false;
                }
            }
        }
        if cap.last_retry.take().is_some() {
            tracing::info!(capture = %cap.capture_id, "outbox writable again; waiting files written");
        }
        true
    }

    fn write_failed(&self, cap: &mut ActiveCapture, e: &OutboxError) {
        // Log once per outage, not once per retry.
        if cap.last_retry.is_none() {
            tracing::error!(capture = %cap.capture_id, error = %e,
                "cannot write capture to the outbox; keeping it in memory and retrying");
        }
        cap.last_retry = Some(Instant::now());
    }

    fn set_verdict(&mut self, v: Verdict) {
        let Some(cap) = self.active.as_mut() else {
            return;
        };
        let changed = (cap.verdict.label, cap.verdict.alarm) != (v.label, v.alarm);
        cap.verdict = v;
        if changed {
            let e = RecorderEvent::Verdict {
                capture_id: cap.capture_id.clone(),
                trigger_ms: cap.trigger_ms,
                verdict: v,
                final_verdict: false,
            };
            (self.events)(e);
        }
    }

    fn end(&mut self, end_ms: i64, reason: EndReason) {
        let Some(mut cap) = self.active.take() else {
            return;
        };
        (self.events)(RecorderEvent::Verdict {
            capture_id: cap.capture_id.clone(),
            trigger_ms: cap.trigger_ms,
            verdict: cap.verdict,
            final_verdict: true,
        });
        if let Some(mut clip) = cap.clip.take() {
            match clip.finish() {
                Ok(chunks) => self.queue_chunks(&mut cap, chunks),
                Err(e) => {
                    tracing::warn!(capture = %cap.capture_id, error = %e, "finishing clip failed");
                    self.stats.encode_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let person_shot =
            cap.person
                .take()
                .and_then(|(_, frame, rect)| match annotated_snapshot(&frame, rect) {
                    Ok(jpeg) => Some((frame.captured_ms, jpeg)),
                    Err(e) => {
                        tracing::warn!(capture = %cap.capture_id, error = %e,
                        "cannot draw the person box; keeping the motion snapshot");
                        None
                    }
                });
        let snapshot_ms = if let Some((ms, jpeg)) = person_shot {
            cap.best = None;
            self.defer(&mut cap, FileKind::Snapshot, jpeg, None);
            Some(ms)
        } else {
            cap.best.take().map(|(_, best)| {
                // The trigger frame's photo is on disk already; replace it only
                // when a later frame showed more.
                if Some(best.seq) != cap.snapshot_seq {
                    self.defer(&mut cap, FileKind::Snapshot, best.jpeg.to_vec(), None);
                }
                best.captured_ms
            })
        };
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            capture_id: cap.capture_id.clone(),
            camera: self.camera.clone(),
            trigger_ms: cap.trigger_ms,
            start_ms: cap.start_ms,
            end_ms,
            start_utc: vigia_base::clock::format_utc_ms(cap.start_ms),
            end_utc: vigia_base::clock::format_utc_ms(end_ms),
            label: cap.verdict.label.as_str().into(),
            scores: Scores {
                motion_max: cap.motion_max,
                motion_mean: if cap.motion_n == 0 {
                    0.0
                } else {
                    (cap.motion_sum / f64::from(cap.motion_n)) as f32
                },
                person_max: (cap.verdict.detections > 0).then_some(cap.verdict.person_max),
                detections: cap.verdict.detections,
            },
            frames: cap.frames,
            snapshot_ms,
            end_reason: match reason {
                EndReason::Quiet => "quiet",
                EndReason::MaxLength => "max_length",
                EndReason::Flush => "flush",
            }
            .into(),
            files: Vec::new(),
        };
        self.try_commit(cap, manifest);
        release_freed_memory();
    }

    fn try_commit(&mut self, mut cap: ActiveCapture, manifest: Manifest) {
        if !self.flush(&mut cap, true) {
            self.unfinished.push((cap, manifest));
            return;
        }
        let Some(writer) = cap.writer.take() else {
            return;
        };
        let id = cap.capture_id.clone();
        match writer.commit(manifest.clone()) {
            Ok(m) => {
                self.stats
                    .captures_committed
                    .fetch_add(1, Ordering::Relaxed);
                (self.events)(RecorderEvent::Committed(Box::new(m)));
            }
            Err(e) => {
                // The writer is consumed; its files stay on disk and start-up
                // recovery completes the capture from the journal.
                tracing::error!(capture = %id, error = %e, "writing the manifest failed");
                (self.events)(RecorderEvent::Failed {
                    capture_id: id,
                    error: e.to_string(),
                });
            }
        }
    }

    fn retry_unfinished(&mut self) {
        if let Some(mut cap) = self.active.take() {
            self.flush(&mut cap, false);
            self.active = Some(cap);
        }
        let waiting = std::mem::take(&mut self.unfinished);
        for (mut cap, manifest) in waiting {
            if self.flush(&mut cap, false) {
                self.try_commit(cap, manifest);
            } else {
                self.unfinished.push((cap, manifest));
            }
        }
    }
}

/// The frame as a JPEG with the person's box drawn on it: a line about
/// 1/200 of the frame width, at least 2 pixels.
fn annotated_snapshot(
    frame: &Frame,
    rect: vigia_detect::Rect,
) -> Result<Vec<u8>, vigia_media::MediaError> {
    let mut img = vigia_media::jpeg::decode_yuv420(&frame.jpeg)?;
    let px = |v: f32| v.max(0.0).round() as u32;
    let thickness = (img.width / 200).max(2);
    vigia_media::jpeg::draw_box(
        &mut img,
        px(rect.x1),
        px(rect.y1),
        px(rect.x2),
        px(rect.y2),
        thickness,
    );
    vigia_media::jpeg::encode_jpeg_yuv(&img, 85)
}

/// Hands the encoder's freed buffers back to the OS at the end of an event.
/// glibc keeps freed heap for reuse; between events the pre-buffer fills up
/// again, and on a Raspberry Pi the encoder's few MB of stale heap would
/// stay resident on top of it for hours.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests;
