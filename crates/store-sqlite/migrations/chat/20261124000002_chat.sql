-- The chat service's tables (conventions: see the user migration).

-- The chat service's own copy of the profile fields it shows, fed by `user.upserted` events.
CREATE TABLE chat_user (
    chat_user_id  TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL,
    avatar_url    TEXT,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE conversation (
    conversation_id   TEXT PRIMARY KEY NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    name              TEXT,
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    -- The newest message's seq. Incremented in the transaction that inserts messages, which
    -- makes seqs gap-free and strictly increasing per conversation.
    last_seq          INTEGER NOT NULL DEFAULT 0,
    last_activity_at  INTEGER NOT NULL,
    -- Direct conversations only: the two users, smaller id first. Unique, so a pair has one
    -- conversation. NULL for groups (NULLs never collide).
    direct_low        TEXT,
    direct_high       TEXT,
    UNIQUE (direct_low, direct_high)
);

CREATE TABLE member (
    conversation_id  TEXT NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at        INTEGER NOT NULL,
    -- Receipts: one pointer per member and conversation, not a row per message.
    delivered_seq    INTEGER NOT NULL DEFAULT 0,
    read_seq         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX member_user_idx ON member (user_id, conversation_id);

CREATE TABLE message (
    message_id       TEXT PRIMARY KEY NOT NULL,
    conversation_id  TEXT NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    sender_id        TEXT NOT NULL,
    -- The sender's idempotency key: a retried send finds the message stored the first time.
    client_id        TEXT NOT NULL,
    body             TEXT NOT NULL,
    attachments      TEXT NOT NULL DEFAULT '[]', -- JSON array of Attachment
    created_at       INTEGER NOT NULL,
    edited_at        INTEGER,
    deleted_at       INTEGER,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_id, client_id)
);

CREATE TABLE reaction (
    message_id  TEXT NOT NULL REFERENCES message (message_id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    emoji       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
