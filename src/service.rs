//! Wiring: opens the journal, connects the ledger, starts the forwarder and
//! the HTTP server, and shuts them down in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::{self, ApiSettings, AppState};
use crate::config::{CheckArgs, LedgerConfig, ReplayArgs, ServeConfig, TokenFormat, exit, journal_path_in};
use crate::domain::Millis;
use crate::embedded::{Embedded, EmbeddedLedger};
use crate::forwarder::follower::Follower;
use crate::forwarder::{Forwarder, ForwarderOptions};
use crate::journal::{Journal, JournalOptions};
use crate::ledger::{ConvexLedger, ConvexSettings, Ledger, LedgerState, NoLedger};
use crate::limits::{DRAIN_GRACE, DRAIN_LINGER};
use crate::progress::{Counts, Progress};
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

/// Opens the embedded ledger (a missing file is created empty, and the
/// follower rebuilds it from the journal).
pub fn open_embedded(path: &std::path::Path) -> anyhow::Result<Embedded> {
    let ledger =
        EmbeddedLedger::open(path).with_context(|| format!("cannot open the embedded ledger at {}", path.display()))?;
    Ok(Embedded::new(ledger))
}

fn forwarder_options(cfg: &LedgerConfig) -> ForwarderOptions {
    ForwarderOptions {
        batch_size: cfg.batch_size,
        batch_bytes: usize::try_from(cfg.ledger_batch_bytes).unwrap_or(crate::limits::LEDGER_BATCH_BYTES),
        check_interval: Duration::from_secs(cfg.ledger_check_secs),
        waiting_poll: Duration::from_secs(cfg.waiting_poll_secs),
        waiting_grace: Duration::from_secs(cfg.waiting_grace_secs),
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
    let embedded = open_embedded(&cfg.embedded_path())?;
    let state = AppState::new(settings, journal.clone(), ledger.clone(), metrics.clone()).with_reads(
        embedded.clone(),
        cfg.read_from,
        Duration::from_secs(cfg.device_stale_secs),
    );
    let (stop_tx, stop_rx) = watch::channel(false);

    let follower = Follower {
        journal: journal.clone(),
        embedded,
        metrics: metrics.clone(),
        grace: Duration::from_secs(cfg.ledger.waiting_grace_secs),
    };
    let follower = tokio::spawn(follower.run(stop_rx.clone()));

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
        tracing::info!(
            "no Convex ledger configured (CONVEX_URL unset): events stay pending in the journal; the embedded ledger keeps the shoot"
        );
    }

    let app = api::router(state.clone());
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
    let _ = tokio::time::timeout(Duration::from_secs(10), follower).await;
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

/// How a `shootlog replay` ended.
#[derive(Debug, Clone)]
pub struct ReplaySummary {
    /// Events pending when the replay started (re-queued ones included).
    pub total: u64,
    pub counts: Counts,
    /// Events still pending at the end (only after an interruption).
    pub pending: u64,
    /// Events the ledger keeps waiting at the end (in the ledger, not yet
    /// applied; the service asks after them).
    pub waiting: u64,
    pub elapsed: Duration,
    pub interrupted: bool,
}

impl ReplaySummary {
    /// The process's exit status: [`exit::OK`], [`exit::REJECTED`] or
    /// [`exit::INTERRUPTED`].
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            exit::INTERRUPTED
        } else if self.counts.rejected > 0 {
            exit::REJECTED
        } else {
            exit::OK
        }
    }
}

impl std::fmt::Display for ReplaySummary {
    /// One line: `replayed: 4 delivered, 0 rejected (3 applied, 1 duplicate) of 4 events in 0.4 s, 10 events/s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counts;
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 { c.settled() as f64 / secs } else { 0.0 };
        let head = if self.interrupted { "replay interrupted" } else { "replayed" };
        write!(
            f,
            "{head}: {} delivered, {} rejected ({} applied, {} duplicate) of {} events in {secs:.1} s, {rate:.0} events/s",
            c.applied + c.duplicate,
            c.rejected,
            c.applied,
            c.duplicate,
            self.total,
        )?;
        if self.pending > 0 {
            write!(f, "; {} still pending", self.pending)?;
        }
        if self.waiting > 0 {
            write!(f, "; {} waiting in the ledger", self.waiting)?;
        }
        Ok(())
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
/// into the ledger, showing progress, until none is pending or `shutdown`
/// resolves.
pub async fn replay(args: ReplayArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<ReplaySummary> {
    args.ledger.validate()?;
    anyhow::ensure!(
        args.ledger.convex_url.is_some(),
        "replay needs a ledger: set CONVEX_URL (and CONVEX_DEPLOY_KEY), or --convex-url"
    );
    let path = args.journal_path();
    anyhow::ensure!(path.is_file(), "no journal at {} (see --data-dir)", path.display());
    let journal = Journal::open(&path, JournalOptions::default())
        .with_context(|| format!("cannot open the journal at {}", path.display()))?;
    let partition = match &args.session {
        Some(s) => {
            let key =
                crate::domain::SessionKey::parse(s.clone()).map_err(|e| anyhow::anyhow!("--session {s:?}: {e}"))?;
            Some(crate::domain::Partition::for_session(&key))
        }
        None => None,
    };
    let requeued = journal.requeue(partition).await?;
    let ledger = connect_ledger(&args.ledger).await?;
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let total = journal.depth().pending;
    tracing::info!("replaying {total} events ({requeued} re-queued) from {}", path.display());
    let started = std::time::Instant::now();
    let mut progress = Progress::start("replay", total, args.progress);
    let task = tokio::spawn(
        Forwarder::new(journal.clone(), ledger, metrics.clone(), forwarder_options(&args.ledger)).run(stop_rx),
    );
    let mut shutdown = std::pin::pin!(shutdown);
    let interrupted = loop {
        progress.update(&Counts::of(&metrics));
        if journal.depth().pending == 0 {
            break false;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            () = &mut shutdown => break true,
        }
    };
    let _ = stop_tx.send(true);
    if interrupted {
        tracing::info!("interrupted: the batch in flight settles (at most 10 s), the rest stays pending");
    }
    // The batch in flight settles, or is abandoned (it stays pending).
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    let counts = Counts::of(&metrics);
    progress.finish(&counts);
    let depth = journal.depth();
    let summary = ReplaySummary {
        total,
        counts,
        pending: depth.pending,
        waiting: depth.waiting,
        elapsed: started.elapsed(),
        interrupted,
    };
    journal.close().await;
    anyhow::ensure!(interrupted || summary.pending == 0, "{} events still pending", summary.pending);
    Ok(summary)
}

/// A device token `shootlog token` issued.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedToken {
    pub device_id: String,
    /// Give it to the device; it is not stored anywhere.
    pub token: String,
    /// The line for `SHOOTLOG_DEVICE_TOKENS_FILE`: the device and the token's
    /// SHA-256 (hex).
    pub token_file_line: String,
}

/// How `shootlog check` ends (`config::exit`): 0 when the ledger is
/// usable, otherwise a code per reason, so that a deploy pipeline can tell
/// them apart.
pub fn check_exit_code(state: LedgerState, round_trip_ok: bool) -> u8 {
    match state {
        LedgerState::Connected if round_trip_ok => exit::OK,
        LedgerState::Connected => exit::LEDGER_ROUND_TRIP_FAILED,
        LedgerState::None => exit::ERROR,
        LedgerState::Unreachable => exit::LEDGER_UNREACHABLE,
        LedgerState::Unauthorized => exit::LEDGER_UNAUTHORIZED,
        LedgerState::Unusable => exit::LEDGER_UNUSABLE,
        LedgerState::Incompatible => exit::LEDGER_INCOMPATIBLE,
    }
}

/// `shootlog check`: the handshake and one harmless round trip against the
/// configured deployment; prints the deployment report (JSON) and answers
/// the exit code of [`check_exit_code`].
pub async fn check(args: CheckArgs) -> anyhow::Result<u8> {
    args.ledger.validate()?;
    anyhow::ensure!(args.ledger.convex_url.is_some(), "check needs a ledger: set CONVEX_URL and CONVEX_DEPLOY_KEY");
    let path = journal_path_in(&args.data_dir);
    let journal = match path.is_file() {
        true => Some(
            Journal::open(&path, JournalOptions::default())
                .with_context(|| format!("cannot open the journal at {}", path.display()))?,
        ),
        false => None,
    };
    let ledger = connect_ledger(&args.ledger).await?;
    let status = ledger.check().await;
    let round_trip = match status.state {
        LedgerState::Connected => Some(ledger.round_trip().await),
        _ => None,
    };
    let report = api::ops::DeploymentReport::gather(journal.as_ref(), ledger.as_ref(), 0)
        .await
        .map_err(|e| anyhow::anyhow!("the journal report: {e}"))?;
    let mut doc = serde_json::to_value(&report)?;
    if let Some(rt) = &round_trip {
        let path = crate::ledger::RECEIPT_QUERY;
        doc["ledger"]["roundTrip"] = match rt {
            Ok(d) => serde_json::json!({"ok": true, "path": path, "ms": d.as_secs_f64() * 1000.0}),
            Err(e) => serde_json::json!({"ok": false, "path": path, "error": e.to_string()}),
        };
    }
    println!("{}", serde_json::to_string_pretty(&doc)?);
    if let Some(j) = journal {
        j.close().await;
    }
    let code = check_exit_code(status.state, round_trip.as_ref().is_some_and(Result::is_ok));
    if code != exit::OK {
        let why = match &round_trip {
            Some(Err(e)) => e.to_string(),
            _ => status.reason.unwrap_or_default(),
        };
        eprintln!("ledger {}: {why}", status.state.as_str());
    }
    Ok(code)
}

/// `shootlog token --device ID`: a new random device token and the line (its
/// hash) for the device token file.
pub fn issue_token(device: &str) -> anyhow::Result<IssuedToken> {
    use base64::Engine;
    use rand::RngCore;
    let device = crate::domain::DeviceId::parse(device).map_err(|e| anyhow::anyhow!("--device {device:?}: {e}"))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("sld_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash: String = crate::api::auth::token_hash(&token).iter().map(|b| format!("{b:02x}")).collect();
    Ok(IssuedToken { device_id: device.to_string(), token, token_file_line: format!("{device} {hash}") })
}

impl IssuedToken {
    /// What `shootlog token --format …` prints (ends with a newline).
    pub fn render(&self, format: TokenFormat) -> anyhow::Result<String> {
        Ok(match format {
            TokenFormat::Text => format!(
                "token for {} (give it to the device; it is not stored anywhere):\n  {}\nline for SHOOTLOG_DEVICE_TOKENS_FILE:\n  {}\n",
                self.device_id, self.token, self.token_file_line
            ),
            TokenFormat::Json => format!("{}\n", serde_json::to_string(self)?),
            TokenFormat::Env => [
                ("SHOOTLOG_DEVICE_ID", &self.device_id),
                ("SHOOTLOG_DEVICE_TOKEN", &self.token),
                ("SHOOTLOG_DEVICE_TOKEN_FILE_LINE", &self.token_file_line),
            ]
            .iter()
            .map(|(k, v)| format!("{k}={}\n", shell_quote(v)))
            .collect(),
        })
    }
}

/// A POSIX shell word for `s`: as is when it is plain, in single quotes
/// otherwise.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-' | b'/' | b'+' | b'='));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("ipad-a"), "ipad-a");
        assert_eq!(shell_quote("sld_AbC-9"), "sld_AbC-9");
        assert_eq!(shell_quote("ipad-a 0f3c"), "'ipad-a 0f3c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn an_issued_token_renders_as_text_json_and_env() {
        let t = issue_token("ipad-a").expect("token");
        assert!(t.token.starts_with("sld_"));
        let hash: String = crate::api::auth::token_hash(&t.token).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(t.token_file_line, format!("ipad-a {hash}"));
        let json: serde_json::Value = serde_json::from_str(&t.render(TokenFormat::Json).expect("json")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"deviceId": "ipad-a", "token": t.token, "tokenFileLine": t.token_file_line})
        );
        let env = t.render(TokenFormat::Env).expect("env");
        assert_eq!(
            env,
            format!(
                "SHOOTLOG_DEVICE_ID=ipad-a\nSHOOTLOG_DEVICE_TOKEN={}\nSHOOTLOG_DEVICE_TOKEN_FILE_LINE='{}'\n",
                t.token, t.token_file_line
            )
        );
        assert!(t.render(TokenFormat::Text).expect("text").contains(&t.token));
        assert!(issue_token("not a device").is_err());
    }
}
