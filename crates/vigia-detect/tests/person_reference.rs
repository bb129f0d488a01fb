//! tract against TensorFlow itself: on a few images of the labelled set,
//! the person model run by vigia gives the scores TensorFlow 2.21 gave on
//! the same input tensors (`person_reference.toml`, made by
//! `scripts/person-reference.sh`), within 0.01. This also guards the batch
//! norm folding and any change of tract version.
//!
//! Needs `VIGIA_PERSON_MODEL` and `VIGIA_PERSON_SET` (scripts/test.sh).

use std::path::PathBuf;

use serde::Deserialize;
use vigia_detect::geometry::fill_input;
use vigia_detect::ssd::sigmoid;
use vigia_detect::{SsdLitePerson, View};

#[derive(Deserialize)]
struct Reference {
    image: Vec<Image>,
}

#[derive(Deserialize)]
struct Image {
    file: String,
    person_score: f32,
    top_anchors: Vec<usize>,
    top_scores: Vec<f32>,
    best_box_encoding: Vec<f32>,
}

const TOLERANCE: f32 = 0.01;

fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!("{var} is not set: run the tests through scripts/test.sh"),
    }
}

#[test]
fn tract_scores_equal_tensorflow_within_a_hundredth() {
    let reference: Reference =
        toml::from_str(include_str!("person_reference.toml")).expect("reference parses");
    assert!(reference.image.len() >= 3, "a reference of a few images");
    let mut det = SsdLitePerson::load(&env_path("VIGIA_PERSON_MODEL"), 1).expect("model loads");
    let set = env_path("VIGIA_PERSON_SET");
    let mut worst = 0.0f32;
    for r in &reference.image {
        let bytes = std::fs::read(set.join(&r.file)).expect("image of the set");
        let image = vigia_detect::image::decode_image(&bytes).expect("decodes");
        let mut input = Vec::new();
        fill_input(&image, &View::Full, 300, &mut input);
        let (boxes, logits) = det.run_raw(&input).expect("runs");
        let scores: Vec<f32> = logits.chunks(2).map(|c| sigmoid(c[1])).collect();
        let best = scores.iter().copied().fold(0.0f32, f32::max);
        let mut check = |what: String, ours: f32, theirs: f32| {
            let d = (ours - theirs).abs();
            worst = worst.max(d);
            assert!(
                d <= TOLERANCE,
                "{}: {what}: tract {ours:.6}, TensorFlow {theirs:.6}",
                r.file
            );
        };
        check("best person score".into(), best, r.person_score);
        for (&anchor, &theirs) in r.top_anchors.iter().zip(&r.top_scores) {
            check(format!("anchor {anchor}"), scores[anchor], theirs);
        }
        let top = r.top_anchors[0];
        for (k, &theirs) in r.best_box_encoding.iter().enumerate() {
            check(
                format!("box encoding {k} of anchor {top}"),
                boxes[top * 4 + k],
                theirs,
            );
        }
    }
    eprintln!(
        "tract vs TensorFlow on {} images: largest difference {worst:.6}",
        reference.image.len()
    );
}
