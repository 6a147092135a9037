//! Embedding sessionhost in your own axum app: your routes, your handlers, and a session per
//! visitor behind `SessionLayer`.
//!
//! ```text
//! cargo run -p sessionhost --example embed_axum -- target/guests/wasm32-wasip2/guest/cart.wasm
//! curl -c jar -b jar -X POST localhost:3000/cart -d '{"sku":"apple","qty":2,"price_cents":50}'
//! curl -c jar -b jar localhost:3000/cart
//! curl -c jar -b jar -X POST localhost:3000/login      # new session ID, same cart
//! ```
//!
//! The app's own state (here, a greeting) lives beside the sessions; the `Session` extractor
//! starts a cart session on a visitor's first request and sets the cookie.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Json;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sessionhost::http::{ApiError, HttpConfig, Session, SessionLayer};
use sessionhost::{GuestSource, LoadOptions};
use sessionhost::{Host, HostConfig};

/// What the app accepts on `POST /cart`.
#[derive(Deserialize)]
struct Item {
    sku: String,
    qty: u32,
    price_cents: u64,
}

async fn add(session: Session, Json(item): Json<Item>) -> Result<Json<Value>, ApiError> {
    let request =
        json!({"op": "add", "sku": item.sku, "qty": item.qty, "price_cents": item.price_cents});
    Ok(Json(session.call_json(&request).await?))
}

async fn show(session: Session) -> Result<Json<Value>, ApiError> {
    let list: Value = session.call_json(&json!({"op": "list"})).await?;
    let total: Value = session.call_json(&json!({"op": "total"})).await?;
    Ok(Json(
        json!({"session": session.id().as_str(), "cart": list, "total": total}),
    ))
}

/// After a login, the visitor keeps their cart under a new session ID.
async fn login(mut session: Session) -> Result<Json<Value>, ApiError> {
    let id = session.rotate_id().await?.to_string();
    Ok(Json(json!({"session": id})))
}

async fn logout(session: Session) -> Result<&'static str, ApiError> {
    session.terminate().await?;
    Ok("bye")
}

/// The app: its own routes, plus the session layer on the routes that use sessions.
pub fn app(host: Host, config: HttpConfig) -> Result<Router, sessionhost::ConfigError> {
    let sessions = Router::new()
        .route("/cart", get(show).post(add))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(SessionLayer::new(host, config)?);
    Ok(Router::new()
        .route("/", get(|| async { "hello from the app" }))
        .merge(sessions))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let Some(path) = std::env::args().nth(1) else {
        anyhow::bail!("usage: embed_axum PATH/TO/cart.wasm");
    };
    let host = Host::new(HostConfig::builder().default_guest("cart").build()?)?;
    host.load_guest("cart", GuestSource::file(&path), LoadOptions::default())
        .await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "embed_axum listening");
    axum::serve(listener, app(host.clone(), HttpConfig::default())?)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    host.shutdown().await;
    Ok(())
}
