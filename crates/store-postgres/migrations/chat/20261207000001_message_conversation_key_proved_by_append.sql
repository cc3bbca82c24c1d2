-- A message's conversation is proved by the statement that inserts it (issue 10), as on SQLite
-- since the twenty-first pass: `append_once` locks the batch's conversations' rows, moves their
-- `last_seq` on and inserts only messages joined to a row it updated, so a message whose
-- conversation has no row is never inserted; and a batch for a conversation without members
-- (so without a row: `member` keeps its foreign key) is refused before it. The foreign key
-- checked the same again for every message, at the end of the statement: a query of its own
-- through SPI, which locks the conversation's row (KEY SHARE) the statement holds already
-- (`AfterTriggerEndQuery`, 8.5 % of the append's CPU in PostgreSQL: perf, batches of eight).
-- Conversations are never deleted, so its ON DELETE CASCADE had nothing to do.
ALTER TABLE message DROP CONSTRAINT message_conversation_id_fkey;
