-- A key's constraints (JSON, as its Durable Object holds them), for listing.

ALTER TABLE keys ADD COLUMN constraints TEXT;
