//! Masks and zones as pixels: rasterises normalised polygons into row spans
//! for one plane size, and combines them into the detector's *active* mask
//! (the pixels whose changes count).
//!
//! Rasterising happens once per plane size (at the first frame and after a
//! resolution change), never per frame: per frame the detector only reads the
//! byte mask and sums over spans. A pixel belongs to a polygon when its centre
//! lies inside (even-odd rule), so adjacent polygons sharing an edge never
//! double-count and results do not depend on the plane's scale beyond
//! sampling.

/// A half-open range `start..end` of indices into a packed plane, within one
/// row.
pub(crate) type Span = (usize, usize);

/// Rasterises a polygon given in normalised `0..=1` coordinates into row spans
/// of a `width` x `height` plane, appending them to `out`.
pub(crate) fn rasterize(points: &[(f32, f32)], width: usize, height: usize, out: &mut Vec<Span>) {
    if points.len() < 3 || width == 0 || height == 0 {
        return;
    }
    let mut crossings: Vec<f32> = Vec::with_capacity(points.len());
    for y in 0..height {
        let yc = (y as f32 + 0.5) / height as f32;
        crossings.clear();
        for i in 0..points.len() {
            let (x0, y0) = points[i];
            let (x1, y1) = points[(i + 1) % points.len()];
            // Half-open rule on y so a vertex exactly on the scanline counts once.
            if (y0 <= yc && yc < y1) || (y1 <= yc && yc < y0) {
                let t = (yc - y0) / (y1 - y0);
                crossings.push(x0 + t * (x1 - x0));
            }
        }
        crossings.sort_by(f32::total_cmp);
        for pair in crossings.chunks_exact(2) {
            // Pixel x is inside when its centre (x + 0.5) / width lies in [a, b).
            let a = (pair[0] * width as f32 - 0.5)
                .ceil()
                .clamp(0.0, width as f32) as usize;
            let b = (pair[1] * width as f32 - 0.5)
                .ceil()
                .clamp(0.0, width as f32) as usize;
            if a < b {
                out.push((y * width + a, y * width + b));
            }
        }
    }
}

/// Sets `value` in `mask` over every span.
pub(crate) fn fill(mask: &mut [u8], spans: &[Span], value: u8) {
    for &(a, b) in spans {
        mask[a..b].fill(value);
    }
}

/// Counts the non-zero bytes of `mask` over every span.
pub(crate) fn count(mask: &[u8], spans: &[Span]) -> u32 {
    spans
        .iter()
        .map(|&(a, b)| mask[a..b].iter().map(|&v| u32::from(v != 0)).sum::<u32>())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(points: &[(f32, f32)], w: usize, h: usize) -> usize {
        let mut spans = Vec::new();
        rasterize(points, w, h, &mut spans);
        spans.iter().map(|(a, b)| b - a).sum()
    }

    #[test]
    fn full_frame_covers_everything() {
        let full = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
        assert_eq!(area(&full, 96, 72), 96 * 72);
        assert_eq!(area(&full, 1, 1), 1);
    }

    #[test]
    fn halves_tile_the_plane_without_overlap() {
        let left = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)];
        let right = [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)];
        for (w, h) in [(96, 72), (97, 31), (3, 3)] {
            assert_eq!(area(&left, w, h) + area(&right, w, h), w * h, "{w}x{h}");
        }
    }

    #[test]
    fn triangle_is_about_half_its_box() {
        let tri = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)];
        let a = area(&tri, 200, 200) as f32 / 40_000.0;
        assert!((a - 0.5).abs() < 0.01, "{a}");
    }

    #[test]
    fn spans_stay_inside_their_row() {
        let mut spans = Vec::new();
        let shape = [(0.1, 0.2), (0.9, 0.1), (0.6, 0.9), (0.3, 0.6)];
        rasterize(&shape, 50, 40, &mut spans);
        for (a, b) in spans {
            assert!(a < b && b <= 50 * 40);
            assert_eq!(a / 50, (b - 1) / 50);
        }
    }
}
