//! ChatSync's test kit (dev-dependency only): [`TestApp::spawn`] starts the real app on a
//! random port over any [`Backends`] set, each test with its own PostgreSQL database, RabbitMQ
//! vhost and Redis key prefix so tests run in parallel; [`contracts`] holds the conformance
//! suites every adapter must pass; [`SmtpSink`] is a real SMTP server for mail tests.
//!
//! Backend servers are found through `CHATSYNC_TEST_DATABASE_URL`, `CHATSYNC_TEST_REDIS_URL` and
//! `CHATSYNC_TEST_RABBITMQ_URL` (defaults: this machine's local servers). A test whose server is
//! unreachable fails; it never skips itself.
#![allow(missing_docs, unreachable_pub)]
#![allow(clippy::unwrap_used)]

pub mod adapters;
pub mod contracts;
pub mod process;
mod resources;
mod smtp;
pub mod socket;

pub use process::{PrivateRedis, Process, S3Server, TlsRabbit, certificates, free_port};
pub use resources::{PgDatabase, RabbitVhost, RedisPrefix, rabbitmqctl};
pub use smtp::SmtpSink;
pub use socket::{Sock, Unread};

use chatsync_core::config::{Config, ConnUrl, DataDir};
use chatsync_mail::DevOutbox;
use chatsync_server::{Running, Services};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Which SQL database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Which bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    Memory,
    Rabbit,
}

/// Which session/presence/throttle store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Memory,
    Redis,
}

/// A backend set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backends {
    pub db: Db,
    pub bus: Bus,
    pub state: State,
}

impl Backends {
    /// The zero-setup install: SQLite, in-process bus and state.
    pub const EMBEDDED: Self = Self {
        db: Db::Sqlite,
        bus: Bus::Memory,
        state: State::Memory,
    };
    /// Production: PostgreSQL, RabbitMQ, Redis.
    pub const PRODUCTION: Self = Self {
        db: Db::Postgres,
        bus: Bus::Rabbit,
        state: State::Redis,
    };
}

/// Installs the crypto provider and test logging once per test binary.
pub fn init() {
    chatsync_core::install_crypto_provider();
    chatsync_platform::telemetry::init_test_logging();
}

/// Per-test resources on the backend servers; dropped (and cleaned up) with the test.
#[derive(Default)]
pub struct Resources {
    pub data_dir: Option<TempDir>,
    pub pg: Option<PgDatabase>,
    pub vhost: Option<RabbitVhost>,
    pub redis: Option<RedisPrefix>,
}

impl Resources {
    /// Creates what `b` needs and a config pointing at it.
    pub async fn create(b: Backends) -> (Self, Config) {
        let dir = TempDir::new("chatsync-test");
        let mut cfg = Config {
            data_dir: DataDir(dir.path().to_owned()),
            ..Config::default()
        };
        cfg.http.port = 0;
        cfg.http.web_dir = dir.path().join("no-web");
        // Generous limits: tests that check limits set their own.
        cfg.auth.login_per_ip.limit = 10_000;
        cfg.auth.register_per_ip.limit = 10_000;
        cfg.auth.verify_per_ip.limit = 10_000;
        cfg.auth.refresh_per_ip.limit = 10_000;
        cfg.auth.login_per_account.limit = 10_000;
        cfg.auth.login_per_account_ip.limit = 10_000;
        cfg.auth.login_slow_per_ip.limit = 10_000;
        cfg.auth.verify_per_address.limit = 10_000;
        cfg.auth.search_per_account.limit = 10_000;
        cfg.chat.send_per_sec = 10_000;
        cfg.chat.send_burst = 10_000;
        cfg.chat.events_per_sec = 10_000;
        cfg.chat.send_per_account.limit = 1_000_000;
        cfg.chat.max_sockets_per_account = 10_000;
        cfg.media.upload_per_account.limit = 10_000;
        // Tests stop apps often; the drain has its own test.
        cfg.shutdown.drain_secs = 0;
        let mut r = Resources {
            data_dir: Some(dir),
            ..Self::default()
        };
        if b.db == Db::Postgres {
            let db = PgDatabase::create().await;
            cfg.database.url = Some(ConnUrl::new(db.url.clone()));
            cfg.database.max_connections = Some(5);
            r.pg = Some(db);
        }
        if b.bus == Bus::Rabbit {
            let v = RabbitVhost::create().await;
            cfg.bus.rabbitmq_url = Some(ConnUrl::new(v.url.clone()));
            r.vhost = Some(v);
        }
        if b.state == State::Redis {
            let p = RedisPrefix::new();
            cfg.redis.url = Some(ConnUrl::new(p.url.clone()));
            cfg.redis.prefix = p.prefix.clone();
            r.redis = Some(p);
        }
        (r, cfg)
    }
}

/// A running app and a client for it.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub cfg: Config,
    running: Option<Running>,
    dev_outbox: Option<Arc<DevOutbox>>,
    pub resources: Resources,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A verified user with live tokens.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub name: String,
    pub access: String,
    pub refresh: String,
    pub session_id: String,
}

impl TestApp {
    /// Starts every service over `b`.
    pub async fn spawn(b: Backends) -> Self {
        Self::spawn_with(b, |_| {}).await
    }

    /// Starts every service over `b`, after `tweak` adjusted the configuration.
    pub async fn spawn_with(b: Backends, tweak: impl FnOnce(&mut Config)) -> Self {
        init();
        let (resources, mut cfg) = Resources::create(b).await;
        tweak(&mut cfg);
        Self::start(cfg, Services::all(), resources).await
    }

    /// Starts `only` with `cfg` as given.
    pub async fn start(cfg: Config, only: Services, resources: Resources) -> Self {
        init();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = chatsync_server::start(cfg.clone(), only, listener)
            .await
            .expect("app starts");
        Self {
            addr: running.addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent("chatsync-testkit")
                .build()
                .unwrap(),
            cfg,
            dev_outbox: running.dev_outbox.clone(),
            running: Some(running),
            resources,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Where `/metrics` is served when `http.metrics_addr` moved it off the public port.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.as_ref().and_then(|r| r.metrics_addr)
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// Sends raw bytes with a content type (for malformed-input tests).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        let req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        read(req.send().await.expect("request sent")).await
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Resp {
        self.post(
            "/api/auth/register",
            json!({"email": email, "password": password, "display_name": name}),
        )
        .await
    }

    /// The code in the newest mail to `email` that is not `not`, waiting for it (dev outbox).
    pub async fn code_for(&self, email: &str, not: Option<&str>) -> String {
        let outbox = self
            .dev_outbox
            .as_ref()
            .expect("this app uses the dev outbox");
        let mail = tokio::time::timeout(
            Duration::from_secs(20),
            outbox.wait_for(email, |m| m.code.is_some() && m.code.as_deref() != not),
        )
        .await
        .unwrap_or_else(|_| panic!("no code mailed to {email} within 20 s"));
        mail.code.expect("filtered on code")
    }

    /// The code in the newest mail to `email` that greets `name` and is not `not`, waiting
    /// for it (dev outbox). Each registration's mail greets the name registered with it, so
    /// this tells apart the codes of several registrations of one address.
    pub async fn code_greeting(&self, email: &str, name: &str, not: Option<&str>) -> String {
        let outbox = self
            .dev_outbox
            .as_ref()
            .expect("this app uses the dev outbox");
        let greeting = format!("Hi {name},");
        let mail = tokio::time::timeout(
            Duration::from_secs(20),
            outbox.wait_for(email, |m| {
                m.code.is_some() && m.code.as_deref() != not && m.text.starts_with(&greeting)
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("no code for {name} mailed to {email} within 20 s"));
        mail.code.expect("filtered on code")
    }

    /// Registers and verifies a fresh user.
    pub async fn signup(&self, name: &str) -> TestUser {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase().replace(' ', "."),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let password = "correct horse battery".to_owned();
        let r = self.register(&email, &password, name).await;
        assert_eq!(r.status, 202, "register: {:?}", r.body);
        let code = self.code_for(&email, None).await;
        let r = self
            .post("/api/auth/verify", json!({"email": email, "otp": code}))
            .await;
        assert_eq!(r.status, 200, "verify: {:?}", r.body);
        user_from(&r.body, &email, &password, name)
    }

    /// Logs in and returns fresh tokens.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Opens (or finds) the direct conversation of `a` with user `b`; returns its id.
    pub async fn direct(&self, a: &TestUser, b: &TestUser) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/conversations",
                Some(&a.access),
                Some(json!({"kind": "direct", "user_id": b.id})),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "direct: {:?}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a group owned by `owner`; returns its id.
    pub async fn group(&self, owner: &TestUser, name: &str, members: &[&TestUser]) -> String {
        let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let r = self
            .call(
                Method::POST,
                "/api/conversations",
                Some(&owner.access),
                Some(json!({"kind": "group", "name": name, "member_ids": ids})),
            )
            .await;
        assert_eq!(r.status, 201, "group: {:?}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// A Socket.IO connection as `user`.
    pub async fn socket(&self, user: &TestUser) -> Sock {
        Sock::connect(self.addr, &user.access)
            .await
            .unwrap_or_else(|e| panic!("socket for {}: {e}", user.name))
    }

    /// Starts a graceful shutdown (what SIGTERM does) without waiting for it.
    pub fn begin_shutdown(&self) {
        if let Some(r) = &self.running {
            r.shutdown.cancel();
        }
    }

    /// Stops the app and waits until it has shut down.
    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(30), r.handle).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(r) = &self.running {
            r.shutdown.cancel();
        }
    }
}

/// A `TestUser` from a verify or login response.
pub fn user_from(body: &Value, email: &str, password: &str, name: &str) -> TestUser {
    TestUser {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        email: email.to_owned(),
        password: password.to_owned(),
        name: name.to_owned(),
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        session_id: body["session_id"].as_str().unwrap().to_owned(),
    }
}

async fn read(res: reqwest::Response) -> Resp {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let p = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `f` until it returns `Some`, for at most `within`. For effects that cross a process
/// or network boundary, where there is nothing to await directly.
pub async fn eventually<T, F, Fut>(within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
