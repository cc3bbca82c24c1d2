/*
 * The SQLite appender's VFS, "chatsync-gather": the default (unix) VFS, except that the
 * consecutive writes SQLite makes to a write-ahead log are passed on as one `pwrite` instead
 * of two per page (issue 10, bench/RESULTS.md "fifth pass").
 *
 * Why: SQLite writes each log frame as two writes (its 24-byte header, then the page), so a
 * commit of 40 pages costs 80 `pwrite`s; at 2,000 msgs/s that was 11-12 % of the server's CPU
 * (walWriteOneFrame). The same bytes in one `pwrite` cost a third of that
 * (bench/sqlite-experiments/wal_writes.py). SQLite has no option for it, so a VFS does it.
 * It is C, compiled by this crate's build script, because the workspace forbids `unsafe` Rust
 * and a VFS is all raw pointers; the appender only names it (`open_with_flags_and_vfs`).
 *
 * The rule that keeps it safe: a log write may wait in the buffer only while nothing can see
 * the difference. Bytes written to the log are visible to others only through the log's
 * index (the `-shm` file), which SQLite updates after writing (and, with synchronous=FULL,
 * syncing) the frames, under the write lock. So the buffer goes to the file, in order,
 * before any of these: a sync of the log (every commit with synchronous=FULL); any other
 * operation on the log (a read, its size, a truncation, a file control, closing it); a write
 * that does not follow the buffer (SQLite rewriting a frame of the same transaction); and,
 * on the database file the log belongs to, any change of a `-shm` lock (so nothing buffered
 * outlives the write lock, even after a rolled-back transaction's spilled frames), the memory
 * barrier SQLite takes between the two copies of the index header it publishes (so frames
 * are in the file before a reader can accept a header that names them, whatever the
 * synchronous setting), unmapping the `-shm`, any file lock change, sync, file control or
 * close. A failed write returns its error from the call that flushed it, as the unix VFS
 * would have from the write itself; only the barrier cannot return one, and it never has
 * anything to flush when the log is synced at commit (the appender's synchronous=FULL).
 *
 * Other files (the database, journals, temporary files) pass straight through.
 */
#include <string.h>

#include "page_cache.h"
#include "sqlite3.h"

#define GATHER_VFS_NAME "chatsync-gather"
/* The buffer's limit: the unix VFS writes at most 128 KiB - 1 bytes in one call (it masks the
 * length with 0x1ffff, and reports a longer write as a full disk), so a commit of more than 31
 * frames of 4 KiB goes out in a few writes instead of one. */
#define GATHER_MAX 0x1ffff

typedef struct GatherFile GatherFile;
struct GatherFile {
  sqlite3_file base;    /* SQLite's handle: its pMethods is gather_methods */
  sqlite3_file *real;   /* the unix VFS's file, allocated right after this struct */
  GatherFile *wal;      /* on a database file: its open write-ahead log, if any */
  GatherFile *db;       /* on a write-ahead log: its database file; NULL passes writes through */
  unsigned char *buf;   /* on a write-ahead log: bytes not yet written, for offset `off` */
  int len;
  int cap;
  sqlite3_int64 off;
};

static sqlite3_vfs gather_vfs;

static sqlite3_vfs *root_vfs(void) { return (sqlite3_vfs *)gather_vfs.pAppData; }

static const sqlite3_io_methods *real_methods(GatherFile *p) { return p->real->pMethods; }

/* Writes out what the log's buffer holds. The buffer is emptied either way: after a failure
 * its bytes are as lost as those of a failed `pwrite`, and the caller reports the error. */
static int flush_log(GatherFile *p) {
  int rc = SQLITE_OK;
  if (p != 0 && p->len > 0) {
    rc = real_methods(p)->xWrite(p->real, p->buf, p->len, p->off);
    p->len = 0;
  }
  return rc;
}

/* On a database file: writes out its log's buffer before the caller goes on. */
static int flush_log_of(GatherFile *p) {
  return p->wal != 0 ? flush_log(p->wal) : SQLITE_OK;
}

/* Writes out whatever this file holds back: its own buffer (a log) or its log's (a database). */
static int flush_all(GatherFile *p) {
  int rc = flush_log(p);
  return rc != SQLITE_OK ? rc : flush_log_of(p);
}

static int gather_close(sqlite3_file *f) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_log(p);
  int rc2;
  if (p->db != 0 && p->db->wal == p) p->db->wal = 0;
  if (p->wal != 0) {
    /* SQLite closes the log before its database; if not, the log must not point back. */
    rc2 = flush_log(p->wal);
    if (rc == SQLITE_OK) rc = rc2;
    p->wal->db = 0;
    p->wal = 0;
  }
  sqlite3_free(p->buf);
  p->buf = 0;
  p->cap = 0;
  rc2 = real_methods(p)->xClose(p->real);
  return rc != SQLITE_OK ? rc : rc2;
}

static int gather_read(sqlite3_file *f, void *z, int n, sqlite3_int64 off) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_log(p);
  if (rc != SQLITE_OK) return rc;
  return real_methods(p)->xRead(p->real, z, n, off);
}

static int gather_write(sqlite3_file *f, const void *z, int n, sqlite3_int64 off) {
  GatherFile *p = (GatherFile *)f;
  int rc;
  if (p->db == 0) return real_methods(p)->xWrite(p->real, z, n, off);
  if (p->len > 0 && off == p->off + p->len && p->len + n <= p->cap) {
    memcpy(p->buf + p->len, z, (size_t)n);
    p->len += n;
    return SQLITE_OK;
  }
  if (p->len > 0 && off == p->off + p->len && p->len + n <= GATHER_MAX) {
    int cap = p->cap * 2;
    unsigned char *grown;
    while (cap < p->len + n) cap *= 2;
    if (cap > GATHER_MAX) cap = GATHER_MAX;
    grown = sqlite3_realloc(p->buf, cap);
    if (grown != 0) {
      p->buf = grown;
      p->cap = cap;
      memcpy(p->buf + p->len, z, (size_t)n);
      p->len += n;
      return SQLITE_OK;
    }
  }
  /* Not the buffer's next bytes, or no room: what is buffered goes first, in order. */
  rc = flush_log(p);
  if (rc != SQLITE_OK) return rc;
  if (p->buf == 0 && n <= GATHER_MAX) {
    int cap = 64 * 1024;
    while (cap < n) cap *= 2;
    if (cap > GATHER_MAX) cap = GATHER_MAX;
    p->buf = sqlite3_malloc(cap);
    p->cap = p->buf != 0 ? cap : 0;
  }
  if (n > p->cap) return real_methods(p)->xWrite(p->real, z, n, off);
  memcpy(p->buf, z, (size_t)n);
  p->off = off;
  p->len = n;
  return SQLITE_OK;
}

static int gather_truncate(sqlite3_file *f, sqlite3_int64 size) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_all(p);
  if (rc != SQLITE_OK) return rc;
  return real_methods(p)->xTruncate(p->real, size);
}

static int gather_sync(sqlite3_file *f, int flags) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_all(p);
  if (rc != SQLITE_OK) return rc;
  return real_methods(p)->xSync(p->real, flags);
}

static int gather_file_size(sqlite3_file *f, sqlite3_int64 *size) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_log(p);
  if (rc != SQLITE_OK) return rc;
  return real_methods(p)->xFileSize(p->real, size);
}

static int gather_lock(sqlite3_file *f, int level) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_all(p);
  if (rc != SQLITE_OK) return rc;
  return real_methods(p)->xLock(p->real, level);
}

static int gather_unlock(sqlite3_file *f, int level) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_log(p);
  int rc2 = flush_log_of(p);
  int rc3 = real_methods(p)->xUnlock(p->real, level);
  if (rc == SQLITE_OK) rc = rc2;
  return rc != SQLITE_OK ? rc : rc3;
}

static int gather_check_reserved_lock(sqlite3_file *f, int *out) {
  GatherFile *p = (GatherFile *)f;
  return real_methods(p)->xCheckReservedLock(p->real, out);
}

/* `PRAGMA chatsync_sync_database` on a connection through this VFS syncs the database file
 * (`fdatasync`) and returns "synced". The checkpointer runs it after a pass that copied log
 * frames (`checkpointer.rs`): SQLite syncs the database file only in a checkpoint that copies
 * the whole log, so the pass that runs beside a busy writer never syncs what it wrote, and
 * the writer's own checkpoint after it, the one that completes the log, would sync all of it
 * while every message waits. Run through SQLite, the sync is the unix VFS's, on its own file
 * descriptor: a second descriptor on the file, once closed, would drop the process's locks on
 * it. SQLite hands the pragma over while it prepares the statement, so each run needs a
 * statement of its own, not a cached one. */
#define SYNC_PRAGMA "chatsync_sync_database"

/* `PRAGMA chatsync_page_cache` answers how many page-cache truncates `page_cache.c` has
 * skipped in this process, or -1 if SQLite kept its own cache (for the tests). */
#define PAGE_CACHE_PRAGMA "chatsync_page_cache"

static int gather_file_control(sqlite3_file *f, int op, void *arg) {
  GatherFile *p = (GatherFile *)f;
  int rc;
  if (op == SQLITE_FCNTL_PRAGMA) {
    char **words = (char **)arg;
    if (words[1] != 0 && sqlite3_stricmp(words[1], SYNC_PRAGMA) == 0) {
      rc = flush_all(p);
      if (rc == SQLITE_OK) rc = real_methods(p)->xSync(p->real, SQLITE_SYNC_NORMAL);
      if (rc == SQLITE_OK) words[0] = sqlite3_mprintf("synced");
      return rc;
    }
    if (words[1] != 0 && sqlite3_stricmp(words[1], PAGE_CACHE_PRAGMA) == 0) {
      words[0] = sqlite3_mprintf("%lld", chatsync_page_cache_skipped());
      return SQLITE_OK;
    }
  }
  if (op == SQLITE_FCNTL_VFSNAME) {
    /* As SQLite's shims do: name this layer, then the one below. */
    rc = real_methods(p)->xFileControl(p->real, op, arg);
    if (rc == SQLITE_OK) {
      char *below = *(char **)arg;
      *(char **)arg = sqlite3_mprintf("%s/%z", GATHER_VFS_NAME, below);
    } else if (rc == SQLITE_NOTFOUND) {
      *(char **)arg = sqlite3_mprintf("%s", GATHER_VFS_NAME);
      rc = SQLITE_OK;
    }
    return rc;
  }
  rc = flush_all(p);
  if (rc != SQLITE_OK) return rc;
  return real_methods(p)->xFileControl(p->real, op, arg);
}

static int gather_sector_size(sqlite3_file *f) {
  GatherFile *p = (GatherFile *)f;
  return real_methods(p)->xSectorSize(p->real);
}

static int gather_device_characteristics(sqlite3_file *f) {
  GatherFile *p = (GatherFile *)f;
  return real_methods(p)->xDeviceCharacteristics(p->real);
}

static int gather_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp) {
  GatherFile *p = (GatherFile *)f;
  return real_methods(p)->xShmMap(p->real, region, size, extend, pp);
}

static int gather_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
  GatherFile *p = (GatherFile *)f;
  /* Before a lock changes hands, nothing written under it may still be buffered. A failure
   * here loses only frames no reader can be given (a commit's were flushed by its sync or
   * the barrier): the lock change goes ahead, and the error is logged. */
  int rc = flush_log_of(p);
  if (rc != SQLITE_OK) sqlite3_log(rc, "%s: writing the log before a lock change failed", GATHER_VFS_NAME);
  return real_methods(p)->xShmLock(p->real, offset, n, flags);
}

static void gather_shm_barrier(sqlite3_file *f) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_log_of(p);
  if (rc != SQLITE_OK) sqlite3_log(rc, "%s: writing the log before the barrier failed", GATHER_VFS_NAME);
  real_methods(p)->xShmBarrier(p->real);
}

static int gather_shm_unmap(sqlite3_file *f, int delete_flag) {
  GatherFile *p = (GatherFile *)f;
  int rc = flush_log_of(p);
  int rc2 = real_methods(p)->xShmUnmap(p->real, delete_flag);
  return rc != SQLITE_OK ? rc : rc2;
}

static int gather_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) {
  GatherFile *p = (GatherFile *)f;
  return real_methods(p)->xFetch(p->real, off, n, pp);
}

static int gather_unfetch(sqlite3_file *f, sqlite3_int64 off, void *pg) {
  GatherFile *p = (GatherFile *)f;
  return real_methods(p)->xUnfetch(p->real, off, pg);
}

static const sqlite3_io_methods gather_methods = {
    3,
    gather_close,
    gather_read,
    gather_write,
    gather_truncate,
    gather_sync,
    gather_file_size,
    gather_lock,
    gather_unlock,
    gather_check_reserved_lock,
    gather_file_control,
    gather_sector_size,
    gather_device_characteristics,
    gather_shm_map,
    gather_shm_lock,
    gather_shm_barrier,
    gather_shm_unmap,
    gather_fetch,
    gather_unfetch,
};

static int gather_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
  GatherFile *p = (GatherFile *)f;
  sqlite3_vfs *root = root_vfs();
  int rc;
  (void)vfs;
  memset(p, 0, sizeof(*p));
  p->real = (sqlite3_file *)&p[1];
  rc = root->xOpen(root, name, p->real, flags, out_flags);
  /* SQLite closes a file whose pMethods is set, even when its open failed. */
  if (p->real->pMethods == 0) return rc;
  if (p->real->pMethods->iVersion < 3) {
    /* Not the unix VFS this was written against: pass nothing through this layer. */
    p->real->pMethods->xClose(p->real);
    return SQLITE_CANTOPEN;
  }
  f->pMethods = &gather_methods;
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) != 0 && name != 0) {
    sqlite3_file *db = sqlite3_database_file_object(name);
    if (db != 0 && db->pMethods == &gather_methods) {
      /* Only a log whose database is ours can be buffered: its locks are what flush it. */
      p->db = (GatherFile *)db;
      p->db->wal = p;
    }
  }
  return rc;
}

static int gather_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
  (void)v;
  return root_vfs()->xDelete(root_vfs(), name, sync_dir);
}
static int gather_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  (void)v;
  return root_vfs()->xAccess(root_vfs(), name, flags, out);
}
static int gather_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
  (void)v;
  return root_vfs()->xFullPathname(root_vfs(), name, n, out);
}
static void *gather_dl_open(sqlite3_vfs *v, const char *name) {
  (void)v;
  return root_vfs()->xDlOpen(root_vfs(), name);
}
static void gather_dl_error(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  root_vfs()->xDlError(root_vfs(), n, out);
}
static void (*gather_dl_sym(sqlite3_vfs *v, void *lib, const char *sym))(void) {
  (void)v;
  return root_vfs()->xDlSym(root_vfs(), lib, sym);
}
static void gather_dl_close(sqlite3_vfs *v, void *lib) {
  (void)v;
  root_vfs()->xDlClose(root_vfs(), lib);
}
static int gather_randomness(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return root_vfs()->xRandomness(root_vfs(), n, out);
}
static int gather_sleep(sqlite3_vfs *v, int micros) {
  (void)v;
  return root_vfs()->xSleep(root_vfs(), micros);
}
static int gather_current_time(sqlite3_vfs *v, double *out) {
  (void)v;
  return root_vfs()->xCurrentTime(root_vfs(), out);
}
static int gather_get_last_error(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return root_vfs()->xGetLastError(root_vfs(), n, out);
}
static int gather_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out) {
  (void)v;
  return root_vfs()->xCurrentTimeInt64(root_vfs(), out);
}

/* Registered when the program starts (the build script links this object whole, so the
 * constructor is kept though nothing calls it by name). Not the default VFS: only a
 * connection that names it uses it. */
__attribute__((constructor)) static void chatsync_gather_vfs_register(void) {
  sqlite3_vfs *root = sqlite3_vfs_find(0);
  if (root == 0 || root->iVersion < 2 || gather_vfs.zName != 0) return;
  gather_vfs.iVersion = 2;
  gather_vfs.szOsFile = (int)sizeof(GatherFile) + root->szOsFile;
  gather_vfs.mxPathname = root->mxPathname;
  gather_vfs.zName = GATHER_VFS_NAME;
  gather_vfs.pAppData = root;
  gather_vfs.xOpen = gather_open;
  gather_vfs.xDelete = gather_delete;
  gather_vfs.xAccess = gather_access;
  gather_vfs.xFullPathname = gather_full_pathname;
  gather_vfs.xDlOpen = gather_dl_open;
  gather_vfs.xDlError = gather_dl_error;
  gather_vfs.xDlSym = gather_dl_sym;
  gather_vfs.xDlClose = gather_dl_close;
  gather_vfs.xRandomness = gather_randomness;
  gather_vfs.xSleep = gather_sleep;
  gather_vfs.xCurrentTime = gather_current_time;
  gather_vfs.xGetLastError = gather_get_last_error;
  gather_vfs.xCurrentTimeInt64 = gather_current_time_int64;
  sqlite3_vfs_register(&gather_vfs, 0);
}
