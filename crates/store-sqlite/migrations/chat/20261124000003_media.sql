-- Media records (the bytes live in object storage) and which messages attach them.

CREATE TABLE media (
    media_id        TEXT PRIMARY KEY NOT NULL,
    uploader_id     TEXT NOT NULL,
    content_type    TEXT NOT NULL, -- detected from the bytes
    size            INTEGER NOT NULL,
    name            TEXT NOT NULL, -- sanitised file name
    width           INTEGER,
    height          INTEGER,
    thumbnail_type  TEXT,          -- NULL: no thumbnail
    public          INTEGER NOT NULL DEFAULT 0, -- avatars: readable without a signature
    created_at      INTEGER NOT NULL,
    attached_at     INTEGER        -- first attached to a message; NULL uploads get cleaned up
);
CREATE INDEX media_unattached_idx ON media (created_at) WHERE attached_at IS NULL;

-- Written in the message's transaction; membership of `conversation_id` grants read access.
CREATE TABLE media_attachment (
    media_id         TEXT NOT NULL REFERENCES media (media_id) ON DELETE CASCADE,
    conversation_id  TEXT NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    message_id       TEXT NOT NULL REFERENCES message (message_id) ON DELETE CASCADE,
    PRIMARY KEY (media_id, message_id)
);
CREATE INDEX media_attachment_message_idx ON media_attachment (message_id);
