//! WASI for session guests: linked in full, granting nothing.
//!
//! Guests built with a language's standard library import WASI 0.2 (Rust std needs about a
//! dozen interfaces). The host links all of WASI 0.2 so such guests load, but each session's
//! context grants nothing: no preopened directories, no environment variables, no arguments,
//! stdin closed, TCP, UDP and name lookup refused. Clocks and randomness work. Whatever the
//! guest writes to stdout or stderr becomes log lines tagged with the session ID and guest
//! name (target `sessionhost::guest`), cut at [`MAX_LINE`] bytes.
//!
//! [`WasiState`] is built lazily by [`SessionCtx`](crate::runtime::ctx::SessionCtx) the first time the
//! guest calls into WASI.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView};

use crate::id::SessionId;

/// Longest guest output line logged; the rest of a longer line is dropped.
pub(crate) const MAX_LINE: usize = 4096;

/// The WASI context and resource table of one session.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiState {
    pub(crate) fn new(id: &SessionId, guest: &Arc<str>) -> Self {
        let out = |stream| GuestOutput {
            session: id.clone(),
            guest: guest.clone(),
            stream,
        };
        let ctx = WasiCtxBuilder::new()
            .stdout(out("stdout"))
            .stderr(out("stderr"))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
        }
    }

    pub(crate) fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// Where a guest's stdout or stderr goes: the host's log.
#[derive(Clone)]
struct GuestOutput {
    session: SessionId,
    guest: Arc<str>,
    stream: &'static str,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineLogger {
            out: self.clone(),
            line: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp3 guests use this path; they are not supported yet, so their output is
        // discarded rather than mis-attributed.
        Box::new(tokio::io::sink())
    }
}

/// Splits a guest's output into lines and logs each one.
struct LineLogger {
    out: GuestOutput,
    /// The current, unfinished line (at most [`MAX_LINE`] bytes are kept).
    line: Vec<u8>,
}

impl LineLogger {
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        tracing::info!(
            target: "sessionhost::guest",
            session_id = %self.out.session,
            guest = %self.out.guest,
            stream = self.out.stream,
            "{}",
            text.trim_end_matches('\r')
        );
        self.line.clear();
    }
}

impl OutputStream for LineLogger {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        for part in bytes.split_inclusive(|b| *b == b'\n') {
            let (content, ends_line) = match part.split_last() {
                Some((b'\n', rest)) => (rest, true),
                _ => (part, false),
            };
            let room = MAX_LINE.saturating_sub(self.line.len());
            self.line
                .extend_from_slice(&content[..content.len().min(room)]);
            if ends_line {
                self.emit();
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for LineLogger {
    async fn ready(&mut self) {}
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}
