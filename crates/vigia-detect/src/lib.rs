//! Person detection for vigia: is there a person in this frame, and where.
//!
//! Owns the [`PersonDetector`] trait the node and `vigia detect` program
//! against, the pure parts of a detector (SSD anchors, box decoding and NMS
//! in [`ssd`]; crop, pad and resample geometry in [`geometry`]; the N-of-M
//! labelling rule in [`vote`]; image decoding in [`image`]) and one adapter,
//! [`tract_ssd`], that runs the SSDLite-MobileNetV2 person model with the
//! pure-Rust `tract` runtime. A second model (an 80-class COCO detector that
//! can name the animal) would be a second implementation of the trait.
//!
//! Why a crate of its own rather than a module of `vigia-vision`: tract is
//! a large dependency (minutes to build from cold), and the motion detector
//! is the node's hot path, built and tested all day. Keeping tract here lets
//! `vigia-vision` stay small and fast to build, and keeps the motion crate
//! usable on its own.
//!
//! Does not own when to run the detector (the node's pipeline gates it by
//! motion and rate-limits it) nor what a detection means for an event
//! (the node applies [`vote::PersonVote`]).

pub mod error;
pub mod geometry;
pub mod image;
pub mod ssd;
pub mod tract_ssd;
pub mod vote;

pub use error::DetectError;
pub use geometry::{plan_views, Rect, RgbImage, View, ViewPolicy};
pub use tract_ssd::SsdLitePerson;
pub use vote::{PersonVote, VoteRule};

/// One person found, in source-image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonBox {
    pub rect: Rect,
    /// Person probability, 0..=1.
    pub score: f32,
}

/// What a detector found in one image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detections {
    /// The highest person probability anywhere in the looked-at views
    /// (0..=1), even when no box passes the box threshold.
    pub person_score: f32,
    /// Boxes after non-maximum suppression, strongest first.
    pub boxes: Vec<PersonBox>,
}

impl Detections {
    /// The strongest box, if any.
    pub fn best_box(&self) -> Option<&PersonBox> {
        self.boxes.first()
    }
}

/// A model that tells whether people are in an image.
///
/// Implementations own their input size and preprocessing; callers say
/// which part of the image to look at with a [`View`] and get boxes back in
/// source pixels, so a model with another input size slots in unchanged.
pub trait PersonDetector: Send {
    /// A short name for logs (`ssdlite-mobilenet-v2-person`).
    fn name(&self) -> &str;

    /// Looks at `view` of `image`.
    fn detect(&mut self, image: &RgbImage, view: &View) -> Result<Detections, DetectError>;
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
    if views.len() > 1 {
        merged.boxes = merge_boxes(std::mem::take(&mut merged.boxes), 0.5);
    }
    Ok(merged)
}

fn merge_boxes(boxes: Vec<PersonBox>, iou: f32) -> Vec<PersonBox> {
    let as_norm: Vec<ssd::NormBox> = boxes
        .iter()
        .map(|b| ssd::NormBox {
            ymin: b.rect.y1,
            xmin: b.rect.x1,
            ymax: b.rect.y2,
            xmax: b.rect.x2,
            score: b.score,
        })
        .collect();
    ssd::nms(as_norm, iou, usize::MAX)
        .into_iter()
        .map(|b| PersonBox {
            rect: Rect {
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

    /// Reports one fixed box per view, in the view's own source rectangle.
    struct Fixed;
    impl PersonDetector for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn detect(&mut self, image: &RgbImage, view: &View) -> Result<Detections, DetectError> {
            let rect = view.to_source(image.width, image.height, 0.25, 0.25, 0.75, 0.75);
            let score = if matches!(view, View::Full) { 0.6 } else { 0.8 };
            Ok(Detections {
                person_score: score,
                boxes: vec![PersonBox { rect, score }],
            })
        }
    }

    #[test]
    fn views_merge_into_the_best_score_and_one_box_per_person() {
        let img = RgbImage {
            width: 100,
            height: 100,
            data: vec![0; 30_000],
        };
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
}
