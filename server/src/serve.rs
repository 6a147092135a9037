//! `sessionhost serve`: the host behind HTTP until SIGINT or SIGTERM.
//!
//! In order: read the configuration ([`ServerConfig::load`]), start logging, open the session
//! store (`<data_dir>/sessions.redb`, else in memory), load the configured guests and watch the
//! guests directory, then bind and serve the library's router
//! ([`sessionhost::http::router`], [`sessionhost::http::serve`]) until a signal arrives. The
//! library then shuts down gracefully (see `sessionhost::http::serve`); this returns once it has,
//! and the process exits 0. Everything that fails before serving is an error with its context.
//!
//! Ownership: this function owns the [`Host`] and the guests-directory watcher for the whole
//! run; both are dropped when serving has ended.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use sessionhost::store::{PersistentStore, SnapshotStore};
use sessionhost::{GuestSource, Host};

use crate::config::{LogFormat, ServeArgs, ServerConfig};

/// The target of the binary's own log events, whichever module emits them: `sessionhost`, as
/// log filters (`RUST_LOG=sessionhost=debug`) and collectors know it.
const LOG: &str = "sessionhost";

/// Runs the server with the configuration `args` lead to, until SIGINT or SIGTERM.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = ServerConfig::load(&args)?;
    init_logs(config.log);
    let host = match &config.data_dir {
        Some(dir) => {
            let path = dir.join("sessions.redb");
            let store = PersistentStore::open(&path)
                .with_context(|| format!("opening the session store {}", path.display()))?;
            let hibernated = SnapshotStore::len(&store).unwrap_or(0);
            tracing::info!(target: LOG, store = %path.display(), hibernated, "session store opened");
            Host::with_store(config.host.clone(), Arc::new(store))
        }
        None => Host::new(config.host.clone()),
    }
    .context("creating the host")?;
    if config.guests_dir.is_none()
        && let Some(name) = config
            .guest_options
            .keys()
            .find(|name| !config.guests.contains_key(*name))
    {
        bail!("[guest_options.{name}] names no guest in [guests]");
    }
    for (name, path) in &config.guests {
        let options = config.guest_options.get(name).cloned().unwrap_or_default();
        let info = host
            .load_guest(name, GuestSource::file(path), options)
            .await
            .with_context(|| format!("loading guest `{name}`"))?;
        tracing::info!(target: LOG, guest = %name, version = %info.version, "guest ready");
    }
    let _watching = match &config.guests_dir {
        Some(dir) => {
            let (watching, loaded) =
                sessionhost::GuestsDir::watch(host.clone(), dir, config.guest_options.clone())
                    .await
                    .with_context(|| format!("watching the guests directory {}", dir.display()))?;
            for (name, outcome) in loaded {
                match outcome {
                    Ok(info) => {
                        tracing::info!(target: LOG, guest = %name, version = %info.version, "guest ready")
                    }
                    Err(error) => {
                        tracing::error!(target: LOG, guest = %name, %error, "guest file rejected")
                    }
                }
            }
            Some(watching)
        }
        None => None,
    };
    if let Some(default) = &config.host.default_guest
        && !host.guests().iter().any(|g| &g.name == default)
    {
        bail!("default guest `{default}` is not among the loaded guests");
    }
    let keys = config.token_keys()?;
    let router = sessionhost::http::router(host.clone(), &config.http, keys)?;
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("listening on {}", config.http.listen))?;
    tracing::info!(target: LOG, listen = %listener.local_addr()?, "sessionhost serving");
    sessionhost::http::serve(listener, router, host, &config.http, shutdown_signal()).await;
    tracing::info!(target: LOG, "sessionhost stopped");
    Ok(ExitCode::SUCCESS)
}

fn init_logs(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only on a terminal: a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
