//! The server under soak: a real `sessionhost` host and HTTP server in this process, on
//! `127.0.0.1:0`, with the `counter` and `hostile` guests, and a sampler of its resident
//! memory.
//!
//! The host is configured for the soak ([`SoakConfig`]): short `hibernate_after` so sessions
//! hibernate and wake during the run, small mailboxes so cast bursts meet `mailbox_full`, a
//! small fuel budget so hostile loops end quickly, no idle expiry and no creation rate limit.
//! `hostile` runs with the `temporary` restart policy: a trap or a limit ends its session,
//! which the clients then see as `session_not_found` and replace. The HTTP layer rejects a
//! genuine token whose session has ended (`on_unknown_session = "reject"`) instead of
//! silently starting a fresh session: a lost session must show, not look like a reset counter.
//!
//! The server itself is the tests' [`TestServer`], serving a host built here.
//! [`SoakServer::stop`] shuts it down gracefully (every session ends) and stops the sampler;
//! dropping it without `stop` fires the shutdown too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sessionhost::http::{HttpConfig, UnknownSession};
use sessionhost::store::{PersistentStore, SnapshotStore};
use sessionhost::{GuestOptions, Host, HostConfig, RestartPolicy};
use sessionhost::{GuestSource, LoadOptions};
use sessionhost_tests::server::TestServer;
use tokio::task::JoinHandle;

use crate::rss_kib;
use crate::soak::config::SoakConfig;

/// Room left in `max_sessions` above the planned sessions: replacements start before the
/// pool slot of the session they replace is reused, and failing hostile starts hold one
/// briefly.
const SPARE_SESSIONS: usize = 256;

/// How often resident memory is sampled for the peak.
const RSS_EVERY: Duration = Duration::from_millis(200);

/// The running server and its host.
#[derive(Debug)]
pub(crate) struct SoakServer {
    /// The server and the host behind it (read for its statistics and metrics).
    server: TestServer,
    /// Highest resident memory sampled since start, in KiB.
    peak_rss_kib: Arc<AtomicU64>,
    /// Samples resident memory until dropped.
    _sampler: Sampler,
}

/// The task sampling resident memory, stopped when dropped.
#[derive(Debug)]
struct Sampler(JoinHandle<()>);

impl Drop for Sampler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The host configuration of a soak run.
pub(crate) fn host_config(config: &SoakConfig) -> anyhow::Result<HostConfig> {
    Ok(HostConfig::builder()
        .max_sessions(config.sessions + config.shared + SPARE_SESSIONS)
        .rate_limit(0)
        .session_ttl(Duration::ZERO)
        .hibernate_after(config.hibernate_after)
        .mailbox(config.mailbox)
        .fuel_per_call(config.fuel_per_call)
        .call_timeout(Duration::from_secs(2))
        .default_guest("counter")
        .build()?)
}

impl SoakServer {
    /// Builds the host, loads the guests and serves on a loopback port.
    pub(crate) async fn start(config: &SoakConfig) -> anyhow::Result<Self> {
        let host_config = host_config(config)?;
        let host = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let store: Arc<dyn SnapshotStore> =
                    Arc::new(PersistentStore::open(dir.join("sessions.redb"))?);
                Host::with_store(host_config, store)?
            }
            None => Host::new(host_config)?,
        };
        host.load_guest(
            "counter",
            GuestSource::file(sessionhost_tests::guests::COUNTER),
            LoadOptions::default(),
        )
        .await?;
        let temporary = GuestOptions {
            restart: RestartPolicy::Temporary,
            ..GuestOptions::default()
        };
        host.load_guest(
            "hostile",
            GuestSource::file(sessionhost_tests::guests::HOSTILE),
            temporary,
        )
        .await?;

        let http = HttpConfig {
            on_unknown_session: UnknownSession::Reject,
            ..HttpConfig::default()
        };
        let server = TestServer::serve(host, http).await?;

        let peak_rss_kib = Arc::new(AtomicU64::new(rss_kib()));
        let peak = Arc::clone(&peak_rss_kib);
        let sampler = tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(RSS_EVERY).await;
            }
        });
        Ok(Self {
            server,
            peak_rss_kib,
            _sampler: Sampler(sampler),
        })
    }

    /// The host behind the server.
    pub(crate) fn host(&self) -> &Host {
        &self.server.host
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> String {
        self.server.url("")
    }

    /// Highest resident memory sampled so far, in KiB.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        self.peak_rss_kib.fetch_max(rss_kib(), Ordering::Relaxed)
    }

    /// Shuts the server down gracefully and waits for it (every session ends).
    pub(crate) async fn stop(self) {
        self.server.stop().await;
    }
}
