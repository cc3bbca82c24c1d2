//! The embedded SQL store: SQLite, one file under the data directory. Implements the user
//! service's [`UserStore`](chatsync_core::ports::UserStore) and the chat service's
//! [`ChatStore`](chatsync_core::ports::ChatStore); each service has its own tables and its own
//! migration history, so either can move to its own database later.
//!
//! Must not depend on any service crate.
#![warn(missing_docs)]

mod appender;
mod chat;
mod checkpointer;
mod media;
#[cfg(test)]
mod page_cache;
mod users;

use chatsync_core::ports::{Conflict, HealthCheck, StoreError};
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
}

/// The user service's tables.
static USER_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/user");
/// The chat service's tables.
static CHAT_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/chat");

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path?mode=rwc`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, appender::CHECKPOINT_PAGES).await
    }

    /// [`Self::connect`], the appender checkpointing the log at `checkpoint_pages`.
    async fn open(url: &str, checkpoint_pages: i32) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::other("bad sqlite url", e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged message survives power loss, not only a process crash.
            // Group commit keeps the cost of the extra fsync per transaction small.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A batch insert keeps a statement journal (it may abort half-way on a constraint):
            // in memory, not in a temporary file opened and closed for every batch.
            .pragma("temp_store", "memory")
            // Checkpoints run on a thread of their own and, for the last few frames, on the
            // appender's between batches (see `appender` and `checkpointer`), not inside
            // whichever commit happens to cross the threshold: that commit, and every message
            // waiting behind it, would stall for the checkpoint's writes and fsync.
            .pragma("wal_autocheckpoint", "0")
            // A batch's queries return hundreds of rows; with sqlx's default of 50 the SQLite
            // thread stops and hands over to the runtime several times per query.
            .row_buffer_size(1024)
            .busy_timeout(Duration::from_secs(10));
        let file = opts.get_filename().to_path_buf();
        if file == Path::new(":memory:") || url.contains("mode=memory") {
            // Every connection would open a database of its own.
            return Err(StoreError::broken(
                "an in-memory SQLite database is not supported: give a file (sqlite://path)",
            ));
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            chatsync_core::files::private_dir(dir)
                .map_err(|e| StoreError::other(format!("creating {}", dir.display()), e))?;
        }
        chatsync_core::files::private_file(&file)
            .map_err(|e| StoreError::other(format!("creating {}", file.display()), e))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .db()?;
        let appender = appender::Appender::open(&file, checkpoint_pages)?;
        Ok(Self {
            pool,
            appender: Arc::new(appender),
        })
    }

    /// Brings the user service's tables up to date.
    pub async fn migrate_user(&self) -> Result<(), StoreError> {
        self.migrate(&USER_MIGRATIONS, "_sqlx_migrations_user")
            .await
    }

    /// Brings the chat service's tables up to date.
    pub async fn migrate_chat(&self) -> Result<(), StoreError> {
        self.migrate(&CHAT_MIGRATIONS, "_sqlx_migrations_chat")
            .await
    }

    /// Runs `migrations`, again when one failed on a locked database: a migration's
    /// transaction reads before it writes, and a write committed by another connection in
    /// between (another service of the process, or another process, on the same file) fails
    /// it at once, whatever the busy timeout (SQLite's `SQLITE_BUSY_SNAPSHOT`). A failed
    /// migration was rolled back, so running the rest again is safe.
    async fn migrate(
        &self,
        migrations: &sqlx::migrate::Migrator,
        table: &'static str,
    ) -> Result<(), StoreError> {
        let mut tries = 0;
        loop {
            match chatsync_store_sql::run_migrations(migrations, table, &self.pool).await {
                Err(e) if tries < 4 && locked(&e) => {
                    tries += 1;
                    tracing::warn!(
                        table,
                        tries,
                        "database locked while migrating; trying again"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return other,
            }
        }
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
        self.pool.begin_with("BEGIN IMMEDIATE").await.db()
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

/// Maps a driver error to the port's: the extended result code and SQLite's message say
/// which conflict; anything else keeps the driver's error as its source. Public so that the
/// contract suite can hold it to a real database.
pub fn store_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(unique_conflict(db.message()))
        }
        // SQLITE_BUSY: the busy timeout ran out behind another writer.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("5") => {
            StoreError::unavailable("database busy", e)
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::unavailable("no connection", e)
        }
        _ => StoreError::other("query failed", e),
    }
}

/// The conflict a unique or primary-key violation names. SQLite reports no constraint name,
/// only its columns: `UNIQUE constraint failed: message.sender_id, message.client_id`.
fn unique_conflict(message: &str) -> Conflict {
    let columns = message
        .strip_prefix("UNIQUE constraint failed: ")
        .unwrap_or(message);
    match columns {
        "account.email" => Conflict::EmailTaken,
        "message.sender_id, message.client_id" => Conflict::DuplicateClientId,
        other => Conflict::Unique(other.to_owned()),
    }
}

/// `.db()?`: a driver result as the port's, through [`store_error`] (sqlx) or the
/// appender's `store_error` (rusqlite).
pub(crate) trait DbResult<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(store_error)
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

/// A new empty directory under the temporary directory, named after `tag`, for a test's files.
#[cfg(test)]
pub(crate) fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chatsync-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Whether `e` comes of SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED` (any extended code).
fn locked(e: &StoreError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(sqlx::Error::Database(d)) = c.downcast_ref::<sqlx::Error>()
            && let Some(code) = d.code().and_then(|c| c.parse::<i32>().ok())
        {
            return matches!(code & 0xff, 5 | 6);
        }
        cause = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a new file under the temporary directory, with the chat tables; the caller
    /// removes `dir` when done.
    async fn chat_store(tag: &str) -> (SqliteStore, std::path::PathBuf) {
        let dir = crate::scratch_dir(tag);
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .expect("open");
        store.migrate_chat().await.expect("migrate");
        (store, dir)
    }

    /// What the migrations retry on: SQLite's busy error, as sqlx reports it through a
    /// `StoreError`, and nothing else.
    #[tokio::test]
    async fn a_busy_database_reads_as_locked_and_a_broken_statement_does_not() {
        let dir = crate::scratch_dir("locked");
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let opts = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::ZERO);
        let holder = SqlitePool::connect_with(opts.clone()).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&holder)
            .await
            .unwrap();
        let mut tx = holder.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let other = SqlitePool::connect_with(opts).await.unwrap();
        let busy = sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&other)
            .await
            .expect_err("the write lock is held");
        assert!(locked(&StoreError::other("migrating", busy)));
        tx.rollback().await.unwrap();
        let broken = sqlx::query("INSERT INTO nowhere VALUES (1)")
            .execute(&other)
            .await
            .expect_err("no such table");
        assert!(!locked(&StoreError::other("migrating", broken)));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A plain text message: no attachments, reply or mentions.
    fn text(
        conversation_id: chatsync_core::ids::ConversationId,
        sender_id: chatsync_core::ids::UserId,
        client_id: impl Into<String>,
        body: impl Into<String>,
    ) -> chatsync_core::ports::chat::NewMessage {
        chatsync_core::ports::chat::NewMessage {
            conversation_id,
            sender_id,
            client_id: client_id.into(),
            body: body.into(),
            attachments: Vec::new(),
            reply_to: None,
            mentions: Vec::new(),
        }
    }

    /// The bodies of `user`'s search hits for `words`, sorted.
    async fn found(
        store: &SqliteStore,
        user: chatsync_core::ids::UserId,
        words: &str,
    ) -> Vec<String> {
        use chatsync_core::ports::ChatStore;
        use chatsync_core::ports::chat::{SearchQuery, search_terms};
        let q = SearchQuery {
            terms: search_terms(words),
            conversation_id: None,
            before: None,
            limit: 20,
        };
        let mut bodies: Vec<String> = store
            .search(user, &q)
            .await
            .expect("search")
            .into_iter()
            .map(|h| h.message.body)
            .collect();
        bodies.sort();
        bodies
    }

    /// The count `sql` selects.
    async fn count(store: &SqliteStore, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&store.pool)
            .await
            .expect(sql)
    }

    /// FTS5's own check that the search index agrees with the messages.
    async fn integrity(store: &SqliteStore) {
        sqlx::query("INSERT INTO message_fts (message_fts, rank) VALUES ('integrity-check', 1)")
            .execute(&store.pool)
            .await
            .expect("the index agrees with the messages");
    }

    /// A closed store refuses appends with an error a caller can show, instead of leaving
    /// the sender waiting for a thread that has gone.
    #[tokio::test]
    async fn a_closed_store_refuses_appends() {
        use chatsync_core::ids::{ConversationId, UserId};
        use chatsync_core::ports::ChatStore;
        let (store, dir) = chat_store("closed").await;
        let msg = text(
            ConversationId(uuid::Uuid::new_v4()),
            UserId(uuid::Uuid::new_v4()),
            "c1",
            "hi",
        );
        let open = store
            .append(std::slice::from_ref(&msg))
            .await
            .expect("append");
        assert_eq!(open.outcomes.len(), 1, "a stranger's send has an outcome");
        store.close().await;
        let closed = store.append(&[msg]).await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            matches!(closed, Err(StoreError::Unavailable { .. })),
            "{:?}",
            closed.map(|b| b.outcomes.len())
        );
    }

    /// Every message of a 45-message batch over two conversations is stored, with its own
    /// fields and seqs numbered without gaps per conversation.
    #[tokio::test]
    async fn a_large_batch_is_stored_whole_in_chunks() {
        use chatsync_core::ids::UserId;
        use chatsync_core::ports::ChatStore;
        use chatsync_core::ports::chat::{Appended, NewMessage, Page};
        let (store, dir) = chat_store("batch").await;
        let (ann, bob) = (UserId::new(), UserId::new());
        let one = store.create_group(ann, "one", &[bob]).await.expect("group");
        let two = store.create_group(bob, "two", &[]).await.expect("group");
        let batch: Vec<NewMessage> = (0..45)
            .map(|i| NewMessage {
                mentions: if i % 3 == 1 { vec![bob] } else { Vec::new() },
                ..text(
                    if i % 3 == 0 { two.id } else { one.id },
                    if i % 3 == 0 || i % 2 == 0 { bob } else { ann },
                    format!("c{i}"),
                    format!("message {i}"),
                )
            })
            .collect();
        let done = store.append(&batch).await.expect("append");
        let stored: Vec<_> = done
            .outcomes
            .iter()
            .map(|o| match o {
                Appended::New(m) => m.clone(),
                other => panic!("not new: {other:?}"),
            })
            .collect();
        let page = Page {
            before_seq: None,
            after_seq: Some(0),
            limit: 100,
        };
        let mut read = store.messages(one.id, ann, page).await.expect("one");
        read.extend(store.messages(two.id, bob, page).await.expect("two"));
        assert_eq!(read.len(), 45, "every message was stored");
        for m in &stored {
            let r = read
                .iter()
                .find(|r| r.id == m.id)
                .expect("stored message read back");
            assert_eq!(
                (&r.body, &r.client_id, r.sender_id, r.seq, &r.mentions),
                (&m.body, &m.client_id, m.sender_id, m.seq, &m.mentions)
            );
        }
        let seqs = |c| {
            let mut s: Vec<i64> = read
                .iter()
                .filter(|m| m.conversation_id == c)
                .map(|m| m.seq)
                .collect();
            s.sort_unstable();
            s
        };
        assert_eq!(seqs(one.id), (1..=30).collect::<Vec<_>>());
        assert_eq!(seqs(two.id), (1..=15).collect::<Vec<_>>());
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The appender remembers each conversation's `last_seq` between batches; where the row
    /// moved some other way since (here another connection's update), the next message still
    /// gets the seq after the row's, not after the remembered one.
    #[tokio::test]
    async fn a_seq_moved_elsewhere_is_read_again_rather_than_reused() {
        use chatsync_core::ids::UserId;
        use chatsync_core::ports::ChatStore;
        use chatsync_core::ports::chat::Appended;
        let (store, dir) = chat_store("seqs").await;
        let ann = UserId::new();
        let chat = store.create_group(ann, "team", &[]).await.expect("group");
        let seq_of = |batch: chatsync_core::ports::chat::AppendBatch| match &batch.outcomes[..] {
            [Appended::New(m)] => m.seq,
            other => panic!("not one new message: {other:?}"),
        };
        let first = store.append(&[text(chat.id, ann, "c1", "one")]).await;
        assert_eq!(seq_of(first.expect("append")), 1);
        sqlx::query("UPDATE conversation SET last_seq = last_seq + 4 WHERE conversation_id = ?1")
            .bind(chat.id.0.to_string())
            .execute(&store.pool)
            .await
            .expect("moved by another connection");
        let second = store.append(&[text(chat.id, ann, "c2", "two")]).await;
        assert_eq!(seq_of(second.expect("append")), 6);
        let third = store.append(&[text(chat.id, ann, "c3", "three")]).await;
        assert_eq!(seq_of(third.expect("append")), 7, "remembered again");
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The appender remembers the members of the conversations it appended to; whoever joins
    /// or leaves (on another connection) is seen by the very next append: a member who left
    /// is refused, one who joined is let in, and their fan-out lists follow.
    #[tokio::test]
    async fn joins_and_leaves_reach_the_next_append_although_members_are_remembered() {
        use chatsync_core::ids::UserId;
        use chatsync_core::ports::ChatStore;
        use chatsync_core::ports::chat::Appended;
        let (store, dir) = chat_store("members").await;
        let (ann, bob, cid) = (UserId::new(), UserId::new(), UserId::new());
        let chat = store
            .create_group(ann, "team", &[bob])
            .await
            .expect("group");
        let sent = async |from: UserId, client_id: &str| {
            let batch = store
                .append(&[text(chat.id, from, client_id, "hi")])
                .await
                .expect("append");
            let new = matches!(&batch.outcomes[..], [Appended::New(_)]);
            let mut members = batch
                .members
                .into_iter()
                .flat_map(|(_, m)| m)
                .collect::<Vec<_>>();
            members.sort();
            (new, members)
        };
        let sorted = |mut v: Vec<UserId>| {
            v.sort();
            v
        };
        assert_eq!(sent(bob, "b1").await, (true, sorted(vec![ann, bob])));
        store.remove_member(chat.id, bob).await.expect("bob leaves");
        assert_eq!(sent(bob, "b2").await, (false, vec![]), "bob left");
        assert_eq!(sent(ann, "a1").await, (true, vec![ann]));
        store.add_members(chat.id, &[cid]).await.expect("cid joins");
        assert_eq!(sent(cid, "c1").await, (true, sorted(vec![ann, cid])));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Messages reach the search index in batches (issue 10), yet a search finds every
    /// committed message, as its body is now: edits and deletes of a message not indexed yet
    /// leave the index consistent, edits of an indexed one update it, and an idle appender
    /// indexes the queue by itself.
    #[tokio::test]
    #[allow(clippy::too_many_lines)]
    async fn messages_are_indexed_in_batches_and_searches_see_every_committed_one() {
        use chatsync_core::ids::UserId;
        use chatsync_core::ports::ChatStore;
        use chatsync_core::ports::chat::Appended;
        let (store, dir) = chat_store("fts").await;
        let ann = UserId::new();
        let chat = store.create_group(ann, "team", &[]).await.expect("group");
        let send = async |client_id: &str, body: &str| {
            let batch = store
                .append(&[text(chat.id, ann, client_id, body)])
                .await
                .expect("append");
            match batch.outcomes.into_iter().next() {
                Some(Appended::New(m)) => m,
                other => panic!("not stored: {other:?}"),
            }
        };
        let found = async |words: &str| found(&store, ann, words).await;
        let count = async |sql: &str| count(&store, sql).await;
        let queued = "SELECT count(*) FROM message_fts_queue";
        let integrity = async || integrity(&store).await;

        let first = send("1", "alpha one").await;
        send("2", "bravo two").await;
        assert_eq!(count(queued).await, 2, "an append queues its messages");
        assert_eq!(
            count("SELECT count(*) FROM message_fts WHERE message_fts MATCH 'alpha'").await,
            0,
            "and does not index them itself"
        );
        // Edited while queued: the index gets the body as it is when indexed.
        store
            .edit_message(first.id, ann, "delta one", false)
            .await
            .expect("edit");
        assert_eq!(found("delta").await, ["delta one"]);
        assert!(found("alpha").await.is_empty());
        assert_eq!(found("two").await, ["bravo two"]);
        assert_eq!(count(queued).await, 0, "the search indexed the queue");
        // Edited once indexed: the triggers keep the index in step.
        store
            .edit_message(first.id, ann, "echo one", false)
            .await
            .expect("edit");
        assert_eq!(found("echo").await, ["echo one"]);
        assert!(found("delta").await.is_empty());
        // Deleted while queued, and deleted for good while queued: nothing is left behind.
        let gone = send("3", "foxtrot three").await;
        store.delete_message(gone.id, ann).await.expect("delete");
        let purged = send("4", "golf four").await;
        sqlx::query("DELETE FROM message WHERE message_id = ?1")
            .bind(purged.id.to_string())
            .execute(&store.pool)
            .await
            .expect("purge");
        assert_eq!(count(queued).await, 1, "the purged message left the queue");
        assert!(found("foxtrot").await.is_empty());
        assert!(found("golf").await.is_empty());
        integrity().await;
        // Nobody searches: an idle appender indexes what is queued on its own.
        send("5", "hotel five").await;
        let mut waited = 0;
        while count(queued).await > 0 {
            assert!(waited < 100, "the queue was never indexed");
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert_eq!(
            count("SELECT count(*) FROM message_fts WHERE message_fts MATCH 'hotel'").await,
            1
        );
        integrity().await;
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The upgrade to an index without token counts (`columnsize=0`) indexes every message
    /// once: those indexed before it and those still queued, whose queue it empties.
    #[tokio::test]
    async fn the_index_made_again_without_counts_holds_every_message_once() {
        use chatsync_core::ids::UserId;
        use chatsync_core::ports::ChatStore;
        const WITHOUT_COUNTS: i64 = 20_261_207_000_001;
        let dir = crate::scratch_dir("fts-upgrade");
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .expect("open");
        let before = sqlx::migrate::Migrator {
            migrations: CHAT_MIGRATIONS
                .iter()
                .filter(|m| m.version < WITHOUT_COUNTS)
                .cloned()
                .collect(),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        chatsync_store_sql::run_migrations(&before, "_sqlx_migrations_chat", &store.pool)
            .await
            .expect("the migrations before");
        let count = async |sql: &str| count(&store, sql).await;
        let ann = UserId::new();
        let found = async |words: &str| found(&store, ann, words).await;
        let chat = store.create_group(ann, "team", &[]).await.expect("group");
        store
            .append(&[text(chat.id, ann, "1", "alpha one")])
            .await
            .expect("append");
        assert_eq!(
            found("alpha").await,
            ["alpha one"],
            "indexed before the upgrade"
        );
        // Queued, not indexed, when the upgrade comes: a row and its queue entry, as an append
        // leaves them, written by hand so that the idle appender cannot index it first.
        let id = chatsync_core::ids::MessageId::new().to_string();
        sqlx::query(
            "INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id, body,
                                  created_at)
             VALUES (?1, ?2, 2, ?3, '2', 'bravo two', 0)",
        )
        .bind(&id)
        .bind(chat.id.to_string())
        .bind(ann.to_string())
        .execute(&store.pool)
        .await
        .expect("a message");
        sqlx::query(
            "INSERT INTO message_fts_queue (message_rowid)
             SELECT rowid FROM message WHERE message_id = ?1",
        )
        .bind(&id)
        .execute(&store.pool)
        .await
        .expect("queued");
        let docsize = "SELECT count(*) FROM sqlite_master WHERE name = 'message_fts_docsize'";
        assert_eq!(count(docsize).await, 1, "the index before kept counts");

        store.migrate_chat().await.expect("the upgrade");
        assert_eq!(count(docsize).await, 0, "the index keeps no counts");
        assert_eq!(
            count("SELECT count(*) FROM message_fts_queue").await,
            0,
            "the rebuild indexed the queue"
        );
        integrity(&store).await;
        assert_eq!(found("alpha").await, ["alpha one"]);
        assert_eq!(found("bravo").await, ["bravo two"]);
        assert_eq!(
            count("SELECT count(*) FROM message_fts WHERE message_fts MATCH 'one OR two'").await,
            2,
            "each message once"
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// With SQLite's own checkpoints off, the checkpointer's pass every second moves what the
    /// pool writes into the database file: without it, the file would stay empty and the log
    /// would grow forever.
    #[tokio::test]
    async fn the_log_is_checkpointed_in_the_background() {
        let dir = crate::scratch_dir("wal");
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

    /// Under steady appends the appender keeps the write-ahead log short (issue 10): a
    /// checkpoint beside a busy writer never lets the log start over, so without the
    /// appender's part the log would hold every batch ever written (about 180 MB by the end).
    /// And the checkpointer, not the appender, copies most of it. At a quarter of the
    /// production threshold, so the log starts over several times within those 180 MB.
    #[tokio::test]
    async fn the_appender_keeps_the_log_short_under_steady_appends() {
        use chatsync_core::ids::UserId;
        use chatsync_core::ports::ChatStore;
        use chatsync_core::ports::chat::NewMessage;
        use std::sync::atomic::Ordering::Relaxed;
        let pages = appender::CHECKPOINT_PAGES / 4;
        let dir = crate::scratch_dir("log");
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = SqliteStore::open(&url, pages).await.expect("open");
        store.migrate_chat().await.expect("migrate");
        let (ann, bob) = (UserId::new(), UserId::new());
        let group = store.create_group(ann, "g", &[bob]).await.expect("group");
        let body = "x".repeat(3000);
        let batches = 240;
        for b in 0..batches {
            let batch: Vec<NewMessage> = (0..200)
                .map(|i| {
                    text(
                        group.id,
                        if i % 2 == 0 { ann } else { bob },
                        format!("c{b}-{i}"),
                        body.as_str(),
                    )
                })
                .collect();
            store.append(&batch).await.expect("append");
        }
        let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
        let (log, db) = (size("t.db-wal"), size("t.db"));
        let copies = &store.appender.copies;
        let (checkpointer, appender) = (
            copies.by_checkpointer.load(Relaxed),
            copies.by_appender.load(Relaxed),
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        // Each 3,000-byte message takes a page of its own; those of the last checkpoint's
        // round may still be only in the log (up to the bound below).
        let written = batches * 200 * 3000;
        assert!(
            db > written / 2,
            "the messages reached the database file: {db} bytes of {written} written"
        );
        // A frame is a page and its 24-byte header; a batch is some 200 pages. The log grows
        // past the threshold by what is committed while the checkpointer copies it: on a disk
        // where its passes are no faster than the appends, up to a threshold's worth in each
        // of its three passes.
        let most = (4 * u64::try_from(pages).expect("pages") + 400) * (4096 + 24);
        assert!(
            log <= most,
            "the log grew to {log} bytes (at most {most} expected)"
        );
        eprintln!("frames copied by the checkpointer {checkpointer}, by the appender {appender}");
        assert!(
            checkpointer > 2 * appender,
            "the checkpointer copied {checkpointer} frames, the appender {appender}"
        );
    }

    /// A unique violation from the real schema comes back as the conflict it is, through the
    /// pool (sqlx) and through the appender's connection (rusqlite) alike, and any other
    /// error keeps the driver's as its source.
    #[tokio::test]
    async fn errors_name_the_broken_rule_and_keep_their_cause() {
        let dir = crate::scratch_dir("errors");
        let path = dir.join("t.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open");
        store.migrate_user().await.expect("migrate user");
        store.migrate_chat().await.expect("migrate chat");

        let account = "INSERT INTO account (account_id, email, password_hash, display_name,
                                            search_name, created_at, updated_at)
                       VALUES (?1, 'ann@example.com', '', '', '', 0, 0)";
        sqlx::query(account)
            .bind(uuid::Uuid::new_v4().to_string())
            .execute(&store.pool)
            .await
            .expect("first account");
        let taken = sqlx::query(account)
            .bind(uuid::Uuid::new_v4().to_string())
            .execute(&store.pool)
            .await
            .expect_err("a second account on the address");
        let taken = store_error(taken);
        assert!(
            matches!(taken, StoreError::Conflict(Conflict::EmailTaken)),
            "{taken:?}"
        );

        let cid = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO conversation (conversation_id, kind, created_by, created_at,
                                       last_activity_at)
             VALUES (?1, 'group', ?1, 0, 0)",
        )
        .bind(&cid)
        .execute(&store.pool)
        .await
        .expect("conversation");
        let message = "INSERT INTO message (message_id, conversation_id, seq, sender_id,
                                            client_id, body, created_at)
                       VALUES (?1, ?2, ?3, ?2, 'c1', 'hi', 0)";
        sqlx::query(message)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&cid)
            .bind(1_i64)
            .execute(&store.pool)
            .await
            .expect("first message");
        let repeat = sqlx::query(message)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&cid)
            .bind(2_i64)
            .execute(&store.pool)
            .await
            .expect_err("the same client_id again");
        let repeat = store_error(repeat);
        assert!(
            matches!(repeat, StoreError::Conflict(Conflict::DuplicateClientId)),
            "{repeat:?}"
        );

        // The appender's own connection, through rusqlite.
        let conn = rusqlite::Connection::open(&path).expect("rusqlite");
        let repeat = conn
            .execute(
                message,
                rusqlite::params![uuid::Uuid::new_v4().to_string(), cid, 3_i64],
            )
            .db()
            .expect_err("the same client_id through rusqlite");
        assert!(
            matches!(repeat, StoreError::Conflict(Conflict::DuplicateClientId)),
            "{repeat:?}"
        );
        let seq = conn
            .execute(
                &message.replace("'c1'", "'c2'"),
                rusqlite::params![uuid::Uuid::new_v4().to_string(), cid, 1_i64],
            )
            .db()
            .expect_err("the same seq through rusqlite");
        assert!(
            matches!(&seq, StoreError::Conflict(Conflict::Unique(c))
                if c == "message.conversation_id, message.seq"),
            "{seq:?}"
        );
        let broken = conn
            .execute("DELETE FROM no_such_table", [])
            .db()
            .expect_err("a missing table through rusqlite");
        let cause = std::error::Error::source(&broken).expect("a source");
        assert!(
            cause.downcast_ref::<rusqlite::Error>().is_some(),
            "{cause:?}"
        );
        drop(conn);

        let broken = sqlx::query("DELETE FROM no_such_table")
            .execute(&store.pool)
            .await
            .expect_err("a missing table");
        let broken = store_error(broken);
        assert!(matches!(broken, StoreError::Other { .. }), "{broken:?}");
        let cause = std::error::Error::source(&broken).expect("a source");
        assert!(cause.downcast_ref::<sqlx::Error>().is_some(), "{cause:?}");
        assert!(
            chatsync_core::error_chain(&broken)
                .to_string()
                .contains("no such table"),
            "the chain reaches the driver's message"
        );
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
