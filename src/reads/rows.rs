//! The ledger's rows as the service answers them: typed, with whole numbers
//! as integers (Convex keeps every number as a float, so `1` arrives as
//! `1.0`), and without the ledger's bookkeeping (`_id`, `timelines`). The
//! same types read a Convex document and an embedded-ledger document: both
//! have the contract's field names (`convex/schema.ts`).

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::domain::{CueKind, Placement, Platform, Role, Transition};

/// A whole number from a JSON number that may be written as a float
/// (`1.0`); a fraction or a value beyond ±2^53 is refused.
fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let x = f64::deserialize(d)?;
    whole(x).ok_or_else(|| serde::de::Error::custom(format!("{x} is not a whole number")))
}

fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(x) => whole(x).map(Some).ok_or_else(|| serde::de::Error::custom(format!("{x} is not a whole number"))),
    }
}

const SAFE_INT: f64 = 9_007_199_254_740_992.0;

fn whole(x: f64) -> Option<i64> {
    #[allow(clippy::cast_possible_truncation)]
    (x.fract() == 0.0 && x.abs() <= SAFE_INT).then_some(x as i64)
}

/// Running counts of a session, and its summary once completed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    #[serde(deserialize_with = "int")]
    pub cameras: i64,
    #[serde(deserialize_with = "int")]
    pub cuts: i64,
    #[serde(deserialize_with = "int")]
    pub holds: i64,
    #[serde(deserialize_with = "int")]
    pub stills: i64,
    #[serde(deserialize_with = "int")]
    pub cues: i64,
    /// Director events applied.
    #[serde(deserialize_with = "int")]
    pub events: i64,
    /// Holds the completion closed.
    #[serde(deserialize_with = "int")]
    pub holds_closed_on_complete: i64,
}

/// What a completed session stores: its length (sender clock) and counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    #[serde(deserialize_with = "int")]
    pub duration_ms: i64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// `live` until the shoot is completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Live,
    Completed,
}

/// A shoot (`productionSessions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    #[schema(example = "studio-b-1130")]
    pub session_key: String,
    /// Always `photoshoot_performance`.
    #[schema(example = "photoshoot_performance")]
    pub kind: String,
    pub status: SessionStatus,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Sender clock of the first Start Shoot (epoch ms).
    #[serde(deserialize_with = "int")]
    pub started_at: i64,
    /// Service clock of the first Start Shoot.
    #[serde(deserialize_with = "int")]
    pub started_received_at: i64,
    pub start_event_id: String,
    /// The hero feed: the camera of the latest cut in timeline order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hero_camera_key: Option<String>,
    pub counts: Counts,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub completed_received_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// A device the camera had before a replacement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replaced {
    /// The device replaced.
    pub device_id: String,
    /// The device that took over.
    pub by_device_id: String,
    #[serde(deserialize_with = "int")]
    pub at: i64,
    #[serde(deserialize_with = "int")]
    pub received_at: i64,
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A camera of a session (`productionCameras`), with its latest placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CameraRow {
    pub session_key: String,
    #[schema(example = "B")]
    pub camera_key: String,
    /// The device holding the camera now.
    pub device_id: String,
    pub role: Role,
    /// True while the session is live.
    pub live: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// How many placement versions the camera has (the latest's number).
    #[serde(deserialize_with = "int")]
    pub placement_version: i64,
    /// Device clock minus service clock, as last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<f64>,
    #[serde(deserialize_with = "int")]
    pub joined_at: i64,
    #[serde(deserialize_with = "int")]
    pub joined_received_at: i64,
    pub join_event_id: String,
    pub last_event_id: String,
    /// The devices this camera had before, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<Replaced>,
}

/// One placement version of a camera (`productionCameraPlacements`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementRow {
    pub session_key: String,
    pub camera_key: String,
    /// The device that reported it.
    pub device_id: String,
    /// Its rank in the camera's timeline, from 1.
    #[serde(deserialize_with = "int")]
    pub version: i64,
    pub placement: Placement,
    /// Sender clock.
    #[serde(deserialize_with = "int")]
    pub at: i64,
    /// Service clock.
    #[serde(deserialize_with = "int")]
    pub received_at: i64,
    pub event_id: String,
    /// The clock offset the event reported with it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_ms: Option<f64>,
    pub timeline: String,
}

/// The kind of a director event row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DirectorEventType {
    Cut,
    HoldStart,
    HoldEnd,
    Cue,
    Marker,
    Note,
    Still,
}

/// One row of a session's timeline (`productionDirectorEvents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectorEventRow {
    pub event_id: String,
    pub session_key: String,
    /// Its place in the timeline: `pad15(receivedAt).instance.pad12(seq)`.
    pub timeline: String,
    #[serde(rename = "type")]
    pub kind: DirectorEventType,
    #[serde(deserialize_with = "int")]
    pub at: i64,
    #[serde(deserialize_with = "int")]
    pub received_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_camera_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub transition_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<String>,
    /// `hold_start`: whether the hold is still open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_open: Option<bool>,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub hold_closed_at: Option<i64>,
    /// `hold_end` or `complete_session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_closed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_close_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_start_event_id: Option<String>,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub hold_duration_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cue_kind: Option<CueKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still_id: Option<String>,
}

/// `pending` until the upload callback completes the storage fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    Pending,
    Uploaded,
}

/// A still photo of a session (`productionStills`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StillRow {
    pub still_id: String,
    pub session_key: String,
    pub camera_key: String,
    pub device_id: String,
    /// Epoch ms.
    #[serde(deserialize_with = "int")]
    pub captured_at: i64,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub byte_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The `still` director event's id.
    pub marker_event_id: String,
    pub upload_status: UploadStatus,
    #[serde(default, deserialize_with = "opt_int", skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_event_id: Option<String>,
    pub timeline: String,
}

/// An operator's retirement of a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retirement {
    #[serde(deserialize_with = "int")]
    pub at: i64,
    #[serde(deserialize_with = "int")]
    pub received_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub event_id: String,
}

/// A device of the registry (`productionDevices`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRow {
    pub device_id: String,
    /// The name the device registers.
    pub name: String,
    /// The operator's name for it (`rename`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub platform: Platform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_id: Option<String>,
    /// Service clock when first seen.
    #[serde(deserialize_with = "int")]
    pub first_seen_at: i64,
    /// Service clock when last seen (registration, join, placement).
    #[serde(deserialize_with = "int")]
    pub last_seen_at: i64,
    /// Sender clock of the latest registration.
    #[serde(deserialize_with = "int")]
    pub last_registered_at: i64,
    pub register_event_id: String,
    /// Set while retired; `null` or absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retirement: Option<Retirement>,
}

/// A registration refused because another device holds its hardware id
/// (`productionDeviceClashes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClashRow {
    pub hardware_id: String,
    /// The device that held the hardware id.
    pub holder_device_id: String,
    /// The device whose registration was refused.
    pub claimant_device_id: String,
    /// The refused registration.
    pub event_id: String,
    #[serde(deserialize_with = "int")]
    pub at: i64,
    #[serde(deserialize_with = "int")]
    pub received_at: i64,
    pub timeline: String,
    /// The refused registration's name and platform.
    pub name: String,
    pub platform: Platform,
    /// Until an operator resolves it.
    pub open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_device_id: Option<String>,
}

/// A ledger receipt: the verdict of one event that is not a director event
/// (a registration, a join, a placement, a repair, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptRow {
    pub event_id: String,
    /// The event's wire type.
    #[serde(rename = "type")]
    pub kind: crate::domain::EventKind,
    /// `applied`, `rejected` or `waiting`.
    #[schema(example = "rejected")]
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub timeline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(deserialize_with = "int")]
    pub at: i64,
    #[serde(deserialize_with = "int")]
    pub received_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<crate::domain::WaitingFor>,
}

/// Typed rows from a ledger's documents; a document that does not fit is a
/// protocol error naming the list.
pub fn rows<T: serde::de::DeserializeOwned>(list: &str, docs: Vec<serde_json::Value>) -> Result<Vec<T>, String> {
    docs.into_iter()
        .enumerate()
        .map(|(i, d)| serde_json::from_value(d).map_err(|e| format!("{list}[{i}]: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_written_as_floats_read_as_integers() {
        let doc = serde_json::json!({
            "cameras": 2.0, "cuts": 10.0, "holds": 1.0, "stills": 0.0, "cues": 3.0,
            "events": 14.0, "holdsClosedOnComplete": 0.0
        });
        let c: Counts = serde_json::from_value(doc).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap()["cuts"], serde_json::json!(10));
        let bad = serde_json::json!({
            "cameras": 2.5, "cuts": 1, "holds": 1, "stills": 0, "cues": 3, "events": 1, "holdsClosedOnComplete": 0
        });
        assert!(serde_json::from_value::<Counts>(bad).unwrap_err().to_string().contains("not a whole number"));
    }
}
