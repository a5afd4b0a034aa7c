-- Issuer tokens (their token hashes live only in each issuer's Durable
-- Object) and which issuer issued each key.

CREATE TABLE issuers (
  id TEXT PRIMARY KEY,                      -- iss_…
  label TEXT NOT NULL,
  created_at INTEGER NOT NULL,              -- epoch ms
  expires_at INTEGER,                       -- epoch ms, or never
  revoked_at INTEGER,                       -- epoch ms
  json TEXT NOT NULL                        -- the ceilings
);
CREATE INDEX issuers_by_created ON issuers (created_at DESC, id DESC);

ALTER TABLE keys ADD COLUMN issuer_id TEXT;
CREATE INDEX keys_by_issuer ON keys (issuer_id, created_at DESC, id DESC);
