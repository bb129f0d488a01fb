//! The detection core: one frame in, decisions out.
//!
//! Synchronous and clock-free: time is the frames' capture time. The live
//! node calls it from its analysis thread, `vigia analyze` calls it in a
//! loop over a file as fast as the CPU allows; both get the same events.
//!
//! Per frame: decode only the downscaled luma plane, run the motion
//! detector, step the event machine, and either keep the (encoded) frame in
//! the pre-buffer or hand it to the recorder. While an event runs, frames
//! are also offered to the person detector ([`crate::detection`]), whose
//! results label the event and pick its snapshot.

use std::hash::{BuildHasher, Hasher};

use vigia_base::{CameraId, CaptureId};
use vigia_config::{AlarmOn, DetectSettings, EventSettings};
use vigia_media::{Frame, MediaError};
use vigia_vision::{MotionDetector, MotionParams, MotionResult, VisionError};

use crate::detection::{raises_alarm, DetectionStage, EventLabel, RunMode, Verdict};
use crate::event::{EventAction, EventMachine};
use crate::prebuffer::PreBuffer;
use crate::recorder::RecorderMsg;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AnalyzerStats {
    pub frames: u64,
    pub analysed: u64,
    /// Frames whose JPEG could not be decoded (skipped).
    pub decode_errors: u64,
    /// Analysed frames that showed motion.
    pub motion_frames: u64,
    pub events: u64,
    /// Events labelled `person` (counted when the label is decided).
    pub person_events: u64,
}

/// The per-frame result, for callers that report or tune.
#[derive(Debug, Clone)]
pub struct FrameOutcome {
    pub motion: MotionResult,
    pub action: EventAction,
    /// On a frame that ended an event: that event's verdict.
    pub ended: Option<Verdict>,
    /// Detection results on this frame made the running event a person event.
    pub became_person: bool,
}

/// Where a servo should point after a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aim {
    /// An event runs and the largest moving blob's centre is at this
    /// horizontal position (0 = left edge, 1 = right edge).
    At(f32),
    /// The event ended: back to the idle behaviour.
    EventEnded,
}

impl FrameOutcome {
    /// The servo's input for this frame, if any: frames of an event with a
    /// moving blob aim at it; the frame that ends an event (without a new
    /// one starting) releases the servo; others leave it where it is.
    pub fn aim(&self) -> Option<Aim> {
        match self.action {
            EventAction::Idle => None,
            EventAction::End { restart: false, .. } => Some(Aim::EventEnded),
            EventAction::Start { .. } | EventAction::Continue | EventAction::End { .. } => {
                self.motion.largest_blob.map(|b| Aim::At(b.centroid.0))
            }
        }
    }
}

pub struct Analyzer {
    camera: CameraId,
    /// Configured scale, or `None` for automatic.
    scale: Option<u32>,
    detector: MotionDetector,
    events: EventMachine,
    prebuffer: PreBuffer,
    pre_roll_ms: i64,
    /// Produce recorder messages (the node) or only decisions (analyze).
    record: bool,
    nonce: u64,
    stats: AnalyzerStats,
    last_ms: Option<i64>,
    frame_interval_ms: i64,
    detection: Option<DetectionStage>,
    alarm_on: AlarmOn,
    last_verdict: Option<Verdict>,
    /// PIR + software motion, when a PIR is fitted.
    fusion: Option<vigia_vision::TriggerFusion>,
}

impl Analyzer {
    pub fn new(
        camera: CameraId,
        scale: Option<u32>,
        motion: MotionParams,
        events: EventSettings,
        record: bool,
    ) -> Result<Self, VisionError> {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Ok(Self {
            camera,
            scale,
            detector: MotionDetector::new(motion)?,
            events: EventMachine::new(events),
            prebuffer: PreBuffer::new(events.pre_roll_ms, events.prebuffer_max_bytes),
            pre_roll_ms: events.pre_roll_ms,
            record,
            nonce: seed | 1,
            stats: AnalyzerStats::default(),
            last_ms: None,
            frame_interval_ms: 100,
            detection: None,
            alarm_on: AlarmOn::default(),
            last_verdict: None,
            fusion: None,
        })
    }

    /// Combines a PIR sensor with software motion by `params.rule`; feed
    /// its edges with [`Analyzer::pir`].
    pub fn set_fusion(&mut self, params: vigia_vision::FusionParams) {
        self.fusion = Some(vigia_vision::TriggerFusion::new(params));
    }

    /// A PIR edge (motion start or end), in the frames' clock.
    pub fn pir(&mut self, event: vigia_hw::PirEvent) {
        if let Some(f) = &mut self.fusion {
            match event {
                vigia_hw::PirEvent::MotionStart { at_ms } => f.pir_start(at_ms),
                vigia_hw::PirEvent::MotionEnd { at_ms, .. } => f.pir_end(at_ms),
            }
        }
    }

    /// Sets up person detection from `[detect]`: loads the model (logging
    /// clearly when it is missing or broken) and runs it on a worker thread
    /// (`RunMode::Worker`, live node) or inline (`RunMode::Inline`, replay).
    pub fn set_detection(&mut self, settings: &DetectSettings, mode: RunMode) {
        self.alarm_on = settings.alarm_on;
        self.detection = DetectionStage::from_config(settings, mode);
    }

    /// Uses `stage` as the person detector (tests, other models).
    pub fn set_detection_stage(&mut self, stage: Option<DetectionStage>, alarm_on: AlarmOn) {
        self.alarm_on = alarm_on;
        self.detection = stage;
    }

    /// Whether a person detector is running.
    pub fn detecting(&self) -> bool {
        self.detection.is_some()
    }

    pub fn detection_stats(&self) -> Option<crate::detection::DetectionStats> {
        self.detection.as_ref().map(|d| d.stats())
    }

    /// The verdict of the most recently ended event.
    pub fn last_verdict(&self) -> Option<Verdict> {
        self.last_verdict
    }

    /// The running event's verdict so far (a motion verdict without a detector).
    fn current_verdict(&self) -> Verdict {
        match &self.detection {
            Some(d) => d.verdict(),
            None => Verdict {
                label: EventLabel::Motion,
                alarm: raises_alarm(EventLabel::Motion, false, self.alarm_on),
                ..Verdict::default()
            },
        }
    }

    fn end_event(&mut self) -> Verdict {
        let v = match self.detection.as_mut() {
            Some(d) => d.end_event(),
            None => self.current_verdict(),
        };
        self.last_verdict = Some(v);
        v
    }

    fn begin_event(&mut self, out: &mut Vec<RecorderMsg>) {
        if let Some(d) = self.detection.as_mut() {
            d.start_event();
        }
        // When the alarm does not hang on a label, say so at once.
        let v = self.current_verdict();
        if v.alarm {
            out.push(RecorderMsg::Verdict(v));
        }
    }

    pub fn stats(&self) -> AnalyzerStats {
        self.stats
    }

    pub fn prebuffer(&self) -> &PreBuffer {
        &self.prebuffer
    }

    pub fn camera(&self) -> &CameraId {
        &self.camera
    }

    fn next_capture_id(&mut self, start_ms: i64) -> CaptureId {
        self.nonce ^= self.nonce << 13;
        self.nonce ^= self.nonce >> 7;
        self.nonce ^= self.nonce << 17;
        CaptureId::new(start_ms, self.nonce as u32)
    }

    /// Analyses one frame and appends what the recorder must do to `out`.
    /// A frame that cannot be decoded is skipped (and counted) and the
    /// error returned; the analyzer stays usable.
    pub fn process(
        &mut self,
        frame: Frame,
        out: &mut Vec<RecorderMsg>,
    ) -> Result<FrameOutcome, MediaError> {
        self.stats.frames += 1;
        let scale = self.scale.unwrap_or_else(|| auto_scale(frame.width));
        let luma = match vigia_media::jpeg::decode_luma(&frame.jpeg, scale) {
            Ok(l) => l,
            Err(e) => {
                self.stats.decode_errors += 1;
                return Err(e);
            }
        };
        self.stats.analysed += 1;
        if let Some(last) = self.last_ms {
            let dt = frame.captured_ms - last;
            if dt > 0 {
                self.frame_interval_ms = dt;
            }
        }
        self.last_ms = Some(frame.captured_ms);
        let motion = self.detector.analyze(&luma);
        if motion.motion {
            self.stats.motion_frames += 1;
        }
        let t = frame.captured_ms;
        let (moving, trigger) = match &mut self.fusion {
            Some(f) => {
                let fused = f.frame(t, motion.motion, motion.triggered);
                (fused.motion, fused.trigger)
            }
            None => (motion.motion, motion.triggered),
        };
        let action = self.events.on_frame(t, moving, trigger);
        let mut ended = None;
        // Offered before the frame moves on; the detector decodes it at full
        // resolution only when the rate limit lets it through.
        let in_event = !matches!(
            action,
            EventAction::Idle | EventAction::End { restart: false, .. }
        );
        let offered = (in_event && self.detection.is_some()).then(|| frame.clone());
        match action {
            EventAction::Idle => {
                if self.record {
                    self.prebuffer.push(frame);
                }
            }
            EventAction::Start { start_ms } => {
                self.stats.events += 1;
                self.start(start_ms, frame, motion.score, out);
                self.begin_event(out);
            }
            EventAction::Continue => {
                if self.record {
                    out.push(RecorderMsg::Frame {
                        frame,
                        motion_score: if motion.motion { motion.score } else { 0.0 },
                    });
                }
            }
            EventAction::End {
                end_ms,
                reason,
                restart,
            } => {
                let v = self.end_event();
                ended = Some(v);
                out.push(RecorderMsg::Verdict(v));
                out.push(RecorderMsg::End { end_ms, reason });
                if restart {
                    self.stats.events += 1;
                    self.start(end_ms, frame, motion.score, out);
                    self.begin_event(out);
                } else if self.record {
                    self.prebuffer.push(frame);
                }
            }
        }
        let mut became_person = false;
        if let Some(d) = self.detection.as_mut() {
            if let Some(f) = offered {
                d.offer(&f, &motion);
            }
            for u in d.poll() {
                if u.new_best && self.record {
                    if let Some(b) = u.detections.best_box() {
                        out.push(RecorderMsg::Person {
                            frame: u.frame.clone(),
                            score: u.detections.person_score,
                            rect: b.rect,
                        });
                    }
                }
                if u.became_person {
                    became_person = true;
                    self.stats.person_events += 1;
                    out.push(RecorderMsg::Verdict(d.verdict()));
                }
            }
        }
        Ok(FrameOutcome {
            motion,
            action,
            ended,
            became_person,
        })
    }

    fn start(&mut self, trigger_ms: i64, frame: Frame, score: f32, out: &mut Vec<RecorderMsg>) {
        let mut frames = if self.record {
            self.prebuffer.drain_from(trigger_ms - self.pre_roll_ms)
        } else {
            Vec::new()
        };
        let start_ms = frames.first().map_or(trigger_ms, |f| f.captured_ms);
        let capture_id = self.next_capture_id(start_ms);
        if self.record {
            frames.push(frame);
        }
        out.push(RecorderMsg::Start {
            capture_id,
            trigger_ms,
            frames,
            trigger_score: score,
        });
    }

    /// Ends a running event at the end of the stream.
    pub fn flush(&mut self, out: &mut Vec<RecorderMsg>) -> Option<EventAction> {
        let end = self.last_ms.map_or(0, |t| t + self.frame_interval_ms);
        let action = self.events.flush(end)?;
        if let EventAction::End { end_ms, reason, .. } = action {
            let v = self.end_event();
            out.push(RecorderMsg::Verdict(v));
            out.push(RecorderMsg::End { end_ms, reason });
        }
        Some(action)
    }
}

/// The largest luma scale that keeps the analysis plane at least 96 pixels
/// wide: enough for a person at the far side of a garden, cheap enough for
/// every frame (at 1/8 only the JPEG's DC coefficients are decoded).
pub fn auto_scale(width: u32) -> u32 {
    [8, 4, 2].into_iter().find(|s| width / s >= 96).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigia_media::synthetic::{SceneConfig, SceneScript, SyntheticScene};
    use vigia_vision::{FusionParams, TriggerRule};

    #[test]
    fn servo_aims_at_the_moving_blob_during_events_only() {
        let blob = vigia_vision::Blob {
            bbox: (0.6, 0.2, 0.8, 0.9),
            centroid: (0.7, 0.5),
            area: 0.1,
        };
        let outcome = |action, moving: bool| FrameOutcome {
            motion: MotionResult {
                largest_blob: moving.then_some(blob),
                ..Default::default()
            },
            action,
            ended: None,
            became_person: false,
        };
        let end = |restart| EventAction::End {
            end_ms: 0,
            reason: crate::event::EndReason::Quiet,
            restart,
        };
        assert_eq!(
            outcome(EventAction::Start { start_ms: 0 }, true).aim(),
            Some(Aim::At(0.7))
        );
        assert_eq!(
            outcome(EventAction::Continue, true).aim(),
            Some(Aim::At(0.7))
        );
        assert_eq!(
            outcome(EventAction::Continue, false).aim(),
            None,
            "post-roll without motion: stay where the motion was last seen"
        );
        assert_eq!(
            outcome(EventAction::Idle, true).aim(),
            None,
            "no event, no tracking"
        );
        assert_eq!(outcome(end(false), true).aim(), Some(Aim::EventEnded));
        assert_eq!(outcome(end(true), true).aim(), Some(Aim::At(0.7)));
    }

    /// A quiet scene (no figure) at 10 fps, as JPEG frames.
    fn quiet_frames(n: u64) -> Vec<Frame> {
        let mut scene = SyntheticScene::new(SceneConfig {
            width: 192,
            height: 144,
            script: SceneScript::quiet(),
            ..Default::default()
        });
        (0..n)
            .map(|i| Frame {
                camera: "cam".parse().unwrap(),
                seq: i,
                captured_ms: 1_700_000_000_000 + i as i64 * 100,
                width: 192,
                height: 144,
                jpeg: vigia_media::jpeg::encode_jpeg_yuv(&scene.render(i), 80)
                    .unwrap()
                    .into(),
            })
            .collect()
    }

    fn run(rule: Option<TriggerRule>, pir_at: Option<u64>) -> usize {
        let mut a = Analyzer::new(
            "cam".parse().unwrap(),
            None,
            MotionParams::default(),
            EventSettings::default(),
            false,
        )
        .unwrap();
        if let Some(rule) = rule {
            a.set_fusion(FusionParams {
                rule,
                ..Default::default()
            });
        }
        let mut out = Vec::new();
        let mut starts = 0;
        for f in quiet_frames(60) {
            if Some(f.seq) == pir_at {
                a.pir(vigia_hw::PirEvent::MotionStart {
                    at_ms: f.captured_ms,
                });
            }
            let o = a.process(f, &mut out).unwrap();
            if matches!(o.action, EventAction::Start { .. }) {
                starts += 1;
            }
        }
        starts
    }

    #[test]
    fn a_pir_edge_starts_an_event_by_the_configured_rule() {
        assert_eq!(
            run(None, Some(30)),
            0,
            "no fusion: the PIR is not consulted"
        );
        assert_eq!(run(Some(TriggerRule::Pir), None), 0, "quiet scene, no PIR");
        assert_eq!(
            run(Some(TriggerRule::Pir), Some(30)),
            1,
            "rule pir: the PIR alone starts one"
        );
        assert_eq!(run(Some(TriggerRule::PirOrVision), Some(30)), 1);
        assert_eq!(
            run(Some(TriggerRule::PirAndVision), Some(30)),
            0,
            "rule pir_and_vision: the PIR alone is not enough"
        );
    }

    #[test]
    fn auto_scale_keeps_at_least_96_pixels() {
        assert_eq!(auto_scale(768), 8);
        assert_eq!(auto_scale(1920), 8);
        assert_eq!(auto_scale(640), 4);
        assert_eq!(auto_scale(320), 2);
        assert_eq!(auto_scale(160), 1);
    }
}
