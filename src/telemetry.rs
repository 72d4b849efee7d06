//! Logs (tracing) and metrics (OpenMetrics text, via `prometheus-client`).
//!
//! # Why `prometheus-client`
//!
//! The metrics live on the official Prometheus client for Rust
//! (`prometheus-client`, the OpenMetrics reference implementation in Rust)
//! rather than on the `metrics` facade with `metrics-exporter-prometheus`:
//!
//! - A registry is a value, owned by [`Metrics`]: every service in a
//!   process (the integration tests run many) has its own, with no global
//!   recorder to install or to share.
//! - Label sets are types ([`HttpLabels`], [`LedgerCallLabels`], …) whose
//!   values come from closed sets (route templates, a fixed list of methods,
//!   status codes, bounded rejection codes): a session key or a device id
//!   cannot become a label by accident.
//! - Histograms have explicit buckets, and the counters and gauges are plain
//!   atomics, as cheap as the hand-written ones they replace.
//!
//! `/metrics` answers in the OpenMetrics text format
//! ([`CONTENT_TYPE`]), which Prometheus scrapes natively. The metric names
//! are those of the hand-written exposition before it: OpenMetrics names a
//! counter's family without its `_total` suffix (`# TYPE
//! shootlog_events_accepted counter`), the sample keeps it
//! (`shootlog_events_accepted_total 3`), and the exposition ends in `# EOF`.
//!
//! [`Metrics`] holds what the service counts as it goes; the values read
//! from the journal and the ledger at scrape time ([`Gauges`]) are encoded
//! into a registry built for that scrape.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, text};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use tracing_subscriber::EnvFilter;

use crate::journal::{StorageFault, StorageStatus};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for production.
    Json,
}

/// Installs the global tracing subscriber, writing to `writer` (the
/// command's stderr: `progress::stderr` keeps lines above a progress bar).
/// `RUST_LOG` overrides the level.
pub fn init<W>(format: LogFormat, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,convex=warn,tungstenite=warn"));
    // Colours only on a terminal: a file or a pipe gets plain lines.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}

/// The content type of `/metrics`: the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the delivery-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// Upper bounds (seconds) of the HTTP request, ledger call and journal
/// commit duration buckets.
const DURATION_BUCKETS: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Upper bounds of the events-per-journal-commit and events-per-ledger-batch
/// buckets (the largest batch is [`crate::limits::LEDGER_BATCH_MAX`], the
/// largest group the journal's `max_group`).
const SIZE_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

/// A histogram of durations (seconds).
pub fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// A histogram of sizes (events).
pub fn size_histogram() -> Histogram {
    Histogram::new(SIZE_BUCKETS)
}

type Seconds = Counter<f64, AtomicU64>;
type Histograms<S> = Family<S, Histogram, fn() -> Histogram>;

/// Labels of an HTTP request: the route's template (never the raw path;
/// `unmatched` for none), the method (a fixed set, `OTHER` beyond it) and
/// the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: &'static str,
    pub status: u16,
}

/// Label of a request duration: the route's template.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// Label of a ledger call: how it ended (`ok`, `transport`, `function`,
/// `protocol`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LedgerCallLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

/// The route label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The rejection code label of a code beyond the bound
/// ([`crate::limits::REJECTION_CODE_LABELS_MAX`]) or not shaped like one.
pub const OTHER_CODE: &str = "other";

/// The method label: the methods of HTTP and WebDAV's common ones keep
/// their name, any other is `OTHER`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *method {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::PATCH => "PATCH",
        M::OPTIONS => "OPTIONS",
        M::TRACE => "TRACE",
        M::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// What the service counts as it goes, since start.
pub struct Metrics {
    registry: Registry,
    pub accepted: Counter,
    pub replayed: Counter,
    pub refused: Counter,
    /// Events sent to the ledger, re-sends included.
    pub sent: Counter,
    pub delivered: Counter,
    /// The delivered events the ledger had already applied (`duplicate`).
    pub duplicates: Counter,
    pub rejected: Counter,
    pub retried: Counter,
    pub isolated: Counter,
    pub batches: Counter,
    /// Events the embedded ledger applied from the journal.
    pub embedded_applied: Counter,
    /// Settled events on whose verdict Convex and the embedded ledger differ.
    pub embedded_disagreements: Counter,
    /// Settled events whose verdicts the audit compared.
    pub embedded_audited: Counter,
    /// Time the forwarder spent waiting for the ledger.
    pub ledger_call_seconds: Seconds,
    /// Time the forwarder spent reading and settling journal entries.
    pub journal_io_seconds: Seconds,
    delivery_latency: Histogram,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    /// Events per ledger call.
    batch_events: Histogram,
    ledger_calls: Histograms<LedgerCallLabels>,
    rejections: Family<CodeLabels, Counter>,
    /// The rejection codes that have a label of their own.
    rejection_codes: Mutex<HashSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Gauges read at scrape time.
pub struct Gauges {
    pub pending: u64,
    /// Entries the ledger keeps waiting for a prerequisite.
    pub waiting: u64,
    /// Age of the oldest pending event, in seconds (0 when none is
    /// pending); `None` when the journal could not be read.
    pub oldest_pending_age_secs: Option<f64>,
    pub delivered_kept: u64,
    pub rejected_kept: u64,
    pub journal_commits: u64,
    /// Duration and size of the journal's group commits.
    pub journal_commit_seconds: Histogram,
    pub journal_commit_events: Histogram,
    pub ledger_configured: bool,
    pub ledger_connected: bool,
    /// Every ledger state by name, and whether it is the current one.
    pub ledger_states: Vec<(&'static str, bool)>,
    /// How often the ledger's state changed since start.
    pub ledger_state_changes: u64,
    pub storage: StorageStatus,
    /// Write requests the journal refused, by storage fault.
    pub storage_refusals: [(StorageFault, u64); 5],
}

fn histograms<S: Clone + std::hash::Hash + Eq>(make: fn() -> Histogram) -> Histograms<S> {
    Family::new_with_constructor(make)
}

fn gauge(value: u64) -> Gauge<u64, AtomicU64> {
    let g = Gauge::<u64, AtomicU64>::default();
    g.set(value);
    g
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::default();
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let accepted = counter(&mut r, "shootlog_events_accepted", "Events newly journaled (2xx)");
        let replayed = counter(&mut r, "shootlog_events_replayed", "Idempotent replays answered from the journal");
        let refused = counter(&mut r, "shootlog_requests_refused", "Write requests refused with 4xx/5xx");
        let sent = counter(&mut r, "shootlog_events_sent", "Events sent to the ledger, re-sends included");
        let delivered = counter(&mut r, "shootlog_events_delivered", "Events the ledger applied (or had applied)");
        let duplicates =
            counter(&mut r, "shootlog_events_duplicate", "Delivered events the ledger had already applied");
        let rejected = counter(&mut r, "shootlog_events_rejected", "Events the ledger rejected");
        let retried = counter(&mut r, "shootlog_delivery_retries", "Batches re-sent after a transport failure");
        let isolated =
            counter(&mut r, "shootlog_events_isolated", "Events isolated because the ledger function failed on them");
        let batches = counter(&mut r, "shootlog_ledger_batches", "Batches the ledger answered");
        let embedded_applied =
            counter(&mut r, "shootlog_embedded_events_applied", "Journal events the embedded ledger applied");
        let embedded_disagreements = counter(
            &mut r,
            "shootlog_embedded_disagreements",
            "Settled events on whose verdict Convex and the embedded ledger differ",
        );
        let embedded_audited = counter(
            &mut r,
            "shootlog_embedded_audited",
            "Settled events whose Convex verdict the audit compared with the embedded ledger's",
        );
        let ledger_call_seconds = Seconds::default();
        r.register(
            "shootlog_forwarder_ledger_seconds",
            "Time the forwarder waited for the ledger",
            ledger_call_seconds.clone(),
        );
        let journal_io_seconds = Seconds::default();
        r.register(
            "shootlog_forwarder_journal_seconds",
            "Time the forwarder spent reading and settling the journal",
            journal_io_seconds.clone(),
        );
        let delivery_latency = Histogram::new(LATENCY_BUCKETS);
        r.register(
            "shootlog_delivery_latency_seconds",
            "Time from receipt to the ledger's verdict",
            delivery_latency.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        r.register(
            "shootlog_http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );
        let http_duration = histograms(duration_histogram);
        r.register(
            "shootlog_http_request_duration_seconds",
            "Time to answer an HTTP request (until the response head), by route template",
            http_duration.clone(),
        );
        let batch_events = size_histogram();
        r.register("shootlog_forwarder_batch_events", "Events per ledger call", batch_events.clone());
        let ledger_calls = histograms(duration_histogram);
        r.register(
            "shootlog_ledger_call_duration_seconds",
            "Duration of the forwarder's ledger calls (applyBatch), by outcome",
            ledger_calls.clone(),
        );
        let rejections = Family::<CodeLabels, Counter>::default();
        r.register("shootlog_ledger_rejections", "Events the ledger rejected, by rejection code", rejections.clone());
        Self {
            registry: r,
            accepted,
            replayed,
            refused,
            sent,
            delivered,
            duplicates,
            rejected,
            retried,
            isolated,
            batches,
            embedded_applied,
            embedded_disagreements,
            embedded_audited,
            ledger_call_seconds,
            journal_io_seconds,
            delivery_latency,
            http_requests,
            http_duration,
            batch_events,
            ledger_calls,
            rejections,
            rejection_codes: Mutex::new(HashSet::new()),
        }
    }

    pub fn inc(counter: &Counter, by: u64) {
        counter.inc_by(by);
    }

    /// Adds a duration to a time counter.
    pub fn add_time(counter: &Seconds, elapsed: std::time::Duration) {
        counter.inc_by(elapsed.as_secs_f64());
    }

    /// Records the time from `receivedAt` to the ledger's verdict.
    pub fn observe_delivery(&self, latency_ms: u64) {
        self.delivery_latency.observe(latency_ms as f64 / 1000.0);
    }

    /// Records an answered HTTP request.
    pub fn observe_request(&self, labels: HttpLabels, elapsed: std::time::Duration) {
        self.http_duration.get_or_create(&RouteLabels { route: labels.route.clone() }).observe(elapsed.as_secs_f64());
        self.http_requests.get_or_create(&labels).inc();
    }

    /// Records a ledger call: its size, how it ended and how long it took.
    pub fn observe_ledger_call(&self, events: usize, outcome: &'static str, elapsed: std::time::Duration) {
        Metrics::add_time(&self.ledger_call_seconds, elapsed);
        self.batch_events.observe(events as f64);
        self.ledger_calls.get_or_create(&LedgerCallLabels { outcome }).observe(elapsed.as_secs_f64());
    }

    /// Counts an event the ledger rejected, by its code. The first
    /// [`crate::limits::REJECTION_CODE_LABELS_MAX`] distinct codes shaped
    /// like codes (`[a-z0-9_]`, at most 64 characters) have a label of their
    /// own; any other counts as [`OTHER_CODE`].
    pub fn count_rejection(&self, code: Option<&str>) {
        let code = code.unwrap_or("");
        let shaped = !code.is_empty()
            && code.len() <= 64
            && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        let label = match self.rejection_codes.lock() {
            Ok(mut known) if shaped => {
                if known.contains(code) || known.len() < crate::limits::REJECTION_CODE_LABELS_MAX {
                    known.insert(code.to_string());
                    code
                } else {
                    OTHER_CODE
                }
            }
            _ => OTHER_CODE,
        };
        self.rejections.get_or_create(&CodeLabels { code: label.to_string() }).inc();
    }

    /// The OpenMetrics text exposition: what was counted, and the gauges
    /// read for this scrape.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(8192);
        let mut r = Registry::default();
        let gauges: [(&str, &str, u64); 7] = [
            ("shootlog_journal_backlog", "Journaled events not yet settled by the ledger", g.pending),
            (
                "shootlog_events_waiting",
                "Journaled events the ledger keeps waiting for a prerequisite (asked after until they settle)",
                g.waiting,
            ),
            ("shootlog_journal_delivered", "Delivered entries kept in the journal", g.delivered_kept),
            ("shootlog_journal_rejected", "Rejected entries kept in the journal", g.rejected_kept),
            ("shootlog_journal_commits", "Journal transactions committed since start", g.journal_commits),
            ("shootlog_ledger_configured", "1 if a ledger is configured", u64::from(g.ledger_configured)),
            (
                "shootlog_ledger_connected",
                "1 if the ledger's last handshake found it usable",
                u64::from(g.ledger_connected),
            ),
        ];
        for (name, help, v) in gauges {
            r.register(name, help, gauge(v));
        }
        if let Some(age) = g.oldest_pending_age_secs {
            let age_gauge = Gauge::<f64, AtomicU64>::default();
            age_gauge.set(age);
            r.register(
                "shootlog_journal_oldest_pending_age_seconds",
                "How long the oldest pending event has waited for the ledger (0: none pending)",
                age_gauge,
            );
        }
        r.register(
            "shootlog_journal_commit_duration_seconds",
            "Duration of the journal's group commits (BEGIN to COMMIT, fsync included)",
            g.journal_commit_seconds.clone(),
        );
        r.register(
            "shootlog_journal_commit_events",
            "Events appended or settled per journal group commit",
            g.journal_commit_events.clone(),
        );
        let states = Family::<StateLabels, Gauge<u64, AtomicU64>>::default();
        for &(state, current) in &g.ledger_states {
            states.get_or_create(&StateLabels { state }).set(u64::from(current));
        }
        r.register("shootlog_ledger_state", "1 for the ledger's current state, 0 for the others", states);
        r.register(
            "shootlog_ledger_state_changes",
            "Changes of the ledger's state since start",
            ConstCounter::new(g.ledger_state_changes),
        );
        let st = &g.storage;
        let storage: [(&str, &str, Option<u64>); 6] = [
            (
                "shootlog_journal_free_bytes",
                "Room for new events: the volume's free space plus the journal's free pages, or the room under its size cap if smaller",
                st.free_bytes,
            ),
            (
                "shootlog_journal_volume_free_bytes",
                "Free bytes of the journal's volume (statvfs)",
                st.volume_free_bytes,
            ),
            (
                "shootlog_journal_reserve_bytes",
                "Below this much room new events are refused (503 storage_full)",
                Some(st.reserve_bytes),
            ),
            ("shootlog_journal_size_bytes", "The journal database's size (without its WAL)", Some(st.size_bytes)),
            ("shootlog_journal_max_bytes", "The journal's size cap (0: none)", Some(st.max_bytes.unwrap_or(0))),
            ("shootlog_journal_writable", "1 if the journal takes new events", Some(u64::from(st.writable))),
        ];
        for (name, help, v) in storage {
            if let Some(v) = v {
                r.register(name, help, gauge(v));
            }
        }
        let refusals = Family::<CauseLabels, Counter>::default();
        for (fault, n) in g.storage_refusals {
            refusals.get_or_create(&CauseLabels { cause: fault.as_str() }).inc_by(n);
        }
        r.register("shootlog_journal_refusals", "Write requests the journal refused, by storage fault", refusals);
        // Formatting into a String cannot fail.
        let _ = text::encode_registry(&mut out, &self.registry);
        let _ = text::encode_registry(&mut out, &r);
        let _ = text::encode_eof(&mut out);
        out
    }
}
