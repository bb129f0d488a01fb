//! V4L2 cameras (USB webcams, the Raspberry Pi camera through its V4L2
//! driver): the pure part.
//!
//! Owns mode negotiation (which pixel format, size and frame rate to ask a
//! device for, given what it advertises and what the configuration wishes)
//! and YUYV → I420 conversion. Both are pure and table-tested with the
//! capabilities of real devices, because they are where camera quirks live
//! and there is no camera in CI.
//!
//! The device adapter (open, enumerate, mmap streaming on a dedicated
//! thread, reconnect) is [`V4l2Source`] in the Linux-only `v4l2_device`
//! module; it turns `v4l` enumerations into a [`DeviceCaps`] and calls
//! [`negotiate`].
//!
//! Policy: MJPEG is preferred over YUYV (a USB 2 link carries 1080p30 only
//! as MJPEG, and MJPEG frames pass through without re-encoding); the size is
//! the largest not exceeding the wish, else the smallest above it; the frame
//! rate is the closest offered (ties to the faster).

use vigia_media::Yuv420;

#[cfg(target_os = "linux")]
#[path = "v4l2_device.rs"]
mod device;
#[cfg(target_os = "linux")]
pub use device::{V4l2Config, V4l2Source};

/// Pixel formats vigia can take from a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Motion JPEG (`MJPG`, also `JPEG`): frames are JPEGs already.
    Mjpeg,
    /// Packed YUV 4:2:2 (`YUYV`): converted to I420 and encoded here.
    Yuyv,
}

impl PixelFormat {
    pub fn from_fourcc(fourcc: [u8; 4]) -> Option<Self> {
        match &fourcc {
            b"MJPG" | b"JPEG" => Some(Self::Mjpeg),
            b"YUYV" => Some(Self::Yuyv),
            _ => None,
        }
    }

    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Self::Mjpeg => *b"MJPG",
            Self::Yuyv => *b"YUYV",
        }
    }
}

/// A frame interval in seconds, `num/den` (the reciprocal of the rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub num: u32,
    pub den: u32,
}

impl Interval {
    pub fn fps(self) -> f64 {
        f64::from(self.den) / f64::from(self.num.max(1))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeRange {
    Discrete {
        width: u32,
        height: u32,
    },
    /// Any size in the range on the step grid (continuous: step 1).
    Stepwise {
        min_width: u32,
        max_width: u32,
        step_width: u32,
        min_height: u32,
        max_height: u32,
        step_height: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntervalRange {
    Discrete(Interval),
    /// Any interval between `min` (fastest) and `max` (slowest).
    Stepwise {
        min: Interval,
        max: Interval,
    },
}

/// One advertised size and the frame intervals offered at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeCaps {
    pub size: SizeRange,
    pub intervals: Vec<IntervalRange>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatCaps {
    pub fourcc: [u8; 4],
    pub sizes: Vec<SizeCaps>,
}

/// Everything a device advertises, as `VIDIOC_ENUM_FMT`,
/// `VIDIOC_ENUM_FRAMESIZES` and `VIDIOC_ENUM_FRAMEINTERVALS` report it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceCaps {
    pub formats: Vec<FormatCaps>,
}

/// What the configuration asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wish {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Overrides the MJPEG-first preference when the device offers it.
    pub format: Option<PixelFormat>,
}

/// The chosen mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// `None` if the device lists no intervals (keep its default).
    pub interval: Option<Interval>,
}

/// Picks the best mode the device offers for `wish`, or says why none fits.
pub fn negotiate(caps: &DeviceCaps, wish: &Wish) -> Result<Mode, String> {
    let usable: Vec<(PixelFormat, &FormatCaps)> = caps
        .formats
        .iter()
        .filter_map(|f| Some((PixelFormat::from_fourcc(f.fourcc)?, f)))
        .filter(|(_, f)| !f.sizes.is_empty())
        .collect();
    let pick = |want: PixelFormat| usable.iter().find(|(p, _)| *p == want);
    let &(format, fcaps) = wish
        .format
        .and_then(pick)
        .or_else(|| pick(PixelFormat::Mjpeg))
        .or_else(|| pick(PixelFormat::Yuyv))
        .ok_or_else(|| {
            let offered: Vec<String> = caps
                .formats
                .iter()
                .map(|f| String::from_utf8_lossy(&f.fourcc).into_owned())
                .collect();
            format!("offers no MJPG or YUYV format (only {offered:?})")
        })?;

    // Candidate sizes, each with the intervals offered at it.
    let mut candidates: Vec<(u32, u32, &[IntervalRange])> = Vec::new();
    for s in &fcaps.sizes {
        match s.size {
            SizeRange::Discrete { width, height } => {
                candidates.push((width, height, &s.intervals));
            }
            SizeRange::Stepwise {
                min_width,
                max_width,
                step_width,
                min_height,
                max_height,
                step_height,
            } => {
                let snap = |want: u32, min: u32, max: u32, step: u32| {
                    let v = want.clamp(min, max.max(min));
                    min + (v - min) / step.max(1) * step.max(1)
                };
                candidates.push((
                    snap(wish.width, min_width, max_width, step_width),
                    snap(wish.height, min_height, max_height, step_height),
                    &s.intervals,
                ));
                candidates.push((min_width, min_height, &s.intervals));
            }
        }
    }
    let area = |(w, h, _): &(u32, u32, &[IntervalRange])| u64::from(*w) * u64::from(*h);
    let fits = candidates
        .iter()
        .filter(|(w, h, _)| *w <= wish.width && *h <= wish.height)
        .max_by_key(|c| area(c));
    let (width, height, intervals) = *fits
        .or_else(|| candidates.iter().min_by_key(|c| area(c)))
        .ok_or_else(|| format!("{format:?} lists no frame sizes"))?;

    Ok(Mode {
        format,
        width,
        height,
        interval: choose_interval(intervals, wish.fps),
    })
}

/// The offered interval whose rate is closest to `fps`, ties to the faster.
fn choose_interval(offered: &[IntervalRange], fps: f64) -> Option<Interval> {
    let fps = if fps.is_finite() && fps > 0.0 {
        fps
    } else {
        30.0
    };
    let candidates = offered.iter().map(|r| match *r {
        IntervalRange::Discrete(i) => i,
        IntervalRange::Stepwise { min, max } => {
            let (slowest, fastest) = (max.fps().min(min.fps()), max.fps().max(min.fps()));
            let clamped = fps.clamp(slowest, fastest);
            if (clamped - fps).abs() < f64::EPSILON {
                // Express the wished rate exactly as 1000/(fps*1000).
                Interval {
                    num: 1000,
                    den: (fps * 1000.0).round() as u32,
                }
            } else if clamped >= fastest {
                min
            } else {
                max
            }
        }
    });
    candidates
        .filter(|i| i.num > 0 && i.den > 0)
        .min_by(|a, b| {
            let da = (a.fps() - fps).abs();
            let db = (b.fps() - fps).abs();
            da.total_cmp(&db).then(b.fps().total_cmp(&a.fps()))
        })
}

/// Converts packed YUYV 4:2:2 (`stride` bytes per row) to I420 by averaging
/// the chroma of each pair of rows. Width and height must be even.
pub fn yuyv_to_i420(data: &[u8], width: u32, height: u32, stride: u32) -> Result<Yuv420, String> {
    let (w, h) = (width as usize, height as usize);
    let stride = (stride as usize).max(w * 2);
    if w == 0 || h == 0 || w % 2 != 0 || h % 2 != 0 {
        return Err(format!("YUYV size {width}x{height} is not even"));
    }
    if data.len() < stride * (h - 1) + w * 2 {
        return Err(format!(
            "YUYV buffer of {} bytes is short for {width}x{height} (stride {stride})",
            data.len()
        ));
    }
    let mut img = Yuv420::filled(width, height, 0, 128, 128);
    for row in 0..h {
        let src = &data[row * stride..row * stride + w * 2];
        for (x, px) in src.chunks_exact(2).enumerate() {
            img.y[row * w + x] = px[0];
        }
    }
    for crow in 0..h / 2 {
        let a = &data[2 * crow * stride..];
        let b = &data[(2 * crow + 1) * stride..];
        for cx in 0..w / 2 {
            let avg = |i: usize| (u16::from(a[i]) + u16::from(b[i])).div_ceil(2) as u8;
            img.u[crow * (w / 2) + cx] = avg(cx * 4 + 1);
            img.v[crow * (w / 2) + cx] = avg(cx * 4 + 3);
        }
    }
    Ok(img)
}

#[cfg(test)]
#[path = "v4l2_tests.rs"]
mod tests;
