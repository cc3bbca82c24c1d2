/*
 * SQLite's page cache as it comes, except that a truncate which cannot find anything to drop
 * is not passed on (issue 10, bench/RESULTS.md "twenty-eighth pass").
 *
 * Why: after a commit SQLite truncates the connection's page cache to the database's size
 * (`xTruncate`: drop every page whose number is at least the limit). The default cache
 * (`pcache1`) remembers the largest page number it has held since its last truncate and,
 * when that is far above the limit, scans its whole hash table. And a b-tree page split parks
 * a page for a moment at the number of the lock-byte page (the page at 1 GiB, which SQLite
 * never uses; `balance_nonroot` reorders the new pages through it, `pgnoTemp`), so while the
 * database is under 1 GiB nearly every commit that split a page scanned the whole table of the
 * appender's 8 MiB cache: 6 % of the appender's CPU at 2,000 msgs/s.
 *
 * How, from the interface alone: a page enters the cache under a number only through
 * `xFetch` (when asked to create it) or `xRekey` (its new number). So the highest number
 * handed to either since the last truncate bounds every page the cache can hold, and a
 * truncate above that bound has nothing to drop and is skipped. The parking number is left
 * out of the bound while no page is parked there (a rekey away from it clears it), or the
 * bound would stay at 1 GiB. A truncate that is passed on lowers the bound to its limit.
 * Everything else goes straight to the default cache.
 *
 * Set in a constructor that runs before SQLite initializes itself (before every constructor
 * of default priority: the appender's VFS, `gather_vfs.c`, initializes SQLite in one); if
 * SQLite was initialized all the same, `sqlite3_config` refuses (SQLITE_MISUSE) and SQLite
 * keeps its own cache, which works as before.
 */
#include "page_cache.h"

#include "sqlite3.h"

/* SQLite's lock-byte page starts at this offset (`PENDING_BYTE`; only its test harness moves
 * it), and `balance_nonroot` parks pages at its number, `PENDING_BYTE / page size + 1`. */
#define LOCK_BYTE_OFFSET 0x40000000u

typedef struct TrimCache TrimCache;
struct TrimCache {
  sqlite3_pcache *real;  /* the default cache's */
  unsigned int bound;    /* no page in the cache has a higher number */
  unsigned int parking;  /* the lock-byte page's number for this page size */
  int parked;            /* a page is at `parking` now */
};

/* The default cache's methods, saved before ours replace them. */
static sqlite3_pcache_methods2 real_cache;

/* Whether SQLite took these methods, and how many truncates they skipped since. */
static int installed;
static unsigned long long skipped;

long long chatsync_page_cache_skipped(void) {
  return installed ? (long long)__atomic_load_n(&skipped, __ATOMIC_RELAXED) : -1;
}

static void note_number(TrimCache *c, unsigned int number) {
  if (number == c->parking) {
    c->parked = 1;
  } else if (number > c->bound) {
    c->bound = number;
  }
}

static int trim_init(void *arg) { return real_cache.xInit(arg); }

static void trim_shutdown(void *arg) { real_cache.xShutdown(arg); }

static sqlite3_pcache *trim_create(int page_size, int extra, int purgeable) {
  TrimCache *c = sqlite3_malloc((int)sizeof(TrimCache));
  if (c == 0) return 0;
  c->real = real_cache.xCreate(page_size, extra, purgeable);
  if (c->real == 0) {
    sqlite3_free(c);
    return 0;
  }
  c->bound = 0;
  c->parking = page_size > 0 ? LOCK_BYTE_OFFSET / (unsigned int)page_size + 1 : 0;
  c->parked = 0;
  return (sqlite3_pcache *)c;
}

static void trim_cachesize(sqlite3_pcache *p, int pages) {
  real_cache.xCachesize(((TrimCache *)p)->real, pages);
}

static int trim_pagecount(sqlite3_pcache *p) {
  return real_cache.xPagecount(((TrimCache *)p)->real);
}

static sqlite3_pcache_page *trim_fetch(sqlite3_pcache *p, unsigned int number, int create) {
  TrimCache *c = (TrimCache *)p;
  if (create != 0) note_number(c, number);
  return real_cache.xFetch(c->real, number, create);
}

static void trim_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard) {
  real_cache.xUnpin(((TrimCache *)p)->real, page, discard);
}

static void trim_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned int from,
                       unsigned int to) {
  TrimCache *c = (TrimCache *)p;
  real_cache.xRekey(c->real, page, from, to);
  if (from == c->parking) c->parked = 0;
  note_number(c, to);
}

static void trim_truncate(sqlite3_pcache *p, unsigned int limit) {
  TrimCache *c = (TrimCache *)p;
  int parked_above = c->parked && c->parking >= limit;
  if (c->bound < limit && !parked_above) {
    __atomic_fetch_add(&skipped, 1, __ATOMIC_RELAXED);
    return;
  }
  real_cache.xTruncate(c->real, limit);
  if (limit == 0) {
    c->bound = 0;
  } else if (c->bound >= limit) {
    c->bound = limit - 1;
  }
  if (parked_above) c->parked = 0;
}

static void trim_destroy(sqlite3_pcache *p) {
  TrimCache *c = (TrimCache *)p;
  real_cache.xDestroy(c->real);
  sqlite3_free(c);
}

static void trim_shrink(sqlite3_pcache *p) { real_cache.xShrink(((TrimCache *)p)->real); }

__attribute__((constructor(101))) static void chatsync_page_cache(void) {
  static sqlite3_pcache_methods2 methods;
  if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &real_cache) != SQLITE_OK) return;
  if (real_cache.iVersion < 1 || real_cache.xInit == 0 || real_cache.xCreate == 0) return;
  methods.iVersion = 1;
  methods.pArg = real_cache.pArg;
  methods.xInit = trim_init;
  methods.xShutdown = trim_shutdown;
  methods.xCreate = trim_create;
  methods.xCachesize = trim_cachesize;
  methods.xPagecount = trim_pagecount;
  methods.xFetch = trim_fetch;
  methods.xUnpin = trim_unpin;
  methods.xRekey = trim_rekey;
  methods.xTruncate = trim_truncate;
  methods.xDestroy = trim_destroy;
  methods.xShrink = trim_shrink;
  installed = sqlite3_config(SQLITE_CONFIG_PCACHE2, &methods) == SQLITE_OK;
}
