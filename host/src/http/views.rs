//! The admin API's JSON bodies: what the host reports, as the HTTP API shows it.
//!
//! Each view is built from the host's own type by destructuring it whole, so a field added
//! to [`SessionInfo`], [`HibernatedInfo`], [`HostStats`] or [`GuestInfo`] does not compile
//! until it is shown here — and then it is in the OpenAPI document too, whose schemas are
//! derived from these types. Times are RFC 3339 strings (UTC, milliseconds).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    GuestInfo, GuestLayout, GuestVersion, HibernatedInfo, HostStats, MemoryDecl, SessionInfo,
    SessionStatus,
};

/// A point in time, as RFC 3339 (`2026-12-07T10:00:00.123Z`).
fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// One version of a guest.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GuestVersion)]
pub(crate) struct VersionView {
    /// First 16 hex digits of the SHA-256 of the component.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    hash: String,
    /// The label given when it was loaded, if any.
    label: Option<String>,
}

impl From<GuestVersion> for VersionView {
    fn from(GuestVersion { hash, label }: GuestVersion) -> Self {
        Self { hash, label }
    }
}

/// Where a live session is in its life.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = SessionStatus)]
pub(crate) enum StatusView {
    /// Accepting and handling messages.
    Running,
    /// Running its `terminate`.
    Ending,
    /// Ended.
    Ended,
    /// Stored as its snapshot.
    Hibernated,
}

impl From<SessionStatus> for StatusView {
    fn from(status: SessionStatus) -> Self {
        match status {
            SessionStatus::Running => Self::Running,
            SessionStatus::Ending => Self::Ending,
            SessionStatus::Ended => Self::Ended,
            SessionStatus::Hibernated => Self::Hibernated,
        }
    }
}

/// A live session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionInfo)]
pub(crate) struct SessionView {
    id: String,
    /// Its guest.
    guest: String,
    /// The version of its guest it runs.
    version: VersionView,
    status: StatusView,
    #[schema(format = DateTime)]
    created_at: String,
    /// Its last call, cast or touch.
    #[schema(format = DateTime)]
    last_active_at: String,
    /// Calls handled.
    calls: u64,
    /// Casts (and timer messages) handled.
    casts: u64,
    /// Fuel burned by all its messages.
    fuel_used: u64,
    /// Size of its linear memory, in bytes.
    memory_bytes: u64,
    /// Messages waiting in its mailbox.
    mailbox: u64,
    /// Why its last `migrate` upgrade failed (it stayed on `version`).
    upgrade_error: Option<String>,
}

impl From<SessionInfo> for SessionView {
    fn from(info: SessionInfo) -> Self {
        let SessionInfo {
            id,
            guest,
            version,
            status,
            created_at,
            last_active_at,
            calls,
            casts,
            fuel_used,
            memory_bytes,
            mailbox,
            upgrade_error,
        } = info;
        Self {
            id: id.to_string(),
            guest,
            version: version.into(),
            status: status.into(),
            created_at: time(created_at),
            last_active_at: time(last_active_at),
            calls,
            casts,
            fuel_used,
            memory_bytes: memory_bytes as u64,
            mailbox: mailbox as u64,
            upgrade_error,
        }
    }
}

/// Always `hibernated`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Hibernated {
    /// Stored as its snapshot, woken by its next message.
    Hibernated,
}

/// A hibernated session: what its stored record says.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HibernatedInfo)]
pub(crate) struct HibernatedView {
    id: String,
    status: Hibernated,
    /// Its guest.
    guest: String,
    /// The content hash of the guest version that took the snapshot.
    version_hash: String,
    #[schema(format = DateTime)]
    hibernated_at: String,
    /// Its last call, cast or touch.
    #[schema(format = DateTime)]
    last_active_at: String,
    /// Size of its snapshot, in bytes.
    snapshot_bytes: u64,
    /// Its pending `send-after` timers.
    timers: u64,
}

impl From<HibernatedInfo> for HibernatedView {
    fn from(info: HibernatedInfo) -> Self {
        let HibernatedInfo {
            id,
            status: _,
            guest,
            version_hash,
            hibernated_at,
            last_active_at,
            snapshot_bytes,
            timers,
        } = info;
        Self {
            id: id.to_string(),
            status: Hibernated::Hibernated,
            guest,
            version_hash,
            hibernated_at: time(hibernated_at),
            last_active_at: time(last_active_at),
            snapshot_bytes: snapshot_bytes as u64,
            timers: timers as u64,
        }
    }
}

/// Host-wide figures.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HostStats)]
pub(crate) struct StatsView {
    /// Sessions alive now.
    sessions: u64,
    /// Sessions hibernated.
    hibernated: u64,
    /// Configured `max_sessions`.
    max_sessions: u64,
    /// Sessions started since the host was created.
    started_total: u64,
    /// Sessions ended since the host was created.
    ended_total: u64,
    /// Starts refused by `max_sessions` or `rate_limit`.
    rejected_total: u64,
    /// Guest messages run.
    messages_total: u64,
    /// Guest traps.
    traps_total: u64,
    /// Messages refused because a mailbox was full.
    mailbox_full_total: u64,
    /// Guests loaded.
    guests: u64,
    /// Component instances alive.
    instances: u64,
    /// Subscribers attached to live sessions.
    subscribers: u64,
    /// Messages blocked in a WASI call now (each on a thread of its own), at most
    /// `max_blocked_messages`.
    blocked: u64,
    /// Compiled components held (the same component under several names counts once).
    compiled_components: u64,
    /// Guest compilations running now.
    compiling: u64,
}

impl From<HostStats> for StatsView {
    fn from(stats: HostStats) -> Self {
        let HostStats {
            sessions,
            hibernated,
            max_sessions,
            started_total,
            ended_total,
            rejected_total,
            messages_total,
            traps_total,
            mailbox_full_total,
            guests,
            instances,
            subscribers,
            blocked,
            compiled_components,
            compiling,
        } = stats;
        Self {
            sessions: sessions as u64,
            hibernated: hibernated as u64,
            max_sessions: max_sessions as u64,
            started_total,
            ended_total,
            rejected_total,
            messages_total,
            traps_total,
            mailbox_full_total,
            guests: guests as u64,
            instances: instances as u64,
            subscribers: subscribers as u64,
            blocked: blocked as u64,
            compiled_components: compiled_components as u64,
            compiling: compiling as u64,
        }
    }
}

/// A memory one of a component's core modules defines.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MemoryDecl)]
pub(crate) struct MemoryView {
    /// Initial size in bytes.
    initial_bytes: u64,
    /// Maximum size in bytes, when declared.
    maximum_bytes: Option<u64>,
}

/// The memory layout of a guest's sessions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = GuestLayout)]
pub(crate) enum LayoutView {
    /// Chosen when loaded (not reported once loaded).
    Auto,
    /// Pool slots of `memory_per_session`.
    Dense,
    /// Growable memory.
    Large,
}

/// A loaded guest: its current version.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = GuestInfo)]
pub(crate) struct GuestView {
    /// Its name.
    name: String,
    /// Its current version.
    version: VersionView,
    /// Size of the component, in bytes.
    size_bytes: u64,
    /// When this version was loaded.
    #[schema(format = DateTime)]
    loaded_at: String,
    /// Interfaces it imports.
    imports: Vec<String>,
    /// Linear memories its core modules define.
    memories: Vec<MemoryView>,
    /// The memory layout its sessions use.
    layout: LayoutView,
    /// Most linear memory one of its sessions may use, in bytes.
    memory_limit: u64,
}

impl From<GuestInfo> for GuestView {
    fn from(info: GuestInfo) -> Self {
        let GuestInfo {
            name,
            version,
            size_bytes,
            loaded_at,
            imports,
            memories,
            layout,
            memory_limit,
        } = info;
        Self {
            name,
            version: version.into(),
            size_bytes: size_bytes as u64,
            loaded_at: time(loaded_at),
            imports,
            memories: memories
                .into_iter()
                .map(
                    |MemoryDecl {
                         initial_bytes,
                         maximum_bytes,
                     }| MemoryView {
                        initial_bytes,
                        maximum_bytes,
                    },
                )
                .collect(),
            layout: match layout {
                GuestLayout::Auto => LayoutView::Auto,
                GuestLayout::Dense => LayoutView::Dense,
                GuestLayout::Large => LayoutView::Large,
            },
            memory_limit,
        }
    }
}

/// A loaded guest and the live sessions of each of its versions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GuestStatus {
    /// The guest.
    #[serde(flatten)]
    pub(crate) info: GuestView,
    /// Live sessions by version hash: the current version and any older one still in use.
    pub(crate) sessions: BTreeMap<String, u64>,
}

/// A page of live sessions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionPage {
    /// Sessions, sorted by ID.
    pub(crate) sessions: Vec<SessionView>,
    /// Cursor for the next page (`after`); none on the last page.
    pub(crate) next: Option<String>,
}

/// One session: live, or hibernated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum AnySession {
    /// A live session.
    Live(SessionView),
    /// A hibernated one.
    Hibernated(HibernatedView),
}
