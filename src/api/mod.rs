//! The HTTP API: one file per resource, the shared write path, extractors,
//! the error type, and the router assembled in one place.

pub mod auth;
mod cameras;
pub mod decode;
mod devices;
mod director_events;
pub mod error;
mod events;
mod extract;
pub mod limits;
mod ops;
mod sessions;
mod stills;
mod webhooks;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::{IntoParams, IntoResponses, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::journal::Journal;
use crate::ledger::Ledger;
use crate::telemetry::Metrics;
use auth::Credentials;
use error::{ApiError, Problem, problem_response};
use limits::{Rate, RateLimiter};
use write::{BatchReceipt, EventReceipt, ReceiptOrBatch};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub journal: Journal,
    pub ledger: Arc<dyn Ledger>,
    pub metrics: Arc<Metrics>,
    pub credentials: Credentials,
    pub limiter: RateLimiter,
    pub started: Instant,
    draining: AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        journal: Journal,
        ledger: Arc<dyn Ledger>,
        metrics: Arc<Metrics>,
        credentials: Credentials,
        rate: Rate,
    ) -> Self {
        Self(Arc::new(Inner {
            journal,
            ledger,
            metrics,
            credentials,
            limiter: RateLimiter::new(rate),
            started: Instant::now(),
            draining: AtomicBool::new(false),
        }))
    }

    /// From now on, writes answer 503 and `/readyz` says not ready.
    pub fn start_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }
}

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
    /// `wait=N` (N ≤ 20 seconds, within the request timeout): wait for the ledger's verdict and answer
    /// 201 (applied), 409/422 (rejected), or 202 if the time runs out.
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
    /// answers the same, with `Idempotent-Replayed: true`.
    #[response(status = 202)]
    Accepted(EventReceipt),
}

/// The successful answers of a write that may carry a batch.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BatchWriteResponses {
    /// A batch, settled by the ledger (only with `Prefer: wait`): each
    /// receipt carries its verdict.
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
        license(name = "MIT")
    ),
    paths(
        sessions::start_shoot, sessions::complete, sessions::get_session, sessions::get_journal,
        cameras::join,
        devices::register, devices::put_placement,
        director_events::post,
        stills::marker, stills::uploaded,
        webhooks::live_director,
        events::get_event,
        ops::healthz, ops::readyz, ops::version, ops::metrics, ops::clock,
    ),
    components(schemas(crate::domain::Violation, EventReceipt, BatchReceipt, ReceiptOrBatch)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "sessions", description = "Start Shoot, cameras joining, completion, reading a shoot back"),
        (name = "devices", description = "The device registry and camera placement"),
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
struct SecuritySchemes;

const OPEN_PATHS: &[&str] = &["/healthz", "/readyz", "/v1/clock"];
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
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
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
        for (path, item) in doc.paths.paths.iter_mut() {
            if OPEN_PATHS.contains(&path.as_str()) {
                continue;
            }
            let mut security = vec![SecurityRequirement::new("bearer", Vec::<String>::new())];
            if SIGNED_PATHS.contains(&path.as_str()) {
                security.push(SecurityRequirement::new("webhookSignature", Vec::<String>::new()));
            }
            for op in [&mut item.get, &mut item.post, &mut item.put].into_iter().flatten() {
                op.security = Some(security.clone());
            }
        }
    }
}

/// The OpenAPI document, as served at `/openapi.json` and checked in at
/// `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// The longest a request may take, body included.
    pub request_timeout: Duration,
    /// Requests handled at once; beyond, new ones are shed with 503.
    pub max_concurrency: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(30), max_concurrency: 1024 }
    }
}

/// The whole application: routes, docs and middleware.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let open = Router::new()
        .route("/v1/clock", get(ops::clock))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(state.clone());
    let protected = Router::new()
        .route("/v1/sessions", post(sessions::start_shoot))
        .route("/v1/sessions/{sessionKey}", get(sessions::get_session))
        .route("/v1/sessions/{sessionKey}/complete", post(sessions::complete))
        .route("/v1/sessions/{sessionKey}/cameras", post(cameras::join))
        .route("/v1/sessions/{sessionKey}/director-events", post(director_events::post))
        .route("/v1/sessions/{sessionKey}/stills", post(stills::marker))
        .route("/v1/sessions/{sessionKey}/journal", get(sessions::get_journal))
        .route("/v1/devices", post(devices::register))
        .route("/v1/devices/{deviceId}/placement", put(devices::put_placement))
        .route("/v1/callbacks/still-upload", post(stills::uploaded))
        .route("/v1/webhooks/live-director", post(webhooks::live_director))
        .route("/v1/events/{eventId}", get(events::get_event))
        .route("/version", get(ops::version))
        .route("/metrics", get(ops::metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), write_gate))
        .with_state(state.clone());

    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .merge(open)
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(layer_error))
                .timeout(limits.request_timeout)
                .load_shed()
                .concurrency_limit(limits.max_concurrency),
        )
        .layer(axum::middleware::from_fn_with_state(state, close_when_draining))
        .layer(
            CompressionLayer::new()
                .compress_when(SizeAbove::new(1024).and(NotForContentType::const_new("text/event-stream"))),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Writes that arrive while the service drains are refused (503); writes
/// already in flight finish. Every refused write is counted.
async fn write_gate(State(state): State<AppState>, req: Request<axum::body::Body>, next: Next) -> Response {
    let write = matches!(*req.method(), Method::POST | Method::PUT);
    if write && state.is_draining() {
        Metrics::inc(&state.metrics.refused, 1);
        return ApiError::Unavailable { detail: "the service is shutting down".into(), retry_after_secs: 2 }
            .into_response();
    }
    let res = next.run(req).await;
    if write && (res.status().is_client_error() || res.status().is_server_error()) {
        Metrics::inc(&state.metrics.refused, 1);
    }
    res
}

/// While draining, every answer says `Connection: close`, so that clients
/// open their next request elsewhere instead of on a closing connection.
async fn close_when_draining(State(state): State<AppState>, req: Request<axum::body::Body>, next: Next) -> Response {
    let mut res = next.run(req).await;
    if state.is_draining() {
        res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// The request timeout and load shedding, as problem documents.
async fn layer_error(err: tower::BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::Timeout
    } else {
        ApiError::Unavailable { detail: "the service is at its concurrency limit".into(), retry_after_secs: 1 }
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> Response {
    let p = Problem {
        type_: "/problems/method-not-allowed".into(),
        title: "Method not allowed".into(),
        status: 405,
        detail: "this route does not take that method".into(),
        code: "method_not_allowed".into(),
        errors: Vec::new(),
        event_id: None,
        verdict: None,
    };
    problem_response(StatusCode::METHOD_NOT_ALLOWED, &p)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("a handler panicked".into()).into_response()
}
