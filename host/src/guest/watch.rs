//! Hot-load from a directory: every `NAME.wasm` in it is guest `NAME`, loaded at start and
//! again whenever the file is created or replaced.
//!
//! [`GuestsDir::watch`] loads what the directory holds, then a `notify` watcher (inotify on
//! Linux) reports changes to a task that waits for writes to settle (a copy arrives in
//! several writes), reads the file and loads it through its [`Loader`] (the host facade:
//! `Host::load_guest`, a new version for a guest already loaded): the component is
//! validated first, so a bad or half-written file never replaces a good version — the error
//! is logged and the current version keeps serving. A file whose content did not change is
//! skipped. Removing a file changes nothing: the guest keeps serving until it is replaced.
//! Running sessions follow the guest's upgrade policy. Dropping the [`GuestsDir`] stops it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::GuestOptions;
use crate::error::GuestLoadError;
use crate::guest::content_hash;
use crate::info::GuestInfo;

/// What a guests directory loads into (the host facade).
pub(crate) trait Loader: Send + Sync + 'static {
    /// The content hash of the version loaded under `name`, if one is.
    fn current(&self, name: &str) -> Option<String>;
    /// Loads `bytes` as `name`: a new version, keeping its options, when one is loaded; else
    /// a first load with `options`.
    fn load(
        &self,
        name: &str,
        bytes: &[u8],
        options: GuestOptions,
    ) -> impl Future<Output = Result<GuestInfo, GuestLoadError>> + Send;
}

/// How long a file must be quiet before it is (re)loaded.
const SETTLE: Duration = Duration::from_millis(200);

/// A watched guests directory; stops watching when dropped.
#[derive(Debug)]
pub struct GuestsDir {
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for GuestsDir {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What loading one file did.
pub type LoadOutcome = (String, Result<GuestInfo, GuestLoadError>);

impl GuestsDir {
    /// Loads every `*.wasm` in `dir` through `host` (the outcome of each, in name order),
    /// then watches the directory (see `GuestsDir::watch`).
    pub(crate) async fn start<L: Loader>(
        host: L,
        dir: PathBuf,
        options: BTreeMap<String, GuestOptions>,
    ) -> Result<(Self, Vec<LoadOutcome>), notify::Error> {
        let mut loaded = Vec::new();
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).map_err(notify::Error::io)? {
            let path = entry.map_err(notify::Error::io)?.path();
            if let Some(name) = guest_name(&path) {
                names.insert((name, path));
            }
        }
        for (name, path) in names {
            let outcome = match crate::guest::read_file(&name, &path) {
                Ok(bytes) => load(&host, &name, &bytes, &options).await,
                Err(e) => Err(e),
            };
            loaded.push((name, outcome));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && (event.kind.is_create() || event.kind.is_modify())
                {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let task = tokio::spawn(reload(host, rx, options));
        Ok((
            Self {
                _watcher: watcher,
                task,
            },
            loaded,
        ))
    }
}

/// `NAME` for a `NAME.wasm` file whose name is a valid guest name.
fn guest_name(path: &Path) -> Option<String> {
    if path.extension()? != "wasm" {
        return None;
    }
    let name = path.file_stem()?.to_str()?;
    crate::id::validate_guest_name(name).ok()?;
    Some(name.to_string())
}

/// Loads `bytes` as guest `name`, with its configured options if it is a first load.
async fn load<L: Loader>(
    host: &L,
    name: &str,
    bytes: &[u8],
    options: &BTreeMap<String, GuestOptions>,
) -> Result<GuestInfo, GuestLoadError> {
    let options = options.get(name).cloned().unwrap_or_default();
    host.load(name, bytes, options).await
}

/// The watcher's task: collects changed paths until they settle, then reloads each.
async fn reload<L: Loader>(
    host: L,
    mut changes: mpsc::UnboundedReceiver<PathBuf>,
    options: BTreeMap<String, GuestOptions>,
) {
    while let Some(first) = changes.recv().await {
        let mut pending = BTreeSet::from([first]);
        // Wait until no change arrived for SETTLE.
        while let Ok(Some(path)) = tokio::time::timeout(SETTLE, changes.recv()).await {
            pending.insert(path);
        }
        for path in pending {
            let Some(name) = guest_name(&path) else {
                continue;
            };
            let Ok(bytes) = std::fs::read(&path) else {
                continue; // removed or renamed away meanwhile
            };
            if host.current(&name) == Some(content_hash(&bytes)) {
                continue;
            }
            match load(&host, &name, &bytes, &options).await {
                Ok(info) => {
                    tracing::info!(target: "sessionhost::guest", guest = %name, version = %info.version, file = %path.display(), "guest reloaded from its file")
                }
                Err(error) => {
                    tracing::error!(target: "sessionhost::guest", guest = %name, file = %path.display(), %error, "guest file rejected; the current version keeps serving")
                }
            }
        }
    }
}
