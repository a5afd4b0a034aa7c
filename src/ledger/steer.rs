//! Steering a live key: `PATCH /v1/keys/{id}`, pause and resume. The key's
//! object applies a `KeyChange` to its record in one step, so the change is
//! exact against the calls in flight: every decision after it sees it.

use serde::{Deserialize, Serialize};

use crate::core::ceilings::within;
use crate::core::constraints::Constraints;
use crate::core::money::Money;
use crate::error::ApiError;

use super::{KeyRecord, KeyStatus};

/// What a caller asked to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<Money>,
    /// `constraints.total_usd_cap`, raised or lowered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cap: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Replaces the key's constraints, which it may only tighten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    /// `true` pauses, `false` resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    pub now: i64,
}

/// The record after `change`, or why the change is refused (and nothing
/// changes). Raising a cap or moving the expiry is the caller's right
/// (ceilings are checked before this); constraints only tighten, since a
/// looser argument limit is a different key.
pub fn apply_change(record: &KeyRecord, change: &KeyChange) -> Result<KeyRecord, ApiError> {
    match record.status(change.now) {
        KeyStatus::Revoked => {
            return Err(ApiError::bad_request(format!(
                "key {} is revoked; a revoked key cannot be changed",
                record.id
            )))
        }
        KeyStatus::Expired => {
            return Err(ApiError::bad_request(format!(
                "key {} has expired; an expired key cannot be changed",
                record.id
            )))
        }
        KeyStatus::Active | KeyStatus::Paused => {}
    }
    let mut next = record.clone();
    if let Some(cap) = change.daily_cap {
        next.daily_cap = cap;
    }
    if let Some(at) = change.expires_at {
        if at <= change.now {
            return Err(ApiError::field(
                "expires_in",
                "must leave the key some time; revoke it to end it now",
            ));
        }
        next.expires_at = at;
    }
    if let Some(tighter) = &change.constraints {
        let current = record.constraints.clone().unwrap_or_default();
        // The lifetime cap is steered by `total_usd_cap`, not here.
        let tighter = Constraints {
            total_usd_cap: current.total_usd_cap,
            ..tighter.clone()
        };
        within(&tighter, &current).map_err(|(name, _)| {
            ApiError::field(
                &format!("constraints.{name}"),
                "may only be tightened on a live key (issue a new key to loosen it)",
            )
        })?;
        next.constraints = Some(tighter);
    }
    if let Some(total) = change.total_cap {
        next.constraints
            .get_or_insert_with(Constraints::default)
            .total_usd_cap = Some(total);
    }
    match change.paused {
        // Pausing twice keeps the first time.
        Some(true) => next.paused_at = record.paused_at.or(Some(change.now)),
        Some(false) => next.paused_at = None,
        None => {}
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::constraints::RateLimit;

    fn usd(d: u64) -> Money {
        Money::from_micros(d * 1_000_000)
    }

    fn record() -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            label: "l".into(),
            vendor: "stripe".into(),
            allowed_endpoints: vec!["/v1/**".into()],
            daily_cap: usd(10),
            allowed_accounts: vec![],
            created_at: 0,
            expires_at: 1_000_000,
            revoked_at: None,
            token_hash: "h".into(),
            idempotency: None,
            constraints: Some(Constraints {
                max_amount_usd: Some(usd(5)),
                currencies: Some(vec!["usd".into(), "eur".into()]),
                total_usd_cap: Some(usd(50)),
                ..Default::default()
            }),
            issuer_id: None,
            budgets: vec![],
            paused_at: None,
        }
    }

    fn change() -> KeyChange {
        KeyChange {
            now: 1_000,
            ..Default::default()
        }
    }

    #[test]
    fn caps_move_both_ways_and_expiry_with_them() {
        let up = apply_change(
            &record(),
            &KeyChange {
                daily_cap: Some(usd(100)),
                total_cap: Some(usd(500)),
                expires_at: Some(2_000_000),
                ..change()
            },
        )
        .unwrap();
        assert_eq!(up.daily_cap, usd(100));
        assert_eq!(
            up.constraints.as_ref().unwrap().total_usd_cap,
            Some(usd(500))
        );
        assert_eq!(up.expires_at, 2_000_000);
        // The other constraints stay as they were.
        assert_eq!(
            up.constraints.as_ref().unwrap().max_amount_usd,
            Some(usd(5))
        );
        let down = apply_change(
            &up,
            &KeyChange {
                daily_cap: Some(usd(1)),
                total_cap: Some(usd(2)),
                expires_at: Some(5_000),
                ..change()
            },
        )
        .unwrap();
        assert_eq!((down.daily_cap, down.expires_at), (usd(1), 5_000));
        assert_eq!(down.constraints.unwrap().total_usd_cap, Some(usd(2)));
    }

    #[test]
    fn a_total_cap_can_be_set_on_a_key_without_constraints() {
        let bare = KeyRecord {
            constraints: None,
            ..record()
        };
        let capped = apply_change(
            &bare,
            &KeyChange {
                total_cap: Some(usd(3)),
                ..change()
            },
        )
        .unwrap();
        assert_eq!(capped.constraints.unwrap().total_usd_cap, Some(usd(3)));
    }

    #[test]
    fn constraints_only_tighten() {
        let tighter = Constraints {
            max_amount_usd: Some(usd(2)),
            currencies: Some(vec!["usd".into()]),
            rate_limit: Some(RateLimit {
                requests: 5,
                per_secs: 60,
            }),
            ..Default::default()
        };
        let next = apply_change(
            &record(),
            &KeyChange {
                constraints: Some(tighter),
                ..change()
            },
        )
        .unwrap();
        let c = next.constraints.unwrap();
        assert_eq!(c.max_amount_usd, Some(usd(2)));
        // The lifetime cap is kept: it is steered by total_usd_cap alone.
        assert_eq!(c.total_usd_cap, Some(usd(50)));

        for (looser, named) in [
            (
                Constraints {
                    max_amount_usd: Some(usd(6)),
                    currencies: Some(vec!["usd".into()]),
                    ..Default::default()
                },
                "constraints.max_amount_usd",
            ),
            (
                // Dropping a limit loosens it.
                Constraints {
                    currencies: Some(vec!["usd".into()]),
                    ..Default::default()
                },
                "constraints.max_amount_usd",
            ),
            (
                Constraints {
                    max_amount_usd: Some(usd(5)),
                    currencies: Some(vec!["usd".into(), "gbp".into()]),
                    ..Default::default()
                },
                "constraints.currencies",
            ),
        ] {
            let e = apply_change(
                &record(),
                &KeyChange {
                    constraints: Some(looser),
                    ..change()
                },
            )
            .unwrap_err();
            assert_eq!(e.param.as_deref(), Some(named), "{e:?}");
        }
    }

    #[test]
    fn pause_keeps_its_first_time_and_resume_clears_it() {
        let paused = apply_change(
            &record(),
            &KeyChange {
                paused: Some(true),
                ..change()
            },
        )
        .unwrap();
        assert_eq!(paused.paused_at, Some(1_000));
        assert_eq!(paused.status(1_000), KeyStatus::Paused);
        let again = apply_change(
            &paused,
            &KeyChange {
                paused: Some(true),
                now: 9_000,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(again.paused_at, Some(1_000));
        let resumed = apply_change(
            &again,
            &KeyChange {
                paused: Some(false),
                ..change()
            },
        )
        .unwrap();
        assert_eq!(resumed.paused_at, None);
        assert_eq!(resumed.status(1_000), KeyStatus::Active);
    }

    #[test]
    fn dead_keys_and_past_expiries_change_nothing() {
        let revoked = KeyRecord {
            revoked_at: Some(10),
            ..record()
        };
        assert!(apply_change(
            &revoked,
            &KeyChange {
                paused: Some(false),
                ..change()
            }
        )
        .is_err());
        let expired = KeyRecord {
            expires_at: 500,
            ..record()
        };
        let e = apply_change(
            &expired,
            &KeyChange {
                expires_at: Some(9_999_999),
                ..change()
            },
        )
        .unwrap_err();
        assert!(e.message.contains("expired"), "{e:?}");
        let e = apply_change(
            &record(),
            &KeyChange {
                expires_at: Some(1_000),
                ..change()
            },
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("expires_in"));
    }
}
