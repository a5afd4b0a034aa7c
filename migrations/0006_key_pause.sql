-- When a key was paused (its calls refused until resumed), for listing;
-- the key's Durable Object holds the authoritative record.

ALTER TABLE keys ADD COLUMN paused_at INTEGER;
