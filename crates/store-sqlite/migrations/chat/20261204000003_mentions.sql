-- Mentions: the members a message mentions, on the message (JSON array of ids) and one row
-- per mentioned member, for the count of mentions after their read position and the list of
-- messages that mention them. Rows go with their message's deletion.
ALTER TABLE message ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
CREATE TABLE mention (
    user_id          TEXT NOT NULL,
    conversation_id  TEXT NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    message_id       TEXT NOT NULL,
    PRIMARY KEY (user_id, conversation_id, seq)
);
CREATE INDEX mention_message_idx ON mention (message_id);
