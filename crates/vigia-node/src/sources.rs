//! Chooses and builds the camera source a config names.

use std::sync::Arc;
use std::time::Duration;

use vigia_base::{Clock, RealClock};
use vigia_capture::file::{FileSource, FileSourceConfig};
use vigia_capture::http_mjpeg::{HttpMjpegConfig, HttpMjpegSource};
use vigia_capture::synthetic::{SyntheticConfig, SyntheticSource};
use vigia_capture::v4l2::{V4l2Config, V4l2Source};
use vigia_capture::{CaptureError, FrameSource};
use vigia_config::{NodeConfig, SourceKind};
use vigia_media::synthetic::{SceneConfig, SceneScript};

/// How the source is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// A live node: files and the synthetic scene follow the config's
    /// `realtime` setting and frames carry wall-clock times.
    Live,
    /// `vigia analyze`: never sleep; times start at 0 (the file's own).
    AsFastAsPossible,
}

pub fn open_source(cfg: &NodeConfig, pace: Pace) -> Result<Box<dyn FrameSource>, CaptureError> {
    let s = &cfg.source;
    let clock: Arc<dyn Clock> = Arc::new(RealClock);
    let (realtime, start_ms) = match pace {
        Pace::Live => (s.realtime, clock.now_ms()),
        Pace::AsFastAsPossible => (false, 0),
    };
    Ok(match s.kind {
        SourceKind::Synthetic => {
            let scene = SceneConfig {
                seed: s.seed,
                width: s.width,
                height: s.height,
                fps: s.fps,
                script: if s.quiet_scene {
                    SceneScript::quiet()
                } else {
                    SceneScript::default()
                },
            };
            let mut c = SyntheticConfig::new(cfg.camera.clone(), scene);
            c.jpeg_quality = s.jpeg_quality;
            c.realtime = realtime;
            c.start_ms = start_ms;
            Box::new(SyntheticSource::new(c, clock))
        }
        SourceKind::File => {
            let path = s.path.clone().ok_or_else(|| missing("source.path"))?;
            let mut c = FileSourceConfig::new(cfg.camera.clone(), path);
            c.realtime = realtime;
            c.start_ms = start_ms;
            c.loop_forever = s.loop_forever && pace == Pace::Live;
            Box::new(FileSource::new(c))
        }
        SourceKind::Mjpeg => {
            let url = s.url.clone().ok_or_else(|| missing("source.url"))?;
            let mut c = HttpMjpegConfig::new(cfg.camera.clone(), url);
            c.read_timeout = Duration::from_millis(s.read_timeout_ms);
            Box::new(HttpMjpegSource::new(c, clock)?)
        }
        SourceKind::V4l2 => {
            let mut c = V4l2Config::new(cfg.camera.clone(), &s.device);
            c.width = s.width;
            c.height = s.height;
            c.fps = f64::from(s.fps);
            c.jpeg_quality = s.jpeg_quality;
            c.read_timeout = Duration::from_millis(s.read_timeout_ms);
            Box::new(V4l2Source::new(c, clock))
        }
    })
}

fn missing(what: &'static str) -> CaptureError {
    CaptureError::InvalidConfig {
        source_desc: "camera source".into(),
        what,
        reason: "required for this source kind".into(),
    }
}

/// Whether frames from this source can wait for the pipeline (a file or a
/// synthetic scene run as fast as possible) rather than being dropped when
/// it is behind (a live camera, which will not wait).
pub fn can_wait(cfg: &NodeConfig, pace: Pace) -> bool {
    match cfg.source.kind {
        SourceKind::Synthetic | SourceKind::File => {
            pace == Pace::AsFastAsPossible || !cfg.source.realtime
        }
        SourceKind::Mjpeg | SourceKind::V4l2 => false,
    }
}
