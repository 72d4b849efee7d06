//! The events of a shoot, exactly as they are journaled and sent to the
//! ledger (`migrations-notes/0001-ledger-schema-and-wire.md`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{CameraKey, DeviceId, EventId, HoldId, Millis, Placement, SessionKey, StillId, Violation, ViolationCode};

/// A phone's or iPad's platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Ios,
    Ipados,
    Android,
    Other,
}

/// A camera's role in the shoot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Hero,
    Wide,
    Close,
    Detail,
    Overhead,
    Other,
}

/// How a cut moves from one camera to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Cut,
    Dissolve,
    Fade,
}

/// What a cue asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CueKind {
    Pose,
    Look,
    Lighting,
    Wardrobe,
    Other,
}

/// One accepted write. Field names and the `type` tag are the ledger's wire
/// format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum Event {
    StartShoot {
        session_key: SessionKey,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    CompleteSession {
        session_key: SessionKey,
    },
    RegisterDevice {
        device_id: DeviceId,
        name: String,
        platform: Platform,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hardware_id: Option<String>,
    },
    JoinSession {
        session_key: SessionKey,
        camera_key: CameraKey,
        device_id: DeviceId,
        role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placement: Option<Placement>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_offset_ms: Option<f64>,
    },
    UpdatePlacement {
        session_key: SessionKey,
        device_id: DeviceId,
        placement: Placement,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clock_offset_ms: Option<f64>,
    },
    Cut {
        session_key: SessionKey,
        camera_key: CameraKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_camera_key: Option<CameraKey>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transition: Option<Transition>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transition_ms: Option<u32>,
    },
    HoldStart {
        session_key: SessionKey,
        hold_id: HoldId,
        camera_key: CameraKey,
    },
    HoldEnd {
        session_key: SessionKey,
        hold_id: HoldId,
    },
    Cue {
        session_key: SessionKey,
        cue_kind: CueKind,
        label: String,
    },
    Marker {
        session_key: SessionKey,
        label: String,
    },
    Note {
        session_key: SessionKey,
        text: String,
    },
    StillMarker {
        session_key: SessionKey,
        still_id: StillId,
        camera_key: CameraKey,
        captured_at: Millis,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        byte_size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        storage_ref: Option<String>,
    },
    StillUploaded {
        session_key: SessionKey,
        still_id: StillId,
        storage_ref: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        byte_size: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Registry repair (operators): the device can no longer join a session.
    RetireDevice {
        device_id: DeviceId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Registry repair: the device may join sessions again.
    ReinstateDevice {
        device_id: DeviceId,
    },
    /// Registry repair: the operator's name for a device (`label`).
    RenameDevice {
        device_id: DeviceId,
        label: String,
    },
    /// Registry repair: which device owns a hardware id several claimed.
    ResolveClash {
        hardware_id: String,
        owner_device_id: DeviceId,
        retire_others: bool,
    },
    /// Registry repair: another device takes over a camera of a live session.
    ReplaceCameraDevice {
        session_key: SessionKey,
        camera_key: CameraKey,
        device_id: DeviceId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// The kind of an event, as its wire `type` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    StartShoot,
    CompleteSession,
    RegisterDevice,
    JoinSession,
    UpdatePlacement,
    Cut,
    HoldStart,
    HoldEnd,
    Cue,
    Marker,
    Note,
    StillMarker,
    StillUploaded,
    RetireDevice,
    ReinstateDevice,
    RenameDevice,
    ResolveClash,
    ReplaceCameraDevice,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::StartShoot => "start_shoot",
            EventKind::CompleteSession => "complete_session",
            EventKind::RegisterDevice => "register_device",
            EventKind::JoinSession => "join_session",
            EventKind::UpdatePlacement => "update_placement",
            EventKind::Cut => "cut",
            EventKind::HoldStart => "hold_start",
            EventKind::HoldEnd => "hold_end",
            EventKind::Cue => "cue",
            EventKind::Marker => "marker",
            EventKind::Note => "note",
            EventKind::StillMarker => "still_marker",
            EventKind::StillUploaded => "still_uploaded",
            EventKind::RetireDevice => "retire_device",
            EventKind::ReinstateDevice => "reinstate_device",
            EventKind::RenameDevice => "rename_device",
            EventKind::ResolveClash => "resolve_clash",
            EventKind::ReplaceCameraDevice => "replace_camera_device",
        }
    }
}

/// The ordering domain of an event: the ledger applies the events of one
/// partition in the order the journal accepted them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Partition {
    Session(SessionKey),
    Device(DeviceId),
}

impl Partition {
    /// `session:<key>` or `device:<id>`, as the journal stores it.
    pub fn key(&self) -> String {
        match self {
            Partition::Session(k) => format!("session:{k}"),
            Partition::Device(d) => format!("device:{d}"),
        }
    }

    pub fn for_session(k: &SessionKey) -> String {
        format!("session:{k}")
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::StartShoot { .. } => EventKind::StartShoot,
            Event::CompleteSession { .. } => EventKind::CompleteSession,
            Event::RegisterDevice { .. } => EventKind::RegisterDevice,
            Event::JoinSession { .. } => EventKind::JoinSession,
            Event::UpdatePlacement { .. } => EventKind::UpdatePlacement,
            Event::Cut { .. } => EventKind::Cut,
            Event::HoldStart { .. } => EventKind::HoldStart,
            Event::HoldEnd { .. } => EventKind::HoldEnd,
            Event::Cue { .. } => EventKind::Cue,
            Event::Marker { .. } => EventKind::Marker,
            Event::Note { .. } => EventKind::Note,
            Event::StillMarker { .. } => EventKind::StillMarker,
            Event::StillUploaded { .. } => EventKind::StillUploaded,
            Event::RetireDevice { .. } => EventKind::RetireDevice,
            Event::ReinstateDevice { .. } => EventKind::ReinstateDevice,
            Event::RenameDevice { .. } => EventKind::RenameDevice,
            Event::ResolveClash { .. } => EventKind::ResolveClash,
            Event::ReplaceCameraDevice { .. } => EventKind::ReplaceCameraDevice,
        }
    }

    pub fn session_key(&self) -> Option<SessionKey> {
        match self.partition() {
            Partition::Session(k) => Some(k),
            Partition::Device(_) => None,
        }
    }

    /// The device that this event speaks for, if any (used to scope device
    /// credentials; repairs speak of a device but only operators write
    /// them).
    pub fn device_id(&self) -> Option<&DeviceId> {
        match self {
            Event::RegisterDevice { device_id, .. }
            | Event::JoinSession { device_id, .. }
            | Event::UpdatePlacement { device_id, .. }
            | Event::RetireDevice { device_id, .. }
            | Event::ReinstateDevice { device_id }
            | Event::RenameDevice { device_id, .. }
            | Event::ReplaceCameraDevice { device_id, .. } => Some(device_id),
            Event::ResolveClash { owner_device_id, .. } => Some(owner_device_id),
            _ => None,
        }
    }

    pub fn partition(&self) -> Partition {
        match self {
            Event::RegisterDevice { device_id, .. }
            | Event::RetireDevice { device_id, .. }
            | Event::ReinstateDevice { device_id }
            | Event::RenameDevice { device_id, .. }
            | Event::ResolveClash { owner_device_id: device_id, .. } => Partition::Device(device_id.clone()),
            Event::StartShoot { session_key, .. }
            | Event::CompleteSession { session_key }
            | Event::JoinSession { session_key, .. }
            | Event::UpdatePlacement { session_key, .. }
            | Event::Cut { session_key, .. }
            | Event::HoldStart { session_key, .. }
            | Event::HoldEnd { session_key, .. }
            | Event::Cue { session_key, .. }
            | Event::Marker { session_key, .. }
            | Event::Note { session_key, .. }
            | Event::StillMarker { session_key, .. }
            | Event::StillUploaded { session_key, .. }
            | Event::ReplaceCameraDevice { session_key, .. } => Partition::Session(session_key.clone()),
        }
    }
}

/// An event with its identity and both clocks: the unit of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub event_id: EventId,
    /// The sender's clock.
    pub at: Millis,
    /// The service's clock when the request arrived.
    pub received_at: Millis,
    #[serde(flatten)]
    pub event: Event,
}

const TITLE_MAX: usize = 200;
/// The longest reason an operator gives for a repair.
pub const REASON_MAX: usize = 500;
const TEXT_MAX: usize = 4000;
const SHORT_MAX: usize = 200;
const REF_MAX: usize = 2048;
const MAX_DIMENSION: u32 = 100_000;
const MAX_BYTES: u64 = 1 << 40;
const MAX_TRANSITION_MS: u32 = 60_000;
const MAX_CLOCK_OFFSET_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// Checks the rules that serde's types cannot: lengths of free text, ranges,
/// formats. `pointer` is where the event stands in the request body; field
/// names in the violations are those of the wire (camelCase).
pub fn validate_event(event: &Event, pointer: &str) -> Vec<Violation> {
    let mut v = Checks { pointer, out: Vec::new() };
    match event {
        Event::StartShoot { title, notes, location, .. } => {
            v.text("title", Some(title), TITLE_MAX, true);
            v.text("notes", notes.as_ref(), TEXT_MAX, false);
            v.text("location", location.as_ref(), SHORT_MAX, false);
        }
        Event::CompleteSession { .. } => {}
        Event::RegisterDevice { name, model, app_version, hardware_id, .. } => {
            v.text("name", Some(name), SHORT_MAX, true);
            v.text("model", model.as_ref(), SHORT_MAX, false);
            v.text("appVersion", app_version.as_ref(), 64, false);
            v.text("hardwareId", hardware_id.as_ref(), SHORT_MAX, false);
        }
        Event::JoinSession { placement, clock_offset_ms, .. } => {
            if let Some(p) = placement {
                v.out.extend(p.violations(&format!("{pointer}/placement")));
            }
            v.clock_offset(*clock_offset_ms);
        }
        Event::UpdatePlacement { placement, clock_offset_ms, .. } => {
            v.out.extend(placement.violations(&format!("{pointer}/placement")));
            v.clock_offset(*clock_offset_ms);
        }
        Event::Cut { transition_ms, .. } => {
            if let Some(ms) = transition_ms
                && *ms > MAX_TRANSITION_MS
            {
                v.push(
                    "transitionMs",
                    ViolationCode::OutOfRange,
                    format!("transitionMs must be at most {MAX_TRANSITION_MS}"),
                );
            }
        }
        Event::HoldStart { .. } | Event::HoldEnd { .. } => {}
        Event::Cue { label, .. } | Event::Marker { label, .. } => v.text("label", Some(label), SHORT_MAX, true),
        Event::Note { text, .. } => v.text("text", Some(text), TEXT_MAX, true),
        Event::StillMarker { width, height, byte_size, content_type, sha256, storage_ref, .. } => {
            for (name, dim) in [("width", width), ("height", height)] {
                if let Some(d) = dim
                    && !(1..=MAX_DIMENSION).contains(d)
                {
                    v.push(name, ViolationCode::OutOfRange, format!("{name} must be 1..={MAX_DIMENSION} pixels"));
                }
            }
            v.still_storage(*byte_size, content_type.as_ref(), sha256.as_ref());
            v.text("storageRef", storage_ref.as_ref(), REF_MAX, true);
        }
        Event::StillUploaded { storage_ref, byte_size, content_type, sha256, url, .. } => {
            v.text("storageRef", Some(storage_ref), REF_MAX, true);
            v.still_storage(*byte_size, content_type.as_ref(), sha256.as_ref());
            if let Some(u) = url {
                v.text("url", Some(u), REF_MAX, true);
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    v.push("url", ViolationCode::Format, "url must be an http(s) URL");
                }
            }
        }
        Event::RetireDevice { reason, .. } | Event::ReplaceCameraDevice { reason, .. } => {
            v.text("reason", reason.as_ref(), REASON_MAX, true);
        }
        Event::ReinstateDevice { .. } => {}
        Event::RenameDevice { label, .. } => v.text("label", Some(label), SHORT_MAX, true),
        Event::ResolveClash { hardware_id, .. } => v.text("hardwareId", Some(hardware_id), SHORT_MAX, true),
    }
    v.out
}

struct Checks<'a> {
    pointer: &'a str,
    out: Vec<Violation>,
}

impl Checks<'_> {
    fn push(&mut self, field: &str, code: ViolationCode, detail: impl Into<String>) {
        self.out.push(Violation::new(format!("{}/{field}", self.pointer), code, detail));
    }

    fn text(&mut self, field: &str, value: Option<&String>, max: usize, non_empty: bool) {
        let Some(s) = value else { return };
        if non_empty && s.trim().is_empty() {
            self.push(field, ViolationCode::Empty, format!("{field} must not be empty"));
        } else if s.chars().count() > max {
            self.push(field, ViolationCode::TooLong, format!("{field} must be at most {max} characters"));
        } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            self.push(field, ViolationCode::Charset, format!("{field} must not contain control characters"));
        }
    }

    fn clock_offset(&mut self, ms: Option<f64>) {
        if let Some(ms) = ms
            && !(ms.is_finite() && ms.abs() <= MAX_CLOCK_OFFSET_MS)
        {
            self.push("clockOffsetMs", ViolationCode::OutOfRange, "clockOffsetMs must be within ±24 hours");
        }
    }

    fn still_storage(&mut self, byte_size: Option<u64>, content_type: Option<&String>, sha256: Option<&String>) {
        if let Some(b) = byte_size
            && !(1..=MAX_BYTES).contains(&b)
        {
            self.push("byteSize", ViolationCode::OutOfRange, "byteSize must be 1 byte to 1 TiB");
        }
        if let Some(ct) = content_type {
            let ok = ct.len() <= 100
                && ct
                    .split_once('/')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && ct.bytes().all(|c| c.is_ascii_graphic()));
            if !ok {
                self.push("contentType", ViolationCode::Format, "contentType must be a media type such as image/heic");
            }
        }
        if let Some(h) = sha256
            && !(h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            self.push("sha256", ViolationCode::Format, "sha256 must be 64 hexadecimal digits");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sk() -> SessionKey {
        SessionKey::parse("s1").unwrap()
    }

    #[test]
    fn wire_format_is_flat_and_camel_case() {
        let env = Envelope {
            event_id: EventId::derived("t", "1"),
            at: Millis(1_764_531_000_000),
            received_at: Millis(1_764_531_000_100),
            event: Event::Cut {
                session_key: sk(),
                camera_key: CameraKey::parse("B").unwrap(),
                from_camera_key: None,
                transition: Some(Transition::Dissolve),
                transition_ms: Some(400),
            },
        };
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "eventId": env.event_id.to_string(), "at": 1_764_531_000_000_i64,
                "receivedAt": 1_764_531_000_100_i64, "type": "cut", "sessionKey": "s1",
                "cameraKey": "B", "transition": "dissolve", "transitionMs": 400
            })
        );
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn text_rules() {
        let e = Event::Note { session_key: sk(), text: " ".into() };
        assert_eq!(validate_event(&e, "/events/0")[0].pointer, "/events/0/text");
        let e = Event::StillUploaded {
            session_key: sk(),
            still_id: StillId::parse("x").unwrap(),
            storage_ref: "s3://b/k".into(),
            byte_size: Some(0),
            content_type: Some("jpeg".into()),
            sha256: Some("abc".into()),
            url: Some("ftp://x".into()),
        };
        let codes: Vec<_> = validate_event(&e, "").into_iter().map(|v| v.pointer).collect();
        assert_eq!(codes, ["/byteSize", "/contentType", "/sha256", "/url"]);
    }

    #[test]
    fn partitions() {
        let e = Event::RegisterDevice {
            device_id: DeviceId::parse("d1").unwrap(),
            name: "iPad".into(),
            platform: Platform::Ipados,
            model: None,
            app_version: None,
            hardware_id: None,
        };
        assert_eq!(e.partition().key(), "device:d1");
        assert_eq!(Event::CompleteSession { session_key: sk() }.partition().key(), "session:s1");
    }
}
