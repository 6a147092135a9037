//! HTTP: reaching sessions from the web.
//!
//! Two ways in, built from the same parts:
//!
//! - **Embedded** in your axum app: add [`SessionLayer`] to your router and take a [`Session`]
//!   in your handlers (`host/examples/embed_axum.rs`).
//! - **The `sessionhost` server**, behind your web app: [`router`] plus [`serve`] give the
//!   session API (`/v1/...`), live subscriptions (SSE, WebSocket), the admin API, `/metrics`,
//!   health checks and graceful shutdown.
//!
//! # Layout
//! - `token.rs` — signed session tokens (HMAC-SHA256), key rotation.
//! - `layer.rs` — [`SessionLayer`]: reads the token, writes the cookie.
//! - `session.rs` — the [`Session`] and [`ExistingSession`] extractors (lazy start, strict
//!   mode, rotation).
//! - `error.rs` — [`ApiError`]: every error's status and JSON problem body.
//! - `api.rs`, `stream.rs` — the session API, SSE and WebSocket.
//! - `admin.rs`, `prom.rs` — the admin API and `/metrics`.
//! - `config.rs`, `server.rs` — [`HttpConfig`], [`ServerConfig`], routes, connections,
//!   shutdown.

mod admin;
mod api;
mod config;
mod error;
mod layer;
mod prom;
mod server;
mod session;
mod stream;
mod token;

pub use config::{HttpConfig, UnknownSession};
pub use error::{ApiError, Problem};
pub use layer::{SessionLayer, SessionService};
pub use server::{LogFormat, OPENAPI, ServerConfig, router, serve};
pub use session::{ExistingSession, Session};
pub use token::{KeyError, MIN_KEY_BYTES, TokenError, TokenKeys};
