-- Link previews: found by the chat service after a message is stored (JSON: url, title,
-- description, site_name, image attachment). `preview_removed`: the sender took the preview
-- away; none is set again. The image is a media file attached to the message
-- (media_attachment), so who may read it follows the conversation.
ALTER TABLE message ADD COLUMN preview TEXT;
ALTER TABLE message ADD COLUMN preview_removed INTEGER NOT NULL DEFAULT 0;
