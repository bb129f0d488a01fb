//! Video files as a frame source, decoded by an `ffmpeg` child process.
//!
//! Owns running `ffprobe` (size and frame rate) and
//! `ffmpeg -f mjpeg` (frames as concatenated JPEGs on stdout, split by the
//! pure [`crate::mjpeg`] raw splitter), timestamping and pacing. Used by
//! `vigia analyze` (as fast as possible, timestamps from 0, reproducible)
//! and by a node or the demo replaying footage as if it were a camera
//! (`realtime`, wall-clock `start_ms`, `loop_forever`).
//!
//! Does not decode video itself: ffmpeg reads every container and codec we
//! will meet, and a child process isolates its crashes from the node. The
//! child is killed when the source is dropped (`kill_on_drop`).
//!
//! Timestamps are presentation times derived from the frame index and the
//! file's average frame rate (`start_ms + index * 1000 / fps`), not from the
//! wall clock, so results do not depend on machine speed. `-fps_mode cfr`
//! makes ffmpeg emit one picture per tick of that rate (repeating pictures a
//! file stores as empty packets), so index / fps is the presentation time.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::debug;
use vigia_base::CameraId;
use vigia_media::Frame;

use crate::jpeg_check::prepare_jpeg;
use crate::mjpeg::{Event, MjpegParser, DEFAULT_MAX_PART_BYTES};
use crate::{CaptureError, FrameSource, NextFrame, SourceStats};

/// Settings for replaying one video file.
#[derive(Debug, Clone)]
pub struct FileSourceConfig {
    pub camera: CameraId,
    pub path: PathBuf,
    /// Capture time of the first frame, ms since the epoch: 0 for
    /// `vigia analyze`, the wall clock for a node replaying a file.
    pub start_ms: i64,
    /// Pace frames to the file's frame rate (tokio sleeps) instead of
    /// delivering them as fast as ffmpeg decodes.
    pub realtime: bool,
    /// Start again at the end of the file (demo, benchmarks); timestamps
    /// and sequence numbers keep increasing.
    pub loop_forever: bool,
    /// Scale frames to this size with ffmpeg's `scale` filter.
    pub scale: Option<(u32, u32)>,
    /// ffmpeg's `-q:v` for the JPEGs (2 best .. 31 worst). Default 5.
    pub jpeg_qscale: u8,
    pub max_frame_bytes: usize,
}

impl FileSourceConfig {
    pub fn new(camera: CameraId, path: impl Into<PathBuf>) -> Self {
        Self {
            camera,
            path: path.into(),
            start_ms: 0,
            realtime: false,
            loop_forever: false,
            scale: None,
            jpeg_qscale: 5,
            max_frame_bytes: DEFAULT_MAX_PART_BYTES,
        }
    }
}

/// What `ffprobe` says about the first video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// Average frame rate as a fraction, e.g. 30000/1001.
    pub fps_num: u32,
    pub fps_den: u32,
}

impl VideoInfo {
    pub fn fps(&self) -> f64 {
        f64::from(self.fps_num) / f64::from(self.fps_den)
    }

    /// Presentation time of frame `index` in ms from the first frame.
    pub fn frame_offset_ms(&self, index: u64) -> i64 {
        let ms = u128::from(index) * 1000 * u128::from(self.fps_den) / u128::from(self.fps_num);
        i64::try_from(ms).unwrap_or(i64::MAX)
    }
}

/// Keep this much of ffmpeg's stderr for error messages.
const STDERR_TAIL_BYTES: usize = 2048;

/// Runs `ffprobe` on `path`.
pub async fn probe(path: &Path) -> Result<VideoInfo, CaptureError> {
    tokio::fs::metadata(path)
        .await
        .map_err(|source| CaptureError::FileNotFound {
            path: path.to_owned(),
            source,
        })?;
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=width,height,avg_frame_rate,r_frame_rate")
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| CaptureError::Spawn {
            program: "ffprobe",
            path: path.to_owned(),
            source,
        })?;
    let probe_err = |reason: String| CaptureError::Probe {
        path: path.to_owned(),
        reason,
    };
    if !out.status.success() {
        return Err(probe_err(format!(
            "{}: {}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    parse_probe(&String::from_utf8_lossy(&out.stdout)).map_err(probe_err)
}

/// Parses `ffprobe -of default=noprint_wrappers=1` output.
fn parse_probe(text: &str) -> Result<VideoInfo, String> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let dim = |key: &str| -> Result<u32, String> {
        field(key)
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("no video stream with a {key} (got {text:?})"))
    };
    let rate = |key: &str| -> Option<(u32, u32)> {
        let (n, d) = field(key)?.split_once('/')?;
        let (n, d) = (n.parse().ok()?, d.parse().ok()?);
        (n > 0 && d > 0).then_some((n, d))
    };
    let (fps_num, fps_den) = rate("avg_frame_rate")
        .or_else(|| rate("r_frame_rate"))
        .ok_or_else(|| format!("no usable frame rate (got {text:?})"))?;
    Ok(VideoInfo {
        width: dim("width")?,
        height: dim("height")?,
        fps_num,
        fps_den,
    })
}

fn tail(s: &str) -> String {
    let s = s.trim();
    let mut start = s.len().saturating_sub(STDERR_TAIL_BYTES);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_owned()
}

pub struct FileSource {
    cfg: FileSourceConfig,
    stats: Arc<SourceStats>,
    info: Option<VideoInfo>,
    decoder: Option<Decoder>,
    /// Frames delivered so far over all passes: the timeline position.
    index: u64,
    /// Frames delivered in the current pass (guards against looping over
    /// a file that yields nothing).
    pass_frames: u64,
    /// A frame waiting for its pacing deadline, kept here so a cancelled
    /// `next_frame` does not lose it.
    pending: Option<Frame>,
    /// Realtime pacing: when frame 0 was due.
    anchor: Option<Instant>,
    ended: bool,
}

struct Decoder {
    child: Child,
    stdout: ChildStdout,
    stderr: JoinHandle<String>,
    parser: MjpegParser,
    buf: Vec<u8>,
    ready: VecDeque<Event>,
}

impl FileSource {
    /// Does no I/O: the file is probed and ffmpeg started on the first
    /// `next_frame`, whose error names the file if anything is wrong.
    pub fn new(cfg: FileSourceConfig) -> Self {
        Self {
            cfg,
            stats: Arc::new(SourceStats::new()),
            info: None,
            decoder: None,
            index: 0,
            pass_frames: 0,
            pending: None,
            anchor: None,
            ended: false,
        }
    }

    /// The probed stream information, once the first frame was requested.
    pub fn info(&self) -> Option<VideoInfo> {
        self.info
    }

    async fn next(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.pending.is_none() {
            match self.decode_next().await? {
                Some(f) => self.pending = Some(f),
                None => return Ok(None),
            }
        }
        if self.cfg.realtime {
            if let (Some(info), Some(frame)) = (self.info, self.pending.as_ref()) {
                let anchor = *self.anchor.get_or_insert_with(Instant::now);
                let offset = info.frame_offset_ms(frame.seq);
                tokio::time::sleep_until(anchor + std::time::Duration::from_millis(offset as u64))
                    .await;
            }
        }
        Ok(self.pending.take())
    }

    async fn decode_next(&mut self) -> Result<Option<Frame>, CaptureError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let info = match self.info {
                Some(i) => i,
                None => *self.info.insert(probe(&self.cfg.path).await?),
            };
            if self.decoder.is_none() {
                self.decoder = Some(self.spawn()?);
                self.stats.set_connected(true);
                self.pass_frames = 0;
            }
            let Some(dec) = self.decoder.as_mut() else {
                continue;
            };
            if let Some(event) = dec.ready.pop_front() {
                let part = match event {
                    Event::Part(p) => p,
                    Event::Discarded { reason, bytes } => {
                        debug!(path = ?self.cfg.path, ?reason, bytes, "discarded ffmpeg output");
                        self.stats.record_corrupt();
                        continue;
                    }
                };
                match prepare_jpeg(part) {
                    Ok((jpeg, width, height)) => {
                        self.stats.record_frame(jpeg.len());
                        let frame = Frame {
                            camera: self.cfg.camera.clone(),
                            seq: self.index,
                            captured_ms: self
                                .cfg
                                .start_ms
                                .saturating_add(info.frame_offset_ms(self.index)),
                            width,
                            height,
                            jpeg,
                        };
                        self.index += 1;
                        self.pass_frames += 1;
                        return Ok(Some(frame));
                    }
                    Err(e) => {
                        debug!(path = ?self.cfg.path, error = %e, "corrupt frame from ffmpeg");
                        self.stats.record_corrupt();
                        continue;
                    }
                }
            }
            let n =
                dec.stdout
                    .read(&mut dec.buf)
                    .await
                    .map_err(|source| CaptureError::FileRead {
                        path: self.cfg.path.clone(),
                        source,
                    })?;
            if n > 0 {
                dec.parser.push(&dec.buf[..n]);
                while let Some(e) = dec.parser.next_event() {
                    dec.ready.push_back(e);
                }
                continue;
            }
            // End of ffmpeg's output: drain, then check how it exited.
            if let Some(e) = dec.parser.finish() {
                dec.ready.push_back(e);
                continue;
            }
            let Some(mut dec) = self.decoder.take() else {
                continue;
            };
            self.stats.set_connected(false);
            let status = dec
                .child
                .wait()
                .await
                .map_err(|source| CaptureError::FileRead {
                    path: self.cfg.path.clone(),
                    source,
                })?;
            let stderr = dec.stderr.await.unwrap_or_default();
            if !status.success() {
                let err = CaptureError::Ffmpeg {
                    path: self.cfg.path.clone(),
                    status: status.to_string(),
                    stderr_tail: stderr,
                };
                self.stats.set_last_error(err.to_string());
                self.ended = true;
                return Err(err);
            }
            if !self.cfg.loop_forever || self.pass_frames == 0 {
                self.ended = true;
                return Ok(None);
            }
            debug!(path = ?self.cfg.path, frames = self.pass_frames, "end of file; looping");
        }
    }

    fn spawn(&self) -> Result<Decoder, CaptureError> {
        let path = &self.cfg.path;
        let mut cmd = Command::new("ffmpeg");
        // Constant frame rate, as a camera delivers: files that store
        // repeated pictures as empty packets (AVI "drop frames", e.g.
        // tree.avi: 444 frames, 68 coded) yield every tick, so frame index /
        // fps is the presentation time.
        cmd.args(["-nostdin", "-v", "error", "-i"]).arg(path).args([
            "-an",
            "-sn",
            "-dn",
            "-fps_mode",
            "cfr",
        ]);
        if let Some((w, h)) = self.cfg.scale {
            cmd.arg("-vf").arg(format!("scale={w}:{h}"));
        }
        cmd.args(["-f", "mjpeg", "-q:v"])
            .arg(self.cfg.jpeg_qscale.clamp(2, 31).to_string())
            .arg("-")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawn_err = |source| CaptureError::Spawn {
            program: "ffmpeg",
            path: path.clone(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let missing = || spawn_err(std::io::Error::other("no stdout/stderr pipe"));
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = child.stderr.take().ok_or_else(missing)?;
        Ok(Decoder {
            child,
            stdout,
            stderr: tokio::spawn(read_tail(stderr)),
            parser: MjpegParser::raw_jpeg().with_max_part_bytes(self.cfg.max_frame_bytes),
            buf: vec![0; 256 << 10],
            ready: VecDeque::new(),
        })
    }
}

/// Reads a pipe to its end (so the child never blocks on it), keeping the
/// last [`STDERR_TAIL_BYTES`].
async fn read_tail(mut pipe: impl AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * STDERR_TAIL_BYTES {
            kept.drain(..kept.len() - STDERR_TAIL_BYTES);
        }
    }
    tail(&String::from_utf8_lossy(&kept))
}

impl FrameSource for FileSource {
    fn next_frame(&mut self) -> NextFrame<'_> {
        Box::pin(self.next())
    }

    fn stats(&self) -> Arc<SourceStats> {
        Arc::clone(&self.stats)
    }

    fn describe(&self) -> String {
        format!(
            "video file {} (camera {}{}{})",
            self.cfg.path.display(),
            self.cfg.camera,
            if self.cfg.realtime { ", realtime" } else { "" },
            if self.cfg.loop_forever {
                ", looping"
            } else {
                ""
            },
        )
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
