//! Host configuration: what a [`Host`](crate::Host) is allowed to do and how much it may spend.
//!
//! [`HostConfig`] is a plain serde struct so that the same settings can come from a TOML file
//! (`deny_unknown_fields`: a misspelt key is an error, not a silently ignored setting) or from
//! code through [`HostConfig::builder`]. Every field has a documented default; the names and
//! defaults of `max_sessions`, `session_ttl` and `rate_limit` are the ones Phoenix.SessionProcess
//! uses. [`HostConfig::validate`] is called by [`Host::new`](crate::Host::new) and rejects
//! combinations the engine cannot honour, so a bad value fails at start-up with a message that
//! names the field.

use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::reason::StopReason;

/// Settings of a [`Host`](crate::Host). See each field for its default.
///
/// ```
/// # use std::time::Duration;
/// let config = sessionhost::HostConfig::builder()
///     .max_sessions(50_000)
///     .call_timeout(Duration::from_secs(2))
///     .rate_limit(0) // no creation rate limit
///     .build()
///     .unwrap();
/// assert_eq!(config.max_sessions, 50_000);
///
/// let from_toml: sessionhost::HostConfig = toml::from_str(r#"
///     max_sessions = 1000
///     session_ttl = "30m"
///     memory_per_session = "256 KiB"
/// "#).unwrap();
/// assert_eq!(from_toml.session_ttl, Duration::from_secs(1800));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Guest used by [`StartOptions`](crate::StartOptions) that name none. Default: none (every
    /// start must name its guest).
    pub default_guest: Option<String>,
    /// Most sessions alive at once; starting one more fails with `session_limit_reached`.
    /// Also sizes the engine's instance pool. Default: 10 000.
    pub max_sessions: usize,
    /// Idle time after which a session is ended with reason `idle-timeout` (measured from its
    /// last call, cast or touch). Default: 1 hour. `0s` disables expiry.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Longest a session may live, however active; past it the session ends with reason
    /// `killed: session_max_lifetime reached`. Default: none.
    #[serde(default, with = "humantime_serde")]
    pub session_max_lifetime: Option<Duration>,
    /// Idle time after which a session whose guest supports snapshots is hibernated: reduced
    /// to its snapshot in the snapshot store, its instance freed, and woken by its next
    /// message. Default: 5 minutes. `0s` disables hibernation.
    #[serde(with = "humantime_serde")]
    pub hibernate_after: Duration,
    /// New sessions allowed per minute, as a token bucket holding one minute's worth; over it,
    /// starting fails with `rate_limited`. `0` disables the limit. Default: 100.
    pub rate_limit: u32,
    /// Default limit for one call: time in the mailbox plus guest execution. A guest still
    /// running at the deadline is interrupted and its session ends. Also bounds `init`,
    /// casts and `terminate`. Default: 5 s.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Fuel (roughly, WebAssembly instructions) one message may burn before the guest is
    /// stopped with an `out of fuel` trap. `0` means unlimited. Default: 1 000 000 000.
    pub fuel_per_call: u64,
    /// Linear memory one session may use. It is also the size of each slot in the engine's
    /// memory pool, so guests built for the dense layout should declare exactly this much
    /// fixed memory (see the guest SDK). Must be a multiple of 64 KiB. Default: 256 KiB.
    pub memory_per_session: ByteSize,
    /// Linear memory one session of a guest with the large layout (Python, JavaScript: a
    /// language runtime inside) may grow to, unless the guest's `max_memory` says less. Such
    /// memories are reserved at this size, grow on demand, and cost only the pages a session
    /// writes. Must be a multiple of 64 KiB. Default: 256 MiB.
    pub large_memory_per_session: ByteSize,
    /// Messages (calls waiting plus casts queued) one session may have pending; beyond it,
    /// senders get `mailbox_full`. Default: 1 024.
    pub mailbox: usize,
    /// Bytes of pending messages (calls waiting plus casts and timer messages queued) one
    /// session may hold; a message that would take it past this gets `mailbox_full`. A
    /// message always fits an empty mailbox (it is at most `max_message_bytes`).
    /// Default: 8 MiB.
    pub mailbox_bytes: ByteSize,
    /// Bytes of pending messages all sessions together may hold; a message that would take
    /// the host past this gets `mailbox_full` until mailboxes drain. Default: 256 MiB.
    pub mailbox_bytes_total: ByteSize,
    /// Messages that may be blocked in a WASI call (a sleep, a poll on a clock) at once,
    /// host-wide. Each holds a thread while it waits (its session's worker thread is handed
    /// to another thread, so nobody else waits); a message that would block past this
    /// traps with `blocking_limit`. Default: 256.
    pub max_blocked_messages: usize,
    /// Largest request, reply, cast or published event, in bytes. Default: 1 MiB.
    pub max_message_bytes: ByteSize,
    /// Timers (`send-after`) one session may have pending. Default: 64.
    pub max_timers_per_session: usize,
    /// Period of the engine's epoch clock. Long-running guests yield to other sessions every
    /// tick, and deadlines are checked at this resolution. Default: 5 ms.
    #[serde(with = "humantime_serde")]
    pub epoch_tick: Duration,
    /// With a durable snapshot store (a server's `data_dir`), how durable the checkpoints of
    /// guests with `checkpoint_every` are when a message is answered: `sync` (a call is
    /// answered once its checkpoint is on disk; nothing answered is lost in a crash) or
    /// `group` (committed every `checkpoint_group_commit`, replies do not wait; a crash
    /// loses at most that interval). Without a durable store checkpoints live in memory
    /// and a crash loses them. Default: `sync`.
    pub checkpoint_durability: CheckpointDurability,
    /// The commit interval of `checkpoint_durability = "group"`. Default: 10 ms.
    #[serde(with = "humantime_serde")]
    pub checkpoint_group_commit: Duration,
    /// Guest compilations that may run at once (each is parallel inside); further loads
    /// wait their turn. Default: 2.
    pub max_concurrent_compiles: usize,
    /// Directory where compiled guests are cached, so a restart does not compile them again.
    /// Default: none (the server uses `<data_dir>/compiled` when it has a data dir).
    pub compile_cache_dir: Option<std::path::PathBuf>,
    /// Events one subscriber (SSE, WebSocket, [`Host::subscribe`](crate::Host::subscribe))
    /// may have unread; one more and it is dropped, its queue freed. Default: 1 024.
    pub subscriber_buffer: usize,
    /// Bytes of events one subscriber may have unread; past it, it is dropped, its queue
    /// freed. An event larger than this drops every subscriber that gets it. Default: 4 MiB.
    pub subscriber_buffer_bytes: ByteSize,
    /// Bytes of events held for all subscribers of the host, each event counted once however
    /// many subscribers hold it. While over it, a subscriber that is behind is dropped rather
    /// than given more. Default: 256 MiB.
    pub subscriber_bytes_total: ByteSize,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            default_guest: None,
            max_sessions: 10_000,
            session_ttl: Duration::from_secs(3600),
            session_max_lifetime: None,
            hibernate_after: Duration::from_secs(300),
            rate_limit: 100,
            call_timeout: Duration::from_secs(5),
            fuel_per_call: 1_000_000_000,
            memory_per_session: ByteSize::kib(256),
            large_memory_per_session: ByteSize::mib(256),
            mailbox: 1024,
            mailbox_bytes: ByteSize::mib(8),
            mailbox_bytes_total: ByteSize::mib(256),
            max_blocked_messages: 256,
            max_message_bytes: ByteSize::mib(1),
            max_timers_per_session: 64,
            epoch_tick: Duration::from_millis(5),
            max_concurrent_compiles: 2,
            checkpoint_durability: CheckpointDurability::Sync,
            checkpoint_group_commit: Duration::from_millis(10),
            compile_cache_dir: None,
            subscriber_buffer: crate::events::SUBSCRIBER_BUFFER,
            subscriber_buffer_bytes: ByteSize::mib(4),
            subscriber_bytes_total: ByteSize::mib(256),
        }
    }
}

/// When a failed session is started again (per guest, as in Elixir's supervisors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartPolicy {
    /// Never: a trap ends the session.
    Temporary,
    /// After an abnormal end only: a trap or an exceeded limit (fuel, time, memory).
    #[default]
    Transient,
    /// After a trap or limit, and also when the guest stops itself (`host.stop`). An end
    /// decided outside the guest (terminate, idle expiry, shutdown) is never undone.
    Permanent,
}

impl RestartPolicy {
    /// Whether a session ending for `reason` is started again under this policy.
    pub(crate) fn restarts_after(self, reason: &StopReason) -> bool {
        match self {
            Self::Temporary => false,
            Self::Transient => matches!(reason, StopReason::Limit(_) | StopReason::Crashed(_)),
            Self::Permanent => matches!(
                reason,
                StopReason::Limit(_) | StopReason::Crashed(_) | StopReason::Requested(_)
            ),
        }
    }
}

/// What a new version of a guest means for its running sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradePolicy {
    /// Running sessions stay on their version until they end; new sessions get the new one.
    #[default]
    Keep,
    /// Each running session moves at its next idle point: `terminate(upgrade)` and
    /// `snapshot` on the old instance, `restore(state, old-version)` on the new one. If the
    /// new version's `restore` fails, the session stays on the old version and the failure
    /// is reported (session info, log, `sessionhost_upgrades_failed_total`).
    Migrate,
}

/// Per-guest options, given when the guest is loaded
/// ([`Host::load_guest`](crate::Host::load_guest)).
///
/// ```
/// use sessionhost::{GuestOptions, RestartPolicy};
/// let options: GuestOptions = toml::from_str(r#"
///     restart = "permanent"
///     max_restarts = 5
///     restart_window = "10s"
///     checkpoint_every = 1
///     layout = "large"
///     max_memory = "64 MiB"
/// "#).unwrap();
/// assert_eq!(options.restart, RestartPolicy::Permanent);
/// assert_eq!(options.layout, sessionhost::GuestLayout::Large);
/// assert_eq!(GuestOptions::default().max_restarts, 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuestOptions {
    /// When a failed session is started again. Default: `transient`.
    pub restart: RestartPolicy,
    /// Most restarts of one session within `restart_window`; one more ends it with reason
    /// `crashed`. Default: 3.
    pub max_restarts: u32,
    /// The window of `max_restarts`. Default: 5 s.
    #[serde(with = "humantime_serde")]
    pub restart_window: Duration,
    /// Take a checkpoint (the guest's `snapshot`) after every this many handled messages, so
    /// a restart resumes from it; `0`: never (a restart runs `init` again). `1` loses nothing
    /// but the failing message, at the price of one `snapshot` per message. Guests whose
    /// `snapshot` returns `none` are never checkpointed. Default: 0.
    pub checkpoint_every: u32,
    /// Whether idle sessions of this guest hibernate after the host's `hibernate_after`.
    /// Default: true (guests whose `snapshot` returns `none` never do).
    pub hibernate: bool,
    /// What a new version means for running sessions. Default: `keep`.
    pub upgrade: UpgradePolicy,
    /// How its sessions are laid out in memory: `dense` (pool slots of
    /// `memory_per_session`), `large` (growable, up to `large_memory_per_session`) or `auto`
    /// (dense when the component fits). Default: `auto`.
    pub layout: GuestLayout,
    /// Most linear memory one session of this guest may use, within its layout's ceiling.
    /// Default: the ceiling (`memory_per_session` or `large_memory_per_session`).
    pub max_memory: Option<ByteSize>,
}

impl Default for GuestOptions {
    fn default() -> Self {
        Self {
            restart: RestartPolicy::Transient,
            max_restarts: 3,
            restart_window: Duration::from_secs(5),
            checkpoint_every: 0,
            hibernate: true,
            upgrade: UpgradePolicy::Keep,
            layout: GuestLayout::Auto,
            max_memory: None,
        }
    }
}

/// Which memory layout a guest's sessions use (`layout` in [`GuestOptions`]).
///
/// [`GuestOptions`]: crate::GuestOptions
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuestLayout {
    /// Dense when the component fits a dense slot, large otherwise. The default.
    #[default]
    Auto,
    /// Pool slots of `memory_per_session`: for small guests, up to millions of sessions. A
    /// component that does not fit is refused, with what to change.
    Dense,
    /// On-demand, growable memory up to `large_memory_per_session` (or the guest's
    /// `max_memory`): for guests with a language runtime inside (Python, JavaScript).
    Large,
}

impl std::fmt::Display for GuestLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Dense => "dense",
            Self::Large => "large",
        })
    }
}

/// How durable a session's checkpoint is when its message is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointDurability {
    /// A call is answered once the checkpoint taken after it is on disk: a crash loses no
    /// message whose reply was sent (casts are not answered: a crash may lose the casts of
    /// the last commit, about an fsync's time). Checkpoints handed over while a commit runs
    /// share the next one, so concurrent sessions pay one fsync together.
    #[default]
    Sync,
    /// Checkpoints are committed together every `checkpoint_group_commit`; replies do not
    /// wait. A crash loses at most that interval's checkpoints (sessions come back from the
    /// one before), even of calls already answered.
    Group,
}

/// The WebAssembly page size: linear memory grows in these steps.
pub(crate) const WASM_PAGE: u64 = 64 * 1024;

impl HostConfig {
    /// Starts a builder from the defaults.
    pub fn builder() -> HostConfigBuilder {
        HostConfigBuilder {
            config: Self::default(),
        }
    }

    /// Checks that the values can be honoured; the error names the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError { field, reason });
        if self.max_sessions == 0 {
            return bad("max_sessions", "must be at least 1".into());
        }
        if self.max_sessions > 10_000_000 {
            return bad("max_sessions", "must be at most 10 000 000".into());
        }
        let mem = self.memory_per_session.as_u64();
        if mem == 0 || !mem.is_multiple_of(WASM_PAGE) {
            return bad(
                "memory_per_session",
                format!("must be a positive multiple of 64 KiB, got {mem} bytes"),
            );
        }
        if mem > 4 * 1024 * 1024 * 1024 {
            return bad("memory_per_session", "must be at most 4 GiB".into());
        }
        let large = self.large_memory_per_session.as_u64();
        if large == 0 || !large.is_multiple_of(WASM_PAGE) || large > 4 * 1024 * 1024 * 1024 {
            return bad(
                "large_memory_per_session",
                format!("must be a positive multiple of 64 KiB up to 4 GiB, got {large} bytes"),
            );
        }
        if self.session_max_lifetime.is_some_and(|d| d.is_zero()) {
            return bad(
                "session_max_lifetime",
                "must be greater than zero (leave it out for no limit)".into(),
            );
        }
        if self.call_timeout.is_zero() {
            return bad("call_timeout", "must be greater than zero".into());
        }
        if self.mailbox == 0 {
            return bad("mailbox", "must be at least 1".into());
        }
        if self.max_message_bytes.as_u64() == 0 {
            return bad("max_message_bytes", "must be greater than zero".into());
        }
        if self.checkpoint_group_commit.is_zero()
            || self.checkpoint_group_commit > Duration::from_secs(10)
        {
            return bad(
                "checkpoint_group_commit",
                "must be between 1 ms and 10 s".into(),
            );
        }
        if self.max_concurrent_compiles == 0 {
            return bad("max_concurrent_compiles", "must be at least 1".into());
        }
        if self.max_blocked_messages == 0 || self.max_blocked_messages > 4096 {
            return bad(
                "max_blocked_messages",
                "must be between 1 and 4096 (each blocked message holds a thread)".into(),
            );
        }
        if self.epoch_tick < Duration::from_millis(1) || self.epoch_tick > Duration::from_secs(1) {
            return bad("epoch_tick", "must be between 1 ms and 1 s".into());
        }
        if self.subscriber_buffer == 0 {
            return bad("subscriber_buffer", "must be at least 1".into());
        }
        if self.subscriber_buffer_bytes.as_u64() == 0 {
            return bad(
                "subscriber_buffer_bytes",
                "must be greater than zero".into(),
            );
        }
        if self.subscriber_bytes_total < self.subscriber_buffer_bytes {
            return bad(
                "subscriber_bytes_total",
                "must be at least subscriber_buffer_bytes".into(),
            );
        }
        if let Some(name) = &self.default_guest
            && let Err(reason) = crate::id::validate_guest_name(name)
        {
            return bad("default_guest", reason);
        }
        Ok(())
    }

    /// `fuel_per_call` as the amount to give a store before each message.
    pub(crate) fn fuel_budget(&self) -> u64 {
        if self.fuel_per_call == 0 {
            u64::MAX
        } else {
            self.fuel_per_call
        }
    }
}

/// Builds a [`HostConfig`] in code; [`HostConfigBuilder::build`] validates it.
#[derive(Clone, Debug)]
pub struct HostConfigBuilder {
    config: HostConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident : $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl HostConfigBuilder {
    setters! {
        /// See [`HostConfig::max_sessions`].
        max_sessions: usize,
        /// See [`HostConfig::session_ttl`].
        session_ttl: Duration,
        /// See [`HostConfig::hibernate_after`].
        hibernate_after: Duration,
        /// See [`HostConfig::rate_limit`].
        rate_limit: u32,
        /// See [`HostConfig::call_timeout`].
        call_timeout: Duration,
        /// See [`HostConfig::fuel_per_call`].
        fuel_per_call: u64,
        /// See [`HostConfig::mailbox`].
        mailbox: usize,
        /// See [`HostConfig::max_blocked_messages`].
        max_blocked_messages: usize,
        /// See [`HostConfig::max_concurrent_compiles`].
        max_concurrent_compiles: usize,
        /// See [`HostConfig::checkpoint_durability`].
        checkpoint_durability: CheckpointDurability,
        /// See [`HostConfig::checkpoint_group_commit`].
        checkpoint_group_commit: Duration,
        /// See [`HostConfig::max_timers_per_session`].
        max_timers_per_session: usize,
        /// See [`HostConfig::epoch_tick`].
        epoch_tick: Duration,
        /// See [`HostConfig::subscriber_buffer`].
        subscriber_buffer: usize,
    }

    /// See [`HostConfig::subscriber_buffer_bytes`].
    pub fn subscriber_buffer_bytes(mut self, bytes: u64) -> Self {
        self.config.subscriber_buffer_bytes = ByteSize::b(bytes);
        self
    }

    /// See [`HostConfig::subscriber_bytes_total`].
    pub fn subscriber_bytes_total(mut self, bytes: u64) -> Self {
        self.config.subscriber_bytes_total = ByteSize::b(bytes);
        self
    }

    /// See [`HostConfig::compile_cache_dir`].
    pub fn compile_cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.compile_cache_dir = Some(dir.into());
        self
    }

    /// See [`HostConfig::session_max_lifetime`].
    pub fn session_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.config.session_max_lifetime = Some(lifetime);
        self
    }

    /// See [`HostConfig::default_guest`].
    pub fn default_guest(mut self, name: impl Into<String>) -> Self {
        self.config.default_guest = Some(name.into());
        self
    }

    /// See [`HostConfig::memory_per_session`]; `bytes` must be a multiple of 64 KiB.
    pub fn memory_per_session(mut self, bytes: u64) -> Self {
        self.config.memory_per_session = ByteSize::b(bytes);
        self
    }

    /// See [`HostConfig::large_memory_per_session`]; `bytes` must be a multiple of 64 KiB.
    pub fn large_memory_per_session(mut self, bytes: u64) -> Self {
        self.config.large_memory_per_session = ByteSize::b(bytes);
        self
    }

    /// See [`HostConfig::mailbox_bytes`].
    pub fn mailbox_bytes(mut self, bytes: u64) -> Self {
        self.config.mailbox_bytes = ByteSize::b(bytes);
        self
    }

    /// See [`HostConfig::mailbox_bytes_total`].
    pub fn mailbox_bytes_total(mut self, bytes: u64) -> Self {
        self.config.mailbox_bytes_total = ByteSize::b(bytes);
        self
    }

    /// See [`HostConfig::max_message_bytes`].
    pub fn max_message_bytes(mut self, bytes: u64) -> Self {
        self.config.max_message_bytes = ByteSize::b(bytes);
        self
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<HostConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let c = HostConfig::default();
        assert_eq!(c.max_sessions, 10_000);
        assert_eq!(c.session_ttl, Duration::from_secs(3600));
        assert_eq!(c.rate_limit, 100);
        assert_eq!(c.memory_per_session, ByteSize::kib(256));
        assert_eq!(c.subscriber_buffer, 1024);
        assert_eq!(c.subscriber_buffer_bytes, ByteSize::mib(4));
        assert_eq!(c.subscriber_bytes_total, ByteSize::mib(256));
        c.validate().expect("defaults are valid");
        let err = HostConfig::builder()
            .subscriber_bytes_total(1024)
            .build()
            .unwrap_err();
        assert_eq!(err.field, "subscriber_bytes_total");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<HostConfig>("max_sesions = 3").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn empty_toml_gives_defaults() {
        let c: HostConfig = toml::from_str("").unwrap();
        assert_eq!(c, HostConfig::default());
    }

    #[test]
    fn durations_and_sizes_parse_from_human_text() {
        let c: HostConfig = toml::from_str(
            "call_timeout = \"250ms\"\nmemory_per_session = \"1 MiB\"\nmax_message_bytes = \"64 KiB\"",
        )
        .unwrap();
        assert_eq!(c.call_timeout, Duration::from_millis(250));
        assert_eq!(c.memory_per_session.as_u64(), 1024 * 1024);
        assert_eq!(c.max_message_bytes.as_u64(), 64 * 1024);
    }

    #[test]
    fn invalid_values_name_their_field() {
        let err = HostConfig::builder()
            .memory_per_session(100_000)
            .build()
            .unwrap_err();
        assert_eq!(err.field, "memory_per_session");
        let err = HostConfig::builder().max_sessions(0).build().unwrap_err();
        assert_eq!(err.field, "max_sessions");
        let err = HostConfig::builder()
            .default_guest("bad name!")
            .build()
            .unwrap_err();
        assert_eq!(err.field, "default_guest");
        let err = HostConfig::builder()
            .epoch_tick(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("epoch_tick"), "{err}");
    }

    #[test]
    fn policies_restart_after_the_right_endings() {
        let crash = StopReason::Crashed("x".into());
        let limit = StopReason::Limit("timeout".into());
        let asked = StopReason::Requested("bye".into());
        for (policy, expected) in [
            (RestartPolicy::Temporary, [false, false, false]),
            (RestartPolicy::Transient, [true, true, false]),
            (RestartPolicy::Permanent, [true, true, true]),
        ] {
            let got = [&crash, &limit, &asked].map(|r| policy.restarts_after(r));
            assert_eq!(got, expected, "{policy:?}");
            for outside in [
                StopReason::Normal,
                StopReason::IdleTimeout,
                StopReason::Shutdown,
            ] {
                assert!(!policy.restarts_after(&outside));
            }
        }
    }

    #[test]
    fn options_reject_unknown_keys() {
        let error = toml::from_str::<GuestOptions>("restrat = \"permanent\"").unwrap_err();
        assert!(error.to_string().contains("restrat"), "{error}");
    }
}
