//! The subcommands, one module each, plus what they share: logging, the
//! tokio runtime and signal handling.

pub mod analyze;
pub mod check;
pub mod demo;
pub mod detect;
pub mod incoming;
pub mod keys;
pub mod link_hooks;
pub mod node;
pub mod node_control;
pub mod node_link;
pub mod server;
pub mod user;

use vigia_base::Shutdown;

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// First SIGINT/SIGTERM: orderly shutdown (finish the running capture).
/// Second: exit at once.
pub fn spawn_signal_handler(shutdown: Shutdown) {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::info!("stopping: finishing the running capture (signal again to exit at once)");
        shutdown.trigger();
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}
