//! The money rules of one vault key, whole: the order of the checks, the
//! price of a step, idempotent replays, constraints, the daily and lifetime
//! caps, account-budget leases, and what a settlement keeps or releases.
//! They read and write through `KeyStore`: SQLite in the key's Durable
//! Object (`vault_key/sqlite.rs`), memory in host tests (`memory.rs`). Each call
//! here is one synchronous step; the object runs it with no `await` inside,
//! which is what makes a decision atomic.

use crate::core::constraints::Constraints;
use crate::core::endpoint::Allowlist;
use crate::core::money::Money;
use crate::core::webhook::{thresholds_crossed, DENIED_BURST};
use crate::error::{ApiError, ErrorCode};
use crate::vendors::Charge;

use super::approval::{
    approval_id, approval_required, Approval, ApprovalDecision, ApprovalRequest, ApprovalStatus,
};
use super::{
    check_access, follow_up_cost, ledger_day, refund_cost, reserve, settle_as, Attempt, Decision,
    KeyRecord, PricedObject, SettleAs, Settlement,
};

/// What the rules read from and write to a key's storage.
pub trait KeyStore {
    type Error;

    /// A day's (held, kept) totals.
    fn day_totals(&self, day: i64) -> Result<(Money, Money), Self::Error>;
    /// Moves a day's totals and answers them as they now are.
    fn add_to_day(&self, day: i64, held: i64, kept: i64) -> Result<(Money, Money), Self::Error>;
    /// Held and kept over every day (what `total_usd_cap` bounds).
    fn lifetime_committed(&self) -> Result<Money, Self::Error>;
    /// The last attempt made with an idempotency key.
    fn prior_attempt(&self, idempotency_key: &str) -> Result<Option<PriorAttempt>, Self::Error>;
    /// What the key priced an object it created at.
    fn priced_object(&self, object: &str) -> Result<Option<PricedObject>, Self::Error>;
    /// Whether a call that creates a priced object is still held.
    fn creates_in_flight(&self) -> Result<bool, Self::Error>;
    /// Calls counted against `max_requests`.
    fn requests_used(&self) -> Result<u64, Self::Error>;
    /// Forgets calls at or before `since` and counts those after (`rate_limit`).
    fn calls_since(&self, since: i64) -> Result<u64, Self::Error>;
    /// Lease left on a budget today.
    fn lease_available(&self, budget: &str, day: i64) -> Result<Money, Self::Error>;
    /// Records an allowed call: the reservation, the day's held total, the
    /// leases it spends, its idempotency key, its use of the key's limits.
    fn hold(&self, hold: &Hold<'_>) -> Result<(), Self::Error>;
    /// Records an attempt's audit row (`settled`: nothing more will change it).
    fn audit(
        &self,
        attempt: &Attempt,
        error: Option<&ApiError>,
        cost: Money,
        settled: bool,
    ) -> Result<(), Self::Error>;
    /// Marks a held reservation kept or released; `None` when none is held.
    fn claim(&self, request_id: &str, kept: bool) -> Result<Option<Held>, Self::Error>;
    /// Gives a released cost back to the day's leases.
    fn release_leases(&self, day: i64, cost: Money) -> Result<(), Self::Error>;
    /// Remembers an object the key paid for.
    fn remember(&self, object: &str, priced: PricedObject) -> Result<(), Self::Error>;
    /// Completes an attempt's audit row with how it ended.
    fn finish_audit(&self, request_id: &str, end: &Ending) -> Result<(), Self::Error>;
    /// The approval waiting on (or granted for) a request, if any.
    fn approval_for(&self, fingerprint: &str) -> Result<Option<Approval>, Self::Error>;
    fn approval(&self, id: &str) -> Result<Option<Approval>, Self::Error>;
    /// Approvals still holding their cost whose time is up at `now`.
    fn approvals_due(&self, now: i64) -> Result<Vec<Approval>, Self::Error>;
    /// Records a new approval, holding its cost as `hold` describes (day
    /// totals and leases, like a call's reservation, but not one a Worker
    /// settles).
    fn request_approval(&self, approval: &Approval, hold: &Hold<'_>) -> Result<(), Self::Error>;
    /// Saves an approval's new status (and who decided, or which call used it).
    fn save_approval(&self, approval: &Approval) -> Result<(), Self::Error>;
    /// The approved request takes the approval's hold over as its own
    /// reservation (`hold.request_id`), with the call's other records
    /// (idempotency key, request and rate counters).
    fn use_approval_hold(&self, approval_id: &str, hold: &Hold<'_>) -> Result<(), Self::Error>;
    /// Ends an approval's hold; `None` when it holds nothing.
    fn release_approval_hold(&self, approval_id: &str) -> Result<Option<Held>, Self::Error>;
    /// Records an event for the key's webhooks; it leaves with the audit rows.
    fn notify(&self, notice: &Notice) -> Result<(), Self::Error>;
    /// Marks a spend threshold as reached on a day; false if it already was.
    fn first_alert(&self, day: i64, percent: u64) -> Result<bool, Self::Error>;
    /// Records a refusal at `at` and counts those after `since`.
    fn count_denial(&self, at: i64, since: i64) -> Result<u64, Self::Error>;
    /// An audit row for a step of an approval (approved, denied, expired, used).
    fn audit_approval(
        &self,
        approval: &Approval,
        step: ApprovalStatus,
        message: String,
        now: i64,
    ) -> Result<(), Self::Error>;
}

/// An earlier attempt under the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorAttempt {
    pub fingerprint: String,
    pub state: ReservationState,
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    Held,
    Kept,
    Released,
    /// An approval's hold: counted against the caps, settled by a person's
    /// decision or its expiry, never by a Worker.
    AwaitingApproval,
}

impl ReservationState {
    /// From the `state` column of `reservations`.
    pub fn parse(text: &str) -> ReservationState {
        match text {
            "held" => ReservationState::Held,
            "kept" => ReservationState::Kept,
            "approval" => ReservationState::AwaitingApproval,
            _ => ReservationState::Released,
        }
    }
}

/// An allowed call, as recorded.
#[derive(Debug, Clone)]
pub struct Hold<'a> {
    pub request_id: &'a str,
    pub day: i64,
    pub cost: Money,
    pub now: i64,
    pub charge: &'a Charge,
    /// The object a step or refund acts on.
    pub object: Option<&'a str>,
    /// The price an object will be remembered at once the call is kept.
    pub priced: Option<PricedObject>,
    /// Budgets whose leases the cost is taken from.
    pub budgets: &'a [String],
    /// `(key, fingerprint)` of a new idempotent call (not a replay).
    pub idempotency: Option<(&'a str, &'a str)>,
    pub counts_request: bool,
    pub counts_rate: bool,
}

/// A reservation as `claim` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub day: i64,
    pub cost: Money,
    /// `amount`, `follow_up`, … (`charge_kind`).
    pub kind: String,
    pub object: Option<String>,
    pub priced: Option<PricedObject>,
}

/// How a call ended, for its audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub upstream_status: Option<u16>,
    pub cost: Money,
    pub code: Option<&'static str>,
    pub message: Option<String>,
}

/// What one pass of `decide` concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Decided(Decision),
    /// Ask again once the creates in flight have settled.
    AwaitCreates,
    /// An identical retry of a call still held: ask again once the vendor
    /// has answered the first (kept: a free replay; released: a new call).
    AwaitPrior,
    /// The key's lease on an account budget is short: lease more, then ask
    /// again.
    NeedLease {
        budget: String,
        shortfall: Money,
    },
}

/// What a settled call cost in the end, and the cap left today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settled {
    pub cost: Money,
    pub remaining: Money,
}

/// Something a person watching the key should hear about (webhooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    ApprovalRequested(Box<Approval>),
    /// Held and kept today reached `percent` of the daily cap.
    SpendThreshold {
        percent: u64,
        committed: Money,
        cap: Money,
    },
    /// `count` refusals within a minute: an agent stuck in a loop.
    DeniedBurst {
        count: u64,
        code: ErrorCode,
    },
}

/// Tells of the spend thresholds a reservation has just reached, once each
/// per day.
fn notify_thresholds<S: KeyStore>(
    store: &S,
    day: i64,
    before: Money,
    after: Money,
    cap: Money,
) -> Result<(), S::Error> {
    for percent in thresholds_crossed(before.micros(), after.micros(), cap.micros()) {
        if store.first_alert(day, percent)? {
            store.notify(&Notice::SpendThreshold {
                percent,
                committed: after,
                cap,
            })?;
        }
    }
    Ok(())
}

/// A call outside the key's constraints, naming the constraint.
pub fn constraint_error(constraint: &str, message: String) -> ApiError {
    ApiError {
        param: Some(format!("constraints.{constraint}")),
        ..ApiError::new(
            ErrorCode::ConstraintViolated,
            format!("constraints.{constraint}: {message}"),
        )
    }
}

/// The kind of a charge, as reservations record it.
pub fn charge_kind(charge: &Charge) -> &'static str {
    match charge {
        Charge::Free => "free",
        Charge::Amount { .. } => "amount",
        Charge::Usage { .. } => "usage",
        Charge::FollowUp { .. } => "follow_up",
        Charge::Refund { .. } => "refund",
    }
}

/// Decides one attempt, in a fixed order: credential, key alive, vendor,
/// allowlist, accounts; the Worker's verdict on the call; idempotent
/// replay; the price of a step; constraints; the daily cap, the lifetime
/// cap, budget leases. `waited`: a held first attempt or a create in
/// flight has been waited on long enough. `replay_window_ms`: how long the
/// vendor remembers an idempotency key.
pub fn decide<S: KeyStore>(
    store: &S,
    record: &KeyRecord,
    allowlist: &Allowlist,
    attempt: &Attempt,
    waited: bool,
    replay_window_ms: i64,
) -> Result<Verdict, S::Error> {
    let deny = |error: ApiError| -> Result<Verdict, S::Error> {
        store.audit(attempt, Some(&error), Money::ZERO, true)?;
        // A call waiting for a person is not a failure; others count
        // toward a burst, told once as it reaches DENIED_BURST in a minute.
        if error.code != ErrorCode::ApprovalRequired
            && store.count_denial(attempt.now, attempt.now - 60_000)? == DENIED_BURST
        {
            store.notify(&Notice::DeniedBurst {
                count: DENIED_BURST,
                code: error.code,
            })?;
        }
        if error.code == ErrorCode::CapExhausted
            && error.param.is_none()
            && store.first_alert(ledger_day(attempt.now), 100)?
        {
            // The cap is spent for a call of this size: as good as 100 %.
            let (held, kept) = store.day_totals(ledger_day(attempt.now))?;
            store.notify(&Notice::SpendThreshold {
                percent: 100,
                committed: held.checked_add(kept).unwrap_or(record.daily_cap),
                cap: record.daily_cap,
            })?;
        }
        Ok(Verdict::Decided(Decision::Denied {
            error,
            audited: true,
        }))
    };
    if let Err(error) = check_access(record, allowlist, attempt) {
        // A token whose secret does not match is not this key's call:
        // anyone can write a well-formed token for a known key id, so its
        // attempt must not land in this key's audit log.
        if error.code == ErrorCode::InvalidKey {
            return Ok(Verdict::Decided(Decision::Denied {
                error,
                audited: false,
            }));
        }
        return deny(error);
    }
    let charge = match &attempt.charge {
        Ok(charge) => charge,
        Err(error) => return deny(error.clone()),
    };

    // An identical retry of a call the vendor has already acted on rides
    // free: the vendor replays its first answer. Not while the first is
    // still held (the vendor may yet refuse it, and then this one would be
    // the call that moves money), and not once the vendor forgot the key.
    let replay = match &attempt.idempotency_key {
        Some(key) => {
            let same = store.prior_attempt(key)?.filter(|p| {
                p.fingerprint == attempt.fingerprint && attempt.now - p.at < replay_window_ms
            });
            match same.map(|p| p.state) {
                Some(ReservationState::Kept) => true,
                Some(ReservationState::Held) if !waited => return Ok(Verdict::AwaitPrior),
                _ => false,
            }
        }
        None => false,
    };

    let (cost, priced) = if replay {
        (Money::ZERO, None)
    } else {
        match charge {
            Charge::Free => (Money::ZERO, None),
            Charge::Usage { usd } => (*usd, None),
            Charge::Amount { usd, minor } => (
                *usd,
                Some(PricedObject {
                    minor: *minor,
                    usd: *usd,
                }),
            ),
            Charge::FollowUp { object, .. } | Charge::Refund { object, .. } => {
                let known = store.priced_object(object)?;
                // The object may come from a create this key just made whose
                // settlement (which records it) is still on its way.
                if known.is_none() && !waited && store.creates_in_flight()? {
                    return Ok(Verdict::AwaitCreates);
                }
                let priced = match charge {
                    Charge::FollowUp { minor, .. } => follow_up_cost(object, known, *minor),
                    Charge::Refund { minor, .. } => {
                        refund_cost(object, known, *minor).map(|cost| (cost, None))
                    }
                    _ => unreachable!("matched above"),
                };
                match priced {
                    Ok(priced) => priced,
                    Err(error) => return deny(error),
                }
            }
        }
    };

    if let Some(constraints) = &record.constraints {
        // The payment's total: a create's amount (a replay's too), or an
        // object's new one.
        let amount = priced.map(|p| p.usd).or(match charge {
            Charge::Amount { usd, .. } => Some(*usd),
            _ => None,
        });
        let creates = matches!(charge, Charge::Amount { .. });
        let checked = constraints
            .check(&attempt.facts, amount, creates)
            .map_err(|v| constraint_error(v.constraint, v.message));
        let checked = match checked {
            Ok(()) => usage_allows(store, constraints, attempt.now)?,
            Err(e) => Err(e),
        };
        if let Err(error) = checked {
            return deny(error);
        }
    }

    // Above the key's approval threshold a call waits for a person: a
    // granted approval for this exact request lets it through on the hold
    // the approval already has; one still waiting is answered again.
    let threshold = record
        .constraints
        .as_ref()
        .and_then(|c| c.approval_above_usd)
        .filter(|limit| !replay && cost > *limit);
    if let Some(limit) = threshold {
        let live = store
            .approval_for(&attempt.fingerprint)?
            .filter(|a| a.status_at(attempt.now).holds());
        match live {
            Some(a) if a.status == ApprovalStatus::Approved => {
                return use_approval(store, record, attempt, charge, priced, a)
            }
            Some(waiting) => return deny(approval_required(&waiting, limit, true)),
            None => {}
        }
    }

    let day = ledger_day(attempt.now);
    let (held, kept) = store.day_totals(day)?;
    let committed = held
        .checked_add(kept)
        .unwrap_or(Money::from_micros(u64::MAX));
    let mut remaining = match reserve(record.daily_cap, committed, cost) {
        Ok(remaining) => remaining,
        Err(error) => return deny(error),
    };
    if let Some(total_cap) = record.constraints.as_ref().and_then(|c| c.total_usd_cap) {
        match reserve(total_cap, store.lifetime_committed()?, cost) {
            Ok(left) => remaining = remaining.min(left),
            Err(_) => {
                return deny(ApiError {
                    param: Some("constraints.total_usd_cap".into()),
                    ..ApiError::new(
                        ErrorCode::CapExhausted,
                        format!("this call costs ${cost} but the key's lifetime cap of ${total_cap} would be exceeded (constraints.total_usd_cap)"),
                    )
                })
            }
        }
    }

    // Account budgets: spend only what this key has leased from each.
    let budgets: &[String] = if cost > Money::ZERO {
        &record.budgets
    } else {
        &[]
    };
    for budget in budgets {
        let available = store.lease_available(budget, day)?;
        if cost > available {
            return Ok(Verdict::NeedLease {
                budget: budget.clone(),
                shortfall: cost.saturating_sub(available),
            });
        }
    }

    let mut hold = hold_for(record, attempt, charge, priced, replay);
    hold.day = day;
    hold.cost = cost;
    hold.budgets = budgets;
    if let Some(limit) = threshold {
        // The cost is held under every cap now, so approvals waiting
        // together can never promise more than the caps allow.
        let id = approval_id(&record.id, &attempt.request_id);
        let ttl_ms = record
            .constraints
            .as_ref()
            .map_or(0, |c| i64::from(c.approval_ttl_secs()) * 1000);
        let approval = Approval {
            id: id.clone(),
            key_id: record.id.clone(),
            fingerprint: attempt.fingerprint.clone(),
            status: ApprovalStatus::Pending,
            cost,
            day,
            requested_at: attempt.now,
            expires_at: attempt.now + ttl_ms,
            decided_at: None,
            decided_by: None,
            note: None,
            used_by: None,
            request: approval_request(attempt, charge),
        };
        store.request_approval(
            &approval,
            &Hold {
                request_id: &id,
                idempotency: None,
                counts_request: false,
                counts_rate: false,
                ..hold
            },
        )?;
        notify_thresholds(
            store,
            day,
            committed,
            committed.checked_add(cost).unwrap_or(record.daily_cap),
            record.daily_cap,
        )?;
        store.notify(&Notice::ApprovalRequested(Box::new(approval.clone())))?;
        return deny(approval_required(&approval, limit, false));
    }
    store.hold(&hold)?;
    notify_thresholds(
        store,
        day,
        committed,
        committed.checked_add(cost).unwrap_or(record.daily_cap),
        record.daily_cap,
    )?;
    store.audit(attempt, None, cost, false)?;
    Ok(Verdict::Decided(Decision::Allowed { cost, remaining }))
}

/// What an allowed call records (day, cost and budgets filled in by the caller).
fn hold_for<'a>(
    record: &'a KeyRecord,
    attempt: &'a Attempt,
    charge: &'a Charge,
    priced: Option<PricedObject>,
    replay: bool,
) -> Hold<'a> {
    let constraints = record.constraints.as_ref();
    Hold {
        request_id: &attempt.request_id,
        day: 0,
        cost: Money::ZERO,
        now: attempt.now,
        charge,
        object: match charge {
            Charge::FollowUp { object, .. } | Charge::Refund { object, .. } => {
                Some(object.as_str())
            }
            _ => None,
        },
        priced,
        budgets: &[],
        idempotency: match (&attempt.idempotency_key, replay) {
            (Some(key), false) => Some((key.as_str(), attempt.fingerprint.as_str())),
            _ => None,
        },
        counts_request: constraints.is_some_and(|c| c.max_requests.is_some()),
        counts_rate: constraints.is_some_and(|c| c.rate_limit.is_some()),
    }
}

/// The request as a person deciding on it sees it.
fn approval_request(attempt: &Attempt, charge: &Charge) -> ApprovalRequest {
    ApprovalRequest {
        method: attempt.method.clone(),
        path: attempt.path.clone(),
        amount_minor: match charge {
            Charge::Amount { minor, .. } => Some(*minor),
            Charge::FollowUp { minor, .. } | Charge::Refund { minor, .. } => *minor,
            _ => None,
        },
        currency: attempt.facts.currency.clone(),
        customer: attempt.facts.customer.clone(),
        recipients: attempt.facts.to.clone(),
        run_id: attempt.run_id.clone(),
    }
}

/// An approved request goes through once, on the approval's hold: its cost
/// was reserved under every cap when the approval was asked for.
fn use_approval<S: KeyStore>(
    store: &S,
    record: &KeyRecord,
    attempt: &Attempt,
    charge: &Charge,
    priced: Option<PricedObject>,
    approval: Approval,
) -> Result<Verdict, S::Error> {
    let hold = Hold {
        day: approval.day,
        cost: approval.cost,
        ..hold_for(record, attempt, charge, priced, false)
    };
    store.use_approval_hold(&approval.id, &hold)?;
    let used = Approval {
        status: ApprovalStatus::Used,
        used_by: Some(attempt.request_id.clone()),
        ..approval
    };
    store.save_approval(&used)?;
    store.audit_approval(
        &used,
        ApprovalStatus::Used,
        format!("used by {}", attempt.request_id),
        attempt.now,
    )?;
    store.audit(attempt, None, used.cost, false)?;
    let (held, kept) = store.day_totals(ledger_day(attempt.now))?;
    let committed = held.checked_add(kept).unwrap_or(record.daily_cap);
    Ok(Verdict::Decided(Decision::Allowed {
        cost: used.cost,
        remaining: record.daily_cap.saturating_sub(committed),
    }))
}

/// Applies a person's decision: approving leaves the hold for the request
/// to use; denying releases it at once. Refused unless the approval waits.
pub fn decide_approval<S: KeyStore>(
    store: &S,
    approval: Approval,
    decision: &ApprovalDecision,
) -> Result<Result<Approval, ApiError>, S::Error> {
    if let Err(closed) = super::approval::check_decision(&approval, decision) {
        return Ok(Err(closed));
    }
    let status = if decision.approve {
        ApprovalStatus::Approved
    } else {
        release_hold(store, &approval.id)?;
        ApprovalStatus::Denied
    };
    let decided = Approval {
        status,
        decided_at: Some(decision.now),
        decided_by: Some(decision.by.clone()),
        note: decision.note.clone(),
        ..approval
    };
    store.save_approval(&decided)?;
    let note = decision
        .note
        .as_deref()
        .map(|n| format!(": {n}"))
        .unwrap_or_default();
    store.audit_approval(
        &decided,
        status,
        format!("{} by {}{note}", status.as_str(), decision.by),
        decision.now,
    )?;
    Ok(Ok(decided))
}

/// Expires the approvals whose time is up, releasing their holds. Returns
/// how many.
pub fn expire_approvals<S: KeyStore>(store: &S, now: i64) -> Result<usize, S::Error> {
    let due = store.approvals_due(now)?;
    for approval in &due {
        release_hold(store, &approval.id)?;
        let expired = Approval {
            status: ApprovalStatus::Expired,
            ..approval.clone()
        };
        store.save_approval(&expired)?;
        store.audit_approval(
            &expired,
            ApprovalStatus::Expired,
            format!("expired unused; its ${} hold was released", expired.cost),
            now,
        )?;
    }
    Ok(due.len())
}

/// Gives an approval's held cost back to the day and the leases.
fn release_hold<S: KeyStore>(store: &S, approval_id: &str) -> Result<(), S::Error> {
    if let Some(h) = store.release_approval_hold(approval_id)? {
        store.add_to_day(h.day, -(h.cost.micros() as i64), 0)?;
        store.release_leases(h.day, h.cost)?;
    }
    Ok(())
}

/// `max_requests` and `rate_limit`: whether one more call fits.
fn usage_allows<S: KeyStore>(
    store: &S,
    c: &Constraints,
    now: i64,
) -> Result<Result<(), ApiError>, S::Error> {
    if let Some(max) = c.max_requests {
        if store.requests_used()? >= max {
            return Ok(Err(constraint_error(
                "max_requests",
                format!(
                    "this key's {max} request{} are used up",
                    if max == 1 { "" } else { "s" }
                ),
            )));
        }
    }
    if let Some(limit) = c.rate_limit {
        let since = now - i64::from(limit.per_secs) * 1000;
        if store.calls_since(since)? >= u64::from(limit.requests) {
            return Ok(Err(ApiError {
                param: Some("constraints.rate_limit".into()),
                ..ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "this key allows {} calls per {} s; try again shortly",
                        limit.requests, limit.per_secs
                    ),
                )
            }));
        }
    }
    Ok(Ok(()))
}

/// Keeps or releases a reservation once the vendor answered (or did not).
/// Returns what the call finally cost and what is left of `daily_cap` on
/// the settlement's day. A repeat finds nothing held and changes nothing.
pub fn settle<S: KeyStore>(
    store: &S,
    settlement: &Settlement,
    daily_cap: Money,
) -> Result<Settled, S::Error> {
    settle_noting(store, settlement, daily_cap, None)
}

/// A reservation no Worker settled: kept, because the call may have reached
/// the vendor, and audited as `unsettled`.
pub fn resolve_stale<S: KeyStore>(
    store: &S,
    request_id: &str,
    now: i64,
    daily_cap: Money,
) -> Result<Settled, S::Error> {
    let settlement = Settlement {
        request_id: request_id.to_owned(),
        upstream_status: None,
        forwarded: true,
        created_object: None,
        now,
    };
    let why = "the Worker never reported the vendor's answer; the cost is kept because money may have moved";
    settle_noting(store, &settlement, daily_cap, Some(("unsettled", why)))
}

fn settle_noting<S: KeyStore>(
    store: &S,
    settlement: &Settlement,
    daily_cap: Money,
    note: Option<(&'static str, &str)>,
) -> Result<Settled, S::Error> {
    let rule = settle_as(settlement.upstream_status, settlement.forwarded);
    let today = ledger_day(settlement.now);
    let mut cost = Money::ZERO;
    let mut totals = None;
    if let Some(h) = store.claim(&settlement.request_id, rule != SettleAs::Release)? {
        let micros = h.cost.micros() as i64;
        let kept = if rule == SettleAs::Release { 0 } else { micros };
        let after = store.add_to_day(h.day, -micros, kept)?;
        if rule == SettleAs::Release {
            // What was not spent goes back to the key's leases.
            store.release_leases(h.day, h.cost)?;
        } else {
            cost = h.cost;
        }
        if h.day == today {
            totals = Some(after);
        }
        if rule == SettleAs::Keep {
            // Remember what this key paid for, so confirming, capturing or
            // refunding it later is priced from it.
            let object = match h.kind.as_str() {
                "amount" => settlement.created_object.clone(),
                _ => h.object.clone(),
            };
            if let (Some(object), Some(priced)) = (object, h.priced) {
                store.remember(&object, priced)?;
            }
        }
        let mut end = ending(settlement, rule, cost);
        if let Some((code, message)) = note {
            end.code = Some(code);
            end.message = Some(message.to_owned());
        }
        store.finish_audit(&settlement.request_id, &end)?;
    }
    let (held, kept) = match totals {
        Some(t) => t,
        None => store.day_totals(today)?,
    };
    Ok(Settled {
        cost,
        remaining: daily_cap.saturating_sub(held.checked_add(kept).unwrap_or(daily_cap)),
    })
}

/// The audit row's ending: the vendor's status, the final cost, and why a
/// cost was kept without a 2xx.
fn ending(settlement: &Settlement, rule: SettleAs, cost: Money) -> Ending {
    let (code, message) = match (rule, settlement.upstream_status) {
        _ if !settlement.forwarded => (
            Some("client_cancelled"),
            Some("the client left before the call was sent; nothing was charged".to_owned()),
        ),
        (SettleAs::KeepAmbiguous, Some(s)) => (
            Some("upstream_error"),
            Some(format!(
                "vendor answered {s}; the cost is kept because money may have moved"
            )),
        ),
        (SettleAs::KeepAmbiguous, None) => (
            Some("upstream_unreachable"),
            Some(
                "no answer from the vendor; the cost is kept because money may have moved"
                    .to_owned(),
            ),
        ),
        _ => (None, None),
    };
    Ending {
        upstream_status: settlement.upstream_status,
        cost,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::super::memory::MemoryStore;
    use super::*;
    use crate::core::constraints::{CallFacts, RateLimit};
    use proptest::prelude::*;

    const DAY_MS: i64 = 86_400_000;
    const WINDOW: i64 = DAY_MS;

    fn usd(dollars: u64) -> Money {
        Money::from_micros(dollars * 1_000_000)
    }

    fn record(cap: u64) -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            label: "l".into(),
            vendor: "stripe".into(),
            allowed_endpoints: vec!["/v1/**".into()],
            daily_cap: usd(cap),
            allowed_accounts: vec![],
            created_at: 0,
            expires_at: i64::MAX,
            revoked_at: None,
            token_hash: "h".into(),
            idempotency: None,
            constraints: None,
            issuer_id: None,
            budgets: vec![],
            paused_at: None,
        }
    }

    fn attempt(id: &str, charge: Charge) -> Attempt {
        Attempt {
            request_id: id.into(),
            token_hash: "h".into(),
            vendor: "stripe".into(),
            method: "POST".into(),
            path: "/v1/payment_intents".into(),
            charge: Ok(charge),
            accounts: vec![],
            idempotency_key: None,
            fingerprint: String::new(),
            now: 1_000,
            trace_id: None,
            run_id: None,
            facts: CallFacts::default(),
            via: None,
        }
    }

    fn pay(dollars: u64) -> Charge {
        Charge::Amount {
            usd: usd(dollars),
            minor: dollars * 100,
        }
    }

    fn run(store: &MemoryStore, rec: &KeyRecord, a: &Attempt, waited: bool) -> Verdict {
        let allowlist = Allowlist::parse(&rec.allowed_endpoints).unwrap();
        let Ok(v) = decide(store, rec, &allowlist, a, waited, WINDOW);
        v
    }

    fn cost_of(v: &Verdict) -> Option<Money> {
        match v {
            Verdict::Decided(Decision::Allowed { cost, .. }) => Some(*cost),
            _ => None,
        }
    }

    fn code_of(v: &Verdict) -> Option<ErrorCode> {
        match v {
            Verdict::Decided(Decision::Denied { error, .. }) => Some(error.code),
            _ => None,
        }
    }

    fn answer(
        store: &MemoryStore,
        id: &str,
        status: u16,
        created: Option<&str>,
        cap: Money,
    ) -> Settled {
        let Ok(s) = settle(
            store,
            &Settlement {
                request_id: id.into(),
                upstream_status: Some(status),
                forwarded: true,
                created_object: created.map(str::to_owned),
                now: 1_000,
            },
            cap,
        );
        s
    }

    #[test]
    fn a_forged_credential_leaves_no_trace_in_the_key() {
        let store = MemoryStore::default();
        let a = Attempt {
            token_hash: "forged".into(),
            ..attempt("r1", pay(1))
        };
        let v = run(&store, &record(10), &a, false);
        assert_eq!(code_of(&v), Some(ErrorCode::InvalidKey));
        assert!(matches!(
            v,
            Verdict::Decided(Decision::Denied { audited: false, .. })
        ));
        assert!(store.0.borrow().audit.is_empty());
    }

    #[test]
    fn denials_are_audited_and_change_nothing() {
        let store = MemoryStore::default();
        let rec = record(10);
        let v = run(&store, &rec, &attempt("r1", pay(11)), false);
        assert_eq!(code_of(&v), Some(ErrorCode::CapExhausted));
        let s = store.0.borrow();
        assert_eq!(s.audit["r1"].code.as_deref(), Some("cap_exhausted"));
        assert!(s.reservations.is_empty() && s.days.is_empty());
    }

    #[test]
    fn idempotent_retries_ride_free_only_on_a_kept_attempt() {
        let store = MemoryStore::default();
        let rec = record(100);
        let idem = |id: &str, now: i64, fp: &str| Attempt {
            idempotency_key: Some("k".into()),
            fingerprint: fp.into(),
            now,
            ..attempt(id, pay(20))
        };
        assert_eq!(
            cost_of(&run(&store, &rec, &idem("r1", 1_000, "f"), false)),
            Some(usd(20))
        );
        // Held: wait for the vendor's answer, or pay once waiting is over.
        assert_eq!(
            run(&store, &rec, &idem("r2", 1_000, "f"), false),
            Verdict::AwaitPrior
        );
        answer(&store, "r1", 200, Some("pi_1"), rec.daily_cap);
        assert_eq!(
            cost_of(&run(&store, &rec, &idem("r3", 2_000, "f"), false)),
            Some(Money::ZERO)
        );
        // Another call under the same key, or the same call after the window.
        assert_eq!(
            cost_of(&run(&store, &rec, &idem("r4", 2_000, "g"), false)),
            Some(usd(20))
        );
        answer(&store, "r4", 200, None, rec.daily_cap);
        assert_eq!(
            cost_of(&run(&store, &rec, &idem("r5", 2_000 + WINDOW, "g"), false)),
            Some(usd(20))
        );
        // A first attempt the vendor refused: the retry is a new call.
        let fresh = MemoryStore::default();
        run(&fresh, &rec, &idem("s1", 1_000, "f"), false);
        answer(&fresh, "s1", 400, None, rec.daily_cap);
        assert_eq!(
            cost_of(&run(&fresh, &rec, &idem("s2", 1_000, "f"), false)),
            Some(usd(20))
        );
        let waited = MemoryStore::default();
        run(&waited, &rec, &idem("w1", 1_000, "f"), false);
        assert_eq!(
            cost_of(&run(&waited, &rec, &idem("w2", 1_000, "f"), true)),
            Some(usd(20))
        );
    }

    #[test]
    fn steps_and_refunds_are_priced_from_what_the_key_created() {
        let store = MemoryStore::default();
        let rec = record(100);
        run(&store, &rec, &attempt("c1", pay(12)), false);
        // A step on it waits while the create is held, then prices from it.
        let confirm = attempt(
            "c2",
            Charge::FollowUp {
                object: "pi_1".into(),
                minor: None,
            },
        );
        assert_eq!(run(&store, &rec, &confirm, false), Verdict::AwaitCreates);
        answer(&store, "c1", 200, Some("pi_1"), rec.daily_cap);
        assert_eq!(
            cost_of(&run(&store, &rec, &confirm, false)),
            Some(Money::ZERO)
        );
        let raise = attempt(
            "c3",
            Charge::FollowUp {
                object: "pi_1".into(),
                minor: Some(2400),
            },
        );
        assert_eq!(cost_of(&run(&store, &rec, &raise, false)), Some(usd(12)));
        answer(&store, "c3", 200, None, rec.daily_cap);
        assert_eq!(
            store.0.borrow().priced["pi_1"],
            PricedObject {
                minor: 2400,
                usd: usd(24)
            }
        );
        let refund = attempt(
            "c4",
            Charge::Refund {
                object: "pi_1".into(),
                minor: Some(1200),
            },
        );
        assert_eq!(cost_of(&run(&store, &rec, &refund, false)), Some(usd(12)));
        let foreign = attempt(
            "c5",
            Charge::Refund {
                object: "pi_x".into(),
                minor: None,
            },
        );
        assert_eq!(
            code_of(&run(&store, &rec, &foreign, false)),
            Some(ErrorCode::UnpriceableRequest)
        );
    }

    #[test]
    fn constraints_judge_the_new_total_and_count_uses() {
        let store = MemoryStore::default();
        let rec = KeyRecord {
            constraints: Some(Constraints {
                max_amount_usd: Some(usd(15)),
                max_requests: Some(3),
                rate_limit: Some(RateLimit {
                    requests: 2,
                    per_secs: 60,
                }),
                total_usd_cap: Some(usd(30)),
                ..Default::default()
            }),
            ..record(100)
        };
        assert_eq!(
            code_of(&run(&store, &rec, &attempt("a0", pay(16)), false)),
            Some(ErrorCode::ConstraintViolated)
        );
        run(&store, &rec, &attempt("a1", pay(12)), false);
        answer(&store, "a1", 200, Some("pi_1"), rec.daily_cap);
        let raise = attempt(
            "a2",
            Charge::FollowUp {
                object: "pi_1".into(),
                minor: Some(2400),
            },
        );
        assert_eq!(
            code_of(&run(&store, &rec, &raise, false)),
            Some(ErrorCode::ConstraintViolated)
        );
        assert_eq!(
            cost_of(&run(&store, &rec, &attempt("a3", pay(10)), false)),
            Some(usd(10))
        );
        assert_eq!(
            code_of(&run(&store, &rec, &attempt("a4", pay(1)), false)),
            Some(ErrorCode::RateLimited)
        );
        let later = Attempt {
            now: 70_000,
            ..attempt("a5", pay(9))
        };
        assert_eq!(
            code_of(&run(&store, &rec, &later, false)),
            Some(ErrorCode::CapExhausted),
            "lifetime cap"
        );
        let small = Attempt {
            now: 70_000,
            ..attempt("a6", pay(8))
        };
        assert_eq!(cost_of(&run(&store, &rec, &small, false)), Some(usd(8)));
        let fourth = Attempt {
            now: 140_000,
            ..attempt("a7", Charge::Free)
        };
        assert_eq!(
            code_of(&run(&store, &rec, &fourth, false)),
            Some(ErrorCode::ConstraintViolated),
            "max_requests"
        );
    }

    #[test]
    fn budgets_are_spent_only_from_leases() {
        let store = MemoryStore::default();
        let rec = KeyRecord {
            budgets: vec!["b".into()],
            ..record(100)
        };
        assert_eq!(
            run(&store, &rec, &attempt("l1", pay(10)), false),
            Verdict::NeedLease {
                budget: "b".into(),
                shortfall: usd(10)
            }
        );
        store.grant("b", 0, usd(15));
        assert_eq!(
            cost_of(&run(&store, &rec, &attempt("l1", pay(10)), false)),
            Some(usd(10))
        );
        assert_eq!(
            run(&store, &rec, &attempt("l2", pay(10)), false),
            Verdict::NeedLease {
                budget: "b".into(),
                shortfall: usd(5)
            }
        );
        answer(&store, "l1", 402, None, rec.daily_cap);
        assert_eq!(
            cost_of(&run(&store, &rec, &attempt("l2", pay(10)), false)),
            Some(usd(10)),
            "a release returns the lease"
        );
        assert_eq!(
            cost_of(&run(&store, &rec, &attempt("l3", Charge::Free), false)),
            Some(Money::ZERO)
        );
    }

    #[test]
    fn settlement_keeps_releases_and_notes_why() {
        let store = MemoryStore::default();
        let rec = record(30);
        for id in ["k", "r", "a", "s"] {
            run(&store, &rec, &attempt(id, pay(7)), false);
        }
        assert_eq!(
            answer(&store, "k", 200, None, rec.daily_cap),
            Settled {
                cost: usd(7),
                remaining: usd(2)
            }
        );
        assert_eq!(
            answer(&store, "r", 404, None, rec.daily_cap),
            Settled {
                cost: Money::ZERO,
                remaining: usd(9)
            }
        );
        assert_eq!(
            answer(&store, "r", 200, None, rec.daily_cap).cost,
            Money::ZERO,
            "a repeat changes nothing"
        );
        assert_eq!(answer(&store, "a", 503, None, rec.daily_cap).cost, usd(7));
        let Ok(stale) = resolve_stale(&store, "s", 1_000, rec.daily_cap);
        assert_eq!(stale.cost, usd(7));
        let s = store.0.borrow();
        assert_eq!(s.audit["a"].code.as_deref(), Some("upstream_error"));
        assert_eq!(s.audit["s"].code.as_deref(), Some("unsettled"));
        assert_eq!(s.days[&0], (Money::ZERO, usd(21)));
    }

    fn gated(cap: u64, above: u64) -> KeyRecord {
        KeyRecord {
            constraints: Some(Constraints {
                approval_above_usd: Some(usd(above)),
                ..Default::default()
            }),
            ..record(cap)
        }
    }

    /// A payment whose fingerprint is its amount: the same request again.
    fn ask(id: &str, dollars: u64) -> Attempt {
        Attempt {
            fingerprint: format!("pay {dollars}"),
            ..attempt(id, pay(dollars))
        }
    }

    fn approval_of(v: &Verdict) -> String {
        match v {
            Verdict::Decided(Decision::Denied {
                error,
                audited: true,
            }) if error.code == ErrorCode::ApprovalRequired => error.approval_id.clone().unwrap(),
            other => panic!("expected approval_required, got {other:?}"),
        }
    }

    fn decide_on(
        store: &MemoryStore,
        id: &str,
        approve: bool,
        now: i64,
    ) -> Result<Approval, ApiError> {
        let approval = store.0.borrow().approvals[id].clone();
        let decision = ApprovalDecision {
            approve,
            by: "admin".into(),
            note: None,
            now,
        };
        let Ok(decided) = decide_approval(store, approval, &decision);
        decided
    }

    #[test]
    fn above_the_threshold_a_call_waits_holding_its_cost_then_goes_through_once() {
        let store = MemoryStore::default();
        let rec = gated(200, 50);
        assert_eq!(
            cost_of(&run(&store, &rec, &ask("small", 50), false)),
            Some(usd(50)),
            "at the threshold: no approval"
        );
        let first = run(&store, &rec, &ask("r1", 60), false);
        let id = approval_of(&first);
        assert_eq!(id, approval_id("key_1", "r1"));
        assert_eq!(
            store.day_totals(0).unwrap(),
            (usd(110), Money::ZERO),
            "the ask holds its cost"
        );
        // Asking again answers the same approval and holds nothing more.
        assert_eq!(approval_of(&run(&store, &rec, &ask("r2", 60), false)), id);
        assert_eq!(store.day_totals(0).unwrap().0, usd(110));
        assert_eq!(
            store.0.borrow().audit["r2"].code.as_deref(),
            Some("approval_required")
        );

        let approved = decide_on(&store, &id, true, 2_000).unwrap();
        assert_eq!(approved.status, ApprovalStatus::Approved);
        assert_eq!(
            decide_on(&store, &id, false, 2_000).unwrap_err().code,
            ErrorCode::ApprovalClosed
        );
        // Another request is another approval, however close.
        let other = approval_of(&run(&store, &rec, &ask("r3", 61), false));
        assert_ne!(other, id);
        assert_eq!(store.day_totals(0).unwrap().0, usd(171));

        let used = run(&store, &rec, &ask("r4", 60), false);
        assert_eq!(cost_of(&used), Some(usd(60)));
        assert_eq!(
            store.day_totals(0).unwrap().0,
            usd(171),
            "the call took the approval's hold over"
        );
        assert_eq!(store.0.borrow().approvals[&id].status, ApprovalStatus::Used);
        assert_eq!(
            store.0.borrow().approvals[&id].used_by.as_deref(),
            Some("r4")
        );
        assert_eq!(
            answer(&store, "r4", 200, Some("pi_1"), rec.daily_cap).cost,
            usd(60)
        );
        assert_eq!(store.day_totals(0).unwrap(), (usd(111), usd(60)));
        answer(&store, "small", 402, None, rec.daily_cap);
        // Single use.
        assert_ne!(approval_of(&run(&store, &rec, &ask("r5", 60), false)), id);
        let s = store.0.borrow();
        assert_eq!(
            s.audit[&format!("{id}:approved")].code.as_deref(),
            Some("approval_approved")
        );
        assert_eq!(
            s.audit[&format!("{id}:used")].code.as_deref(),
            Some("approval_used")
        );
    }

    #[test]
    fn denial_and_expiry_release_the_hold_and_close_the_approval() {
        let store = MemoryStore::default();
        let rec = gated(100, 10);
        let denied = approval_of(&run(&store, &rec, &ask("d", 30), false));
        let expiring = approval_of(&run(&store, &rec, &ask("e", 40), false));
        assert_eq!(store.day_totals(0).unwrap().0, usd(70));
        decide_on(&store, &denied, false, 2_000).unwrap();
        assert_eq!(
            store.day_totals(0).unwrap().0,
            usd(40),
            "denial releases at once"
        );
        decide_on(&store, &expiring, true, 2_000).unwrap();
        let ttl = i64::from(crate::core::constraints::DEFAULT_APPROVAL_TTL_SECS) * 1000;
        let Ok(n) = expire_approvals(&store, 1_000 + ttl - 1);
        assert_eq!(n, 0, "not before its time");
        let Ok(n) = expire_approvals(&store, 1_000 + ttl);
        assert_eq!(n, 1, "an approved but unused approval expires too");
        assert_eq!(store.day_totals(0).unwrap().0, Money::ZERO);
        assert_eq!(
            store.0.borrow().approvals[&expiring].status,
            ApprovalStatus::Expired
        );
        // Neither can be used: the same requests ask again.
        assert_ne!(
            approval_of(&run(&store, &rec, &ask("d2", 30), false)),
            denied
        );
        assert_ne!(
            approval_of(&run(&store, &rec, &ask("e2", 40), false)),
            expiring
        );
        // A deadline passed by the key's clock reads as expired before the alarm.
        let late = Attempt {
            now: 1_000 + ttl,
            ..ask("e3", 40)
        };
        let s = store.0.borrow();
        let e2 = s
            .approvals
            .values()
            .find(|a| a.fingerprint == "pay 40" && a.status == ApprovalStatus::Pending)
            .unwrap();
        assert_eq!(e2.status_at(late.now + 1_000), ApprovalStatus::Expired);
    }

    #[test]
    fn approvals_waiting_together_cannot_promise_more_than_the_cap() {
        let store = MemoryStore::default();
        let rec = gated(100, 10);
        let verdicts: Vec<Verdict> = (0..10)
            .map(|i| run(&store, &rec, &ask(&format!("r{i}"), 30 + i), false))
            .collect();
        let asked = verdicts
            .iter()
            .filter(|v| code_of(v) == Some(ErrorCode::ApprovalRequired))
            .count();
        let refused = verdicts
            .iter()
            .filter(|v| code_of(v) == Some(ErrorCode::CapExhausted))
            .count();
        assert_eq!(
            (asked, refused),
            (3, 7),
            "30 + 31 + 32 fit under 100, a fourth does not"
        );
        assert_eq!(store.day_totals(0).unwrap().0, usd(93));
    }

    #[test]
    fn spend_thresholds_and_refusal_bursts_are_told_once() {
        let store = MemoryStore::default();
        let rec = record(10);
        let percents = |store: &MemoryStore| -> Vec<u64> {
            store
                .0
                .borrow()
                .notices
                .iter()
                .filter_map(|n| match n {
                    Notice::SpendThreshold { percent, .. } => Some(*percent),
                    _ => None,
                })
                .collect()
        };
        run(&store, &rec, &attempt("a", pay(4)), false);
        assert_eq!(percents(&store), Vec::<u64>::new());
        run(&store, &rec, &attempt("b", pay(1)), false);
        assert_eq!(percents(&store), vec![50]);
        run(&store, &rec, &attempt("c", pay(4)), false);
        assert_eq!(percents(&store), vec![50, 80]);
        // $1 left: a $2 call is refused, which is as good as 100 %, once.
        assert_eq!(
            code_of(&run(&store, &rec, &attempt("d", pay(2)), false)),
            Some(ErrorCode::CapExhausted)
        );
        assert_eq!(percents(&store), vec![50, 80, 100]);
        run(&store, &rec, &attempt("e", pay(1)), false);
        assert_eq!(
            percents(&store),
            vec![50, 80, 100],
            "each threshold once a day"
        );

        let bursts = |store: &MemoryStore| {
            store
                .0
                .borrow()
                .notices
                .iter()
                .filter(|n| matches!(n, Notice::DeniedBurst { .. }))
                .count()
        };
        // A refused $5 call (over the cap) at `now`.
        let refuse = |now: i64, id: &str| {
            let call = Attempt {
                now,
                ..attempt(id, pay(5))
            };
            run(&store, &rec, &call, false);
        };
        // One refusal so far ("d"); nine more within the minute make ten.
        for i in 0..8 {
            refuse(1_000 + i, &format!("x{i}"));
        }
        assert_eq!(bursts(&store), 0);
        refuse(1_100, "x8");
        assert_eq!(bursts(&store), 1);
        refuse(1_200, "x9");
        assert_eq!(bursts(&store), 1, "told once as the burst reaches ten");
        // A minute later the window has emptied; ten more are a new burst.
        for i in 0..10 {
            refuse(200_000 + i, &format!("y{i}"));
        }
        assert_eq!(bursts(&store), 2);
    }

    #[test]
    fn an_approval_request_is_told_and_is_not_a_refusal() {
        let store = MemoryStore::default();
        let rec = gated(100, 10);
        for i in 0..12 {
            run(&store, &rec, &ask(&format!("r{i}"), 20), false);
        }
        let s = store.0.borrow();
        let requested = s
            .notices
            .iter()
            .filter(|n| matches!(n, Notice::ApprovalRequested(_)))
            .count();
        assert_eq!(
            requested, 1,
            "asking again for the same request is one approval"
        );
        assert!(!s
            .notices
            .iter()
            .any(|n| matches!(n, Notice::DeniedBurst { .. })));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Call { dollars: u64, day: i64 },
        Answer { nth: usize, status: u16 },
        Decide { nth: usize, approve: bool },
        Expire { day: i64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u64..40, 0i64..2).prop_map(|(dollars, day)| Op::Call { dollars, day }),
            (0usize..64, prop_oneof![Just(200u16), Just(402), Just(500)])
                .prop_map(|(nth, status)| Op::Answer { nth, status }),
            (0usize..64, any::<bool>()).prop_map(|(nth, approve)| Op::Decide { nth, approve }),
            (0i64..3).prop_map(|day| Op::Expire { day }),
        ]
    }

    proptest! {
        /// Under any interleaving of calls, answers, approvals decided and
        /// expired across days, a day's held and kept never pass its cap,
        /// nor all days the lifetime cap, and what is kept is exactly what
        /// the audit says was spent.
        #[test]
        fn caps_hold_under_any_interleaving(
            ops in prop::collection::vec(op(), 1..80),
            cap in 1u64..120,
            total in 1u64..200,
            above in prop::option::of(1u64..40),
        ) {
            let store = MemoryStore::default();
            let rec = KeyRecord {
                constraints: Some(Constraints {
                    total_usd_cap: Some(usd(total)),
                    approval_above_usd: above.map(usd),
                    ..Default::default()
                }),
                ..record(cap)
            };
            let mut made = Vec::new();
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Call { dollars, day } => {
                        let a = Attempt { now: day * DAY_MS + 1, ..ask(&format!("r{i}"), dollars) };
                        if cost_of(&run(&store, &rec, &a, false)).is_some() {
                            made.push(a.request_id);
                        }
                    }
                    Op::Answer { nth, status } => {
                        if let Some(id) = made.get(nth % made.len().max(1)) {
                            answer(&store, id, status, None, rec.daily_cap);
                        }
                    }
                    Op::Decide { nth, approve } => {
                        let ids: Vec<String> = store.0.borrow().approvals.keys().cloned().collect();
                        if let Some(id) = ids.get(nth % ids.len().max(1)) {
                            let _ = decide_on(&store, id, approve, 1);
                        }
                    }
                    Op::Expire { day } => {
                        let Ok(_) = expire_approvals(&store, day * DAY_MS);
                    }
                }
                let s = store.0.borrow();
                let mut lifetime = Money::ZERO;
                for (held, kept) in s.days.values() {
                    let day = held.checked_add(*kept).unwrap();
                    prop_assert!(day <= rec.daily_cap, "a day committed {day}, cap {}", rec.daily_cap);
                    lifetime = lifetime.checked_add(day).unwrap();
                }
                prop_assert!(lifetime <= usd(total));
                let kept: u64 = s.days.values().map(|(_, k)| k.micros()).sum();
                let audited: u64 = s.audit.values().filter(|r| r.allowed && r.settled).map(|r| r.cost.micros()).sum();
                prop_assert_eq!(kept, audited);
            }
        }
    }
}
