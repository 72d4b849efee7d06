//! `/metrics` after a scripted shoot against the stand-in ledger, read by a
//! strict OpenMetrics parser — Python's `prometheus_client` (the reference
//! client's `openmetrics.parser`, installed by `.ci/test`): the exposition
//! parses, every metric the README lists is there with its type, nothing
//! unlisted is, and the values fit the shoot.
//!
//! (A Rust parser crate would spare the install, but `prometheus-parse`
//! reads only the 0.0.4 format and drops a sample whose label value holds a
//! `{`, as route templates do.)

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{Options, Server, Standin, eventually};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: [(&str, &str); 1] = [("prefer", "wait=20")];
const SESSION: &str = "shoot-metrics-7f3a";

/// Parses the exposition; fails on anything the OpenMetrics parser refuses.
const PARSER: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = [{"name": f.name, "type": f.type,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
       for f in text_string_to_metric_families(sys.stdin.read())]
json.dump(out, sys.stdout, default=str)
"#;

/// The families of the exposition, by name: (type, samples).
struct Scrape(BTreeMap<String, (String, Vec<Value>)>);

fn parse(text: &str) -> Scrape {
    let python = std::env::var("SHOOTLOG_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the exposition (pip install prometheus-client?):\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Vec<Value> = serde_json::from_slice(&out.stdout).expect("parser output");
    Scrape(
        families
            .into_iter()
            .map(|f| {
                let name = f["name"].as_str().unwrap_or("").to_string();
                let samples = f["samples"].as_array().cloned().unwrap_or_default();
                (name, (f["type"].as_str().unwrap_or("").to_string(), samples))
            })
            .collect(),
    )
}

/// The metric names the README's operations section lists, one a line,
/// with their type.
fn documented() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).expect("README.md");
    let section = readme.split("## Operations: metrics and alerts").nth(1).expect("the operations section");
    let section = section.split("\n## ").next().unwrap_or("");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `shootlog_"))
        .map(|l| {
            let name = format!("shootlog_{}", l.split(['`', '{']).next().unwrap_or(""));
            let kind = l.split(" (").nth(1).and_then(|k| k.split(')').next()).unwrap_or("").to_string();
            (name, kind)
        })
        .collect()
}

/// The family a documented name belongs to: a counter's sample name ends
/// in `_total`, its family's does not.
fn family(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn samples<'a>(scrape: &'a Scrape, sample: &str, labels: &[(&str, &str)]) -> Vec<&'a Value> {
    scrape
        .0
        .values()
        .flat_map(|(_, s)| s)
        .filter(|s| s["name"] == sample && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect()
}

fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, name, labels);
    assert_eq!(found.len(), 1, "one sample {name}{labels:?}: {found:?}");
    found[0]["value"].as_f64().unwrap_or_else(|| panic!("{name}: {}", found[0]))
}

/// The observations of a histogram (its `_count`). The parser has checked
/// that the buckets are cumulative and that `+Inf` equals `_count`.
fn observations(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    assert_eq!(scrape.0.get(name).map(|f| f.0.as_str()), Some("histogram"), "{name}");
    let mut inf = labels.to_vec();
    inf.push(("le", "+Inf"));
    let count = value(scrape, &format!("{name}_count"), labels);
    assert_eq!(value(scrape, &format!("{name}_bucket"), &inf), count);
    assert!(value(scrape, &format!("{name}_sum"), labels) >= 0.0);
    count
}

async fn shoot(s: &Server) {
    let w = |method: Method, path: String, body: serde_json::Value| async move { s.send(method, &path, &body, &WAIT).await };
    let r = w(Method::POST, "/v1/sessions".into(), json!({"sessionKey": SESSION, "title": "Metrics"})).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    for id in ["ipad-m", "iphone-m"] {
        let r = w(Method::POST, "/v1/devices".into(), json!({"deviceId": id, "name": id, "platform": "ios"})).await;
        assert_eq!(r.status, 201, "{:#}", r.body);
    }
    for (id, cam) in [("ipad-m", "A"), ("iphone-m", "B")] {
        let r = w(
            Method::POST,
            format!("/v1/sessions/{SESSION}/cameras"),
            json!({"deviceId": id, "cameraKey": cam, "role": "wide"}),
        )
        .await;
        assert_eq!(r.status, 201, "{:#}", r.body);
    }
    let batch = json!({"events": [
        {"type": "cut", "cameraKey": "A"},
        {"type": "cut", "cameraKey": "B", "fromCameraKey": "A"},
        {"type": "marker", "label": "m"},
    ]});
    let r = w(Method::POST, format!("/v1/sessions/{SESSION}/director-events"), batch).await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    // Two waiting (contract 2): a camera not in the session, a hold never
    // opened; they answer 202.
    let r =
        w(Method::POST, format!("/v1/sessions/{SESSION}/director-events"), json!({"type": "cut", "cameraKey": "Z"}))
            .await;
    assert_eq!((r.status, &r.body["status"]), (202, &json!("waiting")), "{:#}", r.body);
    let r =
        w(Method::POST, format!("/v1/sessions/{SESSION}/director-events"), json!({"type": "hold_end", "holdId": "h"}))
            .await;
    assert_eq!((r.status, &r.body["status"]), (202, &json!("waiting")), "{:#}", r.body);
    // One rejection, at once: a device that already holds a camera of the
    // session joins it again under another key.
    let r = w(
        Method::POST,
        format!("/v1/sessions/{SESSION}/cameras"),
        json!({"deviceId": "iphone-m", "cameraKey": "C", "role": "wide"}),
    )
    .await;
    r.assert_problem(409, "device_already_in_session");
    assert_eq!(s.get(&format!("/v1/sessions/{SESSION}")).await.status, 200);
    assert_eq!(s.get("/no/such/route/for-metrics").await.status, 404);
    eventually(20, "the backlog to drain", || async { (s.backlog().await == 0).then_some(()) }).await;
}

#[tokio::test]
async fn metrics_after_a_shoot_are_every_documented_family_with_plausible_values() {
    let standin = Standin::start().await;
    let s = Server::start_with(Options { convex_url: Some(standin.url.clone()), ..Options::default() }).await;
    shoot(&s).await;

    let r = s.client.get(s.url("/metrics")).send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let text = r.text().await.expect("body");
    let scrape = parse(&text);

    // Every documented family is exposed with its type, and every exposed
    // one documented.
    let documented = documented();
    assert!(documented.len() >= 36, "{documented:?}");
    let exposed: BTreeMap<&str, &str> = scrape.0.iter().map(|(n, (t, _))| (n.as_str(), t.as_str())).collect();
    let expected: BTreeMap<&str, &str> = documented.iter().map(|(n, t)| (family(n), t.as_str())).collect();
    assert_eq!(exposed, expected, "exposed vs the README's list");

    // No label value is a raw path, a session key or a device id.
    for sample in scrape.0.values().flat_map(|(_, s)| s) {
        for (k, v) in sample["labels"].as_object().into_iter().flatten() {
            let v = v.as_str().unwrap_or("");
            assert!(!v.contains(SESSION) && !v.contains("ipad-m") && !v.contains("for-metrics"), "{k}={v}");
        }
    }

    // The shoot: 1 session, 2 devices, 2 cameras, 3 director events, 2
    // waiting events, 1 rejected join = 11 events, none pending.
    assert_eq!(value(&scrape, "shootlog_events_accepted_total", &[]), 11.0);
    assert_eq!(value(&scrape, "shootlog_events_delivered_total", &[]), 8.0);
    assert_eq!(value(&scrape, "shootlog_events_rejected_total", &[]), 1.0);
    assert_eq!(value(&scrape, "shootlog_ledger_rejections_total", &[("code", "device_already_in_session")]), 1.0);
    assert!(value(&scrape, "shootlog_events_sent_total", &[]) >= 11.0);
    assert_eq!(value(&scrape, "shootlog_journal_backlog", &[]), 0.0);
    assert_eq!(value(&scrape, "shootlog_events_waiting", &[]), 2.0);
    assert_eq!(value(&scrape, "shootlog_journal_oldest_pending_age_seconds", &[]), 0.0);
    assert_eq!(value(&scrape, "shootlog_journal_delivered", &[]), 8.0);
    assert_eq!(value(&scrape, "shootlog_journal_rejected", &[]), 1.0);
    assert_eq!(value(&scrape, "shootlog_ledger_configured", &[]), 1.0);
    assert_eq!(value(&scrape, "shootlog_ledger_connected", &[]), 1.0);
    assert_eq!(value(&scrape, "shootlog_ledger_state", &[("state", "connected")]), 1.0);
    let states = samples(&scrape, "shootlog_ledger_state", &[]);
    assert!(states.len() > 1, "every state has a sample");
    assert_eq!(states.iter().filter_map(|s| s["value"].as_f64()).sum::<f64>(), 1.0, "one current state");
    assert_eq!(value(&scrape, "shootlog_journal_writable", &[]), 1.0);
    assert_eq!(value(&scrape, "shootlog_journal_refusals_total", &[("cause", "full")]), 0.0);
    assert!(value(&scrape, "shootlog_journal_commits", &[]) >= 2.0);
    assert!(value(&scrape, "shootlog_forwarder_ledger_seconds_total", &[]) > 0.0);

    // Histograms: delivery latency of every settled event (not the waiting
    // ones), the journal's commits (11 appended + 11 verdicts at least), the
    // ledger calls.
    assert_eq!(observations(&scrape, "shootlog_delivery_latency_seconds", &[]), 9.0);
    let commits = observations(&scrape, "shootlog_journal_commit_events", &[]);
    assert!(commits >= 2.0, "{commits}");
    assert!(value(&scrape, "shootlog_journal_commit_events_sum", &[]) >= 20.0);
    assert_eq!(observations(&scrape, "shootlog_journal_commit_duration_seconds", &[]), commits);
    let calls = observations(&scrape, "shootlog_ledger_call_duration_seconds", &[("outcome", "ok")]);
    assert!(calls >= 1.0);
    assert!(observations(&scrape, "shootlog_forwarder_batch_events", &[]) >= calls);
    assert!(value(&scrape, "shootlog_forwarder_batch_events_sum", &[]) >= 11.0);

    // HTTP: by route template, method and status.
    let requests = |route: &str, method: &str, status: &str| {
        value(&scrape, "shootlog_http_requests_total", &[("route", route), ("method", method), ("status", status)])
    };
    assert_eq!(requests("/v1/sessions", "POST", "201"), 1.0);
    assert_eq!(requests("/v1/devices", "POST", "201"), 2.0);
    assert_eq!(requests("/v1/sessions/{sessionKey}/cameras", "POST", "201"), 2.0);
    assert_eq!(requests("/v1/sessions/{sessionKey}/cameras", "POST", "409"), 1.0);
    assert_eq!(requests("/v1/sessions/{sessionKey}/director-events", "POST", "200"), 1.0);
    assert_eq!(requests("/v1/sessions/{sessionKey}/director-events", "POST", "202"), 2.0);
    assert_eq!(requests("/v1/sessions/{sessionKey}", "GET", "200"), 1.0);
    assert_eq!(requests("unmatched", "GET", "404"), 1.0);
    assert!(requests("/version", "GET", "200") >= 1.0, "the backlog was polled on /version");
    assert_eq!(observations(&scrape, "shootlog_http_request_duration_seconds", &[("route", "/v1/devices")]), 2.0);
    assert_eq!(
        observations(
            &scrape,
            "shootlog_http_request_duration_seconds",
            &[("route", "/v1/sessions/{sessionKey}/director-events")]
        ),
        3.0
    );
}
