//! Reading the device registry (admin token): every device with what is
//! wrong with it, one device with its history, and the open hardware-id
//! clashes. Mending it is `repair.rs`.

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
use super::read::{LedgerChoice, page_size, pick, query};
use crate::domain::{DeviceId, Millis, Platform};
use crate::limits::REGISTRY_READ_MAX;
use crate::reads::registry::{self, DeviceDetail, DeviceView, Filter};
use crate::reads::rows::ClashRow;
use crate::reads::{Source, names};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DevicesQuery {
    /// Which ledger answers (default: the service's `SHOOTLOG_READ_FROM`).
    #[param(inline)]
    pub source: Option<LedgerChoice>,
    /// Only devices that are (`true`) or are not (`false`) stale: not seen
    /// for longer than `SHOOTLOG_DEVICE_STALE_SECS`.
    pub stale: Option<bool>,
    /// Only retired (`true`) or active (`false`) devices.
    pub retired: Option<bool>,
    /// Only devices with (`true`) or without (`false`) an open
    /// hardware-id clash.
    pub clash: Option<bool>,
    /// Only devices of this platform.
    #[param(inline)]
    pub platform: Option<Platform>,
    /// Only devices whose `deviceId` sorts after this one (the previous
    /// page's `nextAfter`).
    pub after: Option<String>,
    /// At most this many devices: default 100, clamped to 1..=256.
    #[param(value_type = Option<u64>, maximum = 4294967295_u64)]
    pub limit: Option<u32>,
}

/// A page of the registry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceList {
    pub source: Source,
    /// Why this ledger answered, when it is not the one asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The stale threshold the answer used, in seconds.
    pub stale_after_secs: u64,
    /// In `deviceId` order.
    pub devices: Vec<DeviceView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
    /// Devices that claimed a registered device's hardware id, were
    /// refused, and are not registered themselves (open clashes only).
    pub unregistered_claimants: Vec<ClashRow>,
    /// The ledger holds more than 10,000 devices (or open clashes, or live
    /// sessions) and the registry was cut there.
    pub truncated: bool,
}

/// The device registry
///
/// For operators (admin token). Every device of the registry in `deviceId`
/// order, each with its registration (name, the operator's `label`,
/// platform, model, app version, hardware id, first and last seen), whether
/// it is `stale` (computed now, from `SHOOTLOG_DEVICE_STALE_SECS`),
/// `retired` (and why), the live camera it is (`liveIn`) and its open
/// hardware-id `clashes`. Filters combine; `after` and `limit` page.
///
/// Example: `GET /v1/devices?clash=true` lists what needs resolving;
/// `GET /v1/devices?stale=true&retired=false` the phones that went quiet.
#[utoipa::path(
    get, path = "/v1/devices", tag = "registry",
    params(DevicesQuery),
    responses(
        (status = 200, description = "A page of the registry", body = DeviceList),
        (status = 404, description = "`source=convex` and no deployment is configured", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter it cannot take", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The ledger could not be read", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn list_devices(
    State(state): State<AppState>,
    _reader: Reader,
    q: Result<Query<DevicesQuery>, QueryRejection>,
) -> Result<Json<DeviceList>, ApiError> {
    let q = query(q, &["source", "stale", "retired", "clash", "platform", "after", "limit"])?;
    let picked = pick(&state, q.source)?;
    let filter = Filter { stale: q.stale, retired: q.retired, clash: q.clash, platform: q.platform };
    let stale_after = state.device_stale;
    let mut reg = registry::registry(picked.ledger, &filter, Millis::now().0, millis(stale_after)).await?;
    if let Some(after) = &q.after {
        reg.devices.retain(|d| d.device.device_id.as_str() > after.as_str());
    }
    let limit = page_size(q.limit) as usize;
    let next_after = (reg.devices.len() > limit).then(|| reg.devices[limit - 1].device.device_id.clone());
    reg.devices.truncate(limit);
    Ok(Json(DeviceList {
        source: picked.ledger.source(),
        note: picked.note,
        stale_after_secs: stale_after.as_secs(),
        devices: reg.devices,
        next_after,
        unregistered_claimants: reg.unregistered_claimants,
        truncated: reg.truncated,
    }))
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SourceQuery {
    /// Which ledger answers (default: the service's `SHOOTLOG_READ_FROM`).
    #[param(inline)]
    pub source: Option<LedgerChoice>,
}

/// One device as the ledger knows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetailView {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub stale_after_secs: u64,
    #[serde(flatten)]
    pub detail: DeviceDetail,
}

/// One device: registrations, sessions and cameras, placements, clashes, verdicts
///
/// For operators (admin token). Which phone is which: the device's registry
/// row (with `stale`, `retired`, `liveIn`, open `clashes`), every camera it
/// is or was in any session, the clash reports it is part of, its
/// registrations' verdicts, the verdicts of every event that names it
/// (joins, placements, repairs) and the placement versions it reported. A
/// device whose registrations were all refused (a clash claimant) has no
/// `device` but still its verdicts and clashes.
///
/// Example: `GET /v1/devices/ipad-7f3a` answers which sessions and cameras that iPad was, where it stood, and every verdict of its events.
#[utoipa::path(
    get, path = "/v1/devices/{deviceId}", tag = "registry",
    params(("deviceId" = DeviceId, Path, description = "The device"), SourceQuery),
    responses(
        (status = 200, description = "The device and its history", body = DeviceDetailView),
        (status = 404, description = "The ledger knows nothing of this device", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed device id or query", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The ledger could not be read", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn get_device(
    State(state): State<AppState>,
    _reader: Reader,
    PathKey(device_id): PathKey<DeviceId>,
    q: Result<Query<SourceQuery>, QueryRejection>,
) -> Result<Json<DeviceDetailView>, ApiError> {
    let q = query(q, &["source"])?;
    let picked = pick(&state, q.source)?;
    let stale_after = state.device_stale;
    let found = registry::device(picked.ledger, device_id.as_str(), Millis::now().0, millis(stale_after)).await?;
    let Some(detail) = found else {
        return Err(ApiError::NotFound(format!(
            "the {} ledger knows no device {device_id}",
            picked.ledger.source().as_str()
        )));
    };
    Ok(Json(DeviceDetailView {
        source: picked.ledger.source(),
        note: picked.note,
        stale_after_secs: stale_after.as_secs(),
        detail,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClashesQuery {
    /// Which ledger answers (default: the service's `SHOOTLOG_READ_FROM`).
    #[param(inline)]
    pub source: Option<LedgerChoice>,
    /// Open clashes (default) or resolved ones (`false`).
    pub open: Option<bool>,
}

/// Hardware-id clashes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClashList {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// In timeline order of the refused registrations.
    pub clashes: Vec<ClashRow>,
    /// More than 10,000: the list is cut there.
    pub truncated: bool,
}

/// Hardware-id clashes: registrations refused because another device holds the id
///
/// For operators (admin token). Each report names the hardware id, the
/// device that holds it, the device whose registration was refused
/// (`hardware_id_conflict`), and that registration. Resolve one with
/// `POST /v1/clashes/resolve`; `?open=false` lists the resolved ones, with
/// the owner chosen and the resolving event.
///
/// Example: `GET /v1/clashes` lists what `POST /v1/clashes/resolve` should settle; `GET /v1/clashes?open=false` what was settled, and how.
#[utoipa::path(
    get, path = "/v1/clashes", tag = "registry",
    params(ClashesQuery),
    responses(
        (status = 200, description = "The clash reports", body = ClashList),
        (status = 404, description = "`source=convex` and no deployment is configured", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter it cannot take", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The ledger could not be read", body = Problem, content_type = "application/problem+json"),
        super::openapi::ReadProblems
    )
)]
pub async fn list_clashes(
    State(state): State<AppState>,
    _reader: Reader,
    q: Result<Query<ClashesQuery>, QueryRejection>,
) -> Result<Json<ClashList>, ApiError> {
    let q = query(q, &["source", "open"])?;
    let picked = pick(&state, q.source)?;
    let open = q.open.unwrap_or(true);
    let (docs, whole) = picked.ledger.all(names::CLASHES, json!({ "open": open }), REGISTRY_READ_MAX).await?;
    let clashes = picked.ledger.typed("clashes", docs)?;
    Ok(Json(ClashList { source: picked.ledger.source(), note: picked.note, clashes, truncated: !whole }))
}
