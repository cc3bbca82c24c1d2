//! The only code that turns configuration into adapters (which database, which bus, which
//! state store). Everything else receives ports.

use crate::{Service, Services};
use anyhow::Context;
use axum::Router;
use chatsync_auth::{AuthDeps, AuthService};
use chatsync_chat::directory::{HttpDirectory, UserDirectory};
use chatsync_chat::{ChatDeps, ChatService};
use chatsync_core::UserId;
use chatsync_core::config::{Config, ConnUrl, DatabaseKind};
use chatsync_core::memory::{MemoryBus, MemoryPresence, MemorySessions, MemoryThrottle};
use chatsync_core::ports::chat::Profile;
use chatsync_core::ports::outbox::OutboxStore;
use chatsync_core::ports::{
    Agreement, ChatStore, EventBus, HealthCheck, MediaRepo, Presence, SessionStore, Throttle,
    UserStore,
};
use chatsync_media::MediaService;
use chatsync_platform::http::Authenticator;
use chatsync_platform::tokens::AccessTokens;
use chatsync_store_sqlite::SqliteStore;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type Closer = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Adapters the services of one process share.
pub struct Shared {
    /// Signs access tokens and keys OTP hashes.
    pub signing_secret: Vec<u8>,
    /// The event bus.
    pub bus: Arc<dyn EventBus>,
    bus_check: Option<Arc<dyn HealthCheck>>,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Rate limits and cooldowns.
    pub throttle: Arc<dyn Throttle>,
    /// Presence.
    pub presence: Arc<dyn Presence>,
    /// Where the nodes of a deployment check that they agree (Redis); none in one process.
    pub agreement: Option<Arc<dyn Agreement>>,
    state_check: Option<Arc<dyn HealthCheck>>,
    closers: std::sync::Mutex<Vec<Closer>>,
    /// Closes the Socket.IO server, when this process runs the chat service.
    socket_closer: std::sync::Mutex<Option<Closer>>,
    /// The SQLite databases this process's services opened.
    sqlite: SqliteStores,
}

impl Shared {
    /// Connects the bus and the state store that `only` needs.
    pub async fn new(cfg: &Config, only: &Services) -> anyhow::Result<Self> {
        let signing_secret = chatsync_platform::tokens::signing_secret(cfg)
            .context("loading the token signing secret")?;
        let mut closers: Vec<Closer> = Vec::new();

        let needs_bus =
            only.has(Service::User) || only.has(Service::Mail) || only.has(Service::Chat);
        let (bus, bus_check): (Arc<dyn EventBus>, Option<Arc<dyn HealthCheck>>) =
            match &cfg.bus.rabbitmq_url {
                Some(url) if needs_bus => {
                    let (bus, check, closer) = rabbit(cfg, url.expose()).await?;
                    closers.push(closer);
                    (bus, Some(check))
                }
                _ => (Arc::new(MemoryBus::new(cfg.bus.max_attempts)), None),
            };
        let bus: Arc<dyn EventBus> = Arc::new(chatsync_core::ports::bus::MeteredBus(bus));
        if needs_bus {
            sample_queues(&bus);
        }

        let state = match &cfg.redis.url {
            Some(url) => redis(url.expose(), &cfg.redis.prefix)?,
            None => StateStores {
                sessions: Arc::new(MemorySessions::new()),
                throttle: Arc::new(MemoryThrottle::new()),
                presence: Arc::new(MemoryPresence::new()),
                agreement: None,
                check: None,
            },
        };
        if cfg.redis.url.is_none() && !(only.has(Service::User) && only.has(Service::Chat)) {
            tracing::warn!(
                "no REDIS_URL: sessions live in this process only, so other processes will not \
                 accept its tokens"
            );
        }
        Ok(Self {
            signing_secret,
            bus,
            bus_check,
            sessions: state.sessions,
            throttle: state.throttle,
            presence: state.presence,
            agreement: state.agreement,
            state_check: state.check,
            closers: std::sync::Mutex::new(closers),
            socket_closer: std::sync::Mutex::new(None),
            sqlite: SqliteStores::default(),
        })
    }

    /// The bus's readiness check, if it has one.
    pub fn bus_health(&self) -> Vec<Arc<dyn HealthCheck>> {
        self.bus_check.iter().cloned().collect()
    }

    /// The state store's readiness check, if it has one.
    pub fn state_health(&self) -> Vec<Arc<dyn HealthCheck>> {
        self.state_check.iter().cloned().collect()
    }

    /// The user service's adapters; connects and migrates its database.
    pub async fn auth_deps(&self, cfg: &Config) -> anyhow::Result<AuthDeps> {
        let (store, outbox, check) = user_store(cfg, &self.sqlite).await?;
        let mut health = vec![check];
        health.extend(self.bus_health());
        health.extend(self.state_health());
        Ok(AuthDeps {
            store,
            outbox,
            sessions: self.sessions.clone(),
            throttle: self.throttle.clone(),
            bus: self.bus.clone(),
            health,
        })
    }

    /// The chat service's adapters and its media part; connects and migrates its database.
    /// Profiles it lacks come from `local_auth` in this process, or from `USER_SERVICE_URL`.
    pub async fn chat_deps(
        &self,
        cfg: &Config,
        local_auth: Option<AuthService>,
    ) -> anyhow::Result<(ChatDeps, MediaService)> {
        let (store, media_repo, check) = chat_store(cfg, &self.sqlite).await?;
        let auth = Authenticator::new(
            Arc::new(AccessTokens::new(
                &self.signing_secret,
                cfg.auth.access_ttl_secs,
            )),
            self.sessions.clone(),
        );
        let media = MediaService::new(
            cfg.media.clone(),
            media_repo,
            media_storage(cfg)?,
            auth.clone(),
            self.throttle.clone(),
            &self.signing_secret,
        );
        let directory: Arc<dyn UserDirectory> = match (local_auth, &cfg.services.user_url) {
            (Some(auth), _) => Arc::new(LocalDirectory(auth)),
            (None, Some(url)) => Arc::new(HttpDirectory::new(url)),
            (None, None) => {
                tracing::warn!(
                    "no USER_SERVICE_URL: the chat service knows only profiles from user events"
                );
                Arc::new(NoDirectory)
            }
        };
        let mut health = vec![check, media.health_check()];
        health.extend(self.bus_health());
        health.extend(self.state_health());
        let deps = ChatDeps {
            store,
            presence: self.presence.clone(),
            sessions: self.sessions.clone(),
            bus: self.bus.clone(),
            auth,
            directory,
            attachments: Some(media.attachments()),
            throttle: self.throttle.clone(),
            health,
        };
        Ok((deps, media))
    }

    /// The chat service and its Socket.IO endpoint: in-process fan-out, or through Redis when
    /// `REDIS_URL` is set, so several chat nodes share rooms. The Socket.IO server is built
    /// first, the service on its fan-out, then the service's handlers on the server.
    pub async fn chat_with_sockets(
        &self,
        cfg: &Config,
        deps: ChatDeps,
    ) -> anyhow::Result<(ChatService, Router)> {
        let (chat, router, closer): (ChatService, Router, Closer) = match &cfg.redis.url {
            Some(url) => redis_socket_io(url.expose(), &cfg.redis.prefix, cfg, deps).await?,
            None => {
                let (svc, io) =
                    ChatService::configure(&cfg.chat, socketioxide::SocketIo::builder())
                        .build_svc();
                let chat = ChatService::new(cfg.chat.clone(), deps, ChatService::fanout(&io));
                chat.register(&io);
                (
                    chat,
                    Router::new().route_service("/socket.io/", svc),
                    Box::new(move || Box::pin(async move { io.close().await })),
                )
            }
        };
        *self.socket_closer.lock().unwrap_or_else(|p| p.into_inner()) = Some(closer);
        let router = router.layer(axum::middleware::map_request(
            ChatService::detach_request_head,
        ));
        Ok((chat, router))
    }

    /// Disconnects every socket (shutdown).
    pub async fn close_sockets(&self) {
        let closer = self
            .socket_closer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = closer {
            c().await;
        }
    }

    /// Closes connections after the services stopped.
    pub async fn close(&self) {
        let closers = std::mem::take(&mut *self.closers.lock().unwrap_or_else(|p| p.into_inner()));
        for c in closers {
            c().await;
        }
    }
}

/// The SQLite databases a process has open, by URL. Services that name the same database (the
/// user and chat services on the embedded default) share one store, so one file has one
/// appender thread and one checkpointer, not one of each per service.
#[derive(Default)]
struct SqliteStores(tokio::sync::Mutex<Vec<(String, Arc<SqliteStore>)>>);

impl SqliteStores {
    /// The store of the database at `url`: the one already open, or a new one. (Each service
    /// migrates its own tables in it.)
    async fn open(&self, url: &ConnUrl) -> anyhow::Result<Arc<SqliteStore>> {
        let mut open = self.0.lock().await;
        if let Some((_, s)) = open.iter().find(|(u, _)| u == url.expose()) {
            return Ok(s.clone());
        }
        let s = Arc::new(
            SqliteStore::connect(url.expose())
                .await
                .with_context(|| format!("opening {}", url.redacted()))?,
        );
        open.push((url.expose().to_owned(), s.clone()));
        Ok(s)
    }
}

type UserStores = (
    Arc<dyn UserStore>,
    Arc<dyn OutboxStore>,
    Arc<dyn HealthCheck>,
);

async fn user_store(cfg: &Config, sqlite: &SqliteStores) -> anyhow::Result<UserStores> {
    match cfg.user_database()? {
        DatabaseKind::Sqlite(url) => {
            let s = sqlite.open(&url).await?;
            s.migrate_user().await?;
            sample_pool("user", &s, SqliteStore::pool_use);
            Ok((s.clone(), s.clone(), s))
        }
        DatabaseKind::Postgres(url) => postgres_user_store(cfg, url.expose()).await,
    }
}

#[cfg(feature = "postgres")]
async fn postgres_user_store(cfg: &Config, url: &str) -> anyhow::Result<UserStores> {
    let s =
        chatsync_store_postgres::PgStore::connect(url, cfg.database.max_connections.unwrap_or(10))
            .await
            .context("connecting to PostgreSQL")?;
    s.migrate_user().await?;
    let s = Arc::new(s);
    sample_pool("user", &s, chatsync_store_postgres::PgStore::pool_use);
    Ok((s.clone(), s.clone(), s))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_user_store(_: &Config, _: &str) -> anyhow::Result<UserStores> {
    anyhow::bail!("this build has no PostgreSQL support; rebuild with the `postgres` feature")
}

type ChatStores = (Arc<dyn ChatStore>, Arc<dyn MediaRepo>, Arc<dyn HealthCheck>);

async fn chat_store(cfg: &Config, sqlite: &SqliteStores) -> anyhow::Result<ChatStores> {
    match cfg.chat_database()? {
        DatabaseKind::Sqlite(url) => {
            let s = sqlite.open(&url).await?;
            s.migrate_chat().await?;
            sample_pool("chat", &s, SqliteStore::pool_use);
            Ok((s.clone(), s.clone(), s))
        }
        DatabaseKind::Postgres(url) => postgres_chat_store(cfg, url.expose()).await,
    }
}

#[cfg(feature = "postgres")]
async fn postgres_chat_store(cfg: &Config, url: &str) -> anyhow::Result<ChatStores> {
    let s =
        chatsync_store_postgres::PgStore::connect(url, cfg.database.max_connections.unwrap_or(10))
            .await
            .context("connecting to PostgreSQL")?;
    s.migrate_chat().await?;
    let s = Arc::new(s);
    sample_pool("chat", &s, chatsync_store_postgres::PgStore::pool_use);
    Ok((s.clone(), s.clone(), s))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_chat_store(_: &Config, _: &str) -> anyhow::Result<ChatStores> {
    anyhow::bail!("this build has no PostgreSQL support; rebuild with the `postgres` feature")
}

/// Records how `service`'s database pool is used (`db_pool_connections{service, state}` and
/// `db_pool_max_connections{service}`) now and every 5 s, for as long as the store lives.
fn sample_pool<S: Send + Sync + 'static>(
    service: &'static str,
    store: &Arc<S>,
    read: fn(&S) -> chatsync_core::ports::PoolUse,
) {
    let store = Arc::downgrade(store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            let Some(s) = store.upgrade() else { return };
            let u = read(&s);
            drop(s);
            let busy = u.open.saturating_sub(u.idle);
            metrics::gauge!("db_pool_connections", "service" => service, "state" => "busy")
                .set(f64::from(busy));
            metrics::gauge!("db_pool_connections", "service" => service, "state" => "idle")
                .set(f64::from(u.idle));
            metrics::gauge!("db_pool_max_connections", "service" => service).set(f64::from(u.max));
        }
    });
}

/// Records how many events wait in each durable queue (`bus_queue_depth{queue}`) now and
/// every 5 s, for as long as the bus lives. With RabbitMQ every node reports the broker's
/// count; a failed count (broker down) leaves the last value.
fn sample_queues(bus: &Arc<dyn EventBus>) {
    let bus = Arc::downgrade(bus);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            let Some(b) = bus.upgrade() else { return };
            for q in chatsync_core::ports::bus::topology::QUEUES {
                match b.queue_depth(q.name).await {
                    Ok(n) => {
                        // Precision is lost only beyond 2^53 waiting events.
                        #[allow(clippy::cast_precision_loss)]
                        metrics::gauge!("bus_queue_depth", "queue" => q.name).set(n as f64);
                    }
                    Err(e) => {
                        tracing::debug!(error = %chatsync_core::error_chain(&e), queue = q.name, "queue depth not read")
                    }
                }
            }
        }
    });
}

/// Runs every service's migrations (`chatsync migrate`).
pub async fn migrate(cfg: &Config) -> anyhow::Result<()> {
    let sqlite = SqliteStores::default();
    user_store(cfg, &sqlite).await?;
    tracing::info!("user service tables are up to date");
    chat_store(cfg, &sqlite).await?;
    tracing::info!("chat service tables are up to date");
    Ok(())
}

/// Where media bytes go: `DATA_DIR/media`, or S3 when `S3_BUCKET` is set.
fn media_storage(cfg: &Config) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    if cfg.media.s3_bucket.is_some() {
        return s3_storage(cfg);
    }
    let dir = cfg.data_dir.path().join("media");
    chatsync_core::files::private_dir(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(&dir)
            .with_context(|| format!("media directory {}", dir.display()))?,
    ))
}

#[cfg(feature = "s3")]
fn s3_storage(cfg: &Config) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    chatsync_media_s3::s3_store(&cfg.media)
}

#[cfg(not(feature = "s3"))]
fn s3_storage(_: &Config) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    anyhow::bail!("this build has no S3 support; rebuild with the `s3` feature")
}

/// The user service in this process, as the chat service's directory.
struct LocalDirectory(AuthService);

#[async_trait::async_trait]
impl UserDirectory for LocalDirectory {
    async fn profile(&self, id: UserId, _token: &str) -> Result<Option<Profile>, String> {
        self.0.public_profile(id).await.map_err(|e| e.to_string())
    }
}

/// No user service to ask: only profiles from events are known.
struct NoDirectory;

#[async_trait::async_trait]
impl UserDirectory for NoDirectory {
    async fn profile(&self, _: UserId, _: &str) -> Result<Option<Profile>, String> {
        Err("USER_SERVICE_URL is not set".into())
    }
}

#[cfg(feature = "redis")]
async fn redis_socket_io(
    url: &str,
    prefix: &str,
    cfg: &Config,
    deps: ChatDeps,
) -> anyhow::Result<(ChatService, Router, Closer)> {
    use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
    // The adapter speaks RESP3.
    let url = if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    };
    let client = redis::Client::open(url).context("REDIS_URL")?;
    let driver = crate::socket_redis::ManagedDriver::new(client)
        .await
        .context("connecting the Socket.IO Redis adapter")?;
    let ctr = RedisAdapterCtr::new_with_driver(
        driver,
        RedisAdapterConfig::new().with_prefix(format!("{prefix}socket.io")),
    );
    let (svc, io) = ChatService::configure(
        &cfg.chat,
        socketioxide::SocketIo::builder()
            .with_adapter::<CustomRedisAdapter<_, crate::socket_redis::ManagedDriver>>(ctr),
    )
    .build_svc();
    let chat = ChatService::new(cfg.chat.clone(), deps, ChatService::fanout(&io));
    chat.register(&io)
        .await
        .context("initialising the Socket.IO Redis adapter")?;
    Ok((
        chat,
        Router::new().route_service("/socket.io/", svc),
        Box::new(move || Box::pin(async move { io.close().await })),
    ))
}

#[cfg(not(feature = "redis"))]
async fn redis_socket_io(
    _: &str,
    _: &str,
    _: &Config,
    _: ChatDeps,
) -> anyhow::Result<(ChatService, Router, Closer)> {
    anyhow::bail!("this build has no Redis support; rebuild with the `redis` feature")
}

type Bus = (Arc<dyn EventBus>, Arc<dyn HealthCheck>, Closer);

#[cfg(feature = "rabbitmq")]
async fn rabbit(cfg: &Config, url: &str) -> anyhow::Result<Bus> {
    let bus = chatsync_bus_rabbitmq::RabbitBus::connect(chatsync_bus_rabbitmq::RabbitConfig {
        url: url.to_owned(),
        exchange: cfg.bus.exchange.clone(),
        max_attempts: cfg.bus.max_attempts,
        prefetch: cfg.bus.prefetch,
        ca_pem: match &cfg.bus.rabbitmq_ca_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("RABBITMQ_CA_FILE {}", path.display()))?,
            ),
            None => None,
        },
    })
    .await
    .context("connecting to RabbitMQ")?;
    let b = bus.clone();
    let closer: Closer = Box::new(move || Box::pin(async move { b.close().await }));
    Ok((Arc::new(bus.clone()), Arc::new(bus), closer))
}

#[cfg(not(feature = "rabbitmq"))]
async fn rabbit(_: &Config, _: &str) -> anyhow::Result<Bus> {
    anyhow::bail!("this build has no RabbitMQ support; rebuild with the `rabbitmq` feature")
}

/// Sessions, throttles and presence, and the health check of their backend.
struct StateStores {
    sessions: Arc<dyn SessionStore>,
    throttle: Arc<dyn Throttle>,
    presence: Arc<dyn Presence>,
    agreement: Option<Arc<dyn Agreement>>,
    check: Option<Arc<dyn HealthCheck>>,
}

#[cfg(feature = "redis")]
fn redis(url: &str, prefix: &str) -> anyhow::Result<StateStores> {
    let r = Arc::new(chatsync_redis::RedisState::connect(url, prefix).context("REDIS_URL")?);
    Ok(StateStores {
        sessions: r.clone(),
        throttle: r.clone(),
        presence: r.clone(),
        agreement: Some(r.clone()),
        check: Some(r),
    })
}

#[cfg(not(feature = "redis"))]
fn redis(_: &str, _: &str) -> anyhow::Result<StateStores> {
    anyhow::bail!("this build has no Redis support; rebuild with the `redis` feature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatsync_core::config::DataDir;

    fn same<A: ?Sized, B: ?Sized>(a: &Arc<A>, b: &Arc<B>) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
    }

    #[tokio::test]
    async fn services_naming_one_sqlite_database_share_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config {
            data_dir: DataDir(dir.path().to_owned()),
            ..Config::default()
        };
        let sqlite = SqliteStores::default();
        let (users, _, _) = user_store(&cfg, &sqlite).await.unwrap();
        let (chats, _, _) = chat_store(&cfg, &sqlite).await.unwrap();
        assert!(
            same(&users, &chats),
            "one file, one store (one appender, one checkpointer)"
        );

        // A database of its own gets a store of its own.
        cfg.database.chat_url = Some(ConnUrl::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("chat.db").display()
        )));
        let (other, _, _) = chat_store(&cfg, &sqlite).await.unwrap();
        assert!(!same(&users, &other));
    }
}
