//! The `sessionhost` server's parts: routes, connections and graceful shutdown.
//!
//! [`router`] builds every route from an [`HttpConfig`] and token keys. [`serve`] takes a bound
//! listener, that router, a ready [`Host`] and a shutdown future — the `sessionhost` binary
//! (the `server/` crate, which owns the configuration file, logging and signals) passes
//! SIGINT/SIGTERM, tests and embedding apps pass their own — and runs until the future
//! completes. Then, in order: it stops accepting; tells every connection to finish its current
//! request and close (keep-alive off); ends every session with reason `shutdown` (each session
//! first finishes the message it is running and the casts it accepted, then its guest's
//! `terminate` runs, and its SSE/WebSocket subscribers get the final event, which ends their
//! streams); and waits up to `shutdown_grace` for the connections to close.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that header-read timeouts
//! and a connection cap can be set (each socket holds its place for its whole life, after a
//! WebSocket upgrade too: `conn.rs`); requests pass through tower layers for the body limit,
//! the request timeout and load shedding above `max_in_flight`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::sync::OnceLock;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Host;
use crate::error::ConfigError;
use crate::http::config::HttpConfig;
use crate::http::conn::{ConnectionHandle, Counted};
use crate::http::error::{ApiError, Problem, problem_layer};
use crate::http::layer::SessionLayer;
use crate::http::token::TokenKeys;
use crate::http::{admin, api, openapi, prom, sse, ws};

/// The API routes' limits: load shedding above the shared `in_flight` places, and a timeout;
/// both answered as JSON problems (503 `overloaded`, 408 `request_timeout`).
macro_rules! limits {
    ($in_flight:expr, $timeout:expr) => {
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|error: tower::BoxError| async move {
                if error.is::<tower::timeout::error::Elapsed>() {
                    ApiError::RequestTimeout
                } else {
                    ApiError::Overloaded
                }
            }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(Arc::clone(
                $in_flight,
            )))
            .timeout($timeout)
    };
}

/// The server's routes: the session API (behind [`SessionLayer`]), the admin API (when a
/// token is configured), `/metrics`, `/healthz`, `/readyz` and `/v1/openapi.json`. The two
/// APIs have the body limit, a timeout (`request_timeout`; `upload_timeout` for guest
/// uploads) and load shedding above `max_in_flight` (one limit for all their routes); the
/// operations routes are never shed. Every error, the framework's included, is a JSON problem
/// (`error.rs`); with `cors_origins`, the listed origins may call with credentials.
pub fn router(host: Host, config: &HttpConfig, keys: TokenKeys) -> Result<Router, ConfigError> {
    config.validate()?;
    let layer = SessionLayer::with_keys(host.clone(), config.clone(), keys)?;
    let sessions = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(api::create))
        .routes(routes!(api::call))
        .routes(routes!(api::cast))
        .routes(routes!(api::touch))
        .routes(routes!(api::end))
        .routes(routes!(sse::events))
        .routes(routes!(ws::websocket))
        .layer(layer);
    let (admin, upload) = admin::routers(host.clone(), config.admin_token.as_deref());
    // One semaphore for every API route, whichever timeout it has: `Router::layer` wraps
    // each route separately, and a plain `concurrency_limit` would give each its own.
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let apis = sessions
        .merge(admin)
        .layer(limits!(&in_flight, config.request_timeout))
        .merge(upload.layer(limits!(&in_flight, config.upload_timeout)))
        .layer(DefaultBodyLimit::max(config.max_body_bytes()));
    let document = Arc::new(OnceLock::new());
    let ops = OpenApiRouter::new()
        .routes(routes!(prom::metrics))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .with_state(Ops {
            host,
            document: Arc::clone(&document),
        });
    // The operations routes stay outside the limits, so that health checks and scrapes are
    // answered while the APIs shed load.
    let (router, mut doc) = apis.merge(ops).split_for_parts();
    openapi::finish(&mut doc);
    let _ = document.set(doc.to_pretty_json().unwrap_or_default());
    let router = router
        .fallback(|| async { ApiError::NotFound("no such route") })
        .layer(axum::middleware::map_response(problem_layer))
        .layer(cors(config));
    // Turn every handler into its finished route now. A handler left waiting for its
    // state is layered anew on each request: the layers would be rebuilt per request
    // and the in-flight semaphore would be a fresh one every time (no limit at all).
    Ok(router.with_state(()))
}

/// `cors_origins` as a CORS policy: those origins, with credentials; none, no CORS headers.
fn cors(config: &HttpConfig) -> tower::util::Either<CorsLayer, tower::layer::util::Identity> {
    if config.cors_origins.is_empty() {
        return tower::util::Either::Right(tower::layer::util::Identity::new());
    }
    let origins = config
        .cors_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok());
    let header = HeaderName::from_bytes(config.header_name.as_bytes())
        .unwrap_or(HeaderName::from_static("x-session-id"));
    tower::util::Either::Left(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header])
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}

/// State of the operations routes.
#[derive(Clone)]
struct Ops {
    host: Host,
    /// The OpenAPI document, set once the router is built.
    document: Arc<OnceLock<String>>,
}

impl axum::extract::FromRef<Ops> for Host {
    fn from_ref(ops: &Ops) -> Host {
        ops.host.clone()
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "Liveness",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    summary = "Readiness: guests loaded, not shutting down",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "No guest loaded, or shutting down (`not_ready`).", body = Problem),
    )
)]
async fn readyz(
    axum::extract::State(host): axum::extract::State<Host>,
) -> Result<&'static str, ApiError> {
    if host.is_accepting() && !host.guests().is_empty() {
        Ok("ready")
    } else {
        Err(ApiError::NotReady)
    }
}

/// The OpenAPI document of the session and admin APIs, as the server with an admin token
/// serves it at `/v1/openapi.json` (generated from the code; see `openapi.rs`).
pub const OPENAPI: &str = include_str!("openapi.json");

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1", body = Object, content_type = "application/json"))
)]
async fn openapi_json(axum::extract::State(ops): axum::extract::State<Ops>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ops.document.get().cloned().unwrap_or_default(),
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then shuts down gracefully
/// (see the module docs) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    host: Host,
    config: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, for example: wait a moment rather than spin.
                tracing::warn!(target: "sessionhost::http", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(place) = Arc::clone(&connections).try_acquire_owned() else {
            drop(stream); // over max_connections: close at once
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The socket holds its place until it is dropped, after an upgrade too.
        let io = TokioIo::new(Counted::new(stream, place));
        let handle = ConnectionHandle::default();
        // The peer address, for `rate_limit_per_ip` (and any handler that asks for it), and
        // the handle a stream uses to close a connection whose client stopped reading.
        let extensions = handle.clone();
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request.extensions_mut().insert(extensions.clone());
                request
            },
        ));
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(io, service);
            tokio::select! {
                _ = watcher.watch(connection.into_owned()) => {}
                () = handle.closed() => {} // dropping the connection closes it
            }
        });
    }
    drop(listener);
    tracing::info!(target: "sessionhost::http", "shutting down: draining connections and ending sessions");
    let drained = tokio::spawn(graceful.shutdown());
    let ended = host.shutdown().await;
    tracing::info!(target: "sessionhost::http", sessions = ended.ended, saved = ended.saved, "sessions ended");
    if tokio::time::timeout(config.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            target: "sessionhost::http",
            grace_ms = config.shutdown_grace.as_millis() as u64,
            "connections still open after the grace period; closing them"
        );
    }
}
