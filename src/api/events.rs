//! The journal status of any accepted event.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Reader;
use super::error::{ApiError, Problem};
use crate::domain::{EventId, EventKind, Millis, Verdict, Violation, ViolationCode};
use crate::journal::{Entry, Status};

/// An event as the journal holds it, with what the ledger said.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventStatus {
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub status: Status,
    pub journal_seq: i64,
    pub at: Millis,
    pub received_at: Millis,
    /// Failed delivery rounds so far.
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The event's fields as journaled and sent to the ledger (see
    /// `migrations-notes/0001-ledger-schema-and-wire.md`).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

impl EventStatus {
    pub fn from_entry(e: &Entry) -> Self {
        Self {
            event_id: e.envelope.event_id,
            kind: e.envelope.event.kind(),
            status: e.status,
            journal_seq: e.seq,
            at: e.envelope.at,
            received_at: e.envelope.received_at,
            attempts: e.attempts,
            last_error: e.last_error.clone(),
            settled_at: e.settled_at,
            verdict: e.verdict.clone(),
            event: serde_json::to_value(&e.envelope.event).unwrap_or_default(),
        }
    }
}

/// The status of any event
///
/// For operators and senders: where an event stands — `pending` in the
/// journal, `waiting` (the ledger keeps it until a prerequisite arrives: the
/// verdict's `code` is the one it would get, `waitingFor` what it waits
/// for), or `delivered` / `rejected` with the ledger's verdict — its failed
/// delivery rounds and last error.
///
/// Example: `GET /v1/events/0193a0b2-…` answers `{"status": "delivered", "verdict": {"verdict": "applied"}, …}`.
#[utoipa::path(
    get, path = "/v1/events/{eventId}", tag = "events",
    params(("eventId" = String, Path, format = Uuid, description = "The event's id")),
    responses(
        (status = 200, description = "The event and its status", body = EventStatus),
        (status = 404, description = "No such event in the journal", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn get_event(
    State(state): State<AppState>,
    _reader: Reader,
    Path(id): Path<String>,
) -> Result<Json<EventStatus>, ApiError> {
    let Some(event_id) = EventId::parse(&id) else {
        return Err(ApiError::Invalid(vec![Violation::new(
            "/path/eventId",
            ViolationCode::Format,
            "eventId must be a UUID",
        )]));
    };
    match state.journal.get(event_id).await? {
        Some(entry) => Ok(Json(EventStatus::from_entry(&entry))),
        None => Err(ApiError::NotFound(format!("no event {event_id} in the journal"))),
    }
}
