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
use super::error::ApiError;
use crate::domain::Millis;
use crate::journal::{Depth, Journal, StorageStatus};
use crate::ledger::{CONTRACT_VERSION, Deployment, Ledger, LedgerState};
use crate::telemetry::{self, Gauges};

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness
///
/// Answers 200 while the process runs. Open, no credentials.
///
/// Example: `GET /healthz` answers `{"status":"ok"}` while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// Readiness: the journal takes writes, and how the ledger stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ready` or `not_ready`. Only the journal decides readiness: in every
    /// ledger state, events are still accepted and kept.
    #[schema(example = "ready")]
    pub status: String,
    /// `ok`, or why the journal cannot take writes.
    pub journal: String,
    /// The journal's storage: whether it takes new events, the fault if
    /// not, the room left and the reserve.
    pub storage: StorageStatus,
    /// How the ledger stands (its last handshake); anything but
    /// `connected` (or `none`) means events wait in the journal.
    pub ledger: LedgerState,
    /// Why the ledger is in that state, when it is not connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_reason: Option<String>,
    /// Events waiting for the ledger (pending: not yet sent, or not yet
    /// answered).
    pub backlog: u64,
    /// Events the ledger keeps waiting for a prerequisite (a camera's
    /// join, a still's marker…); the forwarder asks after them.
    pub waiting: u64,
    /// Whether the service is draining for shutdown.
    pub draining: bool,
}

/// Readiness: the journal takes writes; how the ledger stands
///
/// Open. 200 while the journal takes new events, 503 with the reason when it
/// cannot (its storage) or while the service drains. The ledger's state is
/// reported but never decides readiness: events are kept in every state.
///
/// Example: `GET /readyz` answers 200 `{"status":"ready", …}`, or 503 with the reason.
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
    let ledger = state.ledger.status();
    let draining = state.is_draining();
    let ready = journal == "ok" && !draining;
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" }.into(),
        journal,
        storage: state.journal.storage(),
        ledger: ledger.state,
        ledger_reason: ledger.reason,
        backlog: state.journal.depth().pending,
        waiting: state.journal.depth().waiting,
        draining,
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// The deployment report: this build, the ledger, the journal, in one
/// document — the final word on whether a rebuilt or redeployed pair is
/// usable. `shootlog check` prints the same document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentReport {
    pub build: BuildReport,
    pub ledger: LedgerReport,
    /// Absent only from `shootlog check` run where there is no journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalReport>,
    pub uptime_seconds: u64,
}

/// This build of the service.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    #[schema(example = "0.1.0")]
    pub version: String,
    /// The git commit the binary was built from.
    pub git_commit: String,
    /// When the binary was built (RFC 3339).
    pub build_time: String,
    /// The ledger contract version this build keeps.
    pub contract_version: u32,
    /// The build id of the Convex functions in this build's checkout.
    pub functions_build_id: String,
}

/// The ledger as the last handshake found it. Names the deployment's host,
/// never its key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerReport {
    /// `none` (embedded default: the journal holds everything) or `convex`.
    #[schema(example = "convex")]
    pub mode: String,
    /// The deployment's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "happy-otter-123.convex.cloud")]
    pub host: Option<String>,
    pub state: LedgerState,
    /// Why the ledger is in that state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether events are being delivered: the state is `connected`.
    pub usable: bool,
    /// Since when the state holds (epoch ms).
    pub since: Millis,
    /// When the last handshake ended (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Millis>,
    /// The round trip of the last answered handshake, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_trip_ms: Option<f64>,
    /// What the deployment said of itself (contract version, functions
    /// build id), once it answered a handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// Whether the deployment runs exactly the functions of this build's
    /// checkout (same build id); `false` is allowed while the contract
    /// versions agree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions_match_build: Option<bool>,
}

/// The journal: what it holds and how delivery goes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalReport {
    pub path: String,
    /// The journal's stable instance id: with each entry's seq, where the
    /// ledger learns an event was journaled (made once, kept in the file).
    #[schema(example = "3f9c2a7b1e4d8c06")]
    pub instance_id: String,
    pub depth: Depth,
    /// How long the oldest pending event has waited, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_pending_age_ms: Option<i64>,
    /// When the ledger last settled an event (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_delivery_at: Option<Millis>,
    /// Rejected events kept within retention, by rejection code.
    pub rejected_by_code: std::collections::BTreeMap<String, u64>,
}

/// The functions build id this binary was built with.
pub fn functions_build_id() -> &'static str {
    option_env!("SHOOTLOG_FUNCTIONS_BUILD_ID").unwrap_or("unknown")
}

impl DeploymentReport {
    /// The report for a journal and a ledger, as they stand now.
    pub async fn gather(journal: Option<&Journal>, ledger: &dyn Ledger, uptime_seconds: u64) -> Result<Self, ApiError> {
        let status = ledger.status();
        let now = Millis::now();
        let journal = match journal {
            Some(j) => {
                let report = j.report().await?;
                Some(JournalReport {
                    path: j.path().display().to_string(),
                    instance_id: j.instance_id().to_string(),
                    depth: j.depth(),
                    oldest_pending_age_ms: report.oldest_pending_received_at.map(|t| (now.0 - t.0).max(0)),
                    last_delivery_at: report.last_settled_at,
                    rejected_by_code: report.rejected_by_code,
                })
            }
            None => None,
        };
        let functions_match_build = status.deployment.as_ref().map(|d| d.functions_build_id == functions_build_id());
        Ok(Self {
            build: BuildReport {
                version: env!("CARGO_PKG_VERSION").into(),
                git_commit: option_env!("SHOOTLOG_GIT_COMMIT").unwrap_or("unknown").into(),
                build_time: option_env!("SHOOTLOG_BUILD_TIME").unwrap_or("unknown").into(),
                contract_version: CONTRACT_VERSION,
                functions_build_id: functions_build_id().into(),
            },
            ledger: LedgerReport {
                mode: ledger.mode().into(),
                host: ledger.host(),
                state: status.state,
                usable: status.state == LedgerState::Connected,
                reason: status.reason,
                since: status.since,
                checked_at: status.checked_at,
                round_trip_ms: status.round_trip_ms,
                deployment: status.deployment,
                functions_match_build,
            },
            journal,
            uptime_seconds,
        })
    }
}

/// The deployment report
///
/// For operators. This build, the ledger (host, state and reason, contract
/// versions, functions build id, round trip) and the journal (backlog, oldest
/// pending age, last delivery, rejections by code): the final word after a
/// rebuild or redeploy. `shootlog check` prints the same report.
///
/// Example: `GET /version` answers the build (commit, contract version), the ledger's state and deployment, and the journal's depth.
#[utoipa::path(
    get, path = "/version", tag = "operations",
    responses(
        (status = 200, description = "The deployment report", body = DeploymentReport),
        super::openapi::ReadProblems
    )
)]
pub async fn version(State(state): State<AppState>, _reader: Reader) -> Result<Json<DeploymentReport>, ApiError> {
    let uptime = state.started.elapsed().as_secs();
    Ok(Json(DeploymentReport::gather(Some(&state.journal), state.ledger.as_ref(), uptime).await?))
}

/// Prometheus metrics
///
/// For operators and scrapers (admin token). The text exposition format.
///
/// Example: `curl -H 'Authorization: Bearer $ADMIN' /metrics | grep shootlog_journal_backlog`.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "The metrics, in the OpenMetrics text format (Prometheus scrapes it natively)", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        super::openapi::ReadProblems
    )
)]
pub async fn metrics(State(state): State<AppState>, _reader: Reader) -> Response {
    let depth = state.journal.depth();
    let ledger = state.ledger.status();
    let now = Millis::now();
    // Without a journal read (a storage fault), the age is left out rather
    // than made up.
    let oldest_pending_age_secs = match state.journal.oldest_pending_received_at().await {
        Ok(oldest) => Some(oldest.map_or(0.0, |t| (now.0 - t.0).max(0) as f64 / 1000.0)),
        Err(_) => None,
    };
    let (journal_commit_seconds, journal_commit_events) = state.journal.commit_histograms();
    let gauges = Gauges {
        pending: depth.pending,
        waiting: depth.waiting,
        oldest_pending_age_secs,
        journal_commit_seconds,
        journal_commit_events,
        delivered_kept: depth.delivered,
        rejected_kept: depth.rejected,
        journal_commits: state.journal.commits(),
        ledger_configured: state.ledger.is_configured(),
        ledger_connected: ledger.state == LedgerState::Connected,
        ledger_states: LedgerState::ALL.iter().map(|s| (s.as_str(), *s == ledger.state)).collect(),
        ledger_state_changes: ledger.changes,
        storage: state.journal.storage(),
        storage_refusals: state.journal.storage_refusals(),
    };
    ([(header::CONTENT_TYPE, telemetry::CONTENT_TYPE)], state.metrics.render(&gauges)).into_response()
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

/// The service's clock
///
/// Open. Devices estimate their clock offset from one round trip and report
/// it with their placement.
///
/// Example: `GET /v1/clock` answers `{"serverTime": 1764531000000, "serverTimeRfc3339": "2026-11-30T19:30:00Z"}`;
/// a device's offset is its own clock minus `serverTime`, taken at the middle of the round trip.
#[utoipa::path(get, path = "/v1/clock", tag = "operations", responses((status = 200, description = "The service's clock", body = Clock)))]
pub async fn clock() -> Response {
    let now = Millis::now();
    let body = Clock { server_time: now, server_time_rfc3339: now.to_rfc3339() };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
