//! Configuration: every setting is a flag and an environment variable.
//! Invalid settings stop the service before it starts, with a clear message.
//!
//! Plain settings only: each layer builds its own types from them (the API
//! its credentials, rate limits and HTTP limits, in `api::AppState::from_settings`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::limits;
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "shootlog", version, about = "Makes a live photoshoot write its own history")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi,
    /// Re-send journaled events (all, or one session's) to the configured
    /// ledger, then exit. Safe at any time: the ledger is idempotent.
    Replay {
        /// Only this session's events.
        #[arg(long)]
        session: Option<String>,
    },
    /// Issue a device token: prints the token (give it to the device) and the
    /// line to add to the device token file (only its hash).
    Token {
        /// The device the token is for.
        #[arg(long)]
        device: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SHOOTLOG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory of the journal (created if missing).
    #[arg(long, env = "SHOOTLOG_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log format.
    #[arg(long, env = "SHOOTLOG_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub ledger: LedgerConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    /// Most undelivered events the journal holds before writes answer 503.
    #[arg(long, env = "SHOOTLOG_MAX_BACKLOG", default_value_t = limits::MAX_BACKLOG, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_backlog: u64,

    /// Settled entries older than this many hours are compacted away
    /// (idempotent replays dedupe within this window). 0 keeps them forever.
    #[arg(long, env = "SHOOTLOG_RETENTION_HOURS", default_value_t = 72)]
    pub retention_hours: u64,

    /// The longest a request may take, body included, in seconds (a stalled
    /// upload on venue Wi-Fi is cut off after this).
    #[arg(long, env = "SHOOTLOG_REQUEST_TIMEOUT_SECS", default_value_t = limits::REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// The longest a client may take to send its request headers, in seconds.
    #[arg(long, env = "SHOOTLOG_HEADER_TIMEOUT_SECS", default_value_t = limits::HEADER_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout_secs: u64,

    /// Requests handled at once; beyond, new ones are shed with 503.
    #[arg(long, env = "SHOOTLOG_MAX_CONCURRENCY", default_value_t = limits::MAX_CONCURRENCY, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_concurrency: u64,

    /// Events per second one device may write (token bucket).
    #[arg(long, env = "SHOOTLOG_DEVICE_RATE", default_value_t = 20.0)]
    pub device_rate: f64,

    /// Burst of events one device may write at once.
    #[arg(long, env = "SHOOTLOG_DEVICE_BURST", default_value_t = 100.0)]
    pub device_burst: f64,

    /// How often settled entries past retention are compacted, in seconds.
    #[arg(long, env = "SHOOTLOG_COMPACT_INTERVAL_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub compact_interval_secs: u64,
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
}

impl ServeConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.ledger.convex_url {
            let ok = ["http://", "https://", "ws://", "wss://"].iter().any(|p| url.starts_with(p)) && url.len() > 8;
            if !ok {
                return Err(ConfigError::ConvexUrl(url.clone()));
            }
            if self.ledger.convex_deploy_key.as_deref().is_none_or(|k| k.trim().is_empty()) {
                return Err(ConfigError::UrlWithoutKey);
            }
        } else if self.ledger.convex_deploy_key.is_some() {
            return Err(ConfigError::KeyWithoutUrl);
        }
        Ok(())
    }

    pub fn journal_path(&self) -> PathBuf {
        self.data_dir.join("journal.sqlite3")
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn retention(&self) -> Option<Duration> {
        (self.retention_hours > 0).then(|| Duration::from_secs(self.retention_hours * 3600))
    }
}
