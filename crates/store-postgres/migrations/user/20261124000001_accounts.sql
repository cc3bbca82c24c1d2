-- Schema conventions for every migration of this crate:
-- * singular table names; primary keys are `<table>_id`;
-- * ids are `uuid`; times are `timestamptz` (UTC).
-- The user service owns these tables; no other service reads them.

CREATE TABLE account (
    account_id     uuid PRIMARY KEY,
    email          text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    display_name   text NOT NULL,
    avatar_url     text,
    verified_at    timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
-- Prefix search on the name (and on each word of it) and on the address.
CREATE INDEX account_name_prefix_idx ON account (lower(display_name) text_pattern_ops);
CREATE INDEX account_email_prefix_idx ON account (email text_pattern_ops);

-- At most one live code per account; only its HMAC is stored.
CREATE TABLE otp (
    account_id       uuid PRIMARY KEY REFERENCES account (account_id) ON DELETE CASCADE,
    code_hash        text NOT NULL,
    expires_at       timestamptz NOT NULL,
    failed_attempts  integer NOT NULL DEFAULT 0
);

-- Events written with the change that caused them; the relay publishes then deletes them.
CREATE TABLE user_outbox (
    user_outbox_id  bigserial PRIMARY KEY,
    topic           text NOT NULL,
    payload         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- A relay that took the row; another may take it after this time (the first crashed).
    claimed_until   timestamptz
);
