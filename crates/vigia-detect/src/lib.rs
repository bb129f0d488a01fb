//! Person detection for vigia: is there a person in this frame, and where.
//!
//! Owns the [`PersonDetector`] trait the node and `vigia detect` program
//! against, the pure parts of a detector (SSD anchors, box decoding and NMS
//! in [`ssd`]; crop, pad and resample geometry in [`geometry`]; the N-of-M
//! labelling rule in [`vote`]; image decoding in [`image`]; how the node
//! looks at a frame, views and confirmation, in [`look`]) and one adapter,
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
mod fold;
pub mod geometry;
pub mod image;
pub mod look;
pub mod ssd;
pub mod tract_ssd;
pub mod vote;

pub use error::DetectError;
pub use geometry::{plan_views, Rect, RgbImage, View, ViewPolicy};
pub use look::{detect_views, look, LookPolicy};
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
    /// The person probability of the image (0..=1): the highest anywhere
    /// in the looked-at views, even when no box passes the box threshold,
    /// or after [`look`]'s confirmation the lower of the candidate's and
    /// the second look's.
    pub person_score: f32,
    /// The highest probability before confirmation (equal to
    /// `person_score` when none ran).
    pub candidate_score: f32,
    /// Boxes after non-maximum suppression, strongest first.
    pub boxes: Vec<PersonBox>,
}

impl Detections {
    /// One look's result: `boxes` strongest first.
    pub fn new(person_score: f32, boxes: Vec<PersonBox>) -> Self {
        Self {
            person_score,
            candidate_score: person_score,
            boxes,
        }
    }

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
