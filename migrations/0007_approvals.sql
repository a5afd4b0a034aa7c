-- Approvals, copied from each key's Durable Object (which decides them) so
-- they can be listed across keys. `body` is the approval as JSON;
-- `created_at` is when it was requested.

CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  label TEXT NOT NULL,
  vendor TEXT NOT NULL,
  issuer_id TEXT,
  status TEXT NOT NULL,
  cost_micros INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX approvals_by_created ON approvals (created_at DESC, id DESC);
