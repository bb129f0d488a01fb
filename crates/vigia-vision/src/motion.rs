//! The motion detector: turns a stream of downscaled luma planes into a
//! per-frame [`MotionResult`] and the `triggered` signal the node's event
//! state machine consumes.
//!
//! It owns the policy (what counts as motion, when the scene changed
//! globally, how fast the background may learn); the pixel work lives in
//! `background` (model and classification), `raster` (masks and zones) and
//! `blobs` (despeckle and labelling). It does not own timing, decoding or
//! scaling: the caller hands in planes and maps normalised results back to
//! any resolution.
//!
//! Per frame, in order:
//! 1. **Measure**: the median of `pixel - background` over the active area is
//!    the global brightness offset; its median absolute deviation is the
//!    global noise level.
//! 2. **Classify**: a pixel has changed when its offset-compensated
//!    difference exceeds `threshold + noise_k * max(pixel noise, global
//!    noise)`. Pixel noise is learned from frame-to-frame differences, so
//!    foliage and flicker raise their own thresholds while a person standing
//!    still does not.
//! 3. **Global change**: if the mean luma jumped by `light_change_levels`
//!    within the last few frames and `light_change_fraction` of the active
//!    area changed in that direction, or more than `max_changed_fraction`
//!    changed at all, the background is re-baselined to this plane and the
//!    frame reports `light_change` and no motion.
//! 4. **Blobs**: the changed mask is opened (`despeckle`), labelled, and
//!    components below `min_blob_area` dropped. `score` is the area of the
//!    remaining blobs over the active area; `motion` means `score >=
//!    min_changed_fraction`; `triggered` means motion for
//!    `min_consecutive_frames` frames in a row.
//! 5. **Adapt**: background and noise move towards the plane at
//!    `background_alpha` per frame, eight times slower under blobs: a person
//!    who stops for a few seconds stays foreground, a parked car is absorbed
//!    after a minute or two. Slow drift (dusk, clouds) is absorbed by the
//!    offset compensation and the adaptation together.
//!
//! The steady state allocates nothing; a resolution change re-rasterises the
//! masks and starts over with a new background (warm-up included).

use vigia_media::LumaPlane;

use crate::background::{Measure, Model, Rates, Thresholds};
use crate::blobs::{self, Labeller};
use crate::error::{PolygonError, VisionError};
use crate::raster::{self, Span};

/// Background and noise adapt this many times slower under blobs.
const FOREGROUND_SLOWDOWN: i32 = 8;
/// The noise estimate rises this many times faster than `background_alpha`
/// (and decays at `background_alpha`), so a gust of wind raises the
/// thresholds of the leaves within a few frames.
const NOISE_RISE: i32 = 4;
/// Rate at which the global noise level follows its per-frame measurement
/// once warmed up, Q15 (0.05 per frame).
const GLOBAL_NOISE_RATE_Q15: i64 = 1638;
/// Frames over which a mean-luma jump counts as sudden (auto-exposure ramps
/// take a few frames).
const LIGHT_WINDOW: usize = 3;

/// A polygon in normalised coordinates of the full frame: `(0, 0)` is the
/// top-left corner, `(1, 1)` the bottom-right. At least three points; the
/// last connects back to the first; self-intersecting polygons use the
/// even-odd rule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Polygon {
    pub points: Vec<(f32, f32)>,
}

impl Polygon {
    /// Checks the polygon: at least 3 finite points inside `0..=1` enclosing
    /// a non-zero area.
    pub fn validate(&self) -> Result<(), PolygonError> {
        if self.points.len() < 3 {
            return Err(PolygonError::TooFewPoints {
                count: self.points.len(),
            });
        }
        for (index, &(x, y)) in self.points.iter().enumerate() {
            if !x.is_finite() || !y.is_finite() {
                return Err(PolygonError::NotFinite { index });
            }
            if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
                return Err(PolygonError::OutOfRange { index, x, y });
            }
        }
        let n = self.points.len();
        let twice_area: f64 = (0..n)
            .map(|i| {
                let (x0, y0) = self.points[i];
                let (x1, y1) = self.points[(i + 1) % n];
                f64::from(x0) * f64::from(y1) - f64::from(x1) * f64::from(y0)
            })
            .sum();
        if twice_area.abs() < 1e-9 {
            return Err(PolygonError::ZeroArea);
        }
        Ok(())
    }
}

/// A named region of interest. When any zone is configured, only motion
/// inside zones counts, and each result reports per-zone activity.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Unique, non-empty name (used in events and notifications).
    pub name: String,
    pub polygon: Polygon,
}

/// Motion detector knobs. Fractions are of the analysed plane, so the same
/// parameters work at any analysis resolution. [`Default`] gives the values
/// documented on each field, tuned on real footage (`vtest.avi` pedestrians,
/// `tree.avi` foliage and exposure changes) at 192x144 and 10-15 fps.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionParams {
    /// Luma levels (0-255) a pixel must differ from the background *on top
    /// of* its noise allowance to count as changed. Default 10: well above
    /// JPEG/H.264 ringing, well below the contrast of a person on a typical
    /// background. Must be below 255.
    pub threshold: u8,
    /// Noise allowance in standard deviations: a pixel changed when
    /// `|diff| > threshold + noise_k * noise`, where noise is the larger of
    /// the pixel's learned noise and the plane's global noise. Default 3.0.
    /// Range 0..=20.
    pub noise_k: f32,
    /// Fraction per frame by which the background moves towards each new
    /// plane (eight times slower under detected blobs). Default 0.02: time
    /// constant 50 frames (5 s at 10 fps); a parked object is absorbed in
    /// roughly 1-2 minutes at 10 fps. Range 0.001..=1.
    pub background_alpha: f32,
    /// Smallest blob kept, as a fraction of the plane's area. Default 0.0015
    /// (42 pixels at 192x144, 11 at 96x72: a pedestrian at 20-30 m in a
    /// 768x576 view). Range 0..1.
    pub min_blob_area: f32,
    /// Blob area (fraction of the active, i.e. unmasked and in-zone, area)
    /// needed for a motion frame. Default 0.0015: one kept blob of minimum
    /// size is motion. Range 0..=1.
    pub min_changed_fraction: f32,
    /// Changed fraction (of the active area, before blob filtering) above
    /// which the frame is treated as a global change (camera moved, lights
    /// switched) and the background is re-baselined. Default 0.6. Range
    /// (`min_changed_fraction`, 1].
    pub max_changed_fraction: f32,
    /// Fraction of the active area that must have changed in the direction
    /// of a mean-luma jump for the jump to count as a light change. Default
    /// 0.4. Range (0, 1].
    pub light_change_fraction: f32,
    /// Mean-luma jump, in levels, within three frames that may be a light
    /// change. Default 15: auto-exposure steps and lights switching exceed
    /// it; people entering the view rarely move the mean that much.
    /// Range (0, 255].
    pub light_change_levels: f32,
    /// Motion frames in a row before `triggered`. Default 2 (0.1 s of
    /// confirmation at 10 fps): a single-frame glitch never triggers, and
    /// an intruder raises the alarm one frame after appearing. At least 1.
    pub min_consecutive_frames: u32,
    /// Erosion/dilation passes of the morphological opening of the changed
    /// mask (3x3 square). Default 1: removes specks and one-pixel lines.
    /// Range 0..=8.
    pub despeckle: u32,
    /// Ignore zones: changes inside never count. Normalised coordinates of
    /// the full frame. Default none.
    pub masks: Vec<Polygon>,
    /// Named zones: if any are configured, only motion inside them counts.
    /// Default none.
    pub zones: Vec<Zone>,
    /// Frames after the first (or after a reset or resolution change) used
    /// only to learn the background and noise. Default 20 (2 s at 10 fps).
    pub warmup_frames: u32,
}

impl Default for MotionParams {
    fn default() -> Self {
        Self {
            threshold: 10,
            noise_k: 3.0,
            background_alpha: 0.02,
            min_blob_area: 0.0015,
            min_changed_fraction: 0.0015,
            max_changed_fraction: 0.6,
            light_change_fraction: 0.4,
            light_change_levels: 15.0,
            min_consecutive_frames: 2,
            despeckle: 1,
            masks: Vec::new(),
            zones: Vec::new(),
            warmup_frames: 20,
        }
    }
}

fn invalid(field: &str, value: impl std::fmt::Display, reason: &'static str) -> VisionError {
    VisionError::InvalidParam {
        field: field.to_owned(),
        value: value.to_string(),
        reason,
    }
}

fn check_range(
    field: &str,
    v: f32,
    lo: f32,
    hi: f32,
    lo_inclusive: bool,
    reason: &'static str,
) -> Result<(), VisionError> {
    let above = if lo_inclusive { v >= lo } else { v > lo };
    if v.is_finite() && above && v <= hi {
        Ok(())
    } else {
        Err(invalid(field, v, reason))
    }
}

impl MotionParams {
    /// Checks every field against its documented range; the error names the
    /// first offending field.
    pub fn validate(&self) -> Result<(), VisionError> {
        if self.threshold == 255 {
            return Err(invalid("threshold", self.threshold, "must be below 255"));
        }
        check_range(
            "noise_k",
            self.noise_k,
            0.0,
            20.0,
            true,
            "must be within 0..=20",
        )?;
        check_range(
            "background_alpha",
            self.background_alpha,
            0.001,
            1.0,
            true,
            "must be within 0.001..=1",
        )?;
        check_range(
            "min_blob_area",
            self.min_blob_area,
            0.0,
            0.999_999,
            true,
            "must be within 0..1",
        )?;
        check_range(
            "min_changed_fraction",
            self.min_changed_fraction,
            0.0,
            1.0,
            true,
            "must be within 0..=1",
        )?;
        check_range(
            "max_changed_fraction",
            self.max_changed_fraction,
            self.min_changed_fraction,
            1.0,
            false,
            "must be above min_changed_fraction and at most 1",
        )?;
        check_range(
            "light_change_fraction",
            self.light_change_fraction,
            0.0,
            1.0,
            false,
            "must be within (0, 1]",
        )?;
        check_range(
            "light_change_levels",
            self.light_change_levels,
            0.0,
            255.0,
            false,
            "must be within (0, 255]",
        )?;
        if self.min_consecutive_frames == 0 {
            return Err(invalid("min_consecutive_frames", 0, "must be at least 1"));
        }
        if self.despeckle > 8 {
            return Err(invalid("despeckle", self.despeckle, "must be at most 8"));
        }
        for (i, m) in self.masks.iter().enumerate() {
            m.validate().map_err(|source| VisionError::InvalidPolygon {
                field: format!("masks[{i}]"),
                source,
            })?;
        }
        for (i, z) in self.zones.iter().enumerate() {
            if z.name.trim().is_empty() {
                return Err(invalid(
                    &format!("zones[{i}].name"),
                    format!("{:?}", z.name),
                    "must not be empty",
                ));
            }
            if self.zones[..i].iter().any(|o| o.name == z.name) {
                return Err(invalid(
                    &format!("zones[{i}].name"),
                    format!("{:?}", z.name),
                    "must be unique",
                ));
            }
            z.polygon
                .validate()
                .map_err(|source| VisionError::InvalidPolygon {
                    field: format!("zones[{i}].polygon"),
                    source,
                })?;
        }
        Ok(())
    }
}

/// A connected region of changed pixels, in normalised coordinates of the
/// plane (`0..=1`), so callers can map it to any resolution.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Blob {
    /// `(x1, y1, x2, y2)`: left, top, right, bottom edges.
    pub bbox: (f32, f32, f32, f32),
    /// Centre of mass.
    pub centroid: (f32, f32),
    /// Pixel area as a fraction of the plane.
    pub area: f32,
}

/// What the detector saw in one plane.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MotionResult {
    /// Motion strength: area of the kept blobs over the active area (0..=1).
    pub score: f32,
    /// Fraction of active pixels changed, before despeckle and blob
    /// filtering.
    pub changed_fraction: f32,
    /// Active pixels changed, before despeckle and blob filtering.
    pub changed_pixels: u32,
    /// The largest kept blob.
    pub largest_blob: Option<Blob>,
    /// Number of kept blobs.
    pub blobs: u32,
    /// Per configured zone: fraction of the zone's active pixels inside kept
    /// blobs. Empty when no zones are configured.
    pub zones: Vec<(String, f32)>,
    /// This frame has motion: `score >= min_changed_fraction`.
    pub motion: bool,
    /// Motion for at least `min_consecutive_frames` frames in a row.
    pub triggered: bool,
    /// A global change was detected (a light change, or more than
    /// `max_changed_fraction` changed at once, e.g. the camera moved): the
    /// background was re-baselined to this plane and the frame reports no
    /// motion.
    pub light_change: bool,
    /// Global noise level: robust standard deviation of the difference to the
    /// background, in luma levels (smoothed over frames).
    pub noise_level: f32,
    /// Mean luma of the plane, 0..=255.
    pub mean_luma: f32,
    /// The detector is still learning the background (first plane, the
    /// warm-up after it, or a malformed plane before any); never motion.
    pub warming_up: bool,
}

/// A zone rasterised for the current plane size.
#[derive(Debug)]
struct ZoneRaster {
    name: String,
    spans: Vec<Span>,
    /// Active pixels in the zone.
    area: u32,
}

/// Motion detector over a stream of luma planes; see the module docs.
#[derive(Debug)]
pub struct MotionDetector {
    params: MotionParams,
    threshold_q8: i32,
    noise_k_q8: i32,
    /// `background_alpha`, Q15.
    alpha_q15: i32,
    width: usize,
    height: usize,
    /// 1 where changes count (in a zone if any, outside every mask).
    active: Vec<u8>,
    active_count: u32,
    zones: Vec<ZoneRaster>,
    min_blob_px: u32,
    model: Model,
    changed: Vec<u8>,
    scratch: Vec<u8>,
    /// 1 on pixels of kept blobs (the foreground).
    fg: Vec<u8>,
    labeller: Labeller,
    /// Planes since the last (re)start; 0 means no background yet.
    frames: u32,
    consecutive: u32,
    noise_q8: u32,
    /// Mean luma of the last `LIGHT_WINDOW` planes, newest first.
    recent_means: [f32; LIGHT_WINDOW],
}

impl MotionDetector {
    /// Validates `params` and builds a detector. Buffers are sized at the
    /// first plane.
    pub fn new(params: MotionParams) -> Result<Self, VisionError> {
        params.validate()?;
        Ok(Self {
            threshold_q8: i32::from(params.threshold) << 8,
            noise_k_q8: (params.noise_k * 256.0).round() as i32,
            alpha_q15: ((params.background_alpha * 32768.0).round() as i32).clamp(1, 32768),
            params,
            width: 0,
            height: 0,
            active: Vec::new(),
            active_count: 0,
            zones: Vec::new(),
            min_blob_px: 1,
            model: Model::default(),
            changed: Vec::new(),
            scratch: Vec::new(),
            fg: Vec::new(),
            labeller: Labeller::default(),
            frames: 0,
            consecutive: 0,
            noise_q8: 0,
            recent_means: [0.0; LIGHT_WINDOW],
        })
    }

    /// The validated parameters.
    pub fn params(&self) -> &MotionParams {
        &self.params
    }

    /// Forgets the background: the next plane starts a new warm-up.
    pub fn reset(&mut self) {
        self.frames = 0;
        self.consecutive = 0;
        self.noise_q8 = 0;
    }

    /// Sizes the buffers and rasterises masks and zones for a new plane
    /// size, then restarts.
    fn configure(&mut self, width: usize, height: usize) {
        let n = width * height;
        self.width = width;
        self.height = height;
        let base = u8::from(self.params.zones.is_empty());
        self.active.clear();
        self.active.resize(n, base);
        let mut spans = Vec::new();
        for z in &self.params.zones {
            spans.clear();
            raster::rasterize(&z.polygon.points, width, height, &mut spans);
            raster::fill(&mut self.active, &spans, 1);
        }
        for m in &self.params.masks {
            spans.clear();
            raster::rasterize(&m.points, width, height, &mut spans);
            raster::fill(&mut self.active, &spans, 0);
        }
        self.active_count = self.active.iter().map(|&a| u32::from(a)).sum();
        self.zones = self
            .params
            .zones
            .iter()
            .map(|z| {
                let mut spans = Vec::new();
                raster::rasterize(&z.polygon.points, width, height, &mut spans);
                let area = raster::count(&self.active, &spans);
                ZoneRaster {
                    name: z.name.clone(),
                    spans,
                    area,
                }
            })
            .collect();
        self.min_blob_px = ((f64::from(self.params.min_blob_area) * n as f64).ceil() as u32).max(1);
        for buf in [&mut self.changed, &mut self.scratch, &mut self.fg] {
            buf.clear();
            buf.resize(n, 0);
        }
        self.reset();
    }

    fn empty_zones(&self) -> Vec<(String, f32)> {
        self.zones.iter().map(|z| (z.name.clone(), 0.0)).collect()
    }

    /// Analyses one plane. A plane whose size differs from the previous one
    /// restarts the detector (new background, warm-up). A malformed plane
    /// (`data` shorter than `width * height`) is ignored: the state is left
    /// as it was and the result reports nothing.
    pub fn analyze(&mut self, plane: &LumaPlane) -> MotionResult {
        let (w, h) = (plane.width as usize, plane.height as usize);
        let n = w.saturating_mul(h);
        if plane.data.len() < n {
            return MotionResult {
                warming_up: self.frames <= self.params.warmup_frames,
                ..MotionResult::default()
            };
        }
        if (w, h) != (self.width, self.height) || self.active.len() != n {
            self.configure(w, h);
        }
        if n == 0 {
            return MotionResult {
                warming_up: true,
                ..MotionResult::default()
            };
        }
        let pix = &plane.data[..n];
        let mean = (pix.iter().map(|&p| u64::from(p)).sum::<u64>() as f64 / n as f64) as f32;
        let mut r = MotionResult {
            mean_luma: mean,
            zones: self.empty_zones(),
            ..MotionResult::default()
        };

        let index = self.frames;
        self.frames = self.frames.saturating_add(1);
        if index == 0 {
            self.model.reset(pix);
            self.recent_means = [mean; LIGHT_WINDOW];
            r.warming_up = true;
            return r;
        }
        let warming = index <= self.params.warmup_frames;
        r.warming_up = warming;

        // 1. Measure.
        let me: Measure = self.model.measure(pix, &self.active);
        let noise_rate = if warming {
            32768 / i64::from(index)
        } else {
            GLOBAL_NOISE_RATE_Q15
        };
        let cur = i64::from(self.noise_q8);
        let next = cur + ((i64::from(me.sigma_q8) - cur) * noise_rate + (1 << 14)) / 32768;
        self.noise_q8 = next.max(0) as u32;
        r.noise_level = self.noise_q8 as f32 / 256.0;

        // 2. Classify, with the light-change vote in the direction of the
        // largest recent mean-luma jump.
        let jump = self
            .recent_means
            .iter()
            .map(|&m| mean - m)
            .fold(
                0.0f32,
                |best, j| if j.abs() > best.abs() { j } else { best },
            );
        let direction = if jump.abs() >= self.params.light_change_levels {
            jump.signum() as i32
        } else {
            0
        };
        let t = Thresholds {
            base_q8: self.threshold_q8,
            k_q8: self.noise_k_q8,
            floor_q8: self.noise_q8 as i32,
        };
        let cls = self.model.classify(
            pix,
            &self.active,
            me.offset << 8,
            t,
            direction,
            &mut self.changed,
        );
        let active = self.active_count.max(1) as f32;
        r.changed_pixels = cls.changed;
        r.changed_fraction = cls.changed as f32 / active;

        // 3. Global change.
        let light = direction != 0
            && cls.same_direction as f32 >= self.params.light_change_fraction * active;
        let global = !warming && r.changed_fraction > self.params.max_changed_fraction;
        if light || global {
            self.model.rebaseline(pix);
            self.recent_means = [mean; LIGHT_WINDOW];
            self.consecutive = 0;
            r.light_change = true;
            return r;
        }

        // 4. Blobs.
        self.fg.fill(0);
        if !warming {
            blobs::open(
                &mut self.changed,
                &mut self.scratch,
                w,
                h,
                self.params.despeckle,
            );
            self.labeller.label(&self.changed, w, h);
            let mut kept_area = 0u32;
            let mut largest = None::<&crate::blobs::Component>;
            for (_, c) in self.labeller.components() {
                if c.area >= self.min_blob_px {
                    r.blobs += 1;
                    kept_area += c.area;
                    if largest.is_none_or(|l| c.area > l.area) {
                        largest = Some(c);
                    }
                }
            }
            r.largest_blob = largest.map(|c| {
                let (wf, hf) = (w as f32, h as f32);
                Blob {
                    bbox: (
                        c.min_x as f32 / wf,
                        c.min_y as f32 / hf,
                        (c.max_x + 1) as f32 / wf,
                        (c.max_y + 1) as f32 / hf,
                    ),
                    centroid: (
                        (c.sum_x2 as f64 / (2.0 * f64::from(c.area)) + 0.5) as f32 / wf,
                        (c.sum_y as f64 / f64::from(c.area) + 0.5) as f32 / hf,
                    ),
                    area: c.area as f32 / n as f32,
                }
            });
            for (root, run) in self.labeller.runs() {
                if self.labeller.area(root) >= self.min_blob_px {
                    let row = run.y as usize * w;
                    self.fg[row + run.x0 as usize..row + run.x1 as usize].fill(1);
                }
            }
            r.score = kept_area as f32 / active;
            for (slot, z) in r.zones.iter_mut().zip(&self.zones) {
                slot.1 = raster::count(&self.fg, &z.spans) as f32 / z.area.max(1) as f32;
            }
            r.motion = r.blobs > 0 && r.score >= self.params.min_changed_fraction;
        }
        self.consecutive = if r.motion {
            self.consecutive.saturating_add(1)
        } else {
            0
        };
        r.triggered = self.consecutive >= self.params.min_consecutive_frames;

        // 5. Adapt.
        let a = self.alpha_q15;
        let rates = if warming {
            let fast = (32768 / (index.min(32767) as i32 + 1)).max(a);
            let noise = (32768 / index.min(32767) as i32).max(a);
            Rates {
                bg: fast,
                fg: fast,
                noise_up: noise,
                noise_down: noise,
            }
        } else {
            Rates {
                bg: a,
                fg: (a / FOREGROUND_SLOWDOWN).max(1),
                noise_up: (a * NOISE_RISE).min(32768),
                noise_down: a,
            }
        };
        let step_q8 = ((mean - self.recent_means[0]) * 256.0).round() as i32;
        self.model
            .update(pix, &self.fg, rates, step_q8, !me.duplicate);
        self.recent_means.rotate_right(1);
        self.recent_means[0] = mean;
        r
    }
}

#[cfg(test)]
mod tests;
