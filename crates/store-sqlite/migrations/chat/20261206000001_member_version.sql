-- A count of the changes to who is in which conversation, so that the appender may keep the
-- members of the conversations it appends to between batches, and read them again only after
-- someone joined or left (issue 10: reading them for every conversation of every batch was
-- about a tenth of the appender's own instructions).
--
-- Every insert or delete of a `member` row, and a change of its keys, moves `version` in the
-- same transaction; cascaded deletes fire these triggers too. The appender reads `version`
-- inside its write transaction, so no change can commit between that read and its append.
CREATE TABLE member_version (
    member_version_id  INTEGER PRIMARY KEY CHECK (member_version_id = 1),
    version            INTEGER NOT NULL
);
INSERT INTO member_version (member_version_id, version) VALUES (1, 0);

CREATE TRIGGER member_version_insert AFTER INSERT ON member BEGIN
    UPDATE member_version SET version = version + 1 WHERE member_version_id = 1;
END;
CREATE TRIGGER member_version_delete AFTER DELETE ON member BEGIN
    UPDATE member_version SET version = version + 1 WHERE member_version_id = 1;
END;
CREATE TRIGGER member_version_update AFTER UPDATE OF conversation_id, user_id ON member BEGIN
    UPDATE member_version SET version = version + 1 WHERE member_version_id = 1;
END;
