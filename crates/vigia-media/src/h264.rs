//! H.264 encoding of I420 frames with OpenH264, for clips.
//!
//! Owns the encoder configuration (speed first: real-time camera usage,
//! constrained baseline so every browser decodes it, no B-frames so decode
//! order is presentation order and the muxer needs no composition offsets)
//! and the split of OpenH264's Annex B output into bare NAL units. It does
//! not mux; [`crate::mp4`] does that, and [`crate::clip`] ties both together.
//!
//! OpenH264 repeats SPS and PPS before every IDR; the latest ones are kept so
//! the muxer can build its `avcC` from them.

use crate::error::MediaError;
use crate::plane::Yuv420;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

/// NAL unit types this module cares about (H.264 table 7-1).
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;

/// One encoded access unit (one picture).
#[derive(Debug, Clone)]
pub struct EncodedPicture {
    /// NAL units in decode order, without start codes; includes SPS and PPS
    /// in front of IDR pictures, as the encoder emits them.
    pub nals: Vec<Vec<u8>>,
    pub is_idr: bool,
}

impl EncodedPicture {
    /// The picture in MP4 (AVCC) form: each NAL prefixed by its 4-byte
    /// big-endian length. Parameter sets are left out because `avc1` tracks
    /// carry them in the sample entry.
    pub fn to_avcc(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.nals.iter().map(|n| n.len() + 4).sum());
        for nal in &self.nals {
            let t = nal.first().map_or(0, |b| b & 0x1F);
            if t == NAL_SPS || t == NAL_PPS {
                continue;
            }
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
        out
    }
}

pub struct H264Encoder {
    enc: Encoder,
    width: u32,
    height: u32,
    frames: u64,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

/// Borrowed view handing our packed planes to OpenH264.
struct Planes<'a>(&'a Yuv420);

impl YUVSource for Planes<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width as usize, self.0.height as usize)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let w = self.0.width as usize;
        (w, w / 2, w / 2)
    }
    fn y(&self) -> &[u8] {
        &self.0.y
    }
    fn u(&self) -> &[u8] {
        &self.0.u
    }
    fn v(&self) -> &[u8] {
        &self.0.v
    }
}

impl H264Encoder {
    /// An encoder for `width` x `height` (even, at most 3840x2160) frames.
    pub fn new(width: u32, height: u32, fps: f32, bitrate_bps: u32) -> Result<Self, MediaError> {
        if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
            return Err(MediaError::BadDimensions {
                width,
                height,
                reason: "H.264 4:2:0 needs even, non-zero dimensions",
            });
        }
        if width.max(height) > 3840 || width.min(height) > 2160 {
            return Err(MediaError::BadDimensions {
                width,
                height,
                reason: "OpenH264 encodes at most 3840x2160",
            });
        }
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            10.0
        };
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .complexity(Complexity::Low)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate_bps.max(10_000)))
            .max_frame_rate(FrameRate::from_hz(fps))
            // A skipped frame would leave a hole in the clip's timeline.
            .skip_frames(false)
            // IDRs come only where the clip asks (fragment starts), so
            // fragment boundaries stay predictable.
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            .scene_change_detect(false)
            // The recorder runs beside analysis on a small board.
            .num_threads(1)
            // JPEG is full-range BT.601; say so, or players crush blacks.
            .vui(VuiConfig::bt601().full_range(true));
        let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| MediaError::H264(e.to_string()))?;
        // OpenH264 logs a warning to stderr when it initialises with frame
        // skipping off (which we need: a skipped frame is a hole in the
        // clip). The wrapper silences logging only after initialising, so
        // silence it before, once per clip, instead of spamming the log.
        // ENCODER_OPTION_TRACE_LEVEL (25) is accepted before
        // initialisation; WELS_LOG_QUIET is 0. Failures are reported
        // through return codes, not this log.
        let mut quiet: std::os::raw::c_int = 0;
        // SAFETY: the encoder pointer is valid (just created); the option
        // reads one c_int through the pointer, which lives across the call.
        unsafe {
            enc.raw_api()
                .set_option(25, (&raw mut quiet).cast::<std::ffi::c_void>());
        }
        Ok(Self {
            enc,
            width,
            height,
            frames: 0,
            sps: None,
            pps: None,
        })
    }

    /// Encodes one frame; the first frame is always an IDR.
    pub fn encode(
        &mut self,
        frame: &Yuv420,
        force_idr: bool,
    ) -> Result<EncodedPicture, MediaError> {
        if frame.width != self.width || frame.height != self.height {
            return Err(MediaError::SizeChanged {
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.width,
                want_h: self.height,
            });
        }
        let (w, h) = (self.width as usize, self.height as usize);
        if frame.y.len() < w * h || frame.u.len() < w * h / 4 || frame.v.len() < w * h / 4 {
            return Err(MediaError::BadDimensions {
                width: frame.width,
                height: frame.height,
                reason: "plane sizes do not match the dimensions",
            });
        }
        // Before the first encode the encoder is not initialised yet (it
        // learns the size from the first frame), and that frame is an IDR.
        if force_idr && self.frames > 0 {
            self.enc.force_intra_frame();
        }
        let bs = self
            .enc
            .encode(&Planes(frame))
            .map_err(|e| MediaError::H264(e.to_string()))?;
        let frame_type = bs.frame_type();
        let mut nals = Vec::new();
        for l in 0..bs.num_layers() {
            let Some(layer) = bs.layer(l) else { continue };
            for i in 0..layer.nal_count() {
                if let Some(nal) = layer.nal_unit(i).map(strip_start_code) {
                    if !nal.is_empty() {
                        nals.push(nal.to_vec());
                    }
                }
            }
        }
        self.frames += 1;
        let mut is_idr = frame_type == FrameType::IDR;
        for nal in &nals {
            match nal[0] & 0x1F {
                NAL_SPS => self.sps = Some(nal.clone()),
                NAL_PPS => self.pps = Some(nal.clone()),
                NAL_IDR => is_idr = true,
                _ => {}
            }
        }
        if nals.is_empty() {
            return Err(MediaError::H264(format!(
                "encoder produced no NAL units ({frame_type:?})"
            )));
        }
        Ok(EncodedPicture { nals, is_idr })
    }

    /// The latest sequence parameter set (known after the first encode).
    pub fn sps(&self) -> Option<&[u8]> {
        self.sps.as_deref()
    }

    /// The latest picture parameter set (known after the first encode).
    pub fn pps(&self) -> Option<&[u8]> {
        self.pps.as_deref()
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }
}

/// Drops an Annex B start code (00 00 01 or 00 00 00 01) if present.
fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openh264::decoder::{DecodedYUV, Decoder};

    fn moving_square(w: u32, h: u32, i: u32) -> Yuv420 {
        let mut f = Yuv420::filled(w, h, 100, 110, 150);
        for y in 20..60 {
            for x in 0..40 {
                let xx = (x + i * 8) % w;
                f.y[(y * w + xx) as usize] = 220;
            }
        }
        f
    }

    fn annexb(p: &EncodedPicture) -> Vec<u8> {
        let mut out = Vec::new();
        for n in &p.nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(n);
        }
        out
    }

    #[test]
    fn encodes_and_decodes_back() {
        let (w, h) = (320, 240);
        let mut enc = H264Encoder::new(w, h, 10.0, 500_000).expect("encoder");
        let mut dec = Decoder::new().expect("decoder");
        let mut decoded = 0;
        let mut idrs = Vec::new();
        for i in 0..8 {
            let p = enc.encode(&moving_square(w, h, i), i == 5).expect("encode");
            assert!(p.nals.iter().all(|n| !n.starts_with(&[0, 0, 1])));
            idrs.push(p.is_idr);
            let pic: Option<DecodedYUV<'_>> = dec.decode(&annexb(&p)).expect("decode");
            if let Some(pic) = pic {
                assert_eq!(pic.dimensions(), (w as usize, h as usize));
                decoded += 1;
            }
        }
        decoded += dec.flush_remaining().expect("flush").len();
        assert_eq!(decoded, 8);
        assert!(idrs[0], "first picture must be IDR");
        assert!(idrs[5], "forced IDR");
        assert!(!idrs[1] && !idrs[4] && !idrs[6], "{idrs:?}");
        let sps = enc.sps().expect("sps");
        assert_eq!(sps[0] & 0x1F, NAL_SPS);
        assert_eq!(sps[1], 66, "baseline profile_idc");
        assert_eq!(enc.pps().expect("pps")[0] & 0x1F, NAL_PPS);
    }

    #[test]
    fn avcc_drops_parameter_sets_and_prefixes_lengths() {
        let mut enc = H264Encoder::new(64, 64, 10.0, 200_000).expect("encoder");
        let p = enc
            .encode(&moving_square(64, 64, 0), false)
            .expect("encode");
        let avcc = p.to_avcc();
        let mut pos = 0;
        let mut types = Vec::new();
        while pos < avcc.len() {
            let len = u32::from_be_bytes(avcc[pos..pos + 4].try_into().expect("4")) as usize;
            types.push(avcc[pos + 4] & 0x1F);
            pos += 4 + len;
        }
        assert_eq!(pos, avcc.len());
        assert!(
            types.contains(&NAL_IDR) && !types.contains(&NAL_SPS),
            "{types:?}"
        );
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(H264Encoder::new(321, 240, 10.0, 1).is_err());
        let mut enc = H264Encoder::new(64, 64, 10.0, 200_000).expect("encoder");
        assert!(matches!(
            enc.encode(&Yuv420::filled(32, 32, 0, 128, 128), false),
            Err(MediaError::SizeChanged { .. })
        ));
    }
}
