-- Message search (PostgreSQL full text): a generated tsvector of the body with English
-- stemming, so "deploying" finds "deploy", and a GIN index over it. Generated columns are
-- computed in the statement that writes the row: edits are searchable at once, and a deleted
-- message's body is '' and so matches nothing.
ALTER TABLE message
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED;
CREATE INDEX message_search_idx ON message USING gin (search);

