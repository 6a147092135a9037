//! The admin API: what an operator needs, behind a bearer token.
//!
//! | route | does |
//! |---|---|
//! | `GET /admin/sessions?guest=&limit=&after=` | live sessions' info, sorted by ID (`limit` 1–1000, default 100); `next` is the cursor for the following page |
//! | `GET /admin/sessions/{id}` | one session's info; for a hibernated one, what its stored record says (`status: hibernated`), without waking it |
//! | `DELETE /admin/sessions/{id}` | ends it (reason `killed`); 204 |
//! | `GET /admin/stats` | host-wide figures |
//! | `GET /admin/guests` | loaded guests: current version, and live sessions per version (old versions included) |
//! | `PUT /admin/guests/{name}?version=LABEL` | hot-load: the body is a component; validated first (a bad one gets 400 `invalid_guest` and the current version keeps serving); new sessions get it |
//!
//! Off (not routed at all) unless an admin token is configured. The token is compared in
//! constant time — both sides are hashed first, so not even its length leaks. Bodies are the
//! views of `views.rs`. The upload route has its own timeout (`upload_timeout`), so that a
//! slow compile is not cut by `request_timeout` (`server.rs` layers it).
#![expect(
    unused_qualifications,
    reason = "utoipa's `path` macro qualifies the parameter types it is given"
)]

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Body, Path, Query};
use crate::http::openapi::Binary;
use crate::http::views::{AnySession, GuestStatus, GuestView, SessionPage, StatsView};
use crate::{Host, SessionError, StopReason};

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

/// The admin routes and the upload route (layered apart: it has its own timeout), each
/// behind the token; none without a token.
pub(crate) fn routers(host: Host, token: Option<&str>) -> (OpenApiRouter, OpenApiRouter) {
    let Some(token) = token else {
        return (OpenApiRouter::new(), OpenApiRouter::new());
    };
    let state = AdminState {
        host,
        token_hash: Sha256::digest(token.as_bytes()).into(),
    };
    let auth = axum::middleware::from_fn_with_state(state.clone(), authorize);
    let admin = OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one, kill))
        .routes(routes!(stats))
        .routes(routes!(guests))
        .route_layer(auth.clone())
        .with_state(state.clone());
    let upload = OpenApiRouter::new()
        .routes(routes!(upload))
        .route_layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD))
        .route_layer(auth)
        .with_state(state);
    (admin, upload)
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

/// The query of `GET /admin/sessions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Page {
    /// Only sessions of this guest.
    guest: Option<String>,
    /// Sessions per page.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<usize>,
    /// Cursor: the `next` of the previous page.
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/sessions",
    tag = "admin",
    operation_id = "adminListSessions",
    summary = "List live sessions",
    params(Page),
    responses(
        (status = 200, description = "A page of sessions, sorted by ID.", body = SessionPage),
        (status = 400, description = "A bad query: `limit` outside 1–1000, an unknown parameter (`bad_request`).", body = Problem),
    )
)]
async fn list(
    State(state): State<AdminState>,
    Query(page): Query<Page>,
) -> Result<Json<SessionPage>, ApiError> {
    let limit = page.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let mut ids = state.host.list();
    ids.sort_unstable();
    let after = page.after.unwrap_or_default();
    let mut sessions = Vec::with_capacity(limit);
    let mut next = None;
    let mut last = None;
    for id in ids.into_iter().filter(|id| id.as_str() > after.as_str()) {
        let Ok(info) = state.host.info(&id) else {
            continue; // ended meanwhile
        };
        if page.guest.as_deref().is_some_and(|g| g != info.guest) {
            continue;
        }
        if sessions.len() == limit {
            next = last.clone();
            break;
        }
        last = Some(info.id.to_string());
        sessions.push(info.into());
    }
    Ok(Json(SessionPage { sessions, next }))
}

/// A live session's info, or what the store holds of a hibernated one (`status`
/// `"hibernated"`); asking does not wake it.
#[utoipa::path(
    get,
    path = "/admin/sessions/{id}",
    tag = "admin",
    operation_id = "adminGetSession",
    summary = "One session",
    description = "A live session's info, or for a hibernated session (status `hibernated`) what its stored record says, without waking it.",
    params(("id" = String, Path, description = "The session's ID.", pattern = "^[A-Za-z0-9._~-]{1,64}$")),
    responses(
        (status = 200, description = "Its info.", body = AnySession),
        (status = 400, description = "Not a valid session ID (`invalid_session_id`).", body = Problem),
        (status = 404, description = "No such session (`session_not_found`).", body = Problem),
        (status = 503, description = "The snapshot store could not be read, or overloaded.", body = Problem),
    )
)]
async fn one(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<AnySession>, ApiError> {
    match state.host.info(&id) {
        Ok(info) => Ok(Json(AnySession::Live(info.into()))),
        Err(SessionError::SessionNotFound) => match state.host.hibernated_info(&id)? {
            Some(info) => Ok(Json(AnySession::Hibernated(info.into()))),
            None => Err(SessionError::SessionNotFound.into()),
        },
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    delete,
    path = "/admin/sessions/{id}",
    tag = "admin",
    operation_id = "adminKillSession",
    summary = "End a session (reason killed)",
    params(("id" = String, Path, description = "The session's ID.", pattern = "^[A-Za-z0-9._~-]{1,64}$")),
    responses(
        (status = 204, description = "Ended."),
        (status = 400, description = "Not a valid session ID (`invalid_session_id`).", body = Problem),
        (status = 404, description = "No such session (`session_not_found`).", body = Problem),
        (status = 503, description = "Shutting down, or overloaded.", body = Problem),
    )
)]
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

#[utoipa::path(
    get,
    path = "/admin/stats",
    tag = "admin",
    operation_id = "adminStats",
    summary = "Host-wide figures",
    responses((status = 200, description = "Figures.", body = StatsView))
)]
async fn stats(State(state): State<AdminState>) -> Json<StatsView> {
    Json(state.host.stats().into())
}

#[utoipa::path(
    get,
    path = "/admin/guests",
    tag = "admin",
    operation_id = "adminGuests",
    summary = "Loaded guests, with live sessions per version",
    responses((status = 200, description = "Guests.", body = Vec<GuestStatus>))
)]
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
                .map(|((_, hash), n)| (hash.clone(), *n as u64))
                .collect();
            GuestStatus {
                info: info.into(),
                sessions,
            }
        })
        .collect();
    Json(list)
}

/// The query of `PUT /admin/guests/{name}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// A version label shown next to the content hash: 1 to 64 printable characters.
    #[param(pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,64}$")]
    version: Option<String>,
}

#[utoipa::path(
    put,
    path = "/admin/guests/{name}",
    tag = "admin",
    operation_id = "adminUploadGuest",
    summary = "Hot-load a new version of a guest",
    description = "The body is a WebAssembly component (at most 64 MiB). It is validated first: a component that does not validate gets 400 `invalid_guest` with the reason, and the current version keeps serving. New sessions get the new version; running sessions follow the guest's upgrade policy. Bounded by `upload_timeout` (not `request_timeout`).",
    params(
        ("name" = String, Path, description = "The guest's name.", pattern = "^[A-Za-z0-9._~-]{1,64}$"),
        UploadQuery,
    ),
    request_body(content = Binary, content_type = "application/wasm"),
    responses(
        (status = 200, description = "The loaded version.", body = GuestView),
        (status = 400, description = "The component does not validate or the name is invalid (`invalid_guest`), or the label is not 1 to 64 printable characters (`bad_request`).", body = Problem),
        (status = 413, description = "The component is over 64 MiB (`message_too_large`).", body = Problem),
        (status = 503, description = "Shutting down, or overloaded.", body = Problem),
    )
)]
async fn upload(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    Body(body): Body,
) -> Result<Json<GuestView>, ApiError> {
    if let Some(label) = &query.version
        && (label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control))
    {
        return Err(ApiError::BadRequest(
            "the version label must be 1 to 64 printable characters".into(),
        ));
    }
    let info = state
        .host
        .load_guest(
            &name,
            &body[..],
            crate::LoadOptions {
                options: None,
                label: query.version,
            },
        )
        .await
        .map_err(|e| ApiError::Session(e.into()))?;
    Ok(Json(info.into()))
}
