//! [`Host`]: the public face of the library.
//!
//! A `Host` owns the engine, the loaded guests and the live sessions, and offers the
//! Phoenix.SessionProcess vocabulary on top: [`start`](Host::start), [`call`](Host::call),
//! [`cast`](Host::cast), [`terminate`](Host::terminate), [`is_started`](Host::is_started),
//! [`touch`](Host::touch), [`list`](Host::list), [`info`](Host::info), [`stats`](Host::stats).
//! It is cheap to clone (an `Arc`), `Send + Sync`, and meant to be shared by every request
//! handler. Its async methods must run on a multi-threaded tokio runtime.
//!
//! Each operation emits a `tracing` event on target `sessionhost::session`, named by its
//! `event` field: `session.start`, `session.stop` (info), `session.call`, `session.cast` (debug),
//! with the session ID, guest, duration and outcome.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::{GuestOptions, HostConfig};
use crate::error::{GuestLoadError, HostError, SessionError};
use crate::events::SessionEvents;
use crate::guest::watch::{GuestsDir, LoadOutcome, Loader};
use crate::guest::{self, CompileCache};
use crate::id::{self, SessionId};
use crate::info::{
    GuestInfo, HibernateOutcome, HibernatedInfo, HostStats, SessionInfo, SessionStatus,
};
use crate::metrics::MetricsSnapshot;
use crate::reason::StopReason;
use crate::runtime::Runtime;
use crate::session::checkpoint::CheckpointWriter;
use crate::session::env::SessionEnv;
use crate::session::lifecycle::{StartExtras, StartOptions, start_session};
use crate::session::resolver;
use crate::session::state::{Ending, Session};
use crate::store::{MemoryStore, SnapshotStore};

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

/// What [`Host::shutdown`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Sessions ended with reason `shutdown`.
    pub ended: usize,
    /// Of those, sessions whose snapshot was stored in a durable store (they come back on
    /// their next message after a restart with the same store).
    pub saved: usize,
}

/// Runs one WebAssembly component instance per session. See the module docs.
#[derive(Clone)]
pub struct Host {
    /// What sessions reach: config, registry, counters, store, timers...
    env: Arc<SessionEnv>,
    /// The engines and linkers guests are compiled for.
    runtime: Arc<Runtime>,
    /// Compiled components, shared by content; bounds the compilations at once.
    compiled: Arc<CompileCache>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("sessions", &self.env.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Builds a host: validates the configuration, creates the engine and its pools, and
    /// starts the epoch clock. No guest is loaded yet.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        Self::with_store(config, Arc::new(MemoryStore::new()))
    }

    /// Builds a host that keeps hibernated sessions in `store` (for example a
    /// [`PersistentStore`](crate::store::PersistentStore), so they survive a restart).
    pub fn with_store(
        config: HostConfig,
        store: Arc<dyn SnapshotStore>,
    ) -> Result<Self, HostError> {
        config.validate()?;
        let runtime = Runtime::new(&config)?;
        let checkpoints = if store.durable() {
            // Sessions that were live when the process died come back as hibernated ones,
            // from their last checkpoint, on their next message.
            match store.recover_checkpoints() {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    target: "sessionhost::session",
                    sessions = n,
                    "recovered sessions from their last checkpoint (the previous run did not shut down cleanly)"
                ),
                Err(error) => tracing::error!(
                    target: "sessionhost::session",
                    %error,
                    "the checkpoints of the previous run could not be recovered"
                ),
            }
            let writer = CheckpointWriter::start(
                Arc::clone(&store),
                config.checkpoint_durability,
                config.checkpoint_group_commit,
            )
            .map_err(|e| HostError::Engine(wasmtime::Error::new(e)))?;
            Some(writer)
        } else {
            None
        };
        let compiled = CompileCache::new(config.max_concurrent_compiles);
        let env = Arc::new(SessionEnv::new(config, store, checkpoints));
        env.watch_stored();
        Ok(Self {
            env,
            runtime: Arc::new(runtime),
            compiled: Arc::new(compiled),
        })
    }

    /// What compiling a guest needs of this host.
    fn compiler(&self) -> guest::Compiler<'_> {
        guest::Compiler {
            runtime: &self.runtime,
            cache: &self.compiled,
            config: &self.env.config,
        }
    }

    /// The configuration this host runs with.
    pub fn config(&self) -> &HostConfig {
        &self.env.config
    }

    /// Compiles, validates and registers a version of guest `name` from `source`. Validated
    /// first: a component that does not load leaves the current version (if any) serving,
    /// and the error says why. New sessions get this version, labelled `load.label` (e.g.
    /// `"1.4.0"`) next to its content hash. When a version was loaded under `name` already,
    /// its running sessions follow the guest's [`UpgradePolicy`](crate::UpgradePolicy):
    /// `keep` (they stay on their version until they end) or `migrate` (each moves at its
    /// next idle point, keeping its state; see [`SessionInfo::upgrade_error`] when one
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

    /// Live sessions per guest name and version hash (for operators: which versions are
    /// still in use).
    pub fn sessions_by_version(&self) -> BTreeMap<(String, String), usize> {
        let mut counts = BTreeMap::new();
        for session in self.env.registry.sessions() {
            let key = (
                session.guest.name.to_string(),
                session.guest.version.hash.clone(),
            );
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
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

    /// The loaded guests, by name.
    pub fn guests(&self) -> Vec<GuestInfo> {
        self.env.guests.list()
    }

    /// Starts a session: instantiates its guest and runs `init` (or `restore`). Returns the
    /// session's ID once it is registered and ready for messages.
    ///
    /// Fails with `invalid_session_id`, `already_started`, `guest_not_found`,
    /// `session_limit_reached`, `rate_limited`, `message_too_large` (args), `guest_error`
    /// (init returned an error, or the guest stopped itself during init), `guest_trap` / `timeout` (init crashed or ran too long) or
    /// `shutting_down`. A failed start leaves nothing behind.
    pub async fn start(&self, options: StartOptions) -> Result<SessionId, SessionError> {
        let started = Instant::now();
        let guest_name = options.guest.clone();
        let result = self.start_inner(options).await;
        let inner = &self.env;
        match &result {
            Ok(id) => {
                inner.counters.started.add(1);
                tracing::debug!(
                    target: "sessionhost::session",
                    event = "session.start",
                    session_id = %id,
                    guest = guest_name.as_deref().or(inner.config.default_guest.as_deref()),
                    duration_us = started.elapsed().as_micros() as u64,
                    outcome = "ok",
                );
            }
            Err(e) => {
                if matches!(
                    e,
                    SessionError::SessionLimitReached { .. } | SessionError::RateLimited { .. }
                ) {
                    inner.counters.rejected.add(1);
                }
                tracing::debug!(
                    target: "sessionhost::session",
                    event = "session.start",
                    guest = guest_name.as_deref().or(inner.config.default_guest.as_deref()),
                    duration_us = started.elapsed().as_micros() as u64,
                    outcome = e.kind(),
                    error = %e,
                );
            }
        }
        result
    }

    async fn start_inner(&self, options: StartOptions) -> Result<SessionId, SessionError> {
        let session = start_session(&self.env, options, StartExtras::default()).await?;
        Ok(session.id())
    }

    /// Sends `request` to the session's `handle-call` and waits for the reply.
    ///
    /// `timeout` (default `call_timeout`) covers the wait in the mailbox and the guest's
    /// execution. Expiring in the mailbox withdraws the message (it is never delivered);
    /// expiring while the guest runs interrupts it and ends the session. Either way the
    /// caller gets `timeout`.
    pub async fn call(
        &self,
        id: &str,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, SessionError> {
        self.call_at(id, None, request, timeout).await.1
    }

    /// [`call`](Self::call), trying `first` (an object found earlier for `id`) before a
    /// lookup; also returns the object the call ran on.
    async fn call_at(
        &self,
        id: &str,
        first: Option<Arc<Session>>,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> (Option<Arc<Session>>, Result<Vec<u8>, SessionError>) {
        let inner = &self.env;
        if let Err(e) = inner.check_size(request.len()) {
            return (None, Err(e));
        }
        let timeout = timeout.unwrap_or(inner.config.call_timeout);
        let started = Instant::now();
        let found = resolver::on_session(inner, id, first, |session| async move {
            session.call(inner, request, timeout).await
        })
        .await;
        let (session, result) = match found {
            Ok(found) => found,
            Err(e) => return (None, Err(e)),
        };
        inner
            .counters
            .record_call(result.as_ref().map(drop), started.elapsed());
        tracing::debug!(
            target: "sessionhost::session",
            event = "session.call",
            session_id = %session.id(),
            guest = %session.guest.name,
            duration_us = started.elapsed().as_micros() as u64,
            outcome = result.as_ref().map_or_else(|e| e.kind(), |_| "ok"),
        );
        (Some(session), result)
    }

    /// Queues `message` for the session's `handle-cast` and returns without waiting for it.
    /// Casts from one sender are handled in the order sent, and before any later call from
    /// that sender. A full mailbox is an error (`mailbox_full`), never a silent drop.
    pub async fn cast(&self, id: &str, message: &[u8]) -> Result<(), SessionError> {
        self.cast_at(id, None, message).await.1
    }

    /// [`cast`](Self::cast), trying `first` before a lookup (see [`Self::call_at`]).
    async fn cast_at(
        &self,
        id: &str,
        first: Option<Arc<Session>>,
        message: &[u8],
    ) -> (Option<Arc<Session>>, Result<(), SessionError>) {
        let inner = &self.env;
        if let Err(e) = inner.check_size(message.len()) {
            return (None, Err(e));
        }
        let found = resolver::on_session(inner, id, first, |session| {
            std::future::ready(session.enqueue_cast(inner, message))
        })
        .await;
        let (session, result) = match found {
            Ok(found) => found,
            Err(e) => return (None, Err(e)),
        };
        if result.is_ok() {
            inner.counters.casts.add(1);
        }
        tracing::debug!(
            target: "sessionhost::session",
            event = "session.cast",
            session_id = %session.id(),
            guest = %session.guest.name,
            outcome = result.as_ref().map_or_else(|e| e.kind(), |_| "queued"),
        );
        (Some(session), result)
    }

    /// Ends the session with reason `normal`, at once: it jumps the mailbox. From this call
    /// on the session refuses new messages; calls waiting for it get `session_not_found`;
    /// casts still queued are discarded (counted as the stop's lost messages and in
    /// `sessionhost_messages_discarded_total`). The message running now finishes, then the
    /// guest's `terminate` runs, then the session is gone. The ending completes even if the
    /// returned future is dropped.
    pub async fn terminate(&self, id: &str) -> Result<(), SessionError> {
        self.terminate_with(id, StopReason::Normal).await
    }

    /// Ends the session with the given reason (see [`terminate`](Self::terminate)). A
    /// [`StopReason::Killed`] also interrupts the message running now (at the next epoch
    /// tick; its caller gets `session_not_found`), so a kill takes effect within a tick
    /// whatever the guest is doing — except a guest blocked in a WASI call, which is
    /// stopped at its deadline.
    pub async fn terminate_with(&self, id: &str, reason: StopReason) -> Result<(), SessionError> {
        self.terminate_at(id, None, reason).await
    }

    async fn terminate_at(
        &self,
        id: &str,
        first: Option<Arc<Session>>,
        reason: StopReason,
    ) -> Result<(), SessionError> {
        let inner = &self.env;
        let ending = if matches!(reason, StopReason::Killed(_)) {
            Ending::Kill
        } else {
            Ending::Now
        };
        resolver::on_session(inner, id, first, |session| {
            let reason = reason.clone();
            async move { session.terminate(inner, reason, ending).await }
        })
        .await?
        .1
    }

    /// Ends the session with reason `killed: why` (see [`terminate_with`](Self::terminate_with)).
    pub async fn kill(&self, id: &str, why: &str) -> Result<(), SessionError> {
        self.terminate_with(id, StopReason::Killed(why.into()))
            .await
    }

    /// Gives the session a new random ID and returns it: same live instance and state, and
    /// the old ID stops working at once. Call it when a user logs in, so an ID planted before
    /// login (session fixation) is worthless afterwards.
    pub async fn rotate_id(&self, id: &str) -> Result<SessionId, SessionError> {
        self.rotate_id_at(id, None).await
    }

    async fn rotate_id_at(
        &self,
        id: &str,
        first: Option<Arc<Session>>,
    ) -> Result<SessionId, SessionError> {
        let inner = &self.env;
        resolver::on_session(inner, id, first, |session| async move {
            session.rotate_id(inner).await
        })
        .await?
        .1
    }

    /// Hibernates the session now, whatever its idle time (see the README's "Hibernation"),
    /// and says what happened: it may stay live (subscribers or pending messages, a guest
    /// that does not support snapshots or opted out, a store that refused the record).
    pub async fn hibernate(&self, id: &str) -> Result<HibernateOutcome, SessionError> {
        let Some(session) = self.env.registry.get_live(id) else {
            return if self.env.is_hibernated(id) {
                Ok(HibernateOutcome::AlreadyHibernated)
            } else {
                Err(id::not_found(id))
            };
        };
        Ok(crate::session::hibernate::hibernate_now(&session, &self.env).await)
    }

    /// Whether a session has this ID: live, or hibernated (its next message wakes it).
    pub fn is_started(&self, id: &str) -> bool {
        resolver::exists(&self.env, id)
    }

    /// Wakes the session if it is hibernated (messages do this by themselves; `subscribe`
    /// and `info` need a live session).
    pub async fn wake(&self, id: &str) -> Result<(), SessionError> {
        resolver::resolve(&self.env, id).await.map(drop)
    }

    /// Marks the session active now, postponing its idle expiry (a hibernated session's
    /// stored activity is updated without waking it).
    pub fn touch(&self, id: &str) -> Result<(), SessionError> {
        resolver::touch(&self.env, id)
    }

    /// IDs of the live sessions, in no particular order.
    pub fn list(&self) -> Vec<SessionId> {
        self.env.registry.ids()
    }

    /// A snapshot of one session's figures.
    pub fn info(&self, id: &str) -> Result<SessionInfo, SessionError> {
        Ok(self.env.live_session(id)?.info(&self.env))
    }

    /// What the snapshot store holds for a hibernated session, without waking it; `None`
    /// when no session with this ID is hibernated (it may be live: see [`Host::info`]).
    pub fn hibernated_info(&self, id: &str) -> Result<Option<HibernatedInfo>, SessionError> {
        let id = SessionId::parse(id)?;
        let record = crate::session::hibernate::blocking(|| self.env.store.get(id.as_str()))
            .map_err(|e| self.env.unreadable(id.as_str(), e))?;
        let at = |ms: u64| std::time::UNIX_EPOCH + Duration::from_millis(ms);
        Ok(record.map(|r| HibernatedInfo {
            id,
            status: SessionStatus::Hibernated,
            guest: r.guest,
            version_hash: r.version,
            hibernated_at: at(r.saved_at_ms),
            last_active_at: at(r.last_active_ms),
            snapshot_bytes: r.state.len(),
            timers: r.timers.len(),
        }))
    }

    /// Host-wide figures.
    pub fn stats(&self) -> HostStats {
        let c = &self.env.counters;
        HostStats {
            sessions: self.env.live.load(Ordering::Relaxed),
            hibernated: self.env.store.len().unwrap_or(0),
            max_sessions: self.env.config.max_sessions,
            started_total: c.started.get(),
            ended_total: c.ended.get(),
            rejected_total: c.rejected.get(),
            messages_total: c.messages.get(),
            traps_total: c.traps.get(),
            mailbox_full_total: c.mailbox_full.get(),
            guests: self.env.guests.list().len(),
            instances: self.runtime.shared.instances(),
            subscribers: self.env.registry.sum(Session::subscriber_count),
            blocked: self.runtime.shared.blocking.in_use(),
            compiled_components: self.compiled.len(),
            compiling: self.compiled.running(),
        }
    }

    /// Counters, the call-duration histogram and per-guest figures, for an exporter such as
    /// the HTTP server's `/metrics`. Walks the live sessions for the per-guest figures.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut by_guest = BTreeMap::<String, (u64, u64)>::new();
        for session in self.env.registry.sessions() {
            let info = session.info(&self.env);
            let entry = by_guest.entry(info.guest).or_default();
            entry.0 += 1;
            entry.1 += info.memory_bytes as u64;
        }
        MetricsSnapshot {
            counters: self.env.counters.snapshot(),
            sessions_by_guest: by_guest.iter().map(|(g, (n, _))| (g.clone(), *n)).collect(),
            memory_bytes_by_guest: by_guest.into_iter().map(|(g, (_, m))| (g, m)).collect(),
        }
    }

    /// Whether the host accepts new sessions (it is not shutting down).
    pub fn is_accepting(&self) -> bool {
        !self.env.is_shutting_down()
    }

    /// Subscribes to the session's events: what its guest publishes, then a final
    /// `Terminated` event when it ends.
    pub fn subscribe(&self, id: &str) -> Result<SessionEvents, SessionError> {
        self.env.live_session(id)?.subscribe(&self.env.events)
    }

    /// Asks the session's guest for a snapshot of its state (`None` if the guest does not
    /// support snapshots). Queued casts are delivered first. Start a session from it with
    /// [`StartOptions::restore`].
    pub async fn snapshot(&self, id: &str) -> Result<Option<Vec<u8>>, SessionError> {
        let inner = &self.env;
        resolver::on_session(inner, id, None, |session| async move {
            session.snapshot(inner).await
        })
        .await?
        .1
    }

    /// Stops accepting new sessions and ends every live one with reason `shutdown` (their
    /// queued casts are handled and their `terminate` runs first), then waits for every task
    /// the sessions left running (drainers, endings, wakes, migrations, expiry work) and for
    /// guest loads already compiling (loads not yet started do not start). Calls made after
    /// this still reach sessions that have not ended yet.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.env.stop_accepting();
        let mut tasks = tokio::task::JoinSet::new();
        let durable = self.env.store.durable();
        for session in self.env.registry.sessions() {
            let inner = Arc::clone(&self.env);
            tasks.spawn(async move {
                if durable {
                    let saved = crate::session::hibernate::save_and_end(&session, &inner).await;
                    (true, saved)
                } else {
                    let ended = session
                        .terminate(&inner, StopReason::Shutdown, Ending::Drain)
                        .await;
                    (ended.is_ok(), false)
                }
            });
        }
        let mut report = ShutdownReport::default();
        while let Some(result) = tasks.join_next().await {
            if let Ok((ended, saved)) = result {
                report.ended += usize::from(ended);
                report.saved += usize::from(saved);
            }
        }
        // Then whatever the sessions left running: drainers, endings, wakes, migrations,
        // expiry work and guest loads already compiling.
        self.env.tasks.close();
        self.env.tasks.wait().await;
        if let Some(writer) = &self.env.checkpoints {
            let _ = writer.flush().await;
        }
        if durable && let Err(error) = self.env.store.flush() {
            tracing::error!(target: "sessionhost::session", %error, "flushing the snapshot store failed");
        }
        report
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

/// One session, as [`Host::find`] found it: its operations do not look the ID up again, and
/// follow the session to its successor when it hibernates or moves to a new guest version
/// (see the resolver). Cheap to clone; meant to live for one request.
///
/// ```no_run
/// # async fn demo(host: sessionhost::Host, id: &str) -> Result<(), sessionhost::SessionError> {
/// if let Some(session) = host.find(id) {
///     let reply = session.call(br#"{"op":"get"}"#, None).await?;
///     session.touch()?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionHandle {
    host: Host,
    id: SessionId,
    /// The object last found serving this ID; `None` while the session is hibernated (the
    /// first operation that needs it wakes it).
    current: Arc<parking_lot::Mutex<Option<Arc<Session>>>>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// The session with this ID, if there is one — live, or hibernated (not woken by this:
    /// the first operation that needs it wakes it).
    pub fn find(&self, id: &str) -> Option<SessionHandle> {
        let live = self.env.registry.get_live(id);
        if live.is_none() && !resolver::exists(&self.env, id) {
            return None;
        }
        Some(SessionHandle {
            host: self.clone(),
            id: SessionId::parse(id).ok()?,
            current: Arc::new(parking_lot::Mutex::new(live)),
        })
    }
}

impl SessionHandle {
    /// The session's ID (its new one after [`rotate_id`](Self::rotate_id)).
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    fn current(&self) -> Option<Arc<Session>> {
        self.current.lock().clone()
    }

    fn remember(&self, session: Option<Arc<Session>>) {
        if let Some(session) = session {
            *self.current.lock() = Some(session);
        }
    }

    /// [`Host::call`] on this session.
    pub async fn call(
        &self,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, SessionError> {
        let (session, result) = self
            .host
            .call_at(&self.id, self.current(), request, timeout)
            .await;
        self.remember(session);
        result
    }

    /// [`Host::cast`] on this session.
    pub async fn cast(&self, message: &[u8]) -> Result<(), SessionError> {
        let (session, result) = self.host.cast_at(&self.id, self.current(), message).await;
        self.remember(session);
        result
    }

    /// [`Host::info`] on this session (not woken: `session_not_found` while it hibernates).
    pub fn info(&self) -> Result<SessionInfo, SessionError> {
        match self.current() {
            Some(session) if session.is_live() => Ok(session.info(&self.host.env)),
            _ => self.host.info(&self.id),
        }
    }

    /// [`Host::touch`] on this session: never wakes it.
    pub fn touch(&self) -> Result<(), SessionError> {
        if let Some(session) = self.current()
            && session.is_live()
            && session.touch_unless_retired(&self.host.env)
        {
            return Ok(());
        }
        resolver::touch(&self.host.env, &self.id)
    }

    /// [`Host::terminate_with`] on this session.
    pub async fn terminate_with(&self, reason: StopReason) -> Result<(), SessionError> {
        self.host
            .terminate_at(&self.id, self.current(), reason)
            .await
    }

    /// [`Host::rotate_id`] on this session; the handle follows it to its new ID.
    pub async fn rotate_id(&mut self) -> Result<&SessionId, SessionError> {
        let new = self.host.rotate_id_at(&self.id, self.current()).await?;
        self.id = new;
        Ok(&self.id)
    }

    /// [`Host::subscribe`] on this session, woken first if it is hibernated (subscribers
    /// watch a live instance, and a session with subscribers does not hibernate).
    pub async fn subscribe(&self) -> Result<SessionEvents, SessionError> {
        let env = &self.host.env;
        let (session, result) = resolver::on_session(env, &self.id, self.current(), |session| {
            std::future::ready(session.subscribe(&env.events))
        })
        .await?;
        self.remember(Some(session));
        result
    }
}
