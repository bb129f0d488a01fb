//! How a frame is looked at: the views the motion region asks for, their
//! results merged, and a second look at a candidate before it counts.
//!
//! Why the second look: a single-class person model fires on what it has
//! never been taught to reject. Measured here (tests/person_detect.rs), a
//! dog's face crossing a street scored 0.71 and 0.66 on two consecutive
//! motion crops, enough for the N-of-M vote. Looking again at the box it
//! reported, centred and from further back (the box grown by 0.75 of its
//! larger side on each side, so the candidate appears at another scale
//! than in the first look), its best score over the crossing fell to 0.42.
//! A person stays a person when the model looks at them again; texture
//! that happened to line up in one crop does not. The image's score is the
//! lower of the two looks. Margins measured on the dog clip: 0.25 left one
//! frame at 0.70 and 0.5 one at 0.51, 0.75 none above 0.42; on the
//! labelled set 0.75 loses no person (1.0 loses messi5.jpg), and on
//! vtest.avi 97 % of detections stay at or above 0.5.
//!
//! The second look runs only when the first one reaches the threshold, so
//! it costs one more model run per frame with a person candidate and
//! nothing otherwise.

use crate::geometry::{plan_views, View, ViewPolicy};
use crate::{DetectError, Detections, PersonBox, PersonDetector, RgbImage};

/// Where the detector looks and when a candidate is looked at again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookPolicy {
    pub views: ViewPolicy,
    /// A first look at or above this score is confirmed by a second look
    /// at its best box; `None` takes the first look as final.
    pub confirm_at: Option<f32>,
    /// The second look's square is the box grown by this fraction of its
    /// larger side on each side.
    pub confirm_margin: f32,
}

impl LookPolicy {
    /// The node's policy for a person threshold.
    pub fn confirming(threshold: f32) -> Self {
        Self {
            views: ViewPolicy::default(),
            confirm_at: Some(threshold),
            confirm_margin: 0.75,
        }
    }
}

/// Looks at `image` where the motion is (`region`, normalised
/// `(x1, y1, x2, y2)`, or `None` for the whole frame) and confirms a
/// candidate as [`LookPolicy`] says.
pub fn look(
    detector: &mut dyn PersonDetector,
    image: &RgbImage,
    region: Option<(f32, f32, f32, f32)>,
    policy: LookPolicy,
) -> Result<Detections, DetectError> {
    let views = plan_views(image.width, image.height, region, policy.views);
    let mut d = detect_views(detector, image, &views)?;
    let Some(at) = policy.confirm_at else {
        return Ok(d);
    };
    if d.person_score < at {
        return Ok(d);
    }
    // Without a box there is nothing to look at again; boxes start below
    // any sensible threshold, so this is a model that reports no boxes.
    let Some(best) = d.best_box().copied() else {
        return Ok(d);
    };
    let views = ViewPolicy {
        margin: policy.confirm_margin,
        ..policy.views
    };
    let second = detector.detect(image, &confirm_view(image, &best, views))?;
    d.person_score = d.person_score.min(second.person_score);
    Ok(d)
}

/// The square around a candidate box, with the views' margin and minimum
/// side, kept inside the frame where it fits.
fn confirm_view(image: &RgbImage, b: &PersonBox, p: ViewPolicy) -> View {
    let (w, h) = (image.width as f32, image.height as f32);
    let region = (b.rect.x1 / w, b.rect.y1 / h, b.rect.x2 / w, b.rect.y2 / h);
    let only_square = ViewPolicy {
        full_frame_above: f32::INFINITY,
        ..p
    };
    plan_views(image.width, image.height, Some(region), only_square)
        .into_iter()
        .next()
        .unwrap_or(View::Full)
}

/// Runs every view and merges them: the best score of any view, and the
/// boxes of all views after a second NMS (a person seen in both the crop
/// and the whole frame is reported once).
pub fn detect_views(
    detector: &mut dyn PersonDetector,
    image: &RgbImage,
    views: &[View],
) -> Result<Detections, DetectError> {
    let mut merged = Detections::default();
    for v in views {
        let d = detector.detect(image, v)?;
        merged.person_score = merged.person_score.max(d.person_score);
        merged.boxes.extend(d.boxes);
    }
    merged.candidate_score = merged.person_score;
    if views.len() > 1 {
        merged.boxes = merge_boxes(std::mem::take(&mut merged.boxes), 0.5);
    }
    Ok(merged)
}

fn merge_boxes(boxes: Vec<PersonBox>, iou: f32) -> Vec<PersonBox> {
    let as_norm: Vec<crate::ssd::NormBox> = boxes
        .iter()
        .map(|b| crate::ssd::NormBox {
            ymin: b.rect.y1,
            xmin: b.rect.x1,
            ymax: b.rect.y2,
            xmax: b.rect.x2,
            score: b.score,
        })
        .collect();
    crate::ssd::nms(as_norm, iou, usize::MAX)
        .into_iter()
        .map(|b| PersonBox {
            rect: crate::Rect {
                x1: b.xmin,
                y1: b.ymin,
                x2: b.xmax,
                y2: b.ymax,
            },
            score: b.score,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rect;

    /// Reports one fixed box per view, in the view's own source rectangle.
    struct Fixed;
    impl PersonDetector for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn detect(&mut self, image: &RgbImage, view: &View) -> Result<Detections, DetectError> {
            let rect = view.to_source(image.width, image.height, 0.25, 0.25, 0.75, 0.75);
            let score = if matches!(view, View::Full) { 0.6 } else { 0.8 };
            Ok(Detections::new(score, vec![PersonBox { rect, score }]))
        }
    }

    fn gray(w: u32, h: u32) -> RgbImage {
        RgbImage {
            width: w,
            height: h,
            data: vec![0; (w * h * 3) as usize],
        }
    }

    #[test]
    fn views_merge_into_the_best_score_and_one_box_per_person() {
        let img = gray(100, 100);
        let views = [
            View::Square {
                x: 0.0,
                y: 0.0,
                side: 100.0,
            },
            View::Full,
        ];
        let d = detect_views(&mut Fixed, &img, &views).expect("detect");
        assert_eq!(d.person_score, 0.8);
        assert_eq!(d.boxes.len(), 1, "the same person in two views: {d:?}");
        assert_eq!(d.boxes[0].score, 0.8);
    }

    /// Scores the first look as scripted and records every view asked for;
    /// the second look (any later call) scores `second`.
    struct TwoLooks {
        first: f32,
        second: f32,
        views: Vec<View>,
    }
    impl PersonDetector for TwoLooks {
        fn name(&self) -> &str {
            "two-looks"
        }
        fn detect(&mut self, _image: &RgbImage, view: &View) -> Result<Detections, DetectError> {
            let score = if self.views.is_empty() {
                self.first
            } else {
                self.second
            };
            self.views.push(*view);
            let rect = Rect {
                x1: 300.0,
                y1: 200.0,
                x2: 340.0,
                y2: 300.0,
            };
            Ok(Detections::new(score, vec![PersonBox { rect, score }]))
        }
    }

    fn look_with(first: f32, second: f32) -> (Detections, Vec<View>) {
        let mut det = TwoLooks {
            first,
            second,
            views: Vec::new(),
        };
        let img = gray(768, 576);
        let d = look(&mut det, &img, None, LookPolicy::confirming(0.5)).expect("look");
        (d, det.views)
    }

    #[test]
    fn a_candidate_the_second_look_rejects_is_not_a_person() {
        let (d, views) = look_with(0.71, 0.23);
        assert_eq!(d.person_score, 0.23);
        assert_eq!(d.candidate_score, 0.71);
        assert_eq!(views.len(), 2);
        // The second look is a square around the box (40x100 at 300,200):
        // side 100 · (1 + 2 · 0.75) = 250, centred on it.
        assert_eq!(
            views[1],
            View::Square {
                x: 195.0,
                y: 125.0,
                side: 250.0
            }
        );
    }

    #[test]
    fn a_confirmed_person_keeps_the_lower_score_and_below_threshold_looks_once() {
        let (d, _) = look_with(0.9, 0.8);
        assert_eq!(d.person_score, 0.8);
        let (d, views) = look_with(0.4, 0.9);
        assert_eq!(d.person_score, 0.4, "no candidate, no second look");
        assert_eq!(views.len(), 1);
        let mut det = TwoLooks {
            first: 0.9,
            second: 0.1,
            views: Vec::new(),
        };
        let policy = LookPolicy {
            confirm_at: None,
            ..LookPolicy::confirming(0.5)
        };
        let d = look(&mut det, &gray(64, 64), None, policy).expect("look");
        assert_eq!(
            d.person_score, 0.9,
            "confirmation off: the first look is final"
        );
    }
}
