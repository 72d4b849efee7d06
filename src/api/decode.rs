//! Every write route's decoding — body bytes to checked events — without
//! journaling: the same functions the handlers call, exposed for the fuzz
//! target (`fuzz/`) and tests.

use super::director_events::parse_body;
use super::error::{ApiError, Problem};
use super::extract::parse;
use super::write::{Incoming, check};
use super::write_routes::WriteRoute;
use super::{cameras, devices, repair, sessions, stills, webhooks};
use crate::domain::{CameraKey, DeviceId, Event, Millis, SessionKey};

/// Decodes and checks a body as `route` would, with fixed path keys.
/// Returns the events that would be journaled, or the problem a client would
/// get.
pub fn decode(route: WriteRoute, body: &[u8]) -> Result<Vec<Event>, Box<Problem>> {
    let incoming = decode_incoming(route, body).map_err(|e| Box::new(e.problem()))?;
    let violations: Vec<_> = incoming.iter().flat_map(|i| check(i, Millis::now())).collect();
    if violations.is_empty() {
        Ok(incoming.into_iter().map(|i| i.event).collect())
    } else {
        Err(Box::new(ApiError::Invalid(violations).problem()))
    }
}

fn decode_incoming(route: WriteRoute, body: &[u8]) -> Result<Vec<Incoming>, ApiError> {
    let session = || SessionKey::parse("fuzz-session").map_err(|e| ApiError::Internal(e.to_string()));
    let device = || DeviceId::parse("fuzz-device").map_err(|e| ApiError::Internal(e.to_string()));
    let camera = || CameraKey::parse("fuzz-camera").map_err(|e| ApiError::Internal(e.to_string()));
    Ok(match route {
        WriteRoute::StartShoot => vec![parse::<sessions::StartShootRequest>(body)?.into_incoming()],
        WriteRoute::Complete => vec![parse::<sessions::CompleteSessionRequest>(body)?.into_incoming(session()?)],
        WriteRoute::RegisterDevice => vec![parse::<devices::RegisterDeviceRequest>(body)?.into_incoming()],
        WriteRoute::Placement => vec![parse::<devices::PlacementRequest>(body)?.into_incoming(device()?)],
        WriteRoute::Join => vec![parse::<cameras::JoinRequest>(body)?.into_incoming(session()?)],
        WriteRoute::DirectorEvents => parse_body(body, &session()?)?.into_events(),
        WriteRoute::StillMarker => vec![parse::<stills::StillMarkerRequest>(body)?.into_incoming(session()?)],
        WriteRoute::StillUploaded => vec![parse::<stills::StillUploadedRequest>(body)?.into_incoming()],
        WriteRoute::LiveDirector => vec![parse::<webhooks::LiveDirectorWebhook>(body)?.into_incoming()?],
        WriteRoute::RetireDevice => vec![parse::<repair::RetireRequest>(body)?.into_incoming(device()?)],
        WriteRoute::ReinstateDevice => vec![parse::<repair::ReinstateRequest>(body)?.into_incoming(device()?)],
        WriteRoute::RenameDevice => vec![parse::<repair::RenameRequest>(body)?.into_incoming(device()?)],
        WriteRoute::ResolveClash => vec![parse::<repair::ResolveClashRequest>(body)?.into_incoming()],
        WriteRoute::ReplaceCameraDevice => {
            vec![parse::<repair::ReplaceCameraRequest>(body)?.into_incoming(session()?, camera()?)]
        }
    })
}
