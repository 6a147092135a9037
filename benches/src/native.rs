//! The native baseline: what a session would cost as a plain tokio actor, with no sandbox.
//!
//! Each "session" is a tokio task that owns an `i64` and receives messages over a bounded
//! `tokio::sync::mpsc` channel (capacity [`MAILBOX`], like the host's mailbox); a call carries
//! a `oneshot` for its reply. The task does the counter guest's work natively and in the same
//! shapes: it parses the same JSON request bytes with serde_json into the same tagged enum,
//! updates the value (refusing overflow), serialises the reply `{"value":v}` to bytes, and
//! "publishes" each change by serialising the event and counting it. It is the design the
//! brief calls "a parked tokio task plus channels per session", and the Phoenix.SessionProcess
//! design (a GenServer per session) in Rust.
//!
//! Sessions are addressed by index, so the host's registry lookup by ID (a few tens of
//! nanoseconds) has no counterpart here.

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// Capacity of each actor's channel: the host's default mailbox.
pub const MAILBOX: usize = 1024;

/// What an actor receives.
#[derive(Debug)]
enum Message {
    /// A request and where to send its reply.
    Call {
        request: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, String>>,
    },
    /// A message that expects no reply.
    Cast(Vec<u8>),
}

/// A request that expects a reply: the counter guest's `Call`.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Call {
    /// Adds `by` (default 1) and replies with the new value.
    Incr { by: Option<i64> },
    /// Replies with the current value.
    Get,
}

/// A message that expects no reply: the counter guest's `Cast`.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Cast {
    /// Adds `by` (default 1).
    Incr { by: Option<i64> },
}

/// The reply to every call and the event published on every change.
#[derive(Debug, Serialize)]
struct Value {
    value: i64,
}

/// The state one actor owns.
#[derive(Debug, Default)]
struct Counter {
    /// The current value.
    value: i64,
    /// Events "published" (serialised; there are no subscribers).
    published: u64,
}

impl Counter {
    fn incr(&mut self, by: Option<i64>) -> Result<i64, String> {
        let by = by.unwrap_or(1);
        self.value = self
            .value
            .checked_add(by)
            .ok_or_else(|| format!("overflow adding {by}"))?;
        let event = serde_json::to_vec(&Value { value: self.value }).map_err(|e| e.to_string())?;
        std::hint::black_box(event);
        self.published += 1;
        Ok(self.value)
    }

    fn handle_call(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        let call: Call = serde_json::from_slice(request).map_err(|e| e.to_string())?;
        let value = match call {
            Call::Incr { by } => self.incr(by)?,
            Call::Get => self.value,
        };
        serde_json::to_vec(&Value { value }).map_err(|e| e.to_string())
    }

    fn handle_cast(&mut self, message: &[u8]) {
        if let Ok(Cast::Incr { by }) = serde_json::from_slice(message) {
            // The guest logs a refused increment; here it is dropped.
            let _ = self.incr(by);
        }
    }
}

/// One actor's loop: one message at a time until every sender is gone.
async fn run(mut mailbox: mpsc::Receiver<Message>) {
    let mut counter = Counter::default();
    while let Some(message) = mailbox.recv().await {
        match message {
            Message::Call { request, reply } => {
                // The caller may have given up; its reply is then dropped.
                let _ = reply.send(counter.handle_call(&request));
            }
            Message::Cast(message) => counter.handle_cast(&message),
        }
    }
}

/// The way in to one actor: cloning it adds a sender, dropping every clone ends the actor.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Bounded to [`MAILBOX`]; `send` waits for room, `try_send` reports a full mailbox.
    mailbox: mpsc::Sender<Message>,
}

impl Actor {
    /// Spawns a new actor on the current tokio runtime.
    pub fn spawn() -> Self {
        let (mailbox, receiver) = mpsc::channel(MAILBOX);
        tokio::spawn(run(receiver));
        Actor { mailbox }
    }

    /// Sends `request` and waits for the reply.
    pub async fn call(&self, request: &[u8]) -> anyhow::Result<Vec<u8>> {
        let (reply, replied) = oneshot::channel();
        self.mailbox
            .send(Message::Call {
                request: request.to_vec(),
                reply,
            })
            .await
            .map_err(|_| anyhow::anyhow!("actor gone"))?;
        replied
            .await
            .map_err(|_| anyhow::anyhow!("actor dropped the call"))?
            .map_err(anyhow::Error::msg)
    }

    /// Queues `message`; `Ok(false)` when the mailbox is full (nothing was queued).
    pub fn try_cast(&self, message: &[u8]) -> anyhow::Result<bool> {
        match self.mailbox.try_send(Message::Cast(message.to_vec())) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => anyhow::bail!("actor gone"),
        }
    }
}

/// Spawns `n` actors from the current task.
pub fn spawn_many(n: usize) -> Vec<Actor> {
    (0..n).map(|_| Actor::spawn()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_speaks_the_guest_protocol() {
        let mut c = Counter::default();
        assert_eq!(
            c.handle_call(br#"{"op":"incr"}"#).as_deref(),
            Ok(&br#"{"value":1}"#[..])
        );
        assert_eq!(
            c.handle_call(br#"{"op":"incr","by":41}"#).as_deref(),
            Ok(&br#"{"value":42}"#[..])
        );
        c.handle_cast(br#"{"op":"incr","by":-2}"#);
        assert_eq!(
            c.handle_call(br#"{"op":"get"}"#).as_deref(),
            Ok(&br#"{"value":40}"#[..])
        );
        assert_eq!(c.published, 3);
        assert!(c.handle_call(b"nonsense").is_err());
        c.value = i64::MAX;
        assert!(c.handle_call(br#"{"op":"incr"}"#).is_err());
    }

    #[tokio::test]
    async fn actors_answer_calls_after_casts() -> anyhow::Result<()> {
        let actors = spawn_many(2);
        assert!(actors[0].try_cast(br#"{"op":"incr","by":5}"#)?);
        assert_eq!(
            actors[0].call(br#"{"op":"incr"}"#).await?,
            br#"{"value":6}"#
        );
        assert_eq!(actors[1].call(br#"{"op":"get"}"#).await?, br#"{"value":0}"#);
        Ok(())
    }
}
