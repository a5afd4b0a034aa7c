//! An issuer token's ceilings: the policies every key it issues must fit
//! inside. A stolen issuer token can only mint keys within them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::core::constraints::{Constraints, FieldError, RateLimit};
use crate::core::duration::{format_secs, parse_duration_secs};
use crate::core::endpoint::Allowlist;
use crate::core::money::Money;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceilings {
    pub vendors: Vec<String>,
    /// Every key's allowed endpoints must be covered by these patterns.
    pub endpoint_ceiling: Vec<String>,
    pub max_daily_usd_cap: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_usd_cap: Option<Money>,
    pub max_ttl_secs: u64,
    pub max_live_keys: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_prefix: Option<String>,
    /// Constraints every key must carry, at least this strict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_constraints: Option<Constraints>,
    /// The `Stripe-Account` values keys may be allowed; none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_accounts: Vec<String>,
    /// What all of the issuer's keys together may spend in a day, and in
    /// all (so minting, spending and revoking keys cannot go around
    /// `max_live_keys`). Issuers made before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_daily_spend_usd: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total_spend_usd: Option<Money>,
    /// Whether the issuer may approve or deny its own keys' approvals.
    /// Off by default: an agent's Worker approving its own agent's calls
    /// would defeat the point.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub can_approve: bool,
}

/// What a key asks for, as the ceilings judge it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyAsk {
    pub label: String,
    pub vendor: String,
    pub allowed_endpoints: Vec<String>,
    pub daily_cap: Money,
    pub ttl_secs: u64,
    #[serde(default)]
    pub constraints: Option<Constraints>,
    #[serde(default)]
    pub allowed_accounts: Vec<String>,
}

/// A ceiling a key asked to exceed: its name, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub ceiling: String,
    pub message: String,
}

fn exceeded(ceiling: impl Into<String>, message: impl Into<String>) -> Exceeded {
    Exceeded {
        ceiling: ceiling.into(),
        message: message.into(),
    }
}

pub const FIELDS: &[&str] = &[
    "label",
    "vendors",
    "endpoint_ceiling",
    "max_daily_usd_cap",
    "max_total_usd_cap",
    "max_ttl",
    "max_live_keys",
    "label_prefix",
    "required_constraints",
    "allowed_accounts",
    "max_daily_spend_usd",
    "max_total_spend_usd",
    "can_approve",
    "expires_in",
];

fn err(field: &str, problem: impl Into<String>) -> FieldError {
    (field.to_owned(), problem.into())
}

impl Ceilings {
    /// Parses an issuer's ceilings. `vendor_ok` says whether a vendor is
    /// supported; `max_ttl_secs` is the operator's `KEYBRAKE_MAX_TTL`.
    pub fn parse(
        body: &Map<String, Value>,
        vendor_ok: &dyn Fn(&str) -> bool,
        max_ttl_secs: u64,
        priced: &dyn Fn(&str) -> bool,
    ) -> Result<Ceilings, FieldError> {
        let vendors: Vec<String> = match body.get("vendors") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|v| match v.as_str() {
                    Some(s) if vendor_ok(s) => Ok(s.to_owned()),
                    _ => Err(err("vendors", format!("{v} is not a supported vendor"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err("vendors", "must be a non-empty array of vendors")),
            None => return Err(err("vendors", "is required")),
        };
        let endpoint_ceiling: Vec<String> = match body.get("endpoint_ceiling") {
            Some(Value::Array(items)) => {
                let entries = items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| err("endpoint_ceiling", "must hold only strings"))
                    })
                    .collect::<Result<Vec<&str>, _>>()?;
                Allowlist::parse(&entries)
                    .map_err(|e| err("endpoint_ceiling", e))?
                    .entries()
            }
            Some(_) => {
                return Err(err(
                    "endpoint_ceiling",
                    "must be an array of endpoint patterns",
                ))
            }
            None => return Err(err("endpoint_ceiling", "is required")),
        };
        let money = |field: &str| -> Result<Option<Money>, FieldError> {
            match body.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => Money::from_json_limit(v)
                    .map(Some)
                    .map_err(|e| err(field, e)),
            }
        };
        let max_daily_usd_cap =
            money("max_daily_usd_cap")?.ok_or_else(|| err("max_daily_usd_cap", "is required"))?;
        let max_total_usd_cap = money("max_total_usd_cap")?;
        let max_daily_spend_usd = Some(money("max_daily_spend_usd")?.ok_or_else(|| {
            err(
                "max_daily_spend_usd",
                "is required: what all of the issuer's keys together may spend in a day",
            )
        })?);
        let max_total_spend_usd = money("max_total_spend_usd")?;
        let allowed_accounts =
            account_list(body.get("allowed_accounts")).map_err(|e| err("allowed_accounts", e))?;
        let max_ttl_secs = match body.get("max_ttl") {
            None => max_ttl_secs,
            Some(Value::String(s)) => {
                let secs = parse_duration_secs(s).map_err(|e| err("max_ttl", e.to_string()))?;
                if secs == 0 || secs > max_ttl_secs {
                    return Err(err(
                        "max_ttl",
                        format!(
                            "must be above zero and at most KEYBRAKE_MAX_TTL ({})",
                            format_secs(max_ttl_secs)
                        ),
                    ));
                }
                secs
            }
            Some(_) => return Err(err("max_ttl", "must be a duration such as \"15m\"")),
        };
        let max_live_keys = match body.get("max_live_keys") {
            Some(v) => match v.as_u64() {
                Some(n) if (1..=1_000_000).contains(&n) => n as u32,
                _ => {
                    return Err(err(
                        "max_live_keys",
                        "must be a whole number from 1 to 1000000",
                    ))
                }
            },
            None => return Err(err("max_live_keys", "is required")),
        };
        let label_prefix = match body.get("label_prefix") {
            None | Some(Value::Null) => None,
            Some(Value::String(s))
                if !s.is_empty()
                    && s.chars().count() <= 100
                    && !s.chars().any(char::is_control) =>
            {
                Some(s.clone())
            }
            Some(_) => return Err(err("label_prefix", "must be 1 to 100 characters")),
        };
        let required_constraints = match body.get("required_constraints") {
            None | Some(Value::Null) => None,
            Some(v) => {
                // Each required constraint must make sense for every vendor.
                let mut parsed = None;
                for vendor in &vendors {
                    let c = Constraints::parse(v, vendor, priced).map_err(|(f, p)| {
                        (f.replacen("constraints", "required_constraints", 1), p)
                    })?;
                    parsed = Some(c);
                }
                parsed
            }
        };
        let can_approve = match body.get("can_approve") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(err("can_approve", "must be true or false")),
        };
        Ok(Ceilings {
            can_approve,
            vendors,
            endpoint_ceiling,
            max_daily_usd_cap,
            max_total_usd_cap,
            max_ttl_secs,
            max_live_keys,
            label_prefix,
            required_constraints,
            allowed_accounts,
            max_daily_spend_usd,
            max_total_spend_usd,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({
            "vendors": self.vendors,
            "endpoint_ceiling": self.endpoint_ceiling,
            "max_daily_usd_cap": self.max_daily_usd_cap.to_json(),
            "max_total_usd_cap": self.max_total_usd_cap.map(Money::to_json),
            "max_ttl": format_secs(self.max_ttl_secs),
            "max_live_keys": self.max_live_keys,
            "label_prefix": self.label_prefix,
            "required_constraints": self.required_constraints.as_ref().map(Constraints::to_json),
            "allowed_accounts": self.allowed_accounts,
            "max_daily_spend_usd": self.max_daily_spend_usd.map(Money::to_json),
            "max_total_spend_usd": self.max_total_spend_usd.map(Money::to_json),
            "can_approve": self.can_approve,
        })
    }

    /// Whether a key fits inside every ceiling (the live-key count aside,
    /// which the issuer's object counts).
    pub fn admit(&self, ask: &KeyAsk) -> Result<(), Exceeded> {
        if !self.vendors.contains(&ask.vendor) {
            return Err(exceeded(
                "vendors",
                format!(
                    "this issuer may issue {} keys only",
                    self.vendors.join(", ")
                ),
            ));
        }
        if let Some(prefix) = &self.label_prefix {
            if !ask.label.starts_with(prefix.as_str()) {
                return Err(exceeded(
                    "label_prefix",
                    format!("labels must start with {prefix:?}"),
                ));
            }
        }
        let ceiling = Allowlist::parse(&self.endpoint_ceiling)
            .map_err(|e| exceeded("endpoint_ceiling", e))?;
        let asked = Allowlist::parse(&ask.allowed_endpoints)
            .map_err(|e| exceeded("endpoint_ceiling", e))?;
        if let Some(outside) = asked.outside(&ceiling) {
            return Err(exceeded(
                "endpoint_ceiling",
                format!(
                    "{outside} is outside this issuer's endpoints ({})",
                    self.endpoint_ceiling.join(", ")
                ),
            ));
        }
        if let Some(account) = ask
            .allowed_accounts
            .iter()
            .find(|a| !self.allowed_accounts.contains(a))
        {
            return Err(exceeded(
                "allowed_accounts",
                format!("this issuer may not let keys act for account {account:?}"),
            ));
        }
        if ask.daily_cap > self.max_daily_usd_cap {
            return Err(exceeded(
                "max_daily_usd_cap",
                format!("daily_usd_cap may be at most {}", self.max_daily_usd_cap),
            ));
        }
        if ask.ttl_secs > self.max_ttl_secs {
            return Err(exceeded(
                "max_ttl",
                format!(
                    "expires_in may be at most {}",
                    format_secs(self.max_ttl_secs)
                ),
            ));
        }
        if let Some(max) = self.max_total_usd_cap {
            match ask.constraints.as_ref().and_then(|c| c.total_usd_cap) {
                Some(total) if total <= max => {}
                _ => {
                    return Err(exceeded(
                        "max_total_usd_cap",
                        format!("keys must set constraints.total_usd_cap, at most {max}"),
                    ))
                }
            }
        }
        if let Some(required) = &self.required_constraints {
            let theirs = ask.constraints.clone().unwrap_or_default();
            within(&theirs, required).map_err(|(name, message)| {
                exceeded(format!("required_constraints.{name}"), message)
            })?;
        }
        Ok(())
    }
}

/// A list of account ids (`Stripe-Account` values), as keys and issuers
/// state `allowed_accounts`; absent is none.
pub fn account_list(value: Option<&Value>) -> Result<Vec<String>, &'static str> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if !s.is_empty() && s.len() <= 255 => Ok(s.to_owned()),
                _ => Err("must contain only non-empty strings"),
            })
            .collect(),
        Some(_) => Err("must be an array of account ids"),
    }
}

/// Whether a key's rate limit lets through no more calls than the required
/// one in any window, not just on average: 50 an hour allows 50 in one
/// minute, which 5 a minute does not. A shorter key window repeats within
/// the required one, so its bursts add up there.
pub fn no_looser(key: RateLimit, required: RateLimit) -> bool {
    let (k, r) = (u64::from(key.requests), u64::from(required.requests));
    if key.per_secs >= required.per_secs {
        k <= r
    } else {
        k * u64::from(required.per_secs).div_ceil(u64::from(key.per_secs)) <= r
    }
}

/// Whether a key's constraints are at least as strict as the required ones:
/// every required limit present and no looser.
pub fn within(key: &Constraints, required: &Constraints) -> Result<(), (&'static str, String)> {
    fn at_most<T: PartialOrd + std::fmt::Display + Copy>(
        name: &'static str,
        key: Option<T>,
        req: Option<T>,
    ) -> Result<(), (&'static str, String)> {
        match (key, req) {
            (_, None) => Ok(()),
            (Some(k), Some(r)) if k <= r => Ok(()),
            (_, Some(r)) => Err((
                name,
                format!("keys must set constraints.{name}, at most {r}"),
            )),
        }
    }
    fn subset(
        name: &'static str,
        key: &Option<Vec<String>>,
        req: &Option<Vec<String>>,
        by_prefix: bool,
    ) -> Result<(), (&'static str, String)> {
        let Some(req) = req else { return Ok(()) };
        let fits = |k: &String| {
            req.iter().any(|r| {
                if by_prefix {
                    k.starts_with(r.as_str())
                } else {
                    r == k
                }
            })
        };
        match key {
            Some(list) if list.iter().all(fits) => Ok(()),
            _ => Err((
                name,
                format!("keys must set constraints.{name} within {}", req.join(", ")),
            )),
        }
    }
    // Every constraint named, so a new one does not compile until "no
    // looser" is defined for it below.
    let Constraints {
        max_amount_usd: _,
        currencies: _,
        customers: _,
        metadata: _,
        to: _,
        from: _,
        max_segments: _,
        from_domains: _,
        to_domains: _,
        max_recipients: _,
        max_requests: _,
        rate_limit: _,
        total_usd_cap: _,
        approval_above_usd: _,
        approval_ttl: _,
    } = required;
    at_most(
        "max_amount_usd",
        key.max_amount_usd,
        required.max_amount_usd,
    )?;
    at_most("total_usd_cap", key.total_usd_cap, required.total_usd_cap)?;
    // A lower threshold asks a person more often; a shorter wait is stricter.
    at_most(
        "approval_above_usd",
        key.approval_above_usd,
        required.approval_above_usd,
    )?;
    at_most("approval_ttl", key.approval_ttl, required.approval_ttl)?;
    at_most("max_segments", key.max_segments, required.max_segments)?;
    at_most(
        "max_recipients",
        key.max_recipients,
        required.max_recipients,
    )?;
    at_most("max_requests", key.max_requests, required.max_requests)?;
    subset("currencies", &key.currencies, &required.currencies, false)?;
    subset("customers", &key.customers, &required.customers, false)?;
    subset(
        "from_domains",
        &key.from_domains,
        &required.from_domains,
        false,
    )?;
    subset("to_domains", &key.to_domains, &required.to_domains, false)?;
    subset("to", &key.to, &required.to, true)?;
    subset("from", &key.from, &required.from, true)?;
    if let Some(req) = &required.metadata {
        let theirs = key.metadata.clone().unwrap_or_default();
        for (k, v) in req {
            match (theirs.get(k), v) {
                (Some(_), None) => {}
                (Some(Some(got)), Some(want)) if got == want => {}
                _ => {
                    return Err((
                        "metadata",
                        format!(
                            "keys must require metadata[{k}]{}",
                            v.as_ref().map(|v| format!(" = {v:?}")).unwrap_or_default()
                        ),
                    ))
                }
            }
        }
    }
    if let Some(req) = required.rate_limit {
        match key.rate_limit {
            Some(k) if no_looser(k, req) => {}
            _ => {
                return Err((
                    "rate_limit",
                    format!(
                        "keys must set constraints.rate_limit, at most {} per {} s in every window",
                        req.requests, req.per_secs
                    ),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceilings(v: Value) -> Result<Ceilings, FieldError> {
        Ceilings::parse(
            v.as_object().unwrap(),
            &|v| ["stripe", "twilio", "resend"].contains(&v),
            86_400,
            &|c| c == "usd",
        )
    }

    fn base() -> Value {
        json!({"vendors": ["stripe"], "endpoint_ceiling": ["POST /v1/payment_intents", "/v1/payment_intents/**"], "max_daily_usd_cap": 200, "max_ttl": "15m", "max_live_keys": 5, "label_prefix": "agent-", "required_constraints": {"max_amount_usd": 50, "currencies": ["usd"]}, "max_daily_spend_usd": 500, "allowed_accounts": ["acct_ok"]})
    }

    fn ask() -> KeyAsk {
        KeyAsk {
            label: "agent-1".into(),
            vendor: "stripe".into(),
            allowed_endpoints: vec!["POST /v1/payment_intents".into()],
            daily_cap: Money::from_micros(100_000_000),
            ttl_secs: 600,
            constraints: Some(Constraints {
                max_amount_usd: Some(Money::from_micros(20_000_000)),
                currencies: Some(vec!["usd".into()]),
                ..Default::default()
            }),
            allowed_accounts: vec![],
        }
    }

    #[test]
    fn parses_and_refuses_bad_ceilings_by_field() {
        let c = ceilings(base()).unwrap();
        assert_eq!(c.max_ttl_secs, 900);
        assert_eq!(c.to_json()["max_ttl"], "15m");
        for (patch, field) in [
            (json!({"vendors": ["paypal"]}), "vendors"),
            (json!({"endpoint_ceiling": []}), "endpoint_ceiling"),
            (json!({"max_daily_usd_cap": 0}), "max_daily_usd_cap"),
            (json!({"max_ttl": "2d"}), "max_ttl"),
            (json!({"max_live_keys": 0}), "max_live_keys"),
            (json!({"max_daily_spend_usd": null}), "max_daily_spend_usd"),
            (json!({"allowed_accounts": [""]}), "allowed_accounts"),
            (
                json!({"required_constraints": {"to": ["+1"]}}),
                "required_constraints.to",
            ),
        ] {
            let mut v = base();
            for (k, val) in patch.as_object().unwrap() {
                v[k] = val.clone();
            }
            assert_eq!(ceilings(v).unwrap_err().0, field);
        }
    }

    #[test]
    fn admits_keys_inside_and_names_the_ceiling_otherwise() {
        let c = ceilings(base()).unwrap();
        assert_eq!(c.admit(&ask()), Ok(()));
        let name = |a: KeyAsk| c.admit(&a).unwrap_err().ceiling;
        assert_eq!(
            name(KeyAsk {
                vendor: "twilio".into(),
                ..ask()
            }),
            "vendors"
        );
        assert_eq!(
            name(KeyAsk {
                label: "other".into(),
                ..ask()
            }),
            "label_prefix"
        );
        assert_eq!(
            name(KeyAsk {
                allowed_endpoints: vec!["/v1/payment_intents".into()],
                ..ask()
            }),
            "endpoint_ceiling"
        );
        assert_eq!(
            name(KeyAsk {
                allowed_accounts: vec!["acct_other".into()],
                ..ask()
            }),
            "allowed_accounts"
        );
        assert_eq!(
            c.admit(&KeyAsk {
                allowed_accounts: vec!["acct_ok".into()],
                ..ask()
            }),
            Ok(())
        );
        assert_eq!(
            name(KeyAsk {
                daily_cap: Money::from_micros(200_000_001),
                ..ask()
            }),
            "max_daily_usd_cap"
        );
        assert_eq!(
            name(KeyAsk {
                ttl_secs: 901,
                ..ask()
            }),
            "max_ttl"
        );
        assert_eq!(
            name(KeyAsk {
                constraints: None,
                ..ask()
            }),
            "required_constraints.max_amount_usd"
        );
        let looser = Constraints {
            max_amount_usd: Some(Money::from_micros(60_000_000)),
            currencies: Some(vec!["usd".into()]),
            ..Default::default()
        };
        assert_eq!(
            name(KeyAsk {
                constraints: Some(looser),
                ..ask()
            }),
            "required_constraints.max_amount_usd"
        );
        let other_currency = Constraints {
            max_amount_usd: Some(Money::from_micros(1)),
            currencies: Some(vec!["usd".into(), "eur".into()]),
            ..Default::default()
        };
        assert_eq!(
            name(KeyAsk {
                constraints: Some(other_currency),
                ..ask()
            }),
            "required_constraints.currencies"
        );
    }

    #[test]
    fn rate_limits_are_no_looser_in_any_window() {
        let rl = |requests, per_secs| RateLimit { requests, per_secs };
        // 50 an hour may all come in one minute: looser than 5 a minute.
        assert!(!no_looser(rl(50, 3600), rl(5, 60)));
        assert!(no_looser(rl(5, 3600), rl(5, 60)));
        assert!(no_looser(rl(5, 60), rl(5, 60)));
        // 1 a second is 60 in a minute.
        assert!(!no_looser(rl(1, 1), rl(5, 60)));
        assert!(no_looser(rl(1, 1), rl(60, 60)));
        assert!(!no_looser(rl(2, 1), rl(60, 60)));
        assert!(no_looser(rl(100, 60), rl(6000, 3600)));
        assert!(!no_looser(rl(101, 60), rl(6000, 3600)));
    }
}
