//! A device joins a session as one of its cameras.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{JsonBytes, PathKey, parse};
use super::write::{Incoming, Submission, WriteContext, accept};
use super::write_routes::WriteRoute;
use crate::domain::{CameraKey, DeviceId, Event, EventId, Millis, Placement, Role, SessionKey};
use crate::limits::EVENT_BODY_MAX;

/// Joins a registered device to a session as a camera.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"deviceId": "ipad-7f3a", "cameraKey": "B", "role": "wide", "placement": {"x": -3.0, "y": 0.5, "heightM": 1.2, "panDeg": 30, "focalLengthMm": 13, "zoom": 0.5}}))]
pub struct JoinRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub device_id: DeviceId,
    /// The camera's name in this session: "A", "hero", "wide-left".
    pub camera_key: CameraKey,
    pub role: Role,
    /// The first placement version, if known.
    pub placement: Option<Placement>,
    /// The device's clock minus the service's (from `GET /v1/clock`), within
    /// ±24 hours.
    #[schema(minimum = -86400000, maximum = 86400000)]
    pub clock_offset_ms: Option<f64>,
}

impl JoinRequest {
    /// The event this request asks to journal.
    pub fn into_incoming(self, session_key: SessionKey) -> Incoming {
        let event = Event::JoinSession {
            session_key,
            camera_key: self.camera_key,
            device_id: self.device_id,
            role: self.role,
            placement: self.placement,
            clock_offset_ms: self.clock_offset_ms,
        };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// A device joins a session as a camera
///
/// Called by a phone or iPad (its device token). Journals one `join_session`
/// event: the ledger writes the device into the session's cameras under
/// `cameraKey` with its role and, optionally, its first placement version. A
/// device is in one live session's camera list at most once.
///
/// Example: `{"deviceId": "ipad-7f3a", "cameraKey": "B", "role": "wide", "placement": {"x": -3.0, "heightM": 1.2}}`.
#[utoipa::path(
    post, path = "/v1/sessions/{sessionKey}/cameras", tag = "sessions",
    request_body = JoinRequest,
    params(("sessionKey" = SessionKey, Path, description = "The shoot"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn join(
    State(state): State<AppState>,
    PathKey(session_key): PathKey<SessionKey>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let scope = WriteRoute::Join.scope(Some(session_key.as_str()));
    let request = parse::<JoinRequest>(&body)?;
    let (device_id, camera_key) = (request.device_id.clone(), request.camera_key.clone());
    let answer = accept(&state, &ctx, scope, Submission::One(request.into_incoming(session_key.clone()))).await;
    if let Err(ApiError::Invalid(errors)) = &answer {
        state.refusals.record(session_key.as_str(), device_id.as_str(), Some(camera_key.as_str()), errors);
    }
    answer
}
