//! A session's mailbox: the queue of casts and timer messages, its bounds, and the drainer.
//!
//! Casts must not make their sender wait for the guest. A cast is pushed on the session's
//! queue and a drainer task is scheduled (at most one at a time) that takes the lock and
//! delivers queued casts in order. Whoever takes the lock delivers the queued casts *before*
//! its own message ([`Session::prepare_locked`]), so a sender that casts and then calls sees
//! its cast handled first.
//!
//! # The bounds
//! `pending` counts calls waiting for the lock plus queued casts, `pending_bytes` their bytes,
//! and the environment adds up every session's bytes. A message that would take the count
//! past `mailbox`, the session's bytes past `mailbox_bytes` or the host's past
//! `mailbox_bytes_total` is refused with `mailbox_full` — never silently dropped. Whoever
//! takes a message out of the mailbox (it starts running, or it is discarded) gives its
//! place and bytes back. A session being terminated delivers nothing more: its ending
//! discards and counts what is queued (`lifecycle.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::MutexGuard;

use crate::error::SessionError;
use crate::session::env::SessionEnv;
use crate::session::state::{Session, Slot};

/// A message waiting in a session's queue.
#[derive(Debug)]
pub(crate) enum Mail {
    /// A cast from a sender.
    Cast(Vec<u8>),
    /// A timer's message; skipped when the timer was cancelled after it fired.
    Timer { id: u64, message: Vec<u8> },
}

impl Mail {
    /// The bytes it holds, as the mailbox bounds count them.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Self::Cast(message) | Self::Timer { message, .. } => message.len(),
        }
    }
}

impl Session {
    /// Takes a mailbox place for a message of `bytes` bytes, or refuses with `mailbox_full`
    /// (see the module docs). The place is given back when the guard drops, or, for a
    /// queued message whose guard was forgotten, by [`Self::release`].
    pub(super) fn admit<'a>(
        &'a self,
        env: &'a SessionEnv,
        bytes: usize,
    ) -> Result<PendingGuard<'a>, SessionError> {
        let capacity = env.config.mailbox;
        if self.pending.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            env.counters.mailbox_full.add(1);
            return Err(SessionError::MailboxFull { capacity });
        }
        let refuse = |pending: usize, max: usize, scope: &'static str| {
            env.counters.mailbox_full.add(1);
            Err(SessionError::MailboxBytesFull {
                pending,
                max,
                scope,
            })
        };
        let (session_max, host_max) = env.mailbox_bytes_bounds();
        let before = self.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before + bytes > session_max {
            self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return refuse(before, session_max, "session");
        }
        let host_before = env.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        if host_before + bytes > host_max {
            env.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return refuse(host_before, host_max, "host");
        }
        Ok(PendingGuard {
            session: self,
            env,
            bytes,
        })
    }

    /// Gives back the mailbox place and bytes of a message taken out of the queue.
    pub(super) fn release(&self, env: &SessionEnv, bytes: usize) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
        env.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Queues a timer's message (or any prepared mail) and makes sure a drainer will deliver
    /// it. Gives the mail back when it cannot be queued.
    pub(crate) fn enqueue(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        mail: Mail,
    ) -> Result<(), (Mail, SessionError)> {
        let bytes = mail.bytes();
        let mut mail = Some(mail);
        match self.enqueue_with(env, bytes, || mail.take().expect("made once")) {
            Ok(()) => Ok(()),
            Err(e) => Err((mail.expect("not queued"), e)),
        }
    }

    /// Queues a cast of `message`, copied only once it has a place in the mailbox.
    pub(crate) fn enqueue_cast(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        message: &[u8],
    ) -> Result<(), SessionError> {
        self.enqueue_with(env, message.len(), || Mail::Cast(message.to_vec()))
    }

    /// Queues the mail `make` builds (`bytes` long) once it has a place in the mailbox.
    pub(super) fn enqueue_with(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        bytes: usize,
        make: impl FnOnce() -> Mail,
    ) -> Result<(), SessionError> {
        if !self.is_live() {
            return Err(SessionError::SessionNotFound);
        }
        let admitted = self.admit(env, bytes)?;
        let mail = make();
        {
            // The state is checked again under the queue lock: hibernation changes it under
            // the same lock, so a message is either queued before (and hibernation backs off)
            // or refused after (and the sender wakes the session).
            let mut queue = self.queue.lock();
            if !self.is_live() {
                return Err(SessionError::SessionNotFound);
            }
            queue.push_back(mail);
            self.queued.fetch_add(1, Ordering::AcqRel);
        }
        // The place is now held by the queued message; whoever takes it out releases it.
        std::mem::forget(admitted);
        self.schedule_drain(env);
        Ok(())
    }

    pub(super) fn schedule_drain_if_needed(self: &Arc<Self>, env: &Arc<SessionEnv>) {
        if self.queued.load(Ordering::Acquire) > 0 {
            self.schedule_drain(env);
        }
    }

    /// Spawns the drainer unless one is already scheduled.
    pub(super) fn schedule_drain(self: &Arc<Self>, env: &Arc<SessionEnv>) {
        if self.drain_scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let (session, env) = (Arc::clone(self), Arc::clone(env));
        env.tasks.clone().spawn(async move {
            loop {
                {
                    let mut slot = session.slot.lock().await;
                    session.prepare_locked(&mut slot, &env);
                }
                session.drain_scheduled.store(false, Ordering::SeqCst);
                if !session.is_live() {
                    return; // ending (it discards the queue) or retired (its queue was empty)
                }
                // A cast queued after the last pop but before the flag was cleared saw the
                // flag set and spawned nothing: look once more.
                if session.queued.load(Ordering::SeqCst) == 0
                    || session.drain_scheduled.swap(true, Ordering::SeqCst)
                {
                    return;
                }
            }
        });
    }

    /// Run by every holder of the lock before its own message: delivers the queued casts in
    /// order (or, once the session is ending, discards them; see [`Self::terminate`]).
    pub(crate) fn prepare_locked(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &Arc<SessionEnv>,
    ) {
        // Being terminated (or gone): the queue stays as it is, and the ending discards
        // and counts it.
        while self.queued.load(Ordering::Acquire) > 0 && self.is_live() {
            let Some(mail) = self.queue.lock().pop_front() else {
                return;
            };
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.release(env, mail.bytes());
            let Slot::Live(live) = &mut **slot else {
                // Queued in the instant the session ended: nothing can handle it any more.
                tracing::debug!(
                    target: "sessionhost::session",
                    session_id = %self.id(),
                    "message for an ended session discarded"
                );
                continue;
            };
            let message = match mail {
                Mail::Cast(message) => message,
                Mail::Timer { id, message } => {
                    if !live.take_fired(id) {
                        continue; // cancelled after it fired
                    }
                    message
                }
            };
            let budget = env.budget(Instant::now(), env.config.call_timeout);
            let ran = live
                .instance
                .run(&budget, |e, s| e.call_handle_cast(s, &message));
            self.account(env, live, ran.fuel_used);
            self.casts.fetch_add(1, Ordering::Relaxed);
            match ran.result {
                Ok(()) => {
                    // A failed checkpoint is logged and counted there; a cast has no caller.
                    let _ = self.after_message_locked(slot, env);
                }
                Err(failure) => {
                    tracing::warn!(
                        target: "sessionhost::session",
                        event = "session.cast",
                        session_id = %self.id(),
                        guest = %self.guest.name,
                        outcome = failure.error.kind(),
                        "cast failed: {}", failure.error
                    );
                    self.fail_locked(slot, env, failure);
                }
            }
        }
    }
}

/// Releases a mailbox place when a waiting call stops waiting (got the lock or gave up).
pub(super) struct PendingGuard<'a> {
    session: &'a Session,
    env: &'a SessionEnv,
    bytes: usize,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.session.release(self.env, self.bytes);
    }
}
