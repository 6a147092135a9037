//! HTTP: reaching sessions from the web. Compiled with the `http` feature (on by default);
//! nothing outside this module names axum, hyper or tower, so `default-features = false`
//! builds the host alone.
//!
//! Two ways in, built from the same parts:
//!
//! - **Embedded** in your axum app: add [`SessionLayer`] to your router and take a [`Session`]
//!   in your handlers (`host/examples/embed_axum.rs`).
//! - **The `sessionhost` server**, behind your web app: [`router`] plus [`serve`] give the
//!   session API (`/v1/...`), live subscriptions (SSE, WebSocket), the admin API, `/metrics`,
//!   health checks and graceful shutdown. The `sessionhost` binary (the `server/` crate) runs
//!   them with its own configuration file, logging and signal handling.
//!
//! # Layout
//! - `token.rs` — signed session tokens (HMAC-SHA256; they name the session's guest), key
//!   rotation.
//! - `layer.rs` — [`SessionLayer`]: reads the token and the client's address, writes the
//!   cookie.
//! - `session.rs` — the [`Session`] and [`ExistingSession`] extractors (lazy start, strict
//!   mode, rotation).
//! - `error.rs` — [`ApiError`]: every error's status and JSON problem body, the framework's
//!   rejections included; `extract.rs` — axum's extractors with those rejections.
//! - `api.rs` — the session API; `sse.rs`, `ws.rs` — Server-Sent Events and WebSocket;
//!   `streams.rs` — how many streams a session, a client and the server may have open.
//! - `admin.rs`, `views.rs`, `prom.rs` — the admin API, its bodies, and `/metrics`.
//! - `openapi.rs` — the OpenAPI document, generated from the routes and types.
//! - `config.rs`, `server.rs`, `conn.rs` — [`HttpConfig`], routes, connections (counted for
//!   their whole life, closable from a handler), shutdown.

mod admin;
mod api;
mod config;
mod conn;
mod error;
mod extract;
mod layer;
mod openapi;
mod prom;
mod server;
mod session;
mod sse;
mod streams;
mod token;
mod views;
mod ws;

pub use config::{HttpConfig, UnknownSession};
pub use error::{ApiError, KINDS, Problem};
pub use layer::{SessionLayer, SessionService};
pub use server::{OPENAPI, router, serve};
pub use session::{ExistingSession, Session};
pub use token::{Claims, KeyError, MIN_KEY_BYTES, TokenError, TokenKeys};
