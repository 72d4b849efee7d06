//! Configuration: every setting is a flag and an environment variable.
//! Invalid settings stop the service before it starts, with a clear message.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::api::auth::{Credentials, Sender};
use crate::api::limits::Rate;
use crate::domain::DeviceId;
use crate::journal::{ByteSize, Reserve, parse_max_size};
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
    #[arg(long, env = "SHOOTLOG_MAX_BACKLOG", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_backlog: u64,

    /// Settled entries older than this many hours are compacted away
    /// (idempotent replays dedupe within this window). 0 keeps them forever.
    #[arg(long, env = "SHOOTLOG_RETENTION_HOURS", default_value_t = 72)]
    pub retention_hours: u64,

    /// The longest a request may take, body included, in seconds (a stalled
    /// upload on venue Wi-Fi is cut off after this).
    #[arg(long, env = "SHOOTLOG_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// The longest a client may take to send its request headers, in seconds.
    #[arg(long, env = "SHOOTLOG_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout_secs: u64,

    /// Requests handled at once; beyond, new ones are shed with 503.
    #[arg(long, env = "SHOOTLOG_MAX_CONCURRENCY", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
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

    /// Most events per ledger call.
    #[arg(long, env = "SHOOTLOG_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub batch_size: u32,
}

/// A setting that makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no credentials are configured, and {0} is not a loopback address: set SHOOTLOG_ADMIN_TOKEN (and device tokens, webhook secrets), or SHOOTLOG_ALLOW_UNAUTHENTICATED=true"
    )]
    OpenOnNetwork(SocketAddr),
    #[error("{what}: {reason}")]
    Credential { what: String, reason: String },
    #[error("device rate and burst must be positive numbers")]
    Rate,
    #[error("CONVEX_URL {0:?} must start with http://, https://, ws:// or wss://")]
    ConvexUrl(String),
    #[error("CONVEX_DEPLOY_KEY is set but CONVEX_URL is not")]
    KeyWithoutUrl,
    #[error(
        "SHOOTLOG_JOURNAL_RESERVE ({reserve}) must be smaller than SHOOTLOG_JOURNAL_MAX_SIZE ({max}): no event would fit"
    )]
    ReserveAboveCap { reserve: ByteSize, max: ByteSize },
}

impl ServeConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.ledger.convex_url {
            let ok = ["http://", "https://", "ws://", "wss://"].iter().any(|p| url.starts_with(p)) && url.len() > 8;
            if !ok {
                return Err(ConfigError::ConvexUrl(url.clone()));
            }
        } else if self.ledger.convex_deploy_key.is_some() {
            return Err(ConfigError::KeyWithoutUrl);
        }
        if let (Reserve::Bytes(reserve), Some(max)) = (self.journal_reserve, self.journal_max_size)
            && reserve >= max.0
        {
            return Err(ConfigError::ReserveAboveCap { reserve: ByteSize(reserve), max });
        }
        Ok(())
    }

    /// The credentials this configuration names; refuses to serve without
    /// any on a non-loopback address.
    pub fn credentials(&self) -> Result<Credentials, ConfigError> {
        let a = &self.auth;
        let mut c = Credentials::default();
        let bad = |what: &str, e: &dyn std::fmt::Display| ConfigError::Credential {
            what: what.into(),
            reason: e.to_string(),
        };
        if let Some(t) = &a.admin_token {
            c.add_admin_token(t).map_err(|e| bad("SHOOTLOG_ADMIN_TOKEN", &e))?;
        }
        for pair in a.device_tokens.iter().filter(|p| !p.trim().is_empty()) {
            let (id, token) =
                pair.split_once('=').ok_or_else(|| bad("SHOOTLOG_DEVICE_TOKENS", &"expected deviceId=token"))?;
            let device = DeviceId::parse(id.trim()).map_err(|e| bad("SHOOTLOG_DEVICE_TOKENS", &e))?;
            c.add_device_token(device, token.trim()).map_err(|e| bad("SHOOTLOG_DEVICE_TOKENS", &e))?;
        }
        if let Some(path) = &a.device_tokens_file {
            let text = std::fs::read_to_string(path).map_err(|e| bad(&path.display().to_string(), &e))?;
            c.add_device_token_file(&text).map_err(|e| bad(&path.display().to_string(), &e))?;
        }
        for (sender, secrets, what) in [
            (Sender::LiveDirector, &a.live_director_secrets, "SHOOTLOG_LIVE_DIRECTOR_SECRETS"),
            (Sender::StillUploader, &a.still_uploader_secrets, "SHOOTLOG_STILL_UPLOADER_SECRETS"),
        ] {
            for s in secrets.iter().filter(|s| !s.trim().is_empty()) {
                c.add_webhook_secret(sender, s).map_err(|e| bad(what, &e))?;
            }
        }
        if c.is_empty() && !self.listen.ip().is_loopback() && !a.allow_unauthenticated {
            return Err(ConfigError::OpenOnNetwork(self.listen));
        }
        Ok(c)
    }

    pub fn rate(&self) -> Result<Rate, ConfigError> {
        if !(self.device_rate > 0.0
            && self.device_burst >= 1.0
            && self.device_rate.is_finite()
            && self.device_burst.is_finite())
        {
            return Err(ConfigError::Rate);
        }
        Ok(Rate { per_second: self.device_rate, burst: self.device_burst })
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
