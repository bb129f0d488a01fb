//! SSD post-processing in Rust: the anchor table, box decoding, scores and
//! non-maximum suppression.
//!
//! The model's graph ends in TensorFlow's own post-processing (a
//! `TensorArray` loop tract cannot run), so the adapter stops the graph at
//! the raw box encodings and class logits and everything after them lives
//! here, free of I/O and of tract, so it is unit-tested and benchmarked
//! alone.
//!
//! The anchors follow the TensorFlow Object Detection API's
//! `multiple_grid_anchor_generator.create_ssd_anchors` as configured for
//! `ssdlite_mobilenet_v2_coco` (the checkpoint the person model was
//! fine-tuned from): 6 feature maps of 19, 10, 5, 3, 2 and 1 cells, scales
//! linearly from 0.2 to 0.95, aspect ratios 1, 2, 1/2, 3, 1/3 plus one box
//! of the geometric mean of this and the next scale, and only 3 boxes per
//! cell on the 19x19 map (`reduce_boxes_in_lowest_layer`). That is
//! 19·19·3 + (10² + 5² + 3² + 2² + 1²)·6 = 1917 anchors, in the order the
//! graph's `concat` nodes emit them: map by map, row by row, cell by cell,
//! box by box.
//!
//! Coordinates are normalised to the model input (0..1), `[ymin, xmin,
//! ymax, xmax]` like the API, until [`crate::geometry`] maps them back to
//! source pixels.

/// One anchor: centre and size, normalised to the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub cy: f32,
    pub cx: f32,
    pub h: f32,
    pub w: f32,
}

/// The anchor generator's settings (`ssd_anchor_generator` in the API's
/// pipeline config).
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorSpec {
    /// Feature-map sizes (square maps), finest first.
    pub feature_maps: Vec<u32>,
    pub min_scale: f32,
    pub max_scale: f32,
    pub aspect_ratios: Vec<f32>,
    /// Aspect ratio of the extra box between this scale and the next; 0 = none.
    pub interpolated_scale_aspect_ratio: f32,
    /// The finest map gets only (0.1, 1), (scale, 2), (scale, 1/2).
    pub reduce_boxes_in_lowest_layer: bool,
}

impl AnchorSpec {
    /// `ssdlite_mobilenet_v2_coco` at 300x300.
    pub fn ssdlite_mobilenet_v2() -> Self {
        Self {
            feature_maps: vec![19, 10, 5, 3, 2, 1],
            min_scale: 0.2,
            max_scale: 0.95,
            aspect_ratios: vec![1.0, 2.0, 0.5, 3.0, 1.0 / 3.0],
            interpolated_scale_aspect_ratio: 1.0,
            reduce_boxes_in_lowest_layer: true,
        }
    }

    /// The anchor table in the model's output order.
    pub fn anchors(&self) -> Vec<Anchor> {
        let n = self.feature_maps.len();
        let scale = |i: usize| {
            if n <= 1 {
                self.min_scale
            } else {
                self.min_scale + (self.max_scale - self.min_scale) * i as f32 / (n - 1) as f32
            }
        };
        let mut out = Vec::new();
        for (layer, &size) in self.feature_maps.iter().enumerate() {
            let s = scale(layer);
            // The API appends 1.0 as the scale after the last layer.
            let s_next = if layer + 1 < n { scale(layer + 1) } else { 1.0 };
            let mut specs: Vec<(f32, f32)> = Vec::new();
            if layer == 0 && self.reduce_boxes_in_lowest_layer {
                specs.extend([(0.1, 1.0), (s, 2.0), (s, 0.5)]);
            } else {
                specs.extend(self.aspect_ratios.iter().map(|&ar| (s, ar)));
                if self.interpolated_scale_aspect_ratio > 0.0 {
                    specs.push(((s * s_next).sqrt(), self.interpolated_scale_aspect_ratio));
                }
            }
            let stride = 1.0 / size as f32;
            for y in 0..size {
                for x in 0..size {
                    let cy = (y as f32 + 0.5) * stride;
                    let cx = (x as f32 + 0.5) * stride;
                    for &(scale, ar) in &specs {
                        let r = ar.sqrt();
                        out.push(Anchor {
                            cy,
                            cx,
                            h: scale / r,
                            w: scale * r,
                        });
                    }
                }
            }
        }
        out
    }
}

/// A box in normalised model coordinates with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormBox {
    pub ymin: f32,
    pub xmin: f32,
    pub ymax: f32,
    pub xmax: f32,
    pub score: f32,
}

impl NormBox {
    fn area(&self) -> f32 {
        (self.ymax - self.ymin).max(0.0) * (self.xmax - self.xmin).max(0.0)
    }

    pub fn iou(&self, o: &NormBox) -> f32 {
        let ih = (self.ymax.min(o.ymax) - self.ymin.max(o.ymin)).max(0.0);
        let iw = (self.xmax.min(o.xmax) - self.xmin.max(o.xmin)).max(0.0);
        let inter = ih * iw;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// The API's `FasterRcnnBoxCoder` scale factors (ty, tx, th, tw).
pub const BOX_CODER_SCALES: [f32; 4] = [10.0, 10.0, 5.0, 5.0];

/// Decodes one box encoding `[ty, tx, th, tw]` against its anchor.
pub fn decode_box(code: [f32; 4], a: &Anchor, score: f32) -> NormBox {
    let [sy, sx, sh, sw] = BOX_CODER_SCALES;
    let cy = code[0] / sy * a.h + a.cy;
    let cx = code[1] / sx * a.w + a.cx;
    // Clamp the exponent: an untrained or corrupt output must not yield inf.
    let h = (code[2] / sh).min(10.0).exp() * a.h;
    let w = (code[3] / sw).min(10.0).exp() * a.w;
    NormBox {
        ymin: cy - h / 2.0,
        xmin: cx - w / 2.0,
        ymax: cy + h / 2.0,
        xmax: cx + w / 2.0,
        score,
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// What came out of the model for one input: the best person score and
/// the kept boxes (after NMS), normalised to the model input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SsdOutput {
    /// Highest person probability over all anchors (0 when none).
    pub person_score: f32,
    pub boxes: Vec<NormBox>,
}

/// Post-processing settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostProcess {
    /// Boxes below this person probability are not decoded or kept.
    pub min_score: f32,
    /// NMS overlap above which the weaker box is dropped (the API's 0.6).
    pub iou_threshold: f32,
    pub max_boxes: usize,
}

impl Default for PostProcess {
    fn default() -> Self {
        Self {
            min_score: 0.3,
            iou_threshold: 0.6,
            max_boxes: 20,
        }
    }
}

/// Turns raw outputs into an [`SsdOutput`]. `encodings` is `anchors.len()`
/// rows of `[ty, tx, th, tw]`; `logits` is `anchors.len()` rows of
/// `classes` logits with the person logit at `person_class`.
pub fn postprocess(
    anchors: &[Anchor],
    encodings: &[f32],
    logits: &[f32],
    classes: usize,
    person_class: usize,
    pp: PostProcess,
) -> SsdOutput {
    let n = anchors
        .len()
        .min(encodings.len() / 4)
        .min(logits.len() / classes.max(1));
    let mut best = 0.0f32;
    let mut cands = Vec::new();
    for (i, anchor) in anchors.iter().enumerate().take(n) {
        let s = sigmoid(logits[i * classes + person_class]);
        if s.is_nan() {
            continue;
        }
        best = best.max(s);
        if s >= pp.min_score {
            let e = &encodings[i * 4..i * 4 + 4];
            cands.push(decode_box([e[0], e[1], e[2], e[3]], anchor, s));
        }
    }
    SsdOutput {
        person_score: best,
        boxes: nms(cands, pp.iou_threshold, pp.max_boxes),
    }
}

/// Greedy non-maximum suppression: strongest first, dropping boxes that
/// overlap a kept one by more than `iou_threshold`.
pub fn nms(mut boxes: Vec<NormBox>, iou_threshold: f32, max_boxes: usize) -> Vec<NormBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<NormBox> = Vec::new();
    for b in boxes {
        if kept.len() >= max_boxes {
            break;
        }
        if kept.iter().all(|k| k.iou(&b) <= iou_threshold) {
            kept.push(b);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssdlite_has_1917_anchors_in_graph_order() {
        let a = AnchorSpec::ssdlite_mobilenet_v2().anchors();
        assert_eq!(a.len(), 1917);
        // First cell of the 19x19 map: the small (0.1, 1) box, then 2:1 and 1:2.
        let c = 0.5 / 19.0;
        assert!((a[0].cy - c).abs() < 1e-6 && (a[0].cx - c).abs() < 1e-6);
        assert!((a[0].h - 0.1).abs() < 1e-6 && (a[0].w - 0.1).abs() < 1e-6);
        assert!((a[1].w / a[1].h - 2.0).abs() < 1e-5);
        assert!((a[2].h / a[2].w - 2.0).abs() < 1e-5);
        // Second cell moves along x first.
        assert!((a[3].cx - 1.5 / 19.0).abs() < 1e-6 && (a[3].cy - c).abs() < 1e-6);
        // The 10x10 map starts at 1083 with scale 0.35 and six boxes a cell.
        let b = a[1083];
        assert!((b.h - 0.35).abs() < 1e-5 && (b.w - 0.35).abs() < 1e-5);
        let interp = a[1083 + 5];
        let s = (0.35f32 * 0.5).sqrt();
        assert!((interp.h - s).abs() < 1e-5);
        // The last anchor: the single 1x1 cell, interpolated box between 0.95 and 1.0.
        let last = a[1916];
        assert!((last.cx - 0.5).abs() < 1e-6);
        assert!((last.h - (0.95f32).sqrt()).abs() < 1e-5);
    }

    #[test]
    fn zero_encoding_decodes_to_the_anchor() {
        let a = Anchor {
            cy: 0.5,
            cx: 0.25,
            h: 0.2,
            w: 0.1,
        };
        let b = decode_box([0.0; 4], &a, 0.9);
        assert!((b.ymin - 0.4).abs() < 1e-6 && (b.ymax - 0.6).abs() < 1e-6);
        assert!((b.xmin - 0.2).abs() < 1e-6 && (b.xmax - 0.3).abs() < 1e-6);
    }

    #[test]
    fn encoding_shifts_and_scales_by_the_coder_factors() {
        let a = Anchor {
            cy: 0.5,
            cx: 0.5,
            h: 0.2,
            w: 0.2,
        };
        // ty = 10 moves the centre by one anchor height; th = 5·ln 2 doubles it.
        let b = decode_box([10.0, 0.0, 5.0 * 2f32.ln(), 0.0], &a, 1.0);
        assert!(((b.ymin + b.ymax) / 2.0 - 0.7).abs() < 1e-5);
        assert!(((b.ymax - b.ymin) - 0.4).abs() < 1e-5);
        assert!(((b.xmax - b.xmin) - 0.2).abs() < 1e-5);
    }

    #[test]
    fn huge_size_code_stays_finite() {
        let a = Anchor {
            cy: 0.5,
            cx: 0.5,
            h: 0.2,
            w: 0.2,
        };
        let b = decode_box([0.0, 0.0, 1e9, 1e9], &a, 1.0);
        assert!(b.ymax.is_finite() && b.xmax.is_finite());
    }

    fn nb(ymin: f32, xmin: f32, ymax: f32, xmax: f32, score: f32) -> NormBox {
        NormBox {
            ymin,
            xmin,
            ymax,
            xmax,
            score,
        }
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes_and_separate_ones() {
        let boxes = vec![
            nb(0.0, 0.0, 0.5, 0.2, 0.7),
            nb(0.01, 0.0, 0.5, 0.2, 0.9),
            nb(0.0, 0.6, 0.5, 0.8, 0.6),
        ];
        let kept = nms(boxes, 0.6, 10);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].score, 0.6);
    }

    #[test]
    fn nms_respects_max_boxes() {
        let boxes = (0..10)
            .map(|i| nb(0.0, i as f32 * 0.1, 0.1, i as f32 * 0.1 + 0.05, 0.5))
            .collect();
        assert_eq!(nms(boxes, 0.5, 3).len(), 3);
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = nb(0.0, 0.0, 1.0, 1.0, 1.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&nb(2.0, 2.0, 3.0, 3.0, 1.0)), 0.0);
        let half = nb(0.0, 0.5, 1.0, 1.5, 1.0);
        assert!((a.iou(&half) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn postprocess_scores_with_sigmoid_and_decodes_only_candidates() {
        let anchors = vec![
            Anchor {
                cy: 0.5,
                cx: 0.5,
                h: 0.2,
                w: 0.2,
            };
            3
        ];
        let enc = vec![0.0; 12];
        // background, person logits
        let logits = vec![0.0, -5.0, 0.0, 2.0, 0.0, 0.0];
        let out = postprocess(&anchors, &enc, &logits, 2, 1, PostProcess::default());
        assert!((out.person_score - sigmoid(2.0)).abs() < 1e-6);
        // sigmoid(0) = 0.5 passes min_score but is suppressed by the identical stronger box.
        assert_eq!(out.boxes.len(), 1);
        assert!((out.boxes[0].score - sigmoid(2.0)).abs() < 1e-6);
    }

    #[test]
    fn postprocess_tolerates_short_outputs() {
        let anchors = AnchorSpec::ssdlite_mobilenet_v2().anchors();
        let out = postprocess(&anchors, &[0.0; 8], &[0.0; 3], 2, 1, PostProcess::default());
        assert_eq!(out.boxes.len(), 1);
    }
}
