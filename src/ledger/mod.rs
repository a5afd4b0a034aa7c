//! The rules a vault key's Durable Object applies, as pure functions, and
//! the messages it exchanges with the Worker. The object (`vault_key/`)
//! only adds storage around them: every spend decision is made in
//! `decide.rs`, in one synchronous step, and tested on the host.

pub mod approval;
pub mod decide;
#[cfg(test)]
pub mod memory;
pub mod steer;

use serde::{Deserialize, Serialize};

use crate::core::constraints::{CallFacts, Constraints};
use crate::core::endpoint::{canonicalize, Allowlist};
use crate::core::money::Money;
use crate::core::time::utc_day;
use crate::core::token::constant_time_eq;
use crate::error::{ApiError, ErrorCode};
use crate::vendors::Charge;

/// A vault key as its Durable Object holds it. The token itself is never
/// stored: only its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub label: String,
    pub vendor: String,
    pub allowed_endpoints: Vec<String>,
    pub daily_cap: Money,
    /// Values of account-scoping headers (`Stripe-Account`) this key may send.
    #[serde(default)]
    pub allowed_accounts: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(default)]
    pub revoked_at: Option<i64>,
    pub token_hash: String,
    /// For a key issued with an `Idempotency-Key`: a digest of the request,
    /// so a retry with another policy is refused rather than replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<String>,
    /// Limits on the calls' arguments and on the key's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    /// The issuer token that issued the key, if not the admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_id: Option<String>,
    /// Account-wide budgets this key spends under (their ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<String>,
    /// When the key was paused (`POST /v1/keys/{id}/pause`); its calls are
    /// refused until it is resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<i64>,
}

impl KeyRecord {
    pub fn status(&self, now: i64) -> KeyStatus {
        KeyStatus::of(self.revoked_at, self.paused_at, self.expires_at, now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    /// Alive but refusing calls until resumed.
    Paused,
    Revoked,
    Expired,
}

impl KeyStatus {
    /// Revoked and expired are final and win over paused.
    pub fn of(
        revoked_at: Option<i64>,
        paused_at: Option<i64>,
        expires_at: i64,
        now: i64,
    ) -> KeyStatus {
        if revoked_at.is_some() {
            KeyStatus::Revoked
        } else if now >= expires_at {
            KeyStatus::Expired
        } else if paused_at.is_some() {
            KeyStatus::Paused
        } else {
            KeyStatus::Active
        }
    }

    pub fn parse(text: &str) -> Option<KeyStatus> {
        [
            KeyStatus::Active,
            KeyStatus::Paused,
            KeyStatus::Revoked,
            KeyStatus::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Paused => "paused",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Expired => "expired",
        }
    }
}

/// One proxied call, as the Worker presents it to the key's Durable Object.
/// Problems the Worker found (a bad path, an unpriceable body) travel along
/// so the object decides in one fixed order and audits every attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    pub request_id: String,
    pub token_hash: String,
    /// The vendor named by the proxy path.
    pub vendor: String,
    pub method: String,
    /// The path as received after the vendor prefix (for matching and audit).
    pub path: String,
    /// The Worker's verdict so far: the price, or why the call cannot go
    /// (bad path, unreadable body, unpriceable, vendor not configured).
    pub charge: Result<Charge, ApiError>,
    /// Values of every account-scoping header the client sent
    /// (`Stripe-Account`, `Stripe-Context`): each must be allowed.
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// SHA-256 of method, path and forwarded body: an idempotent retry only
    /// rides free on an identical request.
    pub fingerprint: String,
    pub now: i64,
    /// The caller's W3C trace id and agent run id, kept in the audit row.
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// What the vendor read from the request, for the key's constraints.
    #[serde(default)]
    pub facts: CallFacts,
    /// How the call arrived when not as plain HTTP (`mcp`), for the audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// The object's answer to an `Attempt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Allowed {
        cost: Money,
        remaining: Money,
    },
    Denied {
        error: ApiError,
        /// False when the object holds no key by that id and so kept no
        /// audit row: the Worker writes one straight to D1.
        audited: bool,
    },
}

/// How an allowed call ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settlement {
    pub request_id: String,
    /// The vendor's status; `None` when no answer arrived.
    pub upstream_status: Option<u16>,
    /// False when the call was never sent (the client left first).
    pub forwarded: bool,
    /// The object a successful priced call created (`pi_…`).
    #[serde(default)]
    pub created_object: Option<String>,
    pub now: i64,
}

impl Settlement {
    /// A call dropped before it was sent: nothing can have moved.
    pub fn not_forwarded(request_id: &str, now: i64) -> Settlement {
        Settlement {
            request_id: request_id.to_owned(),
            upstream_status: None,
            forwarded: false,
            created_object: None,
            now,
        }
    }
}

/// What happens to a reservation once the vendor has answered (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleAs {
    /// 2xx: the money moved.
    Keep,
    /// 4xx, or never sent: nothing moved, the cap is freed at once.
    Release,
    /// 5xx, timeout, lost connection: the vendor may have acted, so the
    /// reservation is kept (fail closed) and the audit row says why.
    KeepAmbiguous,
}

pub fn settle_as(upstream_status: Option<u16>, forwarded: bool) -> SettleAs {
    if !forwarded {
        return SettleAs::Release;
    }
    match upstream_status {
        Some(s) if (200..300).contains(&s) => SettleAs::Keep,
        Some(s) if (400..500).contains(&s) => SettleAs::Release,
        _ => SettleAs::KeepAmbiguous,
    }
}

/// Everything about an attempt that does not depend on money, in the order a
/// caller should learn it: who you are, whether the key lives, whether the
/// call is in scope.
pub fn check_access(
    record: &KeyRecord,
    allowlist: &Allowlist,
    attempt: &Attempt,
) -> Result<(), ApiError> {
    if !constant_time_eq(record.token_hash.as_bytes(), attempt.token_hash.as_bytes()) {
        return Err(ApiError::new(
            ErrorCode::InvalidKey,
            "this vault key is not valid",
        ));
    }
    match record.status(attempt.now) {
        KeyStatus::Revoked => {
            return Err(ApiError::new(
                ErrorCode::KeyRevoked,
                format!("vault key {} has been revoked", record.id),
            ))
        }
        KeyStatus::Expired => {
            return Err(ApiError::new(
                ErrorCode::KeyExpired,
                format!("vault key {} has expired", record.id),
            ))
        }
        // After the credential and the key's life: a paused key still
        // tells a wrong token or a dead key apart.
        KeyStatus::Paused => {
            return Err(ApiError::new(
                ErrorCode::KeyPaused,
                format!(
                    "vault key {} is paused; calls are refused until it is resumed",
                    record.id
                ),
            ))
        }
        KeyStatus::Active => {}
    }
    if attempt.vendor != record.vendor {
        return Err(ApiError::new(
            ErrorCode::VendorMismatch,
            format!(
                "vault key {} is for {}, not {}",
                record.id, record.vendor, attempt.vendor
            ),
        ));
    }
    let path =
        canonicalize(&attempt.path).map_err(|e| ApiError::bad_request(format!("refused: {e}")))?;
    if !allowlist.allows(&attempt.method, &path) {
        return Err(ApiError::new(
            ErrorCode::EndpointNotAllowed,
            format!(
                "{} {} is not in this key's allowed endpoints",
                attempt.method, attempt.path
            ),
        ));
    }
    for account in &attempt.accounts {
        if !record.allowed_accounts.iter().any(|a| a == account) {
            return Err(ApiError::new(
                ErrorCode::AccountNotAllowed,
                format!("this key may not act for account {account:?}"),
            ));
        }
    }
    Ok(())
}

/// A priced object this key created, remembered for later steps on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedObject {
    pub minor: u64,
    pub usd: Money,
}

/// The cost of a follow-up step and the object's new priced state, if any.
pub fn follow_up_cost(
    object: &str,
    known: Option<PricedObject>,
    minor: Option<u64>,
) -> Result<(Money, Option<PricedObject>), ApiError> {
    match (known, minor) {
        (Some(_), None) => Ok((Money::ZERO, None)),
        (Some(p), Some(m)) if m <= p.minor => Ok((Money::ZERO, None)),
        (Some(p), Some(m)) => {
            // Charge the increase at the rate the object was priced at,
            // rounded up: usd * (m - minor) / minor.
            if p.minor == 0 {
                return Err(ApiError::unpriceable(format!(
                    "{object} was priced at zero; its new amount cannot be converted"
                )));
            }
            let extra = (p.usd.micros() as u128 * (m - p.minor) as u128).div_ceil(p.minor as u128);
            let extra = Money::from_micros(
                u64::try_from(extra).map_err(|_| ApiError::unpriceable("amount is too large"))?,
            );
            let total = p
                .usd
                .checked_add(extra)
                .ok_or_else(|| ApiError::unpriceable("amount is too large"))?;
            Ok((
                extra,
                Some(PricedObject {
                    minor: m,
                    usd: total,
                }),
            ))
        }
        (None, _) => Err(ApiError::unpriceable(format!(
            "{object} was not created through this key, so the money this step moves is unknown"
        ))),
    }
}

/// What refunding `minor` of an object (all of it when `None`) costs: the
/// share of what the key priced it at, rounded up. The refund is in the
/// object's own currency, whatever the client states.
pub fn refund_cost(
    object: &str,
    known: Option<PricedObject>,
    minor: Option<u64>,
) -> Result<Money, ApiError> {
    let p = known.ok_or_else(|| {
        ApiError::unpriceable(format!(
            "{object} was not created through this key, so the money a refund of it moves is unknown"
        ))
    })?;
    let Some(m) = minor else {
        return Ok(p.usd);
    };
    if p.minor == 0 {
        return Err(ApiError::unpriceable(format!(
            "{object} was priced at zero; a refund of it cannot be converted"
        )));
    }
    let cost = (p.usd.micros() as u128 * m as u128).div_ceil(p.minor as u128);
    u64::try_from(cost)
        .map(Money::from_micros)
        .map_err(|_| ApiError::unpriceable("amount is too large"))
}

/// Reserves `cost` against today's cap. `committed` is everything held or
/// kept today. Returns what remains after this call.
pub fn reserve(cap: Money, committed: Money, cost: Money) -> Result<Money, ApiError> {
    let after = committed
        .checked_add(cost)
        .filter(|after| *after <= cap)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::CapExhausted,
                format!(
                    "this call costs ${cost} but only ${} of the ${cap} daily cap remains",
                    cap.saturating_sub(committed)
                ),
            )
        })?;
    Ok(cap.saturating_sub(after))
}

/// The ledger day of an instant (UTC).
pub fn ledger_day(now: i64) -> i64 {
    utc_day(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            label: "l".into(),
            vendor: "stripe".into(),
            allowed_endpoints: vec!["/v1/payment_intents".into()],
            daily_cap: Money::from_micros(100_000_000),
            allowed_accounts: vec!["acct_ok".into()],
            created_at: 0,
            expires_at: 1_000,
            revoked_at: None,
            token_hash: "h".into(),
            idempotency: None,
            constraints: None,
            issuer_id: None,
            budgets: vec![],
            paused_at: None,
        }
    }

    fn attempt() -> Attempt {
        Attempt {
            request_id: "req_1".into(),
            token_hash: "h".into(),
            vendor: "stripe".into(),
            method: "POST".into(),
            path: "/v1/payment_intents".into(),
            charge: Ok(Charge::Free),
            accounts: vec![],
            idempotency_key: None,
            fingerprint: "f".into(),
            now: 10,
            trace_id: None,
            run_id: None,
            facts: CallFacts::default(),
            via: None,
        }
    }

    fn check(record: &KeyRecord, attempt: &Attempt) -> Result<(), ErrorCode> {
        let list = Allowlist::parse(&record.allowed_endpoints).unwrap();
        check_access(record, &list, attempt).map_err(|e| e.code)
    }

    #[test]
    fn access_checks_in_order() {
        let r = record();
        assert_eq!(check(&r, &attempt()), Ok(()));
        let wrong_hash = Attempt {
            token_hash: "x".into(),
            vendor: "twilio".into(),
            ..attempt()
        };
        assert_eq!(check(&r, &wrong_hash), Err(ErrorCode::InvalidKey));
        let revoked = KeyRecord {
            revoked_at: Some(5),
            ..record()
        };
        assert_eq!(
            check(
                &revoked,
                &Attempt {
                    now: 5_000,
                    ..attempt()
                }
            ),
            Err(ErrorCode::KeyRevoked)
        );
        // Paused refuses after the credential and the key's life are
        // checked, and before anything about the call.
        let paused = KeyRecord {
            paused_at: Some(5),
            ..record()
        };
        assert_eq!(check(&paused, &attempt()), Err(ErrorCode::KeyPaused));
        assert_eq!(check(&paused, &wrong_hash), Err(ErrorCode::InvalidKey));
        let both = KeyRecord {
            revoked_at: Some(6),
            ..paused.clone()
        };
        assert_eq!(check(&both, &attempt()), Err(ErrorCode::KeyRevoked));
        assert_eq!(
            check(
                &paused,
                &Attempt {
                    vendor: "twilio".into(),
                    ..attempt()
                }
            ),
            Err(ErrorCode::KeyPaused)
        );
        assert_eq!(
            check(
                &r,
                &Attempt {
                    now: 1_000,
                    ..attempt()
                }
            ),
            Err(ErrorCode::KeyExpired)
        );
        assert_eq!(
            check(
                &r,
                &Attempt {
                    now: 999,
                    ..attempt()
                }
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &r,
                &Attempt {
                    vendor: "twilio".into(),
                    ..attempt()
                }
            ),
            Err(ErrorCode::VendorMismatch)
        );
        assert_eq!(
            check(
                &r,
                &Attempt {
                    path: "/v1/customers".into(),
                    ..attempt()
                }
            ),
            Err(ErrorCode::EndpointNotAllowed)
        );
        assert_eq!(
            check(
                &r,
                &Attempt {
                    path: "/v1/x/../payment_intents".into(),
                    ..attempt()
                }
            ),
            Err(ErrorCode::BadRequest)
        );
        assert_eq!(
            check(
                &r,
                &Attempt {
                    accounts: vec!["acct_ok".into()],
                    ..attempt()
                }
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &r,
                &Attempt {
                    accounts: vec!["acct_ok".into(), "acct_other".into()],
                    ..attempt()
                }
            ),
            Err(ErrorCode::AccountNotAllowed)
        );
    }

    #[test]
    fn reserve_never_passes_the_cap() {
        let cap = Money::from_micros(100);
        assert_eq!(
            reserve(cap, Money::from_micros(90), Money::from_micros(10)),
            Ok(Money::ZERO)
        );
        assert_eq!(
            reserve(cap, Money::from_micros(91), Money::from_micros(10))
                .unwrap_err()
                .code,
            ErrorCode::CapExhausted
        );
        assert_eq!(
            reserve(cap, Money::from_micros(100), Money::ZERO),
            Ok(Money::ZERO)
        );
        assert!(reserve(cap, Money::from_micros(u64::MAX), Money::from_micros(1)).is_err());
    }

    #[test]
    fn concurrent_reservations_sum_to_at_most_the_cap() {
        // 100 × $10 against $100, decided one after another as the object does.
        let cap = Money::from_micros(100_000_000);
        let mut committed = Money::ZERO;
        let mut allowed = 0;
        for _ in 0..100 {
            if reserve(cap, committed, Money::from_micros(10_000_000)).is_ok() {
                committed = committed
                    .checked_add(Money::from_micros(10_000_000))
                    .unwrap();
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10);
        assert_eq!(committed, cap);
    }

    #[test]
    fn follow_ups_on_paid_objects_are_free_up_to_their_price() {
        let paid = Some(PricedObject {
            minor: 2000,
            usd: Money::from_micros(20_000_000),
        });
        assert_eq!(follow_up_cost("pi", paid, None), Ok((Money::ZERO, None)));
        assert_eq!(
            follow_up_cost("pi", paid, Some(1500)),
            Ok((Money::ZERO, None))
        );
        let (extra, new) = follow_up_cost("pi", paid, Some(3000)).unwrap();
        assert_eq!(extra, Money::from_micros(10_000_000));
        assert_eq!(
            new,
            Some(PricedObject {
                minor: 3000,
                usd: Money::from_micros(30_000_000)
            })
        );
        assert_eq!(
            follow_up_cost("pi", None, None).unwrap_err().code,
            ErrorCode::UnpriceableRequest
        );
        assert_eq!(
            follow_up_cost("pi", None, Some(5)).unwrap_err().code,
            ErrorCode::UnpriceableRequest,
            "a new amount on a payment another key priced is not free"
        );
    }

    #[test]
    fn refunds_cost_their_share_of_the_priced_payment() {
        // A payment of ₹1,000.00 priced $12: its refunds are in rupees.
        let inr = Some(PricedObject {
            minor: 100_000,
            usd: Money::from_micros(12_000_000),
        });
        assert_eq!(
            refund_cost("pi", inr, None),
            Ok(Money::from_micros(12_000_000))
        );
        assert_eq!(
            refund_cost("pi", inr, Some(50_000)),
            Ok(Money::from_micros(6_000_000))
        );
        assert_eq!(refund_cost("pi", inr, Some(1)), Ok(Money::from_micros(120)));
        assert_eq!(
            refund_cost("pi", None, Some(1)).unwrap_err().code,
            ErrorCode::UnpriceableRequest
        );
    }

    #[test]
    fn settlement_rule() {
        assert_eq!(settle_as(Some(200), true), SettleAs::Keep);
        assert_eq!(settle_as(Some(402), true), SettleAs::Release);
        assert_eq!(settle_as(Some(429), true), SettleAs::Release);
        assert_eq!(settle_as(Some(500), true), SettleAs::KeepAmbiguous);
        assert_eq!(settle_as(None, true), SettleAs::KeepAmbiguous);
        assert_eq!(settle_as(None, false), SettleAs::Release);
    }
}
