//! Static checks of a component before it is compiled, and the report `sessionhost check`
//! prints.
//!
//! Compiling a component can take a second and wasmtime's errors are written for wasmtime's
//! developers. These checks run first, on the raw bytes, and turn the common mistakes into
//! sentences a guest author can act on: a core module instead of a component, truncated or
//! random bytes, an import the host does not provide, the session interface not exported, a
//! linear memory or table that does not fit a dense slot (see `layout.rs`).

use wasmparser::{Encoding, Parser, Payload};

use crate::info::MemoryDecl;
use crate::runtime::layout::Footprint;

/// The interface every guest must export.
pub const SESSION_EXPORT: &str = "sessionhost:session/session@0.1.0";

/// Interfaces some language runtimes import whether or not the guest uses them (the
/// JavaScript runtime imports `wasi:http` for `fetch`). A session has no network, so the host
/// links every function of these as one that traps, naming the import; the component loads,
/// and a guest that calls one ends with a trap instead of reaching anything.
const STUBBED: &[(&str, &str)] = &[
    ("wasi:http/types", "0.2"),
    ("wasi:http/outgoing-handler", "0.2"),
];

/// Whether `import` (`package/interface@version`) is one of `list`, by version series.
fn listed<'a>(mut list: impl Iterator<Item = (&'a str, &'a str)>, import: &str) -> bool {
    let (name, version) = import.split_once('@').unwrap_or((import, ""));
    list.any(|(provided, series)| {
        provided == name
            && version
                .strip_prefix(series)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// Whether the host links an import of this name (`package/interface@version`): one of the
/// interfaces the runtime's linker links.
pub(crate) fn is_provided(import: &str) -> bool {
    listed(crate::runtime::linked_interfaces(), import)
}

/// Whether the host links an import of this name as functions that trap.
pub(crate) fn is_stubbed(import: &str) -> bool {
    listed(STUBBED.iter().copied(), import)
}

/// Footprints the bytes: is it a well-formed component, and what memories does it define?
pub(crate) fn scan(bytes: &[u8]) -> Result<Footprint, String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly file (it does not start with the `\\0asm` magic)".into());
    }
    let mut scan = Footprint::default();
    let mut first = true;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| {
            format!(
                "not a valid WebAssembly component: {} (at byte {}); the file may be truncated or corrupt",
                e.message(),
                e.offset()
            )
        })?;
        match payload {
            Payload::Version { encoding, .. } if first => {
                first = false;
                if encoding == Encoding::Module {
                    return Err(
                        "this is a core WebAssembly module, not a component; build it for \
                         `wasm32-wasip2` or componentize it (e.g. `wasm-tools component new`) \
                         against the sessionhost WIT world"
                            .into(),
                    );
                }
            }
            Payload::ModuleSection { .. } => scan.core_modules += 1,
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(|e| format!("bad memory section: {e}"))?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    scan.memories.push(MemoryDecl {
                        initial_bytes: memory.initial.saturating_mul(page),
                        maximum_bytes: memory.maximum.map(|m| m.saturating_mul(page)),
                    });
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(|e| format!("bad table section: {e}"))?;
                    scan.tables.push(table.ty.initial);
                }
            }
            _ => {}
        }
    }
    Ok(scan)
}

/// Checks imports and exports by name; type mismatches are caught when linking.
pub(crate) fn check_names<'a>(
    imports: impl IntoIterator<Item = &'a str>,
    exports: impl IntoIterator<Item = &'a str>,
) -> Result<(), String> {
    let missing: Vec<&str> = imports
        .into_iter()
        .filter(|i| !is_provided(i) && !is_stubbed(i))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "it imports {}, which sessionhost does not provide (it provides \
             `sessionhost:session/host@0.1.x` and WASI 0.2, and links `wasi:http` 0.2 as \
             functions that trap)",
            list(&missing)
        ));
    }
    let exports: Vec<&str> = exports.into_iter().collect();
    if !exports.contains(&SESSION_EXPORT) {
        let hint = match exports
            .iter()
            .find(|e| e.starts_with("sessionhost:session/session@"))
        {
            Some(other) => format!(" (it exports `{other}`: a different contract version)"),
            None if exports.is_empty() => " (it exports nothing)".to_string(),
            None => format!(" (it exports {})", list(&exports)),
        };
        return Err(format!(
            "it does not export `{SESSION_EXPORT}`{hint}; build it against the `session-guest` \
             world in wit/session.wit"
        ));
    }
    Ok(())
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_versions_match_by_series() {
        assert!(is_provided("wasi:cli/environment@0.2.3"));
        assert!(is_provided("wasi:io/streams@0.2.0"));
        assert!(is_provided("sessionhost:session/host@0.1.0"));
        assert!(!is_provided("wasi:cli/environment@0.3.0"));
        assert!(!is_provided("wasi:http/types@0.2.0"));
        assert!(is_stubbed("wasi:http/types@0.2.3"));
        assert!(!is_stubbed("wasi:http/types@0.3.0"));
        assert!(!is_stubbed("wasi:cli/environment@0.2.0"));
        assert!(!is_provided("wasi:cli/environment@0.20.0"));
        assert!(!is_provided("sessionhost:session/host"));
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert!(
            scan(b"hello world, not wasm")
                .unwrap_err()
                .contains("magic")
        );
        let core = wat::parse_str("(module)").unwrap();
        assert!(scan(&core).unwrap_err().contains("core WebAssembly module"));
        let component = wat::parse_str("(component)").unwrap();
        assert!(scan(&component[..component.len() - 1]).is_err());
        let s = scan(&component).unwrap();
        assert!(s.memories.is_empty());
    }

    #[test]
    fn memories_are_found_in_nested_modules() {
        let c = wat::parse_str("(component (core module (memory 4 4)))").unwrap();
        let s = scan(&c).unwrap();
        assert_eq!(
            s.memories,
            vec![MemoryDecl {
                initial_bytes: 256 * 1024,
                maximum_bytes: Some(256 * 1024)
            }]
        );
        let err = crate::runtime::layout::dense_misfit(&s, 128 * 1024).expect("too big");
        assert!(err.contains("256 KiB") && err.contains("128 KiB"), "{err}");
        assert!(crate::runtime::layout::dense_misfit(&s, 256 * 1024).is_none());
        let t = scan(&wat::parse_str("(component (core module (table 3000 funcref)))").unwrap());
        assert_eq!(t.unwrap().tables, vec![3000]);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_names(["wasi:io/poll@0.2.1"], [SESSION_EXPORT]).is_ok());
        assert!(check_names(["wasi:http/types@0.2.0"], [SESSION_EXPORT]).is_ok());
        let err = check_names(["wasi:keyvalue/store@0.2.0"], [SESSION_EXPORT]).unwrap_err();
        assert!(err.contains("wasi:keyvalue/store"), "{err}");
        let err = check_names([], ["sessionhost:session/session@0.2.0"]).unwrap_err();
        assert!(err.contains("different contract version"), "{err}");
        let err = check_names([], []).unwrap_err();
        assert!(err.contains("exports nothing"), "{err}");
    }
}
