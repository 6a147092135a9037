//! The `sessionhost` command.
//!
//! - `sessionhost serve` runs the HTTP server (session API, SSE/WebSocket, admin API,
//!   metrics) until SIGINT or SIGTERM, then shuts down gracefully and exits 0.
//! - `sessionhost check PATH` validates a component against the session WIT world with the
//!   same checks the host runs when it loads a guest, and prints a readable report.
//! - `sessionhost version` prints the host and contract versions.
//!
//! Configuration for `serve` comes from, lowest precedence first: defaults, `--config FILE`
//! (TOML, see [`ServerConfig`]), environment variables `SESSIONHOST_<SECTION>__<KEY>` (e.g.
//! `SESSIONHOST_HOST__MAX_SESSIONS=50000`, `SESSIONHOST_HTTP__LISTEN=0.0.0.0:8080`;
//! `SESSIONHOST_SIGNING_KEY` adds a signing key), then flags.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use sessionhost::http::{LogFormat, ServerConfig};
use sessionhost::{GuestSource, Host, HostConfig, SESSION_EXPORT};

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

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// A guest to load, as NAME=PATH (repeatable).
    #[arg(long = "guest", value_parser = parse_guest)]
    guests: Vec<(String, PathBuf)>,
    /// Guest started for requests without a session.
    #[arg(long)]
    default_guest: Option<String>,
    /// Bearer token enabling the admin API.
    #[arg(long)]
    admin_token: Option<String>,
    /// Directory for the server's state (signing key, session store, compiled guests).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Directory of NAME.wasm guests, hot-loaded when a file is added or replaced.
    #[arg(long)]
    guests_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, value_parser = ["pretty", "json"])]
    log: Option<String>,
}

fn parse_guest(text: &str) -> Result<(String, PathBuf), String> {
    let (name, path) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PATH, got `{text}`"))?;
    Ok((name.to_string(), PathBuf::from(path)))
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
            let report = format!(
                "sessionhost {}\ncontract    {SESSION_EXPORT}\n",
                env!("CARGO_PKG_VERSION")
            );
            Ok(print_report(&report, ExitCode::SUCCESS))
        }
        Command::Check { path, config } => check(path, config).await,
        Command::Serve(args) => serve(args).await,
    }
}

fn load_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
    if let Some(file) = &args.config {
        if !file.exists() {
            bail!("config file {} does not exist", file.display());
        }
        figment = figment.merge(Toml::file(file));
    }
    figment = figment.merge(
        Env::prefixed("SESSIONHOST_")
            .ignore(&["SIGNING_KEY"])
            .split("__"),
    );
    let mut config: ServerConfig = figment.extract().context("reading the configuration")?;
    if let Ok(key) = std::env::var("SESSIONHOST_SIGNING_KEY") {
        config.http.signing_keys.insert(0, key);
    }
    if let Some(listen) = args.listen {
        config.http.listen = listen;
    }
    for (name, path) in &args.guests {
        config.guests.insert(name.clone(), path.clone());
    }
    if let Some(name) = &args.default_guest {
        config.host.default_guest = Some(name.clone());
    }
    if let Some(token) = &args.admin_token {
        config.http.admin_token = Some(token.clone());
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = Some(dir.clone());
    }
    if let Some(dir) = &args.guests_dir {
        config.guests_dir = Some(dir.clone());
    }
    if config.host.compile_cache_dir.is_none()
        && let Some(dir) = &config.data_dir
    {
        config.host.compile_cache_dir = Some(dir.join("compiled"));
    }
    match args.log.as_deref() {
        Some("json") => config.log = LogFormat::Json,
        Some(_) => config.log = LogFormat::Pretty,
        None => {}
    }
    config.host.validate()?;
    config.http.validate()?;
    Ok(config)
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

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args)?;
    init_logs(config.log);
    let host = match &config.data_dir {
        Some(dir) => {
            let path = dir.join("sessions.redb");
            let store = sessionhost::store::PersistentStore::open(&path)
                .with_context(|| format!("opening the session store {}", path.display()))?;
            let hibernated = sessionhost::store::SnapshotStore::len(&store).unwrap_or(0);
            tracing::info!(store = %path.display(), hibernated, "session store opened");
            Host::with_store(config.host.clone(), std::sync::Arc::new(store))
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
        tracing::info!(guest = %name, version = %info.version, "guest ready");
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
                        tracing::info!(guest = %name, version = %info.version, "guest ready")
                    }
                    Err(error) => tracing::error!(guest = %name, %error, "guest file rejected"),
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
    tracing::info!(listen = %listener.local_addr()?, "sessionhost serving");
    sessionhost::http::serve(listener, router, host, &config.http, shutdown_signal()).await;
    tracing::info!("sessionhost stopped");
    Ok(ExitCode::SUCCESS)
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
    use std::fmt::Write as _;
    let mut report = format!("{}\n", path.display());
    let code = match host.check_guest(name, &bytes).await {
        Ok(info) => {
            let _ = writeln!(report, "  ok: runs as a session guest ({SESSION_EXPORT})");
            let _ = writeln!(report, "  size      {} bytes", info.size_bytes);
            let _ = writeln!(report, "  version   {}", info.version);
            for m in &info.memories {
                let max = m
                    .maximum_bytes
                    .map_or("unbounded".to_string(), |b| format!("{} KiB", b / 1024));
                let _ = writeln!(
                    report,
                    "  memory    {} KiB initial, {max} maximum",
                    m.initial_bytes / 1024
                );
            }
            let _ = writeln!(report, "  imports   {}", info.imports.len());
            for import in &info.imports {
                let _ = writeln!(report, "    {import}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(report, "  rejected: {}", e.reason);
            ExitCode::from(2)
        }
    };
    Ok(print_report(&report, code))
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
