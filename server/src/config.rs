//! What `sessionhost serve` runs with: [`ServerConfig`], read from, lowest precedence first,
//! its defaults, `--config FILE` (TOML), the environment (`SESSIONHOST_<SECTION>__<KEY>`;
//! `SESSIONHOST_SIGNING_KEY` adds a signing key) and the flags ([`ServeArgs`]), then validated
//! once, before anything is loaded or listens.
//!
//! Also the token-signing key the server keeps in its data directory (`signing.key`, made on
//! first start) so that cookies survive a restart when no key is configured.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sessionhost::http::{HttpConfig, MIN_KEY_BYTES, TokenKeys};
use sessionhost::{ConfigError, GuestOptions, HostConfig};

/// Log output of the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Everything the `sessionhost` server reads from its config file (TOML), environment
/// (`SESSIONHOST_*`, nested keys joined by `__`) and flags.
///
/// ```toml
/// log = "json"
/// data_dir = "/var/lib/sessionhost"
///
/// [host]
/// default_guest = "counter"
/// max_sessions = 100000
///
/// [http]
/// listen = "0.0.0.0:8080"
/// secure_cookie = true
///
/// [guests]
/// counter = "/srv/guests/counter.wasm"
///
/// [guest_options.counter]
/// restart = "permanent"
/// checkpoint_every = 1
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Log format. Default: `pretty`.
    pub(crate) log: LogFormat,
    /// Directory for the server's state: the generated token-signing key (so cookies survive
    /// a restart when no key is configured) and `sessions.redb`, the store of hibernated
    /// sessions — and of every live one at shutdown, so sessions come back after a restart
    /// with their state and IDs. Default: none (hibernated sessions are kept in memory).
    pub(crate) data_dir: Option<PathBuf>,
    /// The host: limits, defaults (see [`HostConfig`]).
    pub(crate) host: HostConfig,
    /// The HTTP layer and server (see [`HttpConfig`]).
    pub(crate) http: HttpConfig,
    /// Guests to load at start-up: name → component file.
    pub(crate) guests: BTreeMap<String, PathBuf>,
    /// A directory of `NAME.wasm` guests, loaded at start-up and hot-loaded whenever a file
    /// is added or replaced (see [`GuestsDir`](sessionhost::GuestsDir)). Default: none.
    pub(crate) guests_dir: Option<PathBuf>,
    /// Supervision options per guest name (see [`GuestOptions`]); guests not listed get
    /// the defaults.
    pub(crate) guest_options: BTreeMap<String, GuestOptions>,
}

/// The flags of `sessionhost serve`: each overrides the file and the environment.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<SocketAddr>,
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

impl ServerConfig {
    /// The configuration `serve` runs with: defaults, then the file, the environment and the
    /// flags, each overriding the one before; then what follows from them (compiled guests
    /// cached in `<data_dir>/compiled` unless configured), validated.
    pub(crate) fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
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
        let mut config: Self = figment.extract().context("reading the configuration")?;
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

    /// The token keys: configured keys, else the one kept in `data_dir` (made on first use),
    /// else a random one for this run only.
    pub(crate) fn token_keys(&self) -> Result<TokenKeys, ConfigError> {
        if !self.http.signing_keys.is_empty() {
            return TokenKeys::new(&self.http.signing_keys).map_err(|e| ConfigError {
                field: "signing_keys",
                reason: e.to_string(),
            });
        }
        match &self.data_dir {
            Some(dir) => stored_key(dir).map_err(|reason| ConfigError {
                field: "data_dir",
                reason,
            }),
            None => {
                tracing::warn!(
                    target: "sessionhost::http",
                    "no signing key configured and no data_dir: session cookies will not survive a restart"
                );
                Ok(TokenKeys::random())
            }
        }
    }
}

/// The signing key kept in `dir/signing.key`, created (mode 0600) on first use.
fn stored_key(dir: &Path) -> Result<TokenKeys, String> {
    use std::io::Write as _;
    let path = dir.join("signing.key");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= MIN_KEY_BYTES => {
            TokenKeys::new(&[secret]).map_err(|e| e.to_string())
        }
        Ok(_) => Err(format!(
            "{} is shorter than {MIN_KEY_BYTES} bytes",
            path.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            file.write_all(&secret)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            TokenKeys::new(&[secret]).map_err(|e| e.to_string())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sessionhost-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_stored_key_is_made_once_private_and_kept() {
        let dir = tempdir("key");
        let first = stored_key(&dir).unwrap();
        let id = sessionhost::SessionId::generate();
        let token = first.sign(&id);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("signing.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second start reads the same key: tokens signed before still verify.
        let second = stored_key(&dir).unwrap();
        assert_eq!(second.verify(&token).unwrap(), id);
        assert!(TokenKeys::random().verify(&token).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stored_key_too_short_is_refused() {
        let dir = tempdir("short");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("signing.key"), b"short").unwrap();
        let error = stored_key(&dir).err().unwrap();
        assert!(error.contains("shorter than"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
