//! Linking WASI 0.2 for guests that run synchronously.
//!
//! wasmtime-wasi offers WASI in two flavours: async (needs fibers, and every store then keeps
//! an execution stack for its whole life — fatal to density) and sync (whose blocking
//! operations call `Handle::block_on`, which panics on a tokio worker thread). Neither fits a
//! host that runs guests synchronously on tokio workers, so this module assembles WASI from
//! wasmtime-wasi's parts:
//!
//! - the interfaces that never block (clocks, random, cli, preopens, network, name lookup)
//!   come straight from wasmtime-wasi;
//! - `wasi:io/poll` and `wasi:io/streams`, whose "blocking" functions are the only ones a guest
//!   can reach that may wait, are implemented here on top of wasmtime-wasi's async
//!   implementations, driven by [`wait_blocking`]: poll once, and if the operation must
//!   wait, leave the worker thread and wait for it, never past the message's deadline, and
//!   only while the host's bound on blocked messages allows (see `offload.rs`);
//! - filesystem and sockets use wasmtime-wasi's sync bindings. Their blocking paths need a
//!   descriptor or a socket, and a session has neither: no directory is preopened and socket
//!   creation is refused, so those paths are unreachable.

use std::time::Instant;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView as _};
use wasmtime_wasi::p2::bindings as b;
use wasmtime_wasi::p2::bindings::sync::io::{poll as sync_poll, streams as sync_streams};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView as _};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    Host as AsyncStreams, HostInputStream as AsyncInput, HostOutputStream as AsyncOutput,
};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, StreamError, StreamResult};

use crate::error::TrapKind;
use crate::runtime::ctx::{LimitExceeded, SessionCtx};
use crate::runtime::offload::{BlockingLimit, Offload, WaitError, wait_blocking};

type T = SessionCtx;

/// Links one WASI interface.
type Add = fn(&mut Linker<T>) -> wasmtime::Result<()>;

/// Every WASI 0.2 interface the host links, by name, with how it is linked: the one list
/// that links them ([`add_to_linker`]) and says which imports a guest may have
/// ([`crate::runtime::linked_interfaces`], read by `sessionhost check`).
const WASI: &[(&str, Add)] = &[
    ("wasi:clocks/wall-clock", |l| {
        b::clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)
    }),
    ("wasi:clocks/monotonic-clock", |l| {
        b::clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)
    }),
    ("wasi:filesystem/preopens", |l| {
        b::filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)
    }),
    ("wasi:random/random", |l| {
        b::random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())
    }),
    ("wasi:random/insecure", |l| {
        b::random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())
    }),
    ("wasi:random/insecure-seed", |l| {
        b::random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())
    }),
    ("wasi:cli/exit", |l| {
        b::cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/environment", |l| {
        b::cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/stdin", |l| {
        b::cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/stdout", |l| {
        b::cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/stderr", |l| {
        b::cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/terminal-input", |l| {
        b::cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/terminal-output", |l| {
        b::cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/terminal-stdin", |l| {
        b::cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/terminal-stdout", |l| {
        b::cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:cli/terminal-stderr", |l| {
        b::cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)
    }),
    ("wasi:sockets/tcp-create-socket", |l| {
        b::sockets::tcp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)
    }),
    ("wasi:sockets/instance-network", |l| {
        b::sockets::instance_network::add_to_linker::<T, WasiSockets>(l, T::sockets)
    }),
    ("wasi:sockets/network", |l| {
        b::sockets::network::add_to_linker::<T, WasiSockets>(l, &Default::default(), T::sockets)
    }),
    ("wasi:sockets/ip-name-lookup", |l| {
        b::sockets::ip_name_lookup::add_to_linker::<T, WasiSockets>(l, T::sockets)
    }),
    ("wasi:io/error", |l| {
        wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<T, Table>(l, |t| t.ctx().table)
    }),
    ("wasi:io/poll", |l| {
        sync_poll::add_to_linker::<T, Bounded>(l, bounded_io)
    }),
    ("wasi:io/streams", |l| {
        sync_streams::add_to_linker::<T, Bounded>(l, bounded_io)
    }),
    ("wasi:filesystem/types", |l| {
        b::sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)
    }),
    ("wasi:sockets/tcp", |l| {
        b::sync::sockets::tcp::add_to_linker::<T, WasiSockets>(l, T::sockets)
    }),
    ("wasi:sockets/udp", |l| {
        b::sync::sockets::udp::add_to_linker::<T, WasiSockets>(l, T::sockets)
    }),
    ("wasi:sockets/udp-create-socket", |l| {
        b::sync::sockets::udp_create_socket::add_to_linker::<T, WasiSockets>(l, T::sockets)
    }),
];

/// The version series of the WASI interfaces linked.
pub(crate) const WASI_SERIES: &str = "0.2";

/// Adds all of WASI 0.2 to `linker`, synchronously. See the module docs.
pub(crate) fn add_to_linker(l: &mut Linker<T>) -> wasmtime::Result<()> {
    WASI.iter().try_for_each(|(_, add)| add(l))
}

/// The names of the WASI interfaces [`add_to_linker`] links.
pub(crate) fn interfaces() -> impl Iterator<Item = &'static str> {
    WASI.iter().map(|(name, _)| *name)
}

struct Table;
impl HasData for Table {
    type Data<'a> = &'a mut ResourceTable;
}

struct Bounded;
impl HasData for Bounded {
    type Data<'a> = BoundedIo<'a>;
}

/// The resource table, plus what waiting needs: the message's deadline, its offload state,
/// where to say which limit stopped it, and the runtime's bound on blocked messages.
pub(crate) struct BoundedIo<'a> {
    table: &'a mut ResourceTable,
    deadline: Instant,
    offload: &'a mut Offload,
    exceeded: &'a mut Option<TrapKind>,
    blocking: &'a BlockingLimit,
}

/// The projection the linker uses for the two interfaces that may wait.
fn bounded_io(ctx: &mut SessionCtx) -> BoundedIo<'_> {
    let parts = ctx.io_parts();
    BoundedIo {
        table: parts.wasi.table,
        deadline: parts.deadline,
        offload: parts.offload,
        exceeded: parts.exceeded,
        blocking: parts.blocking,
    }
}

impl BoundedIo<'_> {
    /// Runs an async WASI operation to completion; see [`wait_blocking`]. A wait cut by the
    /// deadline traps like an epoch interruption; one refused by `max_blocked_messages`
    /// traps with [`TrapKind::BlockingLimit`].
    fn wait<R>(&mut self, op: impl AsyncFnOnce(&mut ResourceTable) -> R) -> wasmtime::Result<R> {
        let blocking = self.blocking;
        match wait_blocking(self.deadline, self.offload, blocking, op(self.table)) {
            Ok(output) => Ok(output),
            Err(WaitError::Deadline) => Err(wasmtime::Trap::Interrupt.into()),
            Err(WaitError::Limit) => {
                *self.exceeded = Some(TrapKind::BlockingLimit);
                let max = blocking.max();
                Err(wasmtime::Error::new(LimitExceeded {
                    what: "blocked messages",
                    desired: max + 1,
                    max,
                }))
            }
        }
    }
}

fn flatten<R>(result: wasmtime::Result<StreamResult<R>>) -> StreamResult<R> {
    result.unwrap_or_else(|trap| Err(StreamError::Trap(trap)))
}

impl sync_poll::Host for BoundedIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.wait(async |t| async_poll::Host::poll(t, pollables).await)?
    }
}

impl sync_poll::HostPollable for BoundedIo<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        self.wait(async |t| async_poll::HostPollable::ready(t, pollable).await)?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.wait(async |t| async_poll::HostPollable::block(t, pollable).await)?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}

impl sync_streams::Host for BoundedIo<'_> {
    fn convert_stream_error(
        &mut self,
        err: StreamError,
    ) -> wasmtime::Result<sync_streams::StreamError> {
        Ok(match AsyncStreams::convert_stream_error(self.table, err)? {
            wasmtime_wasi_io::bindings::wasi::io::streams::StreamError::Closed => {
                sync_streams::StreamError::Closed
            }
            wasmtime_wasi_io::bindings::wasi::io::streams::StreamError::LastOperationFailed(e) => {
                sync_streams::StreamError::LastOperationFailed(e)
            }
        })
    }
}

impl sync_streams::HostOutputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        self.wait(async |t| AsyncOutput::drop(t, stream).await)?
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        AsyncOutput::check_write(self.table, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOutput::write(self.table, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        flatten(self.wait(async |t| AsyncOutput::blocking_write_and_flush(t, stream, bytes).await))
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        flatten(
            self.wait(async |t| AsyncOutput::blocking_write_zeroes_and_flush(t, stream, len).await),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOutput::subscribe(self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        AsyncOutput::write_zeroes(self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        AsyncOutput::flush(self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        flatten(self.wait(async |t| AsyncOutput::blocking_flush(t, stream).await))
    }

    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AsyncOutput::splice(self.table, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        flatten(self.wait(async |t| AsyncOutput::blocking_splice(t, dst, src, len).await))
    }
}

impl sync_streams::HostInputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        self.wait(async |t| AsyncInput::drop(t, stream).await)?
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncInput::read(self.table, stream, len)
    }

    fn blocking_read(
        &mut self,
        stream: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        flatten(self.wait(async |t| AsyncInput::blocking_read(t, stream, len).await))
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AsyncInput::skip(self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        flatten(self.wait(async |t| AsyncInput::blocking_skip(t, stream, len).await))
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncInput::subscribe(self.table, stream)
    }
}
