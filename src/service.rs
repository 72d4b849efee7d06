//! Wiring: opens the journal, connects the ledger, starts the forwarder and
//! the HTTP server, and shuts them down in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, AppState, HttpLimits};
use crate::config::{LedgerConfig, ServeConfig};
use crate::domain::Millis;
use crate::forwarder::{Forwarder, ForwarderOptions};
use crate::journal::{Journal, JournalOptions};
use crate::ledger::{ConvexLedger, ConvexSettings, Ledger, NoLedger};
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
    let options = JournalOptions {
        max_pending: cfg.max_backlog,
        reserve: cfg.journal_reserve,
        max_bytes: cfg.journal_max_size.map(|s| s.0),
        ..JournalOptions::default()
    };
    Journal::open(&path, options).with_context(|| format!("cannot open the journal at {}", path.display()))
}

fn forwarder_options(cfg: &LedgerConfig) -> ForwarderOptions {
    ForwarderOptions { batch_size: cfg.batch_size, ..ForwarderOptions::default() }
}

/// Runs the service until `shutdown` resolves, then drains: new writes get
/// 503, in-flight requests finish, the forwarder stops after its batch, and
/// the journal commits what it has queued.
pub async fn serve(cfg: ServeConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    cfg.validate()?;
    let credentials = cfg.credentials()?;
    let rate = cfg.rate()?;
    if credentials.is_empty() {
        tracing::warn!("no credentials configured: writes and reads are open (loopback only)");
    }
    let journal = open_journal(&cfg)?;
    let ledger = connect_ledger(&cfg.ledger).await?;
    let metrics = Arc::new(Metrics::default());
    let state = AppState::new(journal.clone(), ledger.clone(), metrics.clone(), credentials, rate);
    let (stop_tx, stop_rx) = watch::channel(false);

    let forwarder = ledger.is_configured().then(|| {
        let f = Forwarder::new(journal.clone(), ledger.clone(), metrics.clone(), forwarder_options(&cfg.ledger));
        tokio::spawn(f.run(stop_rx.clone()))
    });
    let every = Duration::from_secs(cfg.compact_interval_secs);
    let compactor =
        cfg.retention().map(|keep| tokio::spawn(compact_loop(journal.clone(), keep, every, stop_rx.clone())));
    let storage_watch = tokio::spawn(storage_loop(journal.clone(), stop_rx.clone()));

    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // One machine-readable line on stdout, for scripts and the test harness.
    println!("SHOOTLOG_LISTENING=http://{addr}");
    tracing::info!(%addr, ledger = ledger.mode(), journal = %journal.path().display(), backlog = journal.depth().pending, "shootlog is listening");
    if !ledger.is_configured() {
        tracing::info!("no ledger configured (CONVEX_URL unset): events stay pending in the journal");
    }

    let limits = HttpLimits { request_timeout: cfg.request_timeout(), max_concurrency: cfg.max_concurrency as usize };
    let app = api::router(state.clone(), limits);
    let drain_state = state.clone();
    let failed = journal.clone();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => tracing::info!("shutting down: draining requests"),
            () = failed.failed() => tracing::error!("the journal failed an fsync: draining requests, then exiting"),
        }
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
    let _ = storage_watch.await;
    journal.close().await;
    if journal.has_failed() {
        anyhow::bail!(
            "an fsync of the journal at {} failed: exiting so that it is recovered from its WAL on restart (every acknowledged event was synced before its answer)",
            journal.path().display()
        );
    }
    tracing::info!(backlog = journal.depth().pending, "journal closed; goodbye");
    Ok(())
}

/// Longest wait for in-flight requests after a shutdown signal.
const DRAIN_GRACE: Duration = Duration::from_secs(25);

/// How long open connections keep being answered (with `Connection: close`)
/// after a shutdown signal, before idle ones are closed.
const DRAIN_LINGER: Duration = Duration::from_millis(500);

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

/// How often the journal's storage is checked, and, while it is not
/// writable, tried with a test write.
const STORAGE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Delivered entries dropped per transaction under storage pressure: few
/// enough that their WAL frames fit in a small reserve.
const SHED_CHUNK: u32 = 500;

/// Keeps the journal's storage state fresh without waiting for requests:
/// checks it every second, tries a test write while it is not writable (so
/// that it recovers by itself), and while it is full or below its reserve
/// drops delivered entries early (the ledger holds them) until there is
/// room again, and truncates the WAL.
async fn storage_loop(journal: Journal, mut stop: watch::Receiver<bool>) {
    use crate::journal::StorageFault;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(STORAGE_CHECK_EVERY) => {}
            _ = stop.changed() => return,
        }
        if journal.has_failed() {
            return;
        }
        let _ = if journal.storage().writable { journal.check_storage().await } else { journal.probe().await };
        if !matches!(journal.storage().fault, Some(StorageFault::Reserve | StorageFault::Full)) {
            continue;
        }
        // Delivered entries go, oldest first, until there is room again.
        let mut shed = 0;
        loop {
            match journal.compact_delivered(SHED_CHUNK).await {
                Ok(0) => break,
                Ok(n) => shed += n,
                Err(e) => {
                    tracing::debug!(error = %e, "early compaction failed");
                    break;
                }
            }
            let _ = journal.check_storage().await;
            if journal.storage().writable {
                break;
            }
        }
        if shed > 0 {
            tracing::info!(removed = shed, "journal storage is short: compacted delivered entries early");
        }
        // The WAL's space back to the volume (a no-op once it is empty).
        let _ = journal.checkpoint().await;
        let _ = journal.probe().await;
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
