//! Stills: the marker written when a photo is taken, and the uploader's
//! callback when its file has landed in storage.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{JsonBytes, PathKey, parse};
use super::write::{Incoming, Submission, WriteContext, accept};
use super::write_routes::WriteRoute;
use crate::domain::{CameraKey, Event, EventId, Millis, SessionKey, StillId};
use crate::limits::EVENT_BODY_MAX;

/// A still was taken: creates the still record and a `still` director event,
/// linked both ways.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"stillId": "still-0001", "cameraKey": "A", "capturedAt": "2026-11-30T19:41:07.250Z", "width": 8064, "height": 6048, "byteSize": 5242880, "contentType": "image/heic"}))]
pub struct StillMarkerRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub still_id: StillId,
    pub camera_key: CameraKey,
    /// The capture time by the camera's clock.
    #[schema(value_type = crate::domain::SenderClock)]
    pub captured_at: Millis,
    #[schema(minimum = 1, maximum = 100000)]
    pub width: Option<u32>,
    #[schema(minimum = 1, maximum = 100000)]
    pub height: Option<u32>,
    #[schema(minimum = 1, maximum = 1099511627776_u64)]
    pub byte_size: Option<u64>,
    /// A media type, e.g. `image/heic` (at most 100 characters).
    #[schema(max_length = 100, pattern = "^[!-.0-~]+/[!-~]+$")]
    pub content_type: Option<String>,
    /// 64 hexadecimal digits.
    #[schema(pattern = "^[0-9A-Fa-f]{64}$")]
    pub sha256: Option<String>,
    /// Where the file is or will be stored (1 to 2048 characters).
    #[schema(min_length = 1, max_length = 2048)]
    pub storage_ref: Option<String>,
}

impl StillMarkerRequest {
    /// The event this request asks to journal.
    pub fn into_incoming(self, session_key: SessionKey) -> Incoming {
        let event = Event::StillMarker {
            session_key,
            still_id: self.still_id,
            camera_key: self.camera_key,
            captured_at: self.captured_at,
            width: self.width,
            height: self.height,
            byte_size: self.byte_size,
            content_type: self.content_type,
            sha256: self.sha256,
            storage_ref: self.storage_ref,
        };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// A still was taken
///
/// Called by the capturing app or the still uploader. Journals one
/// `still_marker` event: the ledger writes the still's row and a `still`
/// director event, linked both ways.
///
/// Example: `{"stillId": "still-0001", "cameraKey": "A", "capturedAt": "2026-11-30T19:41:07Z", "width": 8064, "height": 6048}`.
#[utoipa::path(
    post, path = "/v1/sessions/{sessionKey}/stills", tag = "stills",
    request_body = StillMarkerRequest,
    params(("sessionKey" = SessionKey, Path, description = "The shoot"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn marker(
    State(state): State<AppState>,
    PathKey(session_key): PathKey<SessionKey>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let scope = WriteRoute::StillMarker.scope(Some(session_key.as_str()));
    let incoming = parse::<StillMarkerRequest>(&body)?.into_incoming(session_key);
    accept(&state, &ctx, scope, Submission::One(incoming)).await
}

/// The uploader's callback: the still's file is stored. Completes the
/// storage fields of the still's record; never creates a second one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"sessionKey": "shoot-2026-11-30-studio-b", "stillId": "still-0001", "storageRef": "s3://shoots/2026-11-30/still-0001.heic", "byteSize": 5242880, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}))]
pub struct StillUploadedRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub session_key: SessionKey,
    pub still_id: StillId,
    /// Where the file is stored (1 to 2048 characters).
    #[schema(min_length = 1, max_length = 2048)]
    pub storage_ref: String,
    #[schema(minimum = 1, maximum = 1099511627776_u64)]
    pub byte_size: Option<u64>,
    /// A media type, e.g. `image/heic` (at most 100 characters).
    #[schema(max_length = 100, pattern = "^[!-.0-~]+/[!-~]+$")]
    pub content_type: Option<String>,
    /// 64 hexadecimal digits.
    #[schema(pattern = "^[0-9A-Fa-f]{64}$")]
    pub sha256: Option<String>,
    /// An http(s) URL of the stored file (at most 2048 characters).
    #[schema(max_length = 2048, pattern = "^https?://")]
    pub url: Option<String>,
}

impl StillUploadedRequest {
    /// The event this request asks to journal.
    pub fn into_incoming(self) -> Incoming {
        let event = Event::StillUploaded {
            session_key: self.session_key,
            still_id: self.still_id,
            storage_ref: self.storage_ref,
            byte_size: self.byte_size,
            content_type: self.content_type,
            sha256: self.sha256,
            url: self.url,
        };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// A still's upload landed
///
/// Called by the still uploader (signed webhook). Journals one
/// `still_uploaded` event: the ledger completes the storage fields of the
/// still's row (never a second row).
///
/// Example: `{"sessionKey": "studio-b-1130", "stillId": "still-0001", "storageRef": "s3://shoots/still-0001.heic", "byteSize": 5242880}`.
#[utoipa::path(
    post, path = "/v1/callbacks/still-upload", tag = "stills",
    request_body = StillUploadedRequest,
    params(super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn uploaded(
    State(state): State<AppState>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let incoming = parse::<StillUploadedRequest>(&body)?.into_incoming();
    accept(&state, &ctx, WriteRoute::StillUploaded.scope(None), Submission::One(incoming)).await
}
