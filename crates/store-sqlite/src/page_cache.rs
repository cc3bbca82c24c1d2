//! Tests of SQLite's page cache as this crate sets it up for every connection in the process
//! (`c/page_cache.c`: the default cache, whose truncates are skipped where they cannot find
//! anything to drop). A truncate skipped wrongly would leave pages of a rolled-back or shrunk
//! database in a cache, to be read back as the database grows again.

use rusqlite::{Connection, params};
use std::collections::BTreeMap;

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A row's body: `len` bytes of its key's low byte, so that a page of some other state of the
/// database reads as a wrong body.
fn body(key: i64, len: usize) -> Vec<u8> {
    vec![key.to_le_bytes()[0]; len]
}

/// Checks `conn`'s view of `t` against `model` (key → body length) and SQLite's own check.
fn check(conn: &Connection, model: &BTreeMap<i64, usize>, round: usize) {
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(ok, "ok", "round {round}");
    let mut rows = BTreeMap::new();
    let mut select = conn
        .prepare_cached("SELECT k, body FROM t ORDER BY tag")
        .expect("select");
    let found = select
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .expect("query");
    for row in found {
        let (key, got) = row.expect("row");
        assert_eq!(got, body(key, got.len()), "round {round}: row {key}'s body");
        rows.insert(key, got.len());
    }
    assert_eq!(&rows, model, "round {round}");
}

/// The truncates the process's page caches have skipped so far (`PRAGMA chatsync_page_cache`
/// through the appender's VFS), or -1 if SQLite kept its own cache.
fn skipped(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA chatsync_page_cache", [], |r| r.get::<_, String>(0))
        .expect("the pragma")
        .parse()
        .expect("a count")
}

/// SQLite took the wrapper, and it skips the truncate of a commit that split pages while the
/// database is far under the lock-byte page (what `pcache1` scanned its whole table for).
#[test]
fn commits_that_split_pages_skip_the_page_cache_truncate() {
    let dir = crate::scratch_dir("page-cache-skips");
    let conn = crate::appender::connect(&dir.join("s.db")).expect("open");
    conn.execute_batch("CREATE TABLE t (tag BLOB NOT NULL); CREATE INDEX t_tag ON t (tag);")
        .expect("schema");
    let before = skipped(&conn);
    assert!(before >= 0, "SQLite kept its own page cache");
    let mut rng = Rng(7);
    for _ in 0..20 {
        let tx = conn.unchecked_transaction().expect("begin");
        for _ in 0..100 {
            let tag = [rng.next().to_le_bytes(), rng.next().to_le_bytes()].concat();
            tx.execute("INSERT INTO t (tag) VALUES (?1)", [tag])
                .expect("insert");
        }
        tx.commit().expect("commit");
    }
    let after = skipped(&conn);
    assert!(after >= before + 20, "{before} → {after}");
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Random inserts that split pages all over a table and its index (the splits that park pages
/// at the lock-byte page's number), commits, rollbacks that shrink the database back in the
/// cache, deletes and `VACUUM`s that shrink the file, and a second connection that changes the
/// database under the first one's cache: after each round both connections read exactly the
/// committed rows and SQLite finds the file whole.
#[test]
fn the_page_cache_keeps_the_database_whole_through_splits_rollbacks_and_shrinks() {
    let dir = crate::scratch_dir("page-cache");
    let path = dir.join("p.db");
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA cache_size = 200;
         CREATE TABLE t (k INTEGER PRIMARY KEY, tag BLOB NOT NULL, body BLOB NOT NULL);
         CREATE INDEX t_tag ON t (tag);",
    )
    .expect("schema");
    let other = Connection::open(&path).expect("open a second connection");
    let mut model = BTreeMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..80 {
        let writer = if round % 5 == 4 { &other } else { &conn };
        match rng.below(4) {
            0..=2 => {
                let tx = writer.unchecked_transaction().expect("begin");
                let mut added = Vec::new();
                for _ in 0..150 + rng.below(150) {
                    let key = i64::try_from(rng.next() >> 2).expect("63 bits");
                    let len = usize::try_from(rng.below(1800)).expect("small") + 1;
                    let tag = rng.next().to_le_bytes();
                    tx.execute(
                        "INSERT INTO t (k, tag, body) VALUES (?1, ?2, ?3)",
                        params![key, &tag[..], body(key, len)],
                    )
                    .expect("insert");
                    added.push((key, len));
                }
                if rng.below(3) == 0 {
                    tx.rollback().expect("rollback");
                } else {
                    tx.commit().expect("commit");
                    model.extend(added);
                }
            }
            _ => {
                let gone: Vec<i64> = model
                    .keys()
                    .copied()
                    .filter(|_| rng.below(3) != 0)
                    .collect();
                let tx = writer.unchecked_transaction().expect("begin");
                for key in &gone {
                    tx.execute("DELETE FROM t WHERE k = ?1", [key])
                        .expect("delete");
                }
                tx.commit().expect("commit");
                for key in gone {
                    model.remove(&key);
                }
                writer.execute_batch("VACUUM").expect("vacuum");
            }
        }
        check(&conn, &model, round);
        check(&other, &model, round);
    }
    drop((conn, other));
    let _ = std::fs::remove_dir_all(&dir);
}
