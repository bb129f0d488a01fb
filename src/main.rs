//! `vigia`: one binary for the camera node, the server and their tools.
//!
//! This is the only place that uses `anyhow`: libraries return typed errors
//! and this edge adds the context a person needs to act on them.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vigia",
    version,
    about = "Self-hosted video surveillance: camera nodes and a server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node on the built-in synthetic camera with embedded defaults.
    Demo(cmd::demo::DemoArgs),
    /// Run a camera node.
    Node(cmd::node::NodeArgs),
    /// Validate a configuration file and print the resolved settings.
    CheckConfig(cmd::check::CheckArgs),
    /// Run the node's detection pipeline over a video file as fast as possible.
    Analyze(cmd::analyze::AnalyzeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cmd::init_logging();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Node(a) => cmd::node::run(a),
        Command::CheckConfig(a) => cmd::check::run(a),
        Command::Analyze(a) => cmd::analyze::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigia: error: {}", report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line. Library errors often include
/// their cause's text in their own message; a cause already said is not
/// repeated.
fn report(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !msg.contains(&c) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&c);
        }
    }
    msg
}
