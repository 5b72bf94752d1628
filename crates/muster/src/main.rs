//! The `muster` binary: parses the command line, resolves the configuration, starts
//! logging, and hands over to one subcommand. The work itself lives in the libraries.

mod bench;
mod cli;
mod commands;
mod config;
mod progress;
mod table;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};
use crate::commands::CommandResult;

/// The allocator of the whole binary (see the note in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark's anchors are slow on purpose (a GROUP BY over ten million records): sqlx's
    // slow-statement warnings would bury its table.
    let benchmark = matches!(cli.command, cli::Command::Bench(_));
    init_tracing(if benchmark {
        "warn,sqlx=error"
    } else {
        "info,sqlx=warn"
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error, filtered by RUST_LOG (else `default`), so standard output stays
/// for results.
fn init_tracing(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn run(cli: Cli) -> CommandResult {
    let env = |name: &str| std::env::var(name).ok();
    let file = config::file_layer(cli.global.config.as_deref(), env)?;
    let environment = config::ConfigLayer::from_env(env)?;
    let settings = config::resolve(file, environment, cli.global.layer());
    tracing::debug!(?settings, "configuration");

    match &cli.command {
        Command::Serve(args) => commands::serve::run(&settings, args).await,
        Command::Migrate => commands::migrate::run(&settings).await,
        Command::Demo(args) => commands::demo::run(&settings, args).await,
        Command::Import(command) => commands::import::run(&settings, command).await,
        Command::User(command) => commands::user::run(&settings, command).await,
        Command::Audit(command) => commands::audit::run(&settings, command).await,
        Command::Backup(args) => commands::backup::run(&settings, args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
