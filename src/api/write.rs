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
use super::write_routes::{IdScope, KeySource};
use crate::domain::{
    Envelope, Event, EventId, EventKind, Millis, Verdict, Violation, ViolationCode, fingerprint, validate_event,
};
use crate::journal::{Appended, Entry, NewEntry, Status};
use crate::telemetry::Metrics;

/// Who writes, and how: the caller, its `Idempotency-Key` and `Prefer`.
pub struct WriteContext {
    pub caller: Caller,
    pub idempotency_key: Option<String>,
    pub prefer: Prefer,
}

impl FromRequestParts<AppState> for WriteContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let IdempotencyKey(idempotency_key) = IdempotencyKey::from_request_parts(parts, state).await?;
        let prefer = Prefer::from_headers(&parts.headers, state.limits.max_wait);
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

/// What a request asks to journal: one event, or a batch. The shape decides
/// how ids are derived (a batch derives one per position) and how the
/// answer looks (an [`EventReceipt`], or a [`BatchReceipt`]).
// One lives per request, for the time of the request: not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Submission {
    One(Incoming),
    Batch(Vec<Incoming>),
}

impl Submission {
    fn events(&self) -> &[Incoming] {
        match self {
            Submission::One(one) => std::slice::from_ref(one),
            Submission::Batch(all) => all,
        }
    }

    pub fn into_events(self) -> Vec<Incoming> {
        match self {
            Submission::One(one) => vec![one],
            Submission::Batch(all) => all,
        }
    }

    fn is_batch(&self) -> bool {
        matches!(self, Submission::Batch(_))
    }
}

/// Journals a request's events, all of them or none, and answers: the
/// write path every resource takes.
///
/// 1. [`authorize`]: the caller may write every event;
/// 2. [`rate_limit`]: the caller's bucket has a token per event;
/// 3. [`prepare`]: each event gets its id (the client's, derived from a key
///    in `scope`, or minted) and is checked; every violation is reported at
///    once, and nothing is journaled if there is one;
/// 4. [`append`]: the events are journaled in one transaction;
/// 5. with `Prefer: wait`, the ledger's verdicts are awaited; then the
///    answer ([`respond`]).
pub async fn accept(
    state: &AppState,
    ctx: &WriteContext,
    scope: IdScope,
    submission: Submission,
) -> Result<Response, ApiError> {
    authorize(ctx, submission.events())?;
    rate_limit(state, ctx, submission.events().len())?;
    let batch = submission.is_batch();
    let prepared = prepare(ctx, &scope, submission, Millis::now())?;
    let appended = append(state, prepared).await?;
    let new = appended.iter().filter(|a| matches!(a, Appended::New(_))).count();
    Metrics::inc(&state.metrics.accepted, new as u64);
    Metrics::inc(&state.metrics.replayed, (appended.len() - new) as u64);

    let mut entries: Vec<(Entry, bool)> = appended
        .into_iter()
        .map(|a| match a {
            Appended::New(e) => (e, false),
            Appended::Replay(e) => (e, true),
        })
        .collect();
    let waited = ctx.prefer.wait.filter(|_| state.ledger.is_configured());
    if let Some(wait) = waited {
        wait_for_verdicts(state, &mut entries, wait).await?;
    }
    respond(entries, new, batch, waited)
}

/// Step 1: every event is one the caller may write.
fn authorize(ctx: &WriteContext, events: &[Incoming]) -> Result<(), ApiError> {
    events.iter().try_for_each(|inc| ctx.caller.may_write(&inc.event))
}

/// Step 2: one token per event from the caller's bucket.
fn rate_limit(state: &AppState, ctx: &WriteContext, events: usize) -> Result<(), ApiError> {
    match ctx.caller.rate_key() {
        Some(key) => {
            state.limiter.take(&key, events).map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })
        }
        None => Ok(()),
    }
}

/// Events with their ids, checked, ready for the journal; per event, the
/// JSON pointer of what its id came from (where a conflict is reported).
struct Prepared {
    entries: Vec<NewEntry>,
    sources: Vec<String>,
}

/// Step 3: gives each event its id and checks it. An explicit
/// `Idempotency-Key` wins over a webhook's id; a batch derives one id per
/// position.
fn prepare(ctx: &WriteContext, scope: &IdScope, submission: Submission, now: Millis) -> Result<Prepared, ApiError> {
    let key = match (&ctx.idempotency_key, &ctx.caller.webhook_id) {
        (Some(key), _) => Some((KeySource::IdempotencyKey, key.as_str(), "/headers/Idempotency-Key")),
        (None, Some(id)) => Some((KeySource::WebhookId, id.as_str(), "/headers/webhook-id")),
        (None, None) => None,
    };
    let batch = submission.is_batch();
    let mut violations: Vec<Violation> = submission.events().iter().flat_map(|inc| check(inc, now)).collect();
    let incoming = submission.into_events();
    let mut prepared = Prepared { entries: Vec::with_capacity(incoming.len()), sources: Vec::new() };
    for (i, inc) in incoming.into_iter().enumerate() {
        let (event_id, source) = match (inc.event_id, key) {
            (Some(id), _) => (id, format!("{}/eventId", inc.pointer)),
            (None, Some((source, key, header))) => (scope.derive(source, key, batch.then_some(i)), header.to_string()),
            (None, None) => (EventId::new_random(), format!("{}/eventId", inc.pointer)),
        };
        prepared.sources.push(source);
        prepared.entries.push(NewEntry {
            fingerprint: fingerprint(&inc.event, inc.at),
            envelope: Envelope { event_id, at: inc.at.unwrap_or(now), received_at: now, event: inc.event },
        });
    }
    // One id twice in one request can only be a client bug.
    let mut seen = std::collections::HashSet::new();
    for (e, source) in prepared.entries.iter().zip(&prepared.sources) {
        if !seen.insert(e.envelope.event_id) {
            violations.push(Violation::new(
                source.clone(),
                ViolationCode::Duplicate,
                "eventId appears twice in this request",
            ));
        }
    }
    if violations.is_empty() { Ok(prepared) } else { Err(ApiError::Invalid(violations)) }
}

/// Step 4: journals the events in one transaction. An id reused with other
/// content is reported at the pointer its id came from.
async fn append(state: &AppState, prepared: Prepared) -> Result<Vec<Appended>, ApiError> {
    let Prepared { entries, sources } = prepared;
    let ids: Vec<EventId> = entries.iter().map(|e| e.envelope.event_id).collect();
    state.journal.append(entries).await.map_err(|e| match ApiError::from(e) {
        ApiError::IdempotencyConflict { event_id, .. } => {
            let pointer = ids.iter().position(|id| *id == event_id).map(|i| sources[i].clone()).unwrap_or_default();
            ApiError::IdempotencyConflict { event_id, pointer }
        }
        other => other,
    })
}

/// Step 5: the answer. A batch answers a [`BatchReceipt`] (200 once settled
/// after a wait, else 202). One event answers its [`EventReceipt`] with 202
/// — a replay too, whatever the verdict since: a replay answers as the first
/// answer did, with the current receipt in the body — and only after a
/// `Prefer: wait` with its verdict: 201 applied, or the ledger's problem
/// (409/422); an event the ledger keeps waiting answers 202, as a pending
/// one does, its receipt showing `waiting` and the verdict. A replay always
/// says `Idempotent-Replayed: true`.
fn respond(
    entries: Vec<(Entry, bool)>,
    new: usize,
    batch: bool,
    waited: Option<Duration>,
) -> Result<Response, ApiError> {
    let settled = entries.iter().all(|(e, _)| e.status.is_final());
    let mut response = if batch {
        let receipts: Vec<EventReceipt> = entries.iter().map(|(e, r)| EventReceipt::new(e, *r)).collect();
        let status = if waited.is_some() && settled { StatusCode::OK } else { StatusCode::ACCEPTED };
        (status, Json(BatchReceipt { accepted: new, replayed: receipts.len() - new, events: receipts })).into_response()
    } else {
        let Some((entry, replayed)) = entries.first() else {
            return Err(ApiError::Internal("no event journaled".into()));
        };
        let verdict_answers = waited.is_some();
        if verdict_answers
            && entry.status == Status::Rejected
            && let Some(v) = &entry.verdict
        {
            let mut res =
                ApiError::Rejected { event_id: entry.envelope.event_id, verdict: Box::new(v.clone()) }.into_response();
            if new == 0 {
                res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            return Ok(res);
        }
        let status = if verdict_answers && entry.status == Status::Delivered {
            StatusCode::CREATED
        } else {
            StatusCode::ACCEPTED
        };
        let mut res = (status, Json(EventReceipt::new(entry, *replayed))).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("/v1/events/{}", entry.envelope.event_id)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        res
    };
    let headers = response.headers_mut();
    if new == 0 {
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

/// Waits until every entry is settled (delivered or rejected: a waiting
/// entry is not, the ledger may still apply it) or `wait` runs out,
/// refreshing them.
async fn wait_for_verdicts(state: &AppState, entries: &mut [(Entry, bool)], wait: Duration) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut settled = state.journal.settled_watch();
    loop {
        for (entry, _) in entries.iter_mut().filter(|(e, _)| !e.status.is_final()) {
            if let Some(fresh) = state.journal.get(entry.envelope.event_id).await? {
                *entry = fresh;
            }
        }
        if entries.iter().all(|(e, _)| e.status.is_final()) {
            return Ok(());
        }
        if tokio::time::timeout_at(deadline, settled.changed()).await.is_err() {
            return Ok(());
        }
    }
}
