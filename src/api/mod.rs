//! The HTTP API: one file per resource, the shared write path, extractors,
//! the error type, and the router assembled in one place.
//!
//! # A new write route, step by step
//!
//! 1. `domain/event.rs`: the [`Event`](crate::domain::Event) variant, its
//!    kind and partition, and in `validate_event` the rules serde's types
//!    cannot carry.
//! 2. The resource's file here: the request type (`ToSchema`, with an
//!    `into_incoming` to the event) and the handler with its
//!    `#[utoipa::path]`, which calls `write::accept` with its scope and a
//!    `write::Submission`; nothing else of the write path is per route.
//! 3. [`write_routes`]: a [`write_routes::WriteRoute`] variant with its
//!    namespace, frozen forever, and a pinned id in its test (the compiler
//!    then asks for the route's decoder in [`decode`], for the fuzz target).
//! 4. `routes()` below: one `routes!(handler)` line — the route and its
//!    OpenAPI operation at once; if a webhook sender may call it, its path
//!    in `openapi.rs`'s `SIGNED_PATHS`.
//! 5. `auth.rs`: who may write the event ([`auth::Caller::may_write`]).
//! 6. The ledger: the event's validator in `convex/wire.ts` and its effect
//!    in `convex/apply/`.
//!
//! Then `cargo run -- openapi > openapi/openapi.json`, and a test file in
//! `tests/` named for the resource.

pub mod auth;
mod cameras;
pub mod decode;
mod devices;
mod director_events;
pub mod error;
mod events;
mod extract;
pub mod openapi;
pub mod ops;
pub mod rate_limit;
mod read;
mod refusals;
mod registry;
mod repair;
mod session_reads;
mod sessions;
mod stills;
mod webhooks;
mod write;
pub mod write_routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{ReadFrom, ServeConfig};
use crate::embedded::Embedded;
use crate::journal::Journal;
use crate::ledger::Ledger;
use crate::telemetry::{self, Metrics};
use auth::Credentials;
use error::{ApiError, Problem, problem_response};
pub use openapi::openapi;
use rate_limit::{Rate, RateLimiter};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub journal: Journal,
    pub ledger: Arc<dyn Ledger>,
    /// The embedded ledger, kept level with the journal; absent only in
    /// tests that build the router without one.
    pub embedded: Option<Embedded>,
    /// Which ledger answers reads when a request does not say.
    pub read_from: ReadFrom,
    /// How long a device may go unseen before it reads as stale.
    pub device_stale: Duration,
    /// Placements refused at the edge, for placement debugging.
    pub refusals: refusals::PlacementRefusals,
    pub metrics: Arc<Metrics>,
    pub credentials: Credentials,
    pub limiter: RateLimiter,
    pub limits: HttpLimits,
    pub started: Instant,
    draining: AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The API's own types, built from the settings before anything starts.
pub struct ApiSettings {
    pub credentials: Credentials,
    pub rate: Rate,
    pub limits: HttpLimits,
}

impl ApiSettings {
    /// The credentials (refusing an open service on a non-loopback
    /// address), the per-device rate and the HTTP limits the settings name.
    pub fn from_settings(cfg: &ServeConfig) -> Result<Self, SettingsError> {
        Ok(Self {
            credentials: Credentials::from_settings(&cfg.auth, cfg.listen)?,
            rate: Rate::from_settings(cfg.device_rate, cfg.device_burst)?,
            limits: HttpLimits::from_settings(cfg),
        })
    }
}

impl AppState {
    pub fn new(settings: ApiSettings, journal: Journal, ledger: Arc<dyn Ledger>, metrics: Arc<Metrics>) -> Self {
        let ApiSettings { credentials, rate, limits } = settings;
        Self(Arc::new(Inner {
            journal,
            ledger,
            embedded: None,
            read_from: ReadFrom::Auto,
            device_stale: Duration::from_secs(crate::limits::DEVICE_STALE_SECS),
            refusals: refusals::PlacementRefusals::default(),
            metrics,
            credentials,
            limiter: RateLimiter::new(rate),
            limits,
            started: Instant::now(),
            draining: AtomicBool::new(false),
        }))
    }

    /// The same state, with the embedded ledger that answers reads, the
    /// default source of reads and the registry's stale threshold (before
    /// the state is shared).
    pub fn with_reads(self, embedded: Embedded, read_from: ReadFrom, device_stale: Duration) -> Self {
        match Arc::try_unwrap(self.0) {
            Ok(mut inner) => {
                inner.embedded = Some(embedded);
                inner.read_from = read_from;
                inner.device_stale = device_stale;
                Self(Arc::new(inner))
            }
            Err(shared) => Self(shared),
        }
    }

    /// From now on, writes answer 503 and `/readyz` says not ready.
    pub fn start_draining(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }
}

/// Limits of the HTTP layer (see `crate::limits` for the numbers).
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// The longest a request may take, body included.
    pub request_timeout: Duration,
    /// Requests handled at once; beyond, new ones are shed with 503.
    pub max_concurrency: usize,
    /// The longest `Prefer: wait` honoured: below the request timeout, so
    /// that a wait ends in an answer.
    pub max_wait: Duration,
}

impl HttpLimits {
    pub fn from_settings(cfg: &ServeConfig) -> Self {
        let request_timeout = cfg.request_timeout();
        Self {
            request_timeout,
            max_concurrency: cfg.max_concurrency as usize,
            max_wait: crate::limits::prefer_wait_cap(request_timeout),
        }
    }
}

/// Settings the API cannot work with; the service does not start.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "no credentials are configured, and {0} is not a loopback address: set SHOOTLOG_ADMIN_TOKEN (and device tokens, webhook secrets), or SHOOTLOG_ALLOW_UNAUTHENTICATED=true"
    )]
    OpenOnNetwork(std::net::SocketAddr),
    #[error("{what}: {reason}")]
    Credential { what: String, reason: String },
    #[error("device rate and burst must be positive numbers")]
    Rate,
}

/// Every route and its handler, in two groups: the open ones (no
/// credentials) and the protected ones. Each handler's `#[utoipa::path]`
/// documents it, so this list is also the list of operations in the
/// OpenAPI document ([`openapi::openapi`]).
fn routes() -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let open =
        OpenApiRouter::default().routes(routes!(ops::clock)).routes(routes!(ops::healthz)).routes(routes!(ops::readyz));
    let protected = OpenApiRouter::default()
        .routes(routes!(sessions::start_shoot, session_reads::list_sessions))
        .routes(routes!(sessions::complete))
        .routes(routes!(sessions::get_session))
        .routes(routes!(sessions::get_journal))
        .routes(routes!(cameras::join, session_reads::session_cameras))
        .routes(routes!(session_reads::session_events))
        .routes(routes!(session_reads::session_stills))
        .routes(routes!(session_reads::session_placements))
        .routes(routes!(devices::register, registry::list_devices))
        .routes(routes!(registry::get_device))
        .routes(routes!(registry::list_clashes))
        .routes(routes!(devices::put_placement))
        .routes(routes!(director_events::post))
        .routes(routes!(stills::marker))
        .routes(routes!(stills::uploaded))
        .routes(routes!(webhooks::live_director))
        .routes(routes!(repair::retire))
        .routes(routes!(repair::reinstate))
        .routes(routes!(repair::rename))
        .routes(routes!(repair::resolve_clash))
        .routes(routes!(repair::replace_camera))
        .routes(routes!(events::get_event))
        .routes(routes!(ops::version))
        .routes(routes!(ops::metrics));
    (open, protected)
}

/// The whole application: routes, docs and middleware.
pub fn router(state: AppState) -> Router {
    let limits = state.limits.clone();
    let (open, protected) = routes();
    let (open, _) = open.split_for_parts();
    let (protected, _) = protected.split_for_parts();
    let open = open.with_state(state.clone());
    let protected = protected
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), write_gate))
        .with_state(state.clone());

    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .merge(open)
        .merge(protected)
        .route_layer(axum::middleware::from_fn(mark_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(layer_error))
                .timeout(limits.request_timeout)
                .load_shed()
                .concurrency_limit(limits.max_concurrency),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), close_when_draining))
        .layer(
            CompressionLayer::new()
                .compress_when(SizeAbove::new(1024).and(NotForContentType::const_new("text/event-stream"))),
        )
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_request))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The template of the route that answered a request (`/v1/sessions/{sessionKey}`),
/// set on its response for [`count_request`].
#[derive(Clone)]
struct RouteTemplate(Arc<str>);

/// Route layer of every route: tells [`count_request`] the route's
/// template. Requests no route matched never pass here.
async fn mark_route(req: Request<axum::body::Body>, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().map(|p| RouteTemplate(Arc::from(p.as_str())));
    let mut res = next.run(req).await;
    if let Some(t) = template {
        res.extensions_mut().insert(t);
    }
    res
}

/// Counts every request by route template (`unmatched` when no route
/// matched), method and status, and times it until its response head.
/// Outside the timeout, load shedding and panic catching, so their answers
/// count too.
async fn count_request(State(state): State<AppState>, req: Request<axum::body::Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = telemetry::method_label(req.method());
    let res = next.run(req).await;
    let route = res.extensions().get::<RouteTemplate>().map_or(telemetry::UNMATCHED_ROUTE.into(), |t| t.0.to_string());
    let labels = telemetry::HttpLabels { route, method, status: res.status().as_u16() };
    state.metrics.observe_request(labels, started.elapsed());
    res
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
