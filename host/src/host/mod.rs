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

mod handle;
mod load;

pub use handle::SessionHandle;
pub use load::{GuestSource, LoadOptions};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::HostConfig;
use crate::error::{HostError, SessionError};
use crate::events::SessionEvents;
use crate::guest::CompileCache;
use crate::id::{self, SessionId};
use crate::info::{
    GuestInfo, HibernateOutcome, HibernatedInfo, HostStats, SessionInfo, SessionStatus,
};
use crate::metrics::MetricsSnapshot;
use crate::reason::StopReason;
use crate::runtime::Runtime;
use crate::session::checkpoint::CheckpointWriter;
use crate::session::env::SessionEnv;
use crate::session::lifecycle::Ending;
use crate::session::resolver;
use crate::session::start::{StartExtras, StartOptions, start_session};
use crate::session::state::Session;
use crate::store::{MemoryStore, SnapshotStore};

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

    /// The configuration this host runs with.
    pub fn config(&self) -> &HostConfig {
        &self.env.config
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
