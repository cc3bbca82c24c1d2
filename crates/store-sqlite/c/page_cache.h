/* What `page_cache.c` tells the rest of the crate's C code. */
#ifndef CHATSYNC_PAGE_CACHE_H
#define CHATSYNC_PAGE_CACHE_H

/* The page-cache truncates skipped so far in this process, or -1 if SQLite kept its own
 * cache. For `PRAGMA chatsync_page_cache` (`gather_vfs.c`) and through it the tests. */
long long chatsync_page_cache_skipped(void);

#endif
