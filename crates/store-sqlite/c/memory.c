/*
 * Where SQLite takes its memory from: mimalloc (the allocator the server's Rust code uses),
 * without SQLite's own statistics (issue 10, bench/RESULTS.md "twenty-seventh pass").
 *
 * Why: SQLite's default allocator is the C library's `malloc`, and its default keeps counts of
 * every allocation under a global mutex. On the appender's thread glibc gave the memory of
 * each commit's page splits back at the end of the commit and took it again in the next one:
 * at 2,000 msgs/s about one `mprotect` and one page fault per ten messages, and `malloc` itself
 * cost more than mimalloc's. Nothing in ChatSync reads SQLite's memory statistics (they serve
 * `sqlite3_memory_used` and the soft heap limit, which it does not set).
 *
 * Both settings must be made before SQLite initializes itself, which the first connection or
 * VFS lookup does: so here, in a constructor that runs before every constructor of default
 * priority (the appender's VFS registers itself in one, `gather_vfs.c`). If SQLite was
 * initialized all the same, `sqlite3_config` refuses (SQLITE_MISUSE) and SQLite keeps its
 * defaults, which work as before.
 */
#include <mimalloc.h>

#include "sqlite3.h"

static void *memory_malloc(int n) { return mi_malloc((size_t)n); }

static void memory_free(void *p) { mi_free(p); }

static void *memory_realloc(void *p, int n) { return mi_realloc(p, (size_t)n); }

/* What `memory_malloc` gave `p`: at least what was asked for (SQLite uses the rest). */
static int memory_size(void *p) { return p == 0 ? 0 : (int)mi_usable_size(p); }

/* What `memory_malloc(n)` would give. */
static int memory_roundup(int n) { return (int)mi_good_size((size_t)n); }

static int memory_init(void *unused) {
  (void)unused;
  return SQLITE_OK;
}

static void memory_shutdown(void *unused) { (void)unused; }

static const sqlite3_mem_methods memory_methods = {
    memory_malloc, memory_free,   memory_realloc, memory_size,
    memory_roundup, memory_init, memory_shutdown, 0,
};

__attribute__((constructor(101))) static void chatsync_sqlite_memory(void) {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  sqlite3_config(SQLITE_CONFIG_MALLOC, &memory_methods);
}
