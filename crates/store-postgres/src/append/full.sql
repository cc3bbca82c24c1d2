-- The append statement's second half for a batch with attachments or mentions: as plain.sql,
-- and $12: each message's attachments (JSON), $13: the members it mentions (a JSON array each:
-- arrays of arrays do not unnest row by row); $14-$16: one row per attachment (media id,
-- conversation, message), which `attached` links and `marked` marks attached. The answer is one
-- row per locked conversation.
, inserted AS (
    INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id, body, reply_to,
                         created_at, attachments, mentions)
    SELECT t.id, t.cid, (SELECT l.last_seq FROM locked l WHERE l.conversation_id = t.cid) + t.k,
           t.sender, t.client_id, t.body, t.reply_to, $3, t.attachments,
           ARRAY(SELECT jsonb_array_elements_text(t.mentioned)::uuid)
    FROM UNNEST($5::uuid[], $6::uuid[], $7::bigint[], $8::uuid[], $9::text[], $10::text[],
                $11::uuid[], $12::jsonb[], $13::jsonb[])
         AS t(id, cid, k, sender, client_id, body, reply_to, attachments, mentioned)
    WHERE (SELECT ok FROM current)
    RETURNING message_id, conversation_id, seq, mentions
), mentioned AS (
    INSERT INTO mention (user_id, conversation_id, seq, message_id)
    SELECT u, i.conversation_id, i.seq, i.message_id
    FROM inserted i CROSS JOIN UNNEST(i.mentions) AS u
), attached AS (
    INSERT INTO media_attachment (media_id, conversation_id, message_id)
    SELECT * FROM UNNEST($14::uuid[], $15::uuid[], $16::uuid[])
    WHERE EXISTS (SELECT 1 FROM inserted)
    ON CONFLICT DO NOTHING
), marked AS (
    UPDATE media SET attached_at = COALESCE(attached_at, $3)
    WHERE media_id = ANY($14) AND EXISTS (SELECT 1 FROM inserted)
)
SELECT conversation_id, member_version, last_seq, (SELECT ok FROM current) AS ok FROM locked
