//! Shoots: Start Shoot, complete, and reading a session back.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Reader;
use super::error::{ApiError, Problem};
use super::events::EventStatus;
use super::extract::{JsonBytes, MaybeJsonBytes, PathKey, parse};
use super::write::{Incoming, Submission, WriteContext, accept};
use super::write_routes::WriteRoute;
use crate::config::ReadFrom;
use crate::domain::{Event, EventId, Millis, Partition, SessionKey, Violation, ViolationCode};
use crate::ledger::read_session;
use crate::limits::{EVENT_BODY_MAX, JOURNAL_PAGE_MAX, SESSION_LIST_MAX};
use crate::reads::rows::{CameraRow, DirectorEventRow, PlacementRow, SessionRow, StillRow, rows};

/// Start Shoot: creates the `photoshoot_performance` session, or updates its
/// title, notes and location while it is live.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"sessionKey": "shoot-2026-11-30-studio-b", "title": "Autumn lookbook", "location": "Studio B", "at": "2026-11-30T19:30:00Z"}))]
pub struct StartShootRequest {
    /// Your UUID for this write; replays with the same id are idempotent.
    pub event_id: Option<EventId>,
    /// When it happened, by your clock (epoch ms or RFC 3339). Defaults to now.
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
    pub session_key: SessionKey,
    /// At most 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// At most 4000 characters.
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    /// At most 200 characters.
    #[schema(max_length = 200)]
    pub location: Option<String>,
}

/// Completes a shoot. The body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteSessionRequest {
    pub event_id: Option<EventId>,
    #[schema(value_type = Option<crate::domain::SenderClock>)]
    pub at: Option<Millis>,
}

impl StartShootRequest {
    /// The event this request asks to journal.
    pub fn into_incoming(self) -> Incoming {
        let event = Event::StartShoot {
            session_key: self.session_key,
            title: self.title,
            notes: self.notes,
            location: self.location,
        };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// Start Shoot: create the session, or update it while live
///
/// Called by Live Director (signed webhook or bearer token) when a person presses
/// Start Shoot. Journals one `start_shoot` event; the ledger creates the
/// `photoshoot_performance` session, or updates its title, notes and location
/// while it is `live` (starting a completed session is `session_completed`,
/// 409). Idempotent on `eventId` / `Idempotency-Key`.
///
/// Example: `{"sessionKey": "studio-b-1130", "title": "Autumn lookbook", "location": "Studio B"}`.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "sessions",
    request_body = StartShootRequest,
    params(super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn start_shoot(
    State(state): State<AppState>,
    ctx: WriteContext,
    JsonBytes(body): JsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let incoming = parse::<StartShootRequest>(&body)?.into_incoming();
    accept(&state, &ctx, WriteRoute::StartShoot.scope(None), Submission::One(incoming)).await
}

impl CompleteSessionRequest {
    /// The event this request asks to journal.
    pub fn into_incoming(self, session_key: SessionKey) -> Incoming {
        let event = Event::CompleteSession { session_key };
        Incoming { event_id: self.event_id, at: self.at, event, pointer: String::new() }
    }
}

/// End of shoot: complete the session
///
/// Called by Live Director. Journals one `complete_session` event; the ledger
/// sets the session `completed`, closes open holds and stores the summary
/// (duration, cameras, cuts, holds, stills, cues, events). Any later write to
/// the session is `session_completed` (409). The body is optional.
///
/// Example: `POST /v1/sessions/studio-b-1130/complete` with no body.
#[utoipa::path(
    post, path = "/v1/sessions/{sessionKey}/complete", tag = "sessions",
    request_body(content = Option<CompleteSessionRequest>, description = "Optional"),
    params(("sessionKey" = SessionKey, Path, description = "The shoot"), super::openapi::IdempotencyHeader, super::openapi::PreferHeader),
    responses(super::openapi::WriteResponses, super::openapi::WriteProblems)
)]
pub async fn complete(
    State(state): State<AppState>,
    PathKey(session_key): PathKey<SessionKey>,
    ctx: WriteContext,
    MaybeJsonBytes(body): MaybeJsonBytes<EVENT_BODY_MAX>,
) -> Result<Response, ApiError> {
    let r: CompleteSessionRequest = match body {
        Some(b) => parse(&b)?,
        None => CompleteSessionRequest::default(),
    };
    let scope = WriteRoute::Complete.scope(Some(session_key.as_str()));
    accept(&state, &ctx, scope, Submission::One(r.into_incoming(session_key))).await
}

/// Which ledger a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadSource {
    /// Convex while it is connected, else the embedded ledger, else the journal.
    Auto,
    /// Convex only.
    Convex,
    /// The service's embedded ledger only.
    Embedded,
    /// The journal's raw entries.
    Journal,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Which ledger answers (default: the service's `SHOOTLOG_READ_FROM`, `auto`).
    #[param(inline)]
    pub source: Option<ReadSource>,
}

/// A session as a ledger holds it, or as the journal knows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session_key: SessionKey,
    /// Which ledger answered: `convex`, `embedded` (the service's own ledger,
    /// kept from the journal: the same rules, this instance's events) or
    /// `journal` (the raw entries).
    #[schema(example = "embedded")]
    pub source: String,
    /// Why this source answered, when it is not the one asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The ledger's session: its row (with the hero feed and summary),
    /// cameras, placements, director events (in timeline order) and stills;
    /// the same shape from Convex and from the embedded ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerSession>,
    /// The lists cut: of `ledger` (`placements`, `events`, `stills`) at
    /// 100,000 rows, or `journal` at 1,000 entries; absent when every list
    /// is whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["events"]))]
    pub truncated: Option<Vec<String>>,
    /// The journal's entries of this session (journal view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<Vec<EventStatus>>,
}

/// A session as a ledger holds it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerSession {
    /// The session's row: status, title, times, the hero feed
    /// (`heroCameraKey`), running counts and, once completed, the summary.
    pub session: SessionRow,
    /// Each camera with its device, role and latest placement.
    pub cameras: Vec<CameraRow>,
    /// Every placement version of every camera, in timeline order.
    pub placements: Vec<PlacementRow>,
    /// Director events in timeline order.
    pub events: Vec<DirectorEventRow>,
    pub stills: Vec<StillRow>,
}

impl LedgerSession {
    /// The typed session of a ledger's document `{ session, cameras,
    /// placements, events, stills }`.
    fn of_document(source: &str, mut doc: serde_json::Value) -> Result<Self, ApiError> {
        let mut take = |name: &str| doc.get_mut(name).map(serde_json::Value::take).unwrap_or_default();
        let bad = |e: String| ApiError::Upstream(format!("the {source} ledger answered outside the contract: {e}"));
        let list = |v: serde_json::Value| match v {
            serde_json::Value::Array(a) => a,
            _ => Vec::new(),
        };
        let session = serde_json::from_value(take("session")).map_err(|e| bad(format!("session: {e}")))?;
        Ok(Self {
            session,
            cameras: rows("cameras", list(take("cameras"))).map_err(bad)?,
            placements: rows("placements", list(take("placements"))).map_err(bad)?,
            events: rows("events", list(take("events"))).map_err(bad)?,
            stills: rows("stills", list(take("stills"))).map_err(bad)?,
        })
    }
}

impl SessionView {
    fn of_ledger(
        session_key: SessionKey,
        source: &str,
        document: serde_json::Value,
        truncated: Vec<String>,
    ) -> Result<Self, ApiError> {
        let truncated = (!truncated.is_empty()).then_some(truncated);
        let note = truncated.as_ref().map(|_| {
            format!(
                "lists longer than {SESSION_LIST_MAX} rows are cut (see truncated); /events, /stills and /placements read them page by page"
            )
        });
        let ledger = Some(LedgerSession::of_document(source, document)?);
        Ok(Self { session_key, source: source.into(), note, ledger, truncated, journal: None })
    }
}

/// Read a shoot back
///
/// For operators (admin token). Answers the session as a ledger holds it
/// (session, cameras, placements, director events in timeline order,
/// stills), each list up to 100,000 rows (`truncated` names a list cut
/// there). `source` says which ledger answered: by default Convex while it
/// is connected (read page by page), otherwise the service's embedded
/// ledger, which keeps the same rules from this instance's journal with or
/// without Convex; `?source=` asks for one (`convex`, `embedded`, `journal`).
///
/// Example: `GET /v1/sessions/studio-b-1130?source=embedded` reads the service's own ledger even while Convex is connected.
#[utoipa::path(
    get, path = "/v1/sessions/{sessionKey}", tag = "sessions",
    params(("sessionKey" = SessionKey, Path, description = "The shoot"), SessionQuery),
    responses(
        (status = 200, description = "The session's ledger", body = SessionView),
        (status = 404, description = "The ledger asked for does not know it (or, for `convex`, none is configured)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed session key or source", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The ledger could not be read", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn get_session(
    State(state): State<AppState>,
    _reader: Reader,
    PathKey(session_key): PathKey<SessionKey>,
    query: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Json<SessionView>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::Invalid(vec![Violation::new(
            "/query/source",
            ViolationCode::UnknownVariant,
            "source must be one of auto, convex, embedded, journal",
        )])
    })?;
    let asked = query.source.unwrap_or(match state.read_from {
        ReadFrom::Auto => ReadSource::Auto,
        ReadFrom::Convex => ReadSource::Convex,
        ReadFrom::Embedded => ReadSource::Embedded,
    });
    if asked == ReadSource::Convex && !state.ledger.is_configured() {
        return Err(ApiError::NotFound(format!(
            "no Convex deployment is configured (CONVEX_URL), so Convex has no session {session_key}"
        )));
    }
    let convex_up = state.ledger.is_configured() && state.ledger.is_connected();
    let mut note = None;
    if asked == ReadSource::Convex || (asked == ReadSource::Auto && convex_up) {
        match read_session(state.ledger.as_ref(), &session_key).await {
            Ok(Some(read)) => {
                let truncated = read.truncated.iter().map(|l| l.as_str().to_string()).collect();
                return Ok(Json(SessionView::of_ledger(session_key, "convex", read.document, truncated)?));
            }
            Ok(None) if asked == ReadSource::Convex => {
                return Err(ApiError::NotFound(format!("Convex has no session {session_key}")));
            }
            Err(e) if asked == ReadSource::Convex => return Err(ApiError::Upstream(e.to_string())),
            Ok(None) => note = Some("Convex has not applied this session yet; the embedded ledger answers"),
            Err(_) => note = Some("Convex could not be read; the embedded ledger answers"),
        }
    } else if asked == ReadSource::Auto && state.ledger.is_configured() {
        note = Some("Convex is not connected; the embedded ledger answers");
    }
    if matches!(asked, ReadSource::Auto | ReadSource::Embedded)
        && let Some(embedded) = &state.embedded
    {
        let key = session_key.as_str().to_string();
        let found = embedded
            .call(move |l| l.session_view(&key, u32::try_from(SESSION_LIST_MAX).unwrap_or(u32::MAX)))
            .await
            .map_err(|e| ApiError::Upstream(e.to_string()))?;
        match found {
            Some((document, truncated)) => {
                let mut view = SessionView::of_ledger(session_key, "embedded", document, truncated)?;
                view.note = view.note.or(note.map(str::to_string));
                return Ok(Json(view));
            }
            None if asked == ReadSource::Embedded => {
                return Err(ApiError::NotFound(format!("the embedded ledger has no session {session_key}")));
            }
            None => {}
        }
    }
    let entries = journal_entries(&state, &session_key, 0, JOURNAL_PAGE_MAX).await?;
    if entries.is_empty() {
        return Err(ApiError::NotFound(format!("no session {session_key}")));
    }
    let note = if asked == ReadSource::Journal {
        "the journal's entries, as asked"
    } else {
        "no ledger has applied this session yet (its start may be waiting); these are the journal's entries"
    };
    let cut = entries.len() >= JOURNAL_PAGE_MAX as usize;
    let note = if cut {
        format!("{note}; only the first {JOURNAL_PAGE_MAX} (see truncated): /journal reads on page by page")
    } else {
        note.to_string()
    };
    Ok(Json(SessionView {
        session_key,
        source: "journal".into(),
        note: Some(note),
        ledger: None,
        truncated: cut.then(|| vec!["journal".to_string()]),
        journal: Some(entries),
    }))
}

async fn journal_entries(
    state: &AppState,
    key: &SessionKey,
    after: i64,
    limit: u32,
) -> Result<Vec<EventStatus>, ApiError> {
    let entries = state.journal.partition_entries(Partition::for_session(key), after, limit).await?;
    Ok(entries.iter().map(EventStatus::from_entry).collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JournalPage {
    /// Only entries with a journal sequence number above this (below 0 reads
    /// from the start).
    pub after: Option<i64>,
    /// At most this many entries: default 100, clamped to 1..=1000.
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
}

/// One page of a session's journal.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalPageView {
    pub session_key: SessionKey,
    /// Entries in journal order.
    pub entries: Vec<EventStatus>,
    /// Pass as `after` to read on; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// Read a session's journal entries, page by page
///
/// For operators (admin token). The journal's entries of one session in
/// journal order, each with its status and verdict; `nextAfter` reads on.
///
/// Example: `GET /v1/sessions/studio-b-1130/journal?limit=100`, then `?after=<nextAfter>`.
#[utoipa::path(
    get, path = "/v1/sessions/{sessionKey}/journal", tag = "sessions",
    params(("sessionKey" = SessionKey, Path, description = "The shoot"), JournalPage),
    responses(
        (status = 200, description = "The session's journal entries in order", body = JournalPageView),
        (status = 422, description = "Malformed session key or query", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn get_journal(
    State(state): State<AppState>,
    _reader: Reader,
    PathKey(session_key): PathKey<SessionKey>,
    page: Result<Query<JournalPage>, QueryRejection>,
) -> Result<Json<JournalPageView>, ApiError> {
    let Query(page) = page.map_err(|e| {
        let name = ["after", "limit"].into_iter().find(|n| e.body_text().contains(n)).unwrap_or("");
        ApiError::Invalid(vec![Violation::new(
            format!("/query/{name}").trim_end_matches('/'),
            ViolationCode::Type,
            "after and limit must be whole numbers, limit not negative",
        )])
    })?;
    let limit = page.limit.unwrap_or(100).clamp(1, JOURNAL_PAGE_MAX);
    let entries = journal_entries(&state, &session_key, page.after.unwrap_or(0).max(0), limit).await?;
    let next_after = (entries.len() == limit as usize).then(|| entries.last().map(|e| e.journal_seq)).flatten();
    Ok(Json(JournalPageView { session_key, entries, next_after }))
}
