//! The admin API: what an operator needs, behind a bearer token.
//!
//! | route | does |
//! |---|---|
//! | `GET /admin/sessions?guest=&limit=&after=` | live sessions' info, sorted by ID; `next` is the cursor for the following page |
//! | `GET /admin/sessions/{id}` | one session's info; for a hibernated one, what its stored record says (`status: hibernated`), without waking it |
//! | `DELETE /admin/sessions/{id}` | ends it (reason `killed`); 204 |
//! | `GET /admin/stats` | host-wide figures |
//! | `GET /admin/guests` | loaded guests: current version, and live sessions per version (old versions included) |
//! | `PUT /admin/guests/{name}?version=LABEL` | hot-load: the body is a component; validated first (a bad one gets 400 `invalid_guest` and the current version keeps serving); new sessions get it |
//!
//! Off (not routed at all) unless an admin token is configured. The token is compared in
//! constant time — both sides are hashed first, so not even its length leaks.

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;
use crate::{GuestInfo, Host, HostStats, SessionError, SessionInfo, StopReason};

/// Most sessions one page may hold.
const MAX_PAGE: usize = 1000;

/// Largest component an upload may carry (64 MiB).
const MAX_UPLOAD: usize = 64 << 20;

#[derive(Clone)]
struct AdminState {
    host: Host,
    /// SHA-256 of the configured token.
    token_hash: [u8; 32],
}

/// The admin routes, or none without a token.
pub(crate) fn router(host: Host, token: Option<&str>) -> Router {
    let Some(token) = token else {
        return Router::new();
    };
    let state = AdminState {
        host,
        token_hash: Sha256::digest(token.as_bytes()).into(),
    };
    Router::new()
        .route("/admin/sessions", get(list))
        .route("/admin/sessions/{id}", get(one).delete(kill))
        .route("/admin/stats", get(stats))
        .route("/admin/guests", get(guests))
        .route(
            "/admin/guests/{name}",
            axum::routing::put(upload).layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        .with_state(state)
}

async fn authorize(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if bool::from(hash.ct_eq(&state.token_hash)) && !presented.is_empty() {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Unauthorized)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    guest: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Debug, Serialize)]
struct Sessions {
    sessions: Vec<SessionInfo>,
    next: Option<String>,
}

async fn list(State(state): State<AdminState>, Query(page): Query<Page>) -> Json<Sessions> {
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let mut ids = state.host.list();
    ids.sort_unstable();
    let after = page.after.unwrap_or_default();
    let mut sessions = Vec::with_capacity(limit);
    let mut next = None;
    for id in ids.into_iter().filter(|id| id.as_str() > after.as_str()) {
        let Ok(info) = state.host.info(&id) else {
            continue; // ended meanwhile
        };
        if page.guest.as_deref().is_some_and(|g| g != info.guest) {
            continue;
        }
        if sessions.len() == limit {
            next = sessions.last().map(|s: &SessionInfo| s.id.to_string());
            break;
        }
        sessions.push(info);
    }
    Json(Sessions { sessions, next })
}

/// A live session's info, or what the store holds of a hibernated one (`status`
/// `"hibernated"`); asking does not wake it.
async fn one(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match state.host.info(&id) {
        Ok(info) => Ok(Json(info).into_response()),
        Err(SessionError::SessionNotFound) => match state.host.hibernated_info(&id)? {
            Some(info) => Ok(Json(info).into_response()),
            None => Err(SessionError::SessionNotFound.into()),
        },
        Err(e) => Err(e.into()),
    }
}

async fn kill(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .host
        .terminate_with(&id, StopReason::Killed("ended by an administrator".into()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stats(State(state): State<AdminState>) -> Json<HostStats> {
    Json(state.host.stats())
}

/// A loaded guest and the live sessions of each of its versions.
#[derive(Debug, Serialize)]
struct GuestStatus {
    #[serde(flatten)]
    info: GuestInfo,
    /// Live sessions by version hash, the current one and any older still in use.
    sessions: std::collections::BTreeMap<String, usize>,
}

async fn guests(State(state): State<AdminState>) -> Json<Vec<GuestStatus>> {
    let counts = state.host.sessions_by_version();
    let list = state
        .host
        .guests()
        .into_iter()
        .map(|info| {
            let sessions = counts
                .iter()
                .filter(|((name, _), _)| *name == info.name)
                .map(|((_, hash), n)| (hash.clone(), *n))
                .collect();
            GuestStatus { info, sessions }
        })
        .collect();
    Json(list)
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    /// A version label shown next to the content hash.
    version: Option<String>,
}

async fn upload(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    body: axum::body::Bytes,
) -> Result<Json<GuestInfo>, ApiError> {
    if let Some(label) = &query.version
        && (label.is_empty() || label.len() > 64 || label.chars().any(char::is_control))
    {
        return Err(ApiError::BadRequest(
            "the version label must be 1 to 64 printable characters".into(),
        ));
    }
    let info = state
        .host
        .upgrade_guest(&name, &body, query.version)
        .await
        .map_err(|e| ApiError::Session(e.into()))?;
    Ok(Json(info))
}
