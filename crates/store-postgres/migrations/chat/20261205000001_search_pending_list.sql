-- The search index takes new messages into a pending list (GIN's fastupdate) and merges the
-- list into the index when it outgrows `gin_pending_list_limit` (4 MB by default), inside
-- whichever insert crosses the limit. With 4 MB that merge stalled the message append for
-- tens of milliseconds every few seconds under load, and every message waiting behind it
-- (issue 10: the sustainable rate with PostgreSQL on the server's core stopped at
-- 2,960 msgs/s, p99 93-107 ms at 3,100-3,380 with p50 5 ms). At 256 kB the merges are small
-- and frequent: 7,810 msgs/s sustained in the same bench, the same CPU per message.
ALTER INDEX message_search_idx SET (gin_pending_list_limit = 256);
