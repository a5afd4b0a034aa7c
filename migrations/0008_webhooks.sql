-- Webhook endpoints and every delivery attempt to them. An endpoint's
-- signing secret is derived from the admin token and its id, never stored.

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  events TEXT NOT NULL,                     -- JSON array of event types
  label_prefix TEXT,
  created_at INTEGER NOT NULL,
  deleted_at INTEGER
);

CREATE TABLE webhook_deliveries (
  webhook_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('delivered', 'failed', 'dead')),
  response_status INTEGER,
  error TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (webhook_id, event_id, attempt)
);
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (webhook_id, at DESC);
