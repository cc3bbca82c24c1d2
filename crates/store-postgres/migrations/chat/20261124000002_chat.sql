-- The chat service's tables (conventions: see the user migration).

-- The chat service's own copy of the profile fields it shows, fed by `user.upserted` events.
CREATE TABLE chat_user (
    chat_user_id  uuid PRIMARY KEY,
    display_name  text NOT NULL,
    avatar_url    text,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE conversation (
    conversation_id   uuid PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('direct', 'group')),
    name              text,
    created_by        uuid NOT NULL,
    created_at        timestamptz NOT NULL,
    -- The newest message's seq. Incremented in the transaction that inserts messages, which
    -- makes seqs gap-free and strictly increasing per conversation.
    last_seq          bigint NOT NULL DEFAULT 0,
    last_activity_at  timestamptz NOT NULL,
    -- Direct conversations only: the two users, smaller id first. Unique, so a pair has one
    -- conversation. NULL for groups (NULLs never collide).
    direct_low        uuid,
    direct_high       uuid,
    UNIQUE (direct_low, direct_high)
);

CREATE TABLE member (
    conversation_id  uuid NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    user_id          uuid NOT NULL,
    role             text NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at        timestamptz NOT NULL,
    -- Receipts: one pointer per member and conversation, not a row per message.
    delivered_seq    bigint NOT NULL DEFAULT 0,
    read_seq         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX member_user_idx ON member (user_id, conversation_id);

CREATE TABLE message (
    message_id       uuid PRIMARY KEY,
    conversation_id  uuid NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    sender_id        uuid NOT NULL,
    -- The sender's idempotency key: a retried send finds the message stored the first time.
    client_id        text NOT NULL,
    body             text NOT NULL,
    attachments      jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL,
    edited_at        timestamptz,
    deleted_at       timestamptz,
    UNIQUE (conversation_id, seq),
    UNIQUE (sender_id, client_id)
);

CREATE TABLE reaction (
    message_id  uuid NOT NULL REFERENCES message (message_id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    emoji       text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
