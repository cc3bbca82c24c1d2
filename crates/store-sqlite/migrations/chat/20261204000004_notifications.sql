-- Each member's notification settings for a conversation, so every device agrees: a level
-- (NULL follows the conversation's default) and a mute that ends by itself.
ALTER TABLE member ADD COLUMN notify_level TEXT CHECK (notify_level IN ('all', 'mentions', 'none'));
ALTER TABLE member ADD COLUMN muted_until INTEGER;
