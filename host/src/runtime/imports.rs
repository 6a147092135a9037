//! The host functions every guest imports (`sessionhost:session/host`).
//!
//! They run inside a guest export, on the session's store, under the session's lock, so they
//! take `&mut SessionCtx` and need no synchronisation. Each one acts on the calling session
//! only. Nothing here can trap: misuse (an event too large, too many timers) is an `err` the
//! guest can handle, and floods are bounded (log lines per message, pending timers).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::runtime::bindings::LogLevel;
use crate::runtime::bindings::sessionhost::session::{host, types};
use crate::runtime::ctx::SessionCtx;
use crate::runtime::wasi::MAX_LINE;

/// Longest `stop` reason kept, in bytes.
const MAX_REASON: usize = 1024;

impl types::Host for SessionCtx {}

impl host::Host for SessionCtx {
    fn session_id(&mut self) -> String {
        self.id.to_string()
    }

    fn log(&mut self, level: LogLevel, message: String) {
        if self.log_budget == 0 {
            self.logs_dropped = self.logs_dropped.saturating_add(1);
            return;
        }
        self.log_budget -= 1;
        let message = truncate(&message, MAX_LINE);
        let (id, guest) = (&self.id, &*self.guest_name);
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(target: "sessionhost::guest", session_id = %id, guest, "{message}")
            };
        }
        match level {
            LogLevel::Trace => emit!(trace),
            LogLevel::Debug => emit!(debug),
            LogLevel::Info => emit!(info),
            LogLevel::Warn => emit!(warn),
            LogLevel::Error => emit!(error),
        }
    }

    fn now_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn publish(&mut self, event: Vec<u8>) -> Result<(), String> {
        if event.len() > self.max_message_bytes {
            return Err(format!(
                "event of {} bytes is larger than max_message_bytes ({})",
                event.len(),
                self.max_message_bytes
            ));
        }
        if let Some(link) = &mut self.link {
            link.publish(event);
        }
        Ok(())
    }

    fn send_after(&mut self, message: Vec<u8>, delay_ms: u64) -> Result<u64, String> {
        if message.len() > self.max_message_bytes {
            return Err(format!(
                "message of {} bytes is larger than max_message_bytes ({})",
                message.len(),
                self.max_message_bytes
            ));
        }
        match &mut self.link {
            Some(link) => link.send_after(message, delay_ms),
            None => Err("timers need a session".into()),
        }
    }

    fn cancel_timer(&mut self, id: u64) -> bool {
        self.link.as_mut().is_some_and(|link| link.cancel_timer(id))
    }

    fn stop(&mut self, reason: String) {
        if self.stop_requested.is_none() {
            self.stop_requested = Some(truncate(&reason, MAX_REASON).to_string());
        }
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
