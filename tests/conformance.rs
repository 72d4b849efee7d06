//! The conformance corpus (`tests/conformance/`) against the embedded
//! ledger: every scenario's events, in timeline order, leave exactly the
//! snapshot the Convex functions leave (`convex/tests/conformance.test.ts`
//! checks the same files against them).

use std::path::{Path, PathBuf};

use serde_json::Value;
use shootlog::embedded::EmbeddedLedger;

/// The ledger clock of the corpus: 2026-01-01T00:00:00Z (`NOW` of the Convex tests).
const NOW: f64 = 1_767_225_600_000.0;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/conformance exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// A scenario: its JSON, its events, and their ids (an empty id has no receipt).
fn scenario(file: &Path) -> (Value, Vec<Value>, Vec<String>) {
    let scenario: Value = serde_json::from_str(&std::fs::read_to_string(file).expect("readable")).expect("JSON");
    let events = scenario["events"].as_array().cloned().unwrap_or_default();
    let ids =
        events.iter().filter_map(|e| e["eventId"].as_str()).filter(|id| !id.is_empty()).map(str::to_string).collect();
    (scenario, events, ids)
}

/// Equal as JSON values, numbers by value (Convex keeps every number as a float).
fn same(a: &Value, b: &Value, path: &str, diffs: &mut Vec<String>) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => same(p, q, &format!("{path}.{k}"), diffs),
                    (p, q) => diffs.push(format!("{path}.{k}: embedded {p:?}, Convex {q:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                same(p, q, &format!("{path}[{i}]"), diffs);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            diffs.push(format!("{path}: embedded has {} rows, Convex {}", x.len(), y.len()));
        }
        _ if a == b => {}
        _ => diffs.push(format!("{path}: embedded {a}, Convex {b}")),
    }
}

#[test]
fn every_scenario_of_the_corpus_leaves_the_snapshot_convex_leaves() {
    let files = corpus();
    assert!(files.len() >= 30, "the corpus has {} scenarios", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let (scenario, events, ids) = scenario(file);
        let mut ledger = EmbeddedLedger::in_memory().expect("ledger");
        ledger.apply(&events, NOW).expect("applies");
        if scenario["settle"].as_bool() == Some(true) {
            for chunk in ids.chunks(500) {
                ledger.settle(chunk, 0.0, NOW).expect("settles");
            }
        }
        let got = ledger.snapshot(&ids).expect("snapshot");
        let mut diffs = Vec::new();
        same(&got, &scenario["expected"], &name, &mut diffs);
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n  {}", diffs.iter().take(12).cloned().collect::<Vec<_>>().join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} scenarios differ:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn applied_one_event_at_a_time_the_corpus_leaves_the_same_snapshots() {
    for file in corpus() {
        let (_, events, ids) = scenario(&file);
        let mut whole = EmbeddedLedger::in_memory().expect("ledger");
        whole.apply(&events, NOW).expect("applies");
        let mut single = EmbeddedLedger::in_memory().expect("ledger");
        for e in &events {
            single.apply(std::slice::from_ref(e), NOW).expect("applies");
        }
        assert_eq!(single.snapshot(&ids).expect("snapshot"), whole.snapshot(&ids).expect("snapshot"), "{file:?}");
    }
}

#[test]
fn both_sides_leave_the_same_fields_out_of_a_snapshot() {
    let ts = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("convex/tests/snapshot.helpers.ts"))
        .expect("snapshot.helpers.ts");
    let start = ts.find("const ASIDE = new Set([").expect("the ASIDE list");
    let end = start + ts[start..].find("]);").expect("its end");
    let listed: Vec<&str> = ts[start..end].split('"').skip(1).step_by(2).collect();
    assert_eq!(listed, shootlog::embedded::SNAPSHOT_ASIDE);
}
