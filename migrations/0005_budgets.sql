-- Account-wide daily budgets per vendor (and optionally label prefix). The
-- leases themselves live in each budget's Durable Object.

CREATE TABLE budgets (
  id TEXT PRIMARY KEY,                      -- bud_…
  vendor TEXT NOT NULL,
  label_prefix TEXT,
  daily_cap_micros INTEGER NOT NULL,
  created_at INTEGER NOT NULL,              -- epoch ms
  deleted_at INTEGER                        -- epoch ms
);
