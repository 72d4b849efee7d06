//! Operations: liveness, readiness, the deployment report, metrics, the
//! clock, request ids, unknown routes, and graceful shutdown — through the
//! real server on a loopback port, on the embedded default (no ledger).

mod common;

use std::time::Duration;

use common::{Options, Server, eventually};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn write_three(s: &Server) {
    for i in 0..3 {
        let r =
            s.post("/v1/sessions/shoot-1/director-events", &json!({"type": "marker", "label": format!("m{i}")})).await;
        assert_eq!(r.status, 202, "{:#}", r.body);
    }
}

/// The value of an unlabelled Prometheus sample.
fn sample(text: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no sample {name} in:\n{text}"));
    line[prefix.len()..].trim().parse().unwrap_or_else(|_| panic!("sample {line:?}"))
}

async fn metrics(s: &Server) -> String {
    let r = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    r.text().await.unwrap()
}

#[tokio::test]
async fn healthz_says_ok() {
    let s = Server::start().await;
    let r = s.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_reports_the_journal_the_ledger_and_the_backlog() {
    let s = Server::start().await;
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 200);
    let mut body = r.body.clone();
    let storage = body.as_object_mut().and_then(|b| b.remove("storage")).expect("storage");
    assert_eq!(
        body,
        json!({"status": "ready", "journal": "ok", "ledger": "none", "ledgerReason": "no ledger is configured (CONVEX_URL unset)", "backlog": 0, "waiting": 0, "draining": false})
    );
    assert_eq!(storage["writable"], true, "{storage:#}");
    assert!(storage.get("fault").is_none(), "{storage:#}");
    assert_eq!(storage["reserveBytes"], 64 << 20, "the default reserve: {storage:#}");
    assert!(storage["freeBytes"].as_u64().is_some_and(|f| f >= 64 << 20), "{storage:#}");
    assert!(storage["sizeBytes"].as_u64().is_some_and(|n| n > 0), "{storage:#}");
    write_three(&s).await;
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["backlog"], 3);
    assert_eq!(r.body["ledger"], "none");
}

#[tokio::test]
async fn version_reports_the_build_the_ledger_mode_and_the_journal() {
    let s = Server::start().await;
    write_three(&s).await;
    let r = s.get("/version").await;
    assert_eq!(r.status, 200);
    let build = &r.body["build"];
    assert_eq!(build["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(build["contractVersion"], shootlog::ledger::CONTRACT_VERSION);
    assert!(build["functionsBuildId"].as_str().is_some_and(|id| id.len() == 16), "{:#}", r.body);
    assert!(build["gitCommit"].is_string() && build["buildTime"].is_string(), "{:#}", r.body);
    let ledger = &r.body["ledger"];
    assert_eq!((&ledger["mode"], &ledger["state"], &ledger["usable"]), (&json!("none"), &json!("none"), &json!(false)));
    assert!(ledger.get("host").is_none(), "{:#}", r.body);
    let journal = &r.body["journal"];
    assert_eq!(journal["depth"], json!({"pending": 3, "waiting": 0, "delivered": 0, "rejected": 0}));
    let instance = journal["instanceId"].as_str().expect("instanceId");
    assert!(instance.len() == 16 && instance.bytes().all(|b| b.is_ascii_hexdigit()), "{:#}", r.body);
    assert_eq!(journal["path"], s.data_dir.join("journal.sqlite3").display().to_string());
    assert!(journal["oldestPendingAgeMs"].as_i64().is_some_and(|age| (0..60_000).contains(&age)), "{:#}", r.body);
    assert_eq!(journal["rejectedByCode"], json!({}));
    assert!(r.body["uptimeSeconds"].as_u64().is_some_and(|u| u < 600), "{:#}", r.body);
    // Replays and refusals do not add to the backlog.
    let id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
    for _ in 0..2 {
        s.post("/v1/sessions", &json!({"eventId": id, "sessionKey": "shoot-1", "title": "T"})).await;
    }
    s.post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": ""})).await.assert_problem(422, "invalid_fields");
    assert_eq!(s.get("/version").await.body["journal"]["depth"]["pending"], 4);
}

#[tokio::test]
async fn metrics_count_accepted_replayed_and_refused_writes() {
    let s = Server::start().await;
    let before = metrics(&s).await;
    for name in ["shootlog_events_accepted_total", "shootlog_events_replayed_total", "shootlog_requests_refused_total"]
    {
        // OpenMetrics names a counter's family without `_total`.
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(before.contains(&format!("# TYPE {family} counter")), "{before}");
        assert_eq!(sample(&before, name), 0.0, "{name}");
    }
    assert!(before.contains("# TYPE shootlog_journal_backlog gauge"));
    assert_eq!(sample(&before, "shootlog_journal_backlog"), 0.0);
    assert_eq!(sample(&before, "shootlog_ledger_configured"), 0.0);
    assert_eq!(sample(&before, "shootlog_ledger_connected"), 0.0);

    write_three(&s).await;
    let batch = json!({"events": [{"type": "note", "text": "a"}, {"type": "note", "text": "b"}]});
    let h = [("idempotency-key", "b-1")];
    assert_eq!(s.send(Method::POST, "/v1/sessions/shoot-1/director-events", &batch, &h).await.status, 202);
    assert_eq!(s.send(Method::POST, "/v1/sessions/shoot-1/director-events", &batch, &h).await.status, 202);
    let r = s.post("/v1/sessions/shoot-1/director-events", &json!({"type": "marker", "label": ""})).await;
    r.assert_problem(422, "invalid_fields");

    let after = metrics(&s).await;
    assert_eq!(sample(&after, "shootlog_events_accepted_total"), 5.0);
    assert_eq!(sample(&after, "shootlog_events_replayed_total"), 2.0);
    assert_eq!(sample(&after, "shootlog_requests_refused_total"), 1.0);
    assert_eq!(sample(&after, "shootlog_journal_backlog"), 5.0);
    assert_eq!(sample(&after, "shootlog_events_delivered_total"), 0.0);
    assert!(sample(&after, "shootlog_journal_commits") >= 1.0);
    assert_eq!(sample(&after, "shootlog_delivery_latency_seconds_count"), 0.0);
}

#[tokio::test]
async fn every_refused_write_is_counted() {
    let s = Server::start().await;
    s.post("/v1/sessions", &json!({"sessionKey": "shoot-1"})).await.assert_problem(422, "invalid_fields");
    s.raw(Method::POST, "/v1/sessions", Some("text/plain"), b"{}".to_vec())
        .await
        .assert_problem(415, "unsupported_media_type");
    let big = json!({"sessionKey": "shoot-1", "title": "T", "notes": "n".repeat(40 * 1024)});
    s.post("/v1/sessions", &big).await.assert_problem(413, "payload_too_large");
    assert_eq!(sample(&metrics(&s).await, "shootlog_requests_refused_total"), 3.0);
}

#[tokio::test]
async fn the_clock_is_now_and_never_cached() {
    let s = Server::start().await;
    let local_before = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let r = s.get("/v1/clock").await;
    let local_after = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let server = i128::from(r.body["serverTime"].as_i64().expect("serverTime"));
    assert!(
        local_before - 1000 <= server && server <= local_after + 1000,
        "{server} not in [{local_before}, {local_after}]"
    );
    let rfc = r.body["serverTimeRfc3339"].as_str().expect("serverTimeRfc3339");
    let parsed = time::OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed.unix_timestamp_nanos() / 1_000_000, server, "{rfc}");
    let again = s.get("/v1/clock").await;
    assert!(again.body["serverTime"].as_i64().unwrap() >= server as i64);
}

#[tokio::test]
async fn a_request_id_is_generated_or_propagated() {
    let s = Server::start().await;
    let a = s.get("/healthz").await;
    let b = s.get("/healthz").await;
    let id_a = a.header("x-request-id").expect("x-request-id");
    uuid::Uuid::parse_str(id_a).expect("a generated request id is a UUID");
    assert_ne!(Some(id_a), b.header("x-request-id"));

    let r = s.client.get(s.url("/healthz")).header("x-request-id", "lightroom-7f3a-0001").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "lightroom-7f3a-0001");
    // Errors carry it too.
    let r = s.send(Method::POST, "/v1/sessions", &json!({}), &[("x-request-id", "req-422")]).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.header("x-request-id"), Some("req-422"));
    let r = s.client.get(s.url("/nope")).header("x-request-id", "req-404").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "req-404");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let s = Server::start().await;
    for path in ["/nope", "/v1", "/v1/sessions/shoot-1/unknown", "/v2/sessions"] {
        let r = s.get(path).await;
        r.assert_problem(404, "not_found");
        assert_eq!(r.body["type"], "/problems/not-found", "{path}");
        assert_eq!(r.body["title"], "Not found");
    }
    let r = s.post("/v1/nope", &json!({})).await;
    r.assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let s = Server::start().await;
    let cases = [
        (Method::DELETE, "/v1/devices", "POST"),
        (Method::DELETE, "/v1/sessions", "POST"),
        (Method::POST, "/healthz", "GET"),
        (Method::POST, "/v1/events/6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10", "GET"),
        (Method::GET, "/v1/devices/ipad-1/placement", "PUT"),
    ];
    for (method, path, allow) in cases {
        let r = s.send(method.clone(), path, &json!({}), &[]).await;
        r.assert_problem(405, "method_not_allowed");
        assert_eq!(r.body["type"], "/problems/method-not-allowed");
        let got = r.header("allow").unwrap_or_else(|| panic!("{method} {path}: no Allow header"));
        assert!(got.split(',').any(|m| m.trim() == allow), "{method} {path}: Allow {got}");
    }
    assert_eq!(s.backlog().await, 0);
}

/// One HTTP/1.1 response read off a raw connection: status, headers, JSON.
fn parse_response(raw: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete response: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn sigterm_answers_the_requests_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        data_dir: Some(dir.path().to_path_buf()),
        env: vec![("RUST_LOG".into(), "info,shootlog=debug,tower_http=debug".into())],
        ..Options::default()
    };
    let s = Server::start_with(opts.clone()).await;
    let addr = s.base.trim_start_matches("http://").to_string();

    // Three writes whose head and half of the body have arrived.
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|i| json!({"sessionKey": "shoot-1", "title": format!("in flight {i}")}).to_string().into_bytes())
        .collect();
    let mut streams = Vec::new();
    for body in &bodies {
        let mut st = TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /v1/sessions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        st.write_all(head.as_bytes()).await.unwrap();
        st.write_all(&body[..body.len() / 2]).await.unwrap();
        streams.push(st);
    }
    eventually(30, "three requests in flight", || {
        let n =
            s.log().lines().filter(|l| l.contains("started processing request") && l.contains("/v1/sessions")).count();
        async move { (n == 3).then_some(()) }
    })
    .await;

    common::signal(s.pid(), "TERM");
    eventually(30, "the server to start draining", || {
        let draining = s.log().contains("shutting down: draining requests");
        async move { draining.then_some(()) }
    })
    .await;
    // No new connections are taken any more.
    eventually(30, "the listener to close", || {
        let addr = addr.clone();
        async move { TcpStream::connect(&addr).await.is_err().then_some(()) }
    })
    .await;

    let mut answers = Vec::new();
    for (st, body) in streams.iter_mut().zip(&bodies) {
        st.write_all(&body[body.len() / 2..]).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), st.read_to_end(&mut raw))
            .await
            .expect("a response in time")
            .unwrap();
        answers.push(parse_response(&raw));
    }
    let exit = s.stop().await;
    assert!(exit.success(), "exit status {exit:?}");

    for (status, head, body) in &answers {
        match status {
            202 => assert_eq!(body["type"], "start_shoot"),
            503 => {
                assert!(head.contains("retry-after:"), "{head}");
                assert_eq!(body["code"], "unavailable");
            }
            other => panic!("in-flight request answered {other}: {head}\n{body:#}"),
        }
    }
    // Whatever was acknowledged is in the journal.
    let s = Server::start_with(opts).await;
    let titles: Vec<Value> = s.journal("shoot-1").await.iter().map(|e| e["event"]["title"].clone()).collect();
    for (i, (status, _, body)) in answers.iter().enumerate() {
        let title = json!(format!("in flight {i}"));
        assert_eq!(*status == 202, titles.contains(&title), "{title}: {status} {body:#}");
        if *status == 202 {
            assert_eq!(s.event(body["eventId"].as_str().unwrap()).await.status, 200);
        }
    }
}

#[tokio::test]
async fn writes_in_flight_at_sigterm_are_journaled() {
    let opts =
        Options { env: vec![("RUST_LOG".into(), "info,shootlog=debug,tower_http=debug".into())], ..Options::default() };
    let s = Server::start_with(opts).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let body = json!({"sessionKey": "shoot-1", "title": "in flight"}).to_string().into_bytes();
    let mut st = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    st.write_all(head.as_bytes()).await.unwrap();
    st.write_all(&body[..5]).await.unwrap();
    eventually(30, "the request in flight", || {
        let n = s.log().matches("started processing request").count();
        async move { (n == 1).then_some(()) }
    })
    .await;
    common::signal(s.pid(), "TERM");
    eventually(30, "draining", || {
        let draining = s.log().contains("shutting down: draining requests");
        async move { draining.then_some(()) }
    })
    .await;
    st.write_all(&body[5..]).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), st.read_to_end(&mut raw)).await.unwrap().unwrap();
    let (status, head, problem) = parse_response(&raw);
    assert_eq!(status, 202, "{head}\n{problem:#}");
    assert!(s.stop().await.success());
}
