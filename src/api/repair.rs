//! Registry repair, for operators (admin token): retire, reinstate and
//! rename a device, resolve a hardware-id clash, hand a live camera to
//! another device. Each is a journaled, idempotent event with its verdict,
//! like any other write (`migrations-notes/0005-registry-repair-and-reads.md`).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{JsonBytes, MaybeJsonBytes, PathKey, PathKeys, parse};
use super::write::{Incoming, Submission, WriteContext, accept};
use super::write_routes::WriteRoute;
use crate::domain::{CameraKey, DeviceId, Event, EventId, Millis, SessionKey};
use crate::limits::EVENT_BODY_MAX;

/// Retires a device: it can no longer join a session.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"reason": "screen cracked, back to the vendor"}))]
pub struct RetireRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    /// Why, for the registry's readers. At most 500 characters, not blank.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
}

/// Reinstates a retired device. The body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReinstateRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
}

/// Gives a device the operator's name for it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"label": "B cam: Sam's iPad"}))]
pub struct RenameRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    /// The operator's name; the device's own `name` stays what it
    /// registers. At most 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub label: String,
}

/// Says which device owns a hardware id that several devices claimed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"hardwareId": "F2LXK0ABCD", "ownerDeviceId": "ipad-7f3a", "retireOthers": true}))]
pub struct ResolveClashRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    /// The hardware id of an open clash (`GET /v1/clashes`).
    #[schema(min_length = 1, max_length = 200)]
    pub hardware_id: String,
    /// The holder or one of the claimants of that clash.
    pub owner_device_id: DeviceId,
    /// Retire every other registered device of the clash (default true).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub retire_others: bool,
}

fn yes() -> bool {
    true
}

/// Hands a camera of a live session to another device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"deviceId": "iphone-spare-2", "reason": "B cam's phone overheated"}))]
pub struct ReplaceCameraRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    /// The registered device that takes the camera over.
    pub device_id: DeviceId,
    /// At most 500 characters, not blank.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: Option<String>,
}

impl RetireRequest {
    pub fn into_incoming(self, device_id: DeviceId) -> Incoming {
        let event = Event::RetireDevice { device_id, reason: self.reason };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

impl ReinstateRequest {
    pub fn into_incoming(self, device_id: DeviceId) -> Incoming {
        Incoming {
            event_id: self.event_id,
            at: self.at,
            event: Event::ReinstateDevice { device_id },
            pointer: String::new(),
        }
    }
}

impl RenameRequest {
    pub fn into_incoming(self, device_id: DeviceId) -> Incoming {
        let event = Event::RenameDevice { device_id, label: self.label };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

impl ResolveClashRequest {
    pub fn into_incoming(self) -> Incoming {
        let event = Event::ResolveClash {
            hardware_id: self.hardware_id,
            owner_device_id: self.owner_device_id,
            retire_others: self.retire_others,
        };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

impl ReplaceCameraRequest {
    pub fn into_incoming(self, session_key: SessionKey, camera_key: CameraKey) -> Incoming {
        let event =
            Event::ReplaceCameraDevice { session_key, camera_key, device_id: self.device_id, reason: self.reason };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// Retire a device
///
/// For operators (admin token). Journals one `retire_device` event: the
/// ledger marks the device retired (`retirement`), so that a later join is
/// `device_retired` (409); a join earlier in the timeline stays applied. A
/// device the registry does not know is `device_not_found` (422). Retire and
/// reinstate commute: the latest in timeline order wins. Idempotent on
/// `eventId` / `Idempotency-Key`. The body is optional.
///
/// Example: `POST /v1/devices/ipad-7f3a/retire` with `{"reason": "screen cracked"}`.
#[utoipa::path(
    post, path = "/v1/devices/{deviceId}/retire", tag = "registry",
    request_body(content = Option<RetireRequest>, description = "Optional"),
    params(("deviceId" = DeviceId, Path, description = "The device"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn retire(
    State(state): State<AppState>,
    PathKey(device_id): PathKey<DeviceId>,
    ctx: WriteContext,
    MaybeJsonBytes(body): MaybeJsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let r: RetireRequest = body.map_or_else(|| Ok(RetireRequest::default()), |b| parse(&b))?;
    let scope = WriteRoute::RetireDevice.scope(Some(device_id.as_str()));
    accept(&state, &ctx, scope, Submission::One(r.into_incoming(device_id))).await
}

/// Reinstate a retired device
///
/// For operators (admin token). Journals one `reinstate_device` event: the
/// device may join sessions again (`retirement` becomes `null`). A device
/// the registry does not know is `device_not_found` (422). Idempotent on
/// `eventId` / `Idempotency-Key`. The body is optional.
///
/// Example: `POST /v1/devices/ipad-old/reinstate` with no body.
#[utoipa::path(
    post, path = "/v1/devices/{deviceId}/reinstate", tag = "registry",
    request_body(content = Option<ReinstateRequest>, description = "Optional"),
    params(("deviceId" = DeviceId, Path, description = "The device"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn reinstate(
    State(state): State<AppState>,
    PathKey(device_id): PathKey<DeviceId>,
    ctx: WriteContext,
    MaybeJsonBytes(body): MaybeJsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let r: ReinstateRequest = body.map_or_else(|| Ok(ReinstateRequest::default()), |b| parse(&b))?;
    let scope = WriteRoute::ReinstateDevice.scope(Some(device_id.as_str()));
    accept(&state, &ctx, scope, Submission::One(r.into_incoming(device_id))).await
}

/// Rename a device (the operator's label)
///
/// For operators (admin token). Journals one `rename_device` event: the
/// registry shows `label` next to the device's own `name`, which stays
/// what the device registers (a re-registration never changes the label).
/// The latest rename in timeline order wins. A device the registry does not
/// know is `device_not_found` (422).
///
/// Example: `{"label": "B cam: Sam's iPad"}`.
#[utoipa::path(
    post, path = "/v1/devices/{deviceId}/rename", tag = "registry",
    request_body = RenameRequest,
    params(("deviceId" = DeviceId, Path, description = "The device"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn rename(
    State(state): State<AppState>,
    PathKey(device_id): PathKey<DeviceId>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let scope = WriteRoute::RenameDevice.scope(Some(device_id.as_str()));
    let incoming = parse::<RenameRequest>(&body)?.into_incoming(device_id);
    accept(&state, &ctx, scope, Submission::One(incoming)).await
}

/// Resolve a hardware-id clash
///
/// For operators (admin token). A registration whose `hardwareId` another
/// device holds is refused (`hardware_id_conflict`) and reported as a clash
/// (`GET /v1/clashes`). This journals one `resolve_clash` event saying which
/// device owns the hardware id: every open report of it is closed; if the
/// owner is not the holder, the holder loses the hardware id and the owner
/// gets it (an owner not yet registered succeeds when it registers again);
/// with `retireOthers` (default), every other registered device of the
/// clash is retired. No open clash of that hardware id is
/// `clash_not_found` (409); an owner that is not part of it is
/// `device_not_in_clash` (422).
///
/// Example: `{"hardwareId": "F2LXK0ABCD", "ownerDeviceId": "ipad-7f3a"}`.
#[utoipa::path(
    post, path = "/v1/clashes/resolve", tag = "registry",
    request_body = ResolveClashRequest,
    params(super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn resolve_clash(
    State(state): State<AppState>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let incoming = parse::<ResolveClashRequest>(&body)?.into_incoming();
    accept(&state, &ctx, WriteRoute::ResolveClash.scope(None), Submission::One(incoming)).await
}

/// Hand a live camera to another device
///
/// For operators (admin token), when a camera's phone dies mid-shoot.
/// Journals one `replace_camera_device` event: the device `deviceId` takes
/// over camera `cameraKey` of the live session, keeping its key, role,
/// placement history and clock offset; the camera's `replaced` list keeps
/// the device it replaced, and the old device is free to join elsewhere.
/// The new device must be registered (the event waits for it), not retired
/// (`device_retired`, 409), not already a camera of this session
/// (`device_already_in_session`, 409), and not a camera of another live
/// session (it waits). A completed session is `session_completed` (409).
///
/// Example: `POST /v1/sessions/studio-b-1130/cameras/B/replace` with
/// `{"deviceId": "iphone-spare-2", "reason": "overheated"}`.
#[utoipa::path(
    post, path = "/v1/sessions/{sessionKey}/cameras/{cameraKey}/replace", tag = "registry",
    request_body = ReplaceCameraRequest,
    params(
        ("sessionKey" = SessionKey, Path, description = "The shoot"),
        ("cameraKey" = CameraKey, Path, description = "The camera"),
        super::openapi::IdempotencyHeader, super::openapi::PreferHeader
    ),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn replace_camera(
    State(state): State<AppState>,
    PathKeys(session_key, camera_key): PathKeys<SessionKey, CameraKey>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let scope = WriteRoute::ReplaceCameraDevice.scope_keys(&[session_key.as_str(), camera_key.as_str()]);
    let incoming = parse::<ReplaceCameraRequest>(&body)?.into_incoming(session_key, camera_key);
    accept(&state, &ctx, scope, Submission::One(incoming)).await
}
