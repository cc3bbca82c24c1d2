-- Each conversation counts the changes to its membership (issue 10), so the store can keep
-- the members of the conversations it appends to between batches instead of reading them for
-- every batch: the append statement compares the count it kept with the row it locks and
-- inserts nothing when they differ (`store-postgres/src/members.rs`). A trigger, not
-- the store's code, moves it, so every way a member row changes moves it: a join or a leave,
-- and an `UPDATE` of the ids themselves (not receipts, notification levels or roles, which are
-- updated often and do not change who is a member). The update takes the conversation's row
-- lock, which the append holds while it inserts, so no join or leave commits between the
-- append's check and its insert.
ALTER TABLE conversation ADD COLUMN member_version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION member_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE conversation SET member_version = member_version + 1
        WHERE conversation_id = OLD.conversation_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.conversation_id <> OLD.conversation_id) THEN
        UPDATE conversation SET member_version = member_version + 1
        WHERE conversation_id = NEW.conversation_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER member_version_bump
    AFTER INSERT OR DELETE OR UPDATE OF conversation_id, user_id ON member
    FOR EACH ROW EXECUTE FUNCTION member_version_bump();
