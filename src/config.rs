//! Configuration: every setting is a flag and an environment variable.
//! Invalid settings stop the service before it starts, with a clear message.
//!
//! Plain settings only: each layer builds its own types from them (the API
//! its credentials, rate limits and HTTP limits, in `api::AppState::from_settings`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::journal::{ByteSize, Reserve, parse_max_size};
use crate::limits;
use crate::progress::ProgressMode;
use crate::telemetry::LogFormat;

/// The command line. Parse it with [`Cli::parse_args`], not `Cli::parse`:
/// settings given before a subcommand apply to it.
#[derive(Debug, Parser)]
#[command(
    name = "shootlog",
    version,
    about = "Makes a live photoshoot write its own history",
    after_help = "Without a command, shootlog runs `serve`. Settings may come before or after the command \
                  (`shootlog serve --listen 0.0.0.0:8080` or `shootlog --listen 0.0.0.0:8080 serve`); \
                  each command's --help lists the settings it uses."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The settings of `serve`, the default command. Those given before
    /// another command apply to it when it uses them.
    #[command(flatten)]
    pub serve: ServeConfig,
    /// Settings given before the command that the command does not use
    /// (`--listen` before `token`), as `--flag` names.
    #[arg(skip)]
    pub unused: Vec<String>,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the service (the default).
    Serve(ServeConfig),
    /// Print the OpenAPI document.
    Openapi,
    /// Re-send journaled events (all, or one session's) to the configured
    /// ledger, then exit. Safe at any time: the ledger is idempotent.
    #[command(after_help = REPLAY_EXIT_CODES)]
    Replay(ReplayArgs),
    /// Issue a device token: the token (give it to the device) and the line
    /// to add to the device token file (only its hash).
    Token(TokenArgs),
    /// Check the configured Convex deployment after a deploy: runs the
    /// handshake and one harmless round trip, prints the deployment report
    /// (JSON), and exits non-zero unless the pair is usable.
    #[command(after_help = CHECK_EXIT_CODES)]
    Check(CheckArgs),
}

/// Exit statuses of `shootlog replay`.
pub mod exit {
    /// Every event is in the ledger.
    pub const OK: u8 = 0;
    /// An error: bad settings, no journal, the ledger cannot be set up.
    pub const ERROR: u8 = 1;
    /// A command-line usage error (clap's code).
    pub const USAGE: u8 = 2;
    /// The ledger rejected at least one event.
    pub const REJECTED: u8 = 3;
    /// Interrupted (Ctrl-C, SIGTERM) before everything was sent.
    pub const INTERRUPTED: u8 = 130;
    /// `check`: the deployment cannot be reached.
    pub const LEDGER_UNREACHABLE: u8 = 3;
    /// `check`: the deployment refuses the deploy key (or its role).
    pub const LEDGER_UNAUTHORIZED: u8 = 4;
    /// `check`: the deployment refuses to run functions (paused, over its
    /// limits, functions not deployed).
    pub const LEDGER_UNUSABLE: u8 = 5;
    /// `check`: the deployed functions keep another contract version.
    pub const LEDGER_INCOMPATIBLE: u8 = 6;
    /// `check`: the handshake passed, but the round trip over the sync
    /// socket (the path the forwarder writes on) failed.
    pub const LEDGER_ROUND_TRIP_FAILED: u8 = 7;
}

const CHECK_EXIT_CODES: &str = "\
Exit status:
  0    the deployment is usable: it answers, takes the key, keeps this contract version
  1    an error (bad settings, no ledger configured)
  2    a usage error (unknown flag, bad value)
  3    unreachable: the deployment cannot be reached
  4    unauthorized: the deploy key is refused, or its role may not run internal functions
  5    unusable: the deployment refuses to run functions (paused, over limits, not deployed)
  6    incompatible: the deployed functions keep another contract version
  7    the handshake passed but a round trip over the sync socket failed

The report (JSON) is printed on stdout, the reason of a failure on stderr.";

/// `shootlog check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Directory of the journal to report on (the report leaves it out if
    /// there is none).
    #[arg(long, env = "SHOOTLOG_DATA_DIR", default_value = "./data", help_heading = "Journal")]
    pub data_dir: PathBuf,

    #[command(flatten, next_help_heading = "Ledger")]
    pub ledger: LedgerConfig,
}

const REPLAY_EXIT_CODES: &str = "\
Exit status:
  0    every event is in the ledger (applied now, or applied before: duplicate)
  1    an error (bad settings, no journal, the ledger cannot be set up)
  2    a usage error (unknown flag, bad value)
  3    the ledger rejected one or more events (kept in the journal with their verdict)
  130  interrupted (Ctrl-C or SIGTERM); what was not sent stays pending

On a terminal, progress is a bar on stderr; otherwise a log line every few seconds.
The summary line is printed on stdout.";

/// `shootlog replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Re-send only this session's settled events (pending events of every
    /// session are sent in any case).
    #[arg(long)]
    pub session: Option<String>,

    /// A progress bar on a terminal (auto), or log lines only (never).
    #[arg(long, env = "SHOOTLOG_PROGRESS", value_enum, default_value = "auto")]
    pub progress: ProgressMode,

    /// Directory of the journal to replay.
    #[arg(long, env = "SHOOTLOG_DATA_DIR", default_value = "./data", help_heading = "Journal")]
    pub data_dir: PathBuf,

    #[command(flatten, next_help_heading = "Ledger")]
    pub ledger: LedgerConfig,

    /// Log format.
    #[arg(long, env = "SHOOTLOG_LOG_FORMAT", value_enum, default_value = "pretty", help_heading = "Logging")]
    pub log_format: LogFormat,
}

impl ReplayArgs {
    pub fn journal_path(&self) -> PathBuf {
        journal_path_in(&self.data_dir)
    }
}

/// How `shootlog token` prints what it issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenFormat {
    /// For a person.
    Text,
    /// One JSON object: `deviceId`, `token`, `tokenFileLine`.
    Json,
    /// Shell variable assignments (`SHOOTLOG_DEVICE_ID=…`), to `source` or `eval`.
    Env,
}

/// `shootlog token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The device the token is for.
    #[arg(long)]
    pub device: String,

    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TokenFormat,
}

impl Cli {
    /// Parses the process's arguments; on `--help`, `--version` or a usage
    /// error, prints and exits (status 0, or [`exit::USAGE`]).
    pub fn parse_args() -> Cli {
        Self::try_parse_args_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the first is the program name). A setting given before
    /// the subcommand applies to it when the subcommand takes it and was not
    /// given it itself (the nearer one wins); environment variables and
    /// defaults come after both.
    pub fn try_parse_args_from<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let command = Cli::command();
        let top = command.clone().try_get_matches_from(&args)?;
        let mut cli = Cli::from_arg_matches(&top)?;
        let Some((name, sub)) = top.subcommand() else {
            return Ok(cli);
        };
        let Some(sub_command) = command.find_subcommand(name) else {
            return Ok(cli);
        };
        let top_ids: HashSet<&str> = command.get_arguments().map(|a| a.get_id().as_str()).collect();
        let sub_ids: HashSet<&str> = sub_command.get_arguments().map(|a| a.get_id().as_str()).collect();
        let mut lifted = false;
        let mut argv: Vec<OsString> = vec![args.first().cloned().unwrap_or_else(|| "shootlog".into()), name.into()];
        for arg in sub_command.get_arguments() {
            let id = arg.get_id().as_str();
            let from = if given(sub, id) {
                sub
            } else if top_ids.contains(id) && given(&top, id) {
                lifted = true;
                &top
            } else {
                continue;
            };
            argv.extend(tokens(from, arg));
        }
        cli.unused = command
            .get_arguments()
            .filter(|a| given(&top, a.get_id().as_str()) && !sub_ids.contains(a.get_id().as_str()))
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        if lifted {
            let again = command.try_get_matches_from(argv)?;
            cli.command = Cli::from_arg_matches(&again)?.command;
        }
        Ok(cli)
    }
}

/// Whether the argument was given on the command line (not from the
/// environment or its default).
fn given(m: &ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(ValueSource::CommandLine)
}

/// The command-line tokens that give `arg` the values it has in `m`.
fn tokens(m: &ArgMatches, arg: &clap::Arg) -> Vec<OsString> {
    // Every setting has a long name; the derive gives one to each `#[arg(long)]`.
    let Some(long) = arg.get_long() else {
        return Vec::new();
    };
    if !arg.get_action().takes_values() {
        return vec![format!("--{long}").into()];
    }
    let values = m.get_raw(arg.get_id().as_str()).into_iter().flatten();
    values
        .map(|v| {
            let mut t = OsString::from(format!("--{long}="));
            t.push(v);
            t
        })
        .collect()
}

/// The journal file in a data directory.
pub fn journal_path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("journal.sqlite3")
}

/// The embedded ledger's file in a data directory.
pub fn embedded_path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger.sqlite3")
}

/// Which ledger answers reads (`GET /v1/sessions/{key}`) when the request
/// does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadFrom {
    /// Convex while it is connected, the embedded ledger otherwise.
    Auto,
    /// Convex only (502 while it cannot be read).
    Convex,
    /// The embedded ledger only.
    Embedded,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SHOOTLOG_LISTEN", default_value = "127.0.0.1:8080", help_heading = "HTTP")]
    pub listen: SocketAddr,

    /// Directory of the journal (created if missing).
    #[arg(long, env = "SHOOTLOG_DATA_DIR", default_value = "./data", help_heading = "Journal")]
    pub data_dir: PathBuf,

    /// Log format.
    #[arg(long, env = "SHOOTLOG_LOG_FORMAT", value_enum, default_value = "pretty", help_heading = "Logging")]
    pub log_format: LogFormat,

    #[command(flatten, next_help_heading = "Ledger")]
    pub ledger: LedgerConfig,

    #[command(flatten, next_help_heading = "Credentials")]
    pub auth: AuthConfig,

    /// Most pending events (not yet answered by the ledger) the journal holds
    /// before writes answer 503; entries the ledger keeps waiting are not
    /// counted.
    #[arg(long, env = "SHOOTLOG_MAX_BACKLOG", default_value_t = limits::MAX_BACKLOG, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Journal")]
    pub max_backlog: u64,

    /// Settled entries older than this many hours are compacted away
    /// (idempotent replays dedupe within this window). 0 keeps them forever.
    #[arg(long, env = "SHOOTLOG_RETENTION_HOURS", default_value_t = 72, help_heading = "Journal")]
    pub retention_hours: u64,

    /// The longest a request may take, body included, in seconds (a stalled
    /// upload on venue Wi-Fi is cut off after this).
    #[arg(long, env = "SHOOTLOG_REQUEST_TIMEOUT_SECS", default_value_t = limits::REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600), help_heading = "HTTP")]
    pub request_timeout_secs: u64,

    /// The longest a client may take to send its request headers, in seconds.
    #[arg(long, env = "SHOOTLOG_HEADER_TIMEOUT_SECS", default_value_t = limits::HEADER_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=600), help_heading = "HTTP")]
    pub header_timeout_secs: u64,

    /// Requests handled at once; beyond, new ones are shed with 503.
    #[arg(long, env = "SHOOTLOG_MAX_CONCURRENCY", default_value_t = limits::MAX_CONCURRENCY, value_parser = clap::value_parser!(u64).range(1..=100_000), help_heading = "HTTP")]
    pub max_concurrency: u64,

    /// Events per second one device may write (token bucket).
    #[arg(long, env = "SHOOTLOG_DEVICE_RATE", default_value_t = 20.0, help_heading = "HTTP")]
    pub device_rate: f64,

    /// Burst of events one device may write at once.
    #[arg(long, env = "SHOOTLOG_DEVICE_BURST", default_value_t = 100.0, help_heading = "HTTP")]
    pub device_burst: f64,

    /// How often settled entries past retention are compacted, in seconds.
    #[arg(long, env = "SHOOTLOG_COMPACT_INTERVAL_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Journal")]
    pub compact_interval_secs: u64,

    /// Room kept for verdicts and compaction: with less left for the journal
    /// (on its volume, or under its size cap), new events answer 503
    /// `storage_full` until it drains back. A size (`64MiB`, `512KiB`, bytes)
    /// or a share of the volume (`5%`); 0 turns it off.
    #[arg(long, env = "SHOOTLOG_JOURNAL_RESERVE", default_value = "64MiB")]
    pub journal_reserve: Reserve,

    /// Largest the journal's database may grow (`2GiB`, `512MiB`; at least
    /// 64KiB); unset: as large as its volume allows.
    #[arg(long, env = "SHOOTLOG_JOURNAL_MAX_SIZE", value_parser = parse_max_size)]
    pub journal_max_size: Option<ByteSize>,

    /// The embedded ledger's file (rebuilt from the journal if missing);
    /// default `ledger.sqlite3` in the data directory.
    #[arg(long, env = "SHOOTLOG_LEDGER_DB", help_heading = "Ledger")]
    pub ledger_db: Option<PathBuf>,

    /// Which ledger answers reads by default: `auto` (Convex while
    /// connected, else the embedded ledger), `convex` or `embedded`.
    #[arg(long, env = "SHOOTLOG_READ_FROM", value_enum, default_value = "auto", help_heading = "Ledger")]
    pub read_from: ReadFrom,

    /// A device not seen (registration, join, placement) for this many
    /// seconds reads as `stale` in the registry; computed when it is read.
    #[arg(long, env = "SHOOTLOG_DEVICE_STALE_SECS", default_value_t = limits::DEVICE_STALE_SECS, value_parser = clap::value_parser!(u64).range(1..=365 * 24 * 3600), help_heading = "Ledger")]
    pub device_stale_secs: u64,
}

/// Credentials. Secrets come from the environment (fly.io secrets), never
/// from files in the image or the repository, and are never logged.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Operator token: every read and write, Swagger UI debugging.
    #[arg(long, env = "SHOOTLOG_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Device tokens as `deviceId=token` pairs, comma-separated.
    #[arg(long, env = "SHOOTLOG_DEVICE_TOKENS", hide_env_values = true, value_delimiter = ',')]
    pub device_tokens: Vec<String>,

    /// A file of `deviceId <sha256 hex of token>` lines (`shootlog token`
    /// prints them): tokens are never stored in plain text.
    #[arg(long, env = "SHOOTLOG_DEVICE_TOKENS_FILE")]
    pub device_tokens_file: Option<PathBuf>,

    /// Live Director's Standard Webhooks secrets (`whsec_…`), comma-separated
    /// (several during a key rotation).
    #[arg(long, env = "SHOOTLOG_LIVE_DIRECTOR_SECRETS", hide_env_values = true, value_delimiter = ',')]
    pub live_director_secrets: Vec<String>,

    /// The still uploader's Standard Webhooks secrets, comma-separated.
    #[arg(long, env = "SHOOTLOG_STILL_UPLOADER_SECRETS", hide_env_values = true, value_delimiter = ',')]
    pub still_uploader_secrets: Vec<String>,

    /// Serve without credentials on a non-loopback address (never in
    /// production).
    #[arg(long, env = "SHOOTLOG_ALLOW_UNAUTHENTICATED", default_value_t = false)]
    pub allow_unauthenticated: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LedgerConfig {
    /// Convex deployment URL (https://…convex.cloud, or the local stand-in).
    /// Without it the service runs on its embedded default: the journal
    /// keeps every event pending until a ledger is configured.
    #[arg(long, env = "CONVEX_URL")]
    pub convex_url: Option<String>,

    /// Convex deploy key (admin auth, needed for the internal ingest
    /// mutation). Never logged.
    #[arg(long, env = "CONVEX_DEPLOY_KEY", hide_env_values = true)]
    pub convex_deploy_key: Option<String>,

    /// Upper bound of one ledger call, in seconds.
    #[arg(long, env = "SHOOTLOG_LEDGER_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub ledger_timeout_secs: u64,

    /// How often the ledger handshake runs while the ledger is connected, in
    /// seconds (it also runs after every failed call).
    #[arg(long, env = "SHOOTLOG_LEDGER_CHECK_SECS", default_value_t = limits::LEDGER_CHECK_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ledger_check_secs: u64,

    /// Most events per ledger call.
    #[arg(long, env = "SHOOTLOG_BATCH_SIZE", default_value_t = limits::LEDGER_BATCH_MAX, value_parser = clap::value_parser!(u32).range(1..=limits::LEDGER_BATCH_MAX as i64))]
    pub batch_size: u32,

    /// Most bytes of JSON of the events of one ledger call; a batch is cut
    /// there (a single larger event still goes alone).
    #[arg(long, env = "SHOOTLOG_LEDGER_BATCH_BYTES", default_value_t = limits::LEDGER_BATCH_BYTES as u64, value_parser = clap::value_parser!(u64).range(1024..=limits::LEDGER_BATCH_BYTES as u64))]
    pub ledger_batch_bytes: u64,

    /// How often the forwarder asks the ledger after the events it keeps
    /// waiting (a camera's join, a still's marker…), in seconds.
    #[arg(long, env = "SHOOTLOG_WAITING_POLL_SECS", default_value_t = limits::WAITING_POLL_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub waiting_poll_secs: u64,

    /// How long after a session's completion its waiting events may still
    /// be applied, in seconds; past it the ledger rejects them with the
    /// code they wait on.
    #[arg(long, env = "SHOOTLOG_WAITING_GRACE_SECS", default_value_t = limits::WAITING_GRACE_SECS, value_parser = clap::value_parser!(u64).range(0..=7 * 24 * 3600))]
    pub waiting_grace_secs: u64,
}

impl LedgerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.convex_url {
            let ok = ["http://", "https://", "ws://", "wss://"].iter().any(|p| url.starts_with(p)) && url.len() > 8;
            if !ok {
                return Err(ConfigError::ConvexUrl(url.clone()));
            }
            if self.convex_deploy_key.as_deref().is_none_or(|k| k.trim().is_empty()) {
                return Err(ConfigError::UrlWithoutKey);
            }
        } else if self.convex_deploy_key.is_some() {
            return Err(ConfigError::KeyWithoutUrl);
        }
        Ok(())
    }
}

/// A setting that makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("CONVEX_URL {0:?} must start with http://, https://, ws:// or wss://")]
    ConvexUrl(String),
    #[error("CONVEX_DEPLOY_KEY is set but CONVEX_URL is not")]
    KeyWithoutUrl,
    #[error(
        "CONVEX_URL is set but CONVEX_DEPLOY_KEY is not: the service calls internal functions and needs the deployment's deploy key (Convex dashboard → Settings → Deploy keys)"
    )]
    UrlWithoutKey,
    #[error(
        "SHOOTLOG_JOURNAL_RESERVE ({reserve}) must be smaller than SHOOTLOG_JOURNAL_MAX_SIZE ({max}): no event would fit"
    )]
    ReserveAboveCap { reserve: ByteSize, max: ByteSize },
}

impl ServeConfig {
    /// The embedded ledger's file.
    pub fn embedded_path(&self) -> PathBuf {
        self.ledger_db.clone().unwrap_or_else(|| embedded_path_in(&self.data_dir))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.ledger.validate()?;
        if let (Reserve::Bytes(reserve), Some(max)) = (self.journal_reserve, self.journal_max_size)
            && reserve >= max.0
        {
            return Err(ConfigError::ReserveAboveCap { reserve: ByteSize(reserve), max });
        }
        Ok(())
    }

    pub fn journal_path(&self) -> PathBuf {
        journal_path_in(&self.data_dir)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn retention(&self) -> Option<Duration> {
        (self.retention_hours > 0).then(|| Duration::from_secs(self.retention_hours * 3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("shootlog").chain(args.iter().copied());
        Cli::try_parse_args_from(argv).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn serve_config(args: &[&str]) -> ServeConfig {
        let cli = parse(args);
        match cli.command {
            None => cli.serve,
            Some(Command::Serve(cfg)) => cfg,
            Some(other) => panic!("{args:?} is {other:?}"),
        }
    }

    fn replay_args(args: &[&str]) -> ReplayArgs {
        match parse(args).command {
            Some(Command::Replay(r)) => r,
            other => panic!("{args:?} is {other:?}"),
        }
    }

    #[test]
    fn serve_settings_go_before_or_after_the_command_or_without_it() {
        for args in [
            &["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/d"][..],
            &["--listen", "0.0.0.0:8080", "serve", "--data-dir", "/d"],
            &["--listen=0.0.0.0:8080", "--data-dir", "/d", "serve"],
            &["--listen", "0.0.0.0:8080", "--data-dir", "/d"],
        ] {
            let cfg = serve_config(args);
            assert_eq!(cfg.listen, "0.0.0.0:8080".parse().unwrap(), "{args:?}");
            assert_eq!(cfg.data_dir, PathBuf::from("/d"), "{args:?}");
        }
    }

    #[test]
    fn the_setting_nearer_the_command_wins() {
        let cfg = serve_config(&["--data-dir", "/outer", "--max-backlog", "7", "serve", "--data-dir", "/inner"]);
        assert_eq!(cfg.data_dir, PathBuf::from("/inner"));
        assert_eq!(cfg.max_backlog, 7);
    }

    #[test]
    fn flags_lists_and_secrets_carry_over_to_the_command() {
        let cfg = serve_config(&[
            "--allow-unauthenticated",
            "--device-tokens",
            "ipad-a=t1,ipad-b=t2",
            "--device-tokens=ipad-c=t3",
            "--convex-url",
            "http://127.0.0.1:3210",
            "--log-format",
            "json",
            "serve",
        ]);
        assert!(cfg.auth.allow_unauthenticated);
        assert_eq!(cfg.auth.device_tokens, ["ipad-a=t1", "ipad-b=t2", "ipad-c=t3"]);
        assert_eq!(cfg.ledger.convex_url.as_deref(), Some("http://127.0.0.1:3210"));
        assert_eq!(cfg.log_format, LogFormat::Json);
    }

    #[test]
    fn replay_takes_its_settings_on_either_side() {
        let after = replay_args(&["replay", "--convex-url", "http://l:1", "--data-dir", "/d", "--batch-size", "50"]);
        let before = replay_args(&["--convex-url", "http://l:1", "--data-dir", "/d", "--batch-size", "50", "replay"]);
        let mixed = replay_args(&["--data-dir", "/d", "replay", "--convex-url", "http://l:1", "--batch-size=50"]);
        for r in [&after, &before, &mixed] {
            assert_eq!(r.ledger.convex_url.as_deref(), Some("http://l:1"));
            assert_eq!(r.data_dir, PathBuf::from("/d"));
            assert_eq!(r.ledger.batch_size, 50);
            assert_eq!(r.session, None);
        }
        let r = replay_args(&["--data-dir", "/d", "replay", "--session", "shoot-a", "--progress", "never"]);
        assert_eq!(r.session.as_deref(), Some("shoot-a"));
        assert_eq!(r.progress, ProgressMode::Never);
    }

    #[test]
    fn a_command_refuses_settings_it_does_not_use_after_it_and_names_those_before_it() {
        for args in [&["token", "--device", "d", "--listen", "0.0.0.0:1"][..], &["replay", "--listen", "0.0.0.0:1"]] {
            let argv = std::iter::once("shootlog").chain(args.iter().copied());
            let e = Cli::try_parse_args_from(argv).expect_err("refused");
            assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument, "{args:?}");
        }
        let cli = parse(&["--listen", "0.0.0.0:1", "--data-dir", "/d", "token", "--device", "d", "--format", "json"]);
        assert_eq!(cli.unused, ["--listen", "--data-dir"]);
        let Some(Command::Token(t)) = cli.command else { panic!("token") };
        assert_eq!((t.device.as_str(), t.format), ("d", TokenFormat::Json));
        assert!(parse(&["--data-dir", "/d", "replay"]).unused.is_empty());
    }

    /// A setting a command repeats (replay's `--data-dir`) is the same
    /// setting as serve's: same flag, variable, default and heading.
    #[test]
    fn a_setting_is_the_same_in_every_command() {
        let cli = Cli::command();
        let top: std::collections::HashMap<&str, &clap::Arg> =
            cli.get_arguments().map(|a| (a.get_id().as_str(), a)).collect();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let Some(t) = top.get(arg.get_id().as_str()) else { continue };
                let what = format!("{} --{}", sub.get_name(), arg.get_long().unwrap_or(""));
                assert_eq!(arg.get_long(), t.get_long(), "{what}");
                assert_eq!(arg.get_env(), t.get_env(), "{what}");
                assert_eq!(arg.get_default_values(), t.get_default_values(), "{what}");
                assert_eq!(arg.get_help_heading(), t.get_help_heading(), "{what}");
            }
        }
        cli.debug_assert();
    }
}
