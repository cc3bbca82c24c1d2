-- Message search is indexed in batches, not in every append's transaction (issue 10).
--
-- An FTS5 index written one small transaction at a time writes a new segment per commit and
-- keeps merging them: at 2,000 msgs/s that doubled the append's cost. Now an insert only
-- queues the message's rowid here, in the same transaction as the message (so a queued
-- message survives a crash like the message itself), and the appender moves the queue into
-- `message_fts` in one transaction once it is long enough or the node is idle; a search
-- empties the queue first, so it never misses a committed message.
--
-- A queued message is not in the index yet: an edit or a delete of it changes nothing there
-- (the indexer reads the body as it is then); a delete takes it off the queue.
-- A `rebuild` of message_fts (needed after a VACUUM, see the search migration) indexes every
-- message, queued or not: empty this queue in the same transaction, or the queued ones would
-- be indexed twice.
CREATE TABLE message_fts_queue (
    message_rowid  INTEGER PRIMARY KEY
);

DROP TRIGGER message_fts_insert;
CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN
    INSERT INTO message_fts_queue (message_rowid) VALUES (new.rowid);
END;

DROP TRIGGER message_fts_update;
CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message
WHEN NOT EXISTS (SELECT 1 FROM message_fts_queue WHERE message_rowid = old.rowid) BEGIN
    INSERT INTO message_fts (message_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO message_fts (rowid, body) VALUES (new.rowid, new.body);
END;

DROP TRIGGER message_fts_delete;
CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
    INSERT INTO message_fts (message_fts, rowid, body)
        SELECT 'delete', old.rowid, old.body
        WHERE NOT EXISTS (SELECT 1 FROM message_fts_queue WHERE message_rowid = old.rowid);
    DELETE FROM message_fts_queue WHERE message_rowid = old.rowid;
END;
