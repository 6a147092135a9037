//! Supervision: what happens to a session whose guest fails, and the checkpoints it comes
//! back from.
//!
//! Each guest is loaded with [`GuestOptions`]: a [`RestartPolicy`] (Elixir's `temporary`,
//! `transient`, `permanent`), an intensity (`max_restarts` within `restart_window`, 3 in 5 s
//! by default, as an Elixir supervisor) and how often to checkpoint (`checkpoint_every`
//! messages, off by default).
//!
//! When a message traps or hits a limit, the caller of that message gets its `guest_trap` /
//! `timeout` error as always. Then, if the policy restarts after that failure and the
//! intensity allows it, the session is re-instantiated *under the same ID, lock and mailbox*:
//! from its last checkpoint through the guest's `restore` when it has one, else through
//! `init` with its original arguments. Subscribers get [`SessionEvent::Restarted`] saying how
//! many handled messages the restart lost (those since the checkpoint). Queued casts stay
//! queued and run on the new instance. Past the intensity, or when the new instance fails
//! too, the session ends with reason `crashed`.
//!
//! Recovery state ([`Recovery`]: init arguments, checkpoint, restart times) lives in the
//! session's slot, owned by whoever holds the session lock, and is only allocated for
//! sessions that need it (non-empty arguments, checkpoints or a restart): a plain session
//! pays one empty pointer.
//!
//! [`SessionEvent::Restarted`]: crate::SessionEvent::Restarted

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{CheckpointDurability, GuestOptions, RestartPolicy};
use crate::reason::StopReason;
use crate::runtime::instance::Failure;
use crate::session::checkpoint::CommitAck;
use crate::session::env::SessionEnv;
use crate::session::live::Live;
use crate::session::state::Session;

/// What a session needs to be started again. Owned by the slot, used under the lock.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// The arguments `init` was first called with.
    pub(crate) args: Box<[u8]>,
    /// The last checkpoint, if any.
    pub(crate) checkpoint: Option<Box<[u8]>>,
    /// Messages handled since the checkpoint (or since the start).
    pub(crate) since_checkpoint: u64,
    /// When the recent restarts happened (within the window).
    restarts: VecDeque<Instant>,
}

impl Recovery {
    /// Recovery state for a session started with `args`, or `None` when it needs none yet.
    pub(crate) fn for_start(args: &[u8], options: &GuestOptions) -> Option<Box<Self>> {
        let needed = options.restart != RestartPolicy::Temporary
            && (!args.is_empty() || options.checkpoint_every > 0);
        needed.then(|| {
            Box::new(Self {
                args: args.into(),
                ..Self::default()
            })
        })
    }

    /// Recovery state for a session started from a snapshot: that snapshot is its first
    /// checkpoint.
    pub(crate) fn from_snapshot(
        state: &[u8],
        args: &[u8],
        options: &GuestOptions,
    ) -> Option<Box<Self>> {
        (options.restart != RestartPolicy::Temporary).then(|| {
            Box::new(Self {
                args: args.into(),
                checkpoint: Some(state.into()),
                ..Self::default()
            })
        })
    }

    /// Records a restart at `now`; `false` when it would exceed the intensity.
    fn admit_restart(&mut self, options: &GuestOptions, now: Instant) -> bool {
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > options.restart_window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= options.max_restarts as usize {
            return false;
        }
        self.restarts.push_back(now);
        true
    }
}

/// How a restart went.
pub(crate) enum Restarted {
    /// The session runs again on `live`; `from_checkpoint` says how.
    Live {
        live: Live,
        from_checkpoint: bool,
        lost: u64,
    },
    /// It could not be restarted: end it with this reason.
    Failed(StopReason),
}

/// Starts `session` again after it ended for `reason` (the old instance is already gone).
/// `recovery` is what the old instance carried.
pub(crate) fn restart(
    env: &Arc<SessionEnv>,
    session: &Arc<Session>,
    reason: &StopReason,
    recovery: Option<Box<Recovery>>,
) -> Restarted {
    let options = &session.guest.options;
    // Without recovery state nothing was checkpointed: every message handled since the
    // start is lost (all run so far but the failing one).
    let lost = match &recovery {
        Some(recovery) => recovery.since_checkpoint,
        None => session.messages_run().saturating_sub(1),
    };
    let mut recovery = recovery.unwrap_or_default();
    let now = Instant::now();
    if !recovery.admit_restart(options, now) {
        return Restarted::Failed(StopReason::Crashed(format!(
            "{reason}; more than {} restarts in {} ms",
            options.max_restarts,
            options.restart_window.as_millis()
        )));
    }
    let mut live = match Live::start(env, session, session.id(), &session.guest, now) {
        Ok(live) => live,
        Err(e) => return Restarted::Failed(StopReason::Crashed(format!("restart failed: {e}"))),
    };
    let mut from_checkpoint = false;
    if let Some(state) = &recovery.checkpoint {
        let version = &session.guest.version.hash;
        match session.run_on_own_account(env, &mut live, |e, s| e.call_restore(s, state, version)) {
            Ok(Ok(())) => from_checkpoint = true,
            Ok(Err(message)) => {
                tracing::warn!(target: "sessionhost::session", session_id = %session.id(), %message, "checkpoint rejected by restore; starting afresh");
            }
            Err(Failure { error, .. }) => {
                return Restarted::Failed(StopReason::Crashed(format!(
                    "restore from the checkpoint failed: {error}"
                )));
            }
        }
    }
    if !from_checkpoint {
        match session.run_on_own_account(env, &mut live, |e, s| e.call_init(s, &recovery.args)) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                return Restarted::Failed(StopReason::Crashed(format!(
                    "init refused on restart: {message}"
                )));
            }
            Err(Failure { error, .. }) => {
                return Restarted::Failed(StopReason::Crashed(format!(
                    "init failed on restart: {error}"
                )));
            }
        }
    }
    recovery.since_checkpoint = 0;
    live.recovery = Some(recovery);
    Restarted::Live {
        live,
        from_checkpoint,
        lost,
    }
}

/// After a handled message: counts it, and takes a checkpoint when one is due. A checkpoint
/// whose `snapshot` fails is returned as the message's failure (the session restarts or ends).
/// With a durable store the checkpoint also goes to the checkpoint writer; the returned ack,
/// under `sync` durability, says when it is on disk (see `checkpoint.rs`).
pub(crate) fn after_message(
    env: &Arc<SessionEnv>,
    session: &Session,
    live: &mut Live,
) -> Result<Option<CommitAck>, Failure> {
    let every = u64::from(session.guest.options.checkpoint_every);
    let Some(recovery) = live.recovery.as_mut() else {
        return Ok(None);
    };
    recovery.since_checkpoint += 1;
    if every == 0 || !session.supports_snapshots() || recovery.since_checkpoint < every {
        return Ok(None);
    }
    let Some(state) = session.snapshot_locked(env, live)? else {
        session.set_no_snapshots();
        return Ok(None);
    };
    let ack = env.checkpoints.as_ref().and_then(|writer| {
        session.mark_checkpointed();
        let record = session.record_locked(env, live, state.clone());
        let wait = writer.durability() == CheckpointDurability::Sync;
        writer.submit(&session.id(), Some(record), wait)
    });
    if let Some(recovery) = live.recovery.as_mut() {
        recovery.checkpoint = Some(state.into());
        recovery.since_checkpoint = 0;
    }
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn intensity_counts_restarts_within_the_window() {
        let options = GuestOptions::default(); // 3 in 5 s
        let mut recovery = Recovery::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(recovery.admit_restart(&options, t0 + Duration::from_secs(i)));
        }
        assert!(!recovery.admit_restart(&options, t0 + Duration::from_secs(3)));
        // The first restart leaves the window after 5 s.
        assert!(recovery.admit_restart(&options, t0 + Duration::from_millis(5_001)));
    }

    #[test]
    fn recovery_is_only_kept_when_needed() {
        let plain = GuestOptions::default();
        assert!(Recovery::for_start(b"", &plain).is_none());
        assert!(Recovery::for_start(b"{}", &plain).is_some());
        let checkpointed = GuestOptions {
            checkpoint_every: 1,
            ..plain.clone()
        };
        assert!(Recovery::for_start(b"", &checkpointed).is_some());
        let temporary = GuestOptions {
            restart: RestartPolicy::Temporary,
            ..plain
        };
        assert!(Recovery::for_start(b"{}", &temporary).is_none());
    }
}
