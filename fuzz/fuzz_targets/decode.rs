//! Feeds arbitrary bytes to every write route's decoding path
//! (`shootlog::api::decode::decode`): the first byte picks the route, the
//! rest is the body.
//!
//! Invariants:
//! - it never panics;
//! - an accepted body yields at least one event; each re-serializes to JSON,
//!   reads back as an event of the same kind, and passes `validate_event`;
//! - a refused body is a problem document with status 400, 413, 415 or 422,
//!   whose `status` matches its code, and a 422 names at least one field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shootlog::api::decode::decode;
use shootlog::api::write_routes::WriteRoute;
use shootlog::domain::{Event, validate_event};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else { return };
    let route = WriteRoute::ALL[first as usize % WriteRoute::ALL.len()];
    match decode(route, body) {
        Ok(events) => {
            assert!(!events.is_empty(), "{route:?}: accepted a body without events");
            for event in &events {
                let json = serde_json::to_value(event)
                    .unwrap_or_else(|e| panic!("{route:?}: {event:?} does not serialize: {e}"));
                let back: Event = serde_json::from_value(json.clone())
                    .unwrap_or_else(|e| panic!("{route:?}: {json} does not read back: {e}"));
                assert_eq!(back.kind(), event.kind(), "{route:?}: kind changed through JSON");
                let violations = validate_event(event, "");
                assert!(violations.is_empty(), "{route:?}: accepted {event:?} with violations {violations:?}");
                let again = validate_event(&back, "");
                assert!(again.is_empty(), "{route:?}: {json} read back with violations {again:?}");
            }
        }
        Err(problem) => {
            assert!(
                matches!(problem.status, 400 | 413 | 415 | 422),
                "{route:?}: unexpected status {} ({}: {})",
                problem.status,
                problem.code,
                problem.detail
            );
            let json = serde_json::to_value(&problem).expect("a problem serializes");
            assert_eq!(json["status"], problem.status);
            if problem.status == 422 {
                assert!(!problem.errors.is_empty(), "{route:?}: a 422 names no field: {}", problem.detail);
            }
        }
    }
});
