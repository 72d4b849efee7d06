//! Operations: liveness, readiness, the deployment report, metrics, and the
//! clock devices use to estimate their offset.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Reader;
use crate::domain::Millis;
use crate::journal::{Depth, StorageStatus};
use crate::telemetry::Gauges;

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Readiness: the journal takes writes, and how the ledger stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ready` or `not_ready`. Only the journal decides readiness: with the
    /// ledger down, events are still accepted and kept.
    #[schema(example = "ready")]
    pub status: String,
    /// `ok`, or why the journal cannot take writes.
    pub journal: String,
    /// The journal's storage: whether it takes new events, the fault if
    /// not, the room left and the reserve.
    pub storage: StorageStatus,
    /// `none` (not configured), `connected`, or `disconnected` (degraded:
    /// events wait in the journal).
    #[schema(example = "connected")]
    pub ledger: String,
    /// Events waiting for the ledger.
    pub backlog: u64,
    /// Whether the service is draining for shutdown.
    pub draining: bool,
}

#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to accept events", body = Readiness),
        (status = 503, description = "The journal cannot take writes (`storage.fault`: full, reserve, read_only, missing, io), or the service is draining. Ready again by itself once the storage takes writes.", body = Readiness),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let journal = match state.journal.probe().await {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let ledger = if !state.ledger.is_configured() {
        "none"
    } else if state.ledger.is_connected() {
        "connected"
    } else {
        "disconnected"
    };
    let draining = state.is_draining();
    let ready = journal == "ok" && !draining;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" }.into(),
        journal,
        storage: state.journal.storage(),
        ledger: ledger.into(),
        backlog: state.journal.depth().pending,
        draining,
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// What is deployed, and how it stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    #[schema(example = "0.1.0")]
    pub version: String,
    /// The git commit the binary was built from.
    pub git_commit: String,
    /// When the binary was built (RFC 3339).
    pub build_time: String,
    /// `none` (embedded default: the journal holds everything) or `convex`.
    #[schema(example = "none")]
    pub ledger_mode: String,
    pub journal_path: String,
    pub journal_depth: Depth,
    pub uptime_seconds: u64,
}

#[utoipa::path(
    get, path = "/version", tag = "operations",
    responses(
        (status = 200, description = "The deployment report", body = VersionReport),
        super::ReadProblems
    )
)]
pub async fn version(State(state): State<AppState>, _reader: Reader) -> Json<VersionReport> {
    Json(VersionReport {
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: option_env!("SHOOTLOG_GIT_COMMIT").unwrap_or("unknown").into(),
        build_time: option_env!("SHOOTLOG_BUILD_TIME").unwrap_or("unknown").into(),
        ledger_mode: state.ledger.mode().into(),
        journal_path: state.journal.path().display().to_string(),
        journal_depth: state.journal.depth(),
        uptime_seconds: state.started.elapsed().as_secs(),
    })
}

#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
        super::ReadProblems
    )
)]
pub async fn metrics(State(state): State<AppState>, _reader: Reader) -> Response {
    let depth = state.journal.depth();
    let gauges = Gauges {
        pending: depth.pending,
        delivered_kept: depth.delivered,
        rejected_kept: depth.rejected,
        journal_commits: state.journal.commits(),
        ledger_configured: state.ledger.is_configured(),
        ledger_connected: state.ledger.is_connected(),
        storage: state.journal.storage(),
        storage_refusals: state.journal.storage_refusals(),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&gauges)).into_response()
}

/// The service's clock. A device estimates its offset as
/// `deviceTime - (serverTime + rtt/2)` from one round trip.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Clock {
    /// Epoch milliseconds.
    pub server_time: Millis,
    /// The same instant, RFC 3339.
    pub server_time_rfc3339: String,
}

#[utoipa::path(get, path = "/v1/clock", tag = "operations", responses((status = 200, description = "The service's clock", body = Clock)))]
pub async fn clock() -> Response {
    let now = Millis::now();
    let body = Clock { server_time: now, server_time_rfc3339: now.to_rfc3339() };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
