//! The device registry and camera placement.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{JsonBytes, PathKey, parse};
use super::write::{Incoming, Submission, WriteContext, accept};
use super::write_routes::WriteRoute;
use crate::domain::{DeviceId, Event, EventId, Millis, Placement, Platform, SessionKey};
use crate::limits::EVENT_BODY_MAX;

/// Registers a phone or iPad, or updates its registration in place.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"deviceId": "ipad-7f3a", "name": "iPad Pro (B cam)", "platform": "ipados", "model": "iPad14,5", "appVersion": "3.2.0", "hardwareId": "F2LXK0ABCD"}))]
pub struct RegisterDeviceRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub device_id: DeviceId,
    /// At most 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub platform: Platform,
    /// At most 200 characters.
    #[schema(max_length = 200)]
    pub model: Option<String>,
    /// At most 64 characters.
    #[schema(max_length = 64)]
    pub app_version: Option<String>,
    /// The hardware's own id; a second device id on the same hardware is
    /// reported by the ledger (`hardware_id_conflict`). At most 200
    /// characters.
    #[schema(max_length = 200)]
    pub hardware_id: Option<String>,
}

impl RegisterDeviceRequest {
    /// The event this request asks to journal.
    pub fn into_incoming(self) -> Incoming {
        let event = Event::RegisterDevice {
            device_id: self.device_id,
            name: self.name,
            platform: self.platform,
            model: self.model,
            app_version: self.app_version,
            hardware_id: self.hardware_id,
        };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// Register a device, or update its registration
///
/// Called by a phone or iPad at start (its device token). Journals one
/// `register_device` event: the ledger upserts the device registry by
/// `deviceId`, keeping `firstSeenAt`; a `hardwareId` already owned by another
/// device is reported (`hardware_id_conflict`, 409), never silently
/// duplicated.
///
/// Example: `{"deviceId": "ipad-7f3a", "name": "iPad Pro (B cam)", "platform": "ipados", "hardwareId": "F2LXK0ABCD"}`.
#[utoipa::path(
    post, path = "/v1/devices", tag = "devices",
    request_body = RegisterDeviceRequest,
    params(super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn register(
    State(state): State<AppState>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let incoming = parse::<RegisterDeviceRequest>(&body)?.into_incoming();
    accept(&state, &ctx, WriteRoute::RegisterDevice.scope(None), Submission::One(incoming)).await
}

/// A new placement of the camera this device holds in a session. Every
/// change is a new placement version in the ledger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"sessionKey": "shoot-2026-11-30-studio-b", "placement": {"x": 1.5, "y": -2.0, "heightM": 1.6, "panDeg": 15, "tiltDeg": -5, "focalLengthMm": 26, "orientation": "landscape_left"}, "clockOffsetMs": -42.5}))]
pub struct PlacementRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    /// The session in which the device is a camera.
    pub session_key: SessionKey,
    pub placement: Placement,
    /// The device's clock minus the service's (from `GET /v1/clock`), within
    /// ±24 hours.
    #[schema(minimum = -86400000, maximum = 86400000)]
    pub clock_offset_ms: Option<f64>,
}

impl PlacementRequest {
    /// The event this request asks to journal.
    pub fn into_incoming(self, device_id: DeviceId) -> Incoming {
        let event = Event::UpdatePlacement {
            session_key: self.session_key,
            device_id,
            placement: self.placement,
            clock_offset_ms: self.clock_offset_ms,
        };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// Report where a camera stands: a new placement version
///
/// Called by the device that holds the camera. Journals one
/// `update_placement` event: the ledger writes a new placement version for the
/// device's camera in the session (the camera row holds the latest), with the
/// device's clock offset. Values out of physical range are refused here (422)
/// with the field's pointer.
///
/// Example: `{"sessionKey": "studio-b-1130", "placement": {"x": 1.5, "panDeg": 15, "heightM": 1.6}, "clockOffsetMs": -42.5}`.
#[utoipa::path(
    put, path = "/v1/devices/{deviceId}/placement", tag = "devices",
    request_body = PlacementRequest,
    params(("deviceId" = DeviceId, Path, description = "The device"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn put_placement(
    State(state): State<AppState>,
    PathKey(device_id): PathKey<DeviceId>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let scope = WriteRoute::Placement.scope(Some(device_id.as_str()));
    let request = parse::<PlacementRequest>(&body)?;
    let session_key = request.session_key.clone();
    let answer = accept(&state, &ctx, scope, Submission::One(request.into_incoming(device_id.clone()))).await;
    if let Err(ApiError::Invalid(errors)) = &answer {
        state.refusals.record(session_key.as_str(), device_id.as_str(), None, errors);
    }
    answer
}
