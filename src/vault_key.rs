//! `VaultKey`: one Durable Object per vault key. It is the only code that
//! changes a key's spend. Every decision (authorize, settle, revoke) runs as
//! one synchronous block of SQLite statements with no `await` inside, so the
//! object's single thread makes it atomic: concurrent calls on one key are
//! decided strictly one after another and can never overspend the cap.
//!
//! Each attempt's audit row is written in the same block as the decision
//! (an outbox in the object's own storage) and flushed to D1 by the object's
//! alarm, which retries until D1 has it: a D1 outage or a Worker cut off
//! mid-call loses no row.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::*;

use crate::budget::{BudgetClient, LeaseAsk, LeaseReturn};
use crate::core::endpoint::Allowlist;
use crate::core::money::Money;
use crate::error::{ApiError, ErrorCode};
pub use crate::ledger::decide::Settled;
use crate::ledger::decide::{
    self, charge_kind, Ending, Held, Hold, KeyStore, PriorAttempt, ReservationState, Verdict,
};
use crate::ledger::{ledger_day, Attempt, Decision, KeyRecord, PricedObject, Settlement};
use crate::objects::{load_record, save_record, ObjectStub, RECORD_TABLE};
use crate::store;

/// A reservation not settled by then is resolved by the alarm. The Worker
/// gives up on the vendor well before (`KEYBRAKE_UPSTREAM_TIMEOUT_MS`).
/// `KEYBRAKE_SETTLE_DEADLINE_MS` overrides it (at least one second).
pub const SETTLE_DEADLINE_MS: i64 = 120_000;
/// How long a revocation waits for calls in flight, beyond the upstream
/// timeout after which the Worker stops waiting for the vendor.
const REVOKE_DRAIN_MARGIN_MS: i64 = 5_000;
/// How long finished audit rows wait before the alarm sends them to D1: a
/// burst of calls becomes one batched write instead of one write each.
const FLUSH_DELAY_MS: i64 = 200;
/// A budget lease covers this many calls of the size that asked for it.
const LEASE_CALLS: u64 = 16;
/// A key idle this long hands its unspent leases back
/// (`KEYBRAKE_LEASE_IDLE_MS` overrides it).
const LEASE_IDLE_MS: i64 = 10_000;
/// How long a decision waits where the rules ask it to: a step on an
/// object whose create is in flight, an idempotent retry of an attempt the
/// vendor has not answered yet, a lease another call is fetching. After
/// that the rules decide without waiting (unknown object refused, the
/// retry charged as a call of its own).
const PATIENCE_MS: i64 = 5_000;
/// Audit rows sent to D1 per batch.
const FLUSH_BATCH: usize = 50;
/// Backoff bounds for retrying D1 flushes.
const RETRY_MIN_MS: i64 = 1_000;
const RETRY_MAX_MS: i64 = 60_000;

/// Columns added since the first release: (table, name, definition).
/// An idempotency key recorded before `at` existed counts as expired.
const COLUMNS_ADDED: &[(&str, &str, &str)] = &[
    ("outbox", "trace_id", "trace_id TEXT"),
    ("outbox", "run_id", "run_id TEXT"),
    ("idempotency", "at", "at INTEGER NOT NULL DEFAULT 0"),
];

const SCHEMA: &str = "
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
  run_id TEXT
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
CREATE TABLE IF NOT EXISTS flush_state (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  failures INTEGER NOT NULL,
  last_error TEXT
);
";

#[derive(Serialize, Deserialize)]
struct AddBudget {
    add: String,
}

/// The object's answer to `/authorize`: the decision, and the key's label
/// for the Worker's log line (none for an unknown key).
#[derive(Debug, Serialize, Deserialize)]
pub struct Authorized {
    #[serde(flatten)]
    pub decision: Decision,
    #[serde(default)]
    pub label: Option<String>,
}

/// The key's state as the management API shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyState {
    pub record: KeyRecord,
    pub spent_today: Money,
    pub held_today: Money,
    pub remaining_today: Money,
    /// Audit rows recorded here and not yet in D1.
    pub audit_pending: u64,
}

#[durable_object]
pub struct VaultKey {
    state: State,
    env: Env,
    /// The object's SQLite, fetched once: every decision runs several statements.
    sql: SqlStorage,
    /// The record and its parsed allowlist, loaded once per instance.
    cached: RefCell<Option<Rc<Loaded>>>,
    /// When the next alarm is known to fire, to avoid a storage call per request.
    alarm_at: Cell<Option<i64>>,
    /// Whether this instance has looked for work left by a previous one.
    recovered: Cell<bool>,
    /// Test-only fault switches are consulted only under `KEYBRAKE_TEST_HOOKS`.
    test_hooks: bool,
    /// `KEYBRAKE_SETTLE_DEADLINE_MS`, read once.
    settle_deadline_ms: i64,
    /// The last ledger day touched: (day, held, kept).
    today: Cell<Option<(i64, Money, Money)>>,
    /// Budgets a lease request is in flight to.
    leasing: RefCell<Vec<String>>,
    /// When this key last spent under a budget (runtime clock).
    last_call: Cell<i64>,
    lease_idle_ms: i64,
}

/// A key's record with its allowlist parsed, shared rather than cloned.
struct Loaded {
    record: KeyRecord,
    allowlist: Allowlist,
}

#[derive(Deserialize)]
struct Totals {
    held: u64,
    kept: u64,
}

impl Totals {
    fn money(&self) -> (Money, Money) {
        (Money::from_micros(self.held), Money::from_micros(self.kept))
    }
}

#[derive(Deserialize)]
struct Row<T> {
    v: T,
}

impl VaultKey {
    fn sql(&self) -> &SqlStorage {
        &self.sql
    }

    fn query<T: DeserializeOwned>(
        &self,
        query: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>> {
        self.sql().exec(query, args)?.to_array()
    }

    fn run(&self, query: &str, args: Vec<SqlStorageValue>) -> Result<()> {
        self.sql().exec(query, args).map(|_| ())
    }

    /// The key's record, or `None` for an id that was never issued. An
    /// unknown id writes nothing: forged well-formed tokens cannot make
    /// objects grow storage.
    fn record(&self) -> Result<Option<Rc<Loaded>>> {
        if let Some(cached) = self.cached.borrow().as_ref() {
            return Ok(Some(cached.clone()));
        }
        let Some(record) = load_record::<KeyRecord>(self.sql())? else {
            return Ok(None);
        };
        let allowlist = Allowlist::parse(&record.allowed_endpoints).map_err(Error::RustError)?;
        let loaded = Rc::new(Loaded { record, allowlist });
        *self.cached.borrow_mut() = Some(loaded.clone());
        Ok(Some(loaded))
    }

    fn save_record(&self, record: &KeyRecord) -> Result<()> {
        save_record(self.sql(), record)?;
        let allowlist = Allowlist::parse(&record.allowed_endpoints).map_err(Error::RustError)?;
        *self.cached.borrow_mut() = Some(Rc::new(Loaded {
            record: record.clone(),
            allowlist,
        }));
        Ok(())
    }

    /// Leases at least `shortfall` (and up to `LEASE_CALLS` times it) from
    /// a budget. `Ok(false)`: the budget is spent for today.
    async fn lease_more(&self, budget: &str, shortfall: Money, day: i64) -> Result<bool> {
        let Some(loaded) = self.record()? else {
            return Ok(false);
        };
        let ask = LeaseAsk {
            key_id: loaded.record.id.clone(),
            day,
            shortfall,
            want: Money::from_micros(shortfall.micros().saturating_mul(LEASE_CALLS)),
        };
        match BudgetClient::for_budget(&self.env, budget)?
            .lease(&ask)
            .await?
        {
            Some(leased) if !leased.deleted => {
                if leased.granted < shortfall {
                    return Ok(false);
                }
                self.run(
                    "INSERT INTO leases (budget, day, granted, used) VALUES (?1, ?2, ?3, 0)
                     ON CONFLICT (budget, day) DO UPDATE SET granted = granted + ?3",
                    vec![
                        budget.into(),
                        day.into(),
                        (leased.granted.micros() as i64).into(),
                    ],
                )?;
                Ok(true)
            }
            // Deleted (or never created): it binds this key no more.
            _ => {
                let mut record = loaded.record.clone();
                record.budgets.retain(|b| b != budget);
                self.save_record(&record)?;
                Ok(true)
            }
        }
    }

    /// Hands back what this key leased and has not spent, so an idle or
    /// revoked key strands nothing. The lease shrinks before the budget is
    /// told: a failed return strands the amount, it never double-counts it.
    async fn return_leases(&self) -> Result<()> {
        let Some(loaded) = self.record()? else {
            return Ok(());
        };
        #[derive(Deserialize)]
        struct Spare {
            budget: String,
            day: i64,
            spare: u64,
        }
        let spare: Vec<Spare> = self.query(
            "SELECT budget, day, granted - used AS spare FROM leases WHERE granted > used",
            vec![],
        )?;
        self.run(
            "UPDATE leases SET granted = used WHERE granted > used",
            vec![],
        )?;
        for s in spare {
            let back = LeaseReturn {
                key_id: loaded.record.id.clone(),
                day: s.day,
                amount: Money::from_micros(s.spare),
            };
            if let Err(e) = BudgetClient::for_budget(&self.env, &s.budget)?
                .give_back(&back)
                .await
            {
                console_error!("returning a lease to {} failed: {e}", s.budget);
            }
        }
        Ok(())
    }

    /// Decides an attempt (`ledger::decide`), waiting briefly where the
    /// rules ask to: for a create in flight, for an idempotent first
    /// attempt's answer, or for more lease from an account budget.
    async fn decide(&self, attempt: &Attempt) -> Result<Decision> {
        let started = Date::now().as_millis() as i64;
        loop {
            // Read again on every pass: a lease request may have unbound a
            // deleted budget, a revocation may have landed while waiting.
            let Some(loaded) = self.record()? else {
                return Ok(Decision::Denied {
                    error: ApiError::new(ErrorCode::InvalidKey, "this vault key is not valid"),
                    audited: false,
                });
            };
            let (record, allowlist) = (&loaded.record, &loaded.allowlist);
            let window =
                crate::vendors::vendor_for(&record.vendor).map_or(0, |v| v.idempotency_window_ms());
            let waited = Date::now().as_millis() as i64 - started >= PATIENCE_MS;
            match decide::decide(self, record, allowlist, attempt, waited, window)? {
                Verdict::Decided(decision) => return Ok(decision),
                Verdict::AwaitPrior | Verdict::AwaitCreates => {
                    Delay::from(std::time::Duration::from_millis(2)).await;
                }
                // One lease request per budget at a time; the others wait
                // for it and ask again.
                Verdict::NeedLease { budget, .. }
                    if self.leasing.borrow().contains(&budget) && !waited =>
                {
                    Delay::from(std::time::Duration::from_millis(2)).await;
                }
                Verdict::NeedLease { budget, shortfall } => {
                    self.leasing.borrow_mut().push(budget.clone());
                    let leased = self
                        .lease_more(&budget, shortfall, ledger_day(attempt.now))
                        .await;
                    self.leasing.borrow_mut().retain(|b| *b != budget);
                    let error = match leased {
                        Ok(true) => continue,
                        Ok(false) => budget_spent(&budget),
                        Err(e) => {
                            console_error!("budget {budget} unreachable: {e}");
                            ApiError::internal(format!(
                                "the account budget {budget} could not be reached; the call was not sent"
                            ))
                        }
                    };
                    self.audit(attempt, Some(&error), Money::ZERO, true)?;
                    return Ok(Decision::Denied {
                        error,
                        audited: true,
                    });
                }
            }
        }
    }

    /// Settles a call (`ledger::settle`) against the key's daily cap.
    fn settle(&self, settlement: &Settlement) -> Result<Settled> {
        let cap = self.record()?.map_or(Money::ZERO, |l| l.record.daily_cap);
        decide::settle(self, settlement, cap)
    }

    /// Resolves reservations whose Worker never settled them
    /// (`ledger::resolve_stale`).
    fn resolve_stale(&self, now: i64) -> Result<()> {
        let cap = self.record()?.map_or(Money::ZERO, |l| l.record.daily_cap);
        let stale: Vec<Row<String>> = self.query(
            "SELECT request_id AS v FROM reservations WHERE state = 'held' AND held_at <= ?",
            vec![(now - self.settle_deadline()).into()],
        )?;
        for s in stale {
            decide::resolve_stale(self, &s.v, now, cap)?;
        }
        Ok(())
    }

    /// Makes sure an alarm fires by `at` (epoch ms).
    async fn alarm_by(&self, at: i64) -> Result<()> {
        let storage = self.state.storage();
        let current = match self.alarm_at.get() {
            Some(t) => Some(t),
            None => storage.get_alarm().await?,
        };
        if current.is_some_and(|t| t <= at) {
            self.alarm_at.set(current);
            return Ok(());
        }
        let offset = (at - Date::now().as_millis() as i64).max(0);
        storage.set_alarm(offset).await?;
        self.alarm_at.set(Some(at));
        Ok(())
    }

    async fn flush_outbox(&self, record: &KeyRecord, now: i64) -> Result<()> {
        loop {
            let rows: Vec<store::AuditRow> = self.query(
                &format!(
                    "SELECT request_id AS id, created_at, method, path, decision, code, message,
                            upstream_status, cost AS cost_micros, trace_id, run_id
                     FROM outbox WHERE settled = 1 ORDER BY created_at LIMIT {FLUSH_BATCH}"
                ),
                vec![],
            )?;
            if rows.is_empty() {
                return Ok(());
            }
            if self.test_hooks && self.fault("d1")? {
                return Err(Error::RustError("injected D1 failure (test hook)".into()));
            }
            let (held, kept) = self.day_totals(ledger_day(now))?;
            let spent = held.checked_add(kept).unwrap_or(held);
            let db = self.env.d1(store::DB)?;
            store::write_audit(&db, record, &rows, ledger_day(now), spent).await?;
            // Rows may have been re-settled while D1 was written; only the
            // ones sent go, and they went whole (the insert is idempotent).
            let sent: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            self.run(
                "DELETE FROM outbox WHERE settled = 1
                 AND request_id IN (SELECT value FROM json_each(?))",
                vec![serde_json::to_string(&sent)?.into()],
            )?;
        }
    }

    async fn on_alarm(&self) -> Result<()> {
        self.alarm_at.set(None);
        let now = Date::now().as_millis() as i64;
        let Some(loaded) = self.record()? else {
            return Ok(());
        };
        let record = &loaded.record;
        self.resolve_stale(now)?;
        // An idle key hands its unspent leases back to the budgets.
        if !record.budgets.is_empty() {
            let idle_since = self.last_call.get();
            if now - idle_since >= self.lease_idle_ms {
                self.return_leases().await?;
            } else {
                self.alarm_by(idle_since + self.lease_idle_ms).await?;
            }
        }
        match self.flush_outbox(record, now).await {
            Ok(()) => {
                self.run("DELETE FROM flush_state", vec![])?;
            }
            Err(e) => {
                #[derive(Deserialize)]
                struct Failures {
                    failures: i64,
                }
                let failures: Vec<Failures> =
                    self.query("SELECT failures FROM flush_state", vec![])?;
                let failures = failures.first().map_or(0, |f| f.failures) + 1;
                self.run(
                    "INSERT OR REPLACE INTO flush_state (one, failures, last_error) VALUES (1, ?, ?)",
                    vec![failures.into(), e.to_string().into()],
                )?;
                let backoff = (RETRY_MIN_MS << failures.min(6)).min(RETRY_MAX_MS);
                console_error!(
                    "audit flush for {} failed ({failures}x), retrying in {backoff} ms: {e}",
                    record.id
                );
                return self.alarm_by(now + backoff).await;
            }
        }
        // Still holding reservations: come back when the oldest is due.
        #[derive(Deserialize)]
        struct Oldest {
            v: Option<i64>,
        }
        let oldest: Vec<Oldest> = self.query(
            "SELECT MIN(held_at) AS v FROM reservations WHERE state = 'held'",
            vec![],
        )?;
        if let Some(t) = oldest.first().and_then(|o| o.v) {
            self.alarm_by(t + self.settle_deadline()).await?;
        }
        Ok(())
    }

    fn init(&self, record: &KeyRecord) -> Result<std::result::Result<(), ApiError>> {
        if self.record()?.is_some() {
            return Ok(Err(ApiError::bad_request(format!(
                "key {} already exists",
                record.id
            ))));
        }
        self.sql().exec(RECORD_TABLE, None)?;
        self.sql().exec(SCHEMA, None)?;
        self.save_record(record)?;
        Ok(Ok(()))
    }

    fn revoke(&self, now: i64) -> Result<Option<KeyRecord>> {
        let Some(loaded) = self.record()? else {
            return Ok(None);
        };
        let mut record = loaded.record.clone();
        if record.revoked_at.is_none() {
            record.revoked_at = Some(now);
            self.save_record(&record)?;
        }
        Ok(Some(record))
    }

    fn key_state(&self, now: i64) -> Result<Option<KeyState>> {
        let Some(loaded) = self.record()? else {
            return Ok(None);
        };
        let record = loaded.record.clone();
        let (held, kept) = self.day_totals(ledger_day(now))?;
        let committed = held.checked_add(kept).unwrap_or(record.daily_cap);
        let pending: Vec<Row<u64>> = self.query("SELECT COUNT(*) AS v FROM outbox", vec![])?;
        Ok(Some(KeyState {
            remaining_today: record.daily_cap.saturating_sub(committed),
            spent_today: kept,
            held_today: held,
            audit_pending: pending.first().map_or(0, |r| r.v),
            record,
        }))
    }

    fn settle_deadline(&self) -> i64 {
        self.settle_deadline_ms
    }

    /// Waits until no reservation is held: every call that was allowed
    /// before the revocation has reached the vendor and been settled (or
    /// given up on), so none arrives after the revocation returns.
    async fn drain(&self) -> Result<()> {
        let started = Date::now().as_millis() as i64;
        let upstream = crate::http::upstream_timeout_ms(&self.env) as i64;
        let bound = (upstream + REVOKE_DRAIN_MARGIN_MS).min(self.settle_deadline());
        loop {
            let held: Vec<Row<u64>> = self.query(
                "SELECT COUNT(*) AS v FROM reservations WHERE state = 'held'",
                vec![],
            )?;
            if held.first().map_or(0, |r| r.v) == 0 {
                return Ok(());
            }
            if Date::now().as_millis() as i64 - started > bound {
                console_error!("revocation stopped waiting for calls in flight after {bound} ms");
                return Ok(());
            }
            Delay::from(std::time::Duration::from_millis(5)).await;
        }
    }

    /// On an instance's first event: a previous instance may have died (a
    /// restart, an eviction) with reservations held or rows unflushed.
    /// Resolve what is overdue now and make sure an alarm comes for the rest,
    /// whether or not the runtime kept the old alarm.
    async fn recover(&self) -> Result<()> {
        if self.recovered.replace(true) || self.record()?.is_none() {
            return Ok(());
        }
        self.upgrade_schema()?;
        let now = Date::now().as_millis() as i64;
        self.resolve_stale(now)?;
        let pending: Vec<Row<u64>> = self.query(
            "SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM reservations WHERE state = 'held') AS v",
            vec![],
        )?;
        if pending.first().map_or(0, |r| r.v) > 0 {
            self.alarm_by(now).await?;
        }
        Ok(())
    }

    /// Adds the columns later releases introduced to an object created
    /// before them (`SCHEMA` has them for new objects).
    fn upgrade_schema(&self) -> Result<()> {
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

    /// A test-only fault switch (`POST /v1/test/faults`).
    fn fault(&self, name: &str) -> Result<bool> {
        let rows: Vec<Row<String>> = self.query(
            "SELECT name AS v FROM faults WHERE name = ?",
            vec![name.into()],
        )?;
        Ok(!rows.is_empty())
    }

    fn set_fault(&self, name: &str, on: bool) -> Result<()> {
        if on {
            self.run(
                "INSERT OR IGNORE INTO faults (name) VALUES (?)",
                vec![name.into()],
            )
        } else {
            self.run("DELETE FROM faults WHERE name = ?", vec![name.into()])
        }
    }
}

/// Why a call the budget could not cover was refused.
fn budget_spent(budget: &str) -> ApiError {
    match budget.strip_prefix("issuer:") {
        Some(issuer) => ApiError {
            param: Some("issuer.max_daily_spend_usd".into()),
            ..ApiError::new(
                ErrorCode::CapExhausted,
                format!("the keys of issuer {issuer} have spent what it may spend (max_daily_spend_usd, max_total_spend_usd)"),
            )
        },
        None => ApiError {
            param: Some(format!("budget:{budget}")),
            ..ApiError::new(
                ErrorCode::CapExhausted,
                format!("the account budget {budget} is spent for today"),
            )
        },
    }
}

/// The key's ledger in its object's SQLite (`SCHEMA`).
impl KeyStore for VaultKey {
    type Error = Error;

    fn day_totals(&self, day: i64) -> Result<(Money, Money)> {
        // The last day touched is kept in memory: every change goes through
        // `add_to_day`, on this object's one thread.
        if let Some((d, held, kept)) = self.today.get() {
            if d == day {
                return Ok((held, kept));
            }
        }
        let rows: Vec<Totals> = self.query(
            "SELECT held, kept FROM day_spend WHERE day = ?",
            vec![day.into()],
        )?;
        let totals = rows.first().map(Totals::money).unwrap_or_default();
        self.today.set(Some((day, totals.0, totals.1)));
        Ok(totals)
    }

    fn add_to_day(&self, day: i64, held: i64, kept: i64) -> Result<(Money, Money)> {
        let rows: Vec<Totals> = self.query(
            "INSERT INTO day_spend (day, held, kept) VALUES (?1, ?2, ?3)
             ON CONFLICT (day) DO UPDATE SET held = held + ?2, kept = kept + ?3
             RETURNING held, kept",
            vec![day.into(), held.into(), kept.into()],
        )?;
        let totals = rows.first().map(Totals::money).unwrap_or_default();
        self.today.set(Some((day, totals.0, totals.1)));
        Ok(totals)
    }

    fn lifetime_committed(&self) -> Result<Money> {
        let total: Vec<Row<Option<u64>>> =
            self.query("SELECT SUM(held + kept) AS v FROM day_spend", vec![])?;
        Ok(Money::from_micros(
            total.first().and_then(|r| r.v).unwrap_or(0),
        ))
    }

    fn prior_attempt(&self, key: &str) -> Result<Option<PriorAttempt>> {
        #[derive(Deserialize)]
        struct Prior {
            fingerprint: String,
            state: String,
            at: i64,
        }
        let prior: Vec<Prior> = self.query(
            "SELECT i.fingerprint, r.state, i.at FROM idempotency i
             JOIN reservations r ON r.request_id = i.request_id WHERE i.idem_key = ?",
            vec![key.into()],
        )?;
        Ok(prior.into_iter().next().map(|p| PriorAttempt {
            fingerprint: p.fingerprint,
            state: ReservationState::parse(&p.state),
            at: p.at,
        }))
    }

    fn priced_object(&self, object: &str) -> Result<Option<PricedObject>> {
        #[derive(Deserialize)]
        struct Known {
            minor: u64,
            usd: u64,
        }
        let known: Vec<Known> = self.query(
            "SELECT minor, usd FROM priced_objects WHERE object = ?",
            vec![object.into()],
        )?;
        Ok(known.first().map(|k| PricedObject {
            minor: k.minor,
            usd: Money::from_micros(k.usd),
        }))
    }

    fn creates_in_flight(&self) -> Result<bool> {
        let held: Vec<Row<u64>> = self.query(
            "SELECT COUNT(*) AS v FROM reservations WHERE state = 'held' AND charge_kind = 'amount'",
            vec![],
        )?;
        Ok(held.first().is_some_and(|r| r.v > 0))
    }

    fn requests_used(&self) -> Result<u64> {
        let used: Vec<Row<u64>> = self.query(
            "SELECT value AS v FROM counters WHERE name = 'requests'",
            vec![],
        )?;
        Ok(used.first().map_or(0, |r| r.v))
    }

    fn calls_since(&self, since: i64) -> Result<u64> {
        self.run("DELETE FROM recent_calls WHERE at <= ?", vec![since.into()])?;
        let recent: Vec<Row<u64>> = self.query("SELECT COUNT(*) AS v FROM recent_calls", vec![])?;
        Ok(recent.first().map_or(0, |r| r.v))
    }

    fn lease_available(&self, budget: &str, day: i64) -> Result<Money> {
        #[derive(Deserialize)]
        struct Lease {
            granted: u64,
            used: u64,
        }
        let rows: Vec<Lease> = self.query(
            "SELECT granted, used FROM leases WHERE budget = ? AND day = ?",
            vec![budget.into(), day.into()],
        )?;
        Ok(rows.first().map_or(Money::ZERO, |l| {
            Money::from_micros(l.granted.saturating_sub(l.used))
        }))
    }

    fn hold(&self, hold: &Hold<'_>) -> Result<()> {
        let cost = hold.cost.micros() as i64;
        for budget in hold.budgets {
            self.run(
                "UPDATE leases SET used = used + ? WHERE budget = ? AND day = ?",
                vec![cost.into(), budget.as_str().into(), hold.day.into()],
            )?;
        }
        if !hold.budgets.is_empty() {
            self.last_call.set(Date::now().as_millis() as i64);
        }
        self.run(
            "INSERT INTO reservations
               (request_id, day, cost, state, created_at, held_at, charge_kind, object, priced_minor, priced_usd)
             VALUES (?, ?, ?, 'held', ?, ?, ?, ?, ?, ?)",
            vec![
                hold.request_id.into(),
                hold.day.into(),
                cost.into(),
                hold.now.into(),
                (Date::now().as_millis() as i64).into(),
                charge_kind(hold.charge).into(),
                hold.object.into(),
                hold.priced.map(|p| p.minor as i64).into(),
                hold.priced.map(|p| p.usd.micros() as i64).into(),
            ],
        )?;
        self.add_to_day(hold.day, cost, 0)?;
        if let Some((key, fingerprint)) = hold.idempotency {
            self.run(
                "INSERT OR REPLACE INTO idempotency (idem_key, request_id, fingerprint, at) VALUES (?, ?, ?, ?)",
                vec![key.into(), hold.request_id.into(), fingerprint.into(), hold.now.into()],
            )?;
        }
        if hold.counts_request {
            self.run(
                "INSERT INTO counters (name, value) VALUES ('requests', 1)
                 ON CONFLICT (name) DO UPDATE SET value = value + 1",
                vec![],
            )?;
        }
        if hold.counts_rate {
            self.run(
                "INSERT INTO recent_calls (at) VALUES (?)",
                vec![hold.now.into()],
            )?;
        }
        Ok(())
    }

    fn audit(
        &self,
        attempt: &Attempt,
        error: Option<&ApiError>,
        cost: Money,
        settled: bool,
    ) -> Result<()> {
        self.run(
            "INSERT OR REPLACE INTO outbox
               (request_id, created_at, method, path, decision, code, message, upstream_status, cost, settled,
                trace_id, run_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
            vec![
                attempt.request_id.as_str().into(),
                attempt.now.into(),
                attempt.method.as_str().into(),
                truncate(&attempt.path, 512).into(),
                (if error.is_some() { "denied" } else { "allowed" }).into(),
                error.map(|e| e.code.as_str()).into(),
                error.map(|e| e.message.clone()).into(),
                (cost.micros() as i64).into(),
                (settled as i64).into(),
                attempt.trace_id.as_deref().into(),
                attempt.run_id.as_deref().into(),
            ],
        )
    }

    fn claim(&self, request_id: &str, kept: bool) -> Result<Option<Held>> {
        #[derive(Deserialize)]
        struct Claimed {
            day: i64,
            cost: u64,
            charge_kind: String,
            object: Option<String>,
            priced_minor: Option<u64>,
            priced_usd: Option<u64>,
        }
        // Claimed and marked in one statement: a repeat finds nothing held.
        let state = if kept { "kept" } else { "released" };
        let held: Vec<Claimed> = self.query(
            "UPDATE reservations SET state = ? WHERE request_id = ? AND state = 'held'
             RETURNING day, cost, charge_kind, object, priced_minor, priced_usd",
            vec![state.into(), request_id.into()],
        )?;
        Ok(held.into_iter().next().map(|h| Held {
            day: h.day,
            cost: Money::from_micros(h.cost),
            kind: h.charge_kind,
            object: h.object,
            priced: match (h.priced_minor, h.priced_usd) {
                (Some(minor), Some(usd)) => Some(PricedObject {
                    minor,
                    usd: Money::from_micros(usd),
                }),
                _ => None,
            },
        }))
    }

    fn release_leases(&self, day: i64, cost: Money) -> Result<()> {
        self.run(
            "UPDATE leases SET used = MAX(0, used - ?) WHERE day = ?",
            vec![(cost.micros() as i64).into(), day.into()],
        )
    }

    fn remember(&self, object: &str, priced: PricedObject) -> Result<()> {
        self.run(
            "INSERT OR REPLACE INTO priced_objects (object, minor, usd) VALUES (?, ?, ?)",
            vec![
                object.into(),
                (priced.minor as i64).into(),
                (priced.usd.micros() as i64).into(),
            ],
        )
    }

    fn finish_audit(&self, request_id: &str, end: &Ending) -> Result<()> {
        self.run(
            "UPDATE outbox SET upstream_status = ?, cost = ?, code = ?, message = ?, settled = 1
             WHERE request_id = ?",
            vec![
                end.upstream_status.map(i64::from).into(),
                (end.cost.micros() as i64).into(),
                end.code.into(),
                end.message.clone().into(),
                request_id.into(),
            ],
        )
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `{ "now": … }`, the body of the clock-only operations.
#[derive(Serialize, Deserialize)]
pub struct At {
    pub now: i64,
}

/// Test-only fault switches of one key's object.
#[derive(Serialize, Deserialize)]
pub struct Faults {
    /// Make this object's audit flushes to D1 fail.
    pub d1_fails: bool,
}

impl DurableObject for VaultKey {
    fn new(state: State, env: Env) -> Self {
        VaultKey {
            sql: state.storage().sql(),
            test_hooks: crate::http::test_hooks_enabled(&env),
            settle_deadline_ms: env
                .var("KEYBRAKE_SETTLE_DEADLINE_MS")
                .ok()
                .and_then(|v| v.to_string().parse::<i64>().ok())
                .map_or(SETTLE_DEADLINE_MS, |ms| ms.max(1_000)),
            lease_idle_ms: env
                .var("KEYBRAKE_LEASE_IDLE_MS")
                .ok()
                .and_then(|v| v.to_string().parse::<i64>().ok())
                .map_or(LEASE_IDLE_MS, |ms| ms.max(100)),
            state,
            env,
            cached: RefCell::new(None),
            alarm_at: Cell::new(None),
            recovered: Cell::new(false),
            today: Cell::new(None),
            leasing: RefCell::new(Vec::new()),
            last_call: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.recover().await?;
        let body = req.text().await?;
        match crate::objects::op(&req).as_str() {
            "/authorize" => {
                let attempt: Attempt = serde_json::from_str(&body)?;
                let decision = self.decide(&attempt).await?;
                // A denial is final now; an allowance needs a safety alarm in
                // case its settlement never comes.
                let now = Date::now().as_millis() as i64;
                let due = match decision {
                    Decision::Denied { .. } => now + FLUSH_DELAY_MS,
                    Decision::Allowed { .. } => now + self.settle_deadline(),
                };
                let leases = self
                    .cached
                    .borrow()
                    .as_ref()
                    .map(|l| !l.record.budgets.is_empty());
                if let Some(leases) = leases {
                    // A key under a budget comes back when idle to hand back its lease.
                    let due = if leases {
                        due.min(now + self.lease_idle_ms)
                    } else {
                        due
                    };
                    self.alarm_by(due).await?;
                }
                let label = self
                    .cached
                    .borrow()
                    .as_ref()
                    .map(|l| l.record.label.clone());
                Response::from_json(&Authorized { decision, label })
            }
            "/settle" => {
                let settlement: Settlement = serde_json::from_str(&body)?;
                let settled = self.settle(&settlement)?;
                self.alarm_by(Date::now().as_millis() as i64 + FLUSH_DELAY_MS)
                    .await?;
                Response::from_json(&settled)
            }
            "/init" => {
                let record: KeyRecord = serde_json::from_str(&body)?;
                match self.init(&record)? {
                    Ok(()) => Response::from_json(&record),
                    Err(e) => Ok(Response::from_json(&e)?.with_status(409)),
                }
            }
            "/revoke" => {
                let at: At = serde_json::from_str(&body)?;
                match self.revoke(at.now)? {
                    Some(record) => {
                        self.drain().await?;
                        self.return_leases().await?;
                        Response::from_json(&record)
                    }
                    None => Response::error("unknown key", 404),
                }
            }
            "/budgets" => {
                let add: AddBudget = serde_json::from_str(&body)?;
                let Some(loaded) = self.record()? else {
                    return Response::error("unknown key", 404);
                };
                if !loaded.record.budgets.contains(&add.add) {
                    let mut record = loaded.record.clone();
                    record.budgets.push(add.add);
                    self.save_record(&record)?;
                }
                Response::ok("")
            }
            "/faults" => {
                let faults: Faults = serde_json::from_str(&body)?;
                if self.record()?.is_none() {
                    return Response::error("unknown key", 404);
                }
                self.set_fault("d1", faults.d1_fails)?;
                if !faults.d1_fails {
                    self.alarm_by(Date::now().as_millis() as i64).await?;
                }
                Response::from_json(&faults)
            }
            "/state" => {
                let at: At = serde_json::from_str(&body)?;
                match self.key_state(at.now)? {
                    Some(state) => Response::from_json(&state),
                    None => Response::error("unknown key", 404),
                }
            }
            other => Response::error(format!("no operation {other}"), 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // An instance's first event may be an alarm.
        self.recover().await?;
        self.on_alarm().await?;
        Response::ok("")
    }
}

/// The Worker's handle on one key's object.
pub struct VaultKeyClient {
    stub: ObjectStub,
}

/// The binding of the `VaultKey` class in `wrangler.toml`.
pub const BINDING: &str = "VAULT_KEY";

impl VaultKeyClient {
    pub fn for_key(env: &Env, key_id: &str) -> Result<VaultKeyClient> {
        Ok(VaultKeyClient {
            stub: ObjectStub::new(env, BINDING, key_id)?,
        })
    }

    async fn post<T: Serialize>(&self, op: &str, body: &T) -> Result<(u16, String)> {
        self.stub.post(op, body).await
    }

    async fn expect<T: Serialize, R: DeserializeOwned>(
        &self,
        op: &str,
        body: &T,
    ) -> Result<Option<R>> {
        match self.post(op, body).await? {
            (200, text) => Ok(Some(serde_json::from_str(&text)?)),
            (404, _) => Ok(None),
            (status, text) => Err(Error::RustError(format!(
                "vault key {op} answered {status}: {text}"
            ))),
        }
    }

    pub async fn authorize(&self, attempt: &Attempt) -> Result<Authorized> {
        self.expect("authorize", attempt)
            .await?
            .ok_or_else(|| Error::RustError("vault key authorize: no answer".into()))
    }

    pub async fn settle(&self, settlement: &Settlement) -> Result<Settled> {
        self.expect("settle", settlement)
            .await?
            .ok_or_else(|| Error::RustError("vault key settle: unknown key".into()))
    }

    /// Creates the key; `Err(ApiError)` when the id is taken.
    pub async fn init(&self, record: &KeyRecord) -> Result<std::result::Result<(), ApiError>> {
        match self.post("init", record).await? {
            (200, _) => Ok(Ok(())),
            (409, text) => Ok(Err(serde_json::from_str(&text)?)),
            (status, text) => Err(Error::RustError(format!(
                "vault key init answered {status}: {text}"
            ))),
        }
    }

    pub async fn revoke(&self, now: i64) -> Result<Option<KeyRecord>> {
        self.expect("revoke", &At { now }).await
    }

    /// Binds the key to an account budget made after it was issued.
    pub async fn attach_budget(&self, budget: &str) -> Result<bool> {
        Ok(self
            .post(
                "budgets",
                &AddBudget {
                    add: budget.to_owned(),
                },
            )
            .await?
            .0
            == 200)
    }

    pub async fn state(&self, now: i64) -> Result<Option<KeyState>> {
        self.expect("state", &At { now }).await
    }

    pub async fn set_faults(&self, faults: &Faults) -> Result<Option<Faults>> {
        self.expect("faults", faults).await
    }
}
