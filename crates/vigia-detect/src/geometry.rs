//! Where the model looks: which part of a frame becomes the model's square
//! input, how it is resampled, and how boxes map back to source pixels.
//!
//! A person 40 pixels tall in a 768x576 frame is 20 pixels tall once the
//! whole frame is squeezed into 300x300, below what SSD finds reliably. The
//! node therefore looks at the motion region at full resolution: the
//! region's bounding box grown by a margin into a square (kept inside the
//! frame when it fits, padded with mid-gray when it does not), resampled to
//! the model size without distortion. When the region is large the whole
//! frame is looked at as well, squeezed like the model was trained. Pure
//! arithmetic, no I/O.

/// A packed 8-bit RGB image (stride = 3 · width).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn is_valid(&self) -> bool {
        self.width > 0
            && self.height > 0
            && self.data.len() == self.width as usize * self.height as usize * 3
    }
}

/// A rectangle in source pixels, `[x1, x2) × [y1, y2)` in floating point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl Rect {
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }
}

/// The part of the image given to the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum View {
    /// The whole image, squeezed to the model's square input.
    Full,
    /// A square window in source pixels (it may extend past the image;
    /// outside pixels are mid-gray).
    Square { x: f32, y: f32, side: f32 },
}

impl View {
    /// The source rectangle the model input covers.
    pub fn source_rect(&self, width: u32, height: u32) -> Rect {
        match *self {
            View::Full => Rect {
                x1: 0.0,
                y1: 0.0,
                x2: width as f32,
                y2: height as f32,
            },
            View::Square { x, y, side } => Rect {
                x1: x,
                y1: y,
                x2: x + side,
                y2: y + side,
            },
        }
    }

    /// Maps a box normalised to the model input back to source pixels,
    /// clipped to the image.
    pub fn to_source(
        &self,
        width: u32,
        height: u32,
        ymin: f32,
        xmin: f32,
        ymax: f32,
        xmax: f32,
    ) -> Rect {
        let r = self.source_rect(width, height);
        let (w, h) = (width as f32, height as f32);
        Rect {
            x1: (r.x1 + xmin * r.width()).clamp(0.0, w),
            y1: (r.y1 + ymin * r.height()).clamp(0.0, h),
            x2: (r.x1 + xmax * r.width()).clamp(0.0, w),
            y2: (r.y1 + ymax * r.height()).clamp(0.0, h),
        }
    }
}

/// How motion regions become views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewPolicy {
    /// The region's box is grown by this fraction of its larger side on
    /// each side, so the model sees the whole person and some context.
    pub margin: f32,
    /// Smallest square side, in pixels: tiny blobs (a hand, a distant
    /// head) get context instead of being blown up into noise.
    pub min_side: f32,
    /// When the square covers more than this fraction of the frame's
    /// shorter side, the whole frame is looked at too.
    pub full_frame_above: f32,
}

impl Default for ViewPolicy {
    fn default() -> Self {
        Self {
            margin: 0.25,
            min_side: 160.0,
            full_frame_above: 0.6,
        }
    }
}

/// The views to run for an image of `width`x`height` with a motion region
/// (normalised `(x1, y1, x2, y2)`, as the motion detector reports it), or
/// none (the whole frame).
pub fn plan_views(
    width: u32,
    height: u32,
    region: Option<(f32, f32, f32, f32)>,
    p: ViewPolicy,
) -> Vec<View> {
    let Some((x1, y1, x2, y2)) = region else {
        return vec![View::Full];
    };
    let (w, h) = (width as f32, height as f32);
    let (x1, x2) = (x1.clamp(0.0, 1.0) * w, x2.clamp(0.0, 1.0) * w);
    let (y1, y2) = (y1.clamp(0.0, 1.0) * h, y2.clamp(0.0, 1.0) * h);
    if !(x2 > x1 && y2 > y1) {
        return vec![View::Full];
    }
    let big = (x2 - x1).max(y2 - y1);
    let side = (big * (1.0 + 2.0 * p.margin)).max(p.min_side);
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    // Slide the square inside the frame along each axis where it fits;
    // where it does not, centre it on the frame (padding both sides).
    let place = |c: f32, len: f32| {
        if side >= len {
            (len - side) / 2.0
        } else {
            (c - side / 2.0).clamp(0.0, len - side)
        }
    };
    let square = View::Square {
        x: place(cx, w),
        y: place(cy, h),
        side,
    };
    if side > p.full_frame_above * w.min(h) {
        vec![square, View::Full]
    } else {
        vec![square]
    }
}

/// Resamples `view` of `img` into `out` as a `size`x`size` NHWC tensor of
/// RGB in [-1, 1] (the model's `Preprocessor/sub` output). Each output
/// pixel averages a k×k grid of bilinear samples over its footprint (k =
/// the downscale factor, rounded up, at most 4): plain bilinear when
/// enlarging, close to an area filter when shrinking a 768x576 frame,
/// which keeps fine textures from aliasing into shapes. Pixels outside the
/// image are mid-gray (0.0).
pub fn fill_input(img: &RgbImage, view: &View, size: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(size * size * 3, 0.0);
    if !img.is_valid() || size == 0 {
        return;
    }
    let r = view.source_rect(img.width, img.height);
    let (w, h) = (img.width as i64, img.height as i64);
    let sx = r.width() / size as f32;
    let sy = r.height() / size as f32;
    let kx = (sx.ceil() as usize).clamp(1, 4);
    let ky = (sy.ceil() as usize).clamp(1, 4);
    let stride = img.width as usize * 3;
    // Horizontal taps per output column and sub-sample, computed once.
    let taps = |pos: f32, len: i64| -> Option<(usize, usize, f32)> {
        if pos < -0.5 || pos > len as f32 - 0.5 {
            return None;
        }
        let p0 = pos.floor() as i64;
        let t = pos - p0 as f32;
        Some((
            p0.clamp(0, len - 1) as usize,
            (p0 + 1).clamp(0, len - 1) as usize,
            t,
        ))
    };
    let cols: Vec<Option<(usize, usize, f32)>> = (0..size * kx)
        .map(|i| {
            let fx = r.x1 + (i as f32 + 0.5) * (sx / kx as f32) - 0.5;
            taps(fx, w).map(|(a, b, t)| (a * 3, b * 3, t))
        })
        .collect();
    // The source columns any tap reads: only they are interpolated
    // vertically (a small crop reads a small part of each row).
    let (x_lo, x_hi) = cols
        .iter()
        .flatten()
        .fold((stride, 0), |(lo, hi), &(a, b, _)| {
            (lo.min(a), hi.max(b + 3))
        });
    let mut acc = vec![0.0f32; size * 3];
    let mut cnt = vec![0u32; size];
    // Separable: each sample row is interpolated vertically once, then
    // every output column reads it twice.
    let mut vrow = vec![0.0f32; stride];
    for oy in 0..size {
        acc.iter_mut().for_each(|v| *v = 0.0);
        cnt.iter_mut().for_each(|v| *v = 0);
        for j in 0..ky {
            let fy = r.y1 + ((oy * ky + j) as f32 + 0.5) * (sy / ky as f32) - 0.5;
            let Some((y0, y1, ty)) = taps(fy, h) else {
                continue;
            };
            if x_lo >= x_hi {
                continue;
            }
            let ra = &img.data[y0 * stride..][x_lo..x_hi];
            let rb = &img.data[y1 * stride..][x_lo..x_hi];
            for ((v, &a), &b) in vrow[x_lo..x_hi].iter_mut().zip(ra).zip(rb) {
                *v = f32::from(a) * (1.0 - ty) + f32::from(b) * ty;
            }
            for (i, col) in cols.iter().enumerate() {
                let Some((a, b, tx)) = *col else { continue };
                let ox = i / kx;
                cnt[ox] += 1;
                for c in 0..3 {
                    acc[ox * 3 + c] += vrow[a + c] * (1.0 - tx) + vrow[b + c] * tx;
                }
            }
        }
        // A pixel with some samples outside the image blends toward gray
        // (0.0), like the padding it straddles.
        let full = (kx * ky) as f32;
        let row = &mut out[oy * size * 3..(oy + 1) * size * 3];
        for ox in 0..size {
            if cnt[ox] == 0 {
                continue;
            }
            for c in 0..3 {
                let mean_in = acc[ox * 3 + c] / cnt[ox] as f32;
                let v = mean_in * (2.0 / 255.0) - 1.0;
                row[ox * 3 + c] = v * cnt[ox] as f32 / full;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_region_means_the_whole_frame() {
        assert_eq!(
            plan_views(768, 576, None, ViewPolicy::default()),
            vec![View::Full]
        );
        // A degenerate region too.
        assert_eq!(
            plan_views(768, 576, Some((0.5, 0.5, 0.5, 0.6)), ViewPolicy::default()),
            vec![View::Full]
        );
    }

    #[test]
    fn small_region_becomes_a_square_inside_the_frame() {
        // A 40x100 px figure near the right edge.
        let r = (700.0 / 768.0, 200.0 / 576.0, 740.0 / 768.0, 300.0 / 576.0);
        let v = plan_views(768, 576, Some(r), ViewPolicy::default());
        assert_eq!(v.len(), 1);
        let View::Square { x, y, side } = v[0] else {
            panic!("{v:?}")
        };
        assert!((side - 160.0).abs() < 1e-3, "min side applies: {side}");
        // Slid left to stay inside, vertically centred on the figure.
        assert!((x - (768.0 - 160.0)).abs() < 1e-3, "{x}");
        assert!((y - (250.0 - 80.0)).abs() < 1e-3, "{y}");
    }

    #[test]
    fn large_region_adds_the_full_frame_and_pads_when_taller_than_the_frame() {
        let v = plan_views(768, 576, Some((0.1, 0.0, 0.6, 1.0)), ViewPolicy::default());
        assert_eq!(v.len(), 2);
        assert_eq!(v[1], View::Full);
        let View::Square { y, side, .. } = v[0] else {
            panic!("{v:?}")
        };
        assert!(side > 576.0);
        assert!(
            (y - (576.0 - side) / 2.0).abs() < 1e-3,
            "centred with padding"
        );
    }

    #[test]
    fn boxes_map_back_to_source_pixels() {
        let v = View::Square {
            x: 100.0,
            y: 50.0,
            side: 200.0,
        };
        let r = v.to_source(768, 576, 0.25, 0.5, 0.75, 1.0);
        assert_eq!(
            r,
            Rect {
                x1: 200.0,
                y1: 100.0,
                x2: 300.0,
                y2: 200.0
            }
        );
        let f = View::Full.to_source(768, 576, 0.0, 0.0, 0.5, 0.5);
        assert_eq!((f.x2, f.y2), (384.0, 288.0));
        // Clipped to the image.
        let c = View::Full.to_source(768, 576, -0.1, -0.1, 1.2, 1.2);
        assert_eq!((c.x1, c.y1, c.x2, c.y2), (0.0, 0.0, 768.0, 576.0));
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend([(x * 255 / (w - 1)) as u8, (y * 255 / (h - 1)) as u8, 128]);
            }
        }
        RgbImage {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn fill_input_scales_to_minus_one_one_and_preserves_orientation() {
        let img = gradient(600, 300);
        let mut t = Vec::new();
        fill_input(&img, &View::Full, 300, &mut t);
        assert_eq!(t.len(), 300 * 300 * 3);
        let px = |x: usize, y: usize, c: usize| t[(y * 300 + x) * 3 + c];
        assert!(
            px(0, 0, 0) < -0.95 && px(299, 0, 0) > 0.95,
            "red grows to the right"
        );
        assert!(
            px(0, 0, 1) < -0.95 && px(0, 299, 1) > 0.95,
            "green grows downwards"
        );
        assert!(px(150, 150, 2).abs() < 0.01, "128 is about 0");
    }

    #[test]
    fn fill_input_pads_outside_pixels_with_gray() {
        let img = RgbImage {
            width: 100,
            height: 100,
            data: vec![255; 100 * 100 * 3],
        };
        let v = View::Square {
            x: -100.0,
            y: 0.0,
            side: 200.0,
        };
        let mut t = Vec::new();
        fill_input(&img, &v, 100, &mut t);
        assert_eq!(t[(20 * 100 + 10) * 3], 0.0, "left half is padding");
        assert!(
            (t[(20 * 100 + 90) * 3] - 1.0).abs() < 1e-6,
            "right half is the image"
        );
        assert_eq!(t[(80 * 100 + 90) * 3], 0.0, "below the image is padding");
    }

    #[test]
    fn invalid_image_gives_a_gray_input() {
        let img = RgbImage {
            width: 10,
            height: 10,
            data: vec![1, 2, 3],
        };
        let mut t = vec![5.0; 4];
        fill_input(&img, &View::Full, 8, &mut t);
        assert!(t.iter().all(|v| *v == 0.0) && t.len() == 8 * 8 * 3);
    }
}
