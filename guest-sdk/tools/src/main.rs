//! `sessionhost-guest-tools`: the two build steps every guest language without its own
//! component tooling needs (C and Zig today).
//!
//! - `bindgen-c <outdir>` writes the `wit-bindgen c` bindings of the world `session-guest`
//!   (`session_guest.h`, `session_guest.c`) into `outdir`. They are generated, never
//!   committed: `make guest-c` / `make guest-zig` regenerate them under `target/`.
//! - `componentize <core.wasm> -o <out.wasm>` turns a `wasm32-wasi` (preview 1) reactor core
//!   module that exports the world's functions into a component: it embeds the world's type
//!   information (so the core module needs no `component-type` object linked in) and wraps
//!   the module with the preview 1 reactor adapter of the same wasmtime release the host
//!   embeds, which maps the module's `wasi_snapshot_preview1` imports onto WASI 0.2. The
//!   core module may also be WebAssembly text (`.wat`), for guests written by hand (the
//!   hostile test guests in `tests/wat/`).
//!
//! The WIT comes from the repository's `wit/session.wit`, compiled into the tool, so bindings
//! and components always match the host built from the same checkout; `--wit <path>` reads
//! another file or directory instead. One place generates bindings for these languages:
//! this file.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use wit_bindgen_core::Files;
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{Resolve, WorldId};

/// The contract, as compiled into this tool.
const SESSION_WIT: &str = include_str!("../../../wit/session.wit");
/// The world every session guest targets.
const WORLD: &str = "session-guest";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "sessionhost-guest-tools", version, about)]
struct Cli {
    /// A WIT file or directory to use instead of the built-in `wit/session.wit`.
    #[arg(long, global = true)]
    wit: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Write the C bindings of the `session-guest` world into a directory.
    BindgenC {
        /// Directory to write `session_guest.h` and `session_guest.c` into (created).
        outdir: PathBuf,
    },
    /// Turn a wasm32-wasi reactor core module into a sessionhost guest component.
    Componentize {
        /// The core module (`.wasm`) built by clang, zig or another compiler, or written as
        /// WebAssembly text (`.wat`).
        core: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let (resolve, world) = load_world(cli.wit.as_deref())?;
    match cli.command {
        Command::BindgenC { outdir } => bindgen_c(resolve, world, &outdir),
        Command::Componentize { core, output } => componentize(&resolve, world, &core, &output),
    }
}

/// Parses the WIT and selects the `session-guest` world.
fn load_world(path: Option<&Path>) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let package = match path {
        Some(path) => {
            resolve
                .push_path(path)
                .with_context(|| format!("reading WIT from {}", path.display()))?
                .0
        }
        None => resolve
            .push_str("wit/session.wit", SESSION_WIT)
            .context("parsing the built-in wit/session.wit")?,
    };
    let world = resolve.select_world(&[package], Some(WORLD))?;
    Ok((resolve, world))
}

/// Generates the C bindings (without the type-info object file: `componentize` embeds it).
fn bindgen_c(mut resolve: Resolve, world: WorldId, outdir: &Path) -> Result<()> {
    let opts = wit_bindgen_c::Opts {
        no_object_file: true,
        ..Default::default()
    };
    let mut files = Files::default();
    opts.build().generate(&mut resolve, world, &mut files)?;
    fs::create_dir_all(outdir).with_context(|| format!("creating {}", outdir.display()))?;
    for (name, contents) in files.iter() {
        let path = outdir.join(name);
        // Leave unchanged files alone so make and compilers see nothing new.
        if fs::read(&path).is_ok_and(|old| old == contents) {
            continue;
        }
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Embeds the world's type information into `core` and encodes it as a component.
fn componentize(resolve: &Resolve, world: WorldId, core: &Path, output: &Path) -> Result<()> {
    // Binary modules pass through unchanged; text is parsed (errors name the file and line).
    let mut module = wat::parse_file(core)
        .with_context(|| format!("{} is not a WebAssembly module", core.display()))?;
    wit_component::embed_component_metadata(&mut module, resolve, world, StringEncoding::UTF8)?;
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&module)?
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
        .with_context(|| format!("componentizing {}", core.display()))?;
    fs::write(output, component).with_context(|| format!("writing {}", output.display()))?;
    Ok(())
}
