//! The `sessionhost` command.
//!
//! - `sessionhost check PATH` validates a component against the session WIT world with the
//!   same checks the host runs when it loads a guest, and prints a readable report.
//! - `sessionhost version` prints the host and contract versions.

#![expect(clippy::print_stdout, reason = "a command-line tool prints its report")]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sessionhost::{Host, HostConfig, SESSION_EXPORT};

#[derive(Parser)]
#[command(
    name = "sessionhost",
    version,
    about = "One WebAssembly sandbox per user session"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that a component can run as a session guest, and describe it.
    Check {
        /// The component (.wasm) to check.
        path: PathBuf,
        /// Host configuration (TOML) whose limits the check applies.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the host version and the WIT contract it implements.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Version => {
            println!("sessionhost {}", env!("CARGO_PKG_VERSION"));
            println!("contract    {SESSION_EXPORT}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { path, config } => check(path, config).await,
    }
}

async fn check(path: PathBuf, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = match config {
        Some(file) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?
        }
        None => HostConfig::builder().max_sessions(16).build()?,
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let host = Host::new(config).context("creating the host")?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| sessionhost::SessionId::parse(s).is_ok())
        .unwrap_or("guest");
    println!("{}", path.display());
    match host.check_guest(name, &bytes).await {
        Ok(info) => {
            println!("  ok: runs as a session guest ({SESSION_EXPORT})");
            println!("  size      {} bytes", info.size_bytes);
            println!("  version   {}", info.version);
            for m in &info.memories {
                let max = m
                    .maximum_bytes
                    .map_or("unbounded".to_string(), |b| format!("{} KiB", b / 1024));
                println!(
                    "  memory    {} KiB initial, {max} maximum",
                    m.initial_bytes / 1024
                );
            }
            println!("  imports   {}", info.imports.len());
            for import in &info.imports {
                println!("    {import}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("  rejected: {}", e.reason);
            Ok(ExitCode::from(2))
        }
    }
}
