//! The node's counters and their Prometheus text rendering.
//!
//! A node has no web server of its own (the server shows its status); the
//! metrics are written to a file in node_exporter's textfile-collector
//! format, so an existing Prometheus setup picks them up, and they are
//! logged in the periodic status line. Every dropped or skipped frame shows
//! up here: nothing is lost silently.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vigia_base::CameraId;
use vigia_capture::SourceStats;

use crate::outbox::OutboxStats;
use crate::recorder::RecorderStats;

#[derive(Debug, Default)]
pub struct PipelineStats {
    pub frames_analysed: AtomicU64,
    pub decode_errors: AtomicU64,
    pub motion_frames: AtomicU64,
    pub events: AtomicU64,
    /// Frames the analysis stage could not take in time (queue full).
    pub dropped_analysis: AtomicU64,
    /// Frames the recorder could not take in time (encoder behind).
    pub dropped_recording: AtomicU64,
    /// Analysis CPU time, µs.
    pub analysis_us: AtomicU64,
    /// 1 while a person detector is loaded (0: every event is `motion`).
    pub detector_running: AtomicU64,
    /// Person detections run, offers replaced before the detector took
    /// them (it was slower than the rate), failures, and detector time (µs).
    pub detections: AtomicU64,
    pub detections_replaced: AtomicU64,
    pub detection_errors: AtomicU64,
    pub detection_us: AtomicU64,
}

#[derive(Clone)]
pub struct NodeMetrics {
    pub camera: CameraId,
    pub source: Arc<SourceStats>,
    pub pipeline: Arc<PipelineStats>,
    pub recorder: Arc<RecorderStats>,
    pub outbox: Arc<OutboxStats>,
}

impl NodeMetrics {
    pub fn render_prometheus(&self) -> String {
        let c = self.camera.as_str();
        let s = self.source.snapshot();
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let p = &self.pipeline;
        let r = &self.recorder;
        let o = &self.outbox;
        let rows: [(&str, &str, &str, u64); 23] = [
            (
                "vigia_source_frames_total",
                "counter",
                "Good frames received from the camera.",
                s.frames,
            ),
            (
                "vigia_source_corrupt_frames_total",
                "counter",
                "Corrupt or truncated frames skipped.",
                s.corrupt_frames,
            ),
            (
                "vigia_source_bytes_total",
                "counter",
                "JPEG bytes received.",
                s.bytes,
            ),
            (
                "vigia_source_reconnects_total",
                "counter",
                "Camera reconnection attempts.",
                s.reconnects,
            ),
            (
                "vigia_source_connected",
                "gauge",
                "1 while the camera delivers frames.",
                u64::from(s.connected),
            ),
            (
                "vigia_frames_analysed_total",
                "counter",
                "Frames run through motion detection.",
                l(&p.frames_analysed),
            ),
            (
                "vigia_frames_undecodable_total",
                "counter",
                "Frames whose JPEG could not be decoded.",
                l(&p.decode_errors),
            ),
            (
                "vigia_motion_frames_total",
                "counter",
                "Frames with motion.",
                l(&p.motion_frames),
            ),
            (
                "vigia_events_total",
                "counter",
                "Events started.",
                l(&p.events),
            ),
            (
                "vigia_person_detector_running",
                "gauge",
                "1 while a person detector is loaded; 0 means every event is labelled motion.",
                l(&p.detector_running),
            ),
            (
                "vigia_person_detections_total",
                "counter",
                "Person detections run on motion frames.",
                l(&p.detections),
            ),
            (
                "vigia_person_detections_replaced_total",
                "counter",
                "Frames offered to the person detector and replaced by a newer one before it ran.",
                l(&p.detections_replaced),
            ),
            (
                "vigia_person_detection_errors_total",
                "counter",
                "Person detections that failed (undecodable frame, model error).",
                l(&p.detection_errors),
            ),
            (
                "vigia_frames_dropped_analysis_total",
                "counter",
                "Frames dropped because analysis was behind.",
                l(&p.dropped_analysis),
            ),
            (
                "vigia_frames_dropped_recording_total",
                "counter",
                "Frames dropped because the encoder was behind.",
                l(&p.dropped_recording),
            ),
            (
                "vigia_frames_encoded_total",
                "counter",
                "Frames encoded to H.264.",
                l(&r.frames_encoded),
            ),
            (
                "vigia_captures_committed_total",
                "counter",
                "Captures completed in the outbox.",
                l(&r.captures_committed),
            ),
            (
                "vigia_recording_bytes_dropped_total",
                "counter",
                "Capture bytes dropped after the outbox stayed full.",
                l(&r.bytes_dropped),
            ),
            (
                "vigia_outbox_pending_captures",
                "gauge",
                "Complete captures awaiting acknowledgement.",
                l(&o.pending_captures),
            ),
            (
                "vigia_outbox_bytes",
                "gauge",
                "Bytes in the outbox.",
                l(&o.bytes),
            ),
            (
                "vigia_outbox_in_progress",
                "gauge",
                "Captures being written.",
                l(&o.in_progress),
            ),
            (
                "vigia_outbox_write_errors_total",
                "counter",
                "Failed outbox writes.",
                l(&o.write_errors),
            ),
            (
                "vigia_outbox_space_errors_total",
                "counter",
                "Outbox writes refused for lack of space (disk full or quota).",
                l(&o.space_errors),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{camera=\"{c}\"}} {v}"
            );
        }
        let secs = |a: &AtomicU64| l(a) as f64 / 1e6;
        let timings = [
            (
                "vigia_analysis_seconds_total",
                "Time spent analysing frames (luma decode, motion, events).",
                secs(&p.analysis_us),
            ),
            (
                "vigia_person_detection_seconds_total",
                "Time spent in the person detector (JPEG decode, resampling, model).",
                secs(&p.detection_us),
            ),
            (
                "vigia_encode_seconds_total",
                "Time spent decoding and encoding recorded frames to H.264.",
                secs(&r.encode_us),
            ),
        ];
        for (name, help, v) in timings {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{camera=\"{c}\"}} {v:.6}"
            );
        }
        out
    }

    /// One human line for the periodic log.
    pub fn status_line(&self) -> String {
        let s = self.source.snapshot();
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "frames={} analysed={} corrupt={} reconnects={} dropped_analysis={} dropped_recording={} events={} detections={} pending={} outbox_bytes={}",
            s.frames,
            l(&self.pipeline.frames_analysed),
            s.corrupt_frames,
            s.reconnects,
            l(&self.pipeline.dropped_analysis),
            l(&self.pipeline.dropped_recording),
            l(&self.pipeline.events),
            l(&self.pipeline.detections),
            l(&self.outbox.pending_captures),
            l(&self.outbox.bytes),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_camera_label() {
        let m = NodeMetrics {
            camera: "porch".parse().expect("id"),
            source: Arc::new(SourceStats::new()),
            pipeline: Arc::new(PipelineStats::default()),
            recorder: Arc::new(RecorderStats::default()),
            outbox: Arc::new(OutboxStats::default()),
        };
        m.pipeline.dropped_recording.store(7, Ordering::Relaxed);
        m.source.record_corrupt();
        let text = m.render_prometheus();
        assert!(
            text.contains("vigia_frames_dropped_recording_total{camera=\"porch\"} 7"),
            "{text}"
        );
        assert!(text.contains("vigia_source_corrupt_frames_total{camera=\"porch\"} 1"));
        m.pipeline.detector_running.store(1, Ordering::Relaxed);
        m.pipeline.detection_us.store(1_500_000, Ordering::Relaxed);
        let text = m.render_prometheus();
        assert!(text.contains("vigia_person_detector_running{camera=\"porch\"} 1"));
        assert!(text.contains("vigia_person_detection_seconds_total{camera=\"porch\"} 1.500000"));
        assert_eq!(text.matches("# TYPE").count(), 26);
    }
}
