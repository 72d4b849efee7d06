//! Wiring: opens the journal, connects the ledger, starts the forwarder and
//! the HTTP server, and shuts them down in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, ApiSettings, AppState};
use crate::config::{LedgerConfig, ServeConfig};
use crate::domain::Millis;
use crate::forwarder::{Forwarder, ForwarderOptions};
use crate::journal::{Journal, JournalOptions};
use crate::ledger::{ConvexLedger, ConvexSettings, Ledger, LedgerState, NoLedger};
use crate::limits::{DRAIN_GRACE, DRAIN_LINGER};
use crate::telemetry::Metrics;

/// The ledger the configuration names, or the embedded default.
pub async fn connect_ledger(cfg: &LedgerConfig) -> anyhow::Result<Arc<dyn Ledger>> {
    Ok(match &cfg.convex_url {
        None => Arc::new(NoLedger),
        Some(url) => Arc::new(
            ConvexLedger::connect(ConvexSettings {
                url: url.clone(),
                deploy_key: cfg.convex_deploy_key.clone(),
                call_timeout: Duration::from_secs(cfg.ledger_timeout_secs),
            })
            .await
            .with_context(|| format!("cannot set up the Convex client for {url}"))?,
        ),
    })
}

pub fn open_journal(cfg: &ServeConfig) -> anyhow::Result<Journal> {
    let path = cfg.journal_path();
    Journal::open(&path, JournalOptions { max_pending: cfg.max_backlog, ..JournalOptions::default() })
        .with_context(|| format!("cannot open the journal at {}", path.display()))
}

fn forwarder_options(cfg: &LedgerConfig) -> ForwarderOptions {
    ForwarderOptions {
        batch_size: cfg.batch_size,
        check_interval: Duration::from_secs(cfg.ledger_check_secs),
        ..ForwarderOptions::default()
    }
}

/// Runs the service until `shutdown` resolves, then drains: new writes get
/// 503, in-flight requests finish, the forwarder stops after its batch, and
/// the journal commits what it has queued.
pub async fn serve(cfg: ServeConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    cfg.validate()?;
    let settings = ApiSettings::from_settings(&cfg)?;
    if settings.credentials.is_empty() {
        tracing::warn!("no credentials configured: writes and reads are open (loopback only)");
    }
    let journal = open_journal(&cfg)?;
    let ledger = connect_ledger(&cfg.ledger).await?;
    let metrics = Arc::new(Metrics::default());
    let state = AppState::new(settings, journal.clone(), ledger.clone(), metrics.clone());
    let (stop_tx, stop_rx) = watch::channel(false);

    let forwarder = ledger.is_configured().then(|| {
        let f = Forwarder::new(journal.clone(), ledger.clone(), metrics.clone(), forwarder_options(&cfg.ledger));
        tokio::spawn(f.run(stop_rx.clone()))
    });
    let every = Duration::from_secs(cfg.compact_interval_secs);
    let compactor =
        cfg.retention().map(|keep| tokio::spawn(compact_loop(journal.clone(), keep, every, stop_rx.clone())));

    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // One machine-readable line on stdout, for scripts and the test harness.
    println!("SHOOTLOG_LISTENING=http://{addr}");
    tracing::info!(%addr, ledger = ledger.mode(), journal = %journal.path().display(), backlog = journal.depth().pending, "shootlog is listening");
    if !ledger.is_configured() {
        tracing::info!("no ledger configured (CONVEX_URL unset): events stay pending in the journal");
    }

    let app = api::router(state.clone());
    let drain_state = state.clone();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: draining requests");
        drain_state.start_draining();
    };
    serve_http(listener, app, Duration::from_secs(cfg.header_timeout_secs), shutdown).await;

    let _ = stop_tx.send(true);
    if let Some(f) = forwarder {
        let _ = tokio::time::timeout(Duration::from_secs(10), f).await;
    }
    if let Some(c) = compactor {
        let _ = c.await;
    }
    journal.close().await;
    tracing::info!(backlog = journal.depth().pending, "journal closed; goodbye");
    Ok(())
}

/// The HTTP/1.1 and HTTP/2 accept loop. Unlike `axum::serve`, it bounds the
/// time a client may take to send its headers (a stalled phone on venue
/// Wi-Fi must not hold a connection forever). On shutdown it stops
/// accepting, lets in-flight requests finish (up to [`DRAIN_GRACE`]) and
/// closes idle connections.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut http = Builder::new(TokioExecutor::new());
    // half_close: a client may shut its write side once the request is sent
    // and still read the answer.
    http.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout).half_close(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: pause, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = http.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    tokio::time::sleep(DRAIN_LINGER).await;
    if tokio::time::timeout(DRAIN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests were still running after {DRAIN_GRACE:?}");
    }
}

async fn compact_loop(journal: Journal, keep: Duration, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        let before = Millis(Millis::now().0 - keep.as_millis() as i64);
        match journal.compact(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "compacted settled journal entries"),
            Err(e) => tracing::warn!(error = %e, "journal compaction failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// `shootlog replay`: marks settled entries pending again and drains them
/// into the ledger, then exits.
pub async fn replay(cfg: ServeConfig, session: Option<String>) -> anyhow::Result<()> {
    cfg.validate()?;
    anyhow::ensure!(cfg.ledger.convex_url.is_some(), "replay needs a ledger: set CONVEX_URL (and CONVEX_DEPLOY_KEY)");
    let journal = open_journal(&cfg)?;
    let partition = match session {
        Some(s) => {
            let key =
                crate::domain::SessionKey::parse(s.clone()).map_err(|e| anyhow::anyhow!("--session {s:?}: {e}"))?;
            Some(crate::domain::Partition::for_session(&key))
        }
        None => None,
    };
    let requeued = journal.requeue(partition).await?;
    let ledger = connect_ledger(&cfg.ledger).await?;
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(
        Forwarder::new(journal.clone(), ledger, metrics.clone(), forwarder_options(&cfg.ledger)).run(stop_rx),
    );
    let total = journal.depth().pending;
    println!("replaying {total} events ({requeued} re-queued)");
    while journal.depth().pending > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop_tx.send(true);
    let _ = task.await;
    let d = journal.depth();
    println!(
        "replayed: {} delivered, {} rejected by the ledger",
        metrics.delivered.load(std::sync::atomic::Ordering::Relaxed),
        metrics.rejected.load(std::sync::atomic::Ordering::Relaxed)
    );
    journal.close().await;
    anyhow::ensure!(d.pending == 0, "{} events still pending", d.pending);
    Ok(())
}

/// How `shootlog check` ends: 0 when the ledger is usable, otherwise a code
/// per reason, so that a deploy pipeline can tell them apart.
pub fn check_exit_code(state: LedgerState, round_trip_ok: bool) -> u8 {
    match state {
        LedgerState::Connected if round_trip_ok => 0,
        LedgerState::Connected => 6,
        LedgerState::None => 1,
        LedgerState::Unreachable => 2,
        LedgerState::Unauthorized => 3,
        LedgerState::Unusable => 4,
        LedgerState::Incompatible => 5,
    }
}

/// `shootlog check`: the handshake and one harmless round trip against the
/// configured deployment; prints the deployment report (JSON) and answers
/// the exit code of [`check_exit_code`].
pub async fn check(cfg: ServeConfig) -> anyhow::Result<u8> {
    cfg.validate()?;
    anyhow::ensure!(cfg.ledger.convex_url.is_some(), "check needs a ledger: set CONVEX_URL and CONVEX_DEPLOY_KEY");
    let journal = open_journal(&cfg)?;
    let ledger = connect_ledger(&cfg.ledger).await?;
    let status = ledger.check().await;
    let round_trip = match status.state {
        LedgerState::Connected => Some(ledger.round_trip().await),
        _ => None,
    };
    let report = api::ops::DeploymentReport::gather(&journal, ledger.as_ref(), 0)
        .await
        .map_err(|e| anyhow::anyhow!("the journal report: {e}"))?;
    let mut doc = serde_json::to_value(&report)?;
    if let Some(rt) = &round_trip {
        doc["ledger"]["roundTrip"] = match rt {
            Ok(d) => {
                serde_json::json!({"ok": true, "path": crate::ledger::RECEIPT_QUERY, "ms": d.as_secs_f64() * 1000.0})
            }
            Err(e) => serde_json::json!({"ok": false, "path": crate::ledger::RECEIPT_QUERY, "error": e.to_string()}),
        };
    }
    println!("{}", serde_json::to_string_pretty(&doc)?);
    journal.close().await;
    let code = check_exit_code(status.state, round_trip.as_ref().is_some_and(Result::is_ok));
    if code != 0 {
        let why = status.reason.unwrap_or_else(|| "the round trip over the sync socket failed".into());
        eprintln!("ledger {}: {why}", status.state.as_str());
    }
    Ok(code)
}

/// `shootlog token --device ID`: a new random device token and the line (its
/// hash) for the device token file.
pub fn issue_token(device: &str) -> anyhow::Result<()> {
    use base64::Engine;
    use rand::RngCore;
    let device = crate::domain::DeviceId::parse(device).map_err(|e| anyhow::anyhow!("--device {device:?}: {e}"))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("sld_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash: String = crate::api::auth::token_hash(&token).iter().map(|b| format!("{b:02x}")).collect();
    println!("token for {device} (give it to the device; it is not stored anywhere):\n  {token}");
    println!("line for SHOOTLOG_DEVICE_TOKENS_FILE:\n  {device} {hash}");
    Ok(())
}
