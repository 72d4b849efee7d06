//! The one write path every resource uses: validate, give each event its id,
//! journal the whole request atomically, answer — and with `Prefer: wait`,
//! wait for the ledger's verdict.

use std::time::Duration;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{IdempotencyKey, Prefer};
use crate::domain::{Envelope, Event, EventId, EventKind, Millis, Verdict, Violation, fingerprint, validate_event};
use crate::journal::{Appended, Entry, NewEntry, Status};
use crate::telemetry::Metrics;

/// Who writes, and how: the caller, its `Idempotency-Key` and `Prefer`.
pub struct WriteContext {
    pub caller: Caller,
    pub idempotency_key: Option<String>,
    pub prefer: Prefer,
}

impl<S: Send + Sync> FromRequestParts<S> for WriteContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let IdempotencyKey(idempotency_key) = IdempotencyKey::from_request_parts(parts, state).await?;
        let prefer = Prefer::from_headers(&parts.headers);
        Ok(Self { caller, idempotency_key, prefer })
    }
}

/// One event of a request, parsed but not yet journaled.
pub struct Incoming {
    /// The client's own id, if it sent one.
    pub event_id: Option<EventId>,
    /// The sender's clock, if it sent one.
    pub at: Option<Millis>,
    pub event: Event,
    /// Where the event stands in the body (`""` or `/events/3`).
    pub pointer: String,
}

/// What the service did with one event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventReceipt {
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub status: Status,
    /// True when this request was an idempotent replay of an earlier one.
    pub replayed: bool,
    /// The journal's sequence number of the event.
    #[schema(example = 42)]
    pub journal_seq: i64,
    /// The sender's clock (epoch ms).
    pub at: Millis,
    /// The service's clock when the event was first received (epoch ms).
    pub received_at: Millis,
    /// The ledger's verdict, once there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Where to follow the event: `/v1/events/{eventId}`.
    #[schema(example = "/v1/events/6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10")]
    pub href: String,
}

impl EventReceipt {
    pub fn new(entry: &Entry, replayed: bool) -> Self {
        Self {
            event_id: entry.envelope.event_id,
            kind: entry.envelope.event.kind(),
            status: entry.status,
            replayed,
            journal_seq: entry.seq,
            at: entry.envelope.at,
            received_at: entry.envelope.received_at,
            verdict: entry.verdict.clone(),
            href: format!("/v1/events/{}", entry.envelope.event_id),
        }
    }
}

/// What the service did with a batch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchReceipt {
    /// Events newly journaled by this request.
    pub accepted: usize,
    /// Events that were idempotent replays.
    pub replayed: usize,
    /// One receipt per event, in request order.
    pub events: Vec<EventReceipt>,
}

/// The 202 answer of a route that takes one event or a batch: an
/// [`EventReceipt`] for a single event, a [`BatchReceipt`] for a batch.
/// (Documentation only.)
pub struct ReceiptOrBatch;

impl utoipa::PartialSchema for ReceiptOrBatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(Ref::from_schema_name(EventReceipt::name()))
            .item(Ref::from_schema_name(BatchReceipt::name()))
            .into()
    }
}

impl ToSchema for ReceiptOrBatch {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push((EventReceipt::name().into(), EventReceipt::schema()));
        EventReceipt::schemas(schemas);
        schemas.push((BatchReceipt::name().into(), BatchReceipt::schema()));
        BatchReceipt::schemas(schemas);
    }
}

/// Journals a request's events; all of them or none.
///
/// `scope` names the route for ids derived from an `Idempotency-Key` (a
/// batch derives one id per position).
pub async fn accept(
    state: &AppState,
    ctx: &WriteContext,
    scope: &str,
    incoming: Vec<Incoming>,
    batch: bool,
) -> Result<Response, ApiError> {
    let prefer = ctx.prefer;
    let appended = journal(state, ctx, scope, incoming, batch).await?;
    let new = appended.iter().filter(|a| matches!(a, Appended::New(_))).count();
    Metrics::inc(&state.metrics.accepted, new as u64);
    Metrics::inc(&state.metrics.replayed, (appended.len() - new) as u64);
    let all_replayed = new == 0;

    let mut entries: Vec<(Entry, bool)> = appended
        .into_iter()
        .map(|a| match a {
            Appended::New(e) => (e, false),
            Appended::Replay(e) => (e, true),
        })
        .collect();
    let mut waited = None;
    if let Some(wait) = prefer.wait.filter(|_| state.ledger.is_configured()) {
        waited = Some(wait);
        wait_for_verdicts(state, &mut entries, wait).await?;
    }
    let settled = entries.iter().all(|(e, _)| e.status != Status::Pending);

    let mut response = if batch {
        let receipts: Vec<EventReceipt> = entries.iter().map(|(e, r)| EventReceipt::new(e, *r)).collect();
        let status = if waited.is_some() && settled { StatusCode::OK } else { StatusCode::ACCEPTED };
        (status, Json(BatchReceipt { accepted: new, replayed: receipts.len() - new, events: receipts })).into_response()
    } else {
        let Some((entry, replayed)) = entries.first() else {
            return Err(ApiError::Internal("no event journaled".into()));
        };
        if entry.status == Status::Rejected
            && let Some(v) = &entry.verdict
        {
            return Err(ApiError::Rejected { event_id: entry.envelope.event_id, verdict: v.clone() });
        }
        let status = if entry.status == Status::Delivered { StatusCode::CREATED } else { StatusCode::ACCEPTED };
        let mut res = (status, Json(EventReceipt::new(entry, *replayed))).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("/v1/events/{}", entry.envelope.event_id)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        res
    };
    let headers = response.headers_mut();
    if all_replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(w) = waited
        && let Ok(v) = HeaderValue::from_str(&format!("wait={}", w.as_secs()))
    {
        headers.insert("preference-applied", v);
    }
    Ok(response)
}

/// The rules serde's types cannot carry: text lengths, ranges, formats, a
/// sane sender clock.
pub fn check(inc: &Incoming, now: Millis) -> Vec<Violation> {
    let mut violations = validate_event(&inc.event, &inc.pointer);
    if let Some(at) = inc.at
        && let Err(e) = at.check_sane(now)
    {
        violations.push(Violation::new(format!("{}/at", inc.pointer), e.code(), format!("at {e}")));
    }
    violations
}

async fn journal(
    state: &AppState,
    ctx: &WriteContext,
    scope: &str,
    incoming: Vec<Incoming>,
    batch: bool,
) -> Result<Vec<Appended>, ApiError> {
    for inc in &incoming {
        ctx.caller.may_write(&inc.event)?;
    }
    if let Some(key) = ctx.caller.rate_key() {
        state
            .limiter
            .take(&key, incoming.len())
            .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
    }
    // An explicit key wins over a webhook's id; both derive one id per
    // position in a batch.
    // An explicit key wins over a webhook's id; both derive one id per
    // position in a batch. `source` is where a conflict is reported.
    let derived_from = match (&ctx.idempotency_key, &ctx.caller.webhook_id) {
        (Some(key), _) => Some((scope.to_string(), key.as_str(), "/headers/Idempotency-Key")),
        (None, Some(id)) => Some((format!("webhook:{scope}"), id.as_str(), "/headers/webhook-id")),
        (None, None) => None,
    };
    let now = Millis::now();
    let mut violations: Vec<Violation> = Vec::new();
    for inc in &incoming {
        violations.extend(check(inc, now));
    }
    let mut entries = Vec::with_capacity(incoming.len());
    // Per event, the pointer of what its id came from.
    let mut sources = Vec::with_capacity(incoming.len());
    for (i, inc) in incoming.into_iter().enumerate() {
        let (event_id, source) = match (inc.event_id, &derived_from) {
            (Some(id), _) => (id, format!("{}/eventId", inc.pointer)),
            (None, Some((scope, key, header))) if batch => {
                (EventId::derived(scope, &format!("{key}#{i}")), header.to_string())
            }
            (None, Some((scope, key, header))) => (EventId::derived(scope, key), header.to_string()),
            (None, None) => (EventId::new_random(), format!("{}/eventId", inc.pointer)),
        };
        sources.push(source);
        entries.push(NewEntry {
            fingerprint: fingerprint(&inc.event, inc.at),
            envelope: Envelope { event_id, at: inc.at.unwrap_or(now), received_at: now, event: inc.event },
        });
    }
    // One id twice in one request can only be a client bug.
    let mut seen = std::collections::HashSet::new();
    for (e, source) in entries.iter().zip(&sources) {
        if !seen.insert(e.envelope.event_id) {
            violations.push(Violation::new(source.clone(), "duplicate", "eventId appears twice in this request"));
        }
    }
    if !violations.is_empty() {
        return Err(ApiError::Invalid(violations));
    }
    let ids: Vec<EventId> = entries.iter().map(|e| e.envelope.event_id).collect();
    state.journal.append(entries).await.map_err(|e| match ApiError::from(e) {
        ApiError::IdempotencyConflict { event_id, .. } => {
            let pointer = ids.iter().position(|id| *id == event_id).map(|i| sources[i].clone()).unwrap_or_default();
            ApiError::IdempotencyConflict { event_id, pointer }
        }
        other => other,
    })
}

/// Waits until every entry is settled or `wait` runs out, refreshing them.
async fn wait_for_verdicts(state: &AppState, entries: &mut [(Entry, bool)], wait: Duration) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut settled = state.journal.settled_watch();
    loop {
        for (entry, _) in entries.iter_mut().filter(|(e, _)| e.status == Status::Pending) {
            if let Some(fresh) = state.journal.get(entry.envelope.event_id).await? {
                *entry = fresh;
            }
        }
        if entries.iter().all(|(e, _)| e.status != Status::Pending) {
            return Ok(());
        }
        if tokio::time::timeout_at(deadline, settled.changed()).await.is_err() {
            return Ok(());
        }
    }
}
