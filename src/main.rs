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
    /// Run a server and a node on the built-in synthetic camera with embedded defaults.
    Demo(cmd::demo::DemoArgs),
    /// Run a camera node.
    Node(cmd::node::NodeArgs),
    /// Run the storage and web server.
    Server(cmd::server::ServerArgs),
    /// Manage web platform users.
    User(cmd::user::UserArgs),
    /// Validate a configuration file and print the resolved settings.
    CheckConfig(cmd::check::CheckArgs),
    /// Run the node's detection pipeline over a video file as fast as possible.
    Analyze(cmd::analyze::AnalyzeArgs),
    /// Run the person detector on images or sampled video frames.
    Detect(cmd::detect::DetectArgs),
    /// Make a node's SSH key (Ed25519).
    Keygen(cmd::keys::KeygenArgs),
    /// Authorize a node's public key on the server, bound to one camera.
    Authorize(cmd::keys::AuthorizeArgs),
}

fn main() -> std::process::ExitCode {
    // glibc gives every thread that allocates its own malloc arena (up to
    // 8 per core); with a capture task, analysis and recorder threads and a
    // tokio pool that is tens of MB of mostly idle heap on a Raspberry Pi.
    // Two arenas keep memory flat at no measurable cost for this workload.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    cmd::init_logging();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Node(a) => cmd::node::run(a),
        Command::Server(a) => cmd::server::run(a),
        Command::User(a) => cmd::user::run(a),
        Command::CheckConfig(a) => cmd::check::run(a),
        Command::Analyze(a) => cmd::analyze::run(a),
        Command::Detect(a) => cmd::detect::run(a),
        Command::Keygen(a) => cmd::keys::keygen(a),
        Command::Authorize(a) => cmd::keys::authorize(a),
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
