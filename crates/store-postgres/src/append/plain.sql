-- The append statement's second half for a batch without attachments or mentions (nearly
-- every batch): the messages only, their `attachments` and `mentions` left to the columns'
-- defaults (none). $5-$11: each message's id, conversation, place in its conversation's share
-- of the batch (1, 2, ...), sender, client id, body, and the message it replies to. The answer
-- is one row per locked conversation.
, inserted AS (
    INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id, body, reply_to,
                         created_at)
    SELECT t.id, t.cid, (SELECT l.last_seq FROM locked l WHERE l.conversation_id = t.cid) + t.k,
           t.sender, t.client_id, t.body, t.reply_to, $3
    FROM UNNEST($5::uuid[], $6::uuid[], $7::bigint[], $8::uuid[], $9::text[], $10::text[],
                $11::uuid[])
         AS t(id, cid, k, sender, client_id, body, reply_to)
    WHERE (SELECT ok FROM current)
)
SELECT conversation_id, member_version, last_seq, (SELECT ok FROM current) AS ok FROM locked
