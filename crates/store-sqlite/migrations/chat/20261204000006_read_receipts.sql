-- Per-user chat settings. `read_receipts` = 0: the user's read position is kept for their own
-- devices (unread counts) but shown to no one, and they see no one else's (as in WhatsApp).
-- A user without a row has the defaults.
CREATE TABLE chat_setting (
    user_id        TEXT PRIMARY KEY NOT NULL,
    read_receipts  INTEGER NOT NULL DEFAULT 1
);
