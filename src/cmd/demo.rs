//! `vigia demo`: a node on the built-in synthetic camera with embedded
//! defaults, so a newcomer sees vigia work in one command.
//!
//! It writes `DIR/node.toml` (so the same setup can be run again with
//! `vigia node --config DIR/node.toml` and inspected) and prints one line per
//! event. The server and the web platform join the demo in later releases.

use std::path::PathBuf;

use anyhow::Context;
use vigia_base::Shutdown;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its config and captures.
    #[arg(long, default_value = "vigia-demo")]
    data: PathBuf,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.data).with_context(|| format!("creating {}", a.data.display()))?;
    let data = std::fs::canonicalize(&a.data)
        .with_context(|| format!("resolving {}", a.data.display()))?;
    let node_toml = data.join("node.toml");
    let text = demo_node_toml(&data);
    std::fs::write(&node_toml, &text)
        .with_context(|| format!("writing {}", node_toml.display()))?;
    let cfg = vigia_config::parse_node(&text, &node_toml, &data)
        .context("the embedded demo config is invalid")?;
    println!(
        "vigia demo: synthetic camera \"{}\" (people cross at 6 s and 24 s of every minute)",
        cfg.camera
    );
    println!("  config:   {}", node_toml.display());
    println!("  captures: {}", cfg.outbox_dir().display());
    println!("  stop with Ctrl-C");
    let rt = super::runtime()?;
    rt.block_on(async move {
        let shutdown = Shutdown::new();
        if let Some(s) = a.seconds {
            let sd = shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(s)).await;
                sd.trigger();
            });
        }
        super::node::run_configured(cfg, shutdown, None).await
    })
}

fn demo_node_toml(data: &std::path::Path) -> String {
    format!(
        "# Written by `vigia demo`; run it again with: vigia node --config {}/node.toml\n\
         [node]\ncamera = \"demo\"\ndata_dir = \"{}\"\n\n\
         [source]\nkind = \"synthetic\"\nwidth = 768\nheight = 576\nfps = 10.0\nseed = 1\n\n\
         [event]\npre_roll_s = 3.0\npost_roll_s = 4.0\n",
        data.display(),
        data.display()
    )
}
