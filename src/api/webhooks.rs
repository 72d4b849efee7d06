//! The Live Director webhook: one endpoint for every event of Photoshoot
//! Mode, in the Standard Webhooks payload shape `{type, timestamp, data}`.
//! The `webhook-id` header is the idempotency key: a redelivered message is
//! a replay, not a second event.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::director_events::DirectorEventRequest;
use super::error::ApiError;
use super::extract::{JsonBytes, from_value, parse};
use super::sessions::{CompleteSessionRequest, StartShootRequest};
use super::write::{Incoming, Submission, WriteContext, accept};
use super::write_routes::WriteRoute;
use crate::domain::{Millis, SessionKey, Violation, ViolationCode};
use crate::limits::EVENT_BODY_MAX;

/// What happened in Live Director.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum LiveDirectorEventType {
    /// Start Shoot. `data`: `sessionKey`, `title`, `notes?`, `location?`.
    #[serde(rename = "shoot.started")]
    ShootStarted,
    /// End of shoot. `data`: `sessionKey`.
    #[serde(rename = "shoot.ended")]
    ShootEnded,
    /// `data`: `sessionKey`, `cameraKey`, `fromCameraKey?`, `transition?`, `transitionMs?`.
    #[serde(rename = "cut")]
    Cut,
    /// `data`: `sessionKey`, `holdId`, `cameraKey`.
    #[serde(rename = "hold.started")]
    HoldStarted,
    /// `data`: `sessionKey`, `holdId`.
    #[serde(rename = "hold.ended")]
    HoldEnded,
    /// `data`: `sessionKey`, `cueKind`, `label`.
    #[serde(rename = "cue")]
    Cue,
    /// `data`: `sessionKey`, `label`.
    #[serde(rename = "marker")]
    Marker,
    /// `data`: `sessionKey`, `text`.
    #[serde(rename = "note")]
    Note,
}

/// A Live Director webhook message (Standard Webhooks payload).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"type": "cut", "timestamp": "2026-11-30T19:42:00.120Z", "data": {"sessionKey": "shoot-2026-11-30-studio-b", "cameraKey": "B", "fromCameraKey": "A"}}))]
pub struct LiveDirectorWebhook {
    #[serde(rename = "type")]
    pub kind: LiveDirectorEventType,
    /// When it happened in Live Director (epoch ms or RFC 3339); `data.at`
    /// wins if both are sent.
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub timestamp: Option<Millis>,
    /// The event's fields, by `type`; every type has `sessionKey`, and may
    /// carry `eventId` and `at`.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Live Director's webhook (Standard Webhooks)
///
/// Live Director's signed calls in one envelope: `type` names what happened
/// (`shoot.started`, `shoot.ended`, `cut`, `hold.started`, `hold.ended`,
/// `cue`, `marker`, `note`), `data` its fields. Journals one event. A
/// redelivery of one `webhook-id` is an idempotent replay (202,
/// `Idempotent-Replayed: true`).
///
/// Example: `{"type": "cut", "timestamp": "2026-11-30T19:42:00Z", "data": {"sessionKey": "studio-b-1130", "cameraKey": "A"}}` with the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
#[utoipa::path(
    post, path = "/v1/webhooks/live-director", tag = "webhooks",
    request_body = LiveDirectorWebhook,
    params(
        ("webhook-id" = Option<String>, Header, description = "The message id; redeliveries of one id are idempotent replays"),
        super::openapi::IdempotencyHeader, super::openapi::PreferHeader
    ),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn live_director(
    State(state): State<AppState>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let incoming = parse::<LiveDirectorWebhook>(&body)?.into_incoming()?;
    accept(&state, &ctx, WriteRoute::LiveDirector.scope(None), Submission::One(incoming)).await
}

impl LiveDirectorWebhook {
    /// The event this message asks to journal; `timestamp` is its `at`
    /// unless `data.at` is given.
    pub fn into_incoming(self) -> Result<Incoming, ApiError> {
        let mut incoming = to_incoming(self.kind, self.data)?;
        if incoming.at.is_none()
            && let Some(ts) = self.timestamp
        {
            let ts = ts.check_sane(Millis::now()).map_err(|e| {
                ApiError::Invalid(vec![Violation::new("/timestamp", e.code(), format!("timestamp {e}"))])
            })?;
            incoming.at = Some(ts);
        }
        Ok(incoming)
    }
}

fn to_incoming(kind: LiveDirectorEventType, mut data: Value) -> Result<Incoming, ApiError> {
    use LiveDirectorEventType as T;
    let pointer = String::from("/data");
    if let T::ShootStarted = kind {
        let r: StartShootRequest = from_value(data, "/data")?;
        return Ok(Incoming { pointer, ..r.into_incoming() });
    }
    let Some(obj) = data.as_object_mut() else {
        return Err(ApiError::Invalid(vec![Violation::new(
            "/data",
            ViolationCode::Type,
            "data must be a JSON object",
        )]));
    };
    let session_key: SessionKey = match obj.remove("sessionKey") {
        Some(v) => from_value(v, "/data/sessionKey")?,
        None => {
            return Err(ApiError::Invalid(vec![Violation::new(
                "/data/sessionKey",
                ViolationCode::Missing,
                "sessionKey is required",
            )]));
        }
    };
    let director_type = match kind {
        T::Cut => "cut",
        T::HoldStarted => "hold_start",
        T::HoldEnded => "hold_end",
        T::Cue => "cue",
        T::Marker => "marker",
        T::Note => "note",
        T::ShootStarted | T::ShootEnded => {
            let r: CompleteSessionRequest = from_value(data, "/data")?;
            return Ok(Incoming { pointer, ..r.into_incoming(session_key) });
        }
    };
    obj.insert("type".into(), Value::String(director_type.into()));
    Ok(DirectorEventRequest::from_json(data, "/data")?.into_incoming(session_key, pointer))
}
