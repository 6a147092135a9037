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

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::config::GuestLayout;
use crate::config::GuestOptions;
use crate::config::HostConfig;
use crate::error::{GuestLoadError, HostError, SessionError};
use crate::events::SessionEvents;
use crate::guest::{self, GuestRegistry};
use crate::id::{self, SessionId};
use crate::info::{GuestInfo, HibernatedInfo, HostStats, SessionInfo, SessionStatus};
use crate::metrics::{Counters, MetricsSnapshot};
use crate::ratelimit::RateLimiter;
use crate::reason::StopReason;
use crate::runtime::bindings::SessionGuest;
use crate::runtime::ctx::SessionCtx;
use crate::runtime::engine::{EpochTicker, build_engine, build_large_engine};
use crate::runtime::instance::run_export;
use crate::session::checkpoint::CheckpointWriter;
use crate::session::reaper::Reaper;
use crate::session::registry::SessionRegistry;
use crate::session::state::{Ending, Session, millis};
use crate::session::supervisor::{self, Recovery};
use crate::session::timers::TimerService;
use crate::store::{MemoryStore, SnapshotStore, TimerRecord};
use crate::time::HostClock;

/// How to start a session ([`Host::start`]).
///
/// ```
/// let options = sessionhost::StartOptions::guest("counter")
///     .id("room-42")
///     .args(br#"{"start": 10}"#);
/// assert_eq!(options.guest.as_deref(), Some("counter"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// The session's ID; generated (128 random bits) when `None`.
    pub id: Option<String>,
    /// The guest to run; the configured `default_guest` when `None`.
    pub guest: Option<String>,
    /// Bytes passed to the guest's `init` (empty by default).
    pub args: Vec<u8>,
    /// Rebuild the session from a snapshot (the guest's `restore`) instead of calling `init`.
    pub restore: Option<RestoreFrom>,
}

/// A snapshot to start a session from ([`StartOptions::restore`]).
#[derive(Clone, Debug)]
pub struct RestoreFrom {
    /// Bytes returned by the guest's `snapshot`.
    pub state: Vec<u8>,
    /// The guest version that took the snapshot (passed to `restore` as `from-version`).
    pub from_version: String,
}

impl StartOptions {
    /// Options to start `guest`.
    pub fn guest(name: impl Into<String>) -> Self {
        Self {
            guest: Some(name.into()),
            ..Self::default()
        }
    }

    /// Sets the session ID instead of generating one.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the `init` arguments.
    pub fn args(mut self, args: impl Into<Vec<u8>>) -> Self {
        self.args = args.into();
        self
    }

    /// Starts from a snapshot instead of `init`.
    pub fn restore(mut self, state: impl Into<Vec<u8>>, from_version: impl Into<String>) -> Self {
        self.restore = Some(RestoreFrom {
            state: state.into(),
            from_version: from_version.into(),
        });
        self
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
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("sessions", &self.inner.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// State shared by the host, its sessions' background work, and the host imports.
pub(crate) struct HostInner {
    pub(crate) config: HostConfig,
    /// The engine of dense guests (pool slots, see `engine.rs`).
    engine: Engine,
    /// WASI + `sessionhost:session/host` for dense guests, built once.
    linker: Linker<SessionCtx>,
    /// The engine of large guests (on-demand, growable memories, see `layout.rs`).
    large_engine: Engine,
    /// The same imports, for large guests.
    large_linker: Linker<SessionCtx>,
    pub(crate) guests: GuestRegistry,
    pub(crate) registry: SessionRegistry,
    pub(crate) clock: HostClock,
    pub(crate) counters: Counters,
    /// Every session's pending `send-after` timers.
    pub(crate) timers: TimerService,
    /// Every session's expiry deadline.
    pub(crate) reaper: Reaper,
    /// Hibernated sessions.
    pub(crate) store: Arc<dyn SnapshotStore>,
    /// Commits checkpoints to `store` when it is durable (see `checkpoint.rs`).
    pub(crate) checkpoints: Option<CheckpointWriter>,
    /// Bounds the expired hibernated sessions woken at once for their `terminate`.
    pub(crate) expiry_wakes: tokio::sync::Semaphore,
    /// Messages blocked in a WASI call now, within `max_blocked_messages` (see `offload.rs`).
    pub(crate) blocking: crate::runtime::offload::BlockingLimit,
    /// Compiled components, shared by content; bounds the compilations at once.
    pub(crate) compiled: guest::CompileCache,
    /// Live sessions, counted against `max_sessions`. Taken before a session is
    /// instantiated, released exactly once when it ends (or when its start fails).
    live: AtomicUsize,
    /// Component instances alive (one per live session, plus load-time test instances): a
    /// `Store` holds one pool slot until it is dropped. Kept by [`SessionCtx`]'s new and drop.
    pub(crate) instances: AtomicUsize,
    /// Bytes of every session's pending messages (see `session.rs`).
    pub(crate) pending_bytes: AtomicUsize,
    rate: Option<RateLimiter>,
    shutting_down: AtomicBool,
    max_message_bytes: usize,
    /// The subscribers' byte and count budgets, shared by every session's event hub.
    pub(crate) events: Arc<crate::events::Budget>,
    /// Dropped with the host: stops the epoch thread.
    _ticker: EpochTicker,
}

/// WASI and `sessionhost:session/host`, for guests compiled with `engine`.
fn guest_linker(engine: &Engine) -> Result<Linker<SessionCtx>, HostError> {
    let mut linker = Linker::new(engine);
    crate::runtime::wasi_link::add_to_linker(&mut linker).map_err(HostError::Engine)?;
    SessionGuest::add_to_linker::<SessionCtx, HasSelf<SessionCtx>>(&mut linker, |ctx| ctx)
        .map_err(HostError::Engine)?;
    Ok(linker)
}

impl HostInner {
    /// The engine and linker guests of `layout` are compiled and linked with.
    pub(crate) fn engine_for(&self, layout: GuestLayout) -> (&Engine, &Linker<SessionCtx>) {
        match layout {
            GuestLayout::Large => (&self.large_engine, &self.large_linker),
            GuestLayout::Dense | GuestLayout::Auto => (&self.engine, &self.linker),
        }
    }

    pub(crate) fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// The bytes of pending messages one session, and all together, may hold: the
    /// configured `mailbox_bytes` and `mailbox_bytes_total`, raised where needed so that one
    /// message of `max_message_bytes` always fits an empty mailbox.
    pub(crate) fn mailbox_bytes_bounds(&self) -> (usize, usize) {
        let bytes = |b: bytesize::ByteSize| usize::try_from(b.as_u64()).unwrap_or(usize::MAX);
        let session = bytes(self.config.mailbox_bytes).max(self.max_message_bytes);
        let host = bytes(self.config.mailbox_bytes_total).max(session);
        (session, host)
    }

    /// Gives back the `max_sessions` place of a hibernated session.
    pub(crate) fn release_hibernated(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.counters.hibernated.add(1);
    }

    /// Whether [`Host::shutdown`] has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Gives back the `max_sessions` place of an ended session.
    pub(crate) fn release_session(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.counters.ended.add(1);
    }

    fn check_size(&self, size: usize) -> Result<(), SessionError> {
        if size > self.max_message_bytes {
            return Err(SessionError::MessageTooLarge {
                size,
                max: self.max_message_bytes,
            });
        }
        Ok(())
    }

    fn session(&self, id: &str) -> Result<Arc<Session>, SessionError> {
        self.registry.get_live(id).ok_or_else(|| id::not_found(id))
    }
}

/// Holds a `max_sessions` place until the session is registered.
struct Reservation<'a> {
    live: &'a AtomicUsize,
    committed: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
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
        let engine = build_engine(&config)?;
        let large_engine = build_large_engine(&config)?;
        let linker = guest_linker(&engine)?;
        let large_linker = guest_linker(&large_engine)?;
        let ticker = EpochTicker::start(&[&engine, &large_engine], config.epoch_tick)
            .map_err(|e| HostError::Engine(wasmtime::Error::new(e)))?;
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
        let inner = HostInner {
            registry: SessionRegistry::new(config.max_sessions),
            rate: RateLimiter::new(config.rate_limit),
            max_message_bytes: usize::try_from(config.max_message_bytes.as_u64())
                .unwrap_or(usize::MAX),
            engine,
            linker,
            large_engine,
            large_linker,
            guests: GuestRegistry::default(),
            clock: HostClock::new(),
            counters: Counters::default(),
            timers: TimerService::new(),
            reaper: Reaper::new(),
            store,
            checkpoints,
            expiry_wakes: tokio::sync::Semaphore::new(crate::session::hibernate::EXPIRY_WAKES),
            blocking: crate::runtime::offload::BlockingLimit::new(config.max_blocked_messages),
            compiled: guest::CompileCache::new(config.max_concurrent_compiles),
            live: AtomicUsize::new(0),
            instances: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            events: crate::events::Budget::new(&config),
            _ticker: ticker,
            config,
        };
        let inner = Arc::new(inner);
        inner.watch_stored();
        Ok(Self { inner })
    }

    /// The configuration this host runs with.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// Compiles, validates and registers a guest under `name`. A guest already loaded under
    /// that name is replaced for new sessions; running sessions keep their version.
    pub async fn load_guest(&self, name: &str, bytes: &[u8]) -> Result<GuestInfo, GuestLoadError> {
        self.load_guest_with(name, bytes, GuestOptions::default())
            .await
    }

    /// Like [`load_guest`](Self::load_guest), with the guest's supervision options (restart
    /// policy, intensity, checkpoints).
    pub async fn load_guest_with(
        &self,
        name: &str,
        bytes: &[u8],
        options: GuestOptions,
    ) -> Result<GuestInfo, GuestLoadError> {
        self.load(name, bytes, None, Some(options)).await
    }

    /// Loads a new version of guest `name` while the host runs (hot-load): validated first —
    /// a component that does not validate leaves the current version serving and the error
    /// says why. New sessions get the new version, labelled `label` (e.g. `"1.4.0"`) next to
    /// its content hash. Running sessions follow the guest's
    /// [`UpgradePolicy`](crate::UpgradePolicy): `keep` (they stay on their version until they
    /// end) or `migrate` (each moves at its next idle point, keeping its state; see
    /// [`SessionInfo::upgrade_error`] when one cannot). An old version is unloaded when its
    /// last session has moved or ended. The guest keeps its [`GuestOptions`] (defaults for a
    /// new name).
    pub async fn upgrade_guest(
        &self,
        name: &str,
        bytes: &[u8],
        label: Option<String>,
    ) -> Result<GuestInfo, GuestLoadError> {
        self.load(name, bytes, label, None).await
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
        let (inner, owned_name, bytes) =
            (Arc::clone(&self.inner), name.to_string(), bytes.to_vec());
        tokio::spawn(async move {
            let name = owned_name;
            let upgrade = options.is_none();
            let options = options.unwrap_or_else(|| {
                inner
                    .guests
                    .get(&name)
                    .map(|current| current.options.clone())
                    .unwrap_or_default()
            });
            let wanted = || !done.is_closed();
            let loaded = guest::compile(&inner, &name, &bytes, label, options, &wanted).await;
            let loaded = loaded.map(|guest| {
                let guest = Arc::new(guest);
                inner.guests.insert(Arc::clone(&guest));
                if upgrade {
                    tracing::info!(target: "sessionhost::guest", guest = %name, version = %guest.version, policy = ?guest.options.upgrade, "guest upgraded: new sessions get this version");
                    if guest.options.upgrade == crate::UpgradePolicy::Migrate {
                        crate::session::upgrade::migrate_all(&inner, &guest);
                    }
                }
                guest.info()
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
    pub fn sessions_by_version(&self) -> std::collections::BTreeMap<(String, String), usize> {
        let mut counts = std::collections::BTreeMap::new();
        for session in self.inner.registry.sessions() {
            let key = (
                session.guest.name.to_string(),
                session.guest.version.hash.clone(),
            );
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    /// Like [`load_guest`](Self::load_guest), reading the component from a file.
    pub async fn load_guest_file(
        &self,
        name: &str,
        path: impl AsRef<Path>,
    ) -> Result<GuestInfo, GuestLoadError> {
        self.load_guest_file_with(name, path, GuestOptions::default())
            .await
    }

    /// Like [`load_guest_with`](Self::load_guest_with), reading the component from a file.
    pub async fn load_guest_file_with(
        &self,
        name: &str,
        path: impl AsRef<Path>,
        options: GuestOptions,
    ) -> Result<GuestInfo, GuestLoadError> {
        let bytes = guest::read_file(name, path.as_ref())?;
        self.load_guest_with(name, &bytes, options).await
    }

    /// Validates a component without registering it: the same checks as loading.
    pub async fn check_guest(&self, name: &str, bytes: &[u8]) -> Result<GuestInfo, GuestLoadError> {
        Ok(guest::compile(
            &self.inner,
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
        self.inner.guests.list()
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
        let inner = &self.inner;
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
        let session = start_session(&self.inner, options, StartExtras::default()).await?;
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
        let inner = &self.inner;
        inner.check_size(request.len())?;
        let timeout = timeout.unwrap_or(inner.config.call_timeout);
        let started = Instant::now();
        let (session, result) = on_session(inner, id, |session| async move {
            session.call(inner, request, timeout).await
        })
        .await?;
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
        result
    }

    /// Queues `message` for the session's `handle-cast` and returns without waiting for it.
    /// Casts from one sender are handled in the order sent, and before any later call from
    /// that sender. A full mailbox is an error (`mailbox_full`), never a silent drop.
    pub async fn cast(&self, id: &str, message: &[u8]) -> Result<(), SessionError> {
        let inner = &self.inner;
        inner.check_size(message.len())?;
        let (session, result) = on_session(inner, id, |session| {
            std::future::ready(session.enqueue_cast(inner, message))
        })
        .await?;
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
        result
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
        let inner = &self.inner;
        let ending = if matches!(reason, StopReason::Killed(_)) {
            Ending::Kill
        } else {
            Ending::Now
        };
        on_session(inner, id, |session| {
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
        let inner = &self.inner;
        on_session(inner, id, |session| async move {
            session.rotate_id(inner).await
        })
        .await?
        .1
    }

    /// Hibernates the session now, whatever its idle time (see the README's "Hibernation").
    /// `Ok(false)`: it stays live — it has subscribers or pending messages, its guest does
    /// not support snapshots or opted out, or the store refused the record.
    pub async fn hibernate(&self, id: &str) -> Result<bool, SessionError> {
        let Some(session) = self.inner.registry.get_live(id) else {
            return if self.inner.is_hibernated(id) {
                Ok(true)
            } else {
                Err(id::not_found(id))
            };
        };
        Ok(crate::session::hibernate::hibernate_now(&session, &self.inner).await)
    }

    /// Whether a session has this ID: live, or hibernated (its next message wakes it).
    pub fn is_started(&self, id: &str) -> bool {
        // A wake registers the session, then removes its record: between the two lookups
        // below it may have done both, so the registry is asked again last.
        self.inner.registry.contains(id)
            || self.inner.is_hibernated(id)
            || self.inner.registry.contains(id)
    }

    /// Wakes the session if it is hibernated (messages do this by themselves; `subscribe`
    /// and `info` need a live session).
    pub async fn wake(&self, id: &str) -> Result<(), SessionError> {
        self.inner.resolve(id).await.map(drop)
    }

    /// Marks the session active now, postponing its idle expiry (a hibernated session's
    /// stored activity is updated without waking it).
    pub fn touch(&self, id: &str) -> Result<(), SessionError> {
        let inner = &self.inner;
        // Live, hibernated, or between the two: a session being hibernated has its record
        // stored before its object is retired, and a woken one is registered before its
        // record goes, so one of the lookups below finds it (bounded like `on_session`).
        for _ in 0..RETIRED_ATTEMPTS {
            if let Some(session) = inner.registry.get_live(id)
                && session.touch_unless_retired(inner)
            {
                return Ok(());
            }
            if inner.touch_hibernated(id)? {
                return Ok(());
            }
            if !inner.registry.contains(id) {
                return Err(id::not_found(id));
            }
        }
        Err(id::not_found(id))
    }

    /// IDs of the live sessions, in no particular order.
    pub fn list(&self) -> Vec<SessionId> {
        self.inner.registry.ids()
    }

    /// A snapshot of one session's figures.
    pub fn info(&self, id: &str) -> Result<SessionInfo, SessionError> {
        Ok(self.inner.session(id)?.info(&self.inner))
    }

    /// What the snapshot store holds for a hibernated session, without waking it; `None`
    /// when no session with this ID is hibernated (it may be live: see [`Host::info`]).
    pub fn hibernated_info(&self, id: &str) -> Result<Option<HibernatedInfo>, SessionError> {
        let id = SessionId::parse(id)?;
        let record = crate::session::hibernate::blocking(|| self.inner.store.get(id.as_str()))
            .map_err(|e| self.inner.unreadable(id.as_str(), e))?;
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
        let c = &self.inner.counters;
        HostStats {
            sessions: self.inner.live.load(Ordering::Relaxed),
            hibernated: self.inner.store.len().unwrap_or(0),
            max_sessions: self.inner.config.max_sessions,
            started_total: c.started.get(),
            ended_total: c.ended.get(),
            rejected_total: c.rejected.get(),
            messages_total: c.messages.get(),
            traps_total: c.traps.get(),
            mailbox_full_total: c.mailbox_full.get(),
            guests: self.inner.guests.list().len(),
            instances: self.inner.instances.load(Ordering::Relaxed),
            subscribers: self.inner.registry.sum(Session::subscriber_count),
            blocked: self.inner.blocking.in_use(),
            compiled_components: self.inner.compiled.len(),
            compiling: self.inner.compiled.running(),
        }
    }

    /// Counters, the call-duration histogram and per-guest figures, for an exporter such as
    /// the HTTP server's `/metrics`. Walks the live sessions for the per-guest figures.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut by_guest = std::collections::BTreeMap::<String, (u64, u64)>::new();
        for session in self.inner.registry.sessions() {
            let info = session.info(&self.inner);
            let entry = by_guest.entry(info.guest).or_default();
            entry.0 += 1;
            entry.1 += info.memory_bytes as u64;
        }
        MetricsSnapshot {
            counters: self.inner.counters.snapshot(),
            sessions_by_guest: by_guest.iter().map(|(g, (n, _))| (g.clone(), *n)).collect(),
            memory_bytes_by_guest: by_guest.into_iter().map(|(g, (_, m))| (g, m)).collect(),
        }
    }

    /// Whether the host accepts new sessions (it is not shutting down).
    pub fn is_accepting(&self) -> bool {
        !self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Subscribes to the session's events: what its guest publishes, then a final
    /// `Terminated` event when it ends.
    pub fn subscribe(&self, id: &str) -> Result<SessionEvents, SessionError> {
        self.inner.session(id)?.subscribe(&self.inner.events)
    }

    /// Asks the session's guest for a snapshot of its state (`None` if the guest does not
    /// support snapshots). Queued casts are delivered first. Start a session from it with
    /// [`StartOptions::restore`].
    pub async fn snapshot(&self, id: &str) -> Result<Option<Vec<u8>>, SessionError> {
        let inner = &self.inner;
        on_session(
            inner,
            id,
            |session| async move { session.snapshot(inner).await },
        )
        .await?
        .1
    }

    /// Stops accepting new sessions and ends every live one with reason `shutdown` (their
    /// queued casts are handled and their `terminate` runs first). Calls made after this
    /// still reach sessions that have not ended yet.
    pub async fn shutdown(&self) -> ShutdownReport {
        self.inner.shutting_down.store(true, Ordering::Release);
        let mut tasks = tokio::task::JoinSet::new();
        let durable = self.inner.store.durable();
        for session in self.inner.registry.sessions() {
            let inner = Arc::clone(&self.inner);
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
        if let Some(writer) = &self.inner.checkpoints {
            let _ = writer.flush().await;
        }
        if durable && let Err(error) = self.inner.store.flush() {
            tracing::error!(target: "sessionhost::session", %error, "flushing the snapshot store failed");
        }
        report
    }
}

/// What a wake adds to a start (see `hibernate.rs`).
#[derive(Default)]
pub(crate) struct StartExtras {
    /// Waking a hibernated session: no rate limit, the ID may be in the store, and its record
    /// is removed once the session is registered.
    pub(crate) woken: bool,
    /// The session's original init arguments (kept for restarts).
    pub(crate) args: Vec<u8>,
    /// Timers to re-arm once the state is restored.
    pub(crate) timers: Vec<TimerRecord>,
}

/// Starts (or wakes) a session; see [`Host::start`].
pub(crate) async fn start_session(
    inner: &Arc<HostInner>,
    options: StartOptions,
    extras: StartExtras,
) -> Result<Arc<Session>, SessionError> {
    if inner.shutting_down.load(Ordering::Acquire) {
        return Err(SessionError::ShuttingDown);
    }
    let id = match &options.id {
        Some(text) => SessionId::parse(text)?,
        None => SessionId::generate(),
    };
    if inner.registry.contains_live(&id)
        || (options.id.is_some() && !extras.woken && inner.is_hibernated(&id))
    {
        return Err(SessionError::AlreadyStarted);
    }
    let name = options
        .guest
        .as_deref()
        .or(inner.config.default_guest.as_deref())
        .ok_or_else(|| SessionError::GuestNotFound {
            name: "(no guest given and no default_guest configured)".into(),
        })?;
    let guest = inner
        .guests
        .get(name)
        .ok_or_else(|| SessionError::GuestNotFound { name: name.into() })?;
    match &options.restore {
        Some(restore) => inner.check_size(restore.state.len())?,
        None => inner.check_size(options.args.len())?,
    }

    let max = inner.config.max_sessions;
    let mut reservation = Reservation {
        live: &inner.live,
        committed: false,
    };
    if inner.live.fetch_add(1, Ordering::AcqRel) >= max {
        return Err(SessionError::SessionLimitReached { max });
    }
    if let Some(rate) = &inner.rate
        && !extras.woken
        && let Err(retry_after) = rate.try_take()
    {
        inner.counters.rate_limited.add(1);
        return Err(SessionError::RateLimited { retry_after });
    }

    let session = Arc::new(Session::new(inner, id.clone(), Arc::clone(&guest)));
    let mut slot = session
        .slot
        .try_lock()
        .expect("nobody else can see a session being started");
    let timeout = inner.config.call_timeout;
    let began = Instant::now();
    let deadline = began + timeout;
    let fuel = inner.config.fuel_budget();
    let mut live = supervisor::new_instance(inner, &session, id.clone(), &guest, began)?;
    live.recovery = match &options.restore {
        None => Recovery::for_start(&options.args, &guest.options),
        Some(restore) => Recovery::from_snapshot(&restore.state, &extras.args, &guest.options),
    };
    let (outcome, fuel_used) = match &options.restore {
        None => {
            run_export!(&mut live, fuel, began, deadline, millis(timeout), |e, s| e
                .call_init(s, &options.args))
        }
        Some(restore) => {
            run_export!(&mut live, fuel, began, deadline, millis(timeout), |e, s| e
                .call_restore(s, &restore.state, &restore.from_version))
        }
    };
    session.add_fuel(inner, fuel_used);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return Err(SessionError::GuestError(message)),
        Err(failure) => return Err(failure.error),
    }
    // A woken session of a guest that checkpoints keeps its state durable from the start:
    // the record it woke from becomes its first checkpoint before that record goes.
    let first_checkpoint = match (&inner.checkpoints, &options.restore) {
        (Some(_), Some(restore)) if extras.woken && guest.options.checkpoint_every > 0 => {
            let now = inner.wall_now_ms();
            Some(crate::store::SnapshotRecord {
                guest: guest.name.to_string(),
                version: restore.from_version.clone(),
                state: restore.state.clone(),
                args: extras.args.clone(),
                saved_at_ms: now,
                last_active_ms: now,
                timers: extras.timers.clone(),
            })
        }
        _ => None,
    };
    live.import_timers(extras.timers);
    let stop = live.store.data_mut().stop_requested.take();
    session.set_live(&mut slot, live);
    inner.registry.insert_new(Arc::clone(&session))?;
    reservation.committed = true;
    if let (Some(writer), Some(record)) = (&inner.checkpoints, first_checkpoint) {
        session.mark_checkpointed();
        if let Some(ack) = writer.submit(&id, Some(record), true) {
            let _ = ack.await;
        }
    }
    if extras.woken {
        // The record it woke from goes while its lock is still held: the woken session
        // cannot hibernate again (and store a new record) before the old one is removed.
        let _ = crate::session::hibernate::blocking(|| inner.store.remove(&id));
    }
    if let Some(deadline) = session.next_deadline_ms(inner) {
        inner.reaper.watch(inner, &session, deadline);
    }
    if let Some(reason) = stop {
        // The guest asked to stop during `init` (or `restore`): the session ends as any
        // stopped session does (its `terminate` runs, counted as `requested`), and the start
        // says so instead of handing out the ID of a session that is already gone.
        session.end_locked(&mut slot, inner, StopReason::Requested(reason.clone()));
        return Err(SessionError::GuestError(format!(
            "the guest stopped the session while starting it: {reason}"
        )));
    }
    drop(slot);
    Ok(session)
}

/// Attempts [`on_session`] makes before it gives a retired session's refusal back.
const RETIRED_ATTEMPTS: u32 = 16;

/// Runs `op` on session `id` — woken first if it is hibernated — and returns the session
/// object it ran on with the result. When that object was retired meanwhile (hibernated or
/// moved to a new guest version) and refused, `op` runs again on its successor; bounded, so
/// a session that keeps retiring under a sender cannot loop it forever (each attempt finds
/// a newer object, never the same retired one again).
async fn on_session<T, Fut>(
    inner: &Arc<HostInner>,
    id: &str,
    mut op: impl FnMut(Arc<Session>) -> Fut,
) -> Result<(Arc<Session>, Result<T, SessionError>), SessionError>
where
    Fut: Future<Output = Result<T, SessionError>>,
{
    let mut attempt = 1;
    loop {
        let session = inner.resolve(id).await?;
        let result = op(Arc::clone(&session)).await;
        let refused = matches!(result, Err(SessionError::SessionNotFound));
        if !(refused && session.was_retired()) || attempt == RETIRED_ATTEMPTS {
            return Ok((session, result));
        }
        // The next lookup passes over the retired object (even if the retiring thread has
        // not removed it yet) and wakes or finds its successor.
        attempt += 1;
    }
}
