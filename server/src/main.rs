//! The `sessionhost` command.
//!
//! - `sessionhost serve` runs the HTTP server (session API, SSE/WebSocket, admin API,
//!   metrics) until SIGINT or SIGTERM, then shuts down gracefully and exits 0.
//! - `sessionhost check PATH` validates a component against the session WIT world with the
//!   same checks the host runs when it loads a guest, and prints a readable report.
//! - `sessionhost version` prints the host and contract versions.
//!
//! Configuration for `serve` comes from, lowest precedence first: defaults, `--config FILE`
//! (TOML, see [`ServerConfig`](config::ServerConfig)), environment variables
//! `SESSIONHOST_<SECTION>__<KEY>` (e.g. `SESSIONHOST_HOST__MAX_SESSIONS=50000`,
//! `SESSIONHOST_HTTP__LISTEN=0.0.0.0:8080`; `SESSIONHOST_SIGNING_KEY` adds a signing key),
//! then flags.
//!
//! This crate is the binary only: the host, the axum layer, the routes and the graceful
//! shutdown are the `sessionhost` library's (its `http` feature); this crate adds the command
//! line, the configuration file, logging and signals.
//!
//! # Layout
//! - `main.rs` — the command line, the async runtime, reports on stdout.
//! - `config.rs` — [`ServerConfig`](config::ServerConfig): file, environment and flags
//!   layered and validated; the signing key kept in the data directory.
//! - `serve.rs` — `serve`: store, guests, router, listener, logs, SIGINT/SIGTERM.
//! - `check.rs` — `check`: validating and describing a component.

mod check;
mod config;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sessionhost::SESSION_EXPORT;

use crate::config::ServeArgs;

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
    /// Run the HTTP server until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Check that a component can run as a session guest, and describe it.
    Check {
        /// The component (.wasm) to check.
        path: PathBuf,
        /// Host configuration (TOML, the `[host]` table's keys) whose limits the check applies.
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
            // The workspace's version: the library's and this binary's are one.
            let report = format!(
                "sessionhost {}\ncontract    {SESSION_EXPORT}\n",
                env!("CARGO_PKG_VERSION")
            );
            Ok(print_report(&report, ExitCode::SUCCESS))
        }
        Command::Check { path, config } => check::check(path, config).await,
        Command::Serve(args) => serve::serve(args).await,
    }
}

/// Writes a report to stdout. A reader that went away (`sessionhost check x.wasm | head`)
/// is not an error: the command ends quietly with its own exit code.
fn print_report(report: &str, code: ExitCode) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(report.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            eprintln!("error: writing the report: {e}");
            ExitCode::FAILURE
        }
    }
}
