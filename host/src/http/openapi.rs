//! The OpenAPI document, generated from the code.
//!
//! Every route is added to the server's router through `utoipa-axum`'s `routes!`, which also
//! adds the handler's `#[utoipa::path]` to the document, so a route cannot be served without
//! being documented. Bodies' schemas are derived from the types the handlers send and take
//! ([`Problem`], `views.rs`, `api.rs`). [`Shared`] then adds what whole groups of routes have in
//! common, so it is said once: on the session API, the optional token (cookie or header) and
//! 400 `invalid_session_id` (the cookie expired); on the admin API, the bearer token and 401;
//! on both, 405, 408 and 503 `overloaded` (every route is under `request_timeout` and
//! `max_in_flight`); `Retry-After` on every 429.
//!
//! `openapi.json` beside this file is the document as the server with an admin token serves
//! it; a test regenerates and compares it (`UPDATE_OPENAPI=1` rewrites it).
#![expect(
    unused_qualifications,
    reason = "utoipa's `OpenApi` derive qualifies the schema types it is given"
)]

use std::borrow::Cow;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Schema, SecurityRequirement,
};
use utoipa::{Modify, OpenApi as _, PartialSchema, ToSchema};

use crate::http::error::Problem;

/// The description of a `Set-Cookie` response header.
pub(crate) const SET_COOKIE: &str = "The session cookie (`HttpOnly; SameSite=Lax; Path=/`): set when a session was started, expired when it was ended or its token did not verify.";

/// A request or reply body of raw bytes.
#[derive(Debug)]
pub(crate) struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Binary {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Binary")
    }
}

/// Any JSON value.
#[derive(Debug)]
pub(crate) struct AnyJson;

impl PartialSchema for AnyJson {
    fn schema() -> RefOr<Schema> {
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
                .build(),
        )
        .into()
    }
}

impl ToSchema for AnyJson {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AnyJson")
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "sessionhost",
        description = "One WebAssembly sandbox per user session. Session routes take the session from the `sessionhost` cookie or the `x-session-id` header (a signed token); `call` and `cast` without one start a session of the default guest and set the cookie. Every error is `{\"error\": kind, \"message\": text}` with `Content-Type: application/json`.",
    ),
    components(schemas(Problem)),
    modifiers(&Shared),
)]
struct Base;

/// The document's fixed parts, before any route is added.
pub(crate) fn base() -> OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn header_schema(kind: Type) -> utoipa::openapi::Object {
    ObjectBuilder::new().schema_type(kind).build()
}

fn add(op: &mut Operation, status: u16, response: Response) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert(RefOr::T(response));
}

/// What groups of routes share (see the module docs).
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("sessionhost"))),
        );
        components.add_security_scheme(
            "header",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-session-id"))),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds the shared responses and security to every operation of `doc` (call once, after
/// every route was added).
pub(crate) fn finish(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let session_api =
            path == "/v1/sessions" || path.starts_with("/v1/session/") || path == "/v1/session";
        let admin_api = path.starts_with("/admin/");
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if session_api {
                // An empty body is a valid message (and an empty spec starts the default
                // guest).
                if let Some(RefOr::T(body)) = op.request_body.as_mut() {
                    body.required = Some(utoipa::openapi::Required::False);
                }
                op.security = Some(vec![
                    SecurityRequirement::default(),
                    SecurityRequirement::new::<_, _, &str>("cookie", []),
                    SecurityRequirement::new::<_, _, &str>("header", []),
                ]);
                let mut invalid = problem(
                    "The session token does not verify (`invalid_session_id`); the cookie is expired.",
                );
                invalid.headers.insert(
                    "set-cookie".into(),
                    HeaderBuilder::new()
                        .schema(Some(header_schema(Type::String)))
                        .description(Some(SET_COOKIE))
                        .build()
                        .into(),
                );
                add(op, 400, invalid);
            }
            if admin_api {
                op.security = Some(vec![SecurityRequirement::new::<_, _, &str>("admin", [])]);
                add(
                    op,
                    401,
                    problem("Missing or wrong admin token (`unauthorized`)."),
                );
            }
            add(
                op,
                405,
                problem(
                    "The path does not take this method (`method_not_allowed`); `Allow` lists those it takes.",
                ),
            );
            if let Some(RefOr::T(allowed)) = op.responses.responses.get_mut("405") {
                allowed.headers.insert(
                    "allow".into(),
                    HeaderBuilder::new()
                        .schema(Some(header_schema(Type::String)))
                        .description(Some("The methods the path takes."))
                        .build()
                        .into(),
                );
            }
            if session_api || admin_api {
                add(
                    op,
                    408,
                    problem("The request took longer than the server allows (`request_timeout`)."),
                );
                add(
                    op,
                    503,
                    problem("The server is at capacity (`overloaded`) or shutting down."),
                );
            }
            for (status, response) in op.responses.responses.iter_mut() {
                if status == "429"
                    && let RefOr::T(response) = response
                {
                    response.headers.insert(
                        "retry-after".into(),
                        HeaderBuilder::new()
                            .schema(Some(header_schema(Type::Integer)))
                            .description(Some("Seconds to wait before trying again."))
                            .build()
                            .into(),
                    );
                }
            }
        }
    }
}
