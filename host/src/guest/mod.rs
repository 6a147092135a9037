//! Guests: loading, validating and naming the components sessions run.
//!
//! A [`Guest`] is one compiled version of a component, ready to instantiate: it holds the
//! `InstancePre` (imports resolved once, so starting a session does no linking). The
//! [`GuestRegistry`] maps a name to its current version; loading under an existing name makes
//! the new version current for *new* sessions while running sessions keep the `Arc<Guest>`
//! they started with.
//!
//! Loading never lets a bad component in. In order: the static scan of `check.rs` (is it a
//! component, does its memory fit), compilation, the import/export names, linking against the
//! host's imports with a type check of the `session` exports, and finally one probe
//! instantiation in a scratch store, which catches what only instantiation can see (pool
//! limits). Each failure becomes a [`GuestLoadError`] whose reason a guest author can act on.
//!
//! Compiled code is shared by content: the [`CompileCache`] keeps, per component hash and
//! engine, the compiled component as long as one loaded version uses it, so the same bytes
//! loaded under several names (or uploaded again) are compiled and held once; two loads of
//! the same bytes at once wait for one compilation. At most `max_concurrent_compiles`
//! compilations run at once (each is already parallel inside); further ones queue.

pub(crate) mod check;
pub(crate) mod watch;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::config::HostConfig;
use crate::config::{GuestLayout, GuestOptions};
use crate::error::GuestLoadError;
use crate::id::SessionId;
use crate::id::validate_guest_name;
use crate::info::{GuestInfo, GuestVersion, MemoryDecl};
use crate::runtime::Runtime;
use crate::runtime::bindings::SessionGuestPre;
use crate::runtime::ctx::{GuestLink, RuntimeShared, SessionCtx};
use crate::runtime::instance::{Budget, Instance, InstantiateError};
use crate::runtime::layout::{self, Placement};

/// One loaded, compiled and validated version of a guest.
pub(crate) struct Guest {
    /// The name it is registered under.
    pub(crate) name: Arc<str>,
    /// Its version.
    pub(crate) version: GuestVersion,
    /// Ready to instantiate: imports resolved, exports type-checked.
    pub(crate) pre: SessionGuestPre<SessionCtx>,
    /// The compiled component, shared with every version of the same bytes (see
    /// [`CompileCache`]); held so that the cache can hand it out while this version lives.
    _compiled: Arc<Compiled>,
    /// Supervision: restart policy, intensity, checkpoints.
    pub(crate) options: GuestOptions,
    /// Its memory layout and per-session memory limit.
    placement: Placement,
    /// What its instances share with every other of the runtime.
    shared: Arc<RuntimeShared>,
    /// Largest event its sessions may publish.
    max_message_bytes: usize,
    /// Facts for [`GuestInfo`].
    size_bytes: usize,
    loaded_at: SystemTime,
    imports: Vec<String>,
    memories: Vec<MemoryDecl>,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Guest {
    pub(crate) fn info(&self) -> GuestInfo {
        GuestInfo {
            name: self.name.to_string(),
            version: self.version.clone(),
            size_bytes: self.size_bytes,
            loaded_at: self.loaded_at,
            imports: self.imports.clone(),
            memories: self.memories.clone(),
            layout: self.placement.layout,
            memory_limit: self.placement.memory_limit,
        }
    }

    /// A new instance for session `id`, whose imports reach the session through `link`.
    pub(crate) fn instantiate(
        &self,
        id: SessionId,
        link: Box<dyn GuestLink>,
        budget: &Budget,
    ) -> Result<Instance, InstantiateError> {
        let ctx = SessionCtx::new(
            &self.shared,
            id,
            Arc::clone(&self.name),
            self.placement,
            self.max_message_bytes,
            Some(link),
        );
        Instance::instantiate(&self.pre, ctx, budget)
    }
}

/// A compiled component, shared by content (see the module docs).
pub(crate) type Compiled = tokio::sync::OnceCell<Component>;

/// What compiled code is shared by: the component's SHA-256 and the engine (layout).
type CompileKey = ([u8; 32], GuestLayout);

/// Component hash and engine → the compiled component, while a loaded version holds it.
pub(crate) struct CompileCache {
    entries: parking_lot::Mutex<HashMap<CompileKey, std::sync::Weak<Compiled>>>,
    /// Compilations running at once.
    permits: tokio::sync::Semaphore,
    max: usize,
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileCache").finish_non_exhaustive()
    }
}

impl CompileCache {
    pub(crate) fn new(max_concurrent: usize) -> Self {
        Self {
            entries: parking_lot::Mutex::default(),
            permits: tokio::sync::Semaphore::new(max_concurrent),
            max: max_concurrent,
        }
    }

    /// Compilations running now.
    pub(crate) fn running(&self) -> usize {
        self.max.saturating_sub(self.permits.available_permits())
    }

    /// The cell of these bytes for this engine: the one a live version holds, or a new one.
    fn cell(&self, digest: [u8; 32], layout: GuestLayout) -> Arc<Compiled> {
        let mut entries = self.entries.lock();
        if let Some(cell) = entries
            .get(&(digest, layout))
            .and_then(std::sync::Weak::upgrade)
        {
            return cell;
        }
        entries.retain(|_, weak| weak.strong_count() > 0);
        let cell = Arc::new(Compiled::new());
        entries.insert((digest, layout), Arc::downgrade(&cell));
        cell
    }

    /// Compiled components held now (for tests and stats).
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .values()
            .filter(|weak| weak.strong_count() > 0)
            .count()
    }
}

/// Name → current version of each loaded guest.
#[derive(Debug, Default)]
pub(crate) struct GuestRegistry {
    /// Read on every session start, written on load: a read-mostly lock.
    guests: parking_lot::RwLock<HashMap<Arc<str>, Arc<Guest>>>,
}

impl GuestRegistry {
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Guest>> {
        self.guests.read().get(name).cloned()
    }

    pub(crate) fn insert(&self, guest: Arc<Guest>) {
        self.guests.write().insert(guest.name.clone(), guest);
    }

    pub(crate) fn list(&self) -> Vec<GuestInfo> {
        let mut list: Vec<_> = self.guests.read().values().map(|g| g.info()).collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }
}

/// Reads a component file; the error names the file but not the host's directory layout
/// beyond what the caller gave.
pub(crate) fn read_file(name: &str, path: &Path) -> Result<Vec<u8>, GuestLoadError> {
    std::fs::read(path).map_err(|e| GuestLoadError {
        name: name.to_string(),
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

/// What compiling a guest needs: the runtime's engines and linkers, the compiled-code cache
/// and the host's limits.
#[derive(Clone, Copy)]
pub(crate) struct Compiler<'a> {
    pub(crate) runtime: &'a Runtime,
    pub(crate) cache: &'a CompileCache,
    pub(crate) config: &'a HostConfig,
}

/// Compiles and validates `bytes` as guest `name`. Does not register it. `wanted` is asked
/// once a compilation slot is free: when it says no, the compilation does not start.
pub(crate) async fn compile(
    compiler: Compiler<'_>,
    name: &str,
    bytes: &[u8],
    label: Option<String>,
    options: GuestOptions,
    wanted: &(dyn Fn() -> bool + Sync),
) -> Result<Guest, GuestLoadError> {
    let Compiler {
        runtime,
        cache,
        config,
    } = compiler;
    let fail = |reason: String| GuestLoadError {
        name: name.to_string(),
        reason,
    };
    validate_guest_name(name).map_err(&fail)?;
    let scan = check::scan(bytes).map_err(&fail)?;
    let placement =
        layout::place(&scan, options.layout, options.max_memory, config).map_err(&fail)?;
    let (engine, linker) = runtime.engine_for(placement.layout);

    let started = Instant::now();
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    let compiled = cache.cell(digest, placement.layout);
    let component = compiled
        .get_or_try_init(|| async {
            let _permit = cache
                .permits
                .acquire()
                .await
                .map_err(|_| fail("the host is shutting down".into()))?;
            if !wanted() {
                return Err(fail(
                    "the load was abandoned before its compilation started".into(),
                ));
            }
            let compiler = engine.clone();
            let owned = bytes.to_vec();
            tokio::task::spawn_blocking(move || Component::new(&compiler, &owned))
                .await
                .map_err(|e| fail(format!("compilation did not finish: {e}")))?
                .map_err(|e| {
                    fail(format!(
                        "it does not validate as a component: {}",
                        root_cause(&e)
                    ))
                })
        })
        .await?
        .clone();

    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    check::check_names(
        imports.iter().map(String::as_str),
        exports.iter().map(String::as_str),
    )
    .map_err(&fail)?;

    let stubbed: Vec<String> = imports
        .iter()
        .filter(|i| check::is_stubbed(i))
        .cloned()
        .collect();
    let stubbing;
    let linker = if stubbed.is_empty() {
        linker
    } else {
        // Only this component's linker gets the trapping stubs; the host's stays exact.
        let mut own = linker.clone();
        own.define_unknown_imports_as_traps(&component)
            .map_err(|e| fail(format!("its imports cannot be stubbed: {}", root_cause(&e))))?;
        stubbing = own;
        &stubbing
    };
    let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
        fail(format!(
            "its imports do not match what the host provides: {}",
            root_cause(&e)
        ))
    })?;
    let pre = SessionGuestPre::new(instance_pre).map_err(|e| {
        fail(format!(
            "its `{}` export does not match the contract: {}",
            check::SESSION_EXPORT,
            root_cause(&e)
        ))
    })?;

    // One real instantiation, without running any guest export, to catch what only
    // instantiation can see (too many tables or instances for the pool, for example).
    let max_message_bytes =
        usize::try_from(config.max_message_bytes.as_u64()).unwrap_or(usize::MAX);
    let probe = SessionCtx::new(
        &runtime.shared,
        SessionId::generate(),
        Arc::from(name),
        placement,
        max_message_bytes,
        None,
    );
    let began = Instant::now();
    let budget = Budget {
        fuel: config.fuel_budget(),
        started: began,
        deadline: began + config.call_timeout,
        timeout_ms: u64::try_from(config.call_timeout.as_millis()).unwrap_or(u64::MAX),
    };
    Instance::instantiate(&pre, probe, &budget).map_err(|e| {
        fail(format!(
            "it cannot be instantiated with this host's limits: {}",
            root_cause(&e.cause)
        ))
    })?;

    let hash = short_hash(&digest);
    tracing::info!(
        target: "sessionhost::guest",
        guest = name,
        version = %hash,
        size_bytes = bytes.len(),
        layout = %placement.layout,
        stubbed = ?stubbed,
        memory_limit = placement.memory_limit,
        compile_ms = started.elapsed().as_millis() as u64,
        "guest loaded"
    );
    Ok(Guest {
        name: Arc::from(name),
        version: GuestVersion { hash, label },
        pre,
        _compiled: compiled,
        options,
        placement,
        shared: Arc::clone(&runtime.shared),
        max_message_bytes,
        size_bytes: bytes.len(),
        loaded_at: SystemTime::now(),
        imports,
        memories: scan.memories,
    })
}

/// An error chain on one line ("context: cause: root"), each part cut to its first line so
/// no backtrace or multi-line dump reaches the guest author.
fn root_cause(error: &wasmtime::Error) -> String {
    let parts: Vec<String> = error
        .chain()
        .map(|cause| {
            cause
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let mut text = parts.join(": ");
    if text.len() > 600 {
        let mut cut = 600;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A component's version hash: the first 16 hex digits of its SHA-256.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    short_hash(&Sha256::digest(bytes).into())
}

/// The version hash of a SHA-256 digest.
fn short_hash(digest: &[u8; 32]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}
