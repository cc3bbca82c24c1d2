//! The embedded SQL store: SQLite, one file under the data directory. Implements the user
//! service's [`UserStore`](chatsync_core::ports::UserStore) and the chat service's
//! [`ChatStore`](chatsync_core::ports::ChatStore); each service has its own tables and its own
//! migration history, so either can move to its own database later.
//!
//! Must not depend on any service crate.
#![warn(missing_docs)]

mod appender;
mod chat;
mod media;
mod users;

use chatsync_core::ports::{HealthCheck, StoreError};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A pool on one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Message appends, on a connection and thread of their own ([`appender`]).
    appender: Arc<appender::Appender>,
    /// Stops the checkpoint task when the last clone goes: the task holds a pool handle and
    /// would otherwise keep the pool, and the file, open for the life of the runtime.
    _checkpoints: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Copies the write-ahead log into the database every second, without blocking writers
/// (`PASSIVE`), until the pool is closed.
async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
            && !pool.is_closed()
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// The user service's tables.
static USER_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/user");
/// The chat service's tables.
static CHAT_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/chat");

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path?mode=rwc`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("bad sqlite url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged message survives power loss, not only a process crash.
            // Group commit keeps the cost of the extra fsync per transaction small.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A batch insert keeps a statement journal (it may abort half-way on a constraint):
            // in memory, not in a temporary file opened and closed for every batch.
            .pragma("temp_store", "memory")
            // Checkpoints run in the background (see `checkpoints`), not inside whichever
            // commit happens to cross the threshold: that commit, and every message waiting
            // behind it, would stall for the checkpoint's writes and fsync.
            .pragma("wal_autocheckpoint", "0")
            // A batch's queries return hundreds of rows; with sqlx's default of 50 the SQLite
            // thread stops and hands over to the runtime several times per query.
            .row_buffer_size(1024)
            .busy_timeout(Duration::from_secs(10));
        let file = opts.get_filename().to_path_buf();
        if file == Path::new(":memory:") || url.contains("mode=memory") {
            // Every connection would open a database of its own.
            return Err(StoreError::Other(
                "an in-memory SQLite database is not supported: give a file (sqlite://path)".into(),
            ));
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            chatsync_core::files::private_dir(dir)
                .map_err(|e| StoreError::Other(format!("creating {}: {e}", dir.display())))?;
        }
        chatsync_core::files::private_file(&file)
            .map_err(|e| StoreError::Other(format!("creating {}: {e}", file.display())))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        let appender = appender::Appender::open(&file)?;
        let checkpoints = tokio::spawn(checkpoints(pool.clone())).abort_handle();
        Ok(Self {
            pool,
            appender: Arc::new(appender),
            _checkpoints: Arc::new(AbortOnDrop(checkpoints)),
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

    /// How the pool's connections are used (the appender's own connection not counted).
    pub fn pool_use(&self) -> chatsync_core::ports::PoolUse {
        chatsync_core::ports::PoolUse {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.appender.close();
        self.pool.close().await;
    }

    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock up front: a deferred
    /// transaction that upgrades later fails with SQLITE_BUSY instead of waiting.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

#[async_trait::async_trait]
impl HealthCheck for SqliteStore {
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

/// Maps driver errors to port errors.
fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("5") => {
            StoreError::Unavailable(format!("database busy: {}", db.message()))
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

/// Reads a TEXT uuid column as a typed id.
fn id<T: From<uuid::Uuid>>(row: &sqlx::sqlite::SqliteRow, col: &str) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let s: &str = row.try_get(col)?;
    uuid::Uuid::parse_str(s)
        .map(T::from)
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: col.to_owned(),
            source: Box::new(e),
        })
}

/// How SQLite spells what SQL has no common type for: ids as TEXT, times as integer
/// milliseconds since the epoch, JSON as TEXT.
pub(crate) struct Sqlite;

impl chatsync_store_sql::rows::Dialect for Sqlite {
    type Row<'r> = sqlx::sqlite::SqliteRow;
    fn uuid(row: &Self::Row<'_>, col: &str) -> Result<uuid::Uuid, sqlx::Error> {
        id(row, col)
    }
    fn uuids(row: &Self::Row<'_>, col: &str) -> Result<Vec<uuid::Uuid>, sqlx::Error> {
        use sqlx::Row;
        let s: &str = row.try_get(col)?;
        serde_json::from_str(s).map_err(|e| sqlx::Error::ColumnDecode {
            index: col.to_owned(),
            source: Box::new(e),
        })
    }
    fn opt_uuid(row: &Self::Row<'_>, col: &str) -> Result<Option<uuid::Uuid>, sqlx::Error> {
        use sqlx::Row;
        let s: Option<&str> = row.try_get(col)?;
        s.map(uuid::Uuid::parse_str)
            .transpose()
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: col.to_owned(),
                source: Box::new(e),
            })
    }
    fn time(row: &Self::Row<'_>, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        use sqlx::Row;
        row.try_get(col).map(from_millis)
    }
    fn opt_time(row: &Self::Row<'_>, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        use sqlx::Row;
        Ok(row.try_get::<Option<i64>, _>(col)?.map(from_millis))
    }
    fn text(row: &Self::Row<'_>, col: &str) -> Result<String, sqlx::Error> {
        use sqlx::Row;
        row.try_get(col)
    }
    fn opt_text(row: &Self::Row<'_>, col: &str) -> Result<Option<String>, sqlx::Error> {
        use sqlx::Row;
        row.try_get(col)
    }
    fn int(row: &Self::Row<'_>, col: &str) -> Result<i64, sqlx::Error> {
        use sqlx::Row;
        row.try_get(col)
    }
    fn opt_u32(row: &Self::Row<'_>, col: &str) -> Result<Option<u32>, sqlx::Error> {
        use sqlx::Row;
        Ok(row
            .try_get::<Option<i64>, _>(col)?
            .and_then(|v| u32::try_from(v).ok()))
    }
    fn flag(row: &Self::Row<'_>, col: &str) -> Result<bool, sqlx::Error> {
        use sqlx::Row;
        row.try_get(col)
    }
    fn preview(
        row: &Self::Row<'_>,
        col: &str,
    ) -> Result<Option<chatsync_core::ports::chat::LinkPreview>, sqlx::Error> {
        use sqlx::Row;
        let json: Option<&str> = row.try_get(col)?;
        json.map(serde_json::from_str)
            .transpose()
            .map_err(|e| sqlx::Error::ColumnDecode {
                index: col.to_owned(),
                source: Box::new(e),
            })
    }
    fn attachments(
        row: &Self::Row<'_>,
        col: &str,
    ) -> Result<Vec<chatsync_core::ports::chat::Attachment>, sqlx::Error> {
        use sqlx::Row;
        let json: &str = row.try_get(col)?;
        Ok(serde_json::from_str(json).unwrap_or_default())
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed store refuses appends with an error a caller can show, instead of leaving
    /// the sender waiting for a thread that has gone.
    #[tokio::test]
    async fn a_closed_store_refuses_appends() {
        use chatsync_core::ids::{ConversationId, UserId};
        use chatsync_core::ports::ChatStore;
        use chatsync_core::ports::chat::NewMessage;
        let dir = std::env::temp_dir().join(format!("chatsync-closed-{}", uuid::Uuid::new_v4()));
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .expect("open");
        store.migrate_chat().await.expect("migrate");
        let msg = NewMessage {
            conversation_id: ConversationId(uuid::Uuid::new_v4()),
            sender_id: UserId(uuid::Uuid::new_v4()),
            client_id: "c1".into(),
            body: "hi".into(),
            attachments: Vec::new(),
            reply_to: None,
            mentions: Vec::new(),
        };
        let open = store
            .append(std::slice::from_ref(&msg))
            .await
            .expect("append");
        assert_eq!(open.outcomes.len(), 1, "a stranger's send has an outcome");
        store.close().await;
        let closed = store.append(&[msg]).await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            matches!(closed, Err(StoreError::Unavailable(_))),
            "{:?}",
            closed.map(|b| b.outcomes.len())
        );
    }

    /// With SQLite's own checkpoints off, only the background task moves the log into the
    /// database file: if it stopped, the file would stay empty and the log would grow forever.
    #[tokio::test]
    async fn the_log_is_checkpointed_in_the_background() {
        let dir = std::env::temp_dir().join(format!("chatsync-wal-{}", uuid::Uuid::new_v4()));
        let path = dir.join("t.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open");
        sqlx::query("CREATE TABLE t (v TEXT)")
            .execute(&store.pool)
            .await
            .expect("create");
        let before = std::fs::metadata(&path).expect("db file").len();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT printf('%.200c', 'x') FROM n",
        )
        .execute(&store.pool)
        .await
        .expect("insert");
        let mut grew = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if std::fs::metadata(&path).expect("db file").len() > before + 200_000 {
                grew = true;
                break;
            }
        }
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(grew, "the database file never received the logged pages");
    }
}
