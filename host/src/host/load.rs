//! Loading guests through the facade: [`Host::load_guest`] (from a [`GuestSource`], with
//! [`LoadOptions`]), [`Host::check_guest`], and the guests directory's loader.
//!
//! A load compiles in a task of its own (tracked by the session environment, so a shutdown
//! waits for it): once its compilation has started it runs to the end and takes effect even
//! if its caller stops waiting; one still waiting for a compilation slot when its caller
//! leaves, or when a shutdown begins, does not start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::GuestOptions;
use crate::error::GuestLoadError;
use crate::guest::watch::{GuestsDir, LoadOutcome, Loader};
use crate::guest::{self};
use crate::host::Host;
use crate::info::GuestInfo;

/// Where a guest's component comes from ([`Host::load_guest`]): bytes, or a file.
#[derive(Clone, Copy, Debug)]
pub enum GuestSource<'a> {
    /// The component's bytes.
    Bytes(&'a [u8]),
    /// A `.wasm` file to read.
    File(&'a Path),
}

impl<'a> GuestSource<'a> {
    /// The component in the file at `path`.
    pub fn file(path: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        Self::File(path.as_ref())
    }

    /// The bytes (read from the file, if it is one); the error names the guest and the file.
    fn read(self, name: &str) -> Result<std::borrow::Cow<'a, [u8]>, GuestLoadError> {
        match self {
            Self::Bytes(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            Self::File(path) => guest::read_file(name, path).map(std::borrow::Cow::Owned),
        }
    }
}

impl<'a> From<&'a [u8]> for GuestSource<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for GuestSource<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for GuestSource<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a> From<&'a Path> for GuestSource<'a> {
    fn from(path: &'a Path) -> Self {
        Self::File(path)
    }
}

impl<'a> From<&'a PathBuf> for GuestSource<'a> {
    fn from(path: &'a PathBuf) -> Self {
        Self::File(path)
    }
}

/// How [`Host::load_guest`] loads: the guest's options (`None`: those of the version it
/// replaces, or the defaults) and a version label.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Supervision, layout and upgrade options; `None` keeps the current version's.
    pub options: Option<GuestOptions>,
    /// A label shown next to the content hash (e.g. `"1.4.0"`).
    pub label: Option<String>,
}

impl LoadOptions {
    /// Loads with a version label (the options of the version it replaces).
    pub fn label(label: impl Into<String>) -> Self {
        Self {
            options: None,
            label: Some(label.into()),
        }
    }
}

impl From<GuestOptions> for LoadOptions {
    fn from(options: GuestOptions) -> Self {
        Self {
            options: Some(options),
            label: None,
        }
    }
}

impl Host {
    /// What compiling a guest needs of this host.
    fn compiler(&self) -> guest::Compiler<'_> {
        guest::Compiler {
            runtime: &self.runtime,
            cache: &self.compiled,
            config: &self.env.config,
        }
    }

    /// Compiles, validates and registers a version of guest `name` from `source`. Validated
    /// first: a component that does not load leaves the current version (if any) serving,
    /// and the error says why. New sessions get this version, labelled `load.label` (e.g.
    /// `"1.4.0"`) next to its content hash. When a version was loaded under `name` already,
    /// its running sessions follow the guest's [`UpgradePolicy`](crate::UpgradePolicy):
    /// `keep` (they stay on their version until they end) or `migrate` (each moves at its
    /// next idle point, keeping its state; see [`SessionInfo::upgrade_error`](crate::SessionInfo::upgrade_error) when one
    /// cannot); an old version is unloaded when its last session has moved or ended. The
    /// guest's [`GuestOptions`] are `load.options`, or else those of the version it replaces
    /// (defaults for a new name).
    ///
    /// ```no_run
    /// # async fn demo(host: sessionhost::Host, upload: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
    /// use sessionhost::{GuestOptions, GuestSource, LoadOptions, RestartPolicy};
    /// host.load_guest("counter", GuestSource::file("counter.wasm"), LoadOptions::default()).await?;
    /// let options = GuestOptions { restart: RestartPolicy::Permanent, ..GuestOptions::default() };
    /// host.load_guest("editor", GuestSource::file("editor.wasm"), options).await?;
    /// host.load_guest("counter", &upload, LoadOptions::label("1.4.0")).await?; // a new version
    /// # Ok(()) }
    /// ```
    pub async fn load_guest(
        &self,
        name: &str,
        source: impl Into<GuestSource<'_>>,
        load: impl Into<LoadOptions>,
    ) -> Result<GuestInfo, GuestLoadError> {
        let bytes = source.into().read(name)?;
        let LoadOptions { options, label } = load.into();
        self.load(name, &bytes, label, options).await
    }

    /// Compiles, validates and registers a version of `name` (with `options`, or the
    /// current version's). A load, once its compilation has started, runs to the end and
    /// takes effect even if the caller stops waiting (an HTTP upload whose client gave up,
    /// say): compile work is never both paid for and thrown away. One that is still waiting
    /// for a compilation slot when its caller leaves is not started.
    async fn load(
        &self,
        name: &str,
        bytes: &[u8],
        label: Option<String>,
        options: Option<GuestOptions>,
    ) -> Result<GuestInfo, GuestLoadError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let (host, owned_name, bytes) = (self.clone(), name.to_string(), bytes.to_vec());
        self.env.tasks.spawn(async move {
            let name = owned_name;
            let inner = &host.env;
            let replaces = inner.guests.get(&name).is_some();
            let options = options.unwrap_or_else(|| {
                inner
                    .guests
                    .get(&name)
                    .map(|current| current.options.clone())
                    .unwrap_or_default()
            });
            // Not started once nobody waits for it or the host shuts down.
            let wanted = || !done.is_closed() && !inner.is_shutting_down();
            let loaded =
                guest::compile(host.compiler(), &name, &bytes, label, options, &wanted).await;
            let loaded = loaded.and_then(|guest| {
                if inner.is_shutting_down() {
                    return Err(GuestLoadError {
                        name: name.clone(),
                        reason: "the host is shutting down".into(),
                    });
                }
                let guest = Arc::new(guest);
                inner.guests.insert(Arc::clone(&guest));
                if replaces {
                    tracing::info!(target: "sessionhost::guest", guest = %name, version = %guest.version, policy = ?guest.options.upgrade, "guest upgraded: new sessions get this version");
                    if guest.options.upgrade == crate::UpgradePolicy::Migrate {
                        crate::session::upgrade::migrate_all(inner, &guest);
                    }
                }
                Ok(guest.info())
            });
            if let Err(Ok(info)) = done.send(loaded) {
                tracing::info!(target: "sessionhost::guest", guest = %name, version = %info.version, "guest loaded after its requester stopped waiting");
            }
        });
        result.await.unwrap_or_else(|_| {
            Err(GuestLoadError {
                name: name.to_string(),
                reason: "the load did not finish (the host is shutting down)".into(),
            })
        })
    }

    /// Validates a component without registering it: the same checks as loading.
    pub async fn check_guest(
        &self,
        name: &str,
        source: impl Into<GuestSource<'_>>,
    ) -> Result<GuestInfo, GuestLoadError> {
        let bytes = source.into().read(name)?;
        let bytes = &bytes[..];
        Ok(guest::compile(
            self.compiler(),
            name,
            bytes,
            None,
            GuestOptions::default(),
            &|| true,
        )
        .await?
        .info())
    }
}

impl GuestsDir {
    /// Loads every `*.wasm` in `dir` into `host` (the outcome of each, in name order), then
    /// watches the directory. A guest loaded for the first time gets its entry in `options`
    /// (defaults otherwise); a new version keeps the options of the one it replaces.
    pub async fn watch(
        host: Host,
        dir: impl Into<PathBuf>,
        options: BTreeMap<String, GuestOptions>,
    ) -> Result<(Self, Vec<LoadOutcome>), notify::Error> {
        Self::start(host, dir.into(), options).await
    }
}

impl Loader for Host {
    fn current(&self, name: &str) -> Option<String> {
        self.env.guests.get(name).map(|g| g.version.hash.clone())
    }

    async fn load(
        &self,
        name: &str,
        bytes: &[u8],
        options: GuestOptions,
    ) -> Result<GuestInfo, GuestLoadError> {
        let options = self.env.guests.get(name).is_none().then_some(options);
        self.load(name, bytes, None, options).await
    }
}
