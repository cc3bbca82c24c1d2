//! Typed configuration for every service and adapter: the types, their defaults (which need
//! nothing installed) and the rules types cannot express ([`Config::validate`]).
//!
//! Loading it (defaults, an optional TOML file, `CHATSYNC__SECTION__KEY` environment
//! variables, the plain `.env` names) is `chatsync_platform::config::load`, so adapters can take
//! their settings without compiling figment. Nothing outside that module reads environment
//! variables.
//!
//! Adapters are chosen by data: a `database.url` starting `postgres://` selects PostgreSQL,
//! a `bus.rabbitmq_url` selects RabbitMQ, a `redis.url` selects Redis, and so on.

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
    /// What happens on SIGTERM.
    pub shutdown: ShutdownConfig,
}

/// Graceful shutdown (SIGTERM, SIGINT).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct ShutdownConfig {
    /// A chat node first answers `/readyz` 503 and refuses new Socket.IO sessions for this
    /// long, still serving its connected clients, so gateways and load balancers stop sending
    /// it new ones; then it tells its clients to reconnect (elsewhere).
    pub drain_secs: u64,
    /// The whole shutdown (drain, in-flight requests, queued commits, the mail in hand) ends
    /// within this; past it the process exits anyway (unacknowledged work is redelivered).
    pub deadline_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_secs: 3,
            deadline_secs: 30,
        }
    }
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
    /// Take the client address from `X-Forwarded-For` when the request comes from a trusted
    /// proxy (see `trusted_proxies`). Off by default: the peer address is the client.
    pub trust_forwarded_for: bool,
    /// Proxies whose `X-Forwarded-For` is believed, comma-separated addresses or CIDR ranges
    /// (default loopback: nginx or the gateway on the same host). The client address is the
    /// right-most hop that is not one of these, so any number of listed proxies may be chained
    /// and a client cannot choose its own address by sending the header itself.
    pub trusted_proxies: String,
    /// Serve `/metrics` on this separate address (e.g. `127.0.0.1:9100`) instead of the
    /// public port. Unset: `/metrics` is on the public port; keep it off the internet.
    pub metrics_addr: Option<String>,
    /// Seconds a client has to send a complete request head; a kept-alive connection waiting
    /// for its next request is closed after this long too.
    pub header_read_timeout_secs: u64,
    /// A connection (an upgraded WebSocket included) on which no byte has moved either way for
    /// this long is closed. Must be longer than `request_timeout_secs`.
    pub idle_timeout_secs: u64,
    /// Open connections accepted at once; past it new connections are closed at once. Keep it
    /// below the process's open-file limit.
    pub max_connections: usize,
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
            trusted_proxies: "127.0.0.0/8, ::1".into(),
            metrics_addr: None,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 90,
            max_connections: 10_000,
            json_limit_bytes: 64 * 1024,
            request_timeout_secs: 60,
            web_dir: PathBuf::from("web/dist"),
        }
    }
}

impl HttpConfig {
    /// Whether `host` binds only the loopback interface (`127.0.0.1`, `::1`, `localhost`).
    pub fn binds_loopback_only(&self) -> bool {
        let host = self
            .host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The trusted proxies, parsed.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "http.trusted_proxies: {s:?} is not an IP address or CIDR range"
                        ))
                    })
            })
            .collect()
    }

    /// The separate metrics address, parsed.
    pub fn metrics_socket_addr(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        self.metrics_addr
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "METRICS_ADDR must be host:port with an IP host (e.g. 127.0.0.1:9100), \
                         got {s:?}"
                    ))
                })
            })
            .transpose()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.trusted_proxy_nets()?;
        self.metrics_socket_addr()?;
        for origin in self.cors_origins.split(',').map(str::trim) {
            if origin == "*" {
                return Err(ConfigError::Invalid(
                    "CORS_ORIGINS='*' is not allowed: the API uses credentials, so list the \
                     origins (e.g. https://chat.example.com), comma-separated"
                        .into(),
                ));
            }
            if !origin.is_empty()
                && (http::HeaderValue::from_str(origin).is_err()
                    || !(origin.starts_with("http://") || origin.starts_with("https://")))
            {
                return Err(ConfigError::Invalid(format!(
                    "CORS_ORIGINS: {origin:?} is not an origin like https://chat.example.com"
                )));
            }
        }
        if self.header_read_timeout_secs == 0 || self.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "http.header_read_timeout_secs and http.max_connections must be positive".into(),
            ));
        }
        if self.idle_timeout_secs <= self.request_timeout_secs {
            return Err(ConfigError::Invalid(format!(
                "http.idle_timeout_secs ({}) must be longer than http.request_timeout_secs ({}), \
                 or a slow request would be cut off as idle",
                self.idle_timeout_secs, self.request_timeout_secs
            )));
        }
        Ok(())
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
    /// `amqp://user:pass@host:5672/vhost`, or `amqps://...:5671/...` over TLS. Unset: the
    /// in-process bus.
    pub rabbitmq_url: Option<ConnUrl>,
    /// For `amqps://`: a PEM file of certificates to trust besides the system's roots (a
    /// broker whose certificate a private CA signed).
    pub rabbitmq_ca_file: Option<PathBuf>,
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
            rabbitmq_ca_file: None,
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
    /// Minimum time between two resent codes for one address (SPEC §2: 60 s). Each
    /// registration mails its own code at once; this spaces out `resend-otp`.
    pub otp_resend_cooldown_secs: u64,
    /// How long a pending registration (credentials waiting for their code) can still be
    /// verified or have its code resent; after that, register again.
    pub registration_ttl_secs: u64,
    /// Pending registrations kept per address; a newer one pushes out the oldest. Bounds the
    /// codes a guess is checked against, and the mails one resend sends.
    pub pending_registrations_per_address: u32,
    /// Login attempts per client address.
    pub login_per_ip: RateLimit,
    /// Login attempts on one account from one client address; past it that address gets
    /// `429` for that account, and the owner's other addresses are unaffected.
    pub login_per_account_ip: RateLimit,
    /// Login attempts on one account from all addresses together. Past it the account is
    /// under attack and every address is held to `login_slow_per_ip` for it: slower, but the
    /// right password still gets in.
    pub login_per_account: RateLimit,
    /// Login attempts per client address on an account past `login_per_account`.
    pub login_slow_per_ip: RateLimit,
    /// Registrations per client address.
    pub register_per_ip: RateLimit,
    /// OTP checks per client address.
    pub verify_per_ip: RateLimit,
    /// OTP checks per address, across every code it is sent: bounds guessing however often
    /// new codes are requested.
    pub verify_per_address: RateLimit,
    /// Token refreshes per client address.
    pub refresh_per_ip: RateLimit,
    /// User searches per account, shared by every instance through the throttle store.
    pub search_per_account: RateLimit,
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
            registration_ttl_secs: 24 * 3600,
            pending_registrations_per_address: 3,
            login_per_ip: RateLimit::new(30, 60),
            login_per_account_ip: RateLimit::new(10, 300),
            login_per_account: RateLimit::new(30, 900),
            login_slow_per_ip: RateLimit::new(2, 900),
            register_per_ip: RateLimit::new(20, 3600),
            verify_per_ip: RateLimit::new(30, 60),
            verify_per_address: RateLimit::new(30, 24 * 3600),
            refresh_per_ip: RateLimit::new(60, 60),
            search_per_account: RateLimit::new(60, 60),
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
    /// Allow the dev outbox (no SMTP) on a non-loopback `HOST`, where anyone who can reach the
    /// port could read other people's codes. Off: such a start is refused. On (demos only):
    /// `GET /api/dev/outbox` then answers only with `?email=`.
    pub dev_outbox_public: bool,
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
            dev_outbox_public: false,
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
    /// The server pings each socket this often (Engine.IO's `pingInterval`).
    pub ping_interval_secs: u64,
    /// A socket whose pong does not come within this long of a ping is closed (Engine.IO's
    /// `pingTimeout`); so is one whose client has stopped reading, once a write to it has
    /// waited `ping_interval_secs + ping_timeout_secs`.
    pub ping_timeout_secs: u64,
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
    /// When commits follow each other closely (under four windows apart), a batch of fewer
    /// than 16 messages waits up to this long for more before it commits (until it holds
    /// 16), so they share one transaction and one fsync. An idle node never waits.
    /// Microseconds; 0 turns the window off. Longer windows cost less CPU per message at
    /// ordinary load and add latency (bench/RESULTS.md, issue 10's nineteenth pass: at
    /// 2,000 msgs/s, 8 ms instead of 2 cut the server's CPU by about an eighth and moved
    /// p99 from 7 to 10 ms).
    pub commit_window_us: u64,
    /// Messages returned by one history or sync page at most.
    pub max_page: u32,
    /// Messages one account may send, over REST and every socket on every node together.
    /// Each socket's own `send_per_sec` bucket is checked first.
    pub send_per_account: RateLimit,
    /// Sockets one account may have open at once (on every node, with Redis presence); the
    /// next is refused at connect.
    pub max_sockets_per_account: u32,
    /// Different emoji one person may put on one message.
    pub max_reactions_per_user: u32,
    /// Message searches per account, shared by every node through the throttle store.
    pub search_per_account: RateLimit,
    /// Groups with more members than this notify "mentions only" unless a member chooses.
    pub mentions_only_group_size: u32,
    /// Fetch a preview of the first link in each message.
    pub link_previews: bool,
    /// Addresses link previews may reach although they are not public (loopback, private).
    /// For tests against a local server only: each lets any message make the server fetch
    /// from that address.
    pub link_preview_allow: Vec<std::net::IpAddr>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            send_per_sec: 20,
            send_burst: 40,
            events_per_sec: 50,
            typing_timeout_secs: 6,
            ping_interval_secs: 25,
            ping_timeout_secs: 20,
            max_payload_bytes: 64 * 1024,
            ws_read_buffer_bytes: 256,
            socket_queue_packets: 4096,
            max_batch: 512,
            commit_window_us: 2000,
            max_page: 200,
            send_per_account: RateLimit::new(100, 10),
            max_sockets_per_account: 20,
            max_reactions_per_user: 20,
            search_per_account: RateLimit::new(120, 60),
            mentions_only_group_size: 20,
            link_previews: true,
            link_preview_allow: Vec::new(),
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
    /// Memory one image may need while it is decoded and processed (its decoded pixels, plus a
    /// rotated copy when its orientation is applied); a bigger image is refused before it is
    /// decoded (`422 image_too_large`).
    pub max_decode_bytes: u64,
    /// Images decoded at once; further uploads wait for a slot. Peak decoding memory is about
    /// `decode_slots × max_decode_bytes`.
    pub decode_slots: usize,
    /// Uploads one account may make.
    pub upload_per_account: RateLimit,
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
            max_decode_bytes: 128 * 1024 * 1024,
            decode_slots: 2,
            upload_per_account: RateLimit::new(30, 60),
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
    /// Base URL of the chat service; several, comma-separated, for several chat nodes (the
    /// gateway balances them).
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
    /// A layer could not be read or a value has the wrong type (the loader's error, a
    /// `figment::Error` from `chatsync_platform::config::load`).
    #[error("configuration: {0}")]
    Load(Box<dyn std::error::Error + Send + Sync>),
    /// Values that parse but contradict each other or the product's rules.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
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
        if self.auth.otp_max_attempts == 0
            || self.auth.access_ttl_secs == 0
            || self.auth.pending_registrations_per_address == 0
        {
            return Err(ConfigError::Invalid(
                "auth.otp_max_attempts, auth.access_ttl_secs and \
                 auth.pending_registrations_per_address must be positive"
                    .into(),
            ));
        }
        if self.chat.max_batch == 0 || self.chat.max_page == 0 {
            return Err(ConfigError::Invalid(
                "chat.max_batch and chat.max_page must be positive".into(),
            ));
        }
        if self.chat.ping_interval_secs == 0 || self.chat.ping_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "chat.ping_interval_secs and chat.ping_timeout_secs must be positive".into(),
            ));
        }
        self.http.validate()?;
        if self.chat.max_sockets_per_account == 0
            || self.media.decode_slots == 0
            || self.media.max_decode_bytes == 0
        {
            return Err(ConfigError::Invalid(
                "chat.max_sockets_per_account, media.decode_slots and media.max_decode_bytes \
                 must be positive"
                    .into(),
            ));
        }
        Ok(())
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
}
