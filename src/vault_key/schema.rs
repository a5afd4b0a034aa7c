//! The key's SQLite tables, and upgrading an object made by an older
//! release.

use super::*;

/// Columns added since the first release: (table, name, definition).
/// An idempotency key recorded before `at` existed counts as expired.
pub(super) const COLUMNS_ADDED: &[(&str, &str, &str)] = &[
    ("outbox", "trace_id", "trace_id TEXT"),
    ("outbox", "run_id", "run_id TEXT"),
    ("idempotency", "at", "at INTEGER NOT NULL DEFAULT 0"),
    ("outbox", "via", "via TEXT"),
];

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS day_spend (
  day INTEGER PRIMARY KEY,
  held INTEGER NOT NULL DEFAULT 0,
  kept INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reservations (
  request_id TEXT PRIMARY KEY,
  day INTEGER NOT NULL,
  cost INTEGER NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  -- The runtime's clock when reserved (created_at may be a test clock).
  held_at INTEGER NOT NULL,
  charge_kind TEXT NOT NULL,
  object TEXT,
  priced_minor INTEGER,
  priced_usd INTEGER
);
CREATE INDEX IF NOT EXISTS reservations_held ON reservations (state, held_at);
CREATE TABLE IF NOT EXISTS idempotency (
  idem_key TEXT PRIMARY KEY,
  request_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  -- When the first attempt was made: vendors forget keys after a day.
  at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS priced_objects (
  object TEXT PRIMARY KEY,
  minor INTEGER NOT NULL,
  usd INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  request_id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  decision TEXT NOT NULL,
  code TEXT,
  message TEXT,
  upstream_status INTEGER,
  cost INTEGER NOT NULL,
  settled INTEGER NOT NULL,
  trace_id TEXT,
  run_id TEXT,
  via TEXT
);
CREATE TABLE IF NOT EXISTS leases (
  budget TEXT NOT NULL,
  day INTEGER NOT NULL,
  granted INTEGER NOT NULL DEFAULT 0,
  used INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (budget, day)
);
CREATE TABLE IF NOT EXISTS counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recent_calls (
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS faults (
  name TEXT PRIMARY KEY
);
-- Approvals (ledger::approval), whole as JSON in `body`; `version` moves on
-- every change and `synced` is the version D1 has.
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL,
  requested_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  body TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  synced INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS approvals_by_request ON approvals (fingerprint, status);
-- Events for the key's webhooks, sent to the queue with the audit flush.
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,
  body TEXT NOT NULL
);
-- Spend thresholds already told, per day.
CREATE TABLE IF NOT EXISTS alerts (
  day INTEGER NOT NULL,
  percent INTEGER NOT NULL,
  PRIMARY KEY (day, percent)
);
CREATE TABLE IF NOT EXISTS recent_denials (
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS flush_state (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  failures INTEGER NOT NULL,
  last_error TEXT
);
";

impl VaultKey {
    /// Adds the columns later releases introduced to an object created
    /// before them (`SCHEMA` has them for new objects).
    pub(super) fn upgrade_schema(&self) -> Result<()> {
        // New tables (every statement is IF NOT EXISTS).
        self.sql().exec(SCHEMA, None)?;
        for (table, name, definition) in COLUMNS_ADDED {
            let columns: Vec<Row<String>> = self.query(
                &format!("SELECT name AS v FROM pragma_table_info('{table}')"),
                vec![],
            )?;
            if !columns.iter().any(|c| c.v == *name) {
                self.run(
                    &format!("ALTER TABLE {table} ADD COLUMN {definition}"),
                    vec![],
                )?;
            }
        }
        Ok(())
    }
}
