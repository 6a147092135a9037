//! The server's connections: their places under `max_connections`, and closing one from a
//! handler.
//!
//! Each accepted socket is wrapped in a [`Counted`] that holds its place (a semaphore
//! permit) until the socket is dropped. A WebSocket upgrade hands the socket itself to the
//! WebSocket task, so an upgraded connection keeps its place for its whole life, not just
//! for the handshake.
//!
//! Each connection also gets a [`ConnectionHandle`] in its requests' extensions: a handler
//! (the SSE stream) can ask for the connection to be closed — for a client that stopped
//! reading, whose socket buffer is full so that it never gets to its stream's last event.
//! The connection's task owns the connection and drops it when asked.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// An accepted socket and its place under `max_connections`.
#[derive(Debug)]
pub(crate) struct Counted {
    io: TcpStream,
    /// Released when the socket is dropped, upgraded or not.
    _place: OwnedSemaphorePermit,
}

impl Counted {
    pub(crate) fn new(io: TcpStream, place: OwnedSemaphorePermit) -> Self {
        Self { io, _place: place }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Asks a connection's task to drop the connection (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionHandle(Arc<Notify>);

impl ConnectionHandle {
    /// Closes the connection now (a no-op once it is closed).
    pub(crate) fn close(&self) {
        self.0.notify_one();
    }

    /// Completes when [`close`](Self::close) is called (even before this is awaited).
    pub(crate) async fn closed(&self) {
        self.0.notified().await;
    }
}
