//! The OpenAPI document: the checked-in `openapi/openapi.json` is what the
//! code generates, the real server serves exactly that, every route the
//! router serves is documented, and what the real server answers — to good
//! and to bad requests — is what the document says it answers.
//!
//! Refresh the checked-in document after an API change with
//! `UPDATE_OPENAPI=1 cargo test --test openapi` (or
//! `cargo run -q -- openapi > openapi/openapi.json`).

mod common;

use std::collections::BTreeSet;

use common::{Resp, Server, repo_root};
use reqwest::Method;
use serde_json::{Value, json};

/// Every route the router (`src/api/mod.rs`) serves, besides Swagger UI's own
/// `/docs` and `/openapi.json`. Keep in step with the router: the tests below
/// check that the document has exactly these operations and that the real
/// server answers each of them.
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/sessions"),
    ("GET", "/v1/sessions/{sessionKey}"),
    ("POST", "/v1/sessions/{sessionKey}/complete"),
    ("POST", "/v1/sessions/{sessionKey}/cameras"),
    ("POST", "/v1/sessions/{sessionKey}/director-events"),
    ("POST", "/v1/sessions/{sessionKey}/stills"),
    ("GET", "/v1/sessions/{sessionKey}/journal"),
    ("GET", "/v1/sessions"),
    ("GET", "/v1/sessions/{sessionKey}/events"),
    ("GET", "/v1/sessions/{sessionKey}/stills"),
    ("GET", "/v1/sessions/{sessionKey}/placements"),
    ("GET", "/v1/sessions/{sessionKey}/cameras"),
    ("POST", "/v1/sessions/{sessionKey}/cameras/{cameraKey}/replace"),
    ("POST", "/v1/devices"),
    ("GET", "/v1/devices"),
    ("GET", "/v1/devices/{deviceId}"),
    ("POST", "/v1/devices/{deviceId}/retire"),
    ("POST", "/v1/devices/{deviceId}/reinstate"),
    ("POST", "/v1/devices/{deviceId}/rename"),
    ("GET", "/v1/clashes"),
    ("POST", "/v1/clashes/resolve"),
    ("PUT", "/v1/devices/{deviceId}/placement"),
    ("POST", "/v1/callbacks/still-upload"),
    ("POST", "/v1/webhooks/live-director"),
    ("GET", "/v1/events/{eventId}"),
    ("GET", "/v1/clock"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/version"),
    ("GET", "/metrics"),
];

/// Statuses every write documents as `application/problem+json`.
const WRITE_PROBLEMS: &[&str] = &["400", "413", "415", "422", "503"];

const REFRESH: &str = "UPDATE_OPENAPI=1 cargo test --test openapi";

fn spec_path() -> std::path::PathBuf {
    repo_root().join("openapi/openapi.json")
}

/// The code's document, pretty-printed as `shootlog openapi` prints it.
fn code_spec_text() -> String {
    shootlog::api::openapi().to_pretty_json().expect("the OpenAPI document serializes")
}

fn code_spec() -> Value {
    serde_json::from_str(&code_spec_text()).expect("the OpenAPI document is JSON")
}

/// The operation object of `method template`.
fn operation<'a>(spec: &'a Value, method: &str, template: &str) -> &'a Value {
    let op = &spec["paths"][template][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {template} is not in the OpenAPI document");
    op
}

// ---------------------------------------------------------------------------
// (a) freshness

#[test]
fn checked_in_spec_is_fresh() {
    let code = code_spec_text();
    let path = spec_path();
    let file = std::fs::read_to_string(&path).unwrap_or_default();
    if file.trim_end_matches('\n') == code.trim_end_matches('\n') {
        return;
    }
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).expect("create openapi/");
        std::fs::write(&path, format!("{code}\n")).expect("write openapi/openapi.json");
        eprintln!("rewrote {}", path.display());
        return;
    }
    let first_diff = file
        .lines()
        .zip(code.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("first difference at line {}:\n  checked in: {a}\n  code:       {b}", i + 1))
        .unwrap_or_else(|| {
            format!("one is a prefix of the other ({} vs {} lines)", file.lines().count(), code.lines().count())
        });
    panic!(
        "openapi/openapi.json is stale: it is not what the code generates.\n{first_diff}\n\
         Refresh it with `{REFRESH}` (or `cargo run -q -- openapi > openapi/openapi.json`), \
         review the diff, and commit it."
    );
}

// ---------------------------------------------------------------------------
// (b) the served document

#[tokio::test]
async fn served_spec_is_the_code_spec() {
    let s = Server::start().await;
    let r = s.get("/openapi.json").await;
    assert_eq!(r.status, 200, "GET /openapi.json: {:#}", r.body);
    assert!(r.content_type().starts_with("application/json"), "content type {:?}", r.content_type());
    assert!(r.body == code_spec(), "the served /openapi.json differs from shootlog::api::openapi()");
}

// ---------------------------------------------------------------------------
// (c) structure

#[test]
fn documents_exactly_the_served_routes() {
    let spec = code_spec();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                documented.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "routes the router serves but the OpenAPI document lacks: {missing:?}");
    assert!(
        extra.is_empty(),
        "operations in the OpenAPI document that ROUTES (tests/openapi.rs) does not list: {extra:?} — \
         add them to ROUTES if the router serves them"
    );
}

#[test]
fn every_write_documents_its_body_and_problems() {
    let spec = code_spec();
    let mut failures = Vec::new();
    for (method, template) in ROUTES.iter().filter(|(m, _)| *m != "GET") {
        let op = operation(&spec, method, template);
        let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
        if !body_schema.is_object() {
            failures.push(format!("{method} {template}: no application/json request body schema"));
        }
        for status in WRITE_PROBLEMS {
            let resp = &op["responses"][*status];
            if !resp.is_object() {
                failures.push(format!("{method} {template}: {status} is not documented"));
                continue;
            }
            let schema = &resp["content"]["application/problem+json"]["schema"];
            if schema["$ref"] != "#/components/schemas/Problem" {
                failures.push(format!(
                    "{method} {template}: {status} is not documented as application/problem+json Problem"
                ));
            }
        }
        if !op["responses"].as_object().unwrap().keys().any(|k| k.starts_with('2')) {
            failures.push(format!("{method} {template}: no 2xx response"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn document_is_well_formed() {
    let spec = code_spec();
    let mut failures = Vec::new();

    // Every $ref points at a schema that exists.
    let schemas = spec["components"]["schemas"].as_object().cloned().unwrap_or_default();
    let mut refs = BTreeSet::new();
    collect_refs(&spec, &mut refs);
    for r in &refs {
        match r.strip_prefix("#/components/schemas/") {
            Some(name) if schemas.contains_key(name) => {}
            _ => {
                failures.push(format!("dangling $ref {r} (register the type in #[openapi(components(schemas(...)))])"))
            }
        }
    }

    let tags: BTreeSet<&str> =
        spec["tags"].as_array().map(|a| a.iter().filter_map(|t| t["name"].as_str()).collect()).unwrap_or_default();
    let mut operation_ids = BTreeSet::new();
    for (method, template) in ROUTES {
        let op = operation(&spec, method, template);
        match op["operationId"].as_str() {
            Some(id) if operation_ids.insert(id.to_string()) => {}
            Some(id) => failures.push(format!("{method} {template}: operationId {id} is not unique")),
            None => failures.push(format!("{method} {template}: no operationId")),
        }
        let op_tags: Vec<&str> =
            op["tags"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        if op_tags.is_empty() || op_tags.iter().any(|t| !tags.contains(t)) {
            failures.push(format!("{method} {template}: tags {op_tags:?} are not among the declared tags {tags:?}"));
        }
        // Every `{param}` of the path is a required path parameter, and no
        // other path parameter is declared.
        let in_template: BTreeSet<&str> =
            template.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(|a| a.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        if in_template != declared {
            failures.push(format!("{method} {template}: path parameters {declared:?}, the path has {in_template:?}"));
        }
        for p in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path") {
            if p["required"] != true {
                failures.push(format!("{method} {template}: path parameter {} is not required", p["name"]));
            }
        }
        // Every operation says how to authenticate: the open ones with an
        // empty requirement (no credentials), the others with the bearer
        // scheme among theirs.
        let open = ["/healthz", "/readyz", "/v1/clock"].contains(template);
        let security = &op["security"];
        let ok = if open {
            *security == serde_json::json!([{}])
        } else {
            security.as_array().is_some_and(|a| a.iter().any(|r| r.get("bearer").is_some()))
        };
        if !ok {
            failures.push(format!("{method} {template}: security {security} (open route: {open})"));
        }
        // Every operation teaches: a summary, and a description with an
        // example of its use.
        if op["summary"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{method} {template}: no summary"));
        }
        if !op["description"].as_str().is_some_and(|d| d.contains("Example:")) {
            failures.push(format!("{method} {template}: the description gives no example"));
        }
        for (status, resp) in op["responses"].as_object().unwrap() {
            if resp["description"].as_str().is_none_or(str::is_empty) {
                failures.push(format!("{method} {template}: response {status} has no description"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// (c) live responses conform

/// Fills a path template with sample values.
fn concrete(template: &str) -> String {
    template
        .replace("{sessionKey}", "shoot-oas")
        .replace("{deviceId}", "ipad-oas")
        .replace("{eventId}", "6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10")
}

/// Each route the router serves answers (not the 404 of an unknown route,
/// not a 405).
#[tokio::test]
async fn router_serves_every_documented_route() {
    let s = Server::start().await;
    for (method, template) in ROUTES {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let r = s.raw(m, &concrete(template), Some("application/json"), b"{}".to_vec()).await;
        assert_ne!(r.status, 405, "{method} {template}: 405 {:#}", r.body);
        assert!(
            !(r.status == 404 && r.body["detail"] == "no such route"),
            "{method} {template} is documented but the router does not serve it: {:#}",
            r.body
        );
    }
}

/// One live request and what the service must answer.
struct Case {
    method: &'static str,
    template: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    expect: u16,
}

fn case(method: &'static str, template: &'static str, ct: Option<&'static str>, body: Vec<u8>, expect: u16) -> Case {
    Case { method, template, path: concrete(template), content_type: ct, body, expect }
}

fn json_case(method: &'static str, template: &'static str, body: Value, expect: u16) -> Case {
    case(method, template, Some("application/json"), serde_json::to_vec(&body).unwrap(), expect)
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test]
async fn live_responses_are_documented() {
    let spec = code_spec();
    let s = Server::start().await;
    let big = |n: usize| {
        let mut v = br#"{"sessionKey":"shoot-oas","title":""#.to_vec();
        v.extend(std::iter::repeat_n(b'x', n));
        v.extend(br#""}"#);
        v
    };
    let cases = vec![
        // Good requests.
        json_case("POST", "/v1/sessions", json!({"sessionKey": "shoot-oas", "title": "Spec check"}), 202),
        json_case(
            "POST",
            "/v1/devices",
            json!({"deviceId": "ipad-oas", "name": "iPad (B cam)", "platform": "ipados"}),
            202,
        ),
        json_case(
            "POST",
            "/v1/sessions/{sessionKey}/cameras",
            json!({"deviceId": "ipad-oas", "cameraKey": "B", "role": "wide"}),
            202,
        ),
        json_case(
            "POST",
            "/v1/sessions/{sessionKey}/director-events",
            json!({"events": [{"type": "cut", "cameraKey": "B", "fromCameraKey": "A"},
                              {"type": "note", "text": "lovely"}]}),
            202,
        ),
        json_case(
            "POST",
            "/v1/sessions/{sessionKey}/director-events",
            json!({"type": "marker", "label": "take 2"}),
            202,
        ),
        case("POST", "/v1/sessions/{sessionKey}/complete", None, Vec::new(), 202),
        case("GET", "/v1/sessions/{sessionKey}/journal", None, Vec::new(), 200),
        case("GET", "/v1/clock", None, Vec::new(), 200),
        case("GET", "/healthz", None, Vec::new(), 200),
        case("GET", "/readyz", None, Vec::new(), 200),
        case("GET", "/version", None, Vec::new(), 200),
        case("GET", "/metrics", None, Vec::new(), 200),
        // Malformed JSON: 400.
        case("POST", "/v1/sessions", JSON, b"{\"sessionKey\": ".to_vec(), 400),
        case("POST", "/v1/webhooks/live-director", JSON, b"[".to_vec(), 400),
        case("PUT", "/v1/devices/{deviceId}/placement", JSON, b"{,}".to_vec(), 400),
        // Not JSON: 415.
        case("POST", "/v1/sessions", Some("text/plain"), b"sessionKey=shoot-oas".to_vec(), 415),
        case("POST", "/v1/devices", None, b"{}".to_vec(), 415),
        case("POST", "/v1/callbacks/still-upload", Some("application/xml"), b"<still/>".to_vec(), 415),
        // Too large: 413 (32 KiB for one event, 500 KiB for a batch route).
        case("POST", "/v1/sessions", JSON, big(40 * 1024), 413),
        case("POST", "/v1/sessions/{sessionKey}/director-events", JSON, big(600 * 1024), 413),
        // Invalid fields: 422.
        json_case("POST", "/v1/sessions", json!({"sessionKey": ""}), 422),
        json_case("POST", "/v1/devices", json!({}), 422),
        json_case("PUT", "/v1/devices/{deviceId}/placement", json!({"placement": {"panDeg": 999}}), 422),
        json_case("POST", "/v1/sessions/{sessionKey}/cameras", json!({"cameraKey": 7}), 422),
        json_case("POST", "/v1/sessions/{sessionKey}/director-events", json!({"type": "no_such_type"}), 422),
        json_case("POST", "/v1/sessions/{sessionKey}/director-events", json!({"events": []}), 422),
        json_case("POST", "/v1/sessions/{sessionKey}/stills", json!({"stillId": ""}), 422),
        json_case("POST", "/v1/callbacks/still-upload", json!({}), 422),
        json_case("POST", "/v1/webhooks/live-director", json!({"type": "shoot.started"}), 422),
        // Reads.
        case("GET", "/v1/events/{eventId}", None, Vec::new(), 404),
        Case { path: "/v1/events/not-a-uuid".into(), ..case("GET", "/v1/events/{eventId}", None, Vec::new(), 422) },
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let r = if c.body.len() > 64 * 1024 {
            // The service answers 413 before it reads such a body; hyper's
            // client (reqwest) reports an early answer as a broken
            // connection, so this one goes over a plain socket.
            raw_http(&s.base, c.method, &c.path, c.content_type, &c.body).await
        } else {
            let m = Method::from_bytes(c.method.as_bytes()).unwrap();
            s.raw(m, &c.path, c.content_type, c.body.clone()).await
        };
        let what = format!("{} {} (as {})", c.method, c.path, c.template);
        if r.status != c.expect {
            failures.push(format!("{what}: expected {}, got {}: {:#}", c.expect, r.status, r.body));
        }
        failures.extend(conformance(&spec, c.method, c.template, &r).into_iter().map(|f| format!("{what}: {f}")));
    }
    assert!(
        failures.is_empty(),
        "{} of {} live requests do not conform:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// An HTTP/1.1 request over a plain socket: the whole body is offered while
/// the answer is read, so an early answer (413 before the body is read) is
/// seen as a client would see it.
async fn raw_http(base: &str, method: &str, path: &str, ct: Option<&str>, body: &[u8]) -> Resp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").trim_end_matches('/').to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = ct {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    // The server may stop reading (and close) once it has answered.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&request).await;
        let _ = wr.shutdown().await;
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to {method} {path} within 30 s");
    writer.abort();
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, payload) =
        text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer to {method} {path}: {text:?}"));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head:?}"));
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(v.trim()),
            )
        {
            headers.append(k, v);
        }
    }
    assert!(
        !headers.get("transfer-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"))
            && !headers.contains_key("content-encoding"),
        "raw_http reads only plain, unchunked answers: {head}"
    );
    let body = serde_json::from_str(payload).unwrap_or_else(|_| Value::String(payload.to_string()));
    Resp { status, headers, body }
}

/// Whether a live response is one the document describes for the operation:
/// the status is documented, the content type is a documented one, and the
/// body fits the documented schema.
fn conformance(spec: &Value, method: &str, template: &str, r: &Resp) -> Vec<String> {
    let op = operation(spec, method, template);
    let status = r.status.to_string();
    let responses = &op["responses"];
    let doc = [status.as_str(), &format!("{}XX", &status[..1]), "default"]
        .into_iter()
        .map(|k| &responses[k])
        .find(|v| v.is_object());
    let Some(doc) = doc else {
        let documented: Vec<&String> = responses.as_object().map(|m| m.keys().collect()).unwrap_or_default();
        return vec![format!("status {status} is not documented (documented: {documented:?}); body {:#}", r.body)];
    };
    let Some(content) = doc["content"].as_object().filter(|c| !c.is_empty()) else {
        return Vec::new();
    };
    let essence = |ct: &str| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let actual = essence(r.content_type());
    let Some((_, media)) = content.iter().find(|(ct, _)| essence(ct) == actual) else {
        let documented: Vec<&String> = content.keys().collect();
        return vec![format!("{status} answered {actual:?}, documented {documented:?}")];
    };
    let mut errors = Vec::new();
    if actual.ends_with("json") {
        validate(spec, &media["schema"], &r.body, "", &mut errors, 0);
    }
    errors.into_iter().map(|e| format!("{status} body does not fit its schema: {e}; body {:#}", r.body)).collect()
}

/// A small JSON Schema (OpenAPI 3.1) check: `$ref`, `type`, `enum`,
/// `required`, `properties`, `additionalProperties: false`, `items`,
/// `oneOf`/`anyOf` (at least one fits), `allOf`, and numeric and length
/// bounds. Formats and patterns are not checked.
fn validate(spec: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        let target = &spec["components"]["schemas"][name];
        if target.is_null() {
            errors.push(format!("{at}: $ref {r} does not resolve"));
            return;
        }
        validate(spec, target, v, at, errors, depth + 1);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = |t: &str| match t {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            "number" => v.is_number(),
            "string" => v.is_string(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => true,
        };
        if !types.is_empty() && !types.iter().any(|t| fits(t)) {
            errors.push(format!("{at}: {v} is not of type {types:?}"));
            return;
        }
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(v)
    {
        errors.push(format!("{at}: {v} is not one of {options:?}"));
    }
    for (key, n) in [("minimum", 1.0), ("maximum", -1.0)] {
        if let (Some(bound), Some(x)) = (schema[key].as_f64(), v.as_f64())
            && (x - bound) * n < 0.0
        {
            errors.push(format!("{at}: {x} is beyond {key} {bound}"));
        }
    }
    let len = v.as_str().map(|s| s.chars().count()).or(v.as_array().map(Vec::len));
    for (key, n) in [("minLength", 1i64), ("maxLength", -1), ("minItems", 1), ("maxItems", -1)] {
        if let (Some(bound), Some(len)) = (schema[key].as_i64(), len)
            && (len as i64 - bound) * n < 0
        {
            errors.push(format!("{at}: length {len} is beyond {key} {bound}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for req in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(req) {
                errors.push(format!("{at}: required property {req:?} is missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(spec, s, val, &format!("{at}/{k}"), errors, depth + 1),
                None if schema["additionalProperties"] == false && props.is_some() => {
                    errors.push(format!("{at}: property {k:?} is not allowed"))
                }
                None => {
                    if let Some(extra) = schema["additionalProperties"].as_object() {
                        validate(spec, &Value::Object(extra.clone()), val, &format!("{at}/{k}"), errors, depth + 1);
                    }
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            validate(spec, items, item, &format!("{at}/{i}"), errors, depth + 1);
        }
    }
    for all in schema["allOf"].as_array().into_iter().flatten() {
        validate(spec, all, v, at, errors, depth + 1);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            let mut reasons = Vec::new();
            let fits_one = options.iter().any(|o| {
                let mut e = Vec::new();
                validate(spec, o, v, at, &mut e, depth + 1);
                let ok = e.is_empty();
                reasons.extend(e);
                ok
            });
            if !fits_one {
                errors.push(format!("{at}: fits none of {key} ({})", reasons.join("; ")));
            }
        }
    }
}
