-- The search index keeps no table of each message's token count (FTS5 `columnsize=0`; issue 10).
--
-- By default FTS5 writes a row into `message_fts_docsize` for every document it indexes: one
-- more statement and B-tree insert per message, about 3,000 instructions, nearly a third of
-- the appender's indexing, and more pages for every index batch and checkpoint. Only ranking
-- functions need those counts, and search orders by recency (`ORDER BY rowid DESC`), not by
-- `rank`; `snippet()` asks for a result's size and FTS5 then counts that one message's tokens
-- itself, for the few hits a search returns.
--
-- The index is made again with the option and rebuilt from `message` (a rebuild on upgrade:
-- it reads every message once). A rebuild indexes queued messages too, so the queue is emptied
-- in the same transaction, or they would be indexed twice (see the `search_queue` migration).
-- The triggers of that migration name the table, not its options, and stay as they are.
DROP TABLE message_fts;
CREATE VIRTUAL TABLE message_fts USING fts5(
    body,
    content = 'message',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2',
    columnsize = 0
);
INSERT INTO message_fts (message_fts) VALUES ('rebuild');
DELETE FROM message_fts_queue;
