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
//!
//! The rules themselves are `ledger::decide` (pure, host-tested). Here: the
//! object and its operations (this file), its tables (`schema.rs`), the
//! rules' storage in SQLite (`sqlite.rs`), budget leases (`leases.rs`), the
//! alarm and the audit outbox (`outbox.rs`), the Worker's client
//! (`client.rs`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::*;

use crate::budget::{BudgetClient, LeaseAsk, LeaseReturn};
use crate::core::endpoint::Allowlist;
use crate::core::money::Money;
use crate::error::{ApiError, ErrorCode};
use crate::ledger::approval::{Approval, ApprovalDecision, ApprovalStatus};
pub use crate::ledger::decide::Settled;
use crate::ledger::decide::{
    self, charge_kind, Ending, Held, Hold, KeyStore, Notice, PriorAttempt, ReservationState,
    Verdict,
};
use crate::ledger::steer::{apply_change, KeyChange};
use crate::ledger::{ledger_day, Attempt, Decision, KeyRecord, PricedObject, Settlement};
use crate::objects::{
    answer, ask, load_record, no_operation, save_record, Answered, ObjectStub, Operation,
    RECORD_TABLE,
};
use crate::store;

mod client;
mod leases;
mod outbox;
mod schema;
mod sqlite;

pub use client::{ops, VaultKeyClient, BINDING};
use leases::budget_spent;
use schema::SCHEMA;

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

/// A budget to bind the key to.
#[derive(Serialize, Deserialize)]
pub struct AddBudget {
    pub add: String,
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

    /// Decides an attempt, then makes sure the alarm comes: soon for a
    /// denial's audit row, by the settle deadline for an allowance (in case
    /// its settlement never comes), and when idle for a key under a budget.
    async fn authorize(&self, attempt: &Attempt) -> Result<Authorized> {
        let decision = self.decide(attempt).await?;
        let now = Date::now().as_millis() as i64;
        let due = match decision {
            Decision::Denied { .. } => now + FLUSH_DELAY_MS,
            Decision::Allowed { .. } => now + self.settle_deadline(),
        };
        let loaded = self.cached.borrow().clone();
        if let Some(loaded) = &loaded {
            let due = if loaded.record.budgets.is_empty() {
                due
            } else {
                due.min(now + self.lease_idle_ms)
            };
            self.alarm_by(due).await?;
        }
        Ok(Authorized {
            decision,
            label: loaded.map(|l| l.record.label.clone()),
        })
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

    fn init(&self, record: &KeyRecord) -> Result<Answered<()>> {
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
            self.record_event(
                "key.revoked",
                serde_json::json!({ "revoked_at": crate::core::time::to_rfc3339(now) }),
            )?;
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
            "SELECT (SELECT COUNT(*) FROM outbox) + (SELECT COUNT(*) FROM events)
                  + (SELECT COUNT(*) FROM reservations WHERE state IN ('held', 'approval'))
                  + (SELECT COUNT(*) FROM approvals WHERE version > synced) AS v",
            vec![],
        )?;
        if pending.first().map_or(0, |r| r.v) > 0 {
            self.alarm_by(now).await?;
        }
        Ok(())
    }
}

/// `{ "now": … }`, the body of the clock-only operations.
#[derive(Serialize, Deserialize)]
pub struct At {
    pub now: i64,
}

/// Which approval, as of when.
#[derive(Serialize, Deserialize)]
pub struct ApprovalAsk {
    pub id: String,
    pub now: i64,
}

#[derive(Serialize, Deserialize)]
pub struct ApprovalDecisionAsk {
    pub id: String,
    pub decision: ApprovalDecision,
}

/// An approval with what a person deciding on it needs of its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApprovalView {
    pub approval: Approval,
    pub label: String,
    pub vendor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_id: Option<String>,
}

impl ApprovalView {
    fn of(record: &KeyRecord, mut approval: Approval, now: i64) -> ApprovalView {
        approval.status = approval.status_at(now);
        ApprovalView {
            approval,
            label: record.label.clone(),
            vendor: record.vendor.clone(),
            issuer_id: record.issuer_id.clone(),
        }
    }
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
        let unknown = || ApiError::not_found("vault key");
        match crate::objects::op(&req).as_str() {
            ops::Authorize::NAME => {
                let attempt = ask::<ops::Authorize>(&body)?;
                answer(Ok(self.authorize(&attempt).await?))
            }
            ops::Settle::NAME => {
                let settled = self.settle(&ask::<ops::Settle>(&body)?)?;
                self.alarm_by(Date::now().as_millis() as i64 + FLUSH_DELAY_MS)
                    .await?;
                answer(Ok(settled))
            }
            ops::SettleMany::NAME => {
                let settled = ask::<ops::SettleMany>(&body)?
                    .iter()
                    .map(|s| self.settle(s))
                    .collect::<Result<Vec<_>>>()?;
                self.alarm_by(Date::now().as_millis() as i64 + FLUSH_DELAY_MS)
                    .await?;
                answer(Ok(settled))
            }
            ops::Init::NAME => answer(self.init(&ask::<ops::Init>(&body)?)?),
            ops::Revoke::NAME => {
                let at = ask::<ops::Revoke>(&body)?;
                match self.revoke(at.now)? {
                    Some(record) => {
                        self.drain().await?;
                        self.return_leases().await?;
                        // Its key.revoked event leaves with the next flush.
                        self.alarm_by(Date::now().as_millis() as i64 + FLUSH_DELAY_MS)
                            .await?;
                        answer(Ok(record))
                    }
                    None => answer::<()>(Err(unknown())),
                }
            }
            ops::Change::NAME => {
                let change = ask::<ops::Change>(&body)?;
                let Some(loaded) = self.record()? else {
                    return answer::<()>(Err(unknown()));
                };
                // One synchronous step: the next decision sees the change.
                match apply_change(&loaded.record, &change) {
                    Ok(next) => {
                        self.save_record(&next)?;
                        answer(Ok(next))
                    }
                    Err(refused) => answer::<()>(Err(refused)),
                }
            }
            ops::GetApproval::NAME => {
                let ask = ask::<ops::GetApproval>(&body)?;
                let Some(loaded) = self.record()? else {
                    return answer::<()>(Err(unknown()));
                };
                match self.approval(&ask.id)? {
                    Some(a) => answer(Ok(ApprovalView::of(&loaded.record, a, ask.now))),
                    None => answer::<()>(Err(ApiError::not_found(&format!("approval {}", ask.id)))),
                }
            }
            ops::DecideApproval::NAME => {
                let ask = ask::<ops::DecideApproval>(&body)?;
                let Some(loaded) = self.record()? else {
                    return answer::<()>(Err(unknown()));
                };
                let now = ask.decision.now;
                // One past its time is expired (and its hold released) first.
                decide::expire_approvals(self, now)?;
                let Some(approval) = self.approval(&ask.id)? else {
                    return answer::<()>(Err(ApiError::not_found(&format!("approval {}", ask.id))));
                };
                let decided = decide::decide_approval(self, approval, &ask.decision)?;
                self.alarm_by(Date::now().as_millis() as i64 + FLUSH_DELAY_MS)
                    .await?;
                match decided {
                    Ok(a) => answer(Ok(ApprovalView::of(&loaded.record, a, now))),
                    Err(closed) => answer::<()>(Err(closed)),
                }
            }
            ops::AttachBudget::NAME => {
                let add = ask::<ops::AttachBudget>(&body)?;
                let Some(loaded) = self.record()? else {
                    return answer::<()>(Err(unknown()));
                };
                if !loaded.record.budgets.contains(&add.add) {
                    let mut record = loaded.record.clone();
                    record.budgets.push(add.add);
                    self.save_record(&record)?;
                }
                answer(Ok(()))
            }
            ops::SetFaults::NAME => {
                let faults = ask::<ops::SetFaults>(&body)?;
                if self.record()?.is_none() {
                    return answer::<()>(Err(unknown()));
                }
                self.set_fault("d1", faults.d1_fails)?;
                if !faults.d1_fails {
                    self.alarm_by(Date::now().as_millis() as i64).await?;
                }
                answer(Ok(faults))
            }
            ops::GetState::NAME => {
                let at = ask::<ops::GetState>(&body)?;
                answer(self.key_state(at.now)?.ok_or_else(unknown))
            }
            other => no_operation(other),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // An instance's first event may be an alarm.
        self.recover().await?;
        self.on_alarm().await?;
        Response::ok("")
    }
}
