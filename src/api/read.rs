//! What the operator's reads share: which ledger answers, their query
//! strings' refusals, and cursors that remember the ledger they came from.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::config::ReadFrom;
use crate::domain::{Violation, ViolationCode};
use crate::reads::{ReadError, ReadLedger, Source};

/// Which ledger a registry or list read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerChoice {
    /// Convex while it is connected, else the embedded ledger.
    Auto,
    /// Convex only.
    Convex,
    /// The service's embedded ledger only.
    Embedded,
}

/// The ledger that answers, and why it is not the one asked for.
pub struct Picked<'a> {
    pub ledger: ReadLedger<'a>,
    pub note: Option<String>,
}

/// The ledger for a read: the one asked for, or by default the service's
/// `SHOOTLOG_READ_FROM` (`auto`: Convex while connected, else embedded).
pub fn pick(state: &AppState, asked: Option<LedgerChoice>) -> Result<Picked<'_>, ApiError> {
    let asked = asked.unwrap_or(match state.read_from {
        ReadFrom::Auto => LedgerChoice::Auto,
        ReadFrom::Convex => LedgerChoice::Convex,
        ReadFrom::Embedded => LedgerChoice::Embedded,
    });
    let convex = || ReadLedger::Convex(state.ledger.as_ref());
    let embedded = || {
        state
            .embedded
            .as_ref()
            .map(ReadLedger::Embedded)
            .ok_or_else(|| ApiError::Unavailable { detail: "no embedded ledger is open".into(), retry_after_secs: 5 })
    };
    match asked {
        LedgerChoice::Convex if !state.ledger.is_configured() => {
            Err(ApiError::NotFound("no Convex deployment is configured (CONVEX_URL)".into()))
        }
        LedgerChoice::Convex => Ok(Picked { ledger: convex(), note: None }),
        LedgerChoice::Embedded => Ok(Picked { ledger: embedded()?, note: None }),
        LedgerChoice::Auto if state.ledger.is_configured() && state.ledger.is_connected() => {
            Ok(Picked { ledger: convex(), note: None })
        }
        LedgerChoice::Auto => {
            let note = state
                .ledger
                .is_configured()
                .then(|| "Convex is not connected; the embedded ledger answers (this instance's events)".to_string());
            Ok(Picked { ledger: embedded()?, note })
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        ApiError::Upstream(e.to_string())
    }
}

/// A query string, or a 422 naming the first parameter it could not take
/// (`/query/<name>`); `names` are the parameters the route takes.
pub fn query<T>(q: Result<Query<T>, QueryRejection>, names: &[&str]) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| {
        let text = e.body_text();
        let name = names.iter().find(|n| text.contains(*n)).copied().unwrap_or("");
        let pointer = if name.is_empty() { "/query".to_string() } else { format!("/query/{name}") };
        ApiError::Invalid(vec![Violation::new(pointer, ViolationCode::Invalid, text)])
    })
}

/// A page cursor as the service hands it out: the ledger's own cursor,
/// prefixed with the ledger that made it (`embedded:…`, `convex:…`), so
/// that a cursor is never sent to the other ledger.
pub fn cursor_out(source: Source, inner: Option<String>) -> Option<String> {
    inner.map(|c| format!("{}:{c}", source.as_str()))
}

/// The ledger's cursor in a cursor the service handed out, refused (422)
/// when it came from another ledger or is not one of ours.
pub fn cursor_in(source: Source, cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(c) = cursor else { return Ok(None) };
    match c.split_once(':') {
        Some((s, inner)) if s == source.as_str() => Ok(Some(inner.to_string())),
        Some((s, _)) if s == "convex" || s == "embedded" => Err(ApiError::Invalid(vec![Violation::new(
            "/query/cursor",
            ViolationCode::Invalid,
            format!(
                "this cursor is the {s} ledger's, and the {} ledger answers: start again without it",
                source.as_str()
            ),
        )])),
        _ => Err(ApiError::Invalid(vec![Violation::new(
            "/query/cursor",
            ViolationCode::Format,
            "cursor must be a nextCursor this service answered",
        )])),
    }
}

/// A failed page read: a client's cursor the ledger refused is the
/// client's (422 at `/query/cursor`); anything else is the ledger's (502).
pub fn page_error(e: ReadError, with_cursor: bool) -> ApiError {
    match e {
        ReadError::Refused(_, m) if with_cursor => ApiError::Invalid(vec![Violation::new(
            "/query/cursor",
            ViolationCode::Invalid,
            format!("the ledger cannot take this cursor: {m}"),
        )]),
        other => other.into(),
    }
}

/// A page size: `limit`, or the default, clamped to 1..=max.
pub fn page_size(limit: Option<u32>) -> u32 {
    limit.unwrap_or(crate::limits::LIST_PAGE_DEFAULT).clamp(1, crate::limits::LIST_PAGE_MAX)
}
