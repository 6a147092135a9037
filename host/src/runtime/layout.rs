//! Memory layouts: how a guest's sessions are laid out in memory, chosen per guest.
//!
//! One host serves two kinds of guest side by side:
//!
//! - **dense** (Rust, C, Zig guests built for it): each session's linear memory is one slot of
//!   the pooling allocator, exactly `memory_per_session` bytes, no guard regions, no
//!   copy-on-write image, no kernel mapping of its own. Instantiation copies the data
//!   segments in; only touched pages cost RAM. This is what lets a host keep a million live
//!   sessions (see `engine.rs`).
//! - **large** (Python, JavaScript: tens of MiB of memory, dozens of core instances, big
//!   tables): a second engine with wasmtime's on-demand allocator. Each memory is reserved
//!   up to the guest's limit and grows on demand; its initial image is mapped copy-on-write,
//!   so a session pays only for the pages it writes, and instantiation does not copy
//!   megabytes. Each large session costs a few kernel mappings, so a host holds thousands of
//!   them, not millions.
//!
//! A guest's [`GuestLayout`] is `auto` unless its options say otherwise: dense when the
//! component fits a dense slot (its memories, core instances and tables), large otherwise.
//! The two engines share fuel, epoch deadlines, stack limit and the compile cache; each guest
//! is compiled for the engine of its layout. Per guest, `max_memory` lowers (dense) or sets
//! (large) the memory a session may use; past it, growth traps with `memory_limit`. Tables
//! are capped too — a dense session's at the pool's [`TABLE_ELEMENTS`], a large one's at
//! [`LARGE_TABLE_ELEMENTS`]: past them `table.grow` returns -1, so no table claims memory
//! without bound.

use bytesize::ByteSize;
use serde::Serialize;

use crate::config::{GuestLayout, HostConfig};
use crate::info::MemoryDecl;
use crate::runtime::engine::{
    CORE_INSTANCES_PER_COMPONENT, MEMORIES_PER_COMPONENT, TABLE_ELEMENTS, TABLES_PER_COMPONENT,
};

/// What a component's static scan (`guest/check.rs`) learned about it: what its layout is
/// chosen from.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Footprint {
    /// Memories defined (not imported) by its core modules.
    pub(crate) memories: Vec<MemoryDecl>,
    /// Core modules it contains.
    pub(crate) core_modules: usize,
    /// Initial element count of each table its core modules define.
    pub(crate) tables: Vec<u64>,
}

/// Bytes as KiB / MiB for messages.
pub(crate) fn human(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Elements one table of a large session may grow to (8 MiB of function references). The
/// interpreters built for the large layout start with tens of thousands.
pub(crate) const LARGE_TABLE_ELEMENTS: usize = 1 << 20;

/// The layout a guest gets and the memory each of its sessions may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// `Dense` or `Large`, never `Auto`.
    pub(crate) layout: GuestLayout,
    /// Most linear memory of one session, in bytes, all its memories together.
    pub(crate) memory_limit: u64,
}

impl Placement {
    /// Most elements one table of a session may hold: past it (or past the table's own
    /// maximum), `table.grow` returns -1.
    pub(crate) fn table_elements(&self) -> usize {
        match self.layout {
            GuestLayout::Large => LARGE_TABLE_ELEMENTS,
            _ => TABLE_ELEMENTS,
        }
    }
}

/// Why a component does not fit a dense slot, or `None` when it does.
pub(crate) fn dense_misfit(scan: &Footprint, slot: u64) -> Option<String> {
    let initial: u64 = scan.memories.iter().map(|m| m.initial_bytes).sum();
    if initial > slot {
        return Some(format!(
            "its linear memory starts at {} but memory_per_session is {}; link the guest with \
             `-zstack-size=16384 --initial-memory={slot} --max-memory={slot}` (see the guest \
             SDK docs, \"Building a guest\"), raise memory_per_session, or use the large layout",
            human(initial),
            human(slot)
        ));
    }
    if scan.memories.len() > MEMORIES_PER_COMPONENT as usize {
        return Some(format!(
            "it defines {} linear memories; a dense slot holds at most {MEMORIES_PER_COMPONENT}",
            scan.memories.len()
        ));
    }
    if scan.core_modules > CORE_INSTANCES_PER_COMPONENT as usize {
        return Some(format!(
            "it contains {} core modules; a dense slot holds at most \
             {CORE_INSTANCES_PER_COMPONENT} core instances",
            scan.core_modules
        ));
    }
    if scan.tables.len() > TABLES_PER_COMPONENT as usize {
        return Some(format!(
            "it defines {} tables; a dense slot holds at most {TABLES_PER_COMPONENT}",
            scan.tables.len()
        ));
    }
    if let Some(big) = scan.tables.iter().find(|t| **t > TABLE_ELEMENTS as u64) {
        return Some(format!(
            "one of its tables starts with {big} elements; a dense slot holds at most \
             {TABLE_ELEMENTS}"
        ));
    }
    None
}

/// Chooses the placement of a guest from what its component declares and its options.
pub(crate) fn place(
    scan: &Footprint,
    wanted: GuestLayout,
    max_memory: Option<ByteSize>,
    config: &HostConfig,
) -> Result<Placement, String> {
    let slot = config.memory_per_session.as_u64();
    let layout = match (wanted, dense_misfit(scan, slot)) {
        (GuestLayout::Dense, Some(why)) => return Err(why),
        (GuestLayout::Dense, None) | (GuestLayout::Auto, None) => GuestLayout::Dense,
        (GuestLayout::Large, _) | (GuestLayout::Auto, Some(_)) => GuestLayout::Large,
    };
    let ceiling = match layout {
        GuestLayout::Dense => slot,
        _ => config.large_memory_per_session.as_u64(),
    };
    let memory_limit = match max_memory.map(|m| m.as_u64()) {
        Some(0) => return Err("max_memory must be greater than zero".into()),
        Some(limit) if limit > ceiling => {
            return Err(format!(
                "max_memory {} is more than a {layout} session may have ({}: {})",
                human(limit),
                if layout == GuestLayout::Dense {
                    "memory_per_session"
                } else {
                    "large_memory_per_session"
                },
                human(ceiling)
            ));
        }
        Some(limit) => limit,
        None => ceiling,
    };
    let initial: u64 = scan.memories.iter().map(|m| m.initial_bytes).sum();
    if initial > memory_limit {
        return Err(format!(
            "its linear memory starts at {} but a session of this guest may use {}; raise \
             max_memory (or large_memory_per_session)",
            human(initial),
            human(memory_limit)
        ));
    }
    Ok(Placement {
        layout,
        memory_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::MemoryDecl;

    fn scan(memory_kib: u64, modules: usize, tables: Vec<u64>) -> Footprint {
        Footprint {
            memories: vec![MemoryDecl {
                initial_bytes: memory_kib * 1024,
                maximum_bytes: None,
            }],
            core_modules: modules,
            tables,
        }
    }

    #[test]
    fn auto_picks_dense_when_the_component_fits_and_large_otherwise() {
        let config = HostConfig::default();
        let small = place(&scan(256, 4, vec![10]), GuestLayout::Auto, None, &config).unwrap();
        assert_eq!(small.layout, GuestLayout::Dense);
        assert_eq!(small.memory_limit, 256 * 1024);
        for big in [
            scan(20 * 1024, 4, vec![10]),
            scan(256, 40, vec![10]),
            scan(256, 4, vec![10_000]),
            scan(256, 4, vec![1; 5]),
        ] {
            let p = place(&big, GuestLayout::Auto, None, &config).unwrap();
            assert_eq!(p.layout, GuestLayout::Large, "{big:?}");
            assert_eq!(p.memory_limit, config.large_memory_per_session.as_u64());
        }
    }

    #[test]
    fn dense_refuses_what_does_not_fit_and_says_why() {
        let config = HostConfig::default();
        let err = place(&scan(1024, 4, vec![]), GuestLayout::Dense, None, &config).unwrap_err();
        assert!(
            err.contains("1 MiB") && err.contains("--initial-memory=262144"),
            "{err}"
        );
        let err = place(&scan(64, 4, vec![5000]), GuestLayout::Dense, None, &config).unwrap_err();
        assert!(err.contains("5000 elements"), "{err}");
    }

    #[test]
    fn max_memory_lowers_the_limit_within_the_layout() {
        let config = HostConfig::default();
        let p = place(
            &scan(64, 1, vec![]),
            GuestLayout::Large,
            Some(ByteSize::mib(32)),
            &config,
        )
        .unwrap();
        assert_eq!((p.layout, p.memory_limit), (GuestLayout::Large, 32 << 20));
        let err = place(
            &scan(64, 1, vec![]),
            GuestLayout::Dense,
            Some(ByteSize::mib(1)),
            &config,
        )
        .unwrap_err();
        assert!(err.contains("memory_per_session"), "{err}");
        let err = place(
            &scan(8 * 1024, 1, vec![]),
            GuestLayout::Large,
            Some(ByteSize::mib(4)),
            &config,
        )
        .unwrap_err();
        assert!(err.contains("8 MiB") && err.contains("4 MiB"), "{err}");
    }
}
