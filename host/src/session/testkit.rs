//! Fixtures for the session layer's unit tests: a [`SessionEnv`] with the `hostile` test
//! guest loaded, built without the host facade.
//!
//! The engine, linker and compiled guest are built once per test binary and shared (a
//! component belongs to its engine, and compiling is the slow part); each test gets an
//! environment of its own — its own configuration, registry, store, counters, reaper and
//! timers — so tests never see each other's sessions. The guest's protocol is documented in
//! `tests/guests/hostile/src/lib.rs`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use crate::config::{GuestOptions, HostConfig};
use crate::error::SessionError;
use crate::guest::{self, CompileCache, Compiler, Guest};
use crate::runtime::Runtime;
use crate::session::env::SessionEnv;
use crate::session::start::{StartExtras, StartOptions, start_session};
use crate::session::state::Session;
use crate::store::MemoryStore;

/// The guest every fixture session runs.
pub(crate) const GUEST: &str = "hostile";

/// The shared engine side: runtime, compile cache and the configuration they were built from.
struct Engines {
    runtime: Runtime,
    cache: CompileCache,
    config: HostConfig,
}

fn engines() -> &'static Engines {
    static ENGINES: OnceLock<Engines> = OnceLock::new();
    ENGINES.get_or_init(|| {
        let config = HostConfig {
            max_sessions: 256,
            ..HostConfig::default()
        };
        Engines {
            runtime: Runtime::new(&config).expect("the test runtime builds"),
            cache: CompileCache::new(1),
            config,
        }
    })
}

/// A configuration for a test environment: the defaults, with no creation rate limit and no
/// expiry or hibernation unless the test sets them.
pub(crate) fn config() -> HostConfig {
    HostConfig {
        max_sessions: 256,
        rate_limit: 0,
        session_ttl: Duration::ZERO,
        hibernate_after: Duration::ZERO,
        ..HostConfig::default()
    }
}

/// The hostile guest, compiled (once per binary) with `options`.
pub(crate) async fn hostile(options: GuestOptions) -> Guest {
    let engines = engines();
    let bytes = sessionhost_tests::guest_bytes(sessionhost_tests::guests::HOSTILE);
    let compiler = Compiler {
        runtime: &engines.runtime,
        cache: &engines.cache,
        config: &engines.config,
    };
    guest::compile(compiler, GUEST, &bytes, None, options, &|| true)
        .await
        .expect("the hostile guest compiles")
}

/// An environment with `config`, an in-memory snapshot store and the hostile guest loaded
/// with the default options.
pub(crate) async fn env(config: HostConfig) -> Arc<SessionEnv> {
    let env = Arc::new(SessionEnv::new(config, Arc::new(MemoryStore::new()), None));
    env.guests
        .insert(Arc::new(hostile(GuestOptions::default()).await));
    env
}

/// Starts a hostile session under `id`.
pub(crate) async fn start(env: &Arc<SessionEnv>, id: &str) -> Arc<Session> {
    start_session(
        env,
        StartOptions::guest(GUEST).id(id),
        StartExtras::default(),
    )
    .await
    .expect("the session starts")
}

/// Starts a hostile session under `id` with `args` for its `init`.
pub(crate) async fn start_with(env: &Arc<SessionEnv>, id: &str, args: Value) -> Arc<Session> {
    start_session(
        env,
        StartOptions::guest(GUEST).id(id).args(args.to_string()),
        StartExtras::default(),
    )
    .await
    .expect("the session starts")
}

/// Calls `session` with `request` (JSON) and parses the reply.
pub(crate) async fn call(
    env: &Arc<SessionEnv>,
    session: &Arc<Session>,
    request: Value,
) -> Result<Value, SessionError> {
    let reply = session
        .call(env, request.to_string().as_bytes(), Duration::from_secs(10))
        .await?;
    Ok(serde_json::from_slice(&reply).expect("the guest replies JSON"))
}

/// Subscribes to `session`'s events.
pub(crate) fn subscribe(env: &SessionEnv, session: &Session) -> crate::events::SessionEvents {
    session
        .subscribe(&env.events)
        .expect("a live session takes subscribers")
}

/// Reads `events` up to the session's final event and returns its reason. Panics when none
/// comes within a minute of tokio time (at once on paused time, where nothing else is due).
pub(crate) async fn stop_reason(
    events: &mut crate::events::SessionEvents,
) -> crate::reason::StopReason {
    let last = async {
        loop {
            match events.recv().await {
                Ok(crate::events::SessionEvent::Terminated(reason)) => return reason,
                Ok(_) => {}
                Err(e) => panic!("the events ended without a final event: {e:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), last)
        .await
        .expect("the session ends")
}
