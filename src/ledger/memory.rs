//! A key's storage in memory, so every money rule in `decide.rs` runs in
//! `cargo test`: the same calls the Durable Object answers from SQLite.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use super::approval::{Approval, ApprovalStatus};
use super::decide::{Ending, Held, Hold, KeyStore, Notice, PriorAttempt, ReservationState};
use super::{Attempt, PricedObject};
use crate::core::money::Money;
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Reservation {
    pub state: ReservationState,
    pub held: Held,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub allowed: bool,
    pub code: Option<String>,
    pub cost: Money,
    pub settled: bool,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub days: BTreeMap<i64, (Money, Money)>,
    pub reservations: HashMap<String, Reservation>,
    /// idempotency key → (request id, fingerprint, at)
    pub idempotency: HashMap<String, (String, String, i64)>,
    pub priced: HashMap<String, PricedObject>,
    pub requests: u64,
    pub calls: Vec<i64>,
    /// (budget, day) → (granted, used)
    pub leases: HashMap<(String, i64), (Money, Money)>,
    pub audit: HashMap<String, AuditEntry>,
    pub approvals: BTreeMap<String, Approval>,
    pub notices: Vec<Notice>,
    pub alerts: std::collections::BTreeSet<(i64, u64)>,
    pub denials: Vec<i64>,
}

#[derive(Debug, Default)]
pub struct MemoryStore(pub RefCell<Inner>);

impl MemoryStore {
    pub fn grant(&self, budget: &str, day: i64, amount: Money) {
        let mut s = self.0.borrow_mut();
        let lease = s
            .leases
            .entry((budget.to_owned(), day))
            .or_insert((Money::ZERO, Money::ZERO));
        lease.0 = lease.0.checked_add(amount).unwrap();
    }
}

impl MemoryStore {
    /// A reservation and the leases it spends.
    fn reserve(&self, hold: &Hold<'_>, state: ReservationState) {
        let mut s = self.0.borrow_mut();
        s.reservations.insert(
            hold.request_id.to_owned(),
            Reservation {
                state,
                held: Held {
                    day: hold.day,
                    cost: hold.cost,
                    kind: super::decide::charge_kind(hold.charge).to_owned(),
                    object: hold.object.map(str::to_owned),
                    priced: hold.priced,
                },
            },
        );
        for budget in hold.budgets {
            let lease = s.leases.get_mut(&(budget.clone(), hold.day)).unwrap();
            lease.1 = lease.1.checked_add(hold.cost).unwrap();
        }
    }

    /// A call's idempotency key and its use of the key's limits.
    fn records(&self, hold: &Hold<'_>) {
        let mut s = self.0.borrow_mut();
        if let Some((key, fingerprint)) = hold.idempotency {
            s.idempotency.insert(
                key.to_owned(),
                (hold.request_id.to_owned(), fingerprint.to_owned(), hold.now),
            );
        }
        if hold.counts_request {
            s.requests += 1;
        }
        if hold.counts_rate {
            s.calls.push(hold.now);
        }
    }
}

fn shift(m: Money, delta: i64) -> Money {
    Money::from_micros((m.micros() as i64 + delta).max(0) as u64)
}

impl KeyStore for MemoryStore {
    type Error = Infallible;

    fn day_totals(&self, day: i64) -> Result<(Money, Money), Infallible> {
        Ok(self.0.borrow().days.get(&day).copied().unwrap_or_default())
    }

    fn add_to_day(&self, day: i64, held: i64, kept: i64) -> Result<(Money, Money), Infallible> {
        let mut s = self.0.borrow_mut();
        let totals = s.days.entry(day).or_default();
        *totals = (shift(totals.0, held), shift(totals.1, kept));
        Ok(*totals)
    }

    fn lifetime_committed(&self) -> Result<Money, Infallible> {
        Ok(self
            .0
            .borrow()
            .days
            .values()
            .fold(Money::ZERO, |sum, (h, k)| {
                sum.checked_add(*h).and_then(|s| s.checked_add(*k)).unwrap()
            }))
    }

    fn prior_attempt(&self, key: &str) -> Result<Option<PriorAttempt>, Infallible> {
        let s = self.0.borrow();
        Ok(s.idempotency
            .get(key)
            .and_then(|(request, fingerprint, at)| {
                s.reservations.get(request).map(|r| PriorAttempt {
                    fingerprint: fingerprint.clone(),
                    state: r.state,
                    at: *at,
                })
            }))
    }

    fn priced_object(&self, object: &str) -> Result<Option<PricedObject>, Infallible> {
        Ok(self.0.borrow().priced.get(object).copied())
    }

    fn creates_in_flight(&self) -> Result<bool, Infallible> {
        Ok(self
            .0
            .borrow()
            .reservations
            .values()
            .any(|r| r.state == ReservationState::Held && r.held.kind == "amount"))
    }

    fn requests_used(&self) -> Result<u64, Infallible> {
        Ok(self.0.borrow().requests)
    }

    fn calls_since(&self, since: i64) -> Result<u64, Infallible> {
        let mut s = self.0.borrow_mut();
        s.calls.retain(|at| *at > since);
        Ok(s.calls.len() as u64)
    }

    fn lease_available(&self, budget: &str, day: i64) -> Result<Money, Infallible> {
        Ok(self
            .0
            .borrow()
            .leases
            .get(&(budget.to_owned(), day))
            .map_or(Money::ZERO, |(granted, used)| granted.saturating_sub(*used)))
    }

    fn hold(&self, hold: &Hold<'_>) -> Result<(), Infallible> {
        self.reserve(hold, ReservationState::Held);
        self.records(hold);
        self.add_to_day(hold.day, hold.cost.micros() as i64, 0)
            .map(|_| ())
    }

    fn audit(
        &self,
        attempt: &Attempt,
        error: Option<&ApiError>,
        cost: Money,
        settled: bool,
    ) -> Result<(), Infallible> {
        self.0.borrow_mut().audit.insert(
            attempt.request_id.clone(),
            AuditEntry {
                allowed: error.is_none(),
                code: error.map(|e| e.code.as_str().to_owned()),
                cost,
                settled,
            },
        );
        Ok(())
    }

    fn claim(&self, request_id: &str, kept: bool) -> Result<Option<Held>, Infallible> {
        let mut s = self.0.borrow_mut();
        Ok(match s.reservations.get_mut(request_id) {
            Some(r) if r.state == ReservationState::Held => {
                r.state = if kept {
                    ReservationState::Kept
                } else {
                    ReservationState::Released
                };
                Some(r.held.clone())
            }
            _ => None,
        })
    }

    fn release_leases(&self, day: i64, cost: Money) -> Result<(), Infallible> {
        for ((_, d), lease) in self.0.borrow_mut().leases.iter_mut() {
            if *d == day {
                lease.1 = lease.1.saturating_sub(cost);
            }
        }
        Ok(())
    }

    fn remember(&self, object: &str, priced: PricedObject) -> Result<(), Infallible> {
        self.0.borrow_mut().priced.insert(object.to_owned(), priced);
        Ok(())
    }

    fn finish_audit(&self, request_id: &str, end: &Ending) -> Result<(), Infallible> {
        if let Some(row) = self.0.borrow_mut().audit.get_mut(request_id) {
            row.cost = end.cost;
            row.code = end.code.map(str::to_owned);
            row.settled = true;
        }
        Ok(())
    }

    fn approval_for(&self, fingerprint: &str) -> Result<Option<Approval>, Infallible> {
        Ok(self
            .0
            .borrow()
            .approvals
            .values()
            .filter(|a| a.fingerprint == fingerprint && a.status.holds())
            .max_by_key(|a| a.requested_at)
            .cloned())
    }

    fn approval(&self, id: &str) -> Result<Option<Approval>, Infallible> {
        Ok(self.0.borrow().approvals.get(id).cloned())
    }

    fn approvals_due(&self, now: i64) -> Result<Vec<Approval>, Infallible> {
        Ok(self
            .0
            .borrow()
            .approvals
            .values()
            .filter(|a| a.status.holds() && a.expires_at <= now)
            .cloned()
            .collect())
    }

    fn request_approval(&self, approval: &Approval, hold: &Hold<'_>) -> Result<(), Infallible> {
        self.reserve(hold, ReservationState::AwaitingApproval);
        self.0
            .borrow_mut()
            .approvals
            .insert(approval.id.clone(), approval.clone());
        self.add_to_day(hold.day, hold.cost.micros() as i64, 0)
            .map(|_| ())
    }

    fn save_approval(&self, approval: &Approval) -> Result<(), Infallible> {
        self.0
            .borrow_mut()
            .approvals
            .insert(approval.id.clone(), approval.clone());
        Ok(())
    }

    fn use_approval_hold(&self, approval_id: &str, hold: &Hold<'_>) -> Result<(), Infallible> {
        {
            let mut s = self.0.borrow_mut();
            let mut r = s.reservations.remove(approval_id).unwrap();
            assert_eq!(r.state, ReservationState::AwaitingApproval);
            r.state = ReservationState::Held;
            s.reservations.insert(hold.request_id.to_owned(), r);
        }
        self.records(hold);
        Ok(())
    }

    fn release_approval_hold(&self, approval_id: &str) -> Result<Option<Held>, Infallible> {
        let mut s = self.0.borrow_mut();
        Ok(match s.reservations.get_mut(approval_id) {
            Some(r) if r.state == ReservationState::AwaitingApproval => {
                r.state = ReservationState::Released;
                Some(r.held.clone())
            }
            _ => None,
        })
    }

    fn audit_approval(
        &self,
        approval: &Approval,
        step: ApprovalStatus,
        _message: String,
        _now: i64,
    ) -> Result<(), Infallible> {
        self.0.borrow_mut().audit.insert(
            format!("{}:{}", approval.id, step.as_str()),
            AuditEntry {
                allowed: matches!(step, ApprovalStatus::Approved | ApprovalStatus::Used),
                code: Some(format!("approval_{}", step.as_str())),
                cost: Money::ZERO,
                settled: true,
            },
        );
        Ok(())
    }

    fn notify(&self, notice: &Notice) -> Result<(), Infallible> {
        self.0.borrow_mut().notices.push(notice.clone());
        Ok(())
    }

    fn first_alert(&self, day: i64, percent: u64) -> Result<bool, Infallible> {
        Ok(self.0.borrow_mut().alerts.insert((day, percent)))
    }

    fn count_denial(&self, at: i64, since: i64) -> Result<u64, Infallible> {
        let mut s = self.0.borrow_mut();
        s.denials.retain(|t| *t > since);
        s.denials.push(at);
        Ok(s.denials.len() as u64)
    }
}
