//! Reading shoots (admin token): the list of sessions, a session's
//! director events, stills and placements page by page in timeline order,
//! and its cameras with each one's placement history (placement
//! debugging). A whole session at once is `sessions.rs`'s
//! `GET /v1/sessions/{sessionKey}`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Reader;
use super::error::{ApiError, Problem};
use super::extract::PathKey;
use super::read::{LedgerChoice, cursor_in, cursor_out, page_error, page_size, pick, query};
use crate::domain::{Millis, SessionKey, Violation};
use crate::limits::SESSION_LIST_MAX;
use crate::reads::rows::{CameraRow, DirectorEventRow, PlacementRow, SessionRow, SessionStatus, StillRow};
use crate::reads::{ReadLedger, Source, names};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    /// Which ledger answers (default: the service's `SHOOTLOG_READ_FROM`).
    #[param(inline)]
    pub source: Option<LedgerChoice>,
    /// Only live or only completed sessions.
    #[param(inline)]
    pub status: Option<SessionStatus>,
    /// Only sessions started at or after this time (epoch ms, sender clock
    /// of Start Shoot).
    pub from: Option<i64>,
    /// Only sessions started at or before this time (epoch ms).
    pub to: Option<i64>,
    /// The previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// At most this many: default 100, clamped to 1..=256.
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
}

/// A page of sessions, newest start first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub sessions: Vec<SessionRow>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The shoots: live and completed sessions, newest first
///
/// For operators (admin token). Sessions in order of their Start Shoot
/// (`startedAt`, newest first), each with its status, title, location, hero
/// feed, counts and, once completed, its summary. Filter by `status` and by
/// a start time range (`from`, `to`, epoch ms); page with `cursor`.
///
/// Example: `GET /v1/sessions?status=live` answers what is shooting now.
#[utoipa::path(
    get, path = "/v1/sessions", tag = "sessions",
    params(SessionsQuery),
    responses(
        (status = 200, description = "A page of sessions", body = SessionList),
        (status = 404, description = "`source=convex` and no deployment is configured", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter it cannot take, or a cursor of another ledger", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The ledger could not be read", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    _reader: Reader,
    q: Result<Query<SessionsQuery>, QueryRejection>,
) -> Result<Json<SessionList>, ApiError> {
    let q = query(q, &["source", "status", "from", "to", "cursor", "limit"])?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(ApiError::Invalid(vec![Violation::new(
            "/query/from",
            crate::domain::ViolationCode::OutOfRange,
            "from must not be after to",
        )]));
    }
    let picked = pick(&state, q.source)?;
    let ledger = picked.ledger;
    let mut args = serde_json::Map::new();
    if let Some(s) = q.status {
        args.insert("status".into(), json!(s));
    }
    if let Some(from) = q.from {
        args.insert("startedFrom".into(), json!(from));
    }
    if let Some(to) = q.to {
        args.insert("startedTo".into(), json!(to));
    }
    let cursor = cursor_in(ledger.source(), q.cursor.as_deref())?;
    let page = ledger
        .page(names::SESSIONS, args.into(), cursor.as_deref(), page_size(q.limit))
        .await
        .map_err(|e| page_error(e, cursor.is_some()))?;
    Ok(Json(SessionList {
        source: ledger.source(),
        note: picked.note,
        sessions: ledger.typed("sessions", page.rows)?,
        next_cursor: cursor_out(ledger.source(), page.next),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Which ledger answers (default: the service's `SHOOTLOG_READ_FROM`).
    #[param(inline)]
    pub source: Option<LedgerChoice>,
    /// The previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// At most this many rows: default 100, clamped to 1..=256.
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
}

/// A page of a session's rows, in timeline order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowPage<T: ToSchema> {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub session_key: SessionKey,
    pub rows: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One page of one of a session's lists; 404 when the ledger has no such
/// session.
async fn session_page<T: serde::de::DeserializeOwned + ToSchema>(
    state: &AppState,
    key: SessionKey,
    q: ListQuery,
    name: &'static str,
    list: &str,
) -> Result<Json<RowPage<T>>, ApiError> {
    let picked = pick(state, q.source)?;
    let ledger = picked.ledger;
    let cursor = cursor_in(ledger.source(), q.cursor.as_deref())?;
    if cursor.is_none() {
        known_session(ledger, &key).await?;
    }
    let page = ledger.page(name, json!({ "sessionKey": key.as_str() }), cursor.as_deref(), page_size(q.limit)).await?;
    Ok(Json(RowPage {
        source: ledger.source(),
        note: picked.note,
        session_key: key,
        rows: ledger.typed(list, page.rows)?,
        next_cursor: cursor_out(ledger.source(), page.next),
    }))
}

/// The session's header `{ session, cameras }`, or 404.
async fn known_session(ledger: ReadLedger<'_>, key: &SessionKey) -> Result<serde_json::Value, ApiError> {
    let header = ledger.query(names::SESSION_HEADER, json!({ "sessionKey": key.as_str() })).await?;
    if header.is_null() {
        return Err(ApiError::NotFound(format!("the {} ledger has no session {key}", ledger.source().as_str())));
    }
    Ok(header)
}

macro_rules! list_route {
    ($fn:ident, $path:literal, $name:expr, $list:literal, $row:ty, $summary:literal, $doc:literal) => {
        #[doc = $summary]
        #[doc = ""]
        #[doc = $doc]
        #[utoipa::path(
            get, path = $path, tag = "sessions",
            params(("sessionKey" = SessionKey, Path, description = "The shoot"), ListQuery),
            responses(
                (status = 200, description = "A page, in timeline order", body = RowPage<$row>),
                (status = 404, description = "The ledger has no such session (or `source=convex` and none is configured)", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "A malformed session key or query, or a cursor of another ledger", body = Problem, content_type = "application/problem+json"),
                (status = 502, description = "The ledger could not be read", body = Problem, content_type = "application/problem+json"),
                super::openapi::ReadProblems
            )
        )]
        pub async fn $fn(
            State(state): State<AppState>,
            _reader: Reader,
            PathKey(key): PathKey<SessionKey>,
            q: Result<Query<ListQuery>, QueryRejection>,
        ) -> Result<Json<RowPage<$row>>, ApiError> {
            let q = query(q, &["source", "cursor", "limit"])?;
            session_page(&state, key, q, $name, $list).await
        }
    };
}

list_route!(
    session_events,
    "/v1/sessions/{sessionKey}/events",
    names::SESSION_EVENTS,
    "events",
    DirectorEventRow,
    "A session's director events, page by page",
    "For operators and editors (admin token). Cuts, holds, cues, markers, notes and still links in timeline order (the order the service accepted them: `receivedAt`, then instance and journal position), each with both clocks; holds carry their pairing. `nextCursor` reads on; nothing is ever cut silently.\n\nExample: `GET /v1/sessions/studio-b-1130/events?limit=100`, then the same with `&cursor=<nextCursor>` until no `nextCursor` comes."
);
list_route!(
    session_stills,
    "/v1/sessions/{sessionKey}/stills",
    names::SESSION_STILLS,
    "stills",
    StillRow,
    "A session's stills, page by page",
    "For operators and editors (admin token). Every still of the session in the timeline order of its marker, with its camera, capture time, file fields and upload status. `nextCursor` reads on.\n\nExample: `GET /v1/sessions/studio-b-1130/stills` shows which stills still wait for their upload (`uploadStatus: pending`)."
);
list_route!(
    session_placements,
    "/v1/sessions/{sessionKey}/placements",
    names::SESSION_PLACEMENTS,
    "placements",
    PlacementRow,
    "A session's placement history, page by page",
    "For operators (admin token). Every placement version of every camera in timeline order: the camera, the device that reported it, its version, both clocks, the event and the clock offset it reported. `nextCursor` reads on.\n\nExample: `GET /v1/sessions/studio-b-1130/placements?limit=256`."
);

/// A placement refused at the edge (out of physical range), as this
/// instance saw it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefusedPlacement {
    pub device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera_key: Option<String>,
    /// Service clock.
    pub received_at: Millis,
    /// What was out of range, each with its field's pointer
    /// (`/placement/tiltDeg`).
    pub errors: Vec<Violation>,
}

/// A camera of a session, with its whole placement history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CameraHistory {
    #[serde(flatten)]
    pub camera: CameraRow,
    /// Every version, oldest first.
    pub placements: Vec<PlacementRow>,
    /// With `?at=`: the version in effect then (the latest received at or
    /// before it), absent if none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement_at: Option<PlacementRow>,
}

/// A session's cameras and what happened to their placements.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CamerasView {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub session_key: SessionKey,
    /// The `at` asked for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Millis>,
    pub cameras: Vec<CameraHistory>,
    /// Placements of this session refused for a value out of range (422),
    /// since this instance started, the latest 1,000 of all sessions kept.
    pub refused: Vec<RefusedPlacement>,
    /// The placement history has more than 100,000 versions and was cut.
    pub truncated: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CamerasQuery {
    /// Which ledger answers (default: the service's `SHOOTLOG_READ_FROM`).
    #[param(inline)]
    pub source: Option<LedgerChoice>,
    /// A time (epoch ms, service clock): each camera's placement in effect
    /// then, as `placementAt`.
    pub at: Option<i64>,
}

/// A session's cameras, each with its placement history (placement debugging)
///
/// For operators (admin token). Every camera of the session with its
/// device (and the devices it replaced), role and latest placement, every
/// placement version it had (when, from which event, which device, the
/// clock offset reported with it), and the placements refused for a value
/// out of physical range with the field that was. With `?at=` each camera
/// also answers the version in effect at that time.
///
/// Example: `GET /v1/sessions/studio-b-1130/cameras?at=1764598500000` answers
/// where every camera stood at 14:15 UTC.
#[utoipa::path(
    get, path = "/v1/sessions/{sessionKey}/cameras", tag = "sessions",
    params(("sessionKey" = SessionKey, Path, description = "The shoot"), CamerasQuery),
    responses(
        (status = 200, description = "The cameras and their placement history", body = CamerasView),
        (status = 404, description = "The ledger has no such session (or `source=convex` and none is configured)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed session key or query", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The ledger could not be read", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn session_cameras(
    State(state): State<AppState>,
    _reader: Reader,
    PathKey(key): PathKey<SessionKey>,
    q: Result<Query<CamerasQuery>, QueryRejection>,
) -> Result<Json<CamerasView>, ApiError> {
    let q = query(q, &["source", "at"])?;
    let picked = pick(&state, q.source)?;
    let ledger = picked.ledger;
    let header = known_session(ledger, &key).await?;
    let cameras = header.get("cameras").and_then(|c| c.as_array()).cloned().unwrap_or_default();
    let cameras: Vec<CameraRow> = ledger.typed("cameras", cameras)?;
    let (docs, whole) =
        ledger.all(names::SESSION_PLACEMENTS, json!({ "sessionKey": key.as_str() }), SESSION_LIST_MAX).await?;
    let placements: Vec<PlacementRow> = ledger.typed("placements", docs)?;
    let cameras = cameras
        .into_iter()
        .map(|camera| {
            let mut mine: Vec<PlacementRow> =
                placements.iter().filter(|p| p.camera_key == camera.camera_key).cloned().collect();
            mine.sort_by_key(|p| p.version);
            let placement_at = q.at.and_then(|t| mine.iter().rev().find(|p| p.received_at <= t).cloned());
            CameraHistory { camera, placements: mine, placement_at }
        })
        .collect();
    let refused = state.refusals.of_session(key.as_str());
    Ok(Json(CamerasView {
        source: ledger.source(),
        note: picked.note,
        session_key: key,
        at: q.at.map(Millis),
        cameras,
        refused,
        truncated: !whole,
    }))
}
