//! Adapters on fresh per-test resources, for the contract suites.

use crate::{Db, PgDatabase, RabbitVhost, RedisPrefix, TempDir};
use chatsync_bus_rabbitmq::{RabbitBus, RabbitConfig};
use chatsync_redis::RedisState;
use chatsync_store_postgres::PgStore;
use chatsync_store_sqlite::SqliteStore;
use std::any::Any;

/// Keeps a per-test resource alive (and cleans it up on drop).
pub type Guard = Box<dyn Any + Send>;

/// An SQLite store in a temp dir.
pub async fn sqlite() -> (SqliteStore, Guard) {
    let dir = TempDir::new("chatsync-sqlite");
    let s = sqlite_on(&sqlite_url(&dir)).await;
    (s, Box::new(dir))
}

/// A PostgreSQL store in its own database.
pub async fn postgres() -> (PgStore, Guard) {
    let db = PgDatabase::create().await;
    let s = postgres_on(&db.url).await;
    (s, Box::new(db))
}

fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display())
}

/// An SQLite store on the file at `url`, its tables up to date.
async fn sqlite_on(url: &str) -> SqliteStore {
    let s = SqliteStore::connect(url).await.unwrap();
    s.migrate_user().await.unwrap();
    s.migrate_chat().await.unwrap();
    s
}

/// A PostgreSQL store on the database at `url`, its tables up to date.
async fn postgres_on(url: &str) -> PgStore {
    let s = PgStore::connect(url, 5).await.unwrap();
    s.migrate_user().await.unwrap();
    s.migrate_chat().await.unwrap();
    s
}

/// Both stores behind their ports.
pub async fn store(db: Db) -> (std::sync::Arc<dyn AnyStore>, Guard) {
    match db {
        Db::Sqlite => {
            let (s, g) = sqlite().await;
            (std::sync::Arc::new(s), g)
        }
        Db::Postgres => {
            let (s, g) = postgres().await;
            (std::sync::Arc::new(s), g)
        }
    }
}

/// Two stores on one database, as two nodes (or two processes on one SQLite file) hold it.
pub async fn two_stores(
    db: Db,
) -> (
    std::sync::Arc<dyn AnyStore>,
    std::sync::Arc<dyn AnyStore>,
    Guard,
) {
    use std::sync::Arc;
    match db {
        Db::Sqlite => {
            let dir = TempDir::new("chatsync-sqlite");
            let url = sqlite_url(&dir);
            let (a, b) = (sqlite_on(&url).await, sqlite_on(&url).await);
            (Arc::new(a), Arc::new(b), Box::new(dir))
        }
        Db::Postgres => {
            let db = PgDatabase::create().await;
            let (a, b) = (postgres_on(&db.url).await, postgres_on(&db.url).await);
            (Arc::new(a), Arc::new(b), Box::new(db))
        }
    }
}

/// A store implementing every SQL port, for contract tests.
pub trait AnyStore:
    chatsync_core::ports::UserStore
    + chatsync_core::ports::outbox::OutboxStore
    + chatsync_core::ports::ChatStore
    + chatsync_core::ports::MediaRepo
{
    fn users(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn chatsync_core::ports::UserStore>;
    fn outbox(
        self: std::sync::Arc<Self>,
    ) -> std::sync::Arc<dyn chatsync_core::ports::outbox::OutboxStore>;
    fn chat(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn chatsync_core::ports::ChatStore>;
    fn media(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn chatsync_core::ports::MediaRepo>;
}

impl<T> AnyStore for T
where
    T: chatsync_core::ports::UserStore
        + chatsync_core::ports::outbox::OutboxStore
        + chatsync_core::ports::ChatStore
        + chatsync_core::ports::MediaRepo,
{
    fn users(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn chatsync_core::ports::UserStore> {
        self
    }
    fn outbox(
        self: std::sync::Arc<Self>,
    ) -> std::sync::Arc<dyn chatsync_core::ports::outbox::OutboxStore> {
        self
    }
    fn chat(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn chatsync_core::ports::ChatStore> {
        self
    }
    fn media(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn chatsync_core::ports::MediaRepo> {
        self
    }
}

/// A RabbitMQ bus on its own vhost.
pub async fn rabbit(max_attempts: u32) -> (RabbitBus, Guard) {
    let vhost = RabbitVhost::create().await;
    let bus = RabbitBus::connect(RabbitConfig {
        url: vhost.url.clone(),
        exchange: "chatsync.events".into(),
        max_attempts,
        prefetch: 32,
        ca_pem: None,
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ is required for this test: {e}"));
    (bus, Box::new(vhost))
}

/// Redis state under its own prefix.
pub fn redis() -> (RedisState, Guard) {
    let p = RedisPrefix::new();
    let r = RedisState::connect(&p.url, &p.prefix).unwrap();
    (r, Box::new(p))
}
