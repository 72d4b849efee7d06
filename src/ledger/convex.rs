//! The Convex ledger: writes and reads through the official `convex` crate,
//! the handshake through Convex's HTTP API.
//!
//! Facts this code respects (`docs/convex-facts.md`):
//! - The client has no timeouts, so every call is wrapped in one.
//! - A call that timed out or lost its connection is re-sent by the client
//!   after its automatic reconnect, under a new session id that Convex
//!   cannot deduplicate, and it keeps re-sending every request it still
//!   tracks. So after any such call the client is **dropped and built
//!   anew** (dropping the last handle stops its worker and its socket): no
//!   request is ever executed again behind the forwarder's back; the
//!   forwarder decides every retry (`migrations-notes/0002`). The ledger is
//!   idempotent on `eventId`, so a retry of a call that did run is harmless.
//! - One socket runs its mutations serially, so events travel in batches.
//! - Deployment-level refusals look like function errors on the socket, so
//!   the handshake (`contract:handshake`, an internal query) goes through the
//!   HTTP API, whose statuses tell a refused key (401/403) from a function
//!   that could not run (560) from a deployment that cannot be reached.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use convex::{ConvexClient, ConvexClientBuilder, FunctionResult, Value, WebSocketState};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::{
    BoxFuture, CONTRACT_VERSION, Deployment, Ledger, LedgerError, LedgerState, LedgerStatus, Page, SessionList, Settled,
};
use crate::domain::{EventId, Journaled, Millis, SessionKey, Verdict, VerdictKind, WaitingFor};
use crate::limits::{LEDGER_HANDSHAKE_TIMEOUT, LEDGER_READ_PAGE, LEDGER_READ_TIMEOUT};

/// The mutation that applies a batch (`convex/ingest.ts`).
pub const APPLY_BATCH: &str = "ingest:applyBatch";
/// The mutation that answers the current verdicts of waiting events
/// (`convex/ingest.ts`).
pub const SETTLE: &str = "ingest:settle";
/// The paged reads of a session (`convex/ledger.ts`): its header (the
/// session and its cameras), then its lists a page at a time.
pub use super::reads::{SESSION_EVENTS, SESSION_HEADER, SESSION_PLACEMENTS, SESSION_STILLS};
/// The query that reads one event's receipt (`convex/ledger.ts`): the
/// harmless round trip of `shootlog check`.
pub const RECEIPT_QUERY: &str = "ledger:receipt";
/// The handshake (`convex/contract.ts`).
pub const HANDSHAKE: &str = "contract:handshake";

/// How to reach a Convex deployment.
#[derive(Clone)]
pub struct ConvexSettings {
    pub url: String,
    /// The deploy key (admin auth), needed for internal functions.
    pub deploy_key: Option<String>,
    /// Upper bound of one call; the client itself has none.
    pub call_timeout: Duration,
}

impl std::fmt::Debug for ConvexSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvexSettings")
            .field("url", &self.url)
            .field("deploy_key", &self.deploy_key.as_ref().map(|_| "<redacted>"))
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

/// A client and the state of its socket.
#[derive(Clone)]
struct Socket {
    client: ConvexClient,
    /// `true` while the socket is open; it turns `false` when a socket that
    /// was open drops.
    open: watch::Receiver<bool>,
}

pub struct ConvexLedger {
    settings: ConvexSettings,
    /// The socket of writes, rebuilt after every failed call.
    writer: Mutex<Socket>,
    /// Reads have their own socket, so that a long read never waits behind
    /// a batch of writes.
    reader: Mutex<Socket>,
    http: reqwest::Client,
    /// `http(s)://host[:port]` of the deployment, for the HTTP API.
    http_base: String,
    status: Mutex<LedgerStatus>,
}

/// Installs rustls' ring provider once per process; without it the first
/// `wss` handshake panics inside the client's worker.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn build_client(settings: &ConvexSettings, id: &str) -> anyhow::Result<Socket> {
    let (state_tx, mut state_rx) = mpsc::channel(16);
    let mut client =
        ConvexClientBuilder::new(&settings.url).with_client_id(id).with_on_state_change(state_tx).build().await?;
    let (open_tx, open) = watch::channel(false);
    // Ends when the client is dropped (its worker closes the channel).
    tokio::spawn(async move {
        while let Some(state) = state_rx.recv().await {
            let _ = open_tx.send(matches!(state, WebSocketState::Connected));
        }
    });
    if let Some(key) = &settings.deploy_key {
        client.set_admin_auth(key.clone(), None).await;
    }
    Ok(Socket { client, open })
}

/// Resolves when a socket that was open during the wait drops.
async fn dropped(mut open: watch::Receiver<bool>) {
    let mut was_open = *open.borrow_and_update();
    loop {
        if open.changed().await.is_err() {
            return std::future::pending().await;
        }
        let now_open = *open.borrow_and_update();
        if was_open && !now_open {
            return;
        }
        was_open |= now_open;
    }
}

/// The HTTP API's base of a deployment URL (`ws(s)://` becomes `http(s)://`).
fn http_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = url.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        url.to_string()
    }
}

/// The answer of the HTTP API (`{"status": "success", "value"}` or
/// `{"status": "error", "errorMessage"}`; a refused key answers
/// `{"code", "message"}`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HttpAnswer {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

impl HttpAnswer {
    fn reason(&self, status: reqwest::StatusCode) -> String {
        let text = self.error_message.as_deref().or(self.message.as_deref()).unwrap_or("no message");
        match &self.code {
            Some(code) => format!("HTTP {}: {code}: {text}", status.as_u16()),
            None => format!("HTTP {}: {text}", status.as_u16()),
        }
    }
}

impl ConvexLedger {
    /// Builds the clients. Connecting is lazy: an unreachable deployment is
    /// not an error here; the first handshake tells how it stands.
    pub async fn connect(settings: ConvexSettings) -> anyhow::Result<Self> {
        install_crypto_provider();
        let writer = build_client(&settings, "shootlog").await?;
        let reader = build_client(&settings, "shootlog-reader").await?;
        let http = reqwest::Client::builder().no_proxy().build()?;
        let http_base = http_base(&settings.url);
        let status = LedgerStatus::new(LedgerState::Unreachable, Some("not checked yet".into()));
        Ok(Self {
            settings,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            http,
            http_base,
            status: Mutex::new(status),
        })
    }

    fn socket(&self, reader: bool) -> Result<Socket, LedgerError> {
        let slot = if reader { &self.reader } else { &self.writer };
        slot.lock().map(|c| c.clone()).map_err(|_| LedgerError::Transport("client lock poisoned".into()))
    }

    /// Drops a socket whose call failed and puts a new one in its place, so
    /// that the old one's pending requests are never re-sent.
    async fn rebuild(&self, reader: bool) {
        let id = if reader { "shootlog-reader" } else { "shootlog" };
        match build_client(&self.settings, id).await {
            Ok(fresh) => {
                let slot = if reader { &self.reader } else { &self.writer };
                if let Ok(mut c) = slot.lock() {
                    *c = fresh;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot rebuild the Convex client"),
        }
    }

    async fn call(
        &self,
        reader: bool,
        mutation: bool,
        name: &str,
        args: BTreeMap<String, Value>,
        timeout: Duration,
    ) -> Result<serde_json::Value, LedgerError> {
        let Socket { client: mut c, open } = self.socket(reader)?;
        let fut = async move { if mutation { c.mutation(name, args).await } else { c.query(name, args).await } };
        // A socket that drops mid-call would re-send the call on its own
        // after reconnecting: the call fails at once instead, and the socket
        // is replaced.
        let answer = tokio::select! {
            a = tokio::time::timeout(timeout, fut) => a,
            () = dropped(open) => {
                self.record(LedgerState::Unreachable, Some("the sync socket dropped".into()), None, None);
                Ok(Err(anyhow::anyhow!("the sync socket dropped during the call")))
            }
        };
        let failed = match answer {
            Err(_) => format!("{name} timed out after {timeout:?}"),
            Ok(Err(e)) => format!("{name}: {e}"),
            Ok(Ok(FunctionResult::Value(v))) => return Ok(v.export()),
            Ok(Ok(FunctionResult::ErrorMessage(m))) => return Err(LedgerError::of_function_message(m)),
            Ok(Ok(FunctionResult::ConvexError(e))) => {
                return Err(LedgerError::Function(format!("{} ({:?})", e.message, e.data)));
            }
        };
        self.rebuild(reader).await;
        Err(LedgerError::Transport(failed))
    }

    /// One handshake through the HTTP API: the state it shows, why, what
    /// the deployment said, and the round trip.
    async fn handshake(&self) -> (LedgerState, Option<String>, Option<Deployment>, Option<f64>) {
        let key = self.settings.deploy_key.as_deref().unwrap_or("");
        let started = Instant::now();
        let sent = self
            .http
            .post(format!("{}/api/query", self.http_base))
            .header("authorization", format!("Convex {key}"))
            .json(&serde_json::json!({"path": HANDSHAKE, "args": {}, "format": "json"}))
            .timeout(LEDGER_HANDSHAKE_TIMEOUT.min(self.settings.call_timeout))
            .send()
            .await;
        let res = match sent {
            Ok(res) => res,
            Err(e) => return (LedgerState::Unreachable, Some(format!("{HANDSHAKE}: {e}")), None, None),
        };
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        let rtt = Some(started.elapsed().as_secs_f64() * 1000.0);
        let answer: HttpAnswer = serde_json::from_str(&body).unwrap_or_default();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return (LedgerState::Unauthorized, Some(answer.reason(status)), None, rtt);
        }
        // A function error is HTTP 200 with `"status": "error"` on the
        // backend (560 on older ones): the function could not run.
        if status.is_success() && answer.status.as_deref() == Some("error") {
            return (LedgerState::Unusable, Some(answer.reason(status)), None, rtt);
        }
        if status.is_success() {
            let deployment = answer.value.and_then(|v| {
                let version = v.get("contractVersion")?.as_f64()?;
                let build = v.get("functionsBuildId")?.as_str()?.to_string();
                (version.fract() == 0.0 && version >= 0.0)
                    .then_some(Deployment { contract_version: version as u32, functions_build_id: build })
            });
            return match deployment {
                None => (LedgerState::Incompatible, Some(format!("{HANDSHAKE} answered {body}")), None, rtt),
                Some(d) if d.contract_version != CONTRACT_VERSION => {
                    let why = format!(
                        "the deployed functions keep contract version {}, this service {CONTRACT_VERSION}",
                        d.contract_version
                    );
                    (LedgerState::Incompatible, Some(why), Some(d), rtt)
                }
                Some(d) => (LedgerState::Connected, None, Some(d), rtt),
            };
        }
        // 560 is a function that could not run (older backends); a 404 is
        // a function never deployed; other 4xx are the deployment's
        // refusals. A 5xx from a proxy says nothing of the deployment:
        // unreachable.
        if status.as_u16() == 560 || status.is_client_error() {
            (LedgerState::Unusable, Some(answer.reason(status)), None, rtt)
        } else {
            (LedgerState::Unreachable, Some(answer.reason(status)), None, rtt)
        }
    }

    /// Records a handshake's result; a change of state is logged once, at
    /// the level it deserves.
    fn record(&self, state: LedgerState, reason: Option<String>, deployment: Option<Deployment>, rtt: Option<f64>) {
        let Ok(mut status) = self.status.lock() else { return };
        let now = Millis::now();
        let first = status.checked_at.is_none();
        if status.state != state || first {
            let (from, to, why) = (status.state.as_str(), state.as_str(), reason.as_deref().unwrap_or(""));
            match state {
                LedgerState::Connected => tracing::info!(
                    from,
                    contract_version = CONTRACT_VERSION,
                    functions_build_id = deployment.as_ref().map(|d| d.functions_build_id.as_str()).unwrap_or(""),
                    "ledger connected"
                ),
                LedgerState::Unreachable | LedgerState::None => {
                    tracing::warn!(from, reason = why, "ledger {to}: events stay journaled")
                }
                _ => tracing::error!(from, reason = why, "ledger {to}: events stay journaled until it is mended"),
            }
            if status.state != state {
                status.state = state;
                status.since = now;
                status.changes += 1;
            }
        }
        status.reason = reason;
        status.checked_at = Some(now);
        if rtt.is_some() {
            status.round_trip_ms = rtt;
        }
        if deployment.is_some() {
            status.deployment = deployment;
        }
    }
}

/// One verdict as `ingest:applyBatch` returns it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireVerdict {
    event_id: String,
    #[serde(flatten)]
    verdict: WireVerdictBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireVerdictBody {
    verdict: VerdictKind,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    original: Option<VerdictKind>,
    #[serde(default)]
    timeline: Option<String>,
    #[serde(default)]
    waiting_for: Option<WaitingFor>,
    #[serde(default)]
    ledger_ids: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct WireBatchResult {
    verdicts: Vec<WireVerdict>,
}

impl WireVerdictBody {
    fn into_verdict(self) -> Verdict {
        Verdict {
            verdict: self.verdict,
            code: self.code,
            message: self.message,
            original: self.original,
            timeline: self.timeline,
            waiting_for: self.waiting_for,
            ledger_ids: self.ledger_ids,
        }
    }
}

/// One answer of `ingest:settle`: a verdict, or `missing` (the ledger has
/// no receipt), as `{"verdict": "missing"}` or the bare string.
fn settled_of(id: &EventId, answer: serde_json::Value) -> Result<Settled, LedgerError> {
    let missing = |v: &serde_json::Value| v.as_str() == Some("missing");
    if missing(&answer) || answer.get("verdict").is_some_and(missing) {
        return Ok(Settled::Missing);
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct WireSettled {
        #[serde(default)]
        event_id: Option<String>,
        #[serde(flatten)]
        verdict: WireVerdictBody,
    }
    let w: WireSettled =
        serde_json::from_value(answer).map_err(|e| LedgerError::Protocol(format!("settle result: {e}")))?;
    if let Some(theirs) = &w.event_id
        && *theirs != id.to_string()
    {
        return Err(LedgerError::Protocol(format!("settle answered {theirs} where {id} was asked")));
    }
    Ok(Settled::Verdict(w.verdict.into_verdict()))
}

/// Matches `ingest:settle`'s answer to the ids asked, in order.
fn settled_for(ids: &[EventId], answer: serde_json::Value) -> Result<Vec<Settled>, LedgerError> {
    #[derive(Deserialize)]
    struct WireSettleResult {
        verdicts: Vec<serde_json::Value>,
    }
    let result: WireSettleResult =
        serde_json::from_value(answer).map_err(|e| LedgerError::Protocol(format!("settle result: {e}")))?;
    if result.verdicts.len() != ids.len() {
        return Err(LedgerError::Protocol(format!(
            "settle answered {} verdicts for {} events",
            result.verdicts.len(),
            ids.len()
        )));
    }
    ids.iter().zip(result.verdicts).map(|(id, v)| settled_of(id, v)).collect()
}

/// Matches the ledger's answer to the events sent, by event id, in order.
fn verdicts_for(events: &[Journaled], answer: serde_json::Value) -> Result<Vec<Verdict>, LedgerError> {
    let result: WireBatchResult =
        serde_json::from_value(answer).map_err(|e| LedgerError::Protocol(format!("applyBatch result: {e}")))?;
    let mut by_id: HashMap<String, WireVerdictBody> =
        result.verdicts.into_iter().map(|v| (v.event_id, v.verdict)).collect();
    events
        .iter()
        .map(|e| {
            let id = e.envelope.event_id.to_string();
            let w = by_id.remove(&id).ok_or_else(|| LedgerError::Protocol(format!("no verdict for event {id}")))?;
            Ok(w.into_verdict())
        })
        .collect()
}

/// A page as Convex's pagination answers it.
/// JSON arguments as Convex values: every number a float (as Convex's
/// `v.number()` takes it).
fn convex_arg(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(convex_arg).collect()),
        serde_json::Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, convex_arg(v))).collect()),
    }
}

fn page_of(name: &str, answer: serde_json::Value) -> Result<Page, LedgerError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct WirePage {
        page: Vec<serde_json::Value>,
        is_done: bool,
        #[serde(default)]
        continue_cursor: Option<String>,
    }
    let w: WirePage = serde_json::from_value(answer).map_err(|e| LedgerError::Protocol(format!("{name}: {e}")))?;
    Ok(Page { rows: w.page, is_done: w.is_done, cursor: w.continue_cursor })
}

impl Ledger for ConvexLedger {
    fn mode(&self) -> &'static str {
        "convex"
    }

    fn status(&self) -> LedgerStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| LedgerStatus::new(LedgerState::Unreachable, Some("status lock poisoned".into())))
    }

    fn check(&self) -> BoxFuture<'_, LedgerStatus> {
        Box::pin(async move {
            let (state, reason, deployment, rtt) = self.handshake().await;
            self.record(state, reason, deployment, rtt);
            self.status()
        })
    }

    fn host(&self) -> Option<String> {
        let rest = self.http_base.split_once("://").map(|(_, r)| r).unwrap_or(&self.http_base);
        Some(rest.split('/').next().unwrap_or(rest).to_string())
    }

    fn apply_batch<'a>(&'a self, events: &'a [Journaled]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>> {
        Box::pin(async move {
            let wire = serde_json::to_value(events).map_err(|e| LedgerError::Protocol(e.to_string()))?;
            let wire = Value::try_from(wire).map_err(|e| LedgerError::Protocol(e.to_string()))?;
            let args = BTreeMap::from([("events".to_string(), wire)]);
            let answer = self.call(false, true, APPLY_BATCH, args, self.settings.call_timeout).await?;
            verdicts_for(events, answer)
        })
    }

    fn settle<'a>(&'a self, ids: &'a [EventId], grace: Duration) -> BoxFuture<'a, Result<Vec<Settled>, LedgerError>> {
        Box::pin(async move {
            let wire: Vec<Value> = ids.iter().map(|id| Value::from(id.to_string())).collect();
            let args = BTreeMap::from([
                ("eventIds".to_string(), Value::Array(wire)),
                ("graceMs".to_string(), Value::from(grace.as_millis() as f64)),
            ]);
            let answer = self.call(false, true, SETTLE, args, self.settings.call_timeout).await?;
            settled_for(ids, answer)
        })
    }

    fn session_header<'a>(
        &'a self,
        key: &'a SessionKey,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>> {
        Box::pin(async move {
            let args = BTreeMap::from([("sessionKey".to_string(), Value::from(key.as_str().to_string()))]);
            let timeout = LEDGER_READ_TIMEOUT.min(self.settings.call_timeout);
            let answer = self.call(true, false, SESSION_HEADER, args, timeout).await?;
            Ok((!answer.is_null()).then_some(answer))
        })
    }

    fn read<'a>(
        &'a self,
        name: &'static str,
        args: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, LedgerError>> {
        Box::pin(async move {
            let Value::Object(args) = convex_arg(args) else {
                return Err(LedgerError::Protocol(format!("{name}: arguments must be an object")));
            };
            let timeout = LEDGER_READ_TIMEOUT.min(self.settings.call_timeout);
            self.call(true, false, name, args, timeout).await
        })
    }

    fn session_page<'a>(
        &'a self,
        key: &'a SessionKey,
        list: SessionList,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, LedgerError>> {
        Box::pin(async move {
            let name = match list {
                SessionList::Events => SESSION_EVENTS,
                SessionList::Stills => SESSION_STILLS,
                SessionList::Placements => SESSION_PLACEMENTS,
            };
            let pagination = BTreeMap::from([
                ("numItems".to_string(), Value::from(f64::from(LEDGER_READ_PAGE))),
                ("cursor".to_string(), cursor.map_or(Value::Null, |c| Value::from(c.to_string()))),
            ]);
            let args = BTreeMap::from([
                ("sessionKey".to_string(), Value::from(key.as_str().to_string())),
                ("paginationOpts".to_string(), Value::Object(pagination)),
            ]);
            let timeout = LEDGER_READ_TIMEOUT.min(self.settings.call_timeout);
            let answer = self.call(true, false, name, args, timeout).await?;
            page_of(name, answer)
        })
    }

    fn round_trip<'a>(&'a self) -> BoxFuture<'a, Result<Duration, LedgerError>> {
        Box::pin(async move {
            let args = BTreeMap::from([("eventId".to_string(), Value::from(uuid::Uuid::nil().to_string()))]);
            let started = Instant::now();
            let timeout = LEDGER_READ_TIMEOUT.min(self.settings.call_timeout);
            self.call(true, false, RECEIPT_QUERY, args, timeout).await?;
            Ok(started.elapsed())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journaled(label: &str, seq: u64) -> Journaled {
        use crate::domain::{Envelope, Event, EventId, InstanceId};
        Journaled {
            envelope: Envelope {
                event_id: EventId::new_random(),
                at: Millis(1_764_531_000_000),
                received_at: Millis(1_764_531_000_000),
                event: Event::Marker { session_key: SessionKey::parse("s").expect("key"), label: label.into() },
            },
            instance: InstanceId::parse("i1").expect("instance"),
            seq,
        }
    }

    #[test]
    fn verdicts_carry_the_timeline_key_and_what_a_waiting_event_waits_for() {
        let events = [journaled("a", 1), journaled("b", 2)];
        let (a, b) = (events[0].envelope.event_id.to_string(), events[1].envelope.event_id.to_string());
        let answer = serde_json::json!({"verdicts": [
            {"eventId": b, "verdict": "waiting", "code": "camera_not_in_session",
             "timeline": "001764531000000.i1.000000000002", "waitingFor": {"kind": "camera", "key": "s/hero"}},
            {"eventId": a, "verdict": "applied", "timeline": "001764531000000.i1.000000000001",
             "ledgerIds": {"productionDirectorEvents": "x1"}},
        ]});
        let verdicts = verdicts_for(&events, answer).expect("verdicts");
        assert_eq!(verdicts[0].verdict, VerdictKind::Applied);
        assert_eq!(verdicts[0].timeline.as_deref(), Some("001764531000000.i1.000000000001"));
        assert_eq!(verdicts[0].waiting_for, None);
        assert!(verdicts[1].is_waiting() && !verdicts[1].is_rejection());
        assert_eq!(verdicts[1].code.as_deref(), Some("camera_not_in_session"));
        assert_eq!(verdicts[1].waiting_for, Some(WaitingFor { kind: "camera".into(), key: "s/hero".into() }));
        let json = serde_json::to_value(&verdicts[1]).expect("json");
        assert_eq!(json["waitingFor"]["kind"], "camera");
        assert_eq!(json["verdict"], "waiting");
    }

    #[test]
    fn settle_answers_verdicts_or_missing_in_the_order_asked() {
        let ids = [EventId::new_random(), EventId::new_random(), EventId::new_random()];
        let answer = serde_json::json!({"verdicts": [
            {"eventId": ids[0].to_string(), "verdict": "applied", "timeline": "t0"},
            {"eventId": ids[1].to_string(), "verdict": "missing"},
            {"verdict": "rejected", "code": "camera_not_in_session", "message": "no camera hero"},
        ]});
        let settled = settled_for(&ids, answer).expect("answers");
        assert!(matches!(&settled[0], Settled::Verdict(v) if v.verdict == VerdictKind::Applied));
        assert_eq!(settled[1], Settled::Missing);
        assert!(matches!(&settled[2], Settled::Verdict(v) if v.is_rejection()));
        let bare = serde_json::json!({"verdicts": ["missing"]});
        assert_eq!(settled_for(&ids[..1], bare).expect("bare"), vec![Settled::Missing]);
        let short = serde_json::json!({"verdicts": []});
        assert!(matches!(settled_for(&ids[..1], short), Err(LedgerError::Protocol(_))));
        let swapped = serde_json::json!({"verdicts": [{"eventId": ids[1].to_string(), "verdict": "applied"}]});
        assert!(matches!(settled_for(&ids[..1], swapped), Err(LedgerError::Protocol(_))));
    }

    #[test]
    fn the_http_api_lives_beside_the_sync_socket() {
        assert_eq!(http_base("wss://happy-otter-123.convex.cloud/"), "https://happy-otter-123.convex.cloud");
        assert_eq!(http_base("ws://127.0.0.1:3210"), "http://127.0.0.1:3210");
        assert_eq!(http_base("https://x.convex.cloud"), "https://x.convex.cloud");
    }
}
