//! Copies the write-ahead log into the database file, on a connection and thread of its own.
//!
//! With SQLite's automatic checkpoints off (see `SqliteStore::connect`), this is what moves
//! committed pages from the log into the database file: once a second, and whenever the
//! appender asks ([`Checkpointer::request`]). A checkpoint writes every page the log changed
//! and then syncs the database file; on a slow disk that sync alone took 11.5 ms (median) and
//! up to 190 ms (issue 10). Run on the appender's thread, every message behind it waited that
//! long. Here it runs beside the appends (`PASSIVE` takes no write lock), and the appender
//! copies only the few frames committed meanwhile itself, between its batches, so that the
//! log still starts over (why that must be the writer: `appender`'s module doc).

use crate::DbResult;
use crate::appender::millis_f64;
use chatsync_core::ports::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often the checkpointer copies the log when nobody asks.
const EVERY: Duration = Duration::from_secs(1);

/// A pass that takes longer than this is logged at debug level, with its copy and its sync
/// apart (as the appender's slow jobs are).
const SLOW_PASS: Duration = Duration::from_millis(15);

/// A checkpoint's outcome, as `PRAGMA wal_checkpoint` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Another checkpoint held the checkpoint lock, so this one did nothing.
    pub(crate) busy: bool,
    /// Frames in the log.
    pub(crate) log: i32,
    /// Frames of it now in the database file (fewer when a reader's snapshot needs the rest).
    pub(crate) copied: i32,
}

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` on `conn`: copies what no reader still needs, without
/// waiting for anyone. SQLite syncs the database file only when that is the whole log (and
/// `synchronous` is FULL or NORMAL).
pub(crate) fn passive(conn: &Connection) -> rusqlite::Result<Copied> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Copied {
            busy: r.get::<_, i32>(0)? != 0,
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

/// The appender's handle on the checkpointing thread; the thread ends when this is dropped.
pub(crate) struct Checkpointer {
    requests: mpsc::Sender<()>,
    done: mpsc::Receiver<rusqlite::Result<Copied>>,
}

impl Checkpointer {
    /// Starts the thread on `conn`, a connection to the appender's database with the same
    /// durability settings (the checkpoint's syncs follow its `synchronous`).
    pub(crate) fn start(conn: Connection) -> Result<Self, StoreError> {
        let (requests, asked) = mpsc::channel();
        let (answer, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &asked, &answer))
            .map_err(|e| StoreError::other("starting the SQLite checkpointer", e))?;
        Ok(Self { requests, done })
    }

    /// Opens its connection to the database file at `path` and starts it.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        Self::start(crate::appender::connect(path).db()?)
    }

    /// Asks for a checkpoint now; [`Self::finished`] has its outcome once it is done. Returns
    /// false when the thread has stopped.
    pub(crate) fn request(&self) -> bool {
        self.requests.send(()).is_ok()
    }

    /// The outcome of the checkpoint asked for, if it is done: `None` while it runs,
    /// `Some(Err(..))` if it failed or the thread has stopped.
    pub(crate) fn finished(&self) -> Option<Result<Copied, StoreError>> {
        match self.done.try_recv() {
            Ok(result) => Some(result.db()),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(StoreError::broken(
                "the SQLite checkpointer has stopped",
            ))),
        }
    }
}

/// Syncs the database file: SQLite does so only in a checkpoint that copies the whole log,
/// never in one that a busy writer outruns, so what such a pass wrote would wait for the
/// appender's checkpoint to sync it. The gathering VFS (`c/gather_vfs.c`) does it for this
/// pragma and answers "synced"; SQLite itself ignores a pragma it does not know and answers
/// nothing, which is an error here.
pub(crate) fn sync_database(conn: &Connection) -> rusqlite::Result<()> {
    // Not a cached statement: the VFS does the work while SQLite prepares it.
    conn.query_row("PRAGMA chatsync_sync_database", [], |r| {
        r.get::<_, String>(0)
    })
    .map(drop)
}

/// A pass over the log, then the database file's sync if the pass copied frames: if it found
/// the log as the previous pass (`last`) left it, there is nothing to sync, and an idle server
/// does not sync its file every second.
fn pass(conn: &Connection, last: &mut Option<Copied>) -> rusqlite::Result<Copied> {
    let started = Instant::now();
    let done = passive(conn)?;
    let copied_in = started.elapsed();
    if !done.busy && done.copied > 0 && *last != Some(done) {
        sync_database(conn)?;
    }
    let took = started.elapsed();
    if took >= SLOW_PASS {
        tracing::debug!(
            log = done.log,
            copied = done.copied,
            copy_ms = millis_f64(copied_in),
            sync_ms = millis_f64(took - copied_in),
            "slow checkpoint pass"
        );
    }
    *last = Some(done);
    Ok(done)
}

fn run(
    conn: &Connection,
    asked: &mpsc::Receiver<()>,
    answer: &mpsc::Sender<rusqlite::Result<Copied>>,
) {
    let mut last = None;
    loop {
        match asked.recv_timeout(EVERY) {
            Ok(()) => {
                if answer.send(pass(conn, &mut last)).is_err() {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = pass(conn, &mut last) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Checkpointer, passive, sync_database};
    use crate::appender::connect;
    use rusqlite::Connection;
    use std::path::PathBuf;
    use std::time::Duration;

    /// A new database file, `t.db` in a scratch directory, with a table `t (v BLOB)`, and the
    /// connection (through the gathering VFS) that created it.
    fn database() -> (PathBuf, PathBuf, Connection) {
        let dir = crate::scratch_dir("ckpt");
        let path = dir.join("t.db");
        let conn = connect(&path).expect("open");
        conn.execute_batch("CREATE TABLE t (v BLOB)")
            .expect("create");
        (dir, path, conn)
    }

    /// Asked, the checkpointer copies the whole log into the database file from its own
    /// connection, and with nothing committed meanwhile the writer's next commit starts the
    /// log over, the writer having copied nothing itself.
    #[test]
    fn asked_it_copies_the_log_from_its_own_connection() {
        let (dir, path, writer) = database();
        let tx = writer.unchecked_transaction().expect("begin");
        for _ in 0..300 {
            tx.execute("INSERT INTO t VALUES (randomblob(3000))", [])
                .expect("insert");
        }
        tx.commit().expect("commit");
        let db_before = std::fs::metadata(&path).expect("db").len();

        let checkpointer = Checkpointer::open(&path).expect("checkpointer");
        assert!(checkpointer.request());
        let mut waited = 0;
        let pass = loop {
            if let Some(done) = checkpointer.finished() {
                break done.expect("the checkpointer's pass");
            }
            assert!(waited < 3000, "no answer in 30 s");
            std::thread::sleep(Duration::from_millis(10));
            waited += 1;
        };
        assert!(!pass.busy, "{pass:?}");
        assert!(pass.log >= 300, "{pass:?}");
        assert_eq!(pass.copied, pass.log, "no reader held frames back");
        assert!(
            std::fs::metadata(&path).expect("db").len() >= db_before + 300 * 3000,
            "the rows reached the database file"
        );

        writer
            .execute("INSERT INTO t VALUES (randomblob(3000))", [])
            .expect("the next commit");
        let after = passive(&writer).expect("count");
        assert!(after.log < 10, "the log started over: {after:?}");
        drop((writer, checkpointer));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The database file's sync is the gathering VFS's pragma: answered there, and an error
    /// (not a silent no-op) on a connection through any other VFS.
    #[test]
    fn the_sync_pragma_answers_only_through_the_gathering_vfs() {
        let (dir, path, gathering) = database();
        for _ in 0..3 {
            let answer: String = gathering
                .query_row("PRAGMA chatsync_sync_database", [], |r| r.get(0))
                .expect("the pragma");
            assert_eq!(answer, "synced");
        }
        sync_database(&gathering).expect("sync");
        let plain = Connection::open(&path).expect("open plainly");
        assert!(matches!(
            sync_database(&plain),
            Err(rusqlite::Error::QueryReturnedNoRows)
        ));
        drop((gathering, plain));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Dropping the handle stops the thread (its answers channel disconnects) and with it the
    /// connection.
    #[test]
    fn the_thread_ends_with_its_handle() {
        let (dir, _, conn) = database();
        let Checkpointer { requests, done } = Checkpointer::start(conn).expect("start");
        drop(requests);
        assert!(matches!(
            done.recv_timeout(Duration::from_secs(30)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
