-- Vault key records (the token is never stored here; its hash lives only in
-- the key's Durable Object) and the audit log of every proxied attempt.

CREATE TABLE keys (
  id TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  vendor TEXT NOT NULL,
  allowed_endpoints TEXT NOT NULL,          -- JSON array of patterns
  allowed_accounts TEXT NOT NULL DEFAULT '[]',
  daily_cap_micros INTEGER NOT NULL,
  created_at INTEGER NOT NULL,              -- epoch ms
  expires_at INTEGER NOT NULL,              -- epoch ms
  revoked_at INTEGER,                       -- epoch ms
  spent_day INTEGER,                        -- UTC day of spent_micros (from the key's object)
  spent_micros INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX keys_by_created ON keys (created_at DESC, id DESC);
CREATE INDEX keys_live ON keys (revoked_at, expires_at);

CREATE TABLE audit (
  id TEXT PRIMARY KEY,                      -- the request id (req_…)
  key_id TEXT,
  label TEXT,
  vendor TEXT,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  decision TEXT NOT NULL CHECK (decision IN ('allowed', 'denied')),
  code TEXT,
  message TEXT,
  upstream_status INTEGER,
  cost_micros INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL               -- epoch ms
);
CREATE INDEX audit_by_created ON audit (created_at DESC, id DESC);
CREATE INDEX audit_by_key ON audit (key_id, created_at DESC, id DESC);
CREATE INDEX audit_by_label ON audit (label, created_at DESC, id DESC);
