//! Hot-load from a directory: every `NAME.wasm` in it is guest `NAME`, loaded at start and
//! again whenever the file is created or replaced.
//!
//! [`GuestsDir::watch`] loads what the directory holds, then a `notify` watcher (inotify on
//! Linux) reports changes to a task that waits for writes to settle (a copy arrives in
//! several writes), reads the file and calls [`Host::upgrade_guest`]: the component is
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

use crate::error::GuestLoadError;
use crate::guest::content_hash;
use crate::{GuestInfo, GuestOptions, Host};

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
    /// Loads every `*.wasm` in `dir` into `host` (the outcome of each, in name order), then
    /// watches the directory. A guest loaded for the first time gets its entry in `options`
    /// (defaults otherwise); a new version keeps the options of the one it replaces.
    pub async fn watch(
        host: Host,
        dir: impl Into<PathBuf>,
        options: BTreeMap<String, GuestOptions>,
    ) -> Result<(Self, Vec<LoadOutcome>), notify::Error> {
        let dir = dir.into();
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

/// Loads `bytes` as guest `name`: a new version of a loaded guest, or a first load with its
/// configured options.
async fn load(
    host: &Host,
    name: &str,
    bytes: &[u8],
    options: &BTreeMap<String, GuestOptions>,
) -> Result<GuestInfo, GuestLoadError> {
    if host.guests().iter().any(|g| g.name == name) {
        host.upgrade_guest(name, bytes, None).await
    } else {
        let options = options.get(name).cloned().unwrap_or_default();
        host.load_guest_with(name, bytes, options).await
    }
}

/// The watcher's task: collects changed paths until they settle, then reloads each.
async fn reload(
    host: Host,
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
            let current = host.guests().into_iter().find(|g| g.name == name);
            if current.is_some_and(|g| g.version.hash == content_hash(&bytes)) {
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
