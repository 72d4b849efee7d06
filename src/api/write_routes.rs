//! Every write route, and the namespaces of the event ids derived from an
//! `Idempotency-Key` or a `webhook-id`.
//!
//! # Frozen
//!
//! A derived id is a UUID v5 of the route's namespace (with its path key
//! filled in), the key, and — in a batch — the event's position. A client
//! that retries a request across a deploy must get the same ids, so **the
//! strings below must never change**, not even to fix a typo: a changed
//! string turns every retry in flight into a new event. `tests` below pins
//! each one to the ids it derives; a new route adds a new line and a new pin.

use crate::domain::EventId;

/// A route that journals events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteRoute {
    StartShoot,
    Complete,
    RegisterDevice,
    Placement,
    Join,
    DirectorEvents,
    StillMarker,
    StillUploaded,
    LiveDirector,
    RetireDevice,
    ReinstateDevice,
    RenameDevice,
    ResolveClash,
    ReplaceCameraDevice,
}

/// Where a derived id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The `Idempotency-Key` header.
    IdempotencyKey,
    /// A verified webhook's `webhook-id` header.
    WebhookId,
}

/// Put before a route's namespace for ids derived from a `webhook-id` (frozen).
const WEBHOOK_PREFIX: &str = "webhook:";

/// Between a batch request's key and the event's position (frozen).
const POSITION_SEPARATOR: &str = "#";

impl WriteRoute {
    pub const ALL: [WriteRoute; 14] = [
        WriteRoute::StartShoot,
        WriteRoute::Complete,
        WriteRoute::RegisterDevice,
        WriteRoute::Placement,
        WriteRoute::Join,
        WriteRoute::DirectorEvents,
        WriteRoute::StillMarker,
        WriteRoute::StillUploaded,
        WriteRoute::LiveDirector,
        WriteRoute::RetireDevice,
        WriteRoute::ReinstateDevice,
        WriteRoute::RenameDevice,
        WriteRoute::ResolveClash,
        WriteRoute::ReplaceCameraDevice,
    ];

    /// The namespace of the ids this route derives (frozen); `{…}` stands
    /// for the route's path key.
    pub const fn namespace(self) -> &'static str {
        match self {
            WriteRoute::StartShoot => "POST /v1/sessions",
            WriteRoute::Complete => "POST /v1/sessions/{sessionKey}/complete",
            WriteRoute::RegisterDevice => "POST /v1/devices",
            WriteRoute::Placement => "PUT /v1/devices/{deviceId}/placement",
            WriteRoute::Join => "POST /v1/sessions/{sessionKey}/cameras",
            WriteRoute::DirectorEvents => "POST /v1/sessions/{sessionKey}/director-events",
            WriteRoute::StillMarker => "POST /v1/sessions/{sessionKey}/stills",
            WriteRoute::StillUploaded => "POST /v1/callbacks/still-upload",
            WriteRoute::LiveDirector => "POST /v1/webhooks/live-director",
            WriteRoute::RetireDevice => "POST /v1/devices/{deviceId}/retire",
            WriteRoute::ReinstateDevice => "POST /v1/devices/{deviceId}/reinstate",
            WriteRoute::RenameDevice => "POST /v1/devices/{deviceId}/rename",
            WriteRoute::ResolveClash => "POST /v1/clashes/resolve",
            WriteRoute::ReplaceCameraDevice => "POST /v1/sessions/{sessionKey}/cameras/{cameraKey}/replace",
        }
    }

    /// The id scope of one request: the namespace with its path key (if the
    /// route has one) in place of `{…}`.
    pub fn scope(self, path_key: Option<&str>) -> IdScope {
        self.scope_keys(path_key.as_slice())
    }

    /// The id scope of a request on a route with several path keys, filled
    /// in in order.
    pub fn scope_keys(self, path_keys: &[&str]) -> IdScope {
        let mut scope = self.namespace().to_string();
        let mut from = 0;
        for key in path_keys {
            let (Some(open), Some(close)) = (scope[from..].find('{'), scope[from..].find('}')) else { break };
            let (open, close) = (from + open, from + close);
            scope.replace_range(open..=close, key);
            from = open + key.len();
        }
        IdScope(scope)
    }
}

/// The namespace of one request's derived ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdScope(String);

impl IdScope {
    /// The id of the event at `position` (`None` for a single-event
    /// request) derived from `key`.
    pub fn derive(&self, source: KeySource, key: &str, position: Option<usize>) -> EventId {
        let scope = match source {
            KeySource::IdempotencyKey => self.0.clone(),
            KeySource::WebhookId => format!("{WEBHOOK_PREFIX}{}", self.0),
        };
        match position {
            Some(i) => EventId::derived(&scope, &format!("{key}{POSITION_SEPARATOR}{i}")),
            None => EventId::derived(&scope, key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> EventId {
        EventId::parse(s).expect("a literal uuid")
    }

    /// The ids each route derived when the namespaces were frozen. If this
    /// test fails, a namespace changed: change it back.
    #[test]
    fn derived_ids_never_change() {
        use KeySource::{IdempotencyKey, WebhookId};
        /// A route, its path keys, the key's source, a batch position, the id.
        type Pin = (WriteRoute, &'static [&'static str], KeySource, Option<usize>, &'static str);
        let cases: [Pin; 14] = [
            (WriteRoute::StartShoot, &[], IdempotencyKey, None, "a58d4179-f0eb-5f92-868f-838a268b661c"),
            (WriteRoute::Complete, &["s1"], IdempotencyKey, None, "69fa9871-5728-585b-aed5-49198dbdf6b6"),
            (WriteRoute::RegisterDevice, &[], IdempotencyKey, None, "f1cb033b-7075-53a6-b42b-292e824102b2"),
            (WriteRoute::Placement, &["d1"], IdempotencyKey, None, "43f5fe1d-7c8c-56f0-92da-981dafeb207b"),
            (WriteRoute::Join, &["s1"], IdempotencyKey, None, "a3ada608-58fd-5ef3-b940-0640b60d6cc9"),
            (WriteRoute::DirectorEvents, &["s1"], IdempotencyKey, Some(0), "8ca5169f-c0f2-50db-b133-0fe510a35ed1"),
            (WriteRoute::StillMarker, &["s1"], IdempotencyKey, None, "dc1efd3c-c2e7-5366-8a72-8ac6aa8f33d4"),
            (WriteRoute::StillUploaded, &[], IdempotencyKey, None, "e1e3ef73-5a64-53ab-af1f-2a388835b7d1"),
            (WriteRoute::LiveDirector, &[], IdempotencyKey, None, "76d4751d-7021-5c7d-97c0-96d3fcba6231"),
            (WriteRoute::RetireDevice, &["d1"], IdempotencyKey, None, "577ecdf7-d9ce-5037-84f3-cee89d820971"),
            (WriteRoute::ReinstateDevice, &["d1"], IdempotencyKey, None, "41ae9eca-af7f-586d-9d3a-8fb9c4e54225"),
            (WriteRoute::RenameDevice, &["d1"], IdempotencyKey, None, "8e0612d3-450d-5a71-9704-2b7842612f03"),
            (WriteRoute::ResolveClash, &[], IdempotencyKey, None, "0894dc73-b18f-5e82-9f23-925434ea196f"),
            (
                WriteRoute::ReplaceCameraDevice,
                &["s1", "B"],
                IdempotencyKey,
                None,
                "dfa15db6-d749-59ed-a283-bd2ab428860c",
            ),
        ];
        for (route, path_keys, source, position, expected) in cases {
            let key = "k1";
            assert_eq!(route.scope_keys(path_keys).derive(source, key, position), id(expected), "{route:?}");
        }
        let webhook = WriteRoute::LiveDirector.scope(None).derive(WebhookId, "msg_1", None);
        assert_eq!(webhook, id("27bed403-eed1-5768-994f-308bf4c13b2e"));
        assert_eq!(cases.len(), WriteRoute::ALL.len(), "every route is pinned");
    }

    #[test]
    fn scopes_fill_in_the_path_key() {
        assert_eq!(WriteRoute::Join.scope(Some("s1")), IdScope("POST /v1/sessions/s1/cameras".into()));
        assert_eq!(WriteRoute::StartShoot.scope(None), IdScope("POST /v1/sessions".into()));
        assert_eq!(
            WriteRoute::ReplaceCameraDevice.scope_keys(&["s1", "B"]),
            IdScope("POST /v1/sessions/s1/cameras/B/replace".into())
        );
    }
}
