//! Logs (tracing) and metrics (Prometheus text format).
//!
//! Metrics are plain atomics owned by [`Metrics`]; `/metrics` renders them
//! together with gauges read from the journal and the ledger at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Upper bounds (seconds) of the delivery-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// Counters of the service since start.
#[derive(Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    pub replayed: AtomicU64,
    pub refused: AtomicU64,
    /// Events sent to the ledger, re-sends included.
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    /// The delivered events the ledger had already applied (`duplicate`).
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub retried: AtomicU64,
    pub isolated: AtomicU64,
    pub batches: AtomicU64,
    /// Time the forwarder spent waiting for the ledger.
    pub ledger_call_micros: AtomicU64,
    /// Time the forwarder spent reading and settling journal entries.
    pub journal_io_micros: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ms: AtomicU64,
}

/// Gauges read at scrape time.
pub struct Gauges {
    pub pending: u64,
    pub delivered_kept: u64,
    pub rejected_kept: u64,
    pub journal_commits: u64,
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

impl Metrics {
    pub fn inc(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// Records the time from `receivedAt` to the ledger's verdict.
    pub fn observe_delivery(&self, latency_ms: u64) {
        let secs = latency_ms as f64 / 1000.0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(latency_ms, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(2048);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counters: [(&str, &str, u64); 10] = [
            ("shootlog_events_accepted_total", "Events newly journaled (2xx).", load(&self.accepted)),
            ("shootlog_events_replayed_total", "Idempotent replays answered from the journal.", load(&self.replayed)),
            ("shootlog_requests_refused_total", "Write requests refused with 4xx/5xx.", load(&self.refused)),
            ("shootlog_events_sent_total", "Events sent to the ledger, re-sends included.", load(&self.sent)),
            ("shootlog_events_delivered_total", "Events the ledger applied (or had applied).", load(&self.delivered)),
            (
                "shootlog_events_duplicate_total",
                "Delivered events the ledger had already applied.",
                load(&self.duplicates),
            ),
            ("shootlog_events_rejected_total", "Events the ledger rejected.", load(&self.rejected)),
            ("shootlog_delivery_retries_total", "Batches re-sent after a transport failure.", load(&self.retried)),
            (
                "shootlog_events_isolated_total",
                "Events isolated because the ledger function failed on them.",
                load(&self.isolated),
            ),
            ("shootlog_ledger_batches_total", "Batches the ledger answered.", load(&self.batches)),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        let seconds: [(&str, &str, u64); 2] = [
            (
                "shootlog_forwarder_ledger_seconds_total",
                "Time the forwarder waited for the ledger.",
                load(&self.ledger_call_micros),
            ),
            (
                "shootlog_forwarder_journal_seconds_total",
                "Time the forwarder spent reading and settling the journal.",
                load(&self.journal_io_micros),
            ),
        ];
        for (name, help, micros) in seconds {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", micros as f64 / 1e6);
        }
        let gauges: [(&str, &str, u64); 6] = [
            ("shootlog_journal_backlog", "Journaled events not yet settled by the ledger.", g.pending),
            ("shootlog_journal_delivered", "Delivered entries kept in the journal.", g.delivered_kept),
            ("shootlog_journal_rejected", "Rejected entries kept in the journal.", g.rejected_kept),
            ("shootlog_journal_commits", "Journal transactions committed since start.", g.journal_commits),
            ("shootlog_ledger_configured", "1 if a ledger is configured.", u64::from(g.ledger_configured)),
            (
                "shootlog_ledger_connected",
                "1 if the ledger's last handshake found it usable.",
                u64::from(g.ledger_connected),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let name = "shootlog_ledger_state";
        let _ = writeln!(out, "# HELP {name} 1 for the ledger's current state, 0 for the others.\n# TYPE {name} gauge");
        for (state, current) in &g.ledger_states {
            let _ = writeln!(out, "{name}{{state=\"{state}\"}} {}", u64::from(*current));
        }
        let name = "shootlog_ledger_state_changes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Changes of the ledger's state since start.\n# TYPE {name} counter\n{name} {}",
            g.ledger_state_changes
        );
        let st = &g.storage;
        let storage: [(&str, &str, Option<u64>); 6] = [
            (
                "shootlog_journal_free_bytes",
                "Room for new events: the volume's free space plus the journal's free pages, or the room under its size cap if smaller.",
                st.free_bytes,
            ),
            (
                "shootlog_journal_volume_free_bytes",
                "Free bytes of the journal's volume (statvfs).",
                st.volume_free_bytes,
            ),
            (
                "shootlog_journal_reserve_bytes",
                "Below this much room new events are refused (503 storage_full).",
                Some(st.reserve_bytes),
            ),
            ("shootlog_journal_size_bytes", "The journal database's size (without its WAL).", Some(st.size_bytes)),
            ("shootlog_journal_max_bytes", "The journal's size cap (0: none).", Some(st.max_bytes.unwrap_or(0))),
            ("shootlog_journal_writable", "1 if the journal takes new events.", Some(u64::from(st.writable))),
        ];
        for (name, help, v) in storage {
            if let Some(v) = v {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
            }
        }
        let name = "shootlog_journal_refusals_total";
        let _ =
            writeln!(out, "# HELP {name} Write requests the journal refused, by storage fault.\n# TYPE {name} counter");
        for (fault, n) in g.storage_refusals {
            let _ = writeln!(out, "{name}{{cause=\"{}\"}} {n}", fault.as_str());
        }
        let name = "shootlog_delivery_latency_seconds";
        let _ = writeln!(out, "# HELP {name} Time from receipt to the ledger's verdict.\n# TYPE {name} histogram");
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", load(&self.latency_buckets[i]));
        }
        let count = load(&self.latency_count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", load(&self.latency_sum_ms) as f64 / 1000.0);
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}
