//! Security: only the rig can write, and bad input never hurts — through the
//! real server on a loopback port with every kind of credential configured.
//!
//! The matrix sends each protected route every kind of caller (none, a wrong
//! token, another device's token, the device's own token, the admin token, a
//! bad signature, a stale timestamp, a valid signature of the wrong sender,
//! the right sender with a replayed `webhook-id`, an oversized body) and
//! checks the documented status and code, and that a refused request
//! journals nothing (`/version` `journal.depth.pending` is unchanged and the
//! request's `eventId` is unknown to `GET /v1/events/{id}`).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Options, Resp, Server, run_to_exit};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "admin-token-security-0123456789";
const DEVICE_A: &str = "ipad-a";
const TOKEN_A: &str = "device-token-a-security-0123456789";
const DEVICE_B: &str = "ipad-b";
const TOKEN_B: &str = "device-token-b-security-0123456789";
const WRONG: &str = "wrong-token-security-0123456789";
const SESSION: &str = "shoot-sec";

/// The raw keys behind the `whsec_` secrets.
const LD_KEY: &[u8] = b"live-director-signing-key-0123456789";
const SU_KEY: &[u8] = b"still-uploader-signing-key-0123456789";
const BAD_KEY: &[u8] = b"nobody-knows-this-signing-key-01234";

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", B64.encode(key))
}

/// Every credential kind, configured through the environment.
fn credentials_env() -> Vec<(String, String)> {
    vec![
        ("SHOOTLOG_ADMIN_TOKEN".into(), ADMIN.into()),
        ("SHOOTLOG_DEVICE_TOKENS".into(), format!("{DEVICE_A}={TOKEN_A},{DEVICE_B}={TOKEN_B}")),
        ("SHOOTLOG_LIVE_DIRECTOR_SECRETS".into(), whsec(LD_KEY)),
        ("SHOOTLOG_STILL_UPLOADER_SECRETS".into(), whsec(SU_KEY)),
    ]
}

async fn start(extra: &[(&str, &str)]) -> Server {
    let mut env = credentials_env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Server::start_with(Options { env, ..Options::default() }).await
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// A Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of
/// `id.timestamp.body`, computed here independently of the service.
fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// The signing system of a route, if one may write there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    LiveDirector,
    StillUploader,
}

impl Sender {
    fn key(self) -> &'static [u8] {
        match self {
            Sender::LiveDirector => LD_KEY,
            Sender::StillUploader => SU_KEY,
        }
    }

    fn other(self) -> Sender {
        match self {
            Sender::LiveDirector => Sender::StillUploader,
            Sender::StillUploader => Sender::LiveDirector,
        }
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
enum Auth {
    None,
    Bearer(&'static str),
    /// Signed with `key`, `age_secs` ago, as message `id`.
    Signed {
        key: &'static [u8],
        age_secs: i64,
        id: String,
    },
}

impl Auth {
    fn signed(key: &'static [u8], age_secs: i64) -> Auth {
        Auth::Signed { key, age_secs, id: format!("msg_{}", uuid::Uuid::new_v4().simple()) }
    }

    fn headers(&self, body: &[u8]) -> Vec<(String, String)> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(t) => vec![("authorization".into(), format!("Bearer {t}"))],
            Auth::Signed { key, age_secs, id } => {
                let ts = now_secs() - age_secs;
                vec![
                    ("webhook-id".into(), id.clone()),
                    ("webhook-timestamp".into(), ts.to_string()),
                    ("webhook-signature".into(), signature(key, id, ts, body)),
                ]
            }
        }
    }
}

/// A protected route of the router (`src/api/mod.rs`).
struct Route {
    name: &'static str,
    method: Method,
    path: String,
    /// The body of a write, with or without a client `eventId`.
    body: Option<fn(Option<&str>) -> Value>,
    /// The journaled `type` of a write.
    kind: &'static str,
    /// Device A's own token may write here (its own events).
    device_scoped: bool,
    /// The signing system that may write here.
    sender: Option<Sender>,
}

fn with_id(mut v: Value, id: Option<&str>) -> Value {
    if let Some(id) = id {
        v["eventId"] = json!(id);
    }
    v
}

fn write_routes() -> Vec<Route> {
    let route = |name, method, path: &str, body, kind, device_scoped, sender| Route {
        name,
        method,
        path: path.to_string(),
        body: Some(body),
        kind,
        device_scoped,
        sender,
    };
    vec![
        route(
            "start shoot",
            Method::POST,
            "/v1/sessions",
            |id| with_id(json!({"sessionKey": SESSION, "title": "Security"}), id),
            "start_shoot",
            false,
            Some(Sender::LiveDirector),
        ),
        route(
            "complete",
            Method::POST,
            "/v1/sessions/shoot-sec/complete",
            |id| with_id(json!({}), id),
            "complete_session",
            false,
            Some(Sender::LiveDirector),
        ),
        route(
            "join",
            Method::POST,
            "/v1/sessions/shoot-sec/cameras",
            |id| with_id(json!({"deviceId": DEVICE_A, "cameraKey": "A", "role": "hero"}), id),
            "join_session",
            true,
            None,
        ),
        route(
            "director events",
            Method::POST,
            "/v1/sessions/shoot-sec/director-events",
            |id| with_id(json!({"type": "cut", "cameraKey": "A"}), id),
            "cut",
            false,
            Some(Sender::LiveDirector),
        ),
        route(
            "still marker",
            Method::POST,
            "/v1/sessions/shoot-sec/stills",
            |id| with_id(json!({"stillId": "still-1", "cameraKey": "A", "capturedAt": now_ms()}), id),
            "still_marker",
            false,
            Some(Sender::StillUploader),
        ),
        route(
            "register device",
            Method::POST,
            "/v1/devices",
            |id| with_id(json!({"deviceId": DEVICE_A, "name": "iPad A", "platform": "ipados"}), id),
            "register_device",
            true,
            None,
        ),
        route(
            "placement",
            Method::PUT,
            "/v1/devices/ipad-a/placement",
            |id| with_id(json!({"sessionKey": SESSION, "placement": {"x": 1.5, "panDeg": 15}}), id),
            "update_placement",
            true,
            None,
        ),
        route(
            "still uploaded",
            Method::POST,
            "/v1/callbacks/still-upload",
            |id| with_id(json!({"sessionKey": SESSION, "stillId": "still-1", "storageRef": "s3://b/still-1"}), id),
            "still_uploaded",
            false,
            Some(Sender::StillUploader),
        ),
        route(
            "live director webhook",
            Method::POST,
            "/v1/webhooks/live-director",
            |id| {
                let mut data = json!({"sessionKey": SESSION, "cameraKey": "B", "fromCameraKey": "A"});
                if let Some(id) = id {
                    data["eventId"] = json!(id);
                }
                json!({"type": "cut", "timestamp": now_ms(), "data": data})
            },
            "cut",
            false,
            Some(Sender::LiveDirector),
        ),
    ]
}

fn read_routes(event_id: &str) -> Vec<Route> {
    let read = |name, path: String| Route {
        name,
        method: Method::GET,
        path,
        body: None,
        kind: "",
        device_scoped: false,
        sender: None,
    };
    vec![
        read("session", format!("/v1/sessions/{SESSION}")),
        read("journal", format!("/v1/sessions/{SESSION}/journal")),
        read("event", format!("/v1/events/{event_id}")),
        read("version", "/version".into()),
        read("metrics", "/metrics".into()),
    ]
}

/// What a cell of the matrix must answer.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Journaled: 202, exactly one new journal entry.
    Accepted,
    /// A read: 200, nothing journaled.
    Read,
    /// A problem document with this status and code; nothing journaled.
    Refused(u16, &'static str),
}

struct Matrix<'a> {
    s: &'a Server,
    cells: usize,
    /// A client without a connection pool, for oversized bodies: the server
    /// answers 413 without reading them and closes that connection.
    unpooled: reqwest::Client,
}

/// A client that opens a new connection for every request.
fn unpooled() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("reqwest client")
}

fn matrix(s: &Server) -> Matrix<'_> {
    Matrix { s, cells: 0, unpooled: unpooled() }
}

/// Bodies above this go through [`Matrix::unpooled`].
const LARGE: usize = 64 * 1024;

impl Matrix<'_> {
    /// `journal.depth.pending` (no ledger: every journaled event stays
    /// pending, so this counts the journal).
    async fn depth(&self) -> u64 {
        let r = self.admin_get("/version").await;
        assert_eq!(r.status, 200, "{:#}", r.body);
        r.body["journal"]["depth"]["pending"].as_u64().expect("journal.depth.pending")
    }

    async fn admin_get(&self, path: &str) -> Resp {
        self.s.request(Method::GET, path, &[("authorization", &format!("Bearer {ADMIN}"))], None).await
    }

    async fn send(&self, route: &Route, auth: &Auth, body: Option<Vec<u8>>) -> Resp {
        let mut headers = auth.headers(body.as_deref().unwrap_or_default());
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        if body.as_ref().is_some_and(|b| b.len() > LARGE) {
            let mut req = self.unpooled.request(route.method.clone(), self.s.url(&route.path));
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let res = req.body(body.unwrap_or_default()).send().await.expect("oversized request");
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body: Value = res.json().await.expect("a problem document");
            return Resp { status, headers, body };
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.s.request(route.method.clone(), &route.path, &headers, body).await
    }

    /// Sends one request and checks its answer and the journal; returns the
    /// answer.
    async fn cell(&mut self, route: &Route, case: &str, auth: Auth, body: Option<Value>, expect: Expect) -> Resp {
        self.cells += 1;
        let what = format!("{} {} [{}] as {case}", route.method, route.path, route.name);
        let event_id = body.as_ref().and_then(|b| b["eventId"].as_str().or(b["data"]["eventId"].as_str()));
        let event_id = event_id.map(str::to_string);
        let before = self.depth().await;
        let r = self.send(route, &auth, body.map(|b| serde_json::to_vec(&b).expect("json"))).await;
        let after = self.depth().await;
        match expect {
            Expect::Accepted => {
                assert_eq!(r.status, 202, "{what}: {:#}", r.body);
                assert_eq!(r.body["type"], route.kind, "{what}");
                assert_eq!(r.body["replayed"], false, "{what}");
                assert_eq!(r.header("idempotent-replayed"), None, "{what}");
                assert_eq!(after, before + 1, "{what}: one journal entry");
                if let Some(id) = &event_id {
                    assert_eq!(r.body["eventId"], id.as_str(), "{what}");
                }
                let ev = self.admin_get(&format!("/v1/events/{}", r.event_id())).await;
                assert_eq!(ev.status, 200, "{what}: {:#}", ev.body);
                assert_eq!(ev.body["type"], route.kind, "{what}");
            }
            Expect::Read => {
                assert_eq!(r.status, 200, "{what}: {:#}", r.body);
                assert_eq!(after, before, "{what}: a read journals nothing");
            }
            Expect::Refused(status, code) => {
                r.assert_problem(status, code);
                assert_eq!(after, before, "{what}: refused, yet the journal grew");
                if let Some(id) = &event_id {
                    let ev = self.admin_get(&format!("/v1/events/{id}")).await;
                    assert_eq!(ev.status, 404, "{what}: refused, yet {id} is journaled: {:#}", ev.body);
                }
            }
        }
        r
    }
}

fn fresh_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn pad(bytes: usize) -> Value {
    json!({"pad": "x".repeat(bytes)})
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_documented() {
    let s = start(&[]).await;
    let mut m = matrix(&s);
    let unauthenticated = Expect::Refused(401, "unauthenticated");
    let invalid_token = Expect::Refused(401, "invalid_token");
    let forbidden = Expect::Refused(403, "forbidden");
    let bad_signature = Expect::Refused(401, "signature_invalid");
    let stale = Expect::Refused(401, "timestamp_out_of_tolerance");
    let too_large = Expect::Refused(413, "payload_too_large");
    let mut some_event = None;

    for route in write_routes() {
        let body = route.body.expect("a write has a body");
        let b = |id: Option<&str>| Some(body(id));
        m.cell(&route, "no credentials", Auth::None, b(Some(&fresh_id())), unauthenticated).await;
        m.cell(&route, "a wrong token", Auth::Bearer(WRONG), b(Some(&fresh_id())), invalid_token).await;
        m.cell(&route, "device B's token", Auth::Bearer(TOKEN_B), b(Some(&fresh_id())), forbidden).await;
        let own = if route.device_scoped { Expect::Accepted } else { forbidden };
        m.cell(&route, "device A's own token", Auth::Bearer(TOKEN_A), b(Some(&fresh_id())), own).await;
        let r = m.cell(&route, "the admin token", Auth::Bearer(ADMIN), b(Some(&fresh_id())), Expect::Accepted).await;
        some_event.get_or_insert_with(|| r.event_id());
        m.cell(&route, "a bad signature", Auth::signed(BAD_KEY, 0), b(Some(&fresh_id())), bad_signature).await;
        let signer = route.sender.unwrap_or(Sender::LiveDirector);
        m.cell(&route, "a stale signature (6 min)", Auth::signed(signer.key(), 360), b(Some(&fresh_id())), stale).await;
        m.cell(&route, "a signature 6 min ahead", Auth::signed(signer.key(), -360), b(Some(&fresh_id())), stale).await;
        m.cell(&route, "oversized, admin", Auth::Bearer(ADMIN), Some(pad(600 * 1024)), too_large).await;
        match route.sender {
            None => {
                for sender in [Sender::LiveDirector, Sender::StillUploader] {
                    let case = format!("{sender:?}'s valid signature");
                    m.cell(&route, &case, Auth::signed(sender.key(), 0), b(Some(&fresh_id())), forbidden).await;
                }
            }
            Some(sender) => {
                let wrong = sender.other();
                let case = format!("{wrong:?}'s valid signature (wrong sender)");
                m.cell(&route, &case, Auth::signed(wrong.key(), 0), b(Some(&fresh_id())), forbidden).await;
                let case = format!("{sender:?}'s signature, oversized");
                m.cell(&route, &case, Auth::signed(sender.key(), 0), Some(pad(600 * 1024)), too_large).await;
                // A signed call without eventId: its id derives from webhook-id.
                let signed = Auth::signed(sender.key(), 0);
                let first = body(None);
                let case = format!("{sender:?}'s valid signature");
                let r = m.cell(&route, &case, signed.clone(), Some(first.clone()), Expect::Accepted).await;
                let id = r.event_id();
                // A redelivery of the same message (re-signed now, as a
                // sender retrying does): a replay, no second entry.
                let Auth::Signed { id: msg, .. } = &signed else { unreachable!() };
                let resend = Auth::Signed { key: sender.key(), age_secs: 0, id: msg.clone() };
                let before = m.depth().await;
                let again = m.send(&route, &resend, Some(serde_json::to_vec(&first).expect("json"))).await;
                m.cells += 1;
                assert_eq!(again.status, 202, "{}: replay: {:#}", route.name, again.body);
                assert_eq!(again.header("idempotent-replayed"), Some("true"), "{}", route.name);
                assert_eq!(again.body["replayed"], true, "{}", route.name);
                assert_eq!(again.event_id(), id, "{}", route.name);
                assert_eq!(again.body["journalSeq"], r.body["journalSeq"], "{}", route.name);
                assert_eq!(m.depth().await, before, "{}: a replay journals nothing", route.name);
                // The same webhook-id with another body: 422, nothing written.
                let mut other = first.clone();
                if other.get("data").is_some() {
                    other["data"]["cameraKey"] = json!("C");
                } else {
                    other["at"] = json!(now_ms() - 1_000);
                }
                let conflict = m.send(&route, &resend, Some(serde_json::to_vec(&other).expect("json"))).await;
                m.cells += 1;
                conflict.assert_problem(422, "idempotency_key_reused");
                assert_eq!(conflict.body["eventId"], id.as_str(), "{}", route.name);
                assert_eq!(m.depth().await, before, "{}: a conflicting reuse journals nothing", route.name);
                let ev = m.admin_get(&format!("/v1/events/{id}")).await;
                assert_eq!(ev.body["journalSeq"], r.body["journalSeq"], "{}: the original stands", route.name);
            }
        }
    }

    let event_id = some_event.expect("an accepted event");
    for route in read_routes(&event_id) {
        m.cell(&route, "no credentials", Auth::None, None, unauthenticated).await;
        m.cell(&route, "a wrong token", Auth::Bearer(WRONG), None, invalid_token).await;
        m.cell(&route, "device A's token", Auth::Bearer(TOKEN_A), None, forbidden).await;
        m.cell(&route, "device B's token", Auth::Bearer(TOKEN_B), None, forbidden).await;
        m.cell(&route, "the admin token", Auth::Bearer(ADMIN), None, Expect::Read).await;
        m.cell(&route, "a bad signature", Auth::signed(BAD_KEY, 0), None, bad_signature).await;
        m.cell(&route, "a stale signature", Auth::signed(LD_KEY, 360), None, stale).await;
        for sender in [Sender::LiveDirector, Sender::StillUploader] {
            let case = format!("{sender:?}'s valid signature");
            m.cell(&route, &case, Auth::signed(sender.key(), 0), None, forbidden).await;
        }
    }

    // Every credential was used; none of them may reach the log.
    let log = s.log();
    assert!(log.contains("shootlog is listening"), "the log is being written: {log}");
    let secrets = [
        ADMIN.to_string(),
        TOKEN_A.to_string(),
        TOKEN_B.to_string(),
        WRONG.to_string(),
        whsec(LD_KEY),
        whsec(SU_KEY),
        B64.encode(LD_KEY),
        B64.encode(SU_KEY),
    ];
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the server log contains the secret {secret:?}");
    }
    println!("security matrix: {} cells (9 write routes, 5 read routes; log checked for {} secrets)", m.cells, 8);
}

#[tokio::test]
async fn open_routes_stay_open_to_anyone() {
    let s = start(&[]).await;
    let mut cells = 0;
    let auths = [
        Auth::None,
        Auth::Bearer(WRONG),
        Auth::Bearer(TOKEN_A),
        Auth::Bearer(ADMIN),
        Auth::signed(BAD_KEY, 0),
        Auth::signed(LD_KEY, 360),
    ];
    for (path, content_type) in [
        ("/healthz", "application/json"),
        ("/readyz", "application/json"),
        ("/v1/clock", "application/json"),
        ("/openapi.json", "application/json"),
        ("/docs/", "text/html"),
    ] {
        for auth in &auths {
            let headers = auth.headers(b"");
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let r = s.request(Method::GET, path, &headers, None).await;
            cells += 1;
            assert_eq!(r.status, 200, "GET {path} as {auth:?}: {:#}", r.body);
            assert!(r.content_type().starts_with(content_type), "GET {path}: {}", r.content_type());
        }
    }
    let spec = s.request(Method::GET, "/openapi.json", &[], None).await;
    assert_eq!(spec.body["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    assert!(spec.body["components"]["securitySchemes"]["bearer"].is_object());
    println!("open routes: {cells} cells");
}

#[tokio::test]
async fn a_device_over_its_rate_is_refused_and_other_devices_are_not() {
    let s = start(&[("SHOOTLOG_DEVICE_RATE", "1"), ("SHOOTLOG_DEVICE_BURST", "3")]).await;
    let m = matrix(&s);
    let register = |device: &str| json!({"eventId": fresh_id(), "deviceId": device, "name": format!("{device} cam"), "platform": "ios"});
    let start = Instant::now();
    for i in 0..3 {
        let r = post_as(&s, TOKEN_A, "/v1/devices", &register(DEVICE_A)).await;
        assert_eq!(r.status, 202, "write {i} within the burst: {:#}", r.body);
    }
    let before = m.depth().await;
    let over = register(DEVICE_A);
    let r = post_as(&s, TOKEN_A, "/v1/devices", &over).await;
    assert!(start.elapsed() < Duration::from_millis(900), "the four writes were not quick: {:?}", start.elapsed());
    r.assert_problem(429, "rate_limited");
    assert_eq!(m.depth().await, before, "a refused write journals nothing");
    let ev = m.admin_get(&format!("/v1/events/{}", over["eventId"].as_str().unwrap())).await;
    assert_eq!(ev.status, 404);

    // Another device has its own bucket; the admin has none.
    for i in 0..3 {
        let r = post_as(&s, TOKEN_B, "/v1/devices", &register(DEVICE_B)).await;
        assert_eq!(r.status, 202, "device B write {i}: {:#}", r.body);
    }
    for i in 0..5 {
        let r = post_as(&s, ADMIN, "/v1/devices", &register(DEVICE_A)).await;
        assert_eq!(r.status, 202, "admin write {i}: {:#}", r.body);
    }
    assert_eq!(m.depth().await, before + 8);
}

async fn post_as(s: &Server, token: &str, path: &str, body: &Value) -> Resp {
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    s.request(Method::POST, path, &headers, Some(serde_json::to_vec(body).expect("json"))).await
}

/// A client that starts a request and stalls is cut off after the header
/// timeout; the others are served meanwhile.
#[tokio::test]
async fn a_client_stalling_in_its_headers_is_disconnected() {
    let s = start(&[("SHOOTLOG_HEADER_TIMEOUT_SECS", "1")]).await;
    let addr = s.base.strip_prefix("http://").expect("http base").to_string();
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty").await.expect("partial request");

    for _ in 0..3 {
        let r = s.request(Method::GET, "/healthz", &[], None).await;
        assert_eq!(r.status, 200, "normal requests are served while a client stalls");
    }

    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(closed.is_ok(), "the stalled connection was still open after 5 s");
    assert!(elapsed >= Duration::from_millis(900), "closed before the 1 s header timeout: {elapsed:?}");

    // On a new connection: the header timeout also closes idle keep-alive
    // connections (they wait for the next request's headers), so a pooled
    // one may be gone by now.
    let r = unpooled().get(s.url("/healthz")).send().await.expect("GET /healthz");
    assert_eq!(r.status().as_u16(), 200, "the service still answers after cutting a client off");
    println!("stalled client disconnected after {elapsed:?}");
}

#[tokio::test]
async fn refuses_to_start_without_credentials_on_a_non_loopback_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let out = run_to_exit(&["--listen", listen, "--data-dir", data], &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started on {listen} without credentials: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("SHOOTLOG_ADMIN_TOKEN"), "the message names SHOOTLOG_ADMIN_TOKEN: {stderr}");
        assert!(stderr.contains("not a loopback address"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("SHOOTLOG_LISTENING="), "it never listened");
    }
    // A credential that is too weak is refused too, without echoing it.
    let out = run_to_exit(
        &["--listen", "127.0.0.1:0", "--data-dir", data],
        &[("SHOOTLOG_ADMIN_TOKEN", "short-secret"), ("RUST_BACKTRACE", "1")],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SHOOTLOG_ADMIN_TOKEN: a token must be at least 16 characters"), "{stderr}");
    assert!(!stderr.contains("short-secret"), "the refused token is echoed: {stderr}");
    assert!(!stderr.contains("backtrace"), "an operator error is a message, not a backtrace: {stderr}");
}

// The documented headers of refusals.

#[tokio::test]
async fn unauthorized_answers_name_the_scheme_in_www_authenticate() {
    let s = start(&[]).await;
    for auth in [("authorization", format!("Bearer {WRONG}")), ("x-none", String::new())] {
        let r = s.request(Method::GET, "/version", &[(auth.0, auth.1.as_str())], None).await;
        assert_eq!(r.status, 401);
        let challenge = r.header("www-authenticate").unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "WWW-Authenticate: {challenge:?}");
    }
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after() {
    let s = start(&[("SHOOTLOG_DEVICE_RATE", "1"), ("SHOOTLOG_DEVICE_BURST", "1")]).await;
    let mut last = None;
    for _ in 0..2 {
        let body = json!({"deviceId": DEVICE_A, "name": "A", "platform": "ios"});
        last = Some(post_as(&s, TOKEN_A, "/v1/devices", &body).await);
    }
    let r = last.unwrap();
    r.assert_problem(429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_with_a_408_problem_and_nothing_is_written() {
    let s = start(&[("SHOOTLOG_REQUEST_TIMEOUT_SECS", "1")]).await;
    let depth = async || {
        let r = s.request(Method::GET, "/version", &[("authorization", &format!("Bearer {ADMIN}"))], None).await;
        r.body["journal"]["depth"]["pending"].as_u64().expect("journal.depth.pending")
    };
    let before = depth().await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v1/devices HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"deviceId\":"
    );
    sock.write_all(head.as_bytes()).await.expect("send head");
    // The phone stalls: the rest of the body never comes.
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: application/problem+json"), "{text}");
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "cut off after {:?}", started.elapsed());
    assert_eq!(depth().await, before);
}
