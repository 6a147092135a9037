//! What a soak run does: session and client counts, duration, the host settings that make
//! it interesting (short `hibernate_after`, small mailboxes, a small fuel budget), and the
//! command-line syntax of `make soak` (`SOAK_ARGS="--duration 30m --sessions 20000"`).
//!
//! Every knob has a default that `make soak` uses; [`SoakConfig::short`] is the version that
//! runs in `make test`. Durations are written `500ms`, `20s`, `5m` or `1h`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

/// The plan of one soak run.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// Sessions kept open at once (counter and hostile together), each owned by one client.
    pub sessions: usize,
    /// Concurrent HTTP clients; each drives its own share of the sessions, one request at a
    /// time except for cast bursts.
    pub clients: usize,
    /// How long clients send traffic; the final checks and shutdown come after.
    pub duration: Duration,
    /// Percent of the sessions that run the hostile guest.
    pub hostile_percent: u32,
    /// Counter sessions every client hits concurrently (they check one message at a time).
    pub shared: usize,
    /// The host's `hibernate_after`: idle sessions are hibernated and woken during the run.
    pub hibernate_after: Duration,
    /// The host's per-session mailbox; small, so that cast bursts meet `mailbox_full`.
    pub mailbox: usize,
    /// The host's fuel per message: bounds how long a hostile loop burns a core.
    pub fuel_per_call: u64,
    /// Seed of the operation mix (each client derives its own).
    pub seed: u64,
    /// Keep hibernated sessions in `DIR/sessions.redb` instead of memory.
    pub data_dir: Option<PathBuf>,
    /// Longest the run may take past `duration` (final checks, shutdown) before it is failed.
    pub drain_limit: Duration,
}

impl Default for SoakConfig {
    /// The `make soak` run: 5 000 sessions, 64 clients, 5 minutes.
    fn default() -> Self {
        Self {
            sessions: 5_000,
            clients: 64,
            duration: Duration::from_secs(300),
            hostile_percent: 2,
            shared: 4,
            hibernate_after: Duration::from_secs(1),
            mailbox: 16,
            fuel_per_call: 50_000_000,
            seed: 1,
            data_dir: None,
            drain_limit: Duration::from_secs(120),
        }
    }
}

impl SoakConfig {
    /// The short run of `make test`: 400 sessions, 16 clients, 12 s.
    pub fn short() -> Self {
        Self {
            sessions: 400,
            clients: 16,
            duration: Duration::from_secs(12),
            hibernate_after: Duration::from_millis(400),
            ..Self::default()
        }
    }

    /// Hostile sessions among [`sessions`](Self::sessions) (at least one when the percentage
    /// is not zero).
    pub fn hostile_sessions(&self) -> usize {
        let n = self.sessions * self.hostile_percent as usize / 100;
        if self.hostile_percent > 0 {
            n.max(1)
        } else {
            0
        }
    }

    /// Parses `--flag value` pairs over the defaults; `--short` starts from [`short`](Self::short).
    pub fn from_args(args: &[String]) -> anyhow::Result<Self> {
        let mut config = if args.iter().any(|a| a == "--short") {
            Self::short()
        } else {
            Self::default()
        };
        let mut args = args.iter().filter(|a| *a != "--short");
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let number = || -> anyhow::Result<u64> {
                value
                    .replace('_', "")
                    .parse()
                    .with_context(|| format!("{flag}: `{value}` is not a number"))
            };
            match flag.as_str() {
                "--sessions" => config.sessions = usize::try_from(number()?)?,
                "--clients" => config.clients = usize::try_from(number()?)?,
                "--duration" => config.duration = parse_duration(value)?,
                "--hostile-percent" => config.hostile_percent = u32::try_from(number()?)?,
                "--shared" => config.shared = usize::try_from(number()?)?,
                "--hibernate-after" => config.hibernate_after = parse_duration(value)?,
                "--mailbox" => config.mailbox = usize::try_from(number()?)?,
                "--fuel-per-call" => config.fuel_per_call = number()?,
                "--seed" => config.seed = number()?,
                "--data-dir" => config.data_dir = Some(PathBuf::from(value)),
                "--drain-limit" => config.drain_limit = parse_duration(value)?,
                other => bail!("unknown flag {other}; see the soak module docs"),
            }
        }
        config.check()?;
        Ok(config)
    }

    /// Refuses plans that cannot run.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.clients == 0 || self.sessions < self.clients {
            bail!(
                "need at least one client and one session per client ({} sessions, {} clients)",
                self.sessions,
                self.clients
            );
        }
        if self.hostile_percent > 50 {
            bail!("--hostile-percent must be at most 50");
        }
        if self.mailbox == 0 || self.duration.is_zero() {
            bail!("--mailbox and --duration must be greater than zero");
        }
        Ok(())
    }
}

/// Parses `250ms`, `20s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .with_context(|| format!("`{text}` is not a duration like 30s, 5m or 500ms"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => bail!("`{text}`: unknown unit `{unit}` (ms, s, m, h)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("5 weeks").is_err());
    }

    #[test]
    fn flags_override_the_defaults() {
        let args: Vec<String> = ["--sessions", "1_000", "--duration", "30s", "--clients", "8"]
            .iter()
            .map(ToString::to_string)
            .collect();
        let config = SoakConfig::from_args(&args).unwrap();
        assert_eq!(config.sessions, 1000);
        assert_eq!(config.clients, 8);
        assert_eq!(config.duration, Duration::from_secs(30));
        assert_eq!(config.hostile_sessions(), 20);
        assert!(SoakConfig::from_args(&["--nope".into(), "1".into()]).is_err());
        assert!(SoakConfig::from_args(&["--clients".into(), "0".into()]).is_err());
    }
}
