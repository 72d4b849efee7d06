//! The OpenAPI document: its info, the operations it lists, the responses
//! and headers shared by many operations, and the security schemes. Served
//! at `/openapi.json` (Swagger UI at `/docs`) and checked in as
//! `openapi/openapi.json` (`tests/openapi.rs` fails when it is stale).

use utoipa::{IntoParams, IntoResponses, OpenApi};

use super::error::Problem;
use super::write::{BatchReceipt, EventReceipt, ReceiptOrBatch};

/// `Idempotency-Key` request header.
#[derive(IntoParams)]
#[into_params(names("Idempotency-Key"), parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader(
    /// A key unique to this write (1..=255 visible ASCII). A retry with the
    /// same key is answered from the journal; with other content it is 422.
    /// An `eventId` in the body takes precedence.
    Option<String>,
);

/// `Prefer` request header (RFC 7240).
#[derive(IntoParams)]
#[into_params(names("Prefer"), parameter_in = Header)]
#[allow(dead_code)]
pub struct PreferHeader(
    /// `wait=N` (N ≤ 20 seconds, and 2 s short of the request timeout): wait for the ledger's verdict and answer
    /// 201 (applied), 409/422 (rejected), or 202 if the time runs out. An event the ledger keeps `waiting` for a
    /// prerequisite (a camera's join, a still's marker) is not settled: it answers 202 too, its receipt showing
    /// `status: waiting` and the verdict's `code` and `waitingFor`.
    Option<String>,
);

/// The successful answers of a single-event write.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WriteResponses {
    /// Applied by the ledger (only with `Prefer: wait`).
    #[response(status = 201)]
    Applied(EventReceipt),
    /// Journaled durably; the ledger will apply it. An idempotent replay
    /// answers 202 too, as the first answer did, with the current receipt
    /// (and its verdict, once there is one) and `Idempotent-Replayed: true`;
    /// only `Prefer: wait` asks for the verdict's status instead. After a
    /// `Prefer: wait`, 202 means the time ran out or the ledger keeps the
    /// event `waiting` for a prerequisite.
    #[response(status = 202)]
    Accepted(EventReceipt),
}

/// The successful answers of a write that may carry a batch.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BatchWriteResponses {
    /// A batch, settled by the ledger (only with `Prefer: wait`): each
    /// receipt carries its verdict. While any event of it is pending or
    /// waiting, the answer is 202.
    #[response(status = 200)]
    BatchSettled(BatchReceipt),
    /// A single event applied by the ledger (only with `Prefer: wait`).
    #[response(status = 201)]
    Applied(EventReceipt),
    /// Journaled: a single event answers an `EventReceipt`, a batch a
    /// `BatchReceipt`.
    #[response(status = 202)]
    Accepted(ReceiptOrBatch),
}

/// The refusals every write may answer, as problem documents.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum WriteProblems {
    /// Malformed JSON.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// No valid credentials: a bearer token, or a Standard Webhooks
    /// signature (`signature_invalid`, `timestamp_out_of_tolerance`).
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The credentials do not cover this write (another device's events).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// The ledger's state forbids it, e.g. `session_completed` (a single
    /// event, only with `Prefer: wait`).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body is over the route's limit: 32 KiB for one event, 500 KiB for
    /// a batch.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not JSON.
    #[response(status = 415, content_type = "application/problem+json")]
    NotJson(Problem),
    /// Invalid fields, each with its JSON pointer (`/events/3/cameraKey`);
    /// an event id reused for other content; or a ledger rejection (with
    /// `Prefer: wait`). Nothing of the request is journaled.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// This device is over its rate limit; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    RateLimited(Problem),
    /// The journal is full (`unavailable`), its storage cannot take the
    /// write (`storage_full`, `storage_read_only`, `storage_missing`,
    /// `storage_io_error`), the service is overloaded or shutting down;
    /// see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// The refusals of the operator's reads.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ReadProblems {
    /// No valid credentials.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// Reading needs the admin token.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// The journal's storage cannot be read (`storage_missing`,
    /// `storage_io_error`); see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shootlog",
        description = "Ingest service that makes a live photoshoot write its own history.\n\n\
Every accepted write is journaled durably before it is acknowledged and then forwarded to the \
Convex ledger, effectively once. Writes are idempotent on `eventId` (or `Idempotency-Key`). \
Errors are RFC 9457 problem documents; `errors[].pointer` is a JSON pointer into the body \
(`/path/<param>` and `/headers/<name>` name the path and headers).",
        license(name = "MIT", identifier = "MIT")
    ),
    servers((url = "/", description = "This service (the same origin as the document)")),
    components(schemas(crate::domain::Violation, EventReceipt, BatchReceipt, ReceiptOrBatch)),
    tags(
        (name = "sessions", description = "Start Shoot, cameras joining, completion, reading a shoot back"),
        (name = "devices", description = "Devices registering themselves and reporting their placement"),
        (name = "registry", description = "The operator's device registry: reading it, its clashes, and repairing it (admin token)"),
        (name = "director events", description = "Cuts, holds, cues, markers, notes"),
        (name = "stills", description = "Still markers and upload callbacks"),
        (name = "webhooks", description = "Live Director's webhook"),
        (name = "events", description = "The journal status of any event"),
        (name = "operations", description = "Health, readiness, version, metrics, clock"),
    )
)]
pub struct ApiDoc;

/// Declares the two ways to authenticate, and which operation takes which:
/// device and admin bearer tokens everywhere; Standard Webhooks signatures
/// on the routes Live Director and the still uploader call. Swagger UI's
/// "Authorize" takes the admin token, which works for every operation.
pub(super) struct SecuritySchemes;

/// The protected routes that Live Director or the still uploader may call
/// with a Standard Webhooks signature instead of a bearer token.
const SIGNED_PATHS: &[&str] = &[
    "/v1/sessions",
    "/v1/sessions/{sessionKey}/complete",
    "/v1/sessions/{sessionKey}/director-events",
    "/v1/sessions/{sessionKey}/stills",
    "/v1/callbacks/still-upload",
    "/v1/webhooks/live-director",
];

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A device token (writes of that device only) or the admin token (everything)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "webhookSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "webhook-signature",
                "Standard Webhooks: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the `webhook-id` and \
                 `webhook-timestamp` headers; for Live Director and the still uploader",
            ))),
        );
    }
}

/// Every operation of `doc` (the protected routes) takes a bearer token,
/// and those in [`SIGNED_PATHS`] a webhook signature too.
fn require_credentials(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    for (path, item) in doc.paths.paths.iter_mut() {
        let mut security = vec![SecurityRequirement::new("bearer", Vec::<String>::new())];
        if SIGNED_PATHS.contains(&path.as_str()) {
            security.push(SecurityRequirement::new("webhookSignature", Vec::<String>::new()));
        }
        for op in [&mut item.get, &mut item.post, &mut item.put].into_iter().flatten() {
            op.security = Some(security.clone());
        }
    }
}

/// The OpenAPI document, as served at `/openapi.json` and checked in at
/// `openapi/openapi.json`: the info, tags and shared schemas of [`ApiDoc`],
/// the operations of every route [`super::routes`] lists, and the security
/// schemes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (open, protected) = super::routes();
    let mut protected = protected.into_openapi();
    require_credentials(&mut protected);
    let mut open = open.into_openapi();
    for op in open.paths.paths.values_mut().flat_map(|item| [&mut item.get, &mut item.post, &mut item.put]).flatten() {
        // Open: an empty requirement says "no credentials", explicitly.
        op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::default()]);
    }
    let mut doc = ApiDoc::openapi();
    doc.merge(open);
    doc.merge(protected);
    utoipa::Modify::modify(&SecuritySchemes, &mut doc);
    headers_are_strings(&mut doc);
    declare_headers_and_codes(&mut doc);
    doc
}

/// Declares the headers the service sets on each kind of answer, and
/// writes out which rejection codes answer 409 and which 422.
fn declare_headers_and_codes(doc: &mut utoipa::openapi::OpenApi) {
    use super::error::{Rejection, rejection_codes};
    use utoipa::openapi::RefOr;
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let header = |description: &str, ty: Type| {
        HeaderBuilder::new().schema(ObjectBuilder::new().schema_type(ty)).description(Some(description)).build()
    };
    let list = |kind| rejection_codes(kind).map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let (conflicts, unprocessable) = (list(Rejection::Conflict), list(Rejection::Unprocessable));
    for item in doc.paths.paths.values_mut() {
        let writes = [&mut item.post, &mut item.put].into_iter().flatten().map(|op| (op, true));
        let reads = item.get.iter_mut().map(|op| (op, false));
        for (op, write) in writes.chain(reads) {
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                let h = &mut response.headers;
                match status.as_str() {
                    "200" | "201" | "202" if write => {
                        h.insert(
                            "Idempotent-Replayed".into(),
                            header("`true` when every event of the request was journaled before", Type::String),
                        );
                        h.insert(
                            "Preference-Applied".into(),
                            header("`wait=N` when `Prefer: wait` was honoured, with the wait applied", Type::String),
                        );
                        if status != "200" {
                            h.insert(
                                "Location".into(),
                                header("`/v1/events/{eventId}` of a single event", Type::String),
                            );
                        }
                    }
                    "401" => {
                        h.insert("WWW-Authenticate".into(), header("`Bearer realm=\"shootlog\"`", Type::String));
                    }
                    "429" | "503" => {
                        h.insert("Retry-After".into(), header("Seconds to wait before retrying", Type::Integer));
                    }
                    "409" if write => {
                        response.description = format!(
                            "{} Rejection codes answered 409 (the ledger's state forbids the event): {conflicts}.",
                            response.description
                        );
                    }
                    "422" if write => {
                        response.description = format!(
                            "{} Rejection codes answered 422 (the event makes no sense to the ledger): {unprocessable}.",
                            response.description
                        );
                    }
                    _ => {}
                }
            }
        }
    }
}

/// An optional header is absent, never `null`: its schema is a plain
/// string (a `["string", "null"]` type, as derived from `Option<String>`,
/// makes common OpenAPI validators fail).
fn headers_are_strings(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post, &mut item.put].into_iter().flatten() {
            for p in op.parameters.iter_mut().flatten().filter(|p| p.parameter_in == ParameterIn::Header) {
                if let Some(RefOr::T(Schema::Object(obj))) = &mut p.schema
                    && matches!(&obj.schema_type, SchemaType::Array(types) if types.contains(&Type::Null))
                {
                    obj.schema_type = SchemaType::Type(Type::String);
                }
            }
        }
    }
}
