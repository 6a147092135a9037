//! `sessionhost check PATH`: whether a component can run as a session guest, with the same
//! checks the host runs when it loads one (under the limits of an optional `[host]` config),
//! and a readable report of what it is: size, version, memories, imports.
//!
//! Exit codes: 0 for a guest that runs, 2 for one the host refuses (the report says why),
//! 1 when the file or the configuration cannot be read.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sessionhost::{Host, HostConfig, SESSION_EXPORT, SessionId};

/// Checks the component at `path` and prints the report.
pub(crate) async fn check(path: PathBuf, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
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
        .filter(|s| SessionId::parse(s).is_ok())
        .unwrap_or("guest");
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
    Ok(crate::print_report(&report, code))
}
