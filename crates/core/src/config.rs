//! Typed configuration for every service and adapter.
//!
//! Layers, later wins: built-in defaults (which need nothing installed), an optional TOML file
//! (`--config`, or `chatsync.toml` in the working directory), `CHATSYNC__SECTION__KEY`
//! environment variables, then the plain names in [`ENV_VARS`] (`PORT`, `DATABASE_URL`, ...),
//! which the Node app's `.env` files already use. A `.env` file is read by the binary before
//! this runs. Nothing outside this module reads environment variables.
//!
//! Adapters are chosen by data: a `database.url` starting `postgres://` selects PostgreSQL,
//! a `bus.rabbitmq_url` selects RabbitMQ, a `redis.url` selects Redis, and so on.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration value that must never be printed: `Debug` and `Serialize` redact it.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// A URL that may carry a password: `Debug` and `Serialize` hide the credentials.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct ConnUrl(String);

impl Serialize for ConnUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl ConnUrl {
    /// Wraps a URL.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The full URL, with credentials, for the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced by `***`, safe to log.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            Err(_) => "<unparseable url>".to_owned(),
        }
    }
}

impl fmt::Debug for ConnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

/// The whole configuration of one `chatsync` process.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Where embedded adapters keep their files (SQLite database, media, generated secret).
    pub data_dir: DataDir,
    /// The public HTTP listener.
    pub http: HttpConfig,
    /// SQL database for the user and chat services.
    pub database: DatabaseConfig,
    /// The event bus between services.
    pub bus: BusConfig,
    /// Redis, for sessions, presence, throttles and multi-node fan-out.
    pub redis: RedisConfig,
    /// The user service: accounts, OTPs, tokens, sessions.
    pub auth: AuthConfig,
    /// The mail service.
    pub mail: MailConfig,
    /// The chat service.
    pub chat: ChatConfig,
    /// Uploads: limits, allowed types, storage.
    pub media: MediaConfig,
    /// Addresses of the other services, for a gateway running apart from them.
    pub services: ServicesConfig,
    /// Logging.
    pub log: LogConfig,
}

/// The data directory, `./data` by default.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(transparent)]
pub struct DataDir(pub PathBuf);

impl Default for DataDir {
    fn default() -> Self {
        Self(PathBuf::from("data"))
    }
}

impl DataDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// The public HTTP listener and its protections.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Interface to bind. `127.0.0.1` keeps a laptop install private; use `0.0.0.0` in a container.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Origins allowed by CORS, comma-separated. Empty: same-origin only.
    pub cors_origins: String,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Largest JSON request body, in bytes (SPEC §6: 64 KiB).
    pub json_limit_bytes: usize,
    /// A request running longer than this is answered 408; also bounds graceful shutdown.
    pub request_timeout_secs: u64,
    /// Directory holding the built web app; served at `/` when it exists.
    pub web_dir: PathBuf,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            cors_origins: String::new(),
            trust_forwarded_for: false,
            json_limit_bytes: 64 * 1024,
            request_timeout_secs: 60,
            web_dir: PathBuf::from("web/dist"),
        }
    }
}

/// SQL database selection. Each service may use its own database; by default both share one.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `postgres://...` or `sqlite://...`; unset means `sqlite://<data_dir>/chatsync.db`.
    pub url: Option<ConnUrl>,
    /// Overrides `url` for the user service.
    pub user_url: Option<ConnUrl>,
    /// Overrides `url` for the chat service.
    pub chat_url: Option<ConnUrl>,
    /// Pool size per service (PostgreSQL). Unset: 10.
    pub max_connections: Option<u32>,
}

/// Which SQL backend a URL selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    /// An SQLite file (created if missing).
    Sqlite(ConnUrl),
    /// A PostgreSQL server.
    Postgres(ConnUrl),
}

impl Config {
    /// The database the user service should use.
    pub fn user_database(&self) -> Result<DatabaseKind, ConfigError> {
        self.database_for(self.database.user_url.as_ref())
    }

    /// The database the chat service should use.
    pub fn chat_database(&self) -> Result<DatabaseKind, ConfigError> {
        self.database_for(self.database.chat_url.as_ref())
    }

    fn database_for(&self, specific: Option<&ConnUrl>) -> Result<DatabaseKind, ConfigError> {
        let url = match specific.or(self.database.url.as_ref()) {
            Some(u) => u.clone(),
            None => ConnUrl::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.path().join("chatsync.db").display()
            )),
        };
        let s = url.expose();
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres(url))
        } else if s.starts_with("sqlite:") {
            Ok(DatabaseKind::Sqlite(url))
        } else {
            Err(ConfigError::Invalid(format!(
                "database url must start with postgres:// or sqlite:, got {}",
                url.redacted()
            )))
        }
    }
}

/// The event bus: in-process unless a RabbitMQ URL is given.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct BusConfig {
    /// `amqp://user:pass@host:5672/vhost`. Unset: the in-process bus.
    pub rabbitmq_url: Option<ConnUrl>,
    /// Exchange that every event is published to.
    pub exchange: String,
    /// Delivery attempts before a message goes to its dead-letter queue.
    pub max_attempts: u32,
    /// Unacknowledged deliveries a consumer may hold.
    pub prefetch: u16,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            rabbitmq_url: None,
            exchange: "chatsync.events".into(),
            max_attempts: 6,
            prefetch: 32,
        }
    }
}

/// Redis for sessions, presence, throttles and Socket.IO fan-out; in-process when unset.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://host:6379/0`. Unset: in-process stores, one node only.
    pub url: Option<ConnUrl>,
    /// Prefix for every key and channel, so installs (and tests) can share a server.
    pub prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "chatsync:".into(),
        }
    }
}

/// A fixed-window rate limit.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

impl RateLimit {
    /// `limit` per `window_secs`.
    pub const fn new(limit: u32, window_secs: u64) -> Self {
        Self { limit, window_secs }
    }
}

/// The user service: tokens, OTPs and the limits that protect them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthConfig {
    /// HMAC key for access tokens. Unset: generated once into `<data_dir>/jwt_secret`.
    pub jwt_secret: Option<Secret>,
    /// Access-token lifetime.
    pub access_ttl_secs: u64,
    /// Refresh-token (and session) lifetime.
    pub refresh_ttl_secs: u64,
    /// OTP lifetime (SPEC §2: 10 minutes).
    pub otp_ttl_secs: u64,
    /// Wrong codes that burn an OTP (SPEC §2: 5).
    pub otp_max_attempts: u32,
    /// Minimum time between two codes for one address (SPEC §2: 60 s).
    pub otp_resend_cooldown_secs: u64,
    /// Login attempts per client address.
    pub login_per_ip: RateLimit,
    /// Login attempts per account.
    pub login_per_account: RateLimit,
    /// Registrations per client address.
    pub register_per_ip: RateLimit,
    /// OTP checks per client address.
    pub verify_per_ip: RateLimit,
    /// Token refreshes per client address.
    pub refresh_per_ip: RateLimit,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            otp_ttl_secs: 10 * 60,
            otp_max_attempts: 5,
            otp_resend_cooldown_secs: 60,
            login_per_ip: RateLimit::new(30, 60),
            login_per_account: RateLimit::new(10, 60),
            register_per_ip: RateLimit::new(20, 3600),
            verify_per_ip: RateLimit::new(30, 60),
            refresh_per_ip: RateLimit::new(60, 60),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Implicit TLS (usually port 465).
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS (usually port 587).
    Starttls,
    /// No encryption: only for a relay on localhost or a test server.
    None,
}

/// The mail service: SMTP when configured, the dev outbox otherwise.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct MailConfig {
    /// Full SMTP URL (`smtp://`, `smtps://`, `?tls=required`), as lettre reads it.
    pub smtp_url: Option<ConnUrl>,
    /// SMTP host; with `EMAIL_USER` set and no host, Gmail's (the Node app's default).
    pub smtp_host: Option<String>,
    /// SMTP port; defaults by `smtp_tls`: 465, 587 or 25.
    pub smtp_port: Option<u16>,
    /// Transport security when `smtp_host` is used.
    pub smtp_tls: SmtpTls,
    /// SMTP user name (the Node app's `EMAIL_USER`).
    pub email_user: Option<String>,
    /// SMTP password (the Node app's `EMAIL_PASS`).
    pub email_pass: Option<Secret>,
    /// The From header. Unset: `EMAIL_USER`, else `ChatSync <no-reply@localhost>`.
    pub from: Option<String>,
    /// Messages the dev outbox keeps in memory.
    pub outbox_capacity: usize,
    /// Give up on one SMTP conversation after this long.
    pub smtp_timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: SmtpTls::Tls,
            email_user: None,
            email_pass: None,
            from: None,
            outbox_capacity: 500,
            smtp_timeout_secs: 20,
        }
    }
}

impl MailConfig {
    /// True when mail goes through SMTP; false means the dev outbox.
    pub fn uses_smtp(&self) -> bool {
        self.smtp_url.is_some() || self.smtp_host.is_some() || self.email_user.is_some()
    }
}

/// The chat service's limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct ChatConfig {
    /// Messages one socket may send per second before it is throttled.
    pub send_per_sec: u32,
    /// Burst allowance above `send_per_sec`.
    pub send_burst: u32,
    /// Other events (typing, receipts, sync) per socket per second.
    pub events_per_sec: u32,
    /// A typing indicator without a refresh or stop ends after this long.
    pub typing_timeout_secs: u64,
    /// Largest Socket.IO packet accepted, in bytes; a bigger one closes the socket.
    pub max_payload_bytes: u64,
    /// WebSocket read buffer per socket; small keeps idle sockets cheap (SPEC §7).
    pub ws_read_buffer_bytes: usize,
    /// Packets queued per socket before further emits to it fail. The queue grows on demand,
    /// so a large bound costs an idle socket nothing; it absorbs bursts (a batch commit emits
    /// many events at once) that a small one would drop.
    pub socket_queue_packets: usize,
    /// Most messages committed in one transaction (group commit).
    pub max_batch: usize,
    /// Messages returned by one history or sync page at most.
    pub max_page: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            send_per_sec: 20,
            send_burst: 40,
            events_per_sec: 50,
            typing_timeout_secs: 6,
            max_payload_bytes: 64 * 1024,
            ws_read_buffer_bytes: 1024,
            socket_queue_packets: 4096,
            max_batch: 512,
            max_page: 200,
        }
    }
}

/// Uploads (SPEC §5): limits, the allow-list, signed URLs, and where the bytes go: a folder
/// under the data dir by default, any S3-compatible service when `s3_bucket` is set.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct MediaConfig {
    /// Largest upload, in bytes (default 25 MiB).
    pub max_upload_bytes: u64,
    /// Comma-separated content types accepted, as detected from the bytes.
    pub allowed_types: String,
    /// Lifetime of signed media URLs.
    pub url_ttl_secs: u64,
    /// Uploads never attached to a message are deleted after this long.
    pub orphan_ttl_secs: u64,
    /// How often unattached uploads are looked for.
    pub cleanup_interval_secs: u64,
    /// Thumbnails fit in a square of this many pixels.
    pub thumbnail_px: u32,
    /// Images with more pixels than this are refused (decompression bombs).
    pub max_image_pixels: u64,
    /// S3 bucket; setting it selects S3-compatible storage.
    pub s3_bucket: Option<String>,
    /// Endpoint of an S3-compatible service (MinIO, moto, R2, ...); unset: AWS.
    pub s3_endpoint: Option<String>,
    /// Region.
    pub s3_region: String,
    /// Access key id.
    pub s3_access_key_id: Option<String>,
    /// Secret access key.
    pub s3_secret_access_key: Option<Secret>,
    /// Path-style requests (`endpoint/bucket/key`), which most S3-compatible services need.
    pub s3_path_style: bool,
    /// Prefix of every object key, so installs (and tests) can share a bucket.
    pub s3_prefix: String,
}

/// The types accepted by default: images, video, audio, PDF, common documents, archives.
pub const DEFAULT_ALLOWED_TYPES: &str = "image/png,image/jpeg,image/gif,image/webp,\
video/mp4,video/webm,video/quicktime,video/x-m4v,\
audio/mpeg,audio/ogg,audio/opus,audio/x-wav,audio/m4a,audio/aac,audio/x-flac,\
application/pdf,text/plain,application/rtf,\
application/msword,application/vnd.ms-excel,application/vnd.ms-powerpoint,\
application/vnd.openxmlformats-officedocument.wordprocessingml.document,\
application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,\
application/vnd.openxmlformats-officedocument.presentationml.presentation,\
application/vnd.oasis.opendocument.text,application/vnd.oasis.opendocument.spreadsheet,\
application/vnd.oasis.opendocument.presentation,\
application/zip,application/gzip,application/x-7z-compressed,application/x-tar,application/vnd.rar";

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 * 1024 * 1024,
            allowed_types: DEFAULT_ALLOWED_TYPES.to_owned(),
            url_ttl_secs: 3600,
            orphan_ttl_secs: 24 * 3600,
            cleanup_interval_secs: 600,
            thumbnail_px: 320,
            max_image_pixels: 50_000_000,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_path_style: true,
            s3_prefix: String::new(),
        }
    }
}

impl MediaConfig {
    /// The allow-list as a set of lower-case types.
    pub fn allowed(&self) -> std::collections::HashSet<String> {
        self.allowed_types
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// Where a gateway running on its own finds the other services.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ServicesConfig {
    /// Base URL of the user service, e.g. `http://127.0.0.1:3001`.
    pub user_url: Option<String>,
    /// Base URL of the chat service.
    pub chat_url: Option<String>,
    /// Base URL of the mail service (for the dev outbox).
    pub mail_url: Option<String>,
}

/// Log output.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,chatsync_chat=debug`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Configuration that could not be loaded or makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// Values that parse but contradict each other or the product's rules.
    #[error("configuration: {0}")]
    Invalid(String),
}

/// One plain environment variable and the setting it fills.
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// The dotted configuration key it sets.
    pub key: &'static str,
    /// What it does, for `--help` and the README.
    pub help: &'static str,
}

/// Every plain environment variable ChatSync reads. Any setting can also be given as
/// `CHATSYNC__<SECTION>__<KEY>` (e.g. `CHATSYNC__CHAT__SEND_PER_SEC=50`).
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: "PORT",
        key: "http.port",
        help: "public HTTP port (default 3000; 0 = any free port)",
    },
    EnvVar {
        name: "HOST",
        key: "http.host",
        help: "interface to bind (default 127.0.0.1)",
    },
    EnvVar {
        name: "DATA_DIR",
        key: "data_dir",
        help: "directory for the SQLite file, media and generated secret (default ./data)",
    },
    EnvVar {
        name: "DATABASE_URL",
        key: "database.url",
        help: "postgres://... or sqlite://...; default sqlite file in DATA_DIR",
    },
    EnvVar {
        name: "USER_DATABASE_URL",
        key: "database.user_url",
        help: "database for the user service only (overrides DATABASE_URL)",
    },
    EnvVar {
        name: "CHAT_DATABASE_URL",
        key: "database.chat_url",
        help: "database for the chat service only (overrides DATABASE_URL)",
    },
    EnvVar {
        name: "RABBITMQ_URL",
        key: "bus.rabbitmq_url",
        help: "amqp://... enables RabbitMQ; default in-process bus",
    },
    EnvVar {
        name: "REDIS_URL",
        key: "redis.url",
        help: "redis://... enables Redis sessions, presence, throttles and multi-node chat",
    },
    EnvVar {
        name: "REDIS_PREFIX",
        key: "redis.prefix",
        help: "prefix of every Redis key and channel (default chatsync:)",
    },
    EnvVar {
        name: "JWT_SECRET",
        key: "auth.jwt_secret",
        help: "access-token signing key; default generated once into DATA_DIR/jwt_secret",
    },
    EnvVar {
        name: "ACCESS_TOKEN_TTL_SECS",
        key: "auth.access_ttl_secs",
        help: "access-token lifetime (default 900)",
    },
    EnvVar {
        name: "REFRESH_TOKEN_TTL_SECS",
        key: "auth.refresh_ttl_secs",
        help: "refresh-token and session lifetime (default 2592000)",
    },
    EnvVar {
        name: "SMTP_URL",
        key: "mail.smtp_url",
        help: "smtp://user:pass@host:587?tls=required, smtps://..., or smtp://host:25 for a local relay",
    },
    EnvVar {
        name: "SMTP_HOST",
        key: "mail.smtp_host",
        help: "SMTP host (with EMAIL_USER/EMAIL_PASS); default smtp.gmail.com when EMAIL_USER is set",
    },
    EnvVar {
        name: "SMTP_PORT",
        key: "mail.smtp_port",
        help: "SMTP port (default 465 tls, 587 starttls, 25 none)",
    },
    EnvVar {
        name: "SMTP_TLS",
        key: "mail.smtp_tls",
        help: "tls | starttls | none (default tls)",
    },
    EnvVar {
        name: "EMAIL_USER",
        key: "mail.email_user",
        help: "SMTP user name; setting it turns SMTP on",
    },
    EnvVar {
        name: "EMAIL_PASS",
        key: "mail.email_pass",
        help: "SMTP password",
    },
    EnvVar {
        name: "MAIL_FROM",
        key: "mail.from",
        help: "From header of outgoing mail",
    },
    EnvVar {
        name: "MEDIA_MAX_BYTES",
        key: "media.max_upload_bytes",
        help: "largest upload in bytes (default 26214400 = 25 MiB)",
    },
    EnvVar {
        name: "MEDIA_ALLOWED_TYPES",
        key: "media.allowed_types",
        help: "comma-separated content types accepted (default: images, video, audio, PDF, documents, archives)",
    },
    EnvVar {
        name: "S3_BUCKET",
        key: "media.s3_bucket",
        help: "store media in this S3 bucket instead of DATA_DIR/media",
    },
    EnvVar {
        name: "S3_ENDPOINT",
        key: "media.s3_endpoint",
        help: "S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default AWS)",
    },
    EnvVar {
        name: "S3_REGION",
        key: "media.s3_region",
        help: "S3 region (default us-east-1)",
    },
    EnvVar {
        name: "S3_ACCESS_KEY_ID",
        key: "media.s3_access_key_id",
        help: "S3 access key id",
    },
    EnvVar {
        name: "S3_SECRET_ACCESS_KEY",
        key: "media.s3_secret_access_key",
        help: "S3 secret access key",
    },
    EnvVar {
        name: "S3_PATH_STYLE",
        key: "media.s3_path_style",
        help: "path-style S3 requests (default true; false for AWS virtual hosts)",
    },
    EnvVar {
        name: "S3_PREFIX",
        key: "media.s3_prefix",
        help: "prefix of every media object key (default none)",
    },
    EnvVar {
        name: "CORS_ORIGINS",
        key: "http.cors_origins",
        help: "comma-separated origins allowed by CORS (default none: same origin only)",
    },
    EnvVar {
        name: "TRUST_FORWARDED_FOR",
        key: "http.trust_forwarded_for",
        help: "true behind a trusted reverse proxy: rate limits use X-Forwarded-For",
    },
    EnvVar {
        name: "WEB_DIR",
        key: "http.web_dir",
        help: "built web app to serve at / (default web/dist)",
    },
    EnvVar {
        name: "USER_SERVICE_URL",
        key: "services.user_url",
        help: "gateway alone: base URL of the user service",
    },
    EnvVar {
        name: "CHAT_SERVICE_URL",
        key: "services.chat_url",
        help: "gateway alone: base URL of the chat service",
    },
    EnvVar {
        name: "MAIL_SERVICE_URL",
        key: "services.mail_url",
        help: "gateway alone: base URL of the mail service (dev outbox)",
    },
    EnvVar {
        name: "LOG_FORMAT",
        key: "log.format",
        help: "pretty | json (default pretty)",
    },
    EnvVar {
        name: "RUST_LOG",
        key: "log.filter",
        help: "log filter, e.g. info,chatsync_chat=debug (default info)",
    },
];

impl Config {
    /// Loads every layer. `file` is an explicit config file; without one, `chatsync.toml` in
    /// the working directory is read if it exists.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => fig = fig.merge(Toml::file_exact(f)),
            None => fig = fig.merge(Toml::file("chatsync.toml")),
        }
        fig = fig.merge(Env::prefixed("CHATSYNC__").split("__"));
        fig = fig.merge(
            Env::raw()
                .filter_map(|name| {
                    ENV_VARS
                        .iter()
                        .find(|v| name.as_str() == v.name)
                        .map(|v| v.key.into())
                })
                // `Env` lower-cases names; a dotted key nests.
                .split("."),
        );
        let cfg: Config = fig.extract().map_err(|e| ConfigError::Load(Box::new(e)))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks rules that types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.user_database()?;
        if let Some(s) = &self.auth.jwt_secret
            && s.expose().len() < 16
        {
            return Err(ConfigError::Invalid(
                "JWT_SECRET must be at least 16 characters".into(),
            ));
        }
        if self.auth.otp_max_attempts == 0 || self.auth.access_ttl_secs == 0 {
            return Err(ConfigError::Invalid(
                "auth.otp_max_attempts and auth.access_ttl_secs must be positive".into(),
            ));
        }
        if self.chat.max_batch == 0 || self.chat.max_page == 0 {
            return Err(ConfigError::Invalid(
                "chat.max_batch and chat.max_page must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The configuration as TOML, secrets redacted: `chatsync config default` prints it.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// The origins CORS allows.
    pub fn cors_origins(&self) -> Vec<String> {
        self.http
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail returns its own large error
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing_installed() {
        let c = Config::default();
        c.validate().unwrap();
        assert!(matches!(
            c.user_database().unwrap(),
            DatabaseKind::Sqlite(_)
        ));
        assert!(c.bus.rabbitmq_url.is_none() && c.redis.url.is_none() && !c.mail.uses_smtp());
    }

    #[test]
    fn every_plain_env_var_names_a_real_key() {
        figment::Jail::expect_with(|jail| {
            for v in ENV_VARS {
                let value = match v.key {
                    "http.port" => "4000",
                    "mail.smtp_port" => "2525",
                    "auth.access_ttl_secs" | "auth.refresh_ttl_secs" => "1234",
                    "http.trust_forwarded_for" => "true",
                    "mail.smtp_tls" => "starttls",
                    "media.max_upload_bytes" => "1000",
                    "media.s3_path_style" => "false",
                    "log.format" => "json",
                    "database.url" | "database.user_url" | "database.chat_url" => {
                        "postgres://x@y/z"
                    }
                    "auth.jwt_secret" => "0123456789abcdef0123",
                    _ => "x",
                };
                jail.set_env(v.name, value);
            }
            let c = Config::load(None).expect("loads");
            assert_eq!(c.http.port, 4000);
            assert_eq!(c.mail.smtp_tls, SmtpTls::Starttls);
            assert_eq!(c.mail.email_user.as_deref(), Some("x"));
            assert_eq!(
                c.auth.jwt_secret.as_ref().map(Secret::expose),
                Some("0123456789abcdef0123")
            );
            assert_eq!(c.log.format, LogFormat::Json);
            assert!(c.bus.rabbitmq_url.is_some() && c.redis.url.is_some());
            Ok(())
        });
    }

    #[test]
    fn nested_env_and_files_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("chatsync.toml", "[chat]\nsend_per_sec = 7\n")?;
            jail.set_env("CHATSYNC__CHAT__TYPING_TIMEOUT_SECS", "9");
            let c = Config::load(None).expect("loads");
            assert_eq!(c.chat.send_per_sec, 7);
            assert_eq!(c.chat.typing_timeout_secs, 9);
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        let mut c = Config::default();
        c.auth.jwt_secret = Some(Secret::new("supersecretvalue1234"));
        c.database.url = Some(ConnUrl::new("postgres://u:hunter2@db/x"));
        let shown = format!("{c:?}{}", c.to_toml());
        assert!(!shown.contains("supersecretvalue1234") && !shown.contains("hunter2"));
    }
}
