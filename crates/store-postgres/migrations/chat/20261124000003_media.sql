-- Media records (the bytes live in object storage) and which messages attach them.

CREATE TABLE media (
    media_id        uuid PRIMARY KEY,
    uploader_id     uuid NOT NULL,
    content_type    text NOT NULL, -- detected from the bytes
    size            bigint NOT NULL,
    name            text NOT NULL, -- sanitised file name
    width           integer,
    height          integer,
    thumbnail_type  text,          -- NULL: no thumbnail
    public          boolean NOT NULL DEFAULT false, -- avatars: readable without a signature
    created_at      timestamptz NOT NULL,
    attached_at     timestamptz    -- first attached to a message; NULL uploads get cleaned up
);
CREATE INDEX media_unattached_idx ON media (created_at) WHERE attached_at IS NULL;

-- Written in the message's transaction; membership of `conversation_id` grants read access.
CREATE TABLE media_attachment (
    media_id         uuid NOT NULL REFERENCES media (media_id) ON DELETE CASCADE,
    conversation_id  uuid NOT NULL REFERENCES conversation (conversation_id) ON DELETE CASCADE,
    message_id       uuid NOT NULL REFERENCES message (message_id) ON DELETE CASCADE,
    PRIMARY KEY (media_id, message_id)
);
CREATE INDEX media_attachment_message_idx ON media_attachment (message_id);
