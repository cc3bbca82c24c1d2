-- Replies: the message of the same conversation a message answers (checked by the chat
-- service when it is sent). No foreign key: messages are never removed one by one (a delete
-- clears the body and keeps the row), only with their conversation.
ALTER TABLE message ADD COLUMN reply_to uuid;
