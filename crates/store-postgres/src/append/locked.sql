-- The append statement's first half, shared by both of its shapes (plain.sql, full.sql;
-- chat.rs, `append_once`, says why it is one statement). $1: the batch's conversations, in id
-- order; $2: how many messages each gets; $3: the time; $4: the `member_version` each one's
-- members were read at.
--
-- `locked` takes the conversations' rows in id order (the plan's order), so concurrent batches
-- on other nodes cannot deadlock, with the `last_seq` each batch's seqs follow (nobody else can
-- move it while the row is locked) and whether its `member_version` is still the one the
-- members were read at; `current` says whether that holds for every conversation, all of them
-- there. Only then does `reserved` move their `last_seq` on, and the second half insert.
-- Per-conversation values are looked up in the arrays by position and a message's base by a
-- scan of the few locked rows, not by joins: the generic plan made each join a hash table built
-- for every batch (16 % of PostgreSQL's CPU at 6,000 msgs/s; issue 10). `reserved` runs after
-- `locked` has taken every lock, since its condition reads `current`, which reads all of
-- `locked`.
WITH locked AS MATERIALIZED (
    SELECT conversation_id, last_seq, member_version,
           member_version = $4[array_position($1, conversation_id)] AS current
    FROM conversation
    WHERE conversation_id = ANY($1) ORDER BY conversation_id FOR UPDATE
), current AS MATERIALIZED (
    SELECT count(*) = cardinality($1) AND coalesce(bool_and(current), false) AS ok
    FROM locked
), reserved AS (
    UPDATE conversation c
    SET last_seq = c.last_seq + $2[array_position($1, c.conversation_id)],
        last_activity_at = $3
    WHERE c.conversation_id = ANY($1) AND (SELECT ok FROM current)
)
