-- Message search (SQLite FTS5): an external-content index over message.body, keyed by the
-- message's rowid, kept in step by triggers in the same transaction as every insert, edit and
-- delete. A deleted message's body is '' and so matches nothing.
-- Tokens: Unicode words without diacritics, English stemming (porter), so "deploying" finds
-- "deploy". Never VACUUM this database without `INSERT INTO message_fts(message_fts)
-- VALUES ('rebuild')` after it: VACUUM may renumber the rowids of `message`.
CREATE VIRTUAL TABLE message_fts USING fts5(
    body,
    content = 'message',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO message_fts (message_fts) VALUES ('rebuild');

CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN
    INSERT INTO message_fts (rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER message_fts_update AFTER UPDATE OF body ON message BEGIN
    INSERT INTO message_fts (message_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO message_fts (rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
    INSERT INTO message_fts (message_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;

