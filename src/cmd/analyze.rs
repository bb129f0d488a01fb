//! `vigia analyze VIDEO`: replay a file through the detection pipeline.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct AnalyzeArgs {
    /// Any video ffmpeg can read.
    video: PathBuf,
    /// A node configuration whose [motion] and [event] settings to use
    /// (default: the built-in defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: AnalyzeArgs) -> anyhow::Result<()> {
    let mut cfg = match &a.config {
        Some(p) => {
            vigia_config::load_node(p).with_context(|| format!("loading {}", p.display()))?
        }
        None => vigia_config::parse_node(
            "[node]\ncamera = \"analyze\"\ndata_dir = \".\"\n",
            std::path::Path::new("<built-in>"),
            std::path::Path::new("."),
        )
        .context("built-in analyze config")?,
    };
    cfg.source.kind = vigia_config::SourceKind::File;
    cfg.source.path = Some(a.video.clone());
    cfg.source.loop_forever = false;
    let source =
        vigia_node::sources::open_source(&cfg, vigia_node::sources::Pace::AsFastAsPossible)
            .with_context(|| format!("opening {}", a.video.display()))?;
    let rt = super::runtime()?;
    let json = a.json;
    let (_, summary) = rt
        .block_on(vigia_node::analyze::analyze(source, &cfg, |e| {
            if json {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            } else {
                println!(
                    "event {:>8.1} s .. {:>8.1} s  {:<7} score {:.3}",
                    e.start_ms as f64 / 1000.0,
                    e.end_ms as f64 / 1000.0,
                    e.label,
                    e.score
                );
            }
        }))
        .with_context(|| format!("analysing {}", a.video.display()))?;
    if json {
        println!("{}", serde_json::json!({ "summary": summary }));
    } else {
        println!(
            "{} frames ({} analysed, {} undecodable, {} corrupt), {} events; cpu {} ms ({:.2} ms/frame, decoder {} ms), wall {} ms",
            summary.frames,
            summary.analysed_frames,
            summary.undecodable_frames,
            summary.corrupt_frames,
            summary.events,
            summary.cpu_ms,
            summary.cpu_ms_per_frame,
            summary.decoder_cpu_ms,
            summary.wall_ms
        );
    }
    Ok(())
}
