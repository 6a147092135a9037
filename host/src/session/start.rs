//! Starting a session: [`StartOptions`], and [`start_session`], which instantiates a guest
//! and runs its `init` (or `restore`, for a wake or a start from a snapshot) and registers
//! the session — or leaves nothing behind.
//!
//! A start takes one of the `max_sessions` places before it instantiates anything (a
//! [`Reservation`] gives it back if the start fails), and a creation token from `rate_limit`
//! unless it wakes a hibernated session. The new session's lock is held from its creation
//! to its registration: nobody can send it a message before its state is in place.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::error::SessionError;
use crate::id::SessionId;
use crate::reason::StopReason;
use crate::session::env::SessionEnv;
use crate::session::live::Live;
use crate::session::state::Session;
use crate::session::supervisor::Recovery;
use crate::store::TimerRecord;

/// How to start a session ([`Host::start`](crate::Host::start)).
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

/// Starts (or wakes) a session; see `Host::start`.
pub(crate) async fn start_session(
    env: &Arc<SessionEnv>,
    options: StartOptions,
    extras: StartExtras,
) -> Result<Arc<Session>, SessionError> {
    if env.is_shutting_down() {
        return Err(SessionError::ShuttingDown);
    }
    let id = match &options.id {
        Some(text) => SessionId::parse(text)?,
        None => SessionId::generate(),
    };
    if env.registry.contains_live(&id)
        || (options.id.is_some() && !extras.woken && env.is_hibernated(&id))
    {
        return Err(SessionError::AlreadyStarted);
    }
    let name = options
        .guest
        .as_deref()
        .or(env.config.default_guest.as_deref())
        .ok_or_else(|| SessionError::GuestNotFound {
            name: "(no guest given and no default_guest configured)".into(),
        })?;
    let guest = env
        .guests
        .get(name)
        .ok_or_else(|| SessionError::GuestNotFound { name: name.into() })?;
    match &options.restore {
        Some(restore) => env.check_size(restore.state.len())?,
        None => env.check_size(options.args.len())?,
    }

    let max = env.config.max_sessions;
    let mut reservation = Reservation {
        live: &env.live,
        committed: false,
    };
    if env.live.fetch_add(1, Ordering::AcqRel) >= max {
        return Err(SessionError::SessionLimitReached { max });
    }
    if !extras.woken {
        env.take_rate_token()?;
    }

    let session = Arc::new(Session::new(env, id.clone(), Arc::clone(&guest)));
    let mut slot = session
        .slot
        .try_lock()
        .expect("nobody else can see a session being started");
    let began = Instant::now();
    let budget = env.budget(began, env.config.call_timeout);
    let mut live = Live::start(env, &session, id.clone(), &guest, began)?;
    live.recovery = match &options.restore {
        None => Recovery::for_start(&options.args, &guest.options),
        Some(restore) => Recovery::from_snapshot(&restore.state, &extras.args, &guest.options),
    };
    let ran = match &options.restore {
        None => live
            .instance
            .run(&budget, |e, s| e.call_init(s, &options.args)),
        Some(restore) => live.instance.run(&budget, |e, s| {
            e.call_restore(s, &restore.state, &restore.from_version)
        }),
    };
    session.add_fuel(env, ran.fuel_used);
    match ran.result {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return Err(SessionError::GuestError(message)),
        Err(failure) => return Err(failure.error),
    }
    // A woken session of a guest that checkpoints keeps its state durable from the start:
    // the record it woke from becomes its first checkpoint before that record goes.
    let first_checkpoint = match (&env.checkpoints, &options.restore) {
        (Some(_), Some(restore)) if extras.woken && guest.options.checkpoint_every > 0 => {
            let now = env.wall_now_ms();
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
    let stop = live.take_stop_request();
    session.set_live(&mut slot, live);
    env.registry.insert_new(Arc::clone(&session))?;
    reservation.committed = true;
    if let (Some(writer), Some(record)) = (&env.checkpoints, first_checkpoint) {
        session.mark_checkpointed();
        if let Some(ack) = writer.submit(&id, Some(record), true) {
            let _ = ack.await;
        }
    }
    if extras.woken {
        // The record it woke from goes while its lock is still held: the woken session
        // cannot hibernate again (and store a new record) before the old one is removed.
        let _ = crate::session::hibernate::blocking(|| env.store.remove(&id));
    }
    if let Some(deadline) = session.next_deadline_ms(env) {
        env.reaper.watch(env, &session, deadline);
    }
    if let Some(reason) = stop {
        // The guest asked to stop during `init` (or `restore`): the session ends as any
        // stopped session does (its `terminate` runs, counted as `requested`), and the start
        // says so instead of handing out the ID of a session that is already gone.
        session.end_locked(&mut slot, env, StopReason::Requested(reason.clone()));
        return Err(SessionError::GuestError(format!(
            "the guest stopped the session while starting it: {reason}"
        )));
    }
    drop(slot);
    Ok(session)
}
