//! The device registry as an operator reads it: every device with what is
//! wrong with it (stale, retired, an open hardware-id clash) and the live
//! camera it is, and one device with its whole history. Assembled from the
//! contract's reads (`ledger:devices`, `ledger:clashes`, `ledger:sessions`,
//! `ledger:sessionHeader`, `ledger:device`), the same way over either
//! ledger.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::rows::{CameraRow, ClashRow, DeviceRow, PlacementRow, ReceiptRow, SessionRow};
use super::{ReadError, ReadLedger, names};
use crate::domain::{EventKind, Role};
use crate::limits::{LIVE_SESSIONS_READ_MAX, REGISTRY_READ_MAX};

/// The live camera a device is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveCamera {
    pub session_key: String,
    pub camera_key: String,
    pub role: Role,
}

/// A device as the registry shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    #[serde(flatten)]
    pub device: DeviceRow,
    /// Not seen for longer than the service's stale threshold, now.
    pub stale: bool,
    pub retired: bool,
    /// The camera of a live session it is, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_in: Option<LiveCamera>,
    /// Open clashes over its hardware id (as holder or claimant).
    pub clashes: Vec<ClashRow>,
}

impl DeviceView {
    fn new(device: DeviceRow, now_ms: i64, stale_after_ms: i64) -> Self {
        let stale = now_ms.saturating_sub(device.last_seen_at) > stale_after_ms;
        let retired = device.retirement.is_some();
        Self { device, stale, retired, live_in: None, clashes: Vec::new() }
    }
}

/// What the registry filters on (all that are given must hold).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub stale: Option<bool>,
    pub retired: Option<bool>,
    pub clash: Option<bool>,
    pub platform: Option<crate::domain::Platform>,
}

impl Filter {
    fn keeps(&self, d: &DeviceView) -> bool {
        self.stale.is_none_or(|s| d.stale == s)
            && self.retired.is_none_or(|r| d.retired == r)
            && self.clash.is_none_or(|c| d.clashes.is_empty() != c)
            && self.platform.is_none_or(|p| d.device.platform == p)
    }
}

/// The whole registry, filtered, in `deviceId` order.
#[derive(Debug, Clone)]
pub struct Registry {
    pub devices: Vec<DeviceView>,
    /// Claimants of open clashes that are not registered themselves.
    pub unregistered_claimants: Vec<ClashRow>,
    /// The ledger has more than [`REGISTRY_READ_MAX`] devices (or open
    /// clashes, or live sessions): the lists are cut there.
    pub truncated: bool,
}

/// Reads the registry and filters it.
pub async fn registry(
    ledger: ReadLedger<'_>,
    filter: &Filter,
    now_ms: i64,
    stale_after_ms: i64,
) -> Result<Registry, ReadError> {
    let (docs, devices_whole) = ledger.all(names::DEVICES, json!({}), REGISTRY_READ_MAX).await?;
    let devices: Vec<DeviceRow> = ledger.typed("devices", docs)?;
    let (docs, clashes_whole) = ledger.all(names::CLASHES, json!({ "open": true }), REGISTRY_READ_MAX).await?;
    let clashes: Vec<ClashRow> = ledger.typed("clashes", docs)?;
    let (live, live_whole) = live_cameras(ledger).await?;

    let mut views: BTreeMap<String, DeviceView> =
        devices.into_iter().map(|d| (d.device_id.clone(), DeviceView::new(d, now_ms, stale_after_ms))).collect();
    let mut unregistered_claimants = Vec::new();
    for clash in clashes {
        if let Some(v) = views.get_mut(&clash.holder_device_id) {
            v.clashes.push(clash.clone());
        }
        match views.get_mut(&clash.claimant_device_id) {
            Some(v) => v.clashes.push(clash),
            None => unregistered_claimants.push(clash),
        }
    }
    for (device_id, camera) in live {
        if let Some(v) = views.get_mut(&device_id) {
            v.live_in = Some(camera);
        }
    }
    let devices = views.into_values().filter(|d| filter.keeps(d)).collect();
    Ok(Registry { devices, unregistered_claimants, truncated: !(devices_whole && clashes_whole && live_whole) })
}

/// deviceId → the live camera it is, over every live session.
async fn live_cameras(ledger: ReadLedger<'_>) -> Result<(Vec<(String, LiveCamera)>, bool), ReadError> {
    let (docs, whole) = ledger.all(names::SESSIONS, json!({ "status": "live" }), LIVE_SESSIONS_READ_MAX).await?;
    let sessions: Vec<SessionRow> = ledger.typed("sessions", docs)?;
    let mut out = Vec::new();
    for s in sessions {
        let header = ledger.query(names::SESSION_HEADER, json!({ "sessionKey": s.session_key })).await?;
        let cameras = header.get("cameras").and_then(|c| c.as_array()).cloned().unwrap_or_default();
        let cameras: Vec<CameraRow> = ledger.typed("cameras", cameras)?;
        out.extend(
            cameras.into_iter().filter(|c| c.live).map(|c| {
                (c.device_id, LiveCamera { session_key: c.session_key, camera_key: c.camera_key, role: c.role })
            }),
        );
    }
    Ok((out, whole))
}

/// One device and everything the ledger keeps of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetail {
    /// The registry's row, or absent for a device the registry does not
    /// hold (a claimant whose registrations were refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceView>,
    /// The cameras it holds or held to the end of their session, in the
    /// order it joined them.
    pub cameras: Vec<CameraRow>,
    /// The cameras it held and handed to another device by a replacement
    /// (each names the device that holds it now; its `replaced` names this
    /// one), among the sessions of its latest verdicts.
    pub handed_over: Vec<CameraRow>,
    /// Clash reports it is part of, open or resolved.
    pub clashes: Vec<ClashRow>,
    /// Its registrations' verdicts (applied and refused), oldest first.
    pub registrations: Vec<ReceiptRow>,
    /// The verdicts of every event that names it (registrations, joins,
    /// placements, repairs), the latest 256, oldest first.
    pub verdicts: Vec<ReceiptRow>,
    /// The placement versions it reported, the latest 256, oldest first.
    pub placements: Vec<PlacementRow>,
}

/// One device, or `None` when the ledger knows nothing of it.
pub async fn device(
    ledger: ReadLedger<'_>,
    device_id: &str,
    now_ms: i64,
    stale_after_ms: i64,
) -> Result<Option<DeviceDetail>, ReadError> {
    let answer = ledger.query(names::DEVICE, json!({ "deviceId": device_id })).await?;
    let list = |name: &str| answer.get(name).and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let row = match answer.get("device") {
        Some(v) if !v.is_null() => ledger.typed::<DeviceRow>("device", vec![v.clone()])?.pop(),
        _ => None,
    };
    let cameras: Vec<CameraRow> = ledger.typed("cameras", list("cameras"))?;
    let clashes: Vec<ClashRow> = ledger.typed("clashes", list("clashes"))?;
    let verdicts: Vec<ReceiptRow> = ledger.typed("receipts", list("receipts"))?;
    let placements: Vec<PlacementRow> = ledger.typed("placements", list("placements"))?;
    if row.is_none() && cameras.is_empty() && clashes.is_empty() && verdicts.is_empty() {
        return Ok(None);
    }
    let device = row.map(|d| {
        let mut v = DeviceView::new(d, now_ms, stale_after_ms);
        v.live_in = cameras.iter().find(|c| c.live && c.device_id == device_id).map(|c| LiveCamera {
            session_key: c.session_key.clone(),
            camera_key: c.camera_key.clone(),
            role: c.role,
        });
        v.clashes = clashes.iter().filter(|c| c.open).cloned().collect();
        v
    });
    let handed_over = handed_over(ledger, device_id, &verdicts).await?;
    let registrations = verdicts.iter().filter(|r| r.kind == EventKind::RegisterDevice).cloned().collect();
    Ok(Some(DeviceDetail { device, cameras, handed_over, clashes, registrations, verdicts, placements }))
}

/// The cameras `device_id` joined (by its applied joins among `verdicts`)
/// that a replacement gave to another device: the camera rows keep the
/// device they replaced, and no ledger indexes a camera by a device it
/// had, so they are found through the sessions it joined.
async fn handed_over(
    ledger: ReadLedger<'_>,
    device_id: &str,
    verdicts: &[ReceiptRow],
) -> Result<Vec<CameraRow>, ReadError> {
    let joined: BTreeSet<&str> = verdicts
        .iter()
        .filter(|r| r.kind == EventKind::JoinSession && r.verdict == "applied")
        .filter_map(|r| r.session_key.as_deref())
        .collect();
    let mut out = Vec::new();
    for session_key in joined {
        let header = ledger.query(names::SESSION_HEADER, json!({ "sessionKey": session_key })).await?;
        let cameras = header.get("cameras").and_then(|c| c.as_array()).cloned().unwrap_or_default();
        let cameras: Vec<CameraRow> = ledger.typed("cameras", cameras)?;
        out.extend(
            cameras
                .into_iter()
                .filter(|c| c.device_id != device_id && c.replaced.iter().any(|r| r.device_id == device_id)),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(last_seen_at: i64) -> DeviceRow {
        serde_json::from_value(json!({
            "deviceId": "d1", "name": "iPad", "platform": "ipados", "firstSeenAt": 1.0,
            "lastSeenAt": last_seen_at as f64, "lastRegisteredAt": 1.0, "registerEventId": "e"
        }))
        .unwrap()
    }

    #[test]
    fn stale_is_computed_when_read() {
        assert!(!DeviceView::new(row(1_000), 1_500, 600).stale);
        assert!(DeviceView::new(row(1_000), 1_601, 600).stale);
    }

    #[test]
    fn filters_must_all_hold() {
        let mut v = DeviceView::new(row(1_000), 1_000, 600);
        let f = Filter { retired: Some(false), clash: Some(false), ..Filter::default() };
        assert!(f.keeps(&v));
        v.retired = true;
        assert!(!f.keeps(&v));
        let f = Filter { platform: Some(crate::domain::Platform::Android), ..Filter::default() };
        assert!(!f.keeps(&v));
    }
}
