//! The API's one error type, mapped once to an RFC 9457 problem document
//! (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{EventId, Verdict, Violation, ViolationCode};
use crate::journal::{JournalError, StorageFault};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the body is larger than this route's limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<Violation>),
    /// `pointer` names where the id came from: `/eventId`,
    /// `/headers/Idempotency-Key` or `/headers/webhook-id`.
    #[error("event {event_id} was sent before with different content")]
    IdempotencyConflict { event_id: EventId, pointer: String },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many requests from this caller; retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("the ledger rejected the event: {}", .verdict.message.as_deref().unwrap_or("no message"))]
    Rejected { event_id: EventId, verdict: Box<Verdict> },
    #[error("{detail}")]
    Unavailable { detail: String, retry_after_secs: u64 },
    /// The journal's storage cannot take the write: 503 with a problem type
    /// of its own per fault, and `Retry-After`.
    #[error("{detail}")]
    Storage { fault: StorageFault, detail: String },
    #[error("{0}")]
    Upstream(String),
    #[error("the request took longer than the service allows")]
    Timeout,
    #[error("internal error")]
    Internal(String),
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[schema(example = "/problems/invalid-fields")]
    #[serde(rename = "type")]
    pub type_: String,
    #[schema(example = "Invalid fields")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "the request has 1 invalid field(s)")]
    pub detail: String,
    /// A stable machine-readable code.
    #[schema(example = "invalid_fields")]
    pub code: String,
    /// Each bad field with its JSON pointer (422).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
    /// The event concerned, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// The ledger's verdict (409/422 after `Prefer: wait`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

/// Whether a rejection says "the ledger's state forbids this" (409) or
/// "this event makes no sense" (422).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Conflict,
    Unprocessable,
}

/// Every rejection code a verdict may carry, and its status: the ledger's
/// (`rejectionCode` in `convex/wire.ts`; `tests/limits.rs` compares the
/// two lists) and the forwarder's own `ledger_exception`. The OpenAPI
/// document lists them from here.
pub const REJECTION_CODES: [(&str, Rejection); 18] = [
    ("session_not_found", Rejection::Unprocessable),
    ("session_completed", Rejection::Conflict),
    ("device_not_found", Rejection::Unprocessable),
    ("device_in_other_session", Rejection::Conflict),
    ("device_already_in_session", Rejection::Conflict),
    ("camera_key_taken", Rejection::Conflict),
    ("camera_not_in_session", Rejection::Unprocessable),
    ("hold_already_open", Rejection::Conflict),
    ("hold_not_open", Rejection::Unprocessable),
    ("placement_out_of_range", Rejection::Unprocessable),
    ("still_not_found", Rejection::Unprocessable),
    ("still_exists", Rejection::Conflict),
    ("hardware_id_conflict", Rejection::Conflict),
    ("device_retired", Rejection::Conflict),
    ("clash_not_found", Rejection::Conflict),
    ("device_not_in_clash", Rejection::Unprocessable),
    ("invalid_event", Rejection::Unprocessable),
    (crate::forwarder::LEDGER_EXCEPTION, Rejection::Unprocessable),
];

/// The codes of one kind of rejection.
pub fn rejection_codes(kind: Rejection) -> impl Iterator<Item = &'static str> {
    REJECTION_CODES.iter().filter(move |(_, k)| *k == kind).map(|(code, _)| *code)
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type")
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large")
            }
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields", "Invalid fields"),
            ApiError::IdempotencyConflict { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "Idempotency key reused")
            }
            ApiError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, code, "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests"),
            ApiError::Rejected { verdict, .. } => {
                let conflict =
                    verdict.code.as_deref().is_some_and(|c| rejection_codes(Rejection::Conflict).any(|k| k == c));
                if conflict {
                    (StatusCode::CONFLICT, "ledger_conflict", "Rejected by the ledger")
                } else {
                    (StatusCode::UNPROCESSABLE_ENTITY, "ledger_rejected", "Rejected by the ledger")
                }
            }
            ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            ApiError::Storage { fault, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, fault.problem_code(), fault.problem_title())
            }
            ApiError::Upstream(_) => (StatusCode::BAD_GATEWAY, "ledger_unavailable", "Ledger unavailable"),
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout", "Request timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, code, title) = self.parts();
        let (errors, event_id, verdict) = match self {
            ApiError::Invalid(v) => (v.clone(), None, None),
            ApiError::IdempotencyConflict { event_id, pointer } => (
                vec![Violation::new(
                    pointer.clone(),
                    ViolationCode::Reused,
                    "this eventId (or Idempotency-Key) was used before for different content",
                )],
                Some(*event_id),
                None,
            ),
            ApiError::Rejected { event_id, verdict } => (Vec::new(), Some(*event_id), Some(Verdict::clone(verdict))),
            _ => (Vec::new(), None, None),
        };
        let code = match self {
            ApiError::Rejected { verdict, .. } => verdict.code.clone().unwrap_or_else(|| code.to_string()),
            _ => code.to_string(),
        };
        let detail = match self {
            // Internal details go to the log, not to the client.
            ApiError::Internal(_) => "the service failed to handle the request; it has been logged".to_string(),
            other => other.to_string(),
        };
        Problem {
            type_: format!("/problems/{}", code.replace('_', "-")),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            code,
            errors,
            event_id,
            verdict,
        }
    }
}

impl From<JournalError> for ApiError {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::Conflict { event_id } => {
                ApiError::IdempotencyConflict { event_id, pointer: "/eventId".into() }
            }
            JournalError::Full { .. } => ApiError::Unavailable { detail: e.to_string(), retry_after_secs: 5 },
            JournalError::Closed => {
                ApiError::Unavailable { detail: "the service is shutting down".into(), retry_after_secs: 2 }
            }
            JournalError::Unwritable { fault, detail } => ApiError::Storage { fault, detail },
            other => match other.storage_fault() {
                // A read that failed on the storage (the writer classifies
                // its own errors into `Unwritable`).
                Some(fault) => ApiError::Storage { fault, detail: format!("the journal's storage failed: {other}") },
                None => ApiError::Internal(other.to_string()),
            },
        }
    }
}

/// Writes a problem document with the given status.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, ..) = self.parts();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "request failed"),
            ApiError::Upstream(detail) => tracing::warn!(%detail, "ledger read failed"),
            // Logged once per change of the journal's state, not per request.
            ApiError::Storage { .. } => {}
            _ => {}
        }
        let mut res = problem_response(status, &self.problem());
        let headers = res.headers_mut();
        match self {
            ApiError::Unavailable { retry_after_secs, .. } | ApiError::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::Storage { fault, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(fault.retry_after_secs()));
            }
            ApiError::Unauthorized { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"shootlog\""));
            }
            // The unread rest of the body makes the connection unusable: say
            // so, so that the client does not reuse it.
            ApiError::PayloadTooLarge { .. } => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        res
    }
}
