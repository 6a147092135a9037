//! [`Live`]: a session's running instance, and [`SessionLink`], the narrow link its guest's
//! imports reach the session layer through.
//!
//! The runtime's [`Instance`] knows nothing of sessions; a session gives each instance it
//! starts a [`SessionLink`] (publish to this session's subscribers, its timers, whether a kill
//! asked the running message to stop) and keeps beside the instance what a restart needs
//! ([`Recovery`]). The link holds the session and its environment weakly: the session owns
//! the instance, and the instance must not keep the session alive.

use std::any::Any;
use std::sync::{Arc, Weak};
use std::time::Instant;

use crate::error::SessionError;
use crate::guest::Guest;
use crate::id::SessionId;
use crate::runtime::ctx::GuestLink;
use crate::runtime::instance::{Budget, Instance};
use crate::session::env::SessionEnv;
use crate::session::state::{Session, millis};
use crate::session::supervisor::Recovery;
use crate::session::timers::SessionTimers;
use crate::store::TimerRecord;

/// A session's running instance. Owned by the session's slot and used under its lock.
pub(crate) struct Live {
    pub(crate) instance: Instance,
    /// What a restart needs (see `supervisor.rs`); `None` for sessions that need nothing.
    pub(crate) recovery: Option<Box<Recovery>>,
    /// An export trapped while the session was being terminated: the instance cannot be
    /// entered again, so its `terminate` is skipped.
    pub(crate) poisoned: bool,
}

impl Live {
    /// A new instance of `guest` for `session` (under `id`), its limits armed for a message
    /// that started at `began` (instantiation runs the guest's start functions, which count).
    pub(crate) fn start(
        env: &Arc<SessionEnv>,
        session: &Arc<Session>,
        id: SessionId,
        guest: &Guest,
        began: Instant,
    ) -> Result<Self, SessionError> {
        let link = SessionLink {
            session: Arc::downgrade(session),
            env: Arc::downgrade(env),
            max_timers: env.config.max_timers_per_session,
            timers: None,
        };
        let budget = env.budget(began, env.config.call_timeout);
        match guest.instantiate(id, Box::new(link), &budget) {
            Ok(instance) => Ok(Self {
                instance,
                recovery: None,
                poisoned: false,
            }),
            Err(failed) => {
                tracing::warn!(target: "sessionhost::session", error = %failed.cause, "instantiation failed");
                Err(match failed.failure.error {
                    e @ (SessionError::GuestTrap { .. } | SessionError::Timeout { .. }) => e,
                    _ => SessionError::StartFailed {
                        reason: "the engine could not instantiate the guest".into(),
                    },
                })
            }
        }
    }

    /// The arguments `init` first ran with (kept for restarts); empty when none were kept.
    pub(crate) fn init_args(&self) -> Vec<u8> {
        self.recovery
            .as_ref()
            .map(|r| r.args.to_vec())
            .unwrap_or_default()
    }

    /// This instance's link.
    fn link(&self) -> Option<&SessionLink> {
        self.instance
            .ctx()
            .link
            .as_ref()
            .and_then(|link| link.as_any().downcast_ref())
    }

    fn link_mut(&mut self) -> Option<&mut SessionLink> {
        self.instance
            .ctx_mut()
            .link
            .as_mut()
            .and_then(|link| link.as_any_mut().downcast_mut())
    }

    /// The pending `send-after` timers, as store records.
    pub(crate) fn export_timers(&self) -> Vec<TimerRecord> {
        self.link()
            .and_then(|link| link.timers.as_ref())
            .map(|timers| timers.export())
            .unwrap_or_default()
    }

    /// Re-arms timers carried over from another instance of the same session (woken from
    /// the store, or moved to a new guest version).
    pub(crate) fn import_timers(&mut self, records: Vec<TimerRecord>) {
        if records.is_empty() {
            return;
        }
        let id = self.instance.ctx().id.clone();
        let Some(link) = self.link_mut() else {
            return;
        };
        let (env, session) = (link.env.clone(), link.session.clone());
        let timers = link.timers.get_or_insert_with(Box::default);
        if let Err(reason) = timers.import(&env, &session, records) {
            tracing::warn!(target: "sessionhost::session", session_id = %id, %reason, "carried-over timers were not re-armed");
        }
    }

    /// Marks fired timer `id` as delivered; false when it was cancelled after it fired (its
    /// message is skipped).
    pub(crate) fn take_fired(&mut self, id: u64) -> bool {
        self.link_mut()
            .and_then(|link| link.timers.as_mut())
            .is_some_and(|timers| timers.take_fired(id))
    }

    /// The linear memory the instance uses now, in bytes.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.instance.ctx().limits.memory_bytes
    }

    /// The guest's `stop` request of the message just run, if any.
    pub(crate) fn take_stop_request(&mut self) -> Option<String> {
        self.instance.ctx_mut().stop_requested.take()
    }
}

impl SessionEnv {
    /// The budget of a message that started at `began` and may take `timeout`.
    pub(crate) fn budget(&self, began: Instant, timeout: std::time::Duration) -> Budget {
        Budget {
            fuel: self.config.fuel_budget(),
            started: began,
            deadline: began + timeout,
            timeout_ms: millis(timeout),
        }
    }
}

/// What a session's guest reaches through its imports (see the module docs).
pub(crate) struct SessionLink {
    session: Weak<Session>,
    env: Weak<SessionEnv>,
    /// Most timers this session may have pending.
    max_timers: usize,
    /// Pending timers, created on first `send-after`.
    timers: Option<Box<SessionTimers>>,
}

impl GuestLink for SessionLink {
    fn publish(&mut self, event: Vec<u8>) {
        if let Some(session) = self.session.upgrade() {
            session.publish(event);
        }
    }

    fn send_after(&mut self, message: Vec<u8>, delay_ms: u64) -> Result<u64, String> {
        let (env, session) = (&self.env, &self.session);
        self.timers
            .get_or_insert_default()
            .start(self.max_timers, env, session, message, delay_ms)
    }

    fn cancel_timer(&mut self, id: u64) -> bool {
        self.timers.as_mut().is_some_and(|timers| timers.cancel(id))
    }

    fn interrupted(&self) -> bool {
        self.session
            .upgrade()
            .is_some_and(|session| session.interrupt_requested())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
