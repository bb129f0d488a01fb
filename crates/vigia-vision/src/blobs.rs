//! Changed-mask clean-up and connected components: despeckle by
//! morphological opening, then run-length labelling with union-find.
//!
//! Masks are byte planes holding 0 or 1, rows packed. Both stages reuse their
//! buffers across frames (they only grow on a resolution change), so the
//! steady state allocates nothing. Run-length labelling touches each pixel
//! once to find runs and then works on runs only: a surveillance mask is
//! mostly empty, so this is much cheaper than per-pixel two-pass labelling.
//! Connectivity is 8-neighbour, so a diagonal limb stays attached to its body.

/// One 3x3 erosion (`erode == true`) or dilation of `mask` in place, done as a
/// horizontal then a vertical 3-tap pass through `tmp`. Outside the plane the
/// nearest edge pixel is repeated, so objects touching the border are not
/// eaten away by the erosion.
fn morph(mask: &mut [u8], tmp: &mut [u8], width: usize, height: usize, erode: bool) {
    let op = |a: u8, b: u8| if erode { a & b } else { a | b };
    for (src, dst) in mask.chunks_exact(width).zip(tmp.chunks_exact_mut(width)) {
        if width == 1 {
            dst[0] = src[0];
            continue;
        }
        dst[0] = op(src[0], src[1]);
        for x in 1..width - 1 {
            dst[x] = op(op(src[x - 1], src[x]), src[x + 1]);
        }
        dst[width - 1] = op(src[width - 2], src[width - 1]);
    }
    for y in 0..height {
        let up = y.saturating_sub(1) * width;
        let mid = y * width;
        let down = (y + 1).min(height - 1) * width;
        let out = &mut mask[mid..mid + width];
        let (a, b, c) = (
            &tmp[up..up + width],
            &tmp[mid..mid + width],
            &tmp[down..down + width],
        );
        for x in 0..width {
            out[x] = op(op(a[x], b[x]), c[x]);
        }
    }
}

/// Morphological opening (`passes` erosions then `passes` dilations with a
/// 3x3 square): removes specks and lines thinner than `2 * passes + 1` pixels
/// while keeping the shape of larger regions.
pub(crate) fn open(mask: &mut [u8], tmp: &mut [u8], width: usize, height: usize, passes: u32) {
    if width == 0 || height == 0 {
        return;
    }
    for _ in 0..passes {
        morph(mask, tmp, width, height, true);
    }
    for _ in 0..passes {
        morph(mask, tmp, width, height, false);
    }
}

/// A horizontal run of set pixels `x0..x1` on row `y`, and its provisional
/// label (an index into the union-find forest).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub y: u32,
    pub x0: u32,
    pub x1: u32,
    label: u32,
}

/// Statistics of one connected component, in pixels of the plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Component {
    pub area: u32,
    pub min_x: u32,
    pub min_y: u32,
    /// Inclusive.
    pub max_x: u32,
    /// Inclusive.
    pub max_y: u32,
    /// Sum of `2 * x` over the pixels (kept doubled to stay integral).
    pub sum_x2: u64,
    pub sum_y: u64,
}

/// Run-length connected-component labeller with reusable buffers.
#[derive(Debug, Default)]
pub(crate) struct Labeller {
    runs: Vec<Run>,
    parent: Vec<u32>,
    /// Component of each root label (`area == 0` for non-roots).
    stats: Vec<Component>,
    /// Root labels, in order of first appearance.
    roots: Vec<u32>,
}

impl Labeller {
    fn find(&mut self, mut l: u32) -> u32 {
        while self.parent[l as usize] != l {
            let p = self.parent[l as usize];
            self.parent[l as usize] = self.parent[p as usize];
            l = p;
        }
        l
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi as usize] = lo;
        }
    }

    /// Labels the set pixels of `mask`. Afterwards [`Self::components`] lists
    /// the components and [`Self::runs_of`] walks their runs.
    pub(crate) fn label(&mut self, mask: &[u8], width: usize, height: usize) {
        self.runs.clear();
        self.parent.clear();
        self.stats.clear();
        self.roots.clear();
        if width == 0 {
            return;
        }
        let mut prev_row = 0..0; // indices into `runs` of the previous row
        for (y, row) in mask.chunks_exact(width).take(height).enumerate() {
            let row_start = self.runs.len();
            let mut x = 0;
            while x < width {
                // Skip empty space eight bytes at a time.
                while x + 8 <= width && row[x..x + 8].iter().all(|&v| v == 0) {
                    x += 8;
                }
                while x < width && row[x] == 0 {
                    x += 1;
                }
                if x >= width {
                    break;
                }
                let x0 = x;
                while x < width && row[x] != 0 {
                    x += 1;
                }
                let label = self.parent.len() as u32;
                self.parent.push(label);
                self.runs.push(Run {
                    y: y as u32,
                    x0: x0 as u32,
                    x1: x as u32,
                    label,
                });
            }
            // Join with 8-connected runs of the previous row (two pointers: both
            // rows are sorted by x).
            let mut p = prev_row.start;
            for c in row_start..self.runs.len() {
                let cur = self.runs[c];
                while p < prev_row.end && self.runs[p].x1 < cur.x0 {
                    p += 1;
                }
                let mut q = p;
                while q < prev_row.end && self.runs[q].x0 <= cur.x1 {
                    let above = self.runs[q].label;
                    self.union(above, cur.label);
                    q += 1;
                }
            }
            prev_row = row_start..self.runs.len();
        }
        self.stats.resize(
            self.parent.len(),
            Component {
                area: 0,
                min_x: u32::MAX,
                min_y: u32::MAX,
                max_x: 0,
                max_y: 0,
                sum_x2: 0,
                sum_y: 0,
            },
        );
        for i in 0..self.runs.len() {
            let run = self.runs[i];
            let root = self.find(run.label);
            self.runs[i].label = root;
            let len = run.x1 - run.x0;
            let s = &mut self.stats[root as usize];
            if s.area == 0 {
                self.roots.push(root);
            }
            s.area += len;
            s.min_x = s.min_x.min(run.x0);
            s.max_x = s.max_x.max(run.x1 - 1);
            s.min_y = s.min_y.min(run.y);
            s.max_y = s.max_y.max(run.y);
            s.sum_x2 += u64::from(len) * u64::from(run.x0 + run.x1 - 1);
            s.sum_y += u64::from(len) * u64::from(run.y);
        }
    }

    /// The components found by the last [`Self::label`], with their root
    /// label.
    pub(crate) fn components(&self) -> impl Iterator<Item = (u32, &Component)> + '_ {
        self.roots.iter().map(|&r| (r, &self.stats[r as usize]))
    }

    /// Pixel area of the component with root label `root`.
    pub(crate) fn area(&self, root: u32) -> u32 {
        self.stats[root as usize].area
    }

    /// Every run with the root label of its component.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (u32, &Run)> + '_ {
        self.runs.iter().map(|r| (r.label, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_from(rows: &[&str]) -> (Vec<u8>, usize, usize) {
        let w = rows[0].len();
        let data = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        (data, w, rows.len())
    }

    fn areas(rows: &[&str]) -> Vec<u32> {
        let (m, w, h) = mask_from(rows);
        let mut l = Labeller::default();
        l.label(&m, w, h);
        let mut a: Vec<u32> = l.components().map(|(_, c)| c.area).collect();
        a.sort_unstable();
        a
    }

    #[test]
    fn labels_separate_and_diagonal_components() {
        assert_eq!(areas(&["##..#", "##..#", ".....", "#...."]), vec![1, 2, 4]);
        // Diagonal neighbours join (8-connectivity).
        assert_eq!(areas(&["#...", ".#..", "..#.", "...#"]), vec![4]);
        // A U shape merges two runs of one row through a later row.
        assert_eq!(areas(&["#.#", "#.#", "###"]), vec![7]);
        assert_eq!(areas(&["....", "...."]), Vec::<u32>::new());
    }

    #[test]
    fn component_stats() {
        let (m, w, h) = mask_from(&["....", ".##.", ".##.", "...."]);
        let mut l = Labeller::default();
        l.label(&m, w, h);
        let (_, c) = l.components().next().expect("one component");
        assert_eq!(
            (c.area, c.min_x, c.min_y, c.max_x, c.max_y),
            (4, 1, 1, 2, 2)
        );
        assert_eq!(c.sum_x2, 2 * (1 + 2 + 1 + 2));
        assert_eq!(c.sum_y, 1 + 1 + 2 + 2);
    }

    #[test]
    fn opening_removes_specks_keeps_blocks() {
        let (mut m, w, h) = mask_from(&[
            "#.......", "........", "..####..", "..####..", "..####..", "..####..", ".......#",
            "#######.",
        ]);
        let mut tmp = vec![0; m.len()];
        open(&mut m, &mut tmp, w, h, 1);
        let (want, _, _) = mask_from(&[
            "........", "........", "..####..", "..####..", "..####..", "..####..", "........",
            "........",
        ]);
        assert_eq!(m, want);
    }

    #[test]
    fn tiny_planes_do_not_panic() {
        for (w, h) in [(1, 1), (1, 5), (5, 1), (2, 2)] {
            let mut m = vec![1; w * h];
            let mut tmp = vec![0; w * h];
            open(&mut m, &mut tmp, w, h, 2);
            let mut l = Labeller::default();
            l.label(&m, w, h);
            assert_eq!(
                l.components().map(|(_, c)| c.area).sum::<u32>(),
                (w * h) as u32
            );
        }
    }
}
