//! The message append path on a connection of its own, on a thread of its own (issue 10).
//!
//! Through sqlx every statement is a round trip: the driver runs it on the connection's worker
//! thread and wakes the runtime for the answer, so a one-message batch (begin, earlier sends,
//! members, seq reservation, insert, commit) cost about ten thread hand-offs and their futex
//! calls, more CPU than the SQL itself. Here a whole batch is one blocking call: the chat
//! service's group-commit task hands the batch over, this thread runs every statement
//! (prepared once, cached) and the commit, and wakes the task once with the answer.
//!
//! SQLite has one writer at a time; the other writes (edits, receipts, sign-ups) still go
//! through the sqlx pool and wait for this connection's transaction like any other, with the
//! same busy timeout.
//!
//! This thread also keeps the search index: an append only queues its messages for
//! `message_fts` (see the `search_queue` and `queue_in_the_append` migrations), and
//! [`index_queued`] moves the queue into the index in one transaction once [`INDEX_AFTER`]
//! messages are queued, when no batch came for [`INDEX_WHEN_IDLE`], or when a search asks for
//! it ([`Appender::index`]). FTS5 written one small transaction at a time doubled the cost of
//! an append (a segment per commit, merged again and again); in batches of hundreds it costs
//! a few per cent.
//!
//! And this thread sees that the write-ahead log it writes starts over, once it holds
//! [`CHECKPOINT_PAGES`] pages. A checkpoint that runs beside the writer cannot do that by
//! itself: it copies the frames that were there when it started, the appender commits more
//! meanwhile, and SQLite only starts the log over when a writer finds every frame copied. At
//! 2,000 msgs/s the log grew by 20 MB a second, without end (issue 10). So the checkpoint comes
//! in two parts: the [`Checkpointer`] copies the log on its own thread, beside the appends (the
//! bulk of the writes and the database file's sync, which held up every message behind it
//! when this thread did all of it); then this thread, between two batches, copies the few
//! frames committed meanwhile, and its next batch starts the log from the top. The log's file
//! stays the same size: commits overwrite pages the kernel already has instead of allocating
//! new ones, and `fdatasync` has no new file size to write.

use crate::checkpointer::{self, Checkpointer, Copied};
use crate::{DbResult, from_millis, millis};
use chatsync_core::ids::{ConversationId, MessageId, UserId};
use chatsync_core::ports::chat::{
    AppendBatch, Appended, Attachment, LinkPreview, Message, NewMessage, now_millis,
};
use chatsync_core::ports::{Conflict, StoreError};
use chatsync_store_sql::append::{self, Look, Map};
use chatsync_store_sql::message_columns;
use chatsync_store_sql::rows::{self as read, Dialect};
use chrono::{DateTime, Utc};
use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Hands batches to the appending thread. The thread ends when this is closed or dropped.
pub(crate) struct Appender {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    /// Frames copied by each part of the checkpoints, for the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) copies: Arc<Copies>,
}

/// Frames of the log copied into the database file by the appender's checkpoints: by the
/// checkpointer when asked, and by the appender itself after it.
#[derive(Default)]
pub(crate) struct Copies {
    pub(crate) by_checkpointer: AtomicU64,
    pub(crate) by_appender: AtomicU64,
}

enum Job {
    Append {
        batch: Vec<NewMessage>,
        reply: oneshot::Sender<Result<AppendBatch, StoreError>>,
    },
    /// Index every queued message now.
    Index {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// Queued messages that make the appender index them after its batch.
const INDEX_AFTER: usize = 1024;
/// How long without batches after which the appender indexes what is queued.
const INDEX_WHEN_IDLE: Duration = Duration::from_millis(200);

/// A job that holds this thread up longer than this, with the checkpoint step after it, is
/// logged at debug level with what it did (every message behind it waited as long). The
/// stalls at the top of issue 10's SQLite sweep were looked for this way; in the benchmark,
/// `--server-log chatsync_store_sqlite=debug` shows them.
const SLOW_JOB: Duration = Duration::from_millis(15);

/// The appender's page cache, in KiB (SQLite's default is 2,000 KiB, about 500 pages).
///
/// Every append walks from the root to a leaf of each of the message table's b-trees: the
/// table's and the id index's last leaf, the leaf of the message's conversation in
/// `(conversation_id, seq)` and the one of its sender in `(sender_id, client_id)`, and the
/// pages in between. Once the table holds a few hundred thousand rows, the pages a hundred
/// busy conversations keep coming back to outgrow the default cache, and each append read
/// about four of them back from the operating system (issue 10, sixteenth pass). Not larger:
/// while the database is under 1 GiB, nearly every commit makes SQLite scan the whole of the
/// cache's hash table (a page split parks a page at the lock-byte page's number, and the
/// commit then truncates the cache above the database's size), which at 32 MiB took a twelfth
/// of the appender's time. The cache fills only as pages are read.
const CACHE_KIB: i64 = 8 * 1024;

/// The write-ahead log's length, in pages, at which the appender checkpoints it (64 MiB with
/// 4 KiB pages; SQLite's own automatic checkpoint uses 1,000). A checkpoint copies each page
/// the log holds once, however many commits rewrote it, and the busy index leaves are
/// rewritten by nearly every commit: at 20,000 msgs/s the log grows by 2.4 pages per message,
/// and the checkpointer wrote 0.65 pages per message with 16 MiB, 0.31 with 64 MiB (its CPU
/// 3.2–3.6 → 1.8 µs per message; issue 10, twenty-third pass). The file stays this size once
/// it has grown to it.
pub(crate) const CHECKPOINT_PAGES: i32 = 16384;

/// Frames left after the checkpointer's pass above which the appender asks for another pass
/// rather than copy them itself (1 MiB), at most [`PASSES`] in all.
const LEFT_FOR_THE_APPENDER: i32 = 256;
/// The checkpointer's passes per checkpoint, at most: where the appends outrun it (a disk
/// slower for its writes than for the log's), the appender then copies the rest itself rather
/// than let the log grow on.
const PASSES: u32 = 3;

thread_local! {
    /// The pages in the write-ahead log after this thread's last commit (SQLite's WAL hook).
    static LOG_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn note_log_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(pages);
    Ok(())
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        context: "the SQLite appender has stopped".into(),
        source: None,
    }
}

impl Appender {
    /// Opens a connection to the database file at `path` (already created and migrated by the
    /// pool) with the pool's durability settings, and starts the thread that owns it, which
    /// checkpoints the log once it holds `checkpoint_pages` pages ([`CHECKPOINT_PAGES`] but in
    /// tests, which cannot write gigabytes).
    pub(crate) fn open(path: &Path, checkpoint_pages: i32) -> Result<Self, StoreError> {
        let conn = connect(path).db()?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB).db()?;
        let checkpointer = Checkpointer::open(path)?;
        let copies = Arc::new(Copies::default());
        let (tx, rx) = mpsc::channel::<Job>();
        let counts = Arc::clone(&copies);
        std::thread::Builder::new()
            .name("sqlite-appender".into())
            .spawn(move || run(conn, &rx, &checkpointer, &counts, checkpoint_pages))
            .map_err(|e| StoreError::other("starting the SQLite appender", e))?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            copies,
        })
    }

    /// Appends `batch` in one transaction on the appending thread.
    pub(crate) async fn append(&self, batch: &[NewMessage]) -> Result<AppendBatch, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Append {
            batch: batch.to_vec(),
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Brings the search index up to date with every message committed so far.
    pub(crate) async fn index(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Index { reply })?;
        answer.await.map_err(|_| stopped())?
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }

    /// Stops taking batches; the thread finishes the one in hand and closes its connection.
    pub(crate) fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The VFS the appender opens its database with (`c/gather_vfs.c`): the unix VFS, except that
/// each commit's log frames reach the file in one `pwrite` instead of two per page.
pub(crate) const GATHER_VFS: &str = "chatsync-gather";

pub(crate) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), GATHER_VFS)?;
    // The same settings as the pool's connections (see `SqliteStore::connect` for why):
    // FULL, so an acknowledged message survives power loss (and a checkpoint syncs the
    // database file before the log starts over); checkpoints only by the appender and the
    // checkpointer; statement journals in memory. Except foreign keys, which the append proves
    // itself in the same transaction instead: it moves the conversation's `last_seq` before it
    // inserts messages, mentions or attachments naming that conversation, and it checks that
    // an attached file's row is still there (`insert`). SQLite checking them again cost each
    // message a search of the conversation ids' index (3 % of the appender's instructions,
    // issue 10).
    conn.busy_timeout(Duration::from_secs(10))?;
    // Room for every statement the appender prepares (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(32);
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // After the pragma, which clears any hook: SQLite's own checkpoint is the same hook.
    conn.wal_hook(Some(note_log_pages));
    Ok(conn)
}

/// Where the appender's checkpoint stands.
enum Checkpoint {
    /// Waiting for the log to reach `at` pages.
    Waiting { at: i32 },
    /// The checkpointer is on its `pass`-th pass over the log.
    Copying { pass: u32 },
}

fn run(
    mut conn: Connection,
    jobs: &mpsc::Receiver<Job>,
    checkpointer: &Checkpointer,
    copies: &Copies,
    checkpoint_pages: i32,
) {
    // Messages this thread queued for the index since it last indexed.
    let mut queued = 0;
    let mut known = Known::default();
    let mut checkpoint = Checkpoint::Waiting {
        at: checkpoint_pages,
    };
    loop {
        let job = if queued == 0 {
            jobs.recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            jobs.recv_timeout(INDEX_WHEN_IDLE)
        };
        let started = Instant::now();
        let log_before = LOG_PAGES.get();
        // For the log: what the job was, and how many messages it appended.
        let (mut kind, mut messages) = ("indexing", 0);
        match job {
            Ok(Job::Append { batch, reply }) => {
                (kind, messages) = ("append", batch.len());
                let result = guarded("the append", || append_batch(&mut conn, &mut known, &batch));
                if let Ok(done) = &result {
                    queued += done
                        .outcomes
                        .iter()
                        .filter(|o| matches!(o, Appended::New(_)))
                        .count();
                }
                // The sender may have gone; what was committed stays committed.
                let _ = reply.send(result);
                if queued >= INDEX_AFTER {
                    kind = "append, then indexing";
                    queued = index_in_background(&mut conn);
                }
            }
            Ok(Job::Index { reply }) => {
                let result = guarded("indexing", || index_queued(&mut conn));
                if result.is_ok() {
                    queued = 0;
                }
                let _ = reply.send(result);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => queued = index_in_background(&mut conn),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let job_took = started.elapsed();
        checkpoint = next(checkpoint, &conn, checkpointer, copies, checkpoint_pages);
        let took = started.elapsed();
        if took >= SLOW_JOB {
            tracing::debug!(
                job = kind,
                messages,
                job_ms = millis_f64(job_took),
                checkpoint_ms = millis_f64(took - job_took),
                log_pages_before = log_before,
                log_pages = LOG_PAGES.get(),
                "slow appender job"
            );
        }
    }
    // What is still queued is indexed by the next search, here or after a restart.
}

/// Moves the checkpoint on after a job: asks the checkpointer for a pass once the log is long
/// enough, and when the pass is done, either asks for another (too much was committed
/// meanwhile) or copies the rest on this connection.
fn next(
    state: Checkpoint,
    conn: &Connection,
    checkpointer: &Checkpointer,
    copies: &Copies,
    checkpoint_pages: i32,
) -> Checkpoint {
    let pages = LOG_PAGES.get();
    match state {
        Checkpoint::Waiting { at } if pages < at - checkpoint_pages => {
            // Started over since a checkpoint left frames behind (another one finished it).
            Checkpoint::Waiting {
                at: checkpoint_pages,
            }
        }
        Checkpoint::Waiting { at } if pages >= at => {
            if checkpointer.request() {
                Checkpoint::Copying { pass: 1 }
            } else {
                Checkpoint::Waiting {
                    at: copy_the_rest(conn, None, copies, checkpoint_pages),
                }
            }
        }
        waiting @ Checkpoint::Waiting { .. } => waiting,
        Checkpoint::Copying { pass } => match checkpointer.finished() {
            None => Checkpoint::Copying { pass },
            Some(Ok(done)) if !done.busy && done.copied < done.log => {
                // A reader's snapshot holds frames back: this thread could not copy them
                // either. Try again once the log is longer.
                copies
                    .by_checkpointer
                    .fetch_add(count(done.copied), Relaxed);
                Checkpoint::Waiting {
                    at: done.log.saturating_add(checkpoint_pages),
                }
            }
            Some(Ok(done)) => {
                // Another checkpoint was running, or much was committed during this one.
                let again = done.busy || pages - done.copied > LEFT_FOR_THE_APPENDER;
                if again && pass < PASSES && checkpointer.request() {
                    return Checkpoint::Copying { pass: pass + 1 };
                }
                if !done.busy {
                    // `copied` counts from the top of the log, so the last pass has them all.
                    copies
                        .by_checkpointer
                        .fetch_add(count(done.copied), Relaxed);
                }
                Checkpoint::Waiting {
                    at: copy_the_rest(conn, (!done.busy).then_some(done), copies, checkpoint_pages),
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %chatsync_core::error_chain(&e), "WAL checkpoint failed");
                Checkpoint::Waiting {
                    at: copy_the_rest(conn, None, copies, checkpoint_pages),
                }
            }
        },
    }
}

/// `d` in milliseconds to a tenth, for the log.
pub(crate) fn millis_f64(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn count(frames: i32) -> u64 {
    u64::try_from(frames).unwrap_or(0)
}

/// Copies what is left of the log into the database without waiting for anyone (`PASSIVE`),
/// on this, the writer's, connection between two batches, so the next commit starts the log
/// over; `before` is the checkpointer's pass, if any, that copied the rest. Returns the log
/// length for the next checkpoint: when a reader's snapshot kept some frames in the log, the
/// log cannot start over and goes on growing, so the next try comes `checkpoint_pages` pages later, not
/// after every batch. A failure is logged; the checkpointer's pass every second
/// goes on as well.
fn copy_the_rest(
    conn: &Connection,
    before: Option<Copied>,
    copies: &Copies,
    checkpoint_pages: i32,
) -> i32 {
    match checkpointer::passive(conn) {
        Ok(done) => {
            let from = before.map_or(0, |b| b.copied);
            copies
                .by_appender
                .fetch_add(count(done.copied - from), Relaxed);
            if done.copied < done.log {
                done.log.saturating_add(checkpoint_pages)
            } else {
                checkpoint_pages
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
            LOG_PAGES.get().saturating_add(checkpoint_pages)
        }
    }
}

/// Runs `f`, turning a panic into an error for its caller.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(StoreError::broken(format!("{what} panicked"))))
}

/// Indexes the queue when no one is waiting for it; a failure is logged and the queue kept
/// (the next attempt or search retries). Returns the count of queued messages to go on with:
/// 0 once indexed; after a failure, half the threshold, so the next try comes after half as
/// many appends again or the next idle spell, not after every batch.
fn index_in_background(conn: &mut Connection) -> usize {
    match guarded("indexing", || index_queued(conn)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::warn!(error = %chatsync_core::error_chain(&e), "search indexing failed; will retry");
            INDEX_AFTER / 2
        }
    }
}

/// Moves every queued message into the search index, in one transaction.
fn index_queued(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = WriteTx::begin(conn).db()?;
    tx.prepare_cached(
        "INSERT INTO message_fts (rowid, body)
         SELECT msg.rowid, msg.body FROM message_fts_queue q
         JOIN message msg ON msg.rowid = q.message_rowid
         ORDER BY q.message_rowid",
    )
    .db()?
    .execute([])
    .db()?;
    tx.prepare_cached("DELETE FROM message_fts_queue")
        .db()?
        .execute([])
        .db()?;
    tx.commit().db()?;
    Ok(())
}

/// A write transaction (`BEGIN IMMEDIATE`) on the appender's connection, rolled back if dropped
/// uncommitted (a failed commit included), as rusqlite's `Transaction` is; but its three
/// statements are prepared once and cached, where `Transaction` parses them again for each
/// batch (about 1.5 % of an append's instructions, issue 10).
struct WriteTx<'c> {
    conn: &'c Connection,
}

impl<'c> WriteTx<'c> {
    /// Takes `&mut` so that, as with `Transaction`, no two are open on one connection.
    fn begin(conn: &'c mut Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Self { conn })
    }

    fn commit(self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self
                .conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut rollback| rollback.execute([]))
        {
            tracing::warn!(error = %e, "rolling back an append failed");
        }
    }
}

/// One batch, one transaction: the decisions are [`append::plan`]'s, the SQL is SQLite's.
/// The first try does not look for earlier sends unless it must ([`Look`]); a repeat fails
/// its insert on the keys' unique index, and the batch starts over in a new transaction,
/// looking first.
///
/// Not inlined, so that callgrind can count this function alone (`examples/append_cost.rs`).
#[inline(never)]
fn append_batch(
    conn: &mut Connection,
    known: &mut Known,
    batch: &[NewMessage],
) -> Result<AppendBatch, StoreError> {
    match try_append(conn, known, batch, Look::IfNeeded) {
        Err(StoreError::Conflict(Conflict::DuplicateClientId)) => {
            try_append(conn, known, batch, Look::First)
        }
        done => done,
    }
}

/// What the appender remembers between batches instead of reading it again for each.
#[derive(Default)]
struct Known {
    seqs: Seqs,
    members: Members,
}

/// Each conversation's `last_seq` as this thread last committed it, and its row's rowid, so
/// that a batch moves it with one statement that finds the row by rowid instead of a read and
/// a write through the conversation id's index (issue 10). Only ever a guess: the update is
/// made only where the row with that rowid is still the conversation's and still holds the
/// remembered value (a `VACUUM` may renumber rowids), and where it is not (no entry yet, or
/// the row changed some other way) the append reads the row as before.
#[derive(Default)]
struct Seqs {
    last: Map<ConversationId, Row>,
}

/// A conversation's row as the appender last committed it.
#[derive(Clone, Copy)]
struct Row {
    rowid: i64,
    last_seq: i64,
}

impl Seqs {
    /// Entries kept at most (about 50 bytes each); beyond it the map starts over.
    const MAX: usize = 100_000;

    fn get(&self, cid: ConversationId) -> Option<Row> {
        self.last.get(&cid).copied()
    }

    /// What a committed transaction left in the rows it reserved seqs in.
    fn committed(&mut self, rows: &Map<ConversationId, Row>) {
        if self.last.len() + rows.len() > Self::MAX {
            self.last.clear();
        }
        self.last.extend(rows);
    }
}

/// The members of the conversations the appender appended to, valid while `member_version`
/// (moved by triggers on every join and leave, see its migration) holds `version`: read in
/// the append's write transaction, so nobody joins or leaves between that read and the
/// append. Conversations without members (unknown ids) are not kept.
#[derive(Default)]
struct Members {
    version: Option<i64>,
    of: Map<ConversationId, Vec<UserId>>,
    /// User ids in `of`, over all its conversations.
    ids: usize,
}

impl Members {
    /// User ids kept at most (16 bytes each; groups have no size limit, so the bound is on
    /// ids, not conversations); beyond it the map starts over.
    const MAX_IDS: usize = 100_000;

    /// The members of each of `ids`, from memory where `member_version` has not moved.
    fn of(
        &mut self,
        db: &Connection,
        ids: &[ConversationId],
    ) -> rusqlite::Result<Map<ConversationId, Vec<UserId>>> {
        let version: i64 = db
            .prepare_cached("SELECT version FROM member_version WHERE member_version_id = 1")?
            .query_row([], |r| r.get(0))?;
        if self.version != Some(version) {
            self.forget();
            self.version = Some(version);
        }
        let mut out = append::map(ids.len());
        let mut unknown = Vec::new();
        for cid in ids {
            match self.of.get(cid) {
                Some(users) => {
                    out.insert(*cid, users.clone());
                }
                None => unknown.push(*cid),
            }
        }
        if !unknown.is_empty() {
            for (cid, users) in members(db, &unknown)? {
                if !users.is_empty() && users.len() <= Self::MAX_IDS {
                    if self.ids + users.len() > Self::MAX_IDS {
                        self.forget();
                    }
                    self.ids += users.len();
                    self.of.insert(cid, users.clone());
                }
                out.insert(cid, users);
            }
        }
        Ok(out)
    }

    fn forget(&mut self) {
        self.of.clear();
        self.ids = 0;
    }
}

fn try_append(
    conn: &mut Connection,
    known: &mut Known,
    batch: &[NewMessage],
    look: Look,
) -> Result<AppendBatch, StoreError> {
    let tx = WriteTx::begin(conn).db()?;
    let now = now_millis();
    let members = known.members.of(&tx, &append::conversations(batch)).db()?;
    let existing = if look.needed(batch, &members) {
        earlier_sends(&tx, batch).db()?
    } else {
        Vec::new()
    };
    let plan = append::plan(batch, existing, members);
    if plan.reservations().is_empty() {
        tx.commit().db()?;
        return Ok(plan.finish(Vec::new()));
    }
    // Where the remembered row still holds the remembered `last_seq` (see `Seqs`), one
    // conditional update by rowid; elsewhere read, then write: this transaction holds the
    // write lock, so nobody moves `last_seq` in between. One `UPDATE … RETURNING` did both,
    // but SQLite runs such a statement through a result table and a statement journal, which
    // cost more than the two plain ones. A conversation without a row gets no seqs, and the
    // batch fails (`Plan::assign`): this is what proves the foreign keys (see `connect`).
    let mut rows = append::map(plan.reservations().len());
    {
        let mut read = tx
            .prepare_cached("SELECT rowid, last_seq FROM conversation WHERE conversation_id = ?1")
            .db()?;
        let mut reserve = tx
            .prepare_cached(
                "UPDATE conversation SET last_seq = ?1, last_activity_at = ?2 WHERE rowid = ?3",
            )
            .db()?;
        let mut reserve_after = tx
            .prepare_cached(
                "UPDATE conversation SET last_seq = ?1, last_activity_at = ?2
                 WHERE rowid = ?3 AND conversation_id = ?4 AND last_seq = ?5",
            )
            .db()?;
        for (cid, n) in plan.reservations() {
            let id = TextId::new(cid.0);
            if let Some(row) = known.seqs.get(*cid)
                && reserve_after
                    .execute(params![
                        row.last_seq + n,
                        millis(now),
                        row.rowid,
                        id,
                        row.last_seq
                    ])
                    .db()?
                    == 1
            {
                rows.insert(
                    *cid,
                    Row {
                        last_seq: row.last_seq + n,
                        ..row
                    },
                );
                continue;
            }
            let row: Option<(i64, i64)> = read
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .db()?;
            if let Some((rowid, seq)) = row {
                let last = seq + n;
                reserve.execute(params![last, millis(now), rowid]).db()?;
                rows.insert(
                    *cid,
                    Row {
                        rowid,
                        last_seq: last,
                    },
                );
            }
        }
    }
    let last_seq = rows.iter().map(|(cid, row)| (*cid, row.last_seq)).collect();
    let stored = plan.assign(&last_seq, now)?;
    // An error rolls the transaction back (dropping `tx` does), seqs and all.
    insert(&tx, &stored, now).db()?;
    tx.commit().db()?;
    known.seqs.committed(&rows);
    Ok(plan.finish(stored))
}

/// Messages already stored under the batch's (sender, `client_id`) keys, with reactions.
fn earlier_sends(db: &Connection, batch: &[NewMessage]) -> rusqlite::Result<Vec<Message>> {
    let mut find = db.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM message msg WHERE msg.sender_id = ?1 AND msg.client_id = ?2"
    ))?;
    let mut found: Vec<Message> = Vec::new();
    for (sender, client_id) in append::keys(batch) {
        if found
            .iter()
            .any(|m| m.sender_id == sender && m.client_id == client_id)
        {
            continue;
        }
        if let Some(m) = find
            .query_row(params![TextId::new(sender.0), client_id], |r| {
                read::message::<Rusqlite>(r).map_err(decode_failed)
            })
            .optional()?
        {
            found.push(m);
        }
    }
    if !found.is_empty() {
        let mut reactions = db.prepare_cached(
            "SELECT message_id, user_id, emoji FROM reaction WHERE message_id = ?1 ORDER BY rowid",
        )?;
        let mut all = Vec::new();
        for m in &found {
            let rows = reactions.query_map([TextId::new(m.id.0)], |r| {
                Ok((
                    MessageId(Rusqlite::uuid(r, "message_id").map_err(decode_failed)?),
                    UserId(Rusqlite::uuid(r, "user_id").map_err(decode_failed)?),
                    r.get::<_, String>("emoji")?,
                ))
            })?;
            for row in rows {
                all.push(row?);
            }
        }
        read::group_reactions(all, &mut found);
    }
    Ok(found)
}

/// The members of each conversation.
fn members(
    db: &Connection,
    ids: &[ConversationId],
) -> rusqlite::Result<Map<ConversationId, Vec<UserId>>> {
    let mut stmt = db.prepare_cached("SELECT user_id FROM member WHERE conversation_id = ?1")?;
    let mut out = append::map(ids.len());
    for cid in ids {
        let users = stmt
            .query_map([TextId::new(cid.0)], |r| {
                // By position: a lookup by name compares every column's name, per row.
                let text = r.get_ref(0)?.as_str()?;
                Uuid::parse_str(text)
                    .map(UserId)
                    .map_err(|e| decode_failed(decode("user_id", e)))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.insert(*cid, users);
    }
    Ok(out)
}

/// The new messages, queued for the search index, their mentions and their attachments.
fn insert(db: &Connection, stored: &[Message], now: DateTime<Utc>) -> rusqlite::Result<()> {
    let mut message = db.prepare_cached(
        "INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id,
                              body, attachments, reply_to, mentions, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    // The new rows' rowids, for the search index's queue (see the `queue_in_the_append`
    // migration).
    let mut rowids = Vec::with_capacity(stored.len());
    for m in stored {
        message.execute(params![
            TextId::new(m.id.0),
            TextId::new(m.conversation_id.0),
            m.seq,
            TextId::new(m.sender_id.0),
            m.client_id,
            m.body,
            serde_json::to_string(&m.attachments).unwrap_or_else(|_| "[]".into()),
            m.reply_to.map(|r| TextId::new(r.0)),
            serde_json::to_string(&m.mentions).unwrap_or_else(|_| "[]".into()),
            millis(now),
        ])?;
        rowids.push(db.last_insert_rowid());
    }
    db.prepare_cached(
        "INSERT INTO message_fts_queue (message_rowid) SELECT value FROM json_each(?1)",
    )?
    .execute([serde_json::to_string(&rowids).expect("a list of integers is JSON")])?;
    if stored.iter().any(|m| !m.mentions.is_empty()) {
        let mut mention = db.prepare_cached(
            "INSERT INTO mention (user_id, conversation_id, seq, message_id)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for m in stored {
            for u in &m.mentions {
                mention.execute(params![
                    TextId::new(u.0),
                    TextId::new(m.conversation_id.0),
                    m.seq,
                    TextId::new(m.id.0)
                ])?;
            }
        }
    }
    if stored.iter().any(|m| !m.attachments.is_empty()) {
        let mut attach = db.prepare_cached(
            "INSERT INTO media_attachment (media_id, conversation_id, message_id)
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?;
        let mut attached = db.prepare_cached(
            "UPDATE media SET attached_at = COALESCE(attached_at, ?2) WHERE media_id = ?1",
        )?;
        for m in stored {
            for a in &m.attachments {
                let media = TextId::new(a.media_id.0);
                attach.execute(params![
                    media,
                    TextId::new(m.conversation_id.0),
                    TextId::new(m.id.0)
                ])?;
                if attached.execute(params![media, millis(now)])? == 0 {
                    // The file's row went (an orphan cleaned up since the send resolved it):
                    // the batch fails as it would on the foreign key this connection does not
                    // check (see `connect`).
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                        Some("FOREIGN KEY constraint failed: media_attachment.media_id".into()),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// An id bound as the TEXT the schema keeps it in (hyphenated, lower case, as `Display`
/// writes it), formatted on the stack: the appender binds several per message, and a `String`
/// each was a tenth of its own (non-SQLite) instructions (issue 10).
struct TextId([u8; uuid::fmt::Hyphenated::LENGTH]);

impl TextId {
    fn new(id: Uuid) -> Self {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut text);
        Self(text)
    }
}

impl ToSql for TextId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(&self.0)))
    }
}

/// A row mapper's error, as rusqlite's (the mapper closures must return one).
fn decode_failed(e: sqlx::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// Maps a driver error to the port's, as [`crate::store_error`] does for the pool's.
fn store_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::unavailable("database busy", e)
        }
        Some(ErrorCode::ConstraintViolation) => match &e {
            rusqlite::Error::SqliteFailure(f, Some(message))
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Conflict(crate::unique_conflict(message))
            }
            // A foreign key, CHECK or NOT NULL: the plan let through what it should not have.
            _ => StoreError::other("constraint failed", e),
        },
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => {
            StoreError::unavailable("database file unusable", e)
        }
        _ => StoreError::other("query failed", e),
    }
}

impl<T> crate::DbResult<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(store_error)
    }
}

/// The same spelling as [`crate::Sqlite`] (ids as TEXT, times as integer milliseconds, JSON as
/// TEXT), read through rusqlite.
pub(crate) struct Rusqlite;

fn column<'r>(row: &'r rusqlite::Row<'_>, col: &str) -> Result<ValueRef<'r>, sqlx::Error> {
    row.get_ref(col).map_err(|e| decode(col, e))
}

fn decode(col: &str, e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_owned(),
        source: Box::new(e),
    }
}

fn opt_str<'r>(row: &'r rusqlite::Row<'_>, col: &str) -> Result<Option<&'r str>, sqlx::Error> {
    match column(row, col)? {
        ValueRef::Null => Ok(None),
        v => v.as_str().map(Some).map_err(|e| decode(col, e)),
    }
}

fn str<'r>(row: &'r rusqlite::Row<'_>, col: &str) -> Result<&'r str, sqlx::Error> {
    column(row, col)?.as_str().map_err(|e| decode(col, e))
}

fn opt_int(row: &rusqlite::Row<'_>, col: &str) -> Result<Option<i64>, sqlx::Error> {
    match column(row, col)? {
        ValueRef::Null => Ok(None),
        v => v.as_i64().map(Some).map_err(|e| decode(col, e)),
    }
}

impl Dialect for Rusqlite {
    type Row<'r> = rusqlite::Row<'r>;
    fn uuid(row: &Self::Row<'_>, col: &str) -> Result<Uuid, sqlx::Error> {
        Uuid::parse_str(str(row, col)?).map_err(|e| decode(col, e))
    }
    fn opt_uuid(row: &Self::Row<'_>, col: &str) -> Result<Option<Uuid>, sqlx::Error> {
        opt_str(row, col)?
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|e| decode(col, e))
    }
    fn uuids(row: &Self::Row<'_>, col: &str) -> Result<Vec<Uuid>, sqlx::Error> {
        serde_json::from_str(str(row, col)?).map_err(|e| decode(col, e))
    }
    fn time(row: &Self::Row<'_>, col: &str) -> Result<DateTime<Utc>, sqlx::Error> {
        Self::int(row, col).map(from_millis)
    }
    fn opt_time(row: &Self::Row<'_>, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(opt_int(row, col)?.map(from_millis))
    }
    fn text(row: &Self::Row<'_>, col: &str) -> Result<String, sqlx::Error> {
        str(row, col).map(str::to_owned)
    }
    fn opt_text(row: &Self::Row<'_>, col: &str) -> Result<Option<String>, sqlx::Error> {
        Ok(opt_str(row, col)?.map(str::to_owned))
    }
    fn int(row: &Self::Row<'_>, col: &str) -> Result<i64, sqlx::Error> {
        column(row, col)?.as_i64().map_err(|e| decode(col, e))
    }
    fn opt_u32(row: &Self::Row<'_>, col: &str) -> Result<Option<u32>, sqlx::Error> {
        Ok(opt_int(row, col)?.and_then(|v| u32::try_from(v).ok()))
    }
    fn flag(row: &Self::Row<'_>, col: &str) -> Result<bool, sqlx::Error> {
        Ok(Self::int(row, col)? != 0)
    }
    fn preview(row: &Self::Row<'_>, col: &str) -> Result<Option<LinkPreview>, sqlx::Error> {
        opt_str(row, col)?
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| decode(col, e))
    }
    fn attachments(row: &Self::Row<'_>, col: &str) -> Result<Vec<Attachment>, sqlx::Error> {
        // As the pool's mapper: an unreadable list reads as none.
        Ok(serde_json::from_str(str(row, col)?).unwrap_or_default())
    }
}

/// The appender's VFS (`c/gather_vfs.c`) against the unix VFS, on plain connections: it must
/// save the writes it is there for, and no reader on another connection may ever see a
/// difference.
#[cfg(test)]
mod text_id_tests {
    use super::TextId;
    use rusqlite::Connection;

    /// The stack-formatted id binds the very text the pool's queries bind and compare with.
    #[test]
    fn a_text_id_binds_the_id_as_display_writes_it() {
        let conn = Connection::open_in_memory().expect("open");
        for id in [
            uuid::Uuid::now_v7(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::max(),
        ] {
            let (text, kind): (String, String) = conn
                .query_row("SELECT ?1, typeof(?1)", [TextId::new(id)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .expect("select");
            assert_eq!((text, kind.as_str()), (id.to_string(), "text"));
        }
    }
}

#[cfg(test)]
mod gather_vfs_tests {
    use super::GATHER_VFS;
    use rusqlite::{Connection, OpenFlags};
    use std::path::Path;

    fn open(path: &Path, vfs: Option<&str>, synchronous: &str) -> Connection {
        let conn = match vfs {
            Some(v) => Connection::open_with_flags_and_vfs(path, OpenFlags::default(), v),
            None => Connection::open(path),
        }
        .expect("open");
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .expect("busy timeout");
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .expect("wal");
        conn.pragma_update(None, "synchronous", synchronous)
            .expect("synchronous");
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no automatic checkpoint");
        conn
    }

    /// Rows in `t` and the bytes of their `v`, as `conn` reads them.
    fn rows_and_bytes(conn: &Connection) -> (i64, i64) {
        conn.query_row("SELECT count(*), sum(length(v)) FROM t", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("read")
    }

    fn integrity(conn: &Connection) -> String {
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity check")
    }

    /// This thread's write system calls so far (`pwrite` among them), from the kernel.
    fn writes_by_this_thread() -> u64 {
        let io = std::fs::read_to_string("/proc/thread-self/io").expect("/proc/thread-self/io");
        io.lines()
            .find_map(|l| l.strip_prefix("syscw: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("syscw")
    }

    /// Write calls made by one commit of 40 rows of 3 KB (about 40 log frames).
    fn writes_per_commit(vfs: Option<&str>) -> u64 {
        let dir = crate::scratch_dir("gather-count");
        let conn = open(&dir.join("t.db"), vfs, "FULL");
        conn.execute_batch("CREATE TABLE t (v BLOB)")
            .expect("create");
        let before = writes_by_this_thread();
        let tx = conn.unchecked_transaction().expect("begin");
        for _ in 0..40 {
            tx.execute("INSERT INTO t VALUES (randomblob(3000))", [])
                .expect("insert");
        }
        tx.commit().expect("commit");
        let made = writes_by_this_thread() - before;
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
        made
    }

    #[test]
    fn a_commit_s_log_frames_go_out_in_a_few_writes_instead_of_two_per_page() {
        let unix = writes_per_commit(None);
        let gathered = writes_per_commit(Some(GATHER_VFS));
        // The unix VFS: two per frame. Gathered: one per 31 frames (the unix VFS's limit).
        assert!(unix >= 80, "the unix VFS made {unix} writes for 40 frames");
        assert!(
            gathered <= 6,
            "the gathering VFS made {gathered} writes for the same commit (unix: {unix})"
        );
    }

    /// Whatever the synchronous setting (with OFF the log is never synced, so only the index
    /// header's barrier writes the frames out), a reader on the unix VFS sees every commit
    /// the moment it returns, whole, while the log starts over again and again (so the file
    /// holds stale frames where a missing write would leave them).
    #[test]
    fn readers_on_other_connections_see_each_commit_whole_at_once() {
        for synchronous in ["FULL", "NORMAL", "OFF"] {
            let dir = crate::scratch_dir("gather-visible");
            let path = dir.join("t.db");
            let writer = open(&path, Some(GATHER_VFS), synchronous);
            writer
                .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, v BLOB)")
                .expect("create");
            let reader = open(&path, None, "FULL");
            for round in 0..150_i64 {
                let tx = writer.unchecked_transaction().expect("begin");
                for i in 0..5 {
                    tx.execute(
                        "INSERT INTO t VALUES (?1, zeroblob(2000 + ?1 % 3000))",
                        [round * 5 + i],
                    )
                    .expect("insert");
                }
                tx.commit().expect("commit");
                let (count, bytes) = rows_and_bytes(&reader);
                let expected: i64 = (0..(round + 1) * 5).map(|n| 2000 + n % 3000).sum();
                assert_eq!(
                    (count, bytes),
                    ((round + 1) * 5, expected),
                    "round {round}, synchronous={synchronous}"
                );
                if round % 10 == 9 {
                    let _: (i64, i64, i64) = writer
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .expect("checkpoint");
                }
            }
            assert_eq!(integrity(&reader), "ok", "synchronous={synchronous}");
            drop((writer, reader));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// A transaction too big for its page cache spills frames into the log before it
    /// commits; rolled back, those frames are garbage, and the next writer (here on the unix
    /// VFS) writes its own frames at the same offsets. None of the spilled bytes may reach
    /// the file after that.
    #[test]
    fn a_rolled_back_transaction_s_spilled_frames_never_overwrite_a_later_commit() {
        let dir = crate::scratch_dir("gather-spill");
        let path = dir.join("t.db");
        let gathering = open(&path, Some(GATHER_VFS), "FULL");
        gathering
            .execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, v BLOB); PRAGMA cache_size = 10")
            .expect("create");
        let other = open(&path, None, "FULL");
        for round in 0..20_i64 {
            let tx = gathering.unchecked_transaction().expect("begin");
            for i in 0..100 {
                tx.execute(
                    "INSERT INTO t VALUES (?1, randomblob(3000))",
                    [1_000_000 + round * 100 + i],
                )
                .expect("insert");
            }
            tx.rollback().expect("rollback");
            other
                .execute("INSERT INTO t VALUES (?1, zeroblob(3000))", [round])
                .expect("the other connection's commit");
            gathering
                .execute("INSERT INTO t VALUES (?1, zeroblob(10))", [10_000 + round])
                .expect("a commit after the rollback");
        }
        for conn in [&other, &gathering] {
            assert_eq!(rows_and_bytes(conn), (40, 20 * 3000 + 20 * 10));
        }
        drop((gathering, other));
        let fresh = Connection::open(&path).expect("reopen");
        assert_eq!(integrity(&fresh), "ok");
        let zeros: i64 = fresh
            .query_row(
                "SELECT count(*) FROM t WHERE n < 20 AND v = zeroblob(3000)",
                [],
                |r| r.get(0),
            )
            .expect("read");
        assert_eq!(zeros, 20, "the other connection's rows are intact");
        drop(fresh);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
