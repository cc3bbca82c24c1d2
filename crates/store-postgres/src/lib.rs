//! The production SQL store: PostgreSQL. Implements the user service's
//! [`UserStore`](chatsync_core::ports::UserStore) and the chat service's
//! [`ChatStore`](chatsync_core::ports::ChatStore); each service has its own tables and its own
//! migration history, so each can live in its own database (`USER_DATABASE_URL`,
//! `CHAT_DATABASE_URL`).
//!
//! Must not depend on any service crate.
#![warn(missing_docs)]

mod chat;
mod media;
mod members;
mod users;

use chatsync_core::ports::chat::Attachment;
use chatsync_core::ports::{Conflict, HealthCheck, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// A connection pool on one PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The members of the conversations appended to, shared by the store's clones.
    members: std::sync::Arc<std::sync::Mutex<members::Members>>,
}

static USER_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/user");
static CHAT_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/chat");

impl PgStore {
    /// Connects to `url` with at most `max_connections` connections. The pool connects lazily
    /// and reconnects by itself, so a database restart needs no service restart.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::other("bad postgres url", e))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // Check a pooled connection before use: after a server restart every idle
            // connection is dead, and without this each would fail one request.
            .test_before_acquire(true)
            .connect_with(opts)
            .await
            .db()?;
        Ok(Self {
            pool,
            members: Default::default(),
        })
    }

    /// Brings the user service's tables up to date.
    pub async fn migrate_user(&self) -> Result<(), StoreError> {
        chatsync_store_sql::run_migrations(&USER_MIGRATIONS, "_sqlx_migrations_user", &self.pool)
            .await
    }

    /// Brings the chat service's tables up to date.
    pub async fn migrate_chat(&self) -> Result<(), StoreError> {
        chatsync_store_sql::run_migrations(&CHAT_MIGRATIONS, "_sqlx_migrations_chat", &self.pool)
            .await
    }

    /// How the pool's connections are used.
    pub fn pool_use(&self) -> chatsync_core::ports::PoolUse {
        chatsync_core::ports::PoolUse {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait::async_trait]
impl HealthCheck for PgStore {
    fn name(&self) -> &'static str {
        "database"
    }
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// PostgreSQL has the types ids, times and JSON need: `uuid`, `timestamptz`, `jsonb`.
pub(crate) struct Pg;

impl chatsync_store_sql::rows::Dialect for Pg {
    type Row<'r> = sqlx::postgres::PgRow;
    fn uuid(row: &Self::Row<'_>, col: &str) -> Result<uuid::Uuid, sqlx::Error> {
        row.try_get(col)
    }
    fn uuids(row: &Self::Row<'_>, col: &str) -> Result<Vec<uuid::Uuid>, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_uuid(row: &Self::Row<'_>, col: &str) -> Result<Option<uuid::Uuid>, sqlx::Error> {
        row.try_get(col)
    }
    fn time(row: &Self::Row<'_>, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_time(row: &Self::Row<'_>, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        row.try_get(col)
    }
    fn text(row: &Self::Row<'_>, col: &str) -> Result<String, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_text(row: &Self::Row<'_>, col: &str) -> Result<Option<String>, sqlx::Error> {
        row.try_get(col)
    }
    fn int(row: &Self::Row<'_>, col: &str) -> Result<i64, sqlx::Error> {
        row.try_get(col)
    }
    fn opt_u32(row: &Self::Row<'_>, col: &str) -> Result<Option<u32>, sqlx::Error> {
        Ok(row
            .try_get::<Option<i32>, _>(col)?
            .and_then(|v| u32::try_from(v).ok()))
    }
    fn flag(row: &Self::Row<'_>, col: &str) -> Result<bool, sqlx::Error> {
        row.try_get(col)
    }
    fn preview(
        row: &Self::Row<'_>,
        col: &str,
    ) -> Result<Option<chatsync_core::ports::chat::LinkPreview>, sqlx::Error> {
        let json: Option<serde_json::Value> = row.try_get(col)?;
        json.map(serde_json::from_value)
            .transpose()
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: col.to_owned(),
                source: Box::new(e),
            })
    }
    fn attachments(row: &Self::Row<'_>, col: &str) -> Result<Vec<Attachment>, sqlx::Error> {
        let json: serde_json::Value = row.try_get(col)?;
        Ok(serde_json::from_value(json).unwrap_or_default())
    }
}

/// Maps a driver error to the port's. The SQLSTATE and constraint name say which conflict;
/// anything else keeps the driver's error as its source. Public so that the contract suite
/// can hold it to a real database.
pub fn store_error(e: sqlx::Error) -> StoreError {
    let (code, constraint) = match &e {
        sqlx::Error::RowNotFound => return StoreError::NotFound,
        sqlx::Error::Database(db) => (
            db.code().map(|c| c.into_owned()),
            db.constraint().map(str::to_owned),
        ),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => return StoreError::unavailable("no connection", e),
        _ => return StoreError::other("query failed", e),
    };
    match code.as_deref() {
        // unique_violation: the constraint names the rule (default names, from the migrations).
        Some("23505") => StoreError::Conflict(match constraint.as_deref() {
            Some("account_email_key") => Conflict::EmailTaken,
            Some("message_sender_id_client_id_key") => Conflict::DuplicateClientId,
            other => Conflict::Unique(other.unwrap_or("unique").to_owned()),
        }),
        // serialization_failure, deadlock_detected: the transaction lost a race.
        Some("40001" | "40P01") => StoreError::Conflict(Conflict::Serialization),
        // 57P01 admin_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions.
        Some(c) if c.starts_with("08") || c == "57P01" || c == "57P03" => {
            StoreError::unavailable("connection lost", e)
        }
        _ => StoreError::other("query failed", e),
    }
}

/// `.db()?`: a driver result as the port's, through [`store_error`].
pub(crate) trait DbResult<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(store_error)
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE` pattern (PostgreSQL's default escape is `\`).
fn like_prefix(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
