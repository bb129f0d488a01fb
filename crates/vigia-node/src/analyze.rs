//! `vigia analyze`: the node's detection pipeline over a recorded video, as
//! fast as the CPU allows, reporting one line per event.
//!
//! It runs the very [`Analyzer`] the live node runs (same decode, detector
//! and event machine), without recording, so tuning a config on footage
//! predicts what the node will do. Times are the file's presentation times
//! (ms from its start). With a person model configured (`[detect]`), the
//! detector runs inline on the frames the live node would give it, so the
//! labels are those the node would store, reproducibly.

use std::time::Instant;

use serde::Serialize;
use vigia_capture::{CaptureError, FrameSource};
use vigia_config::NodeConfig;

use crate::event::EventAction;
use crate::pipeline::Analyzer;

/// One event, as printed by `vigia analyze --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventLine {
    /// First trigger.
    pub start_ms: i64,
    /// End of the post-roll.
    pub end_ms: i64,
    pub label: String,
    /// Highest motion score during the event.
    pub score: f32,
    /// Highest person probability of the event's detections (0 without any).
    pub person_score: f32,
    /// Person detections run during the event.
    pub detections: u32,
    /// Whether the event would raise an alarm on an armed node (`detect.alarm_on`).
    pub alarm: bool,
    /// Where the clip would start (the pre-roll before the trigger).
    pub clip_start_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalyzeSummary {
    pub frames: u64,
    pub analysed_frames: u64,
    pub undecodable_frames: u64,
    pub corrupt_frames: u64,
    pub motion_frames: u64,
    pub events: u64,
    /// CPU time of this process (all threads): decode + analysis.
    pub cpu_ms: u64,
    /// CPU time of child processes (the ffmpeg decoder of a video file).
    pub decoder_cpu_ms: u64,
    pub wall_ms: u64,
    pub cpu_ms_per_frame: f64,
    /// Mean time of `Analyzer::process` (luma decode + motion + events, and
    /// the inline person detections).
    pub analysis_us_per_frame: f64,
    /// Person detections run (0 without a model).
    pub detections: u64,
    /// Mean time of one detection (JPEG decode + views + model), ms.
    pub detect_ms_per_detection: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error("video source: {0}")]
    Capture(#[from] CaptureError),
    #[error("motion detector: {0}")]
    Vision(#[from] vigia_vision::VisionError),
}

/// CPU time in ms of this process (`RUSAGE_SELF`) or its waited-for
/// children (`RUSAGE_CHILDREN`).
pub fn cpu_ms(who: libc::c_int) -> u64 {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return 0;
    }
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

pub async fn analyze(
    mut source: Box<dyn FrameSource>,
    cfg: &NodeConfig,
    mut on_event: impl FnMut(&EventLine),
) -> Result<(Vec<EventLine>, AnalyzeSummary), AnalyzeError> {
    let mut analyzer = Analyzer::new(
        cfg.camera.clone(),
        cfg.motion_scale,
        cfg.motion.clone(),
        cfg.event,
        false,
    )?;
    analyzer.set_detection(&cfg.detect, crate::detection::RunMode::Inline);
    let wall0 = Instant::now();
    let cpu0 = cpu_ms(libc::RUSAGE_SELF);
    let child0 = cpu_ms(libc::RUSAGE_CHILDREN);
    let mut out = Vec::new();
    let mut events = Vec::new();
    let mut open: Option<(i64, f32)> = None;
    let mut analysis_us = 0u128;
    let pre_roll = cfg.event.pre_roll_ms;
    let mut close = |start: i64,
                     score: f32,
                     end: i64,
                     verdict: Option<crate::detection::Verdict>,
                     events: &mut Vec<EventLine>| {
        let v = verdict.unwrap_or_default();
        let e = EventLine {
            start_ms: start,
            end_ms: end,
            label: v.label.as_str().into(),
            score,
            person_score: v.person_max,
            detections: v.detections,
            alarm: v.alarm,
            clip_start_ms: (start - pre_roll).max(0),
        };
        on_event(&e);
        events.push(e);
    };
    while let Some(frame) = source.next_frame().await? {
        let t0 = Instant::now();
        let r = analyzer.process(frame, &mut out);
        analysis_us += t0.elapsed().as_micros();
        out.clear();
        let Ok(o) = r else { continue };
        if let Some((_, score)) = open.as_mut() {
            if o.motion.motion {
                *score = score.max(o.motion.score);
            }
        }
        match o.action {
            EventAction::Start { start_ms } => open = Some((start_ms, o.motion.score)),
            EventAction::End {
                end_ms, restart, ..
            } => {
                if let Some((s, sc)) = open.take() {
                    close(s, sc, end_ms, o.ended, &mut events);
                }
                if restart {
                    open = Some((end_ms, o.motion.score));
                }
            }
            EventAction::Idle | EventAction::Continue => {}
        }
    }
    if let Some(EventAction::End { end_ms, .. }) = analyzer.flush(&mut out) {
        if let Some((s, sc)) = open.take() {
            close(s, sc, end_ms, analyzer.last_verdict(), &mut events);
        }
    }
    let det = analyzer.detection_stats().unwrap_or_default();
    let stats = analyzer.stats();
    let corrupt_frames = source.stats().snapshot().corrupt_frames;
    // Dropping the source ends (and lets tokio reap) a decoder child, so
    // its CPU time is counted below when the OS has collected it.
    drop(source);
    let cpu = cpu_ms(libc::RUSAGE_SELF).saturating_sub(cpu0);
    let summary = AnalyzeSummary {
        frames: stats.frames,
        analysed_frames: stats.analysed,
        undecodable_frames: stats.decode_errors,
        corrupt_frames,
        motion_frames: stats.motion_frames,
        events: events.len() as u64,
        cpu_ms: cpu,
        decoder_cpu_ms: cpu_ms(libc::RUSAGE_CHILDREN).saturating_sub(child0),
        wall_ms: wall0.elapsed().as_millis() as u64,
        cpu_ms_per_frame: cpu as f64 / stats.frames.max(1) as f64,
        analysis_us_per_frame: analysis_us as f64 / stats.analysed.max(1) as f64,
        detections: det.runs,
        detect_ms_per_detection: det.detect_us as f64 / 1000.0 / det.runs.max(1) as f64,
    };
    Ok((events, summary))
}
