//! The numbers both sides share agree — the contract version, and the
//! limits both sides enforce: the Rust service's (`src/limits.rs`,
//! the domain's field rules) and the Convex functions' (`convex/limits.ts`,
//! `PLACEMENT_RANGES` in `convex/wire.ts`), read from the files the Convex
//! deployment is built from.

mod common;

use std::collections::BTreeMap;

use shootlog::domain::{PLACEMENT_NOTES_MAX, PLACEMENT_RANGES};
use shootlog::ledger::CONTRACT_VERSION;
use shootlog::limits::{LEDGER_BATCH_MAX, LEDGER_READ_PAGE, LEDGER_SETTLE_MAX, REQUEST_EVENTS_MAX};

fn convex_file(name: &str) -> String {
    let path = common::repo_root().join("convex").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `export const NAME = <integer>;` line of a file.
fn integer_constants(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("export const ")?;
            let (name, value) = rest.split_once(" = ")?;
            Some((name.trim().to_string(), value.trim().trim_end_matches(';').parse().ok()?))
        })
        .collect()
}

/// The `field: [min, max],` lines of `PLACEMENT_RANGES`.
fn convex_placement_ranges(text: &str) -> BTreeMap<String, (f64, f64)> {
    let start = text.find("export const PLACEMENT_RANGES").expect("PLACEMENT_RANGES in wire.ts");
    let body = &text[start..];
    let body = &body[body.find("= {").expect("its object") + 3..body.find("};").expect("its end")];
    body.lines()
        .filter_map(|line| {
            let (field, range) = line.trim().split_once(':')?;
            let range = range.trim().trim_end_matches(',').trim_start_matches('[').trim_end_matches(']');
            let (lo, hi) = range.split_once(',')?;
            Some((field.trim().to_string(), (lo.trim().parse().ok()?, hi.trim().parse().ok()?)))
        })
        .collect()
}

#[test]
fn batch_sizes_agree() {
    let convex = integer_constants(&convex_file("limits.ts"));
    assert_eq!(convex.get("MAX_BATCH"), Some(&u64::from(LEDGER_BATCH_MAX)), "ledger batch: {convex:?}");
    assert!(REQUEST_EVENTS_MAX as u64 <= u64::from(LEDGER_BATCH_MAX), "a request's batch fits one ledger call");
}

#[test]
fn settle_rounds_fit_the_ledger() {
    // `ingest:settle` takes 1..=MAX_BATCH event ids.
    let convex = integer_constants(&convex_file("limits.ts"));
    assert_eq!(convex.get("MAX_BATCH"), Some(&u64::from(LEDGER_SETTLE_MAX)), "settle ids: {convex:?}");
}

#[test]
fn read_pages_agree() {
    let convex = integer_constants(&convex_file("limits.ts"));
    assert_eq!(convex.get("READ_PAGE_MAX"), Some(&u64::from(LEDGER_READ_PAGE)), "paged reads: {convex:?}");
}

#[test]
fn event_ids_fit_the_ledger() {
    let convex = integer_constants(&convex_file("limits.ts"));
    let uuid_len = "6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10".len() as u64;
    assert!(convex.get("EVENT_ID_MAX").is_some_and(|max| *max >= uuid_len), "{convex:?}");
}

#[test]
fn placement_rules_agree() {
    let convex = integer_constants(&convex_file("limits.ts"));
    assert_eq!(convex.get("PLACEMENT_NOTES_MAX"), Some(&(PLACEMENT_NOTES_MAX as u64)));
    let theirs = convex_placement_ranges(&convex_file("wire.ts"));
    let ours: BTreeMap<String, (f64, f64)> =
        PLACEMENT_RANGES.iter().map(|r| (r.field.to_string(), (r.min, r.max))).collect();
    assert_eq!(ours.len(), 10);
    assert_eq!(ours, theirs, "placement ranges, Rust (left) and Convex (right)");
}

#[test]
fn contract_versions_agree() {
    let convex = integer_constants(&convex_file("contract.ts"));
    assert_eq!(convex.get("CONTRACT_VERSION"), Some(&u64::from(CONTRACT_VERSION)), "{convex:?}");
}

#[test]
fn rejection_codes_agree() {
    let wire = convex_file("wire.ts");
    let start = wire.find("export const rejectionCode = v.union(").expect("rejectionCode in wire.ts");
    let body = &wire[start..start + wire[start..].find(");").expect("its end")];
    let theirs: std::collections::BTreeSet<&str> =
        body.split("v.literal(\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    let ours: std::collections::BTreeSet<&str> = shootlog::api::error::REJECTION_CODES
        .iter()
        .map(|(code, _)| *code)
        .filter(|code| *code != shootlog::forwarder::LEDGER_EXCEPTION)
        .collect();
    assert_eq!(theirs.len(), 17);
    assert_eq!(ours, theirs, "rejection codes, Rust (left) and Convex (right)");
}

#[test]
fn the_read_names_are_the_ledgers_queries() {
    let ledger = convex_file("ledger.ts");
    let theirs: std::collections::BTreeSet<String> = ledger
        .lines()
        .filter_map(|l| l.strip_prefix("export const "))
        .filter(|l| l.contains("= internalQuery("))
        .filter_map(|l| l.split_whitespace().next())
        .map(|name| format!("ledger:{name}"))
        .collect();
    for name in shootlog::ledger::reads::ALL {
        assert!(theirs.contains(name), "{name} is not an internal query of convex/ledger.ts: {theirs:?}");
    }
}
