//! Calls and casts, measured the same way on the host and on the native actor baseline.
//!
//! [`Callee`] is what both offer: a call that waits for its reply and a cast that reports a
//! full mailbox instead of waiting. [`calls`] and [`casts_per_s`] drive either one, so the two
//! columns of the report come from the very same loop: same callers, same duration, same
//! request bytes, latency taken by the caller around each call.

use std::future::Future;
use std::time::{Duration, Instant};

use sessionhost::{Host, SessionError, SessionId};

use crate::Latencies;
use crate::native::Actor;

/// The request every measured call sends: the counter's increment.
pub const INCR: &[u8] = br#"{"op":"incr"}"#;

/// Something that handles calls and casts for sessions named by `Id`.
pub trait Callee: Clone + Send + Sync + 'static {
    /// How a session is named.
    type Id: Clone + Send + Sync + 'static;

    /// Sends `request` to session `id` and waits for the reply.
    fn call(
        &self,
        id: &Self::Id,
        request: &[u8],
    ) -> impl Future<Output = anyhow::Result<Vec<u8>>> + Send;

    /// Queues `message` for session `id`; `Ok(false)` when its mailbox is full.
    fn try_cast(
        &self,
        id: &Self::Id,
        message: &[u8],
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
}

impl Callee for Host {
    type Id = SessionId;

    async fn call(&self, id: &SessionId, request: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(Host::call(self, id, request, None).await?)
    }

    async fn try_cast(&self, id: &SessionId, message: &[u8]) -> anyhow::Result<bool> {
        match Host::cast(self, id, message).await {
            Ok(()) => Ok(true),
            Err(SessionError::MailboxFull { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// The native actors, addressed by index.
#[derive(Debug, Clone)]
pub struct Actors(pub std::sync::Arc<Vec<Actor>>);

impl Callee for Actors {
    type Id = usize;

    async fn call(&self, id: &usize, request: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.0[*id].call(request).await
    }

    async fn try_cast(&self, id: &usize, message: &[u8]) -> anyhow::Result<bool> {
        self.0[*id].try_cast(message)
    }
}

/// `callers` tasks, each with its own share of `ids`, call round-robin for `run_for`; returns
/// calls per second and every call's latency.
pub async fn calls<C: Callee>(
    callee: &C,
    ids: &[C::Id],
    callers: usize,
    run_for: Duration,
) -> anyhow::Result<(f64, Latencies)> {
    let share = ids.len() / callers;
    let mut handles = Vec::new();
    let clock = Instant::now();
    for c in 0..callers {
        let callee = callee.clone();
        let mine: Vec<C::Id> = ids[c * share..(c + 1) * share].to_vec();
        handles.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let deadline = Instant::now() + run_for;
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                callee.call(&mine[i % mine.len()], INCR).await?;
                latencies.record(t.elapsed());
                i += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Latencies::default();
    for handle in handles {
        all.merge(handle.await??);
    }
    let per_s = all.len() as f64 / clock.elapsed().as_secs_f64();
    Ok((per_s, all))
}

/// One sender casts `n` increments to one session (yielding while its mailbox is full), then
/// a call (once the mailbox has room for it) waits until all are handled; returns handled casts per second.
pub async fn casts_per_s<C: Callee>(callee: &C, id: &C::Id, n: usize) -> anyhow::Result<f64> {
    let clock = Instant::now();
    let mut sent = 0;
    while sent < n {
        if callee.try_cast(id, INCR).await? {
            sent += 1;
        } else {
            // The mailbox is bounded: let the drainer catch up.
            tokio::task::yield_now().await;
        }
    }
    // The final call takes a mailbox place too: wait for one, as the casts did.
    loop {
        match callee.call(id, br#"{"op":"get"}"#).await {
            Ok(_) => break,
            Err(e) if matches!(e.downcast_ref(), Some(SessionError::MailboxFull { .. })) => {
                tokio::task::yield_now().await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(n as f64 / clock.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::spawn_many;

    #[tokio::test]
    async fn loops_drive_native_actors() -> anyhow::Result<()> {
        let actors = Actors(std::sync::Arc::new(spawn_many(4)));
        let (per_s, mut latencies) =
            calls(&actors, &[0, 1, 2, 3], 2, Duration::from_millis(20)).await?;
        assert!(per_s > 0.0 && !latencies.is_empty());
        assert!(latencies.quantile_us(0.99) > 0.0);
        assert!(casts_per_s(&actors, &0, 3_000).await? > 0.0);
        Ok(())
    }
}
