-- A registration no longer overwrites an unverified account (issue 9, SPEC §8: a registration
-- can never change who can log in to an account that an earlier code verifies). Each
-- registration request is a row of its own, holding the credentials submitted with it and the
-- code mailed for them; verify activates exactly the row whose code was presented. The
-- account row keeps no credentials until then.
CREATE TABLE registration (
    registration_id  TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    password_hash    TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    -- HMAC of the current code, keyed by the install secret and bound to registration_id.
    code_hash        TEXT NOT NULL,
    code_expires_at  INTEGER NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    -- The registration is forgotten after this (its code can no longer be resent).
    expires_at       INTEGER NOT NULL
);
CREATE INDEX registration_account_idx ON registration (account_id, created_at);

-- Carry every pending account over as one registration with its current credentials. The
-- registration takes the account's id, so a code mailed before the upgrade (its HMAC was
-- bound to the account id) still verifies; an account without a live code gets a code hash
-- that matches nothing and can ask for a new one.
INSERT INTO registration (registration_id, account_id, password_hash, display_name, code_hash,
                          code_expires_at, failed_attempts, created_at, expires_at)
SELECT a.account_id, a.account_id, a.password_hash, a.display_name, COALESCE(o.code_hash, ''),
       COALESCE(o.expires_at, 0), COALESCE(o.failed_attempts, 0), a.updated_at,
       CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) + 86400000
FROM account a LEFT JOIN otp o ON o.account_id = a.account_id
WHERE a.verified_at IS NULL;

UPDATE account SET password_hash = '', display_name = '', search_name = ''
WHERE verified_at IS NULL;

DROP TABLE otp;
