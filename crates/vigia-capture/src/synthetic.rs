//! The synthetic camera: `vigia-media`'s [`SyntheticScene`] as a frame
//! source, for `vigia demo`, tests and detection benchmarks with known
//! ground truth.
//!
//! Owns pacing, timestamps and JPEG encoding of the rendered frames; the
//! scene itself (figures, lights, noise) belongs to `vigia-media`.
//!
//! Two clocks: `realtime` paces frames to the scene's fps with tokio sleeps
//! and stamps them with the wall clock (through [`Clock`]), like a camera;
//! otherwise frames come as fast as they render, stamped
//! `start_ms + scene time`, so runs are reproducible. Rendering and encoding
//! run inline (a few ms per frame at 768x576).

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use vigia_base::{CameraId, Clock};
use vigia_media::synthetic::{SceneConfig, SyntheticScene};
use vigia_media::Frame;

use crate::{CaptureError, FrameSource, NextFrame, SourceStats};

#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    pub camera: CameraId,
    pub scene: SceneConfig,
    /// JPEG quality 1..=100. Default 80.
    pub jpeg_quality: u8,
    /// Pace to the scene's fps and stamp with the wall clock.
    pub realtime: bool,
    /// Fast mode: capture time of frame 0.
    pub start_ms: i64,
    /// Stop after this many frames (`Ok(None)`); `None` = forever.
    pub frames: Option<u64>,
}

impl SyntheticConfig {
    pub fn new(camera: CameraId, scene: SceneConfig) -> Self {
        Self {
            camera,
            scene,
            jpeg_quality: 80,
            realtime: false,
            start_ms: 0,
            frames: None,
        }
    }
}

pub struct SyntheticSource {
    camera: CameraId,
    jpeg_quality: u8,
    realtime: bool,
    start_ms: i64,
    limit: Option<u64>,
    scene: SyntheticScene,
    clock: Arc<dyn Clock>,
    stats: Arc<SourceStats>,
    index: u64,
    /// Rendered frame waiting for its pacing deadline (cancel safety).
    pending: Option<(Bytes, u32, u32)>,
    anchor: Option<Instant>,
}

impl SyntheticSource {
    pub fn new(cfg: SyntheticConfig, clock: Arc<dyn Clock>) -> Self {
        let stats = Arc::new(SourceStats::new());
        stats.set_connected(true);
        Self {
            camera: cfg.camera,
            jpeg_quality: cfg.jpeg_quality,
            realtime: cfg.realtime,
            start_ms: cfg.start_ms,
            limit: cfg.frames,
            scene: SyntheticScene::new(cfg.scene),
            clock,
            stats,
            index: 0,
            pending: None,
            anchor: None,
        }
    }

    /// The scene, for its ground truth.
    pub fn scene(&self) -> &SyntheticScene {
        &self.scene
    }

    async fn next(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.limit.is_some_and(|n| self.index >= n) {
            return Ok(None);
        }
        let (jpeg, width, height) = match self.pending.take() {
            Some(p) => p,
            None => {
                let img = self.scene.render(self.index);
                let jpeg = vigia_media::jpeg::encode_jpeg_yuv(&img, self.jpeg_quality).map_err(
                    |source| CaptureError::Media {
                        source_desc: self.describe(),
                        source,
                    },
                )?;
                (Bytes::from(jpeg), img.width, img.height)
            }
        };
        let scene_ms = self.scene.time_ms(self.index);
        let captured_ms = if self.realtime {
            let anchor = *self.anchor.get_or_insert_with(Instant::now);
            self.pending = Some((jpeg.clone(), width, height));
            let due = std::time::Duration::from_millis(u64::try_from(scene_ms).unwrap_or(0));
            tokio::time::sleep_until(anchor + due).await;
            self.pending = None;
            self.clock.now_ms()
        } else {
            self.start_ms.saturating_add(scene_ms)
        };
        self.stats.record_frame(jpeg.len());
        let frame = Frame {
            camera: self.camera.clone(),
            seq: self.index,
            captured_ms,
            width,
            height,
            jpeg,
        };
        self.index += 1;
        Ok(Some(frame))
    }
}

impl FrameSource for SyntheticSource {
    fn next_frame(&mut self) -> NextFrame<'_> {
        Box::pin(self.next())
    }

    fn stats(&self) -> Arc<SourceStats> {
        Arc::clone(&self.stats)
    }

    fn describe(&self) -> String {
        let c = self.scene.config();
        format!(
            "synthetic scene {}x{} @ {} fps, seed {} (camera {})",
            c.width, c.height, c.fps, c.seed, self.camera
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigia_base::SimulatedClock;

    use super::*;
    use crate::jpeg_check::inspect;

    fn config(realtime: bool) -> SyntheticConfig {
        let scene = SceneConfig {
            width: 160,
            height: 120,
            fps: 10.0,
            ..SceneConfig::default()
        };
        let mut cfg = SyntheticConfig::new("synth".parse().expect("id"), scene);
        cfg.realtime = realtime;
        cfg.start_ms = 1_000;
        cfg.frames = Some(5);
        cfg
    }

    #[tokio::test]
    async fn fast_mode_stamps_scene_time_and_ends_at_the_limit() {
        let mut src = SyntheticSource::new(config(false), Arc::new(SimulatedClock::new(0)));
        let mut frames = Vec::new();
        while let Some(f) = src.next_frame().await.expect("ok") {
            frames.push(f);
        }
        assert_eq!(frames.len(), 5);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!((f.seq, f.captured_ms), (i as u64, 1_000 + 100 * i as i64));
            assert_eq!((f.width, f.height), (160, 120));
            let info = inspect(&f.jpeg).expect("complete JPEG");
            assert_eq!((info.width, info.height), (160, 120));
        }
        assert_eq!(src.stats().snapshot().frames, 5);
    }

    /// Realtime under tokio's paused clock: paced at 100 ms, stamped by the
    /// (simulated) wall clock.
    #[tokio::test(start_paused = true)]
    async fn realtime_paces_and_uses_the_clock() {
        let clock = SimulatedClock::new(42_000);
        let mut src = SyntheticSource::new(config(true), Arc::new(clock));
        let t0 = Instant::now();
        let mut n = 0;
        while let Some(f) = src.next_frame().await.expect("ok") {
            assert_eq!(f.captured_ms, 42_000);
            n += 1;
        }
        assert_eq!(n, 5);
        assert!(t0.elapsed() >= Duration::from_millis(400));
    }

    /// A `next_frame` dropped while waiting for its slot loses no frame.
    #[tokio::test(start_paused = true)]
    async fn cancelled_wait_loses_no_frame() {
        let mut src = SyntheticSource::new(config(true), Arc::new(SimulatedClock::new(0)));
        assert_eq!(src.next_frame().await.expect("ok").expect("frame").seq, 0);
        let r = tokio::time::timeout(Duration::from_millis(10), src.next_frame()).await;
        assert!(r.is_err(), "cancelled while pacing");
        assert_eq!(src.next_frame().await.expect("ok").expect("frame").seq, 1);
    }
}
