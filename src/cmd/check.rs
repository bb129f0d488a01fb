//! `vigia check-config FILE`: validate a config and show what it resolves to.

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The node configuration file.
    file: PathBuf,
}

pub fn run(a: CheckArgs) -> anyhow::Result<()> {
    let cfg = vigia_config::load_node(&a.file)
        .with_context(|| format!("{} is not valid", a.file.display()))?;
    println!("{}: valid node configuration", a.file.display());
    println!("  camera:   {}", cfg.camera);
    println!("  data_dir: {}", cfg.data_dir.display());
    println!(
        "  source:   {:?} {}x{} @ {} fps",
        cfg.source.kind, cfg.source.width, cfg.source.height, cfg.source.fps
    );
    println!(
        "  event:    pre-roll {} ms, post-roll {} ms, length {}..{} ms, cooldown {} ms",
        cfg.event.pre_roll_ms,
        cfg.event.post_roll_ms,
        cfg.event.min_length_ms,
        cfg.event.max_length_ms,
        cfg.event.cooldown_ms
    );
    let scale = match cfg.motion_scale {
        Some(s) => format!("1/{s}"),
        None => format!(
            "1/{} (automatic)",
            vigia_node::pipeline::auto_scale(cfg.source.width)
        ),
    };
    println!("  motion:   scale {scale}, {:?}", cfg.motion);
    Ok(())
}
