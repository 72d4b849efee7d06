//! Progress of a command that drains the journal into the ledger (`replay`,
//! and later `check`): a bar on stderr when it is a terminal, a plain log
//! line every few seconds otherwise.
//!
//! The counts are the forwarder's [`Metrics`]. While a bar is shown, log
//! lines are written above it ([`stderr`] is the log writer), so that the two
//! do not garble each other.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::telemetry::Metrics;

/// Whether to draw a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    Auto,
    /// Log lines only.
    Never,
}

/// How often a plain progress line is logged when there is no bar.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// What the forwarder has settled so far, from its metrics. `applied`,
/// `duplicate` and `rejected` are disjoint: a duplicate of an event the
/// ledger had rejected counts as rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events sent to the ledger, re-sends included.
    pub sent: u64,
    pub applied: u64,
    pub duplicate: u64,
    pub rejected: u64,
    /// Batches re-sent after a transport failure.
    pub retried: u64,
}

impl Counts {
    pub fn of(m: &Metrics) -> Counts {
        let load = |c: &prometheus_client::metrics::counter::Counter| c.get();
        let delivered = load(&m.delivered);
        let duplicate = load(&m.duplicates).min(delivered);
        Counts {
            sent: load(&m.sent),
            applied: delivered - duplicate,
            duplicate,
            rejected: load(&m.rejected),
            retried: load(&m.retried),
        }
    }

    /// Events with a verdict.
    pub fn settled(&self) -> u64 {
        self.applied + self.duplicate + self.rejected
    }
}

/// The bar being shown, if any: the log writer prints above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn shown_bar() -> Option<ProgressBar> {
    BAR.lock().ok().and_then(|b| b.clone())
}

fn show_bar(bar: Option<ProgressBar>) {
    if let Ok(mut b) = BAR.lock() {
        *b = bar;
    }
}

/// The log writer: stderr, above the progress bar while one is shown.
pub fn stderr() -> LogWriter {
    LogWriter
}

/// See [`stderr`].
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match shown_bar() {
            // tracing-subscriber writes one whole event per call.
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf)).map(|()| buf.len()),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// The progress of one run of a command.
pub struct Progress {
    what: &'static str,
    total: u64,
    started: Instant,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    /// Starts showing the progress of `what` (`replay`) over `total` events.
    pub fn start(what: &'static str, total: u64, mode: ProgressMode) -> Progress {
        let target = match mode {
            // Hidden when stderr is not a terminal, or TERM is unset or dumb.
            ProgressMode::Auto => ProgressDrawTarget::stderr(),
            ProgressMode::Never => ProgressDrawTarget::hidden(),
        };
        let bar = (!target.is_hidden()).then(|| {
            let style = ProgressStyle::with_template(
                "{spinner:.green} {prefix} [{elapsed_precise}] [{bar:32.cyan/blue}] {pos}/{len} events\n  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style).with_prefix(what);
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        show_bar(bar.clone());
        let now = Instant::now();
        Progress { what, total, started: now, bar, last_line: now }
    }

    /// Whether a bar is drawn (rather than log lines).
    pub fn is_bar(&self) -> bool {
        self.bar.is_some()
    }

    /// Shows these counts: redraws the bar, or logs a line if the last one
    /// is [`LOG_EVERY`] old.
    pub fn update(&mut self, c: &Counts) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(c.settled().min(self.total));
                bar.set_message(self.message(c));
            }
            None if self.last_line.elapsed() >= LOG_EVERY => {
                self.last_line = Instant::now();
                self.log(c);
            }
            None => {}
        }
    }

    /// Takes the bar off the screen (the summary follows on stdout), or
    /// logs the last line.
    pub fn finish(self, c: &Counts) {
        show_bar(None);
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => self.log(c),
        }
    }

    fn log(&self, c: &Counts) {
        tracing::info!("{} progress: {}", self.what, self.line(c));
    }

    /// `1200/5000 events · 1200 sent, 1150 applied, 0 duplicate, 50 rejected · 830 events/s, about 5 s left`
    pub fn line(&self, c: &Counts) -> String {
        format!("{}/{} events · {}", c.settled(), self.total, self.message(c))
    }

    fn message(&self, c: &Counts) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { c.settled() as f64 / elapsed } else { 0.0 };
        let left = self.total.saturating_sub(c.settled());
        let eta = if left == 0 {
            "done".to_string()
        } else if rate > 0.0 {
            format!("about {} left", human_secs(left as f64 / rate))
        } else {
            "time left unknown".to_string()
        };
        let retries = match c.retried {
            0 => String::new(),
            1 => ", 1 batch retried".to_string(),
            n => format!(", {n} batches retried"),
        };
        format!(
            "{} sent, {} applied, {} duplicate, {} rejected{retries} · {:.0} events/s, {eta}",
            c.sent, c.applied, c.duplicate, c.rejected, rate
        )
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An error path that never reached `finish`: do not leave the bar
        // on the screen, nor log lines waiting on it.
        show_bar(None);
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}

/// `4 s`, `2 min 5 s`, `1 h 3 min`.
pub fn human_secs(secs: f64) -> String {
    let s = secs.round().max(0.0) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_split_delivered_into_applied_and_duplicate() {
        let m = Metrics::default();
        Metrics::inc(&m.sent, 12);
        Metrics::inc(&m.delivered, 10);
        Metrics::inc(&m.duplicates, 4);
        Metrics::inc(&m.rejected, 2);
        let c = Counts::of(&m);
        assert_eq!(c, Counts { sent: 12, applied: 6, duplicate: 4, rejected: 2, retried: 0 });
        assert_eq!(c.settled(), 12);
    }

    #[test]
    fn a_line_names_every_count_the_rate_and_the_time_left() {
        let p = Progress::start("replay", 100, ProgressMode::Never);
        assert!(!p.is_bar());
        let line = p.line(&Counts { sent: 50, applied: 40, duplicate: 5, rejected: 5, retried: 0 });
        assert!(line.starts_with("50/100 events · 50 sent, 40 applied, 5 duplicate, 5 rejected · "), "{line}");
        assert!(line.contains(" events/s, "), "{line}");
        let done = p.line(&Counts { sent: 100, applied: 100, ..Counts::default() });
        assert!(done.ends_with("events/s, done"), "{done}");
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(human_secs(4.4), "4 s");
        assert_eq!(human_secs(125.0), "2 min 5 s");
        assert_eq!(human_secs(3780.0), "1 h 3 min");
    }
}
