-- Schema conventions for every migration of this crate:
-- * singular table names; primary keys are `<table>_id`;
-- * ids are UUIDs as hyphenated TEXT, so they can travel in JSON arrays (`json_each`) and
--   read well in the sqlite3 shell;
-- * times are INTEGER milliseconds since the Unix epoch, UTC. (sqlx writes chrono times as
--   TEXT with a variable number of fraction digits, which does not sort as text.)
-- The user service owns these tables; no other service reads them.

CREATE TABLE account (
    account_id     TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    -- Unicode-lowered copy for prefix search: SQLite's lower() only knows ASCII.
    search_name    TEXT NOT NULL,
    avatar_url     TEXT,
    verified_at    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX account_search_name_idx ON account (search_name);

-- At most one live code per account; only its HMAC is stored.
CREATE TABLE otp (
    account_id       TEXT PRIMARY KEY NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    code_hash        TEXT NOT NULL,
    expires_at       INTEGER NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0
);

-- Events written with the change that caused them; the relay publishes then deletes them.
CREATE TABLE user_outbox (
    user_outbox_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    topic           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    -- A relay that took the row; another may take it after this time (the first crashed).
    claimed_until   INTEGER
);
