//! The per-pixel scene model behind the motion detector: a running-average
//! background, a per-pixel noise estimate, and the classification of each new
//! plane into changed / unchanged pixels.
//!
//! Everything is fixed point so the hot loops are integer-only and
//! vectorisable on a Raspberry Pi:
//! - `bg` holds the background in Q8.8 luma levels (`level * 256`), so a slow
//!   adaptation rate (0.002 per frame) still moves it by sub-level steps
//!   instead of stalling on rounding.
//! - `noise` holds each pixel's noise as a standard deviation in Q8.8 levels.
//!   It is learned from the *frame-to-frame* difference (minus the global
//!   brightness step), not from the difference to the background: sensor noise
//!   and foliage flicker change from one frame to the next, while a person who
//!   stands still does not. So a still person keeps a low threshold and stays
//!   detected, while waving leaves raise their own thresholds.
//! - Adaptation rates are Q15 fractions per frame (`rate * 32768`), so every
//!   product fits in 32 bits.
//!
//! This module owns no policy (what counts as motion, when to re-baseline):
//! that is [`crate::motion`]'s job. It only measures and updates.

/// Converts `|frame difference|` to a standard deviation: for Gaussian noise
/// `E|x_t - x_{t-1}| = 2σ/√π`, so `σ ≈ 0.886 * mean |Δ|`; 0.886 in Q8 is 227.
const FRAME_DIFF_TO_SIGMA_Q8: i32 = 227;

/// Number of histogram bins for `pixel - background` in whole levels,
/// `-255..=255`.
pub(crate) const HIST_BINS: usize = 511;

/// Global statistics of one plane against the background.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Measure {
    /// Median of `pixel - background` over active pixels, in levels: the
    /// global brightness offset the classification compensates.
    pub offset: i32,
    /// Robust global noise (1.4826 x median absolute deviation of the
    /// offset-compensated difference), Q8.8 levels.
    pub sigma_q8: u32,
    /// The plane is identical to the previous one (a repeated frame): it
    /// carries no information about temporal noise.
    pub duplicate: bool,
}

/// Classification of one plane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Classified {
    /// Active pixels whose offset-compensated difference exceeds their
    /// threshold.
    pub changed: u32,
    /// Active pixels whose *uncompensated* difference exceeds their threshold
    /// in the direction of the global brightness step: the light-change vote.
    pub same_direction: u32,
}

/// Per-pixel thresholds of one classification, all Q8.8 levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// Fixed allowance above noise (`MotionParams::threshold`).
    pub base_q8: i32,
    /// Noise multiplier, Q8 (`MotionParams::noise_k * 256`).
    pub k_q8: i32,
    /// Lower bound of the per-pixel noise: the global noise level.
    pub floor_q8: i32,
}

/// Adaptation rates of one update, Q15 per frame (`rate * 32768`, at most
/// 32768).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rates {
    /// Background, outside foreground.
    pub bg: i32,
    /// Background and noise under foreground (significant blobs).
    pub fg: i32,
    /// Noise, when the new sample is above the estimate.
    pub noise_up: i32,
    /// Noise, when the new sample is below the estimate.
    pub noise_down: i32,
}

/// The background and noise planes of one plane size.
#[derive(Debug, Default)]
pub(crate) struct Model {
    bg: Vec<u16>,
    noise: Vec<u16>,
    prev: Vec<u8>,
    /// `|pixel - background|` histogram scratch, kept to avoid per-frame
    /// allocation.
    hist: Vec<u32>,
    abs_hist: Vec<u32>,
}

/// `x * rate` for a Q15 `rate` in `0..=32768`, rounded to nearest; the
/// result's magnitude never exceeds `|x|`. Callers keep `|x| <= 0xffff`.
#[inline(always)]
fn scale_q15(x: i32, rate: i32) -> i32 {
    x.wrapping_mul(rate).wrapping_add(1 << 14) >> 15
}

impl Model {
    /// Starts over from `pix`: background = the plane, noise unknown (zero).
    pub(crate) fn reset(&mut self, pix: &[u8]) {
        self.bg.clear();
        self.bg.extend(pix.iter().map(|&p| u16::from(p) << 8));
        self.noise.clear();
        self.noise.resize(pix.len(), 0);
        self.prev.clear();
        self.prev.extend_from_slice(pix);
        self.hist.resize(HIST_BINS, 0);
        self.abs_hist.resize(HIST_BINS, 0);
    }

    /// Replaces the background by `pix` after a global change, keeping the
    /// learned noise (it describes the scene, not the exposure).
    pub(crate) fn rebaseline(&mut self, pix: &[u8]) {
        for (b, &p) in self.bg.iter_mut().zip(pix) {
            *b = u16::from(p) << 8;
        }
        self.prev.copy_from_slice(pix);
    }

    /// Global offset and noise of `pix` against the background, over the
    /// active pixels (`active` holds 0 or 1).
    pub(crate) fn measure(&mut self, pix: &[u8], active: &[u8]) -> Measure {
        let hist = &mut self.hist;
        hist.fill(0);
        let duplicate = pix == self.prev.as_slice();
        // Every other pixel is plenty for a median and a MAD, at half the cost
        // of this scatter loop (it cannot vectorise).
        for ((&p, &b), &a) in pix.iter().zip(&self.bg).zip(active).step_by(2) {
            let d = i32::from(p) - ((i32::from(b) + 128) >> 8);
            hist[(d + 255) as usize] += u32::from(a);
        }
        let total: u32 = hist.iter().sum();
        if total == 0 {
            return Measure {
                duplicate,
                ..Measure::default()
            };
        }
        let half = total.div_ceil(2);
        let mut cum = 0;
        let mut median = 0;
        for (i, &c) in hist.iter().enumerate() {
            cum += c;
            if cum >= half {
                median = i as i32 - 255;
                break;
            }
        }
        self.abs_hist.fill(0);
        for (i, &c) in hist.iter().enumerate() {
            let ad = (i as i32 - 255 - median).unsigned_abs() as usize;
            self.abs_hist[ad.min(HIST_BINS - 1)] += c;
        }
        // Median absolute deviation, interpolated inside its bin: bin 0 covers
        // [0, 0.5), bin k covers [k - 0.5, k + 0.5).
        let mut cum = 0u32;
        let mut mad = 0.0f32;
        for (k, &c) in self.abs_hist.iter().enumerate() {
            if c > 0 && cum + c >= half {
                let (lo, width) = if k == 0 {
                    (0.0, 0.5)
                } else {
                    (k as f32 - 0.5, 1.0)
                };
                mad = lo + width * (half - cum) as f32 / c as f32;
                break;
            }
            cum += c;
        }
        Measure {
            offset: median,
            sigma_q8: (1.4826 * mad * 256.0) as u32,
            duplicate,
        }
    }

    /// Writes the changed mask (0/1) of `pix` into `changed` and counts it.
    /// `offset_q8` is the global brightness offset to compensate; `direction`
    /// (-1, 0 or 1) is the sign of the global brightness step for the
    /// light-change vote.
    pub(crate) fn classify(
        &self,
        pix: &[u8],
        active: &[u8],
        offset_q8: i32,
        t: Thresholds,
        direction: i32,
        changed: &mut [u8],
    ) -> Classified {
        // Wrapping arithmetic: the ranges below cannot overflow (|diff| and
        // the offset are at most 0xff00, `k_q8 * noise` at most 5120 * 0xffff),
        // and without overflow checks (on in dev builds) the loop vectorises.
        let mut n_changed = 0u32;
        let mut n_same = 0u32;
        let iter = pix
            .iter()
            .zip(&self.bg)
            .zip(&self.noise)
            .zip(active)
            .zip(changed.iter_mut());
        for ((((&p, &b), &n), &a), out) in iter {
            let diff = (i32::from(p) << 8).wrapping_sub(i32::from(b));
            let noise = i32::from(n).max(t.floor_q8);
            let thr = t.base_q8.wrapping_add(t.k_q8.wrapping_mul(noise) >> 8);
            let c = u8::from(diff.wrapping_sub(offset_q8).wrapping_abs() > thr) & a;
            let same = u8::from(diff.wrapping_mul(direction) > thr) & a;
            *out = c;
            n_changed = n_changed.wrapping_add(u32::from(c));
            n_same = n_same.wrapping_add(u32::from(same));
        }
        Classified {
            changed: n_changed,
            same_direction: n_same,
        }
    }

    /// Adapts background and noise towards `pix`. `fg` (0/1) marks foreground
    /// pixels, which adapt at the slow `rates.fg`. `step_q8` is the global
    /// brightness step since the previous plane, removed from the temporal
    /// noise sample; when `learn_noise` is false (a repeated frame) the noise
    /// is left alone.
    pub(crate) fn update(
        &mut self,
        pix: &[u8],
        fg: &[u8],
        rates: Rates,
        step_q8: i32,
        learn_noise: bool,
    ) {
        // Rates are Q15 (at most 32768 = 1.0) so every product fits in i32:
        // |diff| <= 0xff00, 0xff00 * 32768 < 2^31. Branch-free and wrapping
        // (see `classify`) so the loop vectorises; a zero noise rate leaves the
        // noise untouched.
        let (noise_up, noise_down, noise_fg) = if learn_noise {
            (rates.noise_up, rates.noise_down, rates.fg)
        } else {
            (0, 0, 0)
        };
        let step_q8 = step_q8.clamp(-0xff00, 0xff00);
        let iter = pix
            .iter()
            .zip(self.bg.iter_mut())
            .zip(self.noise.iter_mut())
            .zip(self.prev.iter_mut())
            .zip(fg);
        for ((((&p, b), n), q), &f) in iter {
            let is_fg = f != 0;
            let diff = (i32::from(p) << 8).wrapping_sub(i32::from(*b));
            let rate = if is_fg { rates.fg } else { rates.bg };
            // |delta| <= |diff|, so the background stays within 0..=0xff00.
            *b = i32::from(*b).wrapping_add(scale_q15(diff, rate)) as u16;

            let step = ((i32::from(p) - i32::from(*q)) << 8).wrapping_sub(step_q8);
            let sample =
                ((step.wrapping_abs().wrapping_mul(FRAME_DIFF_TO_SIGMA_Q8)) >> 8).min(0xffff);
            let cur = i32::from(*n);
            let rate = if is_fg {
                noise_fg
            } else if sample > cur {
                noise_up
            } else {
                noise_down
            };
            *n = cur.wrapping_add(scale_q15(sample.wrapping_sub(cur), rate)) as u16;
            *q = p;
        }
    }

    /// Mean of the per-pixel noise over active pixels, in levels.
    #[cfg(test)]
    pub(crate) fn mean_noise(&self, active: &[u8]) -> f32 {
        let (sum, count) = self
            .noise
            .iter()
            .zip(active)
            .filter(|(_, &a)| a != 0)
            .fold((0u64, 0u64), |(s, c), (&n, _)| (s + u64::from(n), c + 1));
        if count == 0 {
            0.0
        } else {
            sum as f32 / count as f32 / 256.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_finds_offset_and_noise() {
        let mut m = Model::default();
        let base: Vec<u8> = (0..1000).map(|i| (50 + i % 100) as u8).collect();
        m.reset(&base);
        // +7 everywhere, with alternating +-2 "noise".
        let pix: Vec<u8> = base
            .iter()
            .enumerate()
            .map(|(i, &p)| p + 7 + if i % 2 == 0 { 2 } else { 0 })
            .collect();
        let active = vec![1u8; pix.len()];
        let me = m.measure(&pix, &active);
        assert!(me.offset == 7 || me.offset == 9, "{me:?}");
        assert!(!me.duplicate);
        assert!(m.measure(&base, &active).duplicate);
    }

    #[test]
    fn background_converges_and_noise_learns() {
        let mut m = Model::default();
        let a = vec![100u8; 64];
        m.reset(&a);
        let fg = vec![0u8; 64];
        let rates = Rates {
            bg: 3277,
            fg: 328,
            noise_up: 3277,
            noise_down: 3277,
        };
        for i in 0..200 {
            let pix: Vec<u8> = (0..64)
                .map(|_| if i % 2 == 0 { 120 } else { 110 })
                .collect();
            m.update(&pix, &fg, rates, 0, true);
        }
        let bg = f32::from(m.bg[0]) / 256.0;
        assert!((bg - 115.0).abs() < 3.0, "{bg}");
        let noise = m.mean_noise(&[1; 64]);
        assert!((noise - 8.86).abs() < 0.5, "{noise}");
    }
}
