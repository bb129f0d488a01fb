//! The recorder's front door: frames in, fragmented-MP4 chunks out.
//!
//! [`ClipEncoder`] owns one clip's timeline. It decodes JPEG frames to I420,
//! encodes them with [`crate::h264`], and cuts the stream into fragments of
//! at least `fragment_ms` of footage, each starting with a forced IDR so it
//! can be played (and uploaded) on its own merits as soon as it is closed.
//! It does not decide when a clip starts or ends (the node's event state
//! machine does) and it does no I/O: chunks are returned to the caller.
//!
//! Timing comes from the frames' capture times, not from a nominal frame
//! rate, so a camera that drops frames still yields a clip whose playback
//! matches the wall clock. A sample's duration is only known when the next
//! frame arrives, so one encoded sample is always held back.

use crate::error::MediaError;
use crate::h264::H264Encoder;
use crate::jpeg::decode_yuv420;
use crate::mp4::{self, Sample};
use crate::plane::Yuv420;

#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    /// Minimum footage per fragment; a fragment closes at the first frame
    /// boundary at or after this much. Shorter means earlier uploads but
    /// more IDRs (bigger clips).
    pub fragment_ms: u32,
    pub bitrate_bps: u32,
    /// Expected frame rate: configures the encoder's rate control and gives
    /// the duration of a clip's last frame when it is its only frame.
    pub fps_hint: f32,
    /// MP4 track timescale, ticks per second.
    pub timescale: u32,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            fragment_ms: 2000,
            bitrate_bps: 1_000_000,
            fps_hint: 10.0,
            timescale: 90_000,
        }
    }
}

/// A piece of the clip file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipChunk {
    /// `ftyp` + `moov`; always the first chunk.
    Init(Vec<u8>),
    /// One `moof` + `mdat`.
    Fragment {
        /// Counting from 1 (it is also the `mfhd` sequence number).
        index: u32,
        bytes: Vec<u8>,
        /// Capture time of the fragment's first frame.
        start_ms: i64,
        duration_ms: u32,
        frames: u32,
    },
}

/// An encoded frame waiting for its successor to learn its duration.
#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    is_sync: bool,
    /// Capture time, made strictly increasing (see `push_yuv`).
    ms: i64,
}

#[derive(Debug)]
struct Open {
    encoder: H264Encoder,
    first_ms: i64,
    /// Samples of the fragment being filled, durations known.
    samples: Vec<Sample>,
    /// Capture time of the current fragment's first frame.
    fragment_start_ms: i64,
    /// Decode time (ticks since `first_ms`) of the fragment's first sample.
    fragment_base: u64,
    next_index: u32,
    pending: Option<Pending>,
    last_duration_ms: Option<i64>,
}

#[derive(Debug)]
pub struct ClipEncoder {
    cfg: ClipConfig,
    open: Option<Open>,
}

impl ClipEncoder {
    pub fn new(cfg: ClipConfig) -> Self {
        Self { cfg, open: None }
    }

    /// Decodes and adds one JPEG frame. A JPEG that does not decode is an
    /// error and leaves the clip as it was, ready for the next frame.
    pub fn push_jpeg(
        &mut self,
        jpeg: &[u8],
        captured_ms: i64,
    ) -> Result<Vec<ClipChunk>, MediaError> {
        let img = decode_yuv420(jpeg)?;
        self.push_yuv(&img, captured_ms)
    }

    /// Adds one frame captured at `captured_ms`. Returns the init chunk with
    /// the first frame, and a fragment whenever one fills up.
    ///
    /// Capture times should increase; a time at or before the previous
    /// frame's is moved 1 ms after it so the timeline stays valid.
    pub fn push_yuv(
        &mut self,
        img: &Yuv420,
        captured_ms: i64,
    ) -> Result<Vec<ClipChunk>, MediaError> {
        let mut out = Vec::new();
        let open = match &mut self.open {
            Some(open) => {
                if (img.width, img.height) != (open.encoder.width(), open.encoder.height()) {
                    return Err(MediaError::SizeChanged {
                        got_w: img.width,
                        got_h: img.height,
                        want_w: open.encoder.width(),
                        want_h: open.encoder.height(),
                    });
                }
                open
            }
            None => {
                let mut encoder = H264Encoder::new(
                    img.width,
                    img.height,
                    self.cfg.fps_hint,
                    self.cfg.bitrate_bps,
                )?;
                let pic = encoder.encode(img, true)?;
                let (Some(sps), Some(pps)) = (encoder.sps(), encoder.pps()) else {
                    return Err(MediaError::H264("first picture carried no SPS/PPS".into()));
                };
                out.push(ClipChunk::Init(mp4::init_segment(
                    img.width,
                    img.height,
                    sps,
                    pps,
                    self.cfg.timescale,
                )));
                self.open = Some(Open {
                    encoder,
                    first_ms: captured_ms,
                    samples: Vec::new(),
                    fragment_start_ms: captured_ms,
                    fragment_base: 0,
                    next_index: 1,
                    pending: Some(Pending {
                        data: pic.to_avcc(),
                        is_sync: pic.is_idr,
                        ms: captured_ms,
                    }),
                    last_duration_ms: None,
                });
                return Ok(out);
            }
        };
        let prev_ms = open.pending.as_ref().map_or(captured_ms - 1, |p| p.ms);
        let ms = captured_ms.max(prev_ms + 1);
        let closes = ms - open.fragment_start_ms >= i64::from(self.cfg.fragment_ms);
        // Encode first: if it fails, nothing about the clip has changed.
        let pic = open.encoder.encode(img, closes)?;
        if let Some(p) = open.pending.take() {
            open.settle(p, ms, self.cfg.timescale);
        }
        if closes {
            out.extend(open.close_fragment(ms, self.cfg.timescale));
        }
        open.pending = Some(Pending {
            data: pic.to_avcc(),
            is_sync: pic.is_idr,
            ms,
        });
        Ok(out)
    }

    /// Ends the clip: the held-back frame gets the previous frame's
    /// duration (or 1/fps_hint) and the last fragment is returned. The
    /// encoder is then empty; the next push starts a new clip with a new
    /// init chunk.
    pub fn finish(&mut self) -> Result<Vec<ClipChunk>, MediaError> {
        let Some(mut open) = self.open.take() else {
            return Ok(Vec::new());
        };
        let Some(p) = open.pending.take() else {
            return Ok(Vec::new());
        };
        let fallback = (1000.0 / f64::from(self.cfg.fps_hint.max(0.1))).round() as i64;
        let dur = open.last_duration_ms.unwrap_or(fallback).max(1);
        let end_ms = p.ms + dur;
        open.settle(p, end_ms, self.cfg.timescale);
        Ok(open
            .close_fragment(end_ms, self.cfg.timescale)
            .into_iter()
            .collect())
    }
}

impl Open {
    /// Ticks from the clip's first frame to `ms`; durations are differences
    /// of these, so rounding never accumulates into drift.
    fn ticks(&self, ms: i64, timescale: u32) -> u64 {
        ((ms - self.first_ms).max(0) as u64 * u64::from(timescale) + 500) / 1000
    }

    /// Moves the pending frame into the fragment, ending at `next_ms`.
    fn settle(&mut self, p: Pending, next_ms: i64, timescale: u32) {
        let duration = self.ticks(next_ms, timescale) - self.ticks(p.ms, timescale);
        self.last_duration_ms = Some(next_ms - p.ms);
        self.samples.push(Sample {
            data: p.data,
            duration: u32::try_from(duration).unwrap_or(u32::MAX),
            is_sync: p.is_sync,
        });
    }

    fn close_fragment(&mut self, end_ms: i64, timescale: u32) -> Option<ClipChunk> {
        if self.samples.is_empty() {
            return None;
        }
        let samples = std::mem::take(&mut self.samples);
        let bytes = mp4::media_segment(self.next_index, self.fragment_base, &samples);
        let chunk = ClipChunk::Fragment {
            index: self.next_index,
            bytes,
            start_ms: self.fragment_start_ms,
            duration_ms: u32::try_from(end_ms - self.fragment_start_ms).unwrap_or(u32::MAX),
            frames: samples.len() as u32,
        };
        self.next_index += 1;
        self.fragment_start_ms = end_ms;
        self.fragment_base = self.ticks(end_ms, timescale);
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg::encode_jpeg_yuv;
    use std::process::Command;

    fn frame(w: u32, h: u32, i: u32) -> Yuv420 {
        let mut f = Yuv420::filled(w, h, 90, 100, 160);
        for y in h / 4..h / 2 {
            for x in 0..w / 8 {
                let xx = (x + i * 6) % w;
                f.y[(y * w + xx) as usize] = 200;
            }
        }
        f
    }

    fn ffprobe(path: &std::path::Path) -> String {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .arg("format=duration:stream=codec_name,nb_read_frames,width,height")
            .args(["-count_frames", "-of", "default=noprint_wrappers=1"])
            .arg(path)
            .output()
            .expect("run ffprobe");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn field<'a>(probe: &'a str, key: &str) -> &'a str {
        probe
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing in {probe}"))
    }

    #[test]
    fn fifty_frames_make_three_fragments_ffprobe_accepts() {
        let (w, h) = (320, 240);
        let mut clip = ClipEncoder::new(ClipConfig::default());
        let mut chunks = Vec::new();
        let t0 = 1_700_000_000_000i64;
        for i in 0..50 {
            let jpeg = encode_jpeg_yuv(&frame(w, h, i), 80).expect("jpeg");
            chunks.extend(
                clip.push_jpeg(&jpeg, t0 + i64::from(i) * 100)
                    .expect("push"),
            );
        }
        chunks.extend(clip.finish().expect("finish"));
        assert!(matches!(chunks[0], ClipChunk::Init(_)));
        let frags: Vec<_> = chunks[1..]
            .iter()
            .map(|c| match c {
                ClipChunk::Fragment {
                    index,
                    start_ms,
                    duration_ms,
                    frames,
                    bytes,
                } => (*index, *start_ms - t0, *duration_ms, *frames, bytes.len()),
                ClipChunk::Init(_) => panic!("second init"),
            })
            .collect();
        assert_eq!(
            frags
                .iter()
                .map(|f| (f.0, f.1, f.2, f.3))
                .collect::<Vec<_>>(),
            [(1, 0, 2000, 20), (2, 2000, 2000, 20), (3, 4000, 1000, 10)]
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clip.mp4");
        let mut file = Vec::new();
        for c in &chunks {
            match c {
                ClipChunk::Init(b) | ClipChunk::Fragment { bytes: b, .. } => file.extend(b),
            }
        }
        std::fs::write(&path, &file).expect("write");
        let probe = ffprobe(&path);
        assert_eq!(field(&probe, "codec_name"), "h264");
        assert_eq!(field(&probe, "nb_read_frames"), "50");
        assert_eq!(field(&probe, "width"), "320");
        let dur: f64 = field(&probe, "duration").parse().expect("duration");
        assert!((dur - 5.0).abs() < 0.05, "duration {dur}");

        // Every fragment alone after the init is a playable file too.
        let path2 = dir.path().join("frag2.mp4");
        let (ClipChunk::Init(init), ClipChunk::Fragment { bytes, .. }) = (&chunks[0], &chunks[2])
        else {
            panic!("chunk order");
        };
        std::fs::write(&path2, [init.as_slice(), bytes].concat()).expect("write");
        assert_eq!(field(&ffprobe(&path2), "nb_read_frames"), "20");
    }

    /// The recorder runs clips on a worker task/thread.
    #[test]
    fn clip_encoder_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<ClipEncoder>();
        assert_send::<crate::synthetic::SyntheticScene>();
    }

    #[test]
    fn bad_jpeg_and_size_change_leave_encoder_usable() {
        let mut clip = ClipEncoder::new(ClipConfig {
            fragment_ms: 500,
            ..ClipConfig::default()
        });
        let mut chunks = clip.push_yuv(&frame(64, 64, 0), 0).expect("first");
        assert!(matches!(
            clip.push_jpeg(b"\xFF\xD8garbage", 100),
            Err(MediaError::InvalidJpeg { .. })
        ));
        assert!(matches!(
            clip.push_yuv(&frame(32, 32, 0), 100),
            Err(MediaError::SizeChanged { .. })
        ));
        for i in 1..8 {
            chunks.extend(
                clip.push_yuv(&frame(64, 64, i), i64::from(i) * 100)
                    .expect("push"),
            );
        }
        chunks.extend(clip.finish().expect("finish"));
        let frames: u32 = chunks
            .iter()
            .map(|c| match c {
                ClipChunk::Fragment { frames, .. } => *frames,
                ClipChunk::Init(_) => 0,
            })
            .sum();
        assert_eq!(frames, 8);
        // Out-of-order time is nudged forward rather than breaking the clip.
        assert!(clip.finish().expect("idle finish").is_empty());
        let c = clip.push_yuv(&frame(64, 64, 0), 50).expect("new clip");
        assert!(matches!(c[0], ClipChunk::Init(_)));
        clip.push_yuv(&frame(64, 64, 1), 40).expect("earlier time");
        let last = clip.finish().expect("finish");
        assert!(matches!(last[0], ClipChunk::Fragment { frames: 2, .. }));
    }
}
