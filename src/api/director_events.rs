//! Creative events of Live Director: cuts, holds, cues, markers, notes — one
//! per request or a batch of up to 500.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};

use super::AppState;
use super::error::ApiError;
use super::extract::{JsonBytes, PathKey, from_value, parse};
use super::write::{Incoming, Submission, WriteContext, accept, check};
use super::write_routes::WriteRoute;
use crate::domain::{
    CameraKey, CueKind, Event, EventId, HoldId, Millis, SessionKey, Transition, Violation, ViolationCode,
};
use crate::limits::{BATCH_BODY_MAX, REQUEST_EVENTS_MAX};

/// A cut of the hero feed to a camera of the session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CutRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub camera_key: CameraKey,
    /// The camera cut from, if the sender knows it.
    pub from_camera_key: Option<CameraKey>,
    pub transition: Option<Transition>,
    /// Duration of a dissolve or fade, 0..=60000 ms.
    #[schema(maximum = 60000)]
    pub transition_ms: Option<u32>,
}

/// The start of a hold on a camera; paired with its end by `holdId`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldStartRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub hold_id: HoldId,
    pub camera_key: CameraKey,
}

/// The end of an open hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldEndRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub hold_id: HoldId,
}

/// A cue: pose, look, lighting, wardrobe.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CueRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub cue_kind: CueKind,
    /// At most 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub label: String,
}

/// A marker on the timeline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkerRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    /// At most 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub label: String,
}

/// A free note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoteRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    /// At most 4000 characters, not blank.
    #[schema(min_length = 1, max_length = 4000)]
    pub text: String,
}

/// One director event, by its `type`. (Parsed by
/// [`DirectorEventRequest::from_json`], which points at each bad field; its
/// schema is written by hand below: the derived one, `allOf` a closed variant
/// and `{type}`, admits no body.)
#[derive(Debug)]
pub enum DirectorEventRequest {
    Cut(CutRequest),
    HoldStart(HoldStartRequest),
    HoldEnd(HoldEndRequest),
    Cue(CueRequest),
    Marker(MarkerRequest),
    Note(NoteRequest),
}

/// Up to 500 director events, applied in order. (This type and
/// [`DirectorEventsBody`] document the body; it is parsed by
/// [`DirectorEventRequest::from_json`], which points at each bad field.)
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DirectorEventBatch {
    #[schema(min_items = 1, max_items = 500)]
    pub events: Vec<DirectorEventRequest>,
}

/// One event, or a batch: on the wire, either a `DirectorEventRequest`
/// object or `{"events": [...]}` (untagged; its schema is written by hand
/// below).
#[allow(dead_code)]
pub enum DirectorEventsBody {
    One(DirectorEventRequest),
    Batch(DirectorEventBatch),
}

/// The variant's own closed object schema with the `type` tag added to its
/// properties, as serde's internally tagged representation reads it.
fn tagged<T: utoipa::PartialSchema>(tag: &str) -> RefOr<Schema> {
    let mut schema = T::schema();
    if let RefOr::T(Schema::Object(obj)) = &mut schema {
        let tag_schema = ObjectBuilder::new().schema_type(Type::String).enum_values(Some([tag]));
        obj.properties.insert("type".to_string(), tag_schema.into());
        obj.required.insert(0, "type".to_string());
        // Swagger UI and generated clients name the variant by its title.
        obj.title = Some(tag.to_string());
    }
    schema
}

impl utoipa::PartialSchema for DirectorEventRequest {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(tagged::<CutRequest>("cut"))
            .item(tagged::<HoldStartRequest>("hold_start"))
            .item(tagged::<HoldEndRequest>("hold_end"))
            .item(tagged::<CueRequest>("cue"))
            .item(tagged::<MarkerRequest>("marker"))
            .item(tagged::<NoteRequest>("note"))
            .description(Some("One director event, by its `type`."))
            .examples([json!({"type": "cut", "cameraKey": "B", "fromCameraKey": "A", "transition": "dissolve", "transitionMs": 400, "at": 1764531000000_i64})])
            .into()
    }
}

impl ToSchema for DirectorEventRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        CutRequest::schemas(schemas);
        HoldStartRequest::schemas(schemas);
        HoldEndRequest::schemas(schemas);
        CueRequest::schemas(schemas);
        MarkerRequest::schemas(schemas);
        NoteRequest::schemas(schemas);
    }
}

impl utoipa::PartialSchema for DirectorEventsBody {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name(DirectorEventRequest::name()))
            .item(Ref::from_schema_name(DirectorEventBatch::name()))
            .description(Some("One event, or a batch."))
            .into()
    }
}

impl ToSchema for DirectorEventsBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((DirectorEventRequest::name().into(), <DirectorEventRequest as utoipa::PartialSchema>::schema()));
        DirectorEventRequest::schemas(schemas);
        schemas.push((DirectorEventBatch::name().into(), <DirectorEventBatch as utoipa::PartialSchema>::schema()));
        DirectorEventBatch::schemas(schemas);
    }
}

/// The wire names of the director event types.
pub const DIRECTOR_TYPES: &[&str] = &["cut", "hold_start", "hold_end", "cue", "marker", "note"];

impl DirectorEventRequest {
    /// Parses one event object, dispatching on its `type`, with every error
    /// pointing into the body at `pointer`.
    pub fn from_json(mut value: Value, pointer: &str) -> Result<Self, ApiError> {
        let invalid =
            |p: String, code: ViolationCode, detail: String| ApiError::Invalid(vec![Violation::new(p, code, detail)]);
        let Some(obj) = value.as_object_mut() else {
            return Err(invalid(pointer.to_string(), ViolationCode::Type, "an event must be a JSON object".into()));
        };
        let kind = match obj.remove("type") {
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(invalid(format!("{pointer}/type"), ViolationCode::Type, "type must be a string".into()));
            }
            None => {
                return Err(invalid(format!("{pointer}/type"), ViolationCode::Missing, "type is required".into()));
            }
        };
        Ok(match kind.as_str() {
            "cut" => Self::Cut(from_value(value, pointer)?),
            "hold_start" => Self::HoldStart(from_value(value, pointer)?),
            "hold_end" => Self::HoldEnd(from_value(value, pointer)?),
            "cue" => Self::Cue(from_value(value, pointer)?),
            "marker" => Self::Marker(from_value(value, pointer)?),
            "note" => Self::Note(from_value(value, pointer)?),
            other => {
                return Err(invalid(
                    format!("{pointer}/type"),
                    ViolationCode::UnknownVariant,
                    format!("unknown type `{other}`, expected one of {}", DIRECTOR_TYPES.join(", ")),
                ));
            }
        })
    }

    /// The event for a session.
    pub fn into_incoming(self, session_key: SessionKey, pointer: String) -> Incoming {
        let (event_id, at, event) = match self {
            Self::Cut(r) => (
                r.event_id,
                r.at,
                Event::Cut {
                    session_key,
                    camera_key: r.camera_key,
                    from_camera_key: r.from_camera_key,
                    transition: r.transition,
                    transition_ms: r.transition_ms,
                },
            ),
            Self::HoldStart(r) => {
                (r.event_id, r.at, Event::HoldStart { session_key, hold_id: r.hold_id, camera_key: r.camera_key })
            }
            Self::HoldEnd(r) => (r.event_id, r.at, Event::HoldEnd { session_key, hold_id: r.hold_id }),
            Self::Cue(r) => (r.event_id, r.at, Event::Cue { session_key, cue_kind: r.cue_kind, label: r.label }),
            Self::Marker(r) => (r.event_id, r.at, Event::Marker { session_key, label: r.label }),
            Self::Note(r) => (r.event_id, r.at, Event::Note { session_key, text: r.text }),
        };
        Incoming { event_id, at, event, pointer }
    }
}

/// Cuts, holds, cues, markers and notes: one event or a batch
///
/// Called by Live Director. One event object, or `{"events": [...]}` with up to
/// 500, journaled all or none, in order. The ledger orders director events
/// by their timeline key (when the service received them, then the
/// instance and its journal position), whatever order they reach it in;
/// the hero feed follows the latest cut in that order. An event whose
/// camera has not joined yet is kept `waiting` and applied when it joins.
/// A batch answers a `BatchReceipt` with one receipt per event.
///
/// Example: `{"type": "cut", "cameraKey": "B", "fromCameraKey": "A"}`, or `{"events": [{"type": "hold_start", "holdId": "h1", "cameraKey": "B"}, …]}`.
#[utoipa::path(
    post, path = "/v1/sessions/{sessionKey}/director-events", tag = "director events",
    request_body = DirectorEventsBody,
    params(("sessionKey" = SessionKey, Path, description = "The shoot"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::BatchWriteResponses, super::openapi::WriteProblems)
)]
pub async fn post(
    State(state): State<AppState>,
    PathKey(session_key): PathKey<SessionKey>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<BATCH_BODY_MAX>,
) -> Result<Response, ApiError> {
    let scope = WriteRoute::DirectorEvents.scope(Some(session_key.as_str()));
    accept(&state, &ctx, scope, parse_body(&body, &session_key)?).await
}

/// One event or a batch (`{"events": [...]}`), as journal-ready events.
pub(super) fn parse_body(body: &[u8], session_key: &SessionKey) -> Result<Submission, ApiError> {
    let value: Value = parse(body)?;
    if value.as_object().is_some_and(|o| o.contains_key("events")) {
        Ok(Submission::Batch(parse_batch(value, session_key)?))
    } else {
        let one = DirectorEventRequest::from_json(value, "")?.into_incoming(session_key.clone(), String::new());
        Ok(Submission::One(one))
    }
}

fn parse_batch(value: Value, session_key: &SessionKey) -> Result<Vec<Incoming>, ApiError> {
    let Value::Object(mut obj) = value else {
        return Err(ApiError::Internal("batch is an object".into()));
    };
    if let Some(extra) = obj.keys().find(|k| *k != "events") {
        return Err(ApiError::Invalid(vec![Violation::new(
            format!("/{extra}"),
            ViolationCode::UnknownField,
            format!("unknown field `{extra}`, expected `events`"),
        )]));
    }
    let Some(Value::Array(events)) = obj.remove("events") else {
        return Err(ApiError::Invalid(vec![Violation::new("/events", ViolationCode::Type, "events must be an array")]));
    };
    if events.is_empty() || events.len() > REQUEST_EVENTS_MAX {
        return Err(ApiError::Invalid(vec![Violation::new(
            "/events",
            ViolationCode::Length,
            format!("a batch holds 1 to {REQUEST_EVENTS_MAX} events, this one {}", events.len()),
        )]));
    }
    let mut out = Vec::with_capacity(events.len());
    // Per event: its parse errors, or (once any event failed to parse) its
    // rule violations, so that one answer names every bad field.
    let mut per_event: Vec<Vec<Violation>> = Vec::with_capacity(events.len());
    for (i, ev) in events.into_iter().enumerate() {
        let pointer = format!("/events/{i}");
        match DirectorEventRequest::from_json(ev, &pointer) {
            Ok(r) => {
                out.push(r.into_incoming(session_key.clone(), pointer));
                per_event.push(Vec::new());
            }
            Err(ApiError::Invalid(v)) => per_event.push(v),
            Err(other) => return Err(other),
        }
    }
    if per_event.iter().all(Vec::is_empty) {
        return Ok(out);
    }
    let now = Millis::now();
    let mut parsed = out.iter();
    for v in per_event.iter_mut().filter(|v| v.is_empty()) {
        if let Some(inc) = parsed.next() {
            *v = check(inc, now);
        }
    }
    Err(ApiError::Invalid(per_event.into_iter().flatten().collect()))
}
