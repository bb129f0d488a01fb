//! The V4L2 device adapter (Linux only): open `/dev/videoN`, enumerate its
//! modes into a [`DeviceCaps`], apply [`negotiate`]'s choice, stream with
//! mmap buffers, reconnect when the device goes away.
//!
//! All `v4l` calls block, so they run on a dedicated thread per open device
//! that feeds a small bounded channel; the async side only receives, so a
//! dropped `next_frame` future loses nothing. When the source is dropped the
//! channel closes and the thread stops streaming and closes the device.
//! YUYV frames are converted and JPEG-encoded on that thread too, keeping
//! the CPU-heavy work off the async runtime.
//!
//! Failure policy: if the device cannot be opened (or offers nothing usable)
//! before it has ever worked, that is a configuration error returned as
//! `Err`. Once it has streamed, any failure (unplugged, driver hiccup, no
//! frame within `read_timeout`) is retried with backoff, logged once per
//! outage, and counted as a reconnect.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use v4l::buffer::Type;
use v4l::io::traits::CaptureStream;
use v4l::prelude::{Device, MmapStream};
use v4l::video::Capture;
use vigia_base::{Backoff, CameraId, Clock};
use vigia_media::Frame;

use super::{
    negotiate, yuyv_to_i420, DeviceCaps, FormatCaps, Interval, IntervalRange, Mode, PixelFormat,
    SizeCaps, SizeRange, Wish,
};
use crate::jpeg_check::prepare_jpeg;
use crate::{CaptureError, FrameSource, NextFrame, SourceStats};

#[derive(Debug, Clone)]
pub struct V4l2Config {
    pub camera: CameraId,
    /// e.g. `/dev/video0`.
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Force a pixel format instead of preferring MJPEG.
    pub format: Option<PixelFormat>,
    /// JPEG quality for YUYV cameras (1..=100). Default 80.
    pub jpeg_quality: u8,
    /// No frame for this long means the device is stuck. Default 10 s.
    pub read_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl V4l2Config {
    pub fn new(camera: CameraId, device: impl Into<PathBuf>) -> Self {
        Self {
            camera,
            device: device.into(),
            width: 1280,
            height: 720,
            fps: 10.0,
            format: None,
            jpeg_quality: 80,
            read_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Messages from the capture thread.
enum Msg {
    Opened(Mode),
    Frame(Bytes),
    /// The thread ends after sending this.
    Failed(Failure),
}

enum Failure {
    Open(io::Error),
    Mode(String),
    Stream(String),
}

pub struct V4l2Source {
    cfg: V4l2Config,
    clock: Arc<dyn Clock>,
    stats: Arc<SourceStats>,
    backoff: Backoff,
    rx: Option<mpsc::Receiver<Msg>>,
    ever_streamed: bool,
    attempts: u64,
    retry_at: Option<Instant>,
    in_outage: bool,
    seq: u64,
}

impl V4l2Source {
    /// Does not touch the device yet; the first `next_frame` opens it.
    pub fn new(cfg: V4l2Config, clock: Arc<dyn Clock>) -> Self {
        let seed = clock.now_ms() as u64;
        Self {
            backoff: Backoff::new(cfg.backoff_initial, cfg.backoff_max, seed),
            cfg,
            clock,
            stats: Arc::new(SourceStats::new()),
            rx: None,
            ever_streamed: false,
            attempts: 0,
            retry_at: None,
            in_outage: false,
            seq: 0,
        }
    }

    async fn next(&mut self) -> Result<Option<Frame>, CaptureError> {
        loop {
            if self.rx.is_none() {
                if let Some(at) = self.retry_at {
                    tokio::time::sleep_until(at).await;
                    self.retry_at = None;
                }
                self.attempts += 1;
                if self.attempts > 1 {
                    self.stats.record_reconnect();
                }
                let (tx, rx) = mpsc::channel(2);
                let cfg = self.cfg.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("v4l2-{}", self.cfg.camera))
                    .spawn(move || capture_thread(cfg, tx));
                if let Err(e) = spawned {
                    self.fail(format!("cannot start the capture thread: {e}"));
                    continue;
                }
                self.rx = Some(rx);
            }
            let Some(rx) = self.rx.as_mut() else {
                continue;
            };
            match rx.recv().await {
                Some(Msg::Opened(mode)) => {
                    info!(device = ?self.cfg.device, ?mode, "V4L2 device streaming");
                    self.stats.set_connected(true);
                }
                Some(Msg::Frame(jpeg)) => {
                    if !self.ever_streamed || self.in_outage {
                        if self.in_outage {
                            info!(device = ?self.cfg.device, "V4L2 device is back");
                        }
                        self.ever_streamed = true;
                        self.in_outage = false;
                        self.backoff.reset();
                    }
                    match prepare_jpeg(jpeg) {
                        Ok((jpeg, width, height)) => {
                            self.stats.record_frame(jpeg.len());
                            let frame = Frame {
                                camera: self.cfg.camera.clone(),
                                seq: self.seq,
                                captured_ms: self.clock.now_ms(),
                                width,
                                height,
                                jpeg,
                            };
                            self.seq += 1;
                            return Ok(Some(frame));
                        }
                        Err(e) => {
                            debug!(device = ?self.cfg.device, error = %e, "skipping corrupt frame");
                            self.stats.record_corrupt();
                        }
                    }
                }
                Some(Msg::Failed(failure)) => {
                    self.rx = None;
                    let device = self.cfg.device.clone();
                    let err = match failure {
                        Failure::Open(source) => CaptureError::DeviceOpen { device, source },
                        Failure::Mode(reason) => CaptureError::DeviceMode { device, reason },
                        Failure::Stream(reason) => {
                            self.fail(format!(
                                "V4L2 device {}: {reason}",
                                self.cfg.device.display()
                            ));
                            continue;
                        }
                    };
                    if !self.ever_streamed {
                        // Never worked: the configuration is wrong.
                        self.stats.set_last_error(err.to_string());
                        return Err(err);
                    }
                    self.fail(err.to_string());
                }
                None => {
                    self.rx = None;
                    self.fail("the capture thread ended unexpectedly".to_owned());
                }
            }
        }
    }

    fn fail(&mut self, error: String) {
        self.rx = None;
        self.stats.set_connected(false);
        let delay = self.backoff.next_delay();
        if self.in_outage {
            debug!(device = ?self.cfg.device, %error, retry_in = ?delay, "V4L2 device still down");
        } else {
            warn!(device = ?self.cfg.device, %error, retry_in = ?delay, "V4L2 device lost; retrying with backoff");
            self.in_outage = true;
        }
        self.stats.set_last_error(error);
        self.retry_at = Some(Instant::now() + delay);
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self) -> NextFrame<'_> {
        Box::pin(self.next())
    }

    fn stats(&self) -> Arc<SourceStats> {
        Arc::clone(&self.stats)
    }

    fn describe(&self) -> String {
        format!(
            "V4L2 device {} (camera {}, wish {}x{} @ {} fps)",
            self.cfg.device.display(),
            self.cfg.camera,
            self.cfg.width,
            self.cfg.height,
            self.cfg.fps
        )
    }
}

/// Body of the capture thread: open, negotiate, stream until an error or
/// until the receiver is gone.
fn capture_thread(cfg: V4l2Config, tx: mpsc::Sender<Msg>) {
    let failure = match stream(&cfg, &tx) {
        Ok(()) => return, // receiver dropped: the source is gone
        Err(f) => f,
    };
    let _ = tx.blocking_send(Msg::Failed(failure));
}

fn stream(cfg: &V4l2Config, tx: &mpsc::Sender<Msg>) -> Result<(), Failure> {
    let dev = Device::with_path(&cfg.device).map_err(Failure::Open)?;
    let caps = device_caps(&dev).map_err(|e| Failure::Mode(format!("enumerating formats: {e}")))?;
    let wish = Wish {
        width: cfg.width,
        height: cfg.height,
        fps: cfg.fps,
        format: cfg.format,
    };
    let mode = negotiate(&caps, &wish).map_err(Failure::Mode)?;
    let fmt = v4l::Format::new(
        mode.width,
        mode.height,
        v4l::FourCC::new(&mode.format.fourcc()),
    );
    let fmt = dev
        .set_format(&fmt)
        .map_err(|e| Failure::Mode(format!("setting {mode:?}: {e}")))?;
    if let Some(i) = mode.interval {
        let params = v4l::video::capture::Parameters::new(v4l::Fraction::new(i.num, i.den));
        if let Err(e) = dev.set_params(&params) {
            // Some drivers refuse S_PARM; streaming at their default rate
            // is better than not streaming.
            warn!(device = ?cfg.device, error = %e, "cannot set the frame rate");
        }
    }
    let format = PixelFormat::from_fourcc(fmt.fourcc.repr).ok_or_else(|| {
        Failure::Mode(format!(
            "driver switched to unsupported format {}",
            fmt.fourcc
        ))
    })?;
    let mode = Mode {
        format,
        width: fmt.width,
        height: fmt.height,
        ..mode
    };
    let mut stream = MmapStream::with_buffers(&dev, Type::VideoCapture, 4)
        .map_err(|e| Failure::Stream(format!("mmap streaming: {e}")))?;
    stream.set_timeout(cfg.read_timeout);
    if tx.blocking_send(Msg::Opened(mode)).is_err() {
        return Ok(());
    }
    loop {
        let (buf, meta) = stream
            .next()
            .map_err(|e| Failure::Stream(format!("capturing: {e}")))?;
        let used = (meta.bytesused as usize).min(buf.len());
        let jpeg = match format {
            PixelFormat::Mjpeg => {
                // Drivers may pad after EOI; trim zero padding.
                let data = &buf[..used];
                let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                Bytes::copy_from_slice(&data[..end])
            }
            PixelFormat::Yuyv => {
                let img = match yuyv_to_i420(&buf[..used], fmt.width, fmt.height, fmt.stride) {
                    Ok(img) => img,
                    Err(e) => {
                        debug!(device = ?cfg.device, error = %e, "bad YUYV buffer");
                        continue;
                    }
                };
                match vigia_media::jpeg::encode_jpeg_yuv(&img, cfg.jpeg_quality) {
                    Ok(j) => Bytes::from(j),
                    Err(e) => return Err(Failure::Mode(format!("encoding YUYV as JPEG: {e}"))),
                }
            }
        };
        if tx.blocking_send(Msg::Frame(jpeg)).is_err() {
            return Ok(());
        }
    }
}

/// Reads the device's formats, sizes and intervals.
fn device_caps(dev: &Device) -> io::Result<DeviceCaps> {
    let mut caps = DeviceCaps::default();
    for desc in dev.enum_formats()? {
        let fourcc = desc.fourcc;
        if PixelFormat::from_fourcc(fourcc.repr).is_none() {
            caps.formats.push(FormatCaps {
                fourcc: fourcc.repr,
                sizes: Vec::new(),
            });
            continue;
        }
        let mut sizes = Vec::new();
        for fs in dev.enum_framesizes(fourcc)? {
            let (size, probe_w, probe_h) = match fs.size {
                v4l::framesize::FrameSizeEnum::Discrete(d) => (
                    SizeRange::Discrete {
                        width: d.width,
                        height: d.height,
                    },
                    d.width,
                    d.height,
                ),
                v4l::framesize::FrameSizeEnum::Stepwise(s) => (
                    SizeRange::Stepwise {
                        min_width: s.min_width,
                        max_width: s.max_width,
                        step_width: s.step_width,
                        min_height: s.min_height,
                        max_height: s.max_height,
                        step_height: s.step_height,
                    },
                    s.max_width,
                    s.max_height,
                ),
            };
            // Intervals are per size; for a range, those at its largest
            // size are the conservative choice.
            let intervals = dev
                .enum_frameintervals(fourcc, probe_w, probe_h)
                .unwrap_or_default()
                .into_iter()
                .map(|fi| match fi.interval {
                    v4l::frameinterval::FrameIntervalEnum::Discrete(f) => {
                        IntervalRange::Discrete(interval(f))
                    }
                    v4l::frameinterval::FrameIntervalEnum::Stepwise(s) => IntervalRange::Stepwise {
                        min: interval(s.min),
                        max: interval(s.max),
                    },
                })
                .collect();
            sizes.push(SizeCaps { size, intervals });
        }
        caps.formats.push(FormatCaps {
            fourcc: fourcc.repr,
            sizes,
        });
    }
    Ok(caps)
}

fn interval(f: v4l::Fraction) -> Interval {
    Interval {
        num: f.numerator,
        den: f.denominator,
    }
}

#[cfg(test)]
mod tests {
    use vigia_base::SimulatedClock;

    use super::*;

    #[tokio::test]
    async fn missing_device_is_a_clear_error() {
        let cfg = V4l2Config::new("usb".parse().expect("id"), "/dev/video-does-not-exist");
        let mut src = V4l2Source::new(cfg, Arc::new(SimulatedClock::new(0)));
        assert!(src.describe().contains("/dev/video-does-not-exist"));
        let err = tokio::time::timeout(Duration::from_secs(10), src.next_frame())
            .await
            .expect("no hang")
            .expect_err("no such device");
        assert!(
            matches!(&err, CaptureError::DeviceOpen { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("/dev/video-does-not-exist"), "{msg}");
        assert!(src.stats().snapshot().last_error.is_some());
    }
}
