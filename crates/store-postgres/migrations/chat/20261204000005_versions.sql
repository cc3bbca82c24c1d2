-- Change cursors for sync: every edit, delete or reaction bumps its conversation's version
-- and stamps the message with it, in the change's own transaction, holding the conversation's
-- row lock (taken first, before the message's, as appends take it), so versions are gap-free
-- and in commit order per conversation. A client that knows version v gets exactly the
-- messages changed after v (new messages it finds by seq).
ALTER TABLE conversation ADD COLUMN version bigint NOT NULL DEFAULT 0;
ALTER TABLE message ADD COLUMN version bigint NOT NULL DEFAULT 0;
CREATE INDEX message_version_idx ON message (conversation_id, version) WHERE version > 0;
