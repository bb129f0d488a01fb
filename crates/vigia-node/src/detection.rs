//! Person detection inside the node: when the detector runs, where, and
//! what its results make of the running event.
//!
//! - **Gated by motion.** Frames are offered only while an event runs; the
//!   detector looks at the motion region (the largest moving blob, or the
//!   last one seen in this event when the scene is still), grown into a
//!   square at full resolution, plus the whole frame when that region is
//!   large (see `vigia_detect::geometry`).
//! - **Rate-limited** by capture time to `detect.max_rate` per second, so
//!   a replay and a live camera run the detector on the same frames.
//! - **Off the frame path.** On a live node the detector runs on its own
//!   thread behind a latest-wins slot: the analysis thread never waits for
//!   it, and when the model is slower than the rate only the newest frame
//!   is kept (replaced offers are counted). `vigia analyze` runs it inline
//!   instead, so a replay is deterministic.
//! - **Labelling.** Results of the running event feed the N-of-M rule
//!   ([`vigia_detect::PersonVote`]); results that arrive after their event
//!   ended are dropped. The [`Verdict`] says the label and whether the event
//!   should raise an alarm (`detect.alarm_on`).
//!
//! Without a model (none configured, or it failed to load, which is logged
//! once at start) no detection runs, events stay `motion`, and every event
//! is alarming: people cannot be told apart from other motion then.

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use vigia_config::{AlarmOn, DetectSettings};
use vigia_detect::{look, Detections, LookPolicy, PersonDetector, PersonVote, VoteRule};
use vigia_media::Frame;
use vigia_vision::MotionResult;

/// What an event is, as far as the node can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventLabel {
    #[default]
    Motion,
    Person,
}

impl EventLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            EventLabel::Motion => "motion",
            EventLabel::Person => "person",
        }
    }
}

impl std::fmt::Display for EventLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The label of an event and whether it raises an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Verdict {
    pub label: EventLabel,
    /// Best person probability over the event's detections (0 without any).
    pub person_max: f32,
    pub detections: u32,
    /// Whether this event should raise an alarm on an armed node.
    pub alarm: bool,
}

impl Verdict {
    /// The input the alarm controller takes for this event.
    pub fn alarm_trigger(&self, event_start_ms: i64) -> crate::alarm::AlarmTrigger {
        crate::alarm::AlarmTrigger {
            at_ms: event_start_ms,
            label: Some(self.label.as_str().to_owned()),
            raises: self.alarm,
        }
    }
}

/// The alarm rule: `alarm_on = "motion"` alarms on everything; `"person"`
/// on person events, or on everything when no detector runs.
pub fn raises_alarm(label: EventLabel, detector_running: bool, alarm_on: AlarmOn) -> bool {
    match alarm_on {
        AlarmOn::Motion => true,
        AlarmOn::Person => label == EventLabel::Person || !detector_running,
    }
}

/// A detection result for the pipeline.
#[derive(Debug, Clone)]
pub struct DetectionUpdate {
    pub frame: Frame,
    pub detections: Detections,
    /// This result made the event a person event.
    pub became_person: bool,
    /// Best person score of the event so far, and at or above the threshold:
    /// this frame is the event's new snapshot.
    pub new_best: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DetectionStats {
    /// Detections run (each may look at one or two views).
    pub runs: u64,
    /// Offers replaced in the slot before the worker took them.
    pub replaced: u64,
    pub errors: u64,
    /// Total detector time, µs (with `runs`: ms per detection).
    pub detect_us: u64,
    /// Results that arrived after their event had ended.
    pub late: u64,
}

struct Job {
    event: u64,
    frame: Frame,
    region: Option<(f32, f32, f32, f32)>,
    policy: LookPolicy,
}

struct Outcome {
    event: u64,
    frame: Frame,
    result: Result<Detections, String>,
    us: u64,
}

fn run_job(det: &mut dyn PersonDetector, job: Job) -> Outcome {
    let t0 = Instant::now();
    let result = vigia_detect::image::decode_jpeg(&job.frame.jpeg)
        .and_then(|img| look(det, &img, job.region, job.policy))
        .map_err(|e| e.to_string());
    Outcome {
        event: job.event,
        frame: job.frame,
        result,
        us: t0.elapsed().as_micros() as u64,
    }
}

#[derive(Default)]
struct Slot {
    job: Option<Job>,
    closed: bool,
}

/// The detector on its own thread, fed through a one-job latest-wins slot.
struct Worker {
    slot: Arc<(Mutex<Slot>, Condvar)>,
    results: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(mut det: Box<dyn PersonDetector>) -> std::io::Result<Self> {
        let slot = Arc::new((Mutex::new(Slot::default()), Condvar::new()));
        let (tx, results): (Sender<Outcome>, _) = channel();
        let s = slot.clone();
        let thread = std::thread::Builder::new()
            .name("vigia-detect".into())
            .spawn(move || loop {
                let job = {
                    let (lock, cv) = &*s;
                    let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if let Some(j) = g.job.take() {
                            break j;
                        }
                        if g.closed {
                            return;
                        }
                        g = cv.wait(g).unwrap_or_else(|p| p.into_inner());
                    }
                };
                if tx.send(run_job(det.as_mut(), job)).is_err() {
                    return;
                }
            })?;
        Ok(Self {
            slot,
            results,
            thread: Some(thread),
        })
    }

    /// Puts `job` in the slot; true when it replaced one not yet taken.
    fn offer(&self, job: Job) -> bool {
        let (lock, cv) = &*self.slot;
        let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
        let replaced = g.job.replace(job).is_some();
        cv.notify_one();
        replaced
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.slot;
            let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
            g.closed = true;
            g.job = None;
            cv.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Runner {
    Inline {
        det: Box<dyn PersonDetector>,
        done: VecDeque<Outcome>,
    },
    Worker(Worker),
}

/// How the stage runs its detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// On the caller's thread, at once (replays, tests): deterministic.
    Inline,
    /// On a worker thread behind a latest-wins slot (live node).
    Worker,
}

/// The node's person-detection stage for one camera.
pub struct DetectionStage {
    runner: Runner,
    settings: DetectSettings,
    event: u64,
    in_event: bool,
    vote: PersonVote,
    last_offer_ms: Option<i64>,
    region: Option<(f32, f32, f32, f32)>,
    stats: DetectionStats,
}

impl DetectionStage {
    /// Loads the configured model. `None` when detection is off or the
    /// model cannot be loaded; both are logged, the latter as an error
    /// naming the file and the reason.
    pub fn from_config(settings: &DetectSettings, mode: RunMode) -> Option<Self> {
        if !settings.enabled {
            tracing::info!(
                "person detection disabled (detect.enabled = false); events are labelled motion"
            );
            return None;
        }
        let Some(path) = settings.model.as_deref() else {
            tracing::info!("no person model configured (detect.model); events are labelled motion and every event is alarming");
            return None;
        };
        let t0 = Instant::now();
        match vigia_detect::SsdLitePerson::load(path, settings.threads) {
            Ok(det) => {
                tracing::info!(model = %path.display(), load_ms = t0.elapsed().as_millis() as u64,
                    "person detector ready");
                Self::new(Box::new(det), settings.clone(), mode)
                    .map_err(
                        |e| tracing::error!(error = %e, "cannot start the person detector thread"),
                    )
                    .ok()
            }
            Err(e) => {
                tracing::error!(error = %e,
                    "PERSON DETECTION OFF: cannot load the model; events are labelled motion and every event is alarming");
                None
            }
        }
    }

    /// A stage around any detector (tests, other models).
    pub fn new(
        det: Box<dyn PersonDetector>,
        settings: DetectSettings,
        mode: RunMode,
    ) -> std::io::Result<Self> {
        let runner = match mode {
            RunMode::Inline => Runner::Inline {
                det,
                done: VecDeque::new(),
            },
            RunMode::Worker => Runner::Worker(Worker::spawn(det)?),
        };
        Ok(Self {
            runner,
            vote: PersonVote::new(rule(&settings)),
            settings,
            event: 0,
            in_event: false,
            last_offer_ms: None,
            region: None,
            stats: DetectionStats::default(),
        })
    }

    pub fn stats(&self) -> DetectionStats {
        self.stats
    }

    /// A new event starts: earlier results no longer count.
    pub fn start_event(&mut self) {
        self.event += 1;
        self.in_event = true;
        self.vote = PersonVote::new(rule(&self.settings));
        self.region = None;
        self.last_offer_ms = None;
    }

    /// The running event ended; returns its verdict.
    pub fn end_event(&mut self) -> Verdict {
        let v = self.verdict();
        self.in_event = false;
        v
    }

    /// The running (or last) event's verdict so far.
    pub fn verdict(&self) -> Verdict {
        let label = if self.vote.is_person() {
            EventLabel::Person
        } else {
            EventLabel::Motion
        };
        Verdict {
            label,
            person_max: self.vote.best(),
            detections: self.vote.detections(),
            alarm: raises_alarm(label, true, self.settings.alarm_on),
        }
    }

    /// Offers a frame of the running event; runs (or queues) a detection
    /// when the rate allows.
    pub fn offer(&mut self, frame: &Frame, motion: &MotionResult) {
        if !self.in_event {
            return;
        }
        if motion.motion {
            if let Some(b) = motion.largest_blob {
                self.region = Some(b.bbox);
            }
        }
        let t = frame.captured_ms;
        if self
            .last_offer_ms
            .is_some_and(|last| t - last < self.settings.min_interval_ms)
        {
            return;
        }
        self.last_offer_ms = Some(t);
        let job = Job {
            event: self.event,
            frame: frame.clone(),
            region: self.region,
            policy: LookPolicy::confirming(self.settings.threshold),
        };
        match &mut self.runner {
            Runner::Inline { det, done } => done.push_back(run_job(det.as_mut(), job)),
            Runner::Worker(w) => {
                if w.offer(job) {
                    self.stats.replaced += 1;
                }
            }
        }
    }

    /// Results that arrived since the last call, applied to the event.
    pub fn poll(&mut self) -> Vec<DetectionUpdate> {
        let outcomes: Vec<Outcome> = match &mut self.runner {
            Runner::Inline { done, .. } => done.drain(..).collect(),
            Runner::Worker(w) => w.results.try_iter().collect(),
        };
        let mut updates = Vec::new();
        for o in outcomes {
            self.stats.runs += 1;
            self.stats.detect_us += o.us;
            let d = match o.result {
                Ok(d) => d,
                Err(e) => {
                    self.stats.errors += 1;
                    tracing::warn!(seq = o.frame.seq, error = %e, "person detection failed on a frame");
                    continue;
                }
            };
            if o.event != self.event || !self.in_event {
                self.stats.late += 1;
                continue;
            }
            tracing::debug!(
                seq = o.frame.seq,
                captured_ms = o.frame.captured_ms,
                person_score = d.person_score,
                first_look = d.candidate_score,
                best = ?d.best_box().map(|b| b.rect),
                ms = o.us / 1000,
                "person detection"
            );
            let before = self.vote.best();
            let became_person = self.vote.push(d.person_score);
            let new_best = d.person_score > before && d.person_score >= self.settings.threshold;
            updates.push(DetectionUpdate {
                frame: o.frame,
                detections: d,
                became_person,
                new_best,
            });
        }
        updates
    }
}

fn rule(s: &DetectSettings) -> VoteRule {
    VoteRule {
        threshold: s.threshold,
        n: s.n,
        m: s.m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use vigia_detect::{DetectError, PersonBox, Rect, RgbImage, View};

    /// Scores each frame by its sequence number from a script.
    struct Scripted(Vec<f32>);
    impl PersonDetector for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn detect(&mut self, img: &RgbImage, _view: &View) -> Result<Detections, DetectError> {
            // The test frames encode their index in the first pixel's red.
            let i = usize::from(img.data[0] / 10);
            let score = self.0.get(i).copied().unwrap_or(0.0);
            let rect = Rect {
                x1: 1.0,
                y1: 1.0,
                x2: 8.0,
                y2: 8.0,
            };
            Ok(Detections::new(score, vec![PersonBox { rect, score }]))
        }
    }

    fn frame(i: u8, t: i64) -> Frame {
        let img = vigia_media::Yuv420 {
            width: 16,
            height: 16,
            // Gray JPEG level ~ i*10 in every channel via Y; chroma neutral.
            y: vec![i * 10 + 5; 256],
            u: vec![128; 64],
            v: vec![128; 64],
        };
        let jpeg = vigia_media::jpeg::encode_jpeg_yuv(&img, 100).expect("encode");
        Frame {
            camera: "cam".parse().expect("id"),
            seq: u64::from(i),
            captured_ms: t,
            width: 16,
            height: 16,
            jpeg: Bytes::from(jpeg),
        }
    }

    fn settings() -> DetectSettings {
        DetectSettings {
            model: Some("/unused".into()),
            ..DetectSettings::default()
        }
    }

    fn motion() -> MotionResult {
        MotionResult {
            motion: true,
            ..MotionResult::default()
        }
    }

    #[test]
    fn two_hits_of_three_make_a_person_event_that_alarms() {
        let det = Scripted(vec![0.9, 0.1, 0.8, 0.95]);
        let mut s = DetectionStage::new(Box::new(det), settings(), RunMode::Inline).expect("stage");
        s.start_event();
        let mut person_at = None;
        for i in 0..4u8 {
            s.offer(&frame(i, i64::from(i) * 300), &motion());
            for u in s.poll() {
                if u.became_person {
                    person_at = Some(u.frame.seq);
                }
            }
        }
        assert_eq!(person_at, Some(2), "0.9 and 0.8 within three detections");
        let v = s.end_event();
        assert_eq!(v.label, EventLabel::Person);
        assert!(v.alarm);
        assert!((v.person_max - 0.95).abs() < 1e-6);
        assert_eq!(s.stats().runs, 4);
    }

    #[test]
    fn rate_limit_follows_capture_time() {
        let mut s = DetectionStage::new(Box::new(Scripted(vec![])), settings(), RunMode::Inline)
            .expect("stage");
        s.start_event();
        // 10 fps for 2 s at max_rate 5: every other frame.
        for i in 0..20u8 {
            s.offer(&frame(0, i64::from(i) * 100), &motion());
        }
        s.poll();
        assert_eq!(s.stats().runs, 10);
    }

    #[test]
    fn nothing_runs_outside_events_and_stale_results_are_dropped() {
        let mut s = DetectionStage::new(
            Box::new(Scripted(vec![0.9; 10])),
            settings(),
            RunMode::Inline,
        )
        .expect("stage");
        s.offer(&frame(1, 0), &motion());
        assert!(s.poll().is_empty());
        assert_eq!(s.stats().runs, 0);
        s.start_event();
        s.offer(&frame(1, 1000), &motion());
        s.start_event(); // the first event ended before its result was read
        assert!(s.poll().is_empty());
        assert_eq!(s.stats().late, 1);
    }

    #[test]
    fn motion_only_events_do_not_alarm_on_person_but_do_on_motion() {
        let mut s = DetectionStage::new(
            Box::new(Scripted(vec![0.2; 10])),
            settings(),
            RunMode::Inline,
        )
        .expect("stage");
        s.start_event();
        for i in 0..5u8 {
            s.offer(&frame(i, i64::from(i) * 1000), &motion());
        }
        assert!(s.poll().iter().all(|u| !u.became_person && !u.new_best));
        let v = s.end_event();
        assert_eq!((v.label, v.alarm), (EventLabel::Motion, false));
        assert!(raises_alarm(EventLabel::Motion, true, AlarmOn::Motion));
        assert!(
            raises_alarm(EventLabel::Motion, false, AlarmOn::Person),
            "no detector: alarm"
        );
    }

    #[test]
    fn worker_mode_delivers_results_off_thread() {
        let mut s = DetectionStage::new(
            Box::new(Scripted(vec![0.9; 10])),
            settings(),
            RunMode::Worker,
        )
        .expect("stage");
        s.start_event();
        s.offer(&frame(1, 0), &motion());
        let t0 = Instant::now();
        let mut got = Vec::new();
        while got.is_empty() && t0.elapsed() < std::time::Duration::from_secs(10) {
            got = s.poll();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got.len(), 1);
        assert!(got[0].new_best);
        drop(s); // joins the worker
    }
}
