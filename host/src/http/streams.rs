//! How many event streams (SSE and WebSocket) may be open: per session, per client address,
//! and over the whole server.
//!
//! A stream holds a connection for as long as it lives, so without bounds one session or one
//! client could take every place under `max_connections` (64 idle SSE streams from one
//! session at `max_connections = 64` once kept every other client out). A stream takes a
//! [`StreamPermit`] before it subscribes; the permit counts it against
//! `max_streams_per_session`, `max_streams_per_client` (429 `too_many_streams` beyond either)
//! and `max_streams` (503 `overloaded` beyond), and gives the places back when dropped — when
//! the stream ends, however it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::SessionId;
use crate::http::config::HttpConfig;
use crate::http::error::ApiError;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_session: HashMap<SessionId, usize>,
    per_client: HashMap<IpAddr, usize>,
}

/// The open streams, counted. One std-style mutex: held for a few map operations, never
/// across an await.
#[derive(Debug)]
pub(crate) struct StreamLimits {
    counts: Arc<parking_lot::Mutex<Counts>>,
    total: usize,
    per_session: usize,
    per_client: usize,
}

impl StreamLimits {
    pub(crate) fn new(config: &HttpConfig) -> Self {
        Self {
            counts: Arc::default(),
            total: config.stream_cap(),
            per_session: config.max_streams_per_session,
            per_client: config.max_streams_per_client,
        }
    }

    /// A place for one more stream of `session` from `client`, or why there is none.
    pub(crate) fn acquire(
        &self,
        session: &SessionId,
        client: Option<IpAddr>,
    ) -> Result<StreamPermit, ApiError> {
        let mut counts = self.counts.lock();
        if counts.total >= self.total {
            return Err(ApiError::Overloaded);
        }
        if counts.per_session.get(session).copied().unwrap_or(0) >= self.per_session {
            return Err(ApiError::TooManyStreams(format!(
                "this session already has {} event streams open",
                self.per_session
            )));
        }
        let client = client.filter(|_| self.per_client > 0);
        if let Some(ip) = client
            && counts.per_client.get(&ip).copied().unwrap_or(0) >= self.per_client
        {
            return Err(ApiError::TooManyStreams(format!(
                "this client already has {} event streams open",
                self.per_client
            )));
        }
        counts.total += 1;
        *counts.per_session.entry(session.clone()).or_default() += 1;
        if let Some(ip) = client {
            *counts.per_client.entry(ip).or_default() += 1;
        }
        Ok(StreamPermit {
            counts: Arc::clone(&self.counts),
            session: session.clone(),
            client,
        })
    }

    /// Streams open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.counts.lock().total
    }
}

/// One stream's places; given back on drop.
#[derive(Debug)]
pub(crate) struct StreamPermit {
    counts: Arc<parking_lot::Mutex<Counts>>,
    session: SessionId,
    client: Option<IpAddr>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
            if let Some(n) = map.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        let mut counts = self.counts.lock();
        counts.total -= 1;
        release(&mut counts.per_session, &self.session);
        if let Some(ip) = self.client {
            release(&mut counts.per_client, &ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_refuses_and_places_come_back() {
        let limits = StreamLimits::new(&HttpConfig {
            max_streams: Some(3),
            max_streams_per_session: 2,
            max_streams_per_client: 1,
            ..HttpConfig::default()
        });
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let ip = |n: u8| Some(IpAddr::from([10, 0, 0, n]));
        let kind = |r: Result<StreamPermit, ApiError>| r.unwrap_err().parts().1.error;
        let a1 = limits.acquire(&a, ip(1)).unwrap();
        assert_eq!(
            kind(limits.acquire(&a, ip(1))),
            "too_many_streams",
            "per client"
        );
        let _a2 = limits.acquire(&a, ip(2)).unwrap();
        assert_eq!(
            kind(limits.acquire(&a, ip(3))),
            "too_many_streams",
            "per session"
        );
        let _b1 = limits.acquire(&b, ip(3)).unwrap();
        assert_eq!(kind(limits.acquire(&b, ip(4))), "overloaded", "in all");
        drop(a1);
        let _b2 = limits.acquire(&b, ip(1)).unwrap();
        assert_eq!(limits.open(), 3);
    }
}
