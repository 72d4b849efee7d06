//! The Convex ledger, through the official `convex` crate.
//!
//! Facts this code respects (`docs/convex-facts.md`): the client has
//! no timeouts, so every call is wrapped in one; a call that timed out or lost
//! its connection may still run once or twice, which is safe because
//! `ingest:applyBatch` is idempotent on `eventId`; one socket runs its
//! mutations serially, so events travel in batches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use convex::{ConvexClient, ConvexClientBuilder, FunctionResult, Value, WebSocketState};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::{BoxFuture, Ledger, LedgerError};
use crate::domain::{Envelope, SessionKey, Verdict, VerdictKind};

/// The mutation that applies a batch (`convex/ingest.ts`).
pub const APPLY_BATCH: &str = "ingest:applyBatch";
/// The query that reads a session's ledger (`convex/ledger.ts`).
pub const SESSION_QUERY: &str = "ledger:session";
use crate::limits::LEDGER_READ_TIMEOUT;

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

pub struct ConvexLedger {
    client: ConvexClient,
    reader: ConvexClient,
    connected: Arc<AtomicBool>,
    timeout: Duration,
}

/// Installs rustls' ring provider once per process; without it the first
/// `wss` handshake panics inside the client's worker.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl ConvexLedger {
    /// Builds the client. Connecting is lazy: an unreachable deployment is
    /// not an error here, it shows as `connected = false` and as retries.
    pub async fn connect(settings: ConvexSettings) -> anyhow::Result<Self> {
        install_crypto_provider();
        let connected = Arc::new(AtomicBool::new(false));
        let (state_tx, mut state_rx) = mpsc::channel(16);
        let mut client = ConvexClientBuilder::new(&settings.url)
            .with_client_id("shootlog")
            .with_on_state_change(state_tx)
            .build()
            .await?;
        let flag = connected.clone();
        tokio::spawn(async move {
            while let Some(state) = state_rx.recv().await {
                flag.store(matches!(state, WebSocketState::Connected), Ordering::Relaxed);
            }
        });
        if let Some(key) = &settings.deploy_key {
            client.set_admin_auth(key.clone(), None).await;
        }
        // Reads use their own socket so that a long read never waits behind
        // a batch of writes.
        let mut reader = ConvexClientBuilder::new(&settings.url).with_client_id("shootlog-reader").build().await?;
        if let Some(key) = &settings.deploy_key {
            reader.set_admin_auth(key.clone(), None).await;
        }
        Ok(Self { client, reader, connected, timeout: settings.call_timeout })
    }

    async fn call(
        &self,
        client: &ConvexClient,
        mutation: bool,
        name: &str,
        args: BTreeMap<String, Value>,
        timeout: Duration,
    ) -> Result<serde_json::Value, LedgerError> {
        // Clones share the socket; each call gets its own handle.
        let mut c = client.clone();
        let fut = async { if mutation { c.mutation(name, args).await } else { c.query(name, args).await } };
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(LedgerError::Transport(format!("{name} timed out after {timeout:?}"))),
            Ok(Err(e)) => Err(LedgerError::Transport(format!("{name}: {e}"))),
            Ok(Ok(FunctionResult::Value(v))) => Ok(v.export()),
            Ok(Ok(FunctionResult::ErrorMessage(m))) => Err(LedgerError::Function(m)),
            Ok(Ok(FunctionResult::ConvexError(e))) => {
                Err(LedgerError::Function(format!("{} ({:?})", e.message, e.data)))
            }
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
    sequence: Option<f64>,
    #[serde(default)]
    ledger_ids: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct WireBatchResult {
    verdicts: Vec<WireVerdict>,
}

/// Matches the ledger's answer to the events sent, by event id, in order.
fn verdicts_for(events: &[Envelope], answer: serde_json::Value) -> Result<Vec<Verdict>, LedgerError> {
    let result: WireBatchResult =
        serde_json::from_value(answer).map_err(|e| LedgerError::Protocol(format!("applyBatch result: {e}")))?;
    let mut by_id: HashMap<String, WireVerdictBody> =
        result.verdicts.into_iter().map(|v| (v.event_id, v.verdict)).collect();
    events
        .iter()
        .map(|e| {
            let id = e.event_id.to_string();
            let w = by_id.remove(&id).ok_or_else(|| LedgerError::Protocol(format!("no verdict for event {id}")))?;
            Ok(Verdict {
                verdict: w.verdict,
                code: w.code,
                message: w.message,
                original: w.original,
                sequence: w.sequence.filter(|s| s.is_finite() && *s >= 0.0).map(|s| s as u64),
                ledger_ids: w.ledger_ids,
            })
        })
        .collect()
}

impl Ledger for ConvexLedger {
    fn mode(&self) -> &'static str {
        "convex"
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn apply_batch<'a>(&'a self, events: &'a [Envelope]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>> {
        Box::pin(async move {
            let wire = serde_json::to_value(events).map_err(|e| LedgerError::Protocol(e.to_string()))?;
            let wire = Value::try_from(wire).map_err(|e| LedgerError::Protocol(e.to_string()))?;
            let args = BTreeMap::from([("events".to_string(), wire)]);
            let answer = self.call(&self.client, true, APPLY_BATCH, args, self.timeout).await?;
            verdicts_for(events, answer)
        })
    }

    fn session<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>> {
        Box::pin(async move {
            let args = BTreeMap::from([("sessionKey".to_string(), Value::from(key.as_str().to_string()))]);
            let answer =
                self.call(&self.reader, false, SESSION_QUERY, args, LEDGER_READ_TIMEOUT.min(self.timeout)).await?;
            Ok((!answer.is_null()).then_some(answer))
        })
    }
}
