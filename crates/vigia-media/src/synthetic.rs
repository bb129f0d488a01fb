//! The synthetic scene: a looping, scripted camera view with known ground
//! truth, for the demo camera, the tests and the detection benchmarks.
//!
//! It owns what a camera would see and *when* things happen: a textured
//! background (sky, buildings, grass, pavement, a tree), per-frame sensor
//! noise, figures that walk across at scripted times, a slow illumination
//! drift, a light switch, and foliage flicker in one corner. The last three
//! are the classic false-positive sources a motion detector must ignore;
//! [`SyntheticScene::ground_truth`] says where and when each happens so
//! tests can score detections. It does not encode (callers use
//! [`crate::jpeg`]) and knows nothing about clocks: frame `index` is at
//! `index / fps` seconds, and the script repeats every `period_ms`.
//!
//! Everything is a pure function of `seed` and `index`, so any frame can be
//! re-rendered bit-exactly. Rendering is cheap enough for a Raspberry Pi at
//! 768x576 and 10 fps: the background is built once, and a frame is one
//! pass adding lighting and table-driven noise, plus the small figure and
//! flicker regions.

use crate::plane::Yuv420;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    LeftToRight,
    RightToLeft,
}

/// One figure walking across the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureScript {
    /// Loop time at which the figure starts entering the frame.
    pub start_ms: i64,
    pub direction: Direction,
    /// Walking speed in frame widths per second.
    pub speed: f32,
    /// Figure height as a fraction of the frame height.
    pub height_frac: f32,
    /// Where the feet are, as a fraction of the frame height from the top.
    pub ground_frac: f32,
}

/// The lights go on at `on_ms` (whole frame brighter) and off at `off_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LightSwitch {
    pub on_ms: i64,
    pub off_ms: i64,
}

/// What happens in one loop of the scene.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneScript {
    pub period_ms: i64,
    pub figures: Vec<FigureScript>,
    pub light_switches: Vec<LightSwitch>,
    /// Luma added to the whole frame while a light is on.
    pub light_step: i32,
    /// Peak of the sinusoidal illumination drift (one cycle per loop, so
    /// the loop is seamless), in luma levels.
    pub drift_amplitude: f32,
    /// Per-pixel sensor noise, standard deviation in luma levels.
    pub noise_sigma: f32,
    pub flicker: bool,
}

impl Default for SceneScript {
    /// A 60 s loop: a figure left→right at 6 s, another right→left at
    /// 24 s, light on at 40 s and off at 52 s, drift and flicker
    /// throughout. Each figure takes about 4.4 s to cross and has at least
    /// 4 s of quiet on both sides, so events never merge.
    fn default() -> Self {
        Self {
            figures: vec![
                FigureScript {
                    start_ms: 6_000,
                    direction: Direction::LeftToRight,
                    ..FigureScript::walker()
                },
                FigureScript {
                    start_ms: 24_000,
                    direction: Direction::RightToLeft,
                    ..FigureScript::walker()
                },
            ],
            ..Self::quiet()
        }
    }
}

impl FigureScript {
    /// A person-sized figure walking a quarter frame width per second.
    fn walker() -> Self {
        Self {
            start_ms: 0,
            direction: Direction::LeftToRight,
            speed: 0.25,
            height_frac: 0.25,
            ground_frac: 0.92,
        }
    }
}

impl SceneScript {
    /// Noise, drift, flicker and the light switch, but nobody walking: any
    /// event detected here is a false positive.
    pub fn quiet() -> Self {
        Self {
            period_ms: 60_000,
            figures: Vec::new(),
            light_switches: vec![LightSwitch {
                on_ms: 40_000,
                off_ms: 52_000,
            }],
            light_step: 40,
            drift_amplitude: 15.0,
            noise_sigma: 2.5,
            flicker: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SceneConfig {
    pub seed: u64,
    /// Rounded up to even (4:2:0), at least 16.
    pub width: u32,
    pub height: u32,
    pub fps: f32,
    pub script: SceneScript,
}

impl Default for SceneConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            width: 768,
            height: 576,
            fps: 10.0,
            script: SceneScript::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruthKind {
    /// A figure from its first pixel entering to its last pixel leaving.
    Figure,
    /// A light on from `start_ms` to `end_ms`; both edges are sudden
    /// whole-frame brightness changes.
    LightSwitch,
    /// The slow illumination drift, the whole loop.
    LightDrift,
    /// Foliage flicker in one corner, the whole loop.
    Flicker,
}

/// When (in loop time, ms) and where something happens.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    pub kind: TruthKind,
    pub start_ms: i64,
    pub end_ms: i64,
    region: Region,
}

#[derive(Debug, Clone, PartialEq)]
enum Region {
    Whole,
    Fixed([u32; 4]),
    Walk(Walk),
}

impl GroundTruth {
    /// The affected rectangle [x1, x2) x [y1, y2) in pixels at loop time
    /// `t_ms`, clipped to the frame; `None` when nothing happens then.
    pub fn bbox_at(&self, t_ms: i64, width: u32, height: u32) -> Option<[u32; 4]> {
        if t_ms < self.start_ms || t_ms >= self.end_ms {
            return None;
        }
        match &self.region {
            Region::Whole => Some([0, 0, width, height]),
            Region::Fixed(r) => Some(*r),
            Region::Walk(w) => w.bbox(t_ms),
        }
    }
}

/// A figure's path resolved to pixels.
#[derive(Debug, Clone, PartialEq)]
struct Walk {
    start_ms: i64,
    end_ms: i64,
    rtl: bool,
    /// Pixels per ms.
    speed: f64,
    fw: i64,
    fh: i64,
    top: i64,
    frame_w: i64,
    frame_h: i64,
}

impl Walk {
    fn new(f: &FigureScript, w: u32, h: u32) -> Self {
        let fh = ((f.height_frac.clamp(0.05, 1.0) * h as f32).round() as i64).max(8);
        let fw = ((fh as f32 * 0.42).round() as i64).max(4);
        let bottom = (f.ground_frac.clamp(0.0, 1.0) * h as f32).round() as i64;
        let speed = f64::from(f.speed.max(0.01)) * f64::from(w) / 1000.0;
        let span = (i64::from(w) + fw) as f64 / speed;
        Self {
            start_ms: f.start_ms,
            end_ms: f.start_ms + span.ceil() as i64,
            rtl: f.direction == Direction::RightToLeft,
            speed,
            fw,
            fh,
            top: (bottom - fh).max(0),
            frame_w: i64::from(w),
            frame_h: i64::from(h),
        }
    }

    /// Left edge at `t_ms`: starts just outside one side, ends just outside
    /// the other.
    fn left(&self, t_ms: i64) -> i64 {
        let d = ((t_ms - self.start_ms) as f64 * self.speed).floor() as i64;
        if self.rtl {
            self.frame_w - d
        } else {
            d - self.fw
        }
    }

    fn bbox(&self, t_ms: i64) -> Option<[u32; 4]> {
        let x1 = self.left(t_ms).max(0);
        let x2 = (self.left(t_ms) + self.fw).min(self.frame_w);
        let y2 = (self.top + self.fh).min(self.frame_h);
        (x1 < x2 && self.top < y2).then_some([x1 as u32, self.top as u32, x2 as u32, y2 as u32])
    }
}

#[derive(Clone, Copy)]
enum Part {
    Skin,
    Jacket,
    Trousers,
}

/// Which body part covers local pixel (lx, ly) of an fw x fh figure; the
/// legs swing with `phase` (radians).
fn part_at(lx: i64, ly: i64, fw: i64, fh: i64, phase: f32) -> Option<Part> {
    let s = fh as f32;
    let (x, y) = (lx as f32 + 0.5 - fw as f32 / 2.0, ly as f32 + 0.5);
    let head_r = 0.085 * s;
    let hy = y - 0.095 * s;
    if x * x + hy * hy <= head_r * head_r {
        return Some(Part::Skin);
    }
    if (0.18 * s..0.56 * s).contains(&y) {
        if x.abs() <= 0.15 * s {
            return Some(Part::Jacket);
        }
        // Arms, swinging against the legs.
        let arm = 0.175 * s + 0.02 * s * phase.sin() * if x < 0.0 { 1.0 } else { -1.0 };
        if y < 0.5 * s && (x.abs() - arm).abs() <= 0.025 * s {
            return Some(Part::Skin);
        }
    }
    if (0.56 * s..s).contains(&y) {
        let down = (y - 0.56 * s) / (0.44 * s);
        let swing = 0.09 * s * phase.sin() * down;
        for c in [-0.06 * s + swing, 0.06 * s - swing] {
            if (x - c).abs() <= 0.05 * s {
                return Some(Part::Trousers);
            }
        }
    }
    None
}

/// SplitMix64: a tiny, well-mixed generator; deterministic across
/// platforms, which the scene's reproducibility depends on.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f32 {
    (h >> 40) as f32 / (1u64 << 24) as f32
}

/// Smooth lattice noise in [0, 1) with `cell`-pixel features.
fn value_noise(seed: u64, x: f32, y: f32, cell: f32) -> f32 {
    let (fx, fy) = (x / cell, y / cell);
    let (ix, iy) = (fx.floor(), fy.floor());
    let (tx, ty) = (fx - ix, fy - iy);
    let (tx, ty) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let at = |dx: i64, dy: i64| {
        let k = ((ix as i64 + dx) as u64).wrapping_mul(0x1_0000_0001) ^ ((iy as i64 + dy) as u64);
        unit(mix(seed ^ k.wrapping_mul(0x2545_F491_4F6C_DD1D)))
    };
    let top = at(0, 0) + (at(1, 0) - at(0, 0)) * tx;
    let bot = at(0, 1) + (at(1, 1) - at(0, 1)) * tx;
    top + (bot - top) * ty
}

/// Gaussian noise by table: byte → quantile of N(0, sigma). Inverse normal
/// CDF from Abramowitz & Stegun 26.2.23 (error < 5e-4, plenty here).
fn noise_table(sigma: f32) -> [i16; 256] {
    let mut t = [0i16; 256];
    for (i, e) in t.iter_mut().enumerate() {
        let p = (i as f64 + 0.5) / 256.0;
        let q = if p < 0.5 { p } else { 1.0 - p };
        let r = (-2.0 * q.ln()).sqrt();
        let z = r
            - (2.515_517 + 0.802_853 * r + 0.010_328 * r * r)
                / (1.0 + 1.432_788 * r + 0.189_269 * r * r + 0.001_308 * r * r * r);
        let z = if p < 0.5 { -z } else { z };
        *e = (z * f64::from(sigma)).round() as i16;
    }
    t
}

pub struct SyntheticScene {
    cfg: SceneConfig,
    bg: Yuv420,
    walks: Vec<Walk>,
    noise: [i16; 256],
    /// Foliage corner [x1, y1, x2, y2).
    flicker_region: [u32; 4],
}

impl std::fmt::Debug for SyntheticScene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticScene")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

const JACKETS: [(u8, u8, u8); 3] = [(70, 100, 190), (60, 175, 105), (95, 80, 150)];
const SKIN: (u8, u8, u8) = (175, 108, 152);
const TROUSERS: (u8, u8, u8) = (38, 138, 122);
const FLICKER_PATCH: u32 = 8;

impl SyntheticScene {
    pub fn new(mut cfg: SceneConfig) -> Self {
        cfg.width = cfg.width.max(16).next_multiple_of(2);
        cfg.height = cfg.height.max(16).next_multiple_of(2);
        if !(cfg.fps.is_finite() && cfg.fps > 0.0) {
            cfg.fps = 10.0;
        }
        cfg.script.period_ms = cfg.script.period_ms.max(1);
        let (w, h) = (cfg.width, cfg.height);
        let flicker_region = [w - w / 5, 0, w, h / 4];
        let bg = background(cfg.seed, w, h, flicker_region);
        let walks = cfg
            .script
            .figures
            .iter()
            .map(|f| Walk::new(f, w, h))
            .collect();
        let noise = noise_table(cfg.script.noise_sigma.max(0.0));
        Self {
            cfg,
            bg,
            walks,
            noise,
            flicker_region,
        }
    }

    pub fn config(&self) -> &SceneConfig {
        &self.cfg
    }

    /// Capture time of frame `index`, ms from the start of the first loop.
    pub fn time_ms(&self, index: u64) -> i64 {
        (index as f64 * 1000.0 / f64::from(self.cfg.fps)).round() as i64
    }

    /// Position of frame `index` within the loop, ms.
    pub fn loop_ms(&self, index: u64) -> i64 {
        self.time_ms(index).rem_euclid(self.cfg.script.period_ms)
    }

    /// Whole-frame luma offset at loop time `t`: drift plus lights.
    fn lighting(&self, t: i64) -> i32 {
        let s = &self.cfg.script;
        let phase = t as f32 / s.period_ms as f32 * std::f32::consts::TAU;
        let drift = (s.drift_amplitude * phase.sin()).round() as i32;
        let on = s
            .light_switches
            .iter()
            .any(|l| (l.on_ms..l.off_ms).contains(&t));
        drift + if on { s.light_step } else { 0 }
    }

    /// Renders frame `index`; same seed and index, same bytes.
    pub fn render(&mut self, index: u64) -> Yuv420 {
        let t = self.loop_ms(index);
        let offset = self.lighting(t);
        let (w, h) = (self.cfg.width as usize, self.cfg.height as usize);
        let mut img = self.bg.clone();
        let mut rng = mix(self.cfg.seed ^ mix(index));
        // Eight noise draws per generator step keeps the pass memory-bound.
        for chunk in img.y.chunks_mut(8) {
            rng = mix(rng);
            let mut r = rng;
            for p in chunk {
                let n = self.noise[(r & 0xFF) as usize];
                r >>= 8;
                *p = (i32::from(*p) + offset + i32::from(n)).clamp(0, 255) as u8;
            }
        }
        if self.cfg.script.flicker {
            let [x1, y1, x2, y2] = self.flicker_region;
            for y in y1..y2 {
                for x in x1..x2 {
                    let patch = u64::from((y / FLICKER_PATCH) << 16 | (x / FLICKER_PATCH));
                    let d = (mix(rng ^ patch.wrapping_mul(0x9E37)) % 11) as i32 - 5;
                    let i = y as usize * w + x as usize;
                    // Leaves only: the sky between them stays put.
                    if self.bg.y[i] < 110 {
                        img.y[i] = (i32::from(img.y[i]) + d).clamp(0, 255) as u8;
                    }
                }
            }
        }
        for (fi, walk) in self.walks.iter().enumerate() {
            if !(walk.start_ms..walk.end_ms).contains(&t) {
                continue;
            }
            let left = walk.left(t);
            let walked = (t - walk.start_ms) as f32 * walk.speed as f32;
            let phase = walked / (0.55 * walk.fh as f32) * std::f32::consts::TAU;
            let jacket = JACKETS[fi % JACKETS.len()];
            let x_lo = left.max(0);
            let x_hi = (left + walk.fw).min(w as i64);
            let y_hi = (walk.top + walk.fh).min(h as i64);
            for y in walk.top..y_hi {
                for x in x_lo..x_hi {
                    let Some(part) = part_at(x - left, y - walk.top, walk.fw, walk.fh, phase)
                    else {
                        continue;
                    };
                    let (py, pu, pv) = match part {
                        Part::Skin => SKIN,
                        Part::Jacket => jacket,
                        Part::Trousers => TROUSERS,
                    };
                    let i = y as usize * w + x as usize;
                    // Keep this pixel's lighting and noise, swap the surface.
                    let light_noise = i32::from(img.y[i]) - i32::from(self.bg.y[i]);
                    img.y[i] = (i32::from(py) + light_noise).clamp(0, 255) as u8;
                    if x % 2 == 0 && y % 2 == 0 {
                        let ci = (y as usize / 2) * (w / 2) + x as usize / 2;
                        img.u[ci] = pu;
                        img.v[ci] = pv;
                    }
                }
            }
        }
        img
    }

    /// What happens in one loop, in loop time (ms).
    pub fn ground_truth(&self) -> Vec<GroundTruth> {
        let s = &self.cfg.script;
        let mut out: Vec<GroundTruth> = self
            .walks
            .iter()
            .map(|w| GroundTruth {
                kind: TruthKind::Figure,
                start_ms: w.start_ms,
                end_ms: w.end_ms,
                region: Region::Walk(w.clone()),
            })
            .collect();
        if s.light_step != 0 {
            out.extend(s.light_switches.iter().map(|l| GroundTruth {
                kind: TruthKind::LightSwitch,
                start_ms: l.on_ms,
                end_ms: l.off_ms,
                region: Region::Whole,
            }));
        }
        if s.drift_amplitude != 0.0 {
            out.push(GroundTruth {
                kind: TruthKind::LightDrift,
                start_ms: 0,
                end_ms: s.period_ms,
                region: Region::Whole,
            });
        }
        if s.flicker {
            out.push(GroundTruth {
                kind: TruthKind::Flicker,
                start_ms: 0,
                end_ms: s.period_ms,
                region: Region::Fixed(self.flicker_region),
            });
        }
        out.sort_by_key(|g| g.start_ms);
        out
    }
}

/// The static scene, built once: sky, buildings with windows, a tree in
/// the flicker corner, grass, pavement. Luma stays within 30..=190 so the
/// light switch and drift never clip.
fn background(seed: u64, w: u32, h: u32, tree: [u32; 4]) -> Yuv420 {
    let mut img = Yuv420::filled(w, h, 0, 128, 128);
    let (wf, hf) = (w as f32, h as f32);
    let horizon = 0.62 * hf;
    let grass_end = 0.72 * hf;
    // Buildings: (x1, x2, roof y, luma)
    let mut buildings = Vec::new();
    let mut x = 0.0;
    let mut k = 0u64;
    while x < wf {
        let r = mix(seed ^ 0xB17D ^ k);
        let bw = (0.08 + 0.12 * unit(r)) * wf;
        let roof = (0.18 + 0.25 * unit(mix(r))) * hf;
        let luma = 85.0 + 55.0 * unit(mix(r ^ 1));
        if unit(mix(r ^ 2)) < 0.8 {
            buildings.push((x, x + bw, roof, luma));
        }
        x += bw;
        k += 1;
    }
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32, y as f32);
            let fine = value_noise(seed ^ 0xF1, xf, yf, 3.0) - 0.5;
            let (mut l, mut u, mut v) = if yf < horizon {
                let cloud = value_noise(seed ^ 0xC1, xf, yf, 40.0);
                (175.0 - 25.0 * yf / horizon + 12.0 * cloud, 150.0, 116.0)
            } else if yf < grass_end {
                let tuft = value_noise(seed ^ 0x6A, xf, yf, 6.0);
                (80.0 + 30.0 * tuft + 10.0 * fine, 108.0, 112.0)
            } else {
                let slab = value_noise(seed ^ 0x5A, xf, yf, 24.0);
                (125.0 + 12.0 * slab + 8.0 * fine, 126.0, 130.0)
            };
            if let Some(&(bx1, _, roof, bl)) = buildings
                .iter()
                .find(|b| xf >= b.0 && xf < b.1 && yf >= b.2 && yf < horizon)
            {
                let (wx, wy) = ((xf - bx1) % 14.0, (yf - roof) % 18.0);
                let window = wx > 4.0 && wx < 11.0 && wy > 5.0 && wy < 14.0;
                l = bl + 6.0 * fine + if window { -35.0 } else { 0.0 };
                u = 122.0;
                v = 136.0;
            }
            if x >= tree[0] && y < tree[3] {
                let leaves = value_noise(seed ^ 0x7E, xf, yf, 5.0);
                let crown = value_noise(seed ^ 0x7F, xf, yf, 12.0);
                // A ragged ellipse filling the corner.
                let (rx, ry) = ((tree[2] - tree[0]) as f32 / 2.0, tree[3] as f32 / 2.0);
                let dx = (xf - tree[0] as f32 - rx) / rx;
                let dy = (yf - ry) / ry;
                if dx * dx + dy * dy < 0.8 + 0.5 * (crown - 0.5) {
                    l = 45.0 + 50.0 * leaves;
                    u = 112.0;
                    v = 108.0;
                }
            }
            img.y[(y * w + x) as usize] = l.round().clamp(30.0, 190.0) as u8;
            if x % 2 == 0 && y % 2 == 0 {
                let ci = ((y / 2) * (w / 2) + x / 2) as usize;
                img.u[ci] = u as u8;
                img.v[ci] = v as u8;
            }
        }
    }
    img
}

#[cfg(test)]
#[path = "synthetic_tests.rs"]
mod tests;
