//! What a vault key may do beyond its paths and daily cap: limits on the
//! arguments of each call (amounts, currencies, customers, recipients…) and
//! on its life (requests, rate, lifetime spend). Parsed and validated when a
//! key is issued; checked by the key's Durable Object on facts the vendor
//! read from the request, before anything is forwarded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::money::Money;

/// Every constraint a key may carry. `None` means "not constrained".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    // Stripe
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_usd: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currencies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers: Option<Vec<String>>,
    /// Metadata a payment must carry: a value, or `None` for "any value".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, Option<String>>>,
    // Twilio
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_segments: Option<u32>,
    // Resend
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_recipients: Option<u32>,
    // Any vendor
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_usd_cap: Option<Money>,
    /// A call priced above this waits for a person's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_above_usd: Option<Money>,
    /// How long an approval may wait and then be used (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_ttl: Option<u32>,
}

/// How long an approval lives when the key does not say.
pub const DEFAULT_APPROVAL_TTL_SECS: u32 = 15 * 60;

/// At most `requests` calls in any window of `per_secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests: u32,
    pub per_secs: u32,
}

/// What a vendor read from one request, for the constraints to judge.
/// Absent facts are not checked, except where a constraint requires them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Recipients: phone numbers (Twilio) or email addresses (Resend).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Senders: a phone number (Twilio) or every `from` of the emails (Resend).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    /// The most recipients of any one email in the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_recipients: Option<u32>,
}

/// A broken constraint: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub constraint: &'static str,
    pub message: String,
}

fn violation(constraint: &'static str, message: String) -> Violation {
    Violation {
        constraint,
        message,
    }
}

/// Which constraints apply to which vendor's keys.
fn vendor_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "max_amount_usd" | "currencies" | "customers" | "metadata" => "stripe",
        "to" | "from" | "max_segments" => "twilio",
        "from_domains" | "to_domains" | "max_recipients" => "resend",
        "max_requests" | "rate_limit" | "total_usd_cap" | "approval_above_usd" | "approval_ttl" => {
            ""
        }
        _ => return None,
    })
}

const NAMES: &str = "max_amount_usd, currencies, customers, metadata (stripe); to, from, max_segments (twilio); from_domains, to_domains, max_recipients (resend); max_requests, rate_limit, total_usd_cap, approval_above_usd, approval_ttl";

/// A field error: (the field, what is wrong with it).
pub type FieldError = (String, String);

fn field_err(name: &str, problem: impl Into<String>) -> FieldError {
    (format!("constraints.{name}"), problem.into())
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }

    /// Parses `constraints` of a key for `vendor`. `priced` says whether a
    /// currency can be priced (a key restricted to currencies Keybrake
    /// cannot price could never make a call).
    pub fn parse(
        value: &Value,
        vendor: &str,
        priced: &dyn Fn(&str) -> bool,
    ) -> Result<Constraints, FieldError> {
        let Value::Object(map) = value else {
            return Err(("constraints".into(), "must be an object".into()));
        };
        let mut c = Constraints::default();
        for (name, v) in map {
            match vendor_of(name) {
                None => {
                    return Err(field_err(
                        name,
                        format!("is not a known constraint ({NAMES})"),
                    ))
                }
                Some(only) if !only.is_empty() && only != vendor => {
                    return Err(field_err(
                        name,
                        format!("applies to {only} keys, not {vendor} keys"),
                    ))
                }
                Some(_) => {}
            }
            match name.as_str() {
                "max_amount_usd" => c.max_amount_usd = Some(dollars(name, v)?),
                "total_usd_cap" => c.total_usd_cap = Some(dollars(name, v)?),
                "approval_above_usd" => c.approval_above_usd = Some(dollars(name, v)?),
                "approval_ttl" => c.approval_ttl = Some(approval_ttl(v)?),
                "currencies" => {
                    let list = strings(name, v, |s| {
                        (s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic()))
                            .then(|| s.to_ascii_lowercase())
                            .ok_or("must hold three-letter currency codes")
                    })?;
                    if let Some(bad) = list.iter().find(|c| !priced(c)) {
                        return Err(field_err(
                            name,
                            format!("{bad} cannot be priced (add it to KEYBRAKE_USD_RATES)"),
                        ));
                    }
                    c.currencies = Some(list);
                }
                "customers" => {
                    c.customers = Some(strings(name, v, |s| {
                        id_like(s)
                            .then(|| s.to_owned())
                            .ok_or("must hold customer ids")
                    })?)
                }
                "metadata" => {
                    let Value::Object(m) = v else {
                        return Err(field_err(
                            name,
                            "must be an object of key: value (null for any value)",
                        ));
                    };
                    if m.is_empty() {
                        return Err(field_err(name, "must not be empty"));
                    }
                    let mut out = BTreeMap::new();
                    for (k, val) in m {
                        if k.is_empty() || k.len() > 40 {
                            return Err(field_err(name, "keys must be 1 to 40 characters"));
                        }
                        let val = match val {
                            Value::Null => None,
                            Value::String(s) if s.len() <= 500 => Some(s.clone()),
                            _ => {
                                return Err(field_err(
                                    name,
                                    format!("{k} must be a string of at most 500 characters, or null for any value"),
                                ))
                            }
                        };
                        out.insert(k.clone(), val);
                    }
                    c.metadata = Some(out);
                }
                "to" | "from" => {
                    let list = strings(name, v, |s| {
                        phone_prefix(s)
                            .then(|| s.to_owned())
                            .ok_or("must hold E.164 numbers or prefixes such as +1 or +44")
                    })?;
                    if name == "to" {
                        c.to = Some(list);
                    } else {
                        c.from = Some(list);
                    }
                }
                "from_domains" | "to_domains" => {
                    let list = strings(name, v, |s| {
                        domain(s)
                            .then(|| s.to_ascii_lowercase())
                            .ok_or("must hold domain names such as example.com")
                    })?;
                    if name == "from_domains" {
                        c.from_domains = Some(list);
                    } else {
                        c.to_domains = Some(list);
                    }
                }
                "max_segments" => c.max_segments = Some(count(name, v, 1, 10_000)? as u32),
                "max_recipients" => c.max_recipients = Some(count(name, v, 1, 10_000)? as u32),
                "max_requests" => c.max_requests = Some(count(name, v, 1, 1_000_000_000)?),
                "rate_limit" => c.rate_limit = Some(rate_limit(v)?),
                _ => unreachable!("every known name is handled"),
            }
        }
        if c.is_empty() {
            return Err((
                "constraints".into(),
                "must name at least one constraint".into(),
            ));
        }
        Ok(c)
    }

    /// The constraints as the API shows them (dollars as numbers).
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Some(m) = self.max_amount_usd {
            v["max_amount_usd"] = m.to_json();
        }
        if let Some(m) = self.total_usd_cap {
            v["total_usd_cap"] = m.to_json();
        }
        if let Some(r) = self.rate_limit {
            v["rate_limit"] = json!({ "requests": r.requests, "per": per_name(r.per_secs) });
        }
        if let Some(m) = self.approval_above_usd {
            v["approval_above_usd"] = m.to_json();
        }
        if let Some(secs) = self.approval_ttl {
            v["approval_ttl"] = json!(crate::core::duration::format_secs(u64::from(secs)));
        }
        v
    }

    /// How long an approval for this key lives.
    pub fn approval_ttl_secs(&self) -> u32 {
        self.approval_ttl.unwrap_or(DEFAULT_APPROVAL_TTL_SECS)
    }

    /// Checks one call's facts. `amount` is the money the payment moves in
    /// total (a create's amount, or an object's new total), when it moves any;
    /// `creates` says whether the call creates a payment (which must then
    /// state what the constraints require).
    pub fn check(
        &self,
        facts: &CallFacts,
        amount: Option<Money>,
        creates: bool,
    ) -> Result<(), Violation> {
        // Every constraint named, so a new one does not compile until it is
        // checked here (or said to be checked elsewhere).
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
            // In the key's ledger: they count calls and money over time, or
            // hold a call for a person's approval.
            max_requests: _,
            rate_limit: _,
            total_usd_cap: _,
            approval_above_usd: _,
            approval_ttl: _,
        } = self;
        if let (Some(max), Some(amount)) = (self.max_amount_usd, amount) {
            if amount > max {
                return Err(violation(
                    "max_amount_usd",
                    format!("this payment is ${amount}, over the ${max} limit per payment"),
                ));
            }
        }
        if let Some(allowed) = &self.currencies {
            if let Some(c) = &facts.currency {
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(c)) {
                    return Err(violation(
                        "currencies",
                        format!("{c} is not allowed (allowed: {})", allowed.join(", ")),
                    ));
                }
            }
        }
        if let Some(allowed) = &self.customers {
            match &facts.customer {
                Some(c) if !allowed.contains(c) => {
                    return Err(violation(
                        "customers",
                        format!("customer {c} is not allowed"),
                    ))
                }
                None if creates => {
                    return Err(violation(
                        "customers",
                        "a payment must name one of the allowed customers".into(),
                    ))
                }
                _ => {}
            }
        }
        if let (Some(required), true) = (&self.metadata, creates) {
            for (k, want) in required {
                match (facts.metadata.get(k), want) {
                    (None, _) => {
                        return Err(violation(
                            "metadata",
                            format!("a payment must carry metadata[{k}]"),
                        ))
                    }
                    (Some(got), Some(want)) if got != want => {
                        return Err(violation(
                            "metadata",
                            format!("metadata[{k}] must be {want:?}, not {got:?}"),
                        ))
                    }
                    _ => {}
                }
            }
        }
        if let Some(allowed) = &self.to {
            if let Some(bad) = facts
                .to
                .iter()
                .find(|n| !allowed.iter().any(|p| n.starts_with(p.as_str())))
            {
                return Err(violation(
                    "to",
                    format!("{bad} is not an allowed recipient"),
                ));
            }
        }
        if let Some(allowed) = &self.from {
            if let Some(f) = facts
                .from
                .iter()
                .find(|f| !allowed.iter().any(|p| f.starts_with(p.as_str())))
            {
                return Err(violation("from", format!("{f} is not an allowed sender")));
            }
            if facts.from.is_empty() && !facts.to.is_empty() {
                return Err(violation(
                    "from",
                    "a message must state From, one of the allowed senders".into(),
                ));
            }
        }
        if let (Some(max), Some(n)) = (self.max_segments, facts.segments) {
            if n > max {
                return Err(violation(
                    "max_segments",
                    format!("this message is {n} segments, over the limit of {max}"),
                ));
            }
        }
        if let Some(allowed) = &self.from_domains {
            if let Some(f) = facts.from.iter().find(|f| {
                let d = email_domain(f);
                !allowed.iter().any(|a| Some(a.as_str()) == d.as_deref())
            }) {
                return Err(violation(
                    "from_domains",
                    format!("{f} is not from an allowed domain"),
                ));
            }
        }
        if let Some(allowed) = &self.to_domains {
            if let Some(bad) = facts.to.iter().find(|t| {
                let d = email_domain(t);
                !allowed.iter().any(|a| Some(a.as_str()) == d.as_deref())
            }) {
                return Err(violation(
                    "to_domains",
                    format!("{bad} is not in an allowed domain"),
                ));
            }
        }
        if let (Some(max), Some(n)) = (self.max_recipients, facts.max_recipients) {
            if n > max {
                return Err(violation(
                    "max_recipients",
                    format!("an email here has {n} recipients, over the limit of {max}"),
                ));
            }
        }
        Ok(())
    }
}

/// `approval_ttl`: a duration (`"15m"`) or whole seconds, 10 s to 24 h.
fn approval_ttl(v: &Value) -> Result<u32, FieldError> {
    const MAX: u64 = 86_400;
    let secs = match v {
        Value::String(s) => crate::core::duration::parse_duration_secs(s).ok(),
        _ => v.as_u64(),
    };
    match secs {
        Some(n) if (10..=MAX).contains(&n) => Ok(n as u32),
        _ => Err(field_err(
            "approval_ttl",
            "must be a duration from 10s to 24h, such as \"15m\"",
        )),
    }
}

fn dollars(name: &str, v: &Value) -> Result<Money, FieldError> {
    Money::from_json_limit(v).map_err(|e| field_err(name, e))
}

fn count(name: &str, v: &Value, min: u64, max: u64) -> Result<u64, FieldError> {
    match v.as_u64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(field_err(
            name,
            format!("must be a whole number from {min} to {max}"),
        )),
    }
}

fn strings(
    name: &str,
    v: &Value,
    each: impl Fn(&str) -> Result<String, &'static str>,
) -> Result<Vec<String>, FieldError> {
    let Value::Array(items) = v else {
        return Err(field_err(name, "must be an array"));
    };
    if items.is_empty() {
        return Err(field_err(name, "must not be empty (no call could pass)"));
    }
    if items.len() > 1000 {
        return Err(field_err(name, "must hold at most 1000 entries"));
    }
    items
        .iter()
        .map(|i| match i.as_str() {
            Some(s) => each(s).map_err(|e| field_err(name, format!("{e}, got {s:?}"))),
            None => Err(field_err(name, "must hold only strings")),
        })
        .collect()
}

fn rate_limit(v: &Value) -> Result<RateLimit, FieldError> {
    let err = || {
        field_err(
            "rate_limit",
            "must be {\"requests\": N, \"per\": \"second\" | \"minute\" | \"hour\"}",
        )
    };
    let Value::Object(m) = v else {
        return Err(err());
    };
    if m.keys().any(|k| k != "requests" && k != "per") {
        return Err(err());
    }
    let requests = m
        .get("requests")
        .and_then(Value::as_u64)
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(err)?;
    let per_secs = match m.get("per").and_then(Value::as_str) {
        Some("second") => 1,
        Some("minute") => 60,
        Some("hour") => 3600,
        _ => return Err(err()),
    };
    Ok(RateLimit {
        requests: requests as u32,
        per_secs,
    })
}

fn per_name(secs: u32) -> &'static str {
    match secs {
        1 => "second",
        60 => "minute",
        _ => "hour",
    }
}

fn id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `+` and 1 to 15 digits, optionally after a channel such as `whatsapp:`.
fn phone_prefix(s: &str) -> bool {
    let number = s.strip_prefix("whatsapp:").unwrap_or(s);
    number
        .strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

fn domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The domain of `a@b.com` or `Name <a@b.com>`, lowercased.
pub fn email_domain(address: &str) -> Option<String> {
    let address = match (address.rfind('<'), address.rfind('>')) {
        (Some(a), Some(b)) if a < b => &address[a + 1..b],
        _ => address,
    };
    let (_, domain) = address.trim().rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value, vendor: &str) -> Result<Constraints, FieldError> {
        Constraints::parse(&v, vendor, &|c| c == "usd" || c == "eur")
    }

    #[test]
    fn parses_each_vendor_and_names_bad_fields() {
        let c = parse(json!({"max_amount_usd": 50, "currencies": ["USD"], "customers": ["cus_1"], "metadata": {"run": "r1", "any": null}, "max_requests": 3, "rate_limit": {"requests": 10, "per": "minute"}, "total_usd_cap": "100.5"}), "stripe").unwrap();
        assert_eq!(c.max_amount_usd, Some(Money::from_micros(50_000_000)));
        assert_eq!(c.currencies, Some(vec!["usd".into()]));
        assert_eq!(
            c.rate_limit,
            Some(RateLimit {
                requests: 10,
                per_secs: 60
            })
        );
        assert_eq!(
            c.to_json()["rate_limit"],
            json!({"requests": 10, "per": "minute"})
        );
        assert_eq!(c.to_json()["total_usd_cap"], json!(100.5));
        let round: Constraints = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(round, c);

        for (v, vendor, field) in [
            (json!({"to": ["+1"]}), "stripe", "constraints.to"),
            (
                json!({"currencies": []}),
                "stripe",
                "constraints.currencies",
            ),
            (
                json!({"currencies": ["jpy"]}),
                "stripe",
                "constraints.currencies",
            ),
            (
                json!({"max_amount_usd": 0}),
                "stripe",
                "constraints.max_amount_usd",
            ),
            (json!({"colour": 1}), "stripe", "constraints.colour"),
            (json!({"to": ["555"]}), "twilio", "constraints.to"),
            (
                json!({"max_segments": 0}),
                "twilio",
                "constraints.max_segments",
            ),
            (
                json!({"from_domains": ["not a domain"]}),
                "resend",
                "constraints.from_domains",
            ),
            (
                json!({"rate_limit": {"requests": 1, "per": "fortnight"}}),
                "resend",
                "constraints.rate_limit",
            ),
            (json!({}), "resend", "constraints"),
            (json!([1]), "resend", "constraints"),
        ] {
            assert_eq!(parse(v.clone(), vendor).unwrap_err().0, field, "{v}");
        }
    }

    #[test]
    fn stripe_checks() {
        let c = parse(json!({"max_amount_usd": 50, "currencies": ["usd"], "customers": ["cus_1"], "metadata": {"run": "r1"}}), "stripe").unwrap();
        let ok = CallFacts {
            currency: Some("usd".into()),
            customer: Some("cus_1".into()),
            metadata: [("run".into(), "r1".into())].into(),
            ..Default::default()
        };
        assert_eq!(
            c.check(&ok, Some(Money::from_micros(50_000_000)), true),
            Ok(())
        );
        let name = |f: &CallFacts, amount: u64, creates| {
            c.check(f, Some(Money::from_micros(amount)), creates)
                .unwrap_err()
                .constraint
        };
        assert_eq!(name(&ok, 50_000_001, true), "max_amount_usd");
        assert_eq!(
            name(
                &CallFacts {
                    currency: Some("eur".into()),
                    ..ok.clone()
                },
                1,
                true
            ),
            "currencies"
        );
        assert_eq!(
            name(
                &CallFacts {
                    customer: Some("cus_2".into()),
                    ..ok.clone()
                },
                1,
                true
            ),
            "customers"
        );
        assert_eq!(
            name(
                &CallFacts {
                    customer: None,
                    ..ok.clone()
                },
                1,
                true
            ),
            "customers"
        );
        assert_eq!(
            name(
                &CallFacts {
                    metadata: BTreeMap::new(),
                    ..ok.clone()
                },
                1,
                true
            ),
            "metadata"
        );
        assert_eq!(
            name(
                &CallFacts {
                    metadata: [("run".into(), "r2".into())].into(),
                    ..ok.clone()
                },
                1,
                true
            ),
            "metadata"
        );
        // A step that creates nothing need not restate customer and metadata.
        assert_eq!(c.check(&CallFacts::default(), None, false), Ok(()));
    }

    #[test]
    fn twilio_and_resend_checks() {
        let t = parse(
            json!({"to": ["+1555", "+447700900123"], "from": ["+15005550006"], "max_segments": 2}),
            "twilio",
        )
        .unwrap();
        let sms = |to: &str, from: Option<&str>, segments| CallFacts {
            to: vec![to.into()],
            from: from.into_iter().map(Into::into).collect(),
            segments: Some(segments),
            ..Default::default()
        };
        assert_eq!(
            t.check(&sms("+15551234567", Some("+15005550006"), 2), None, false),
            Ok(())
        );
        assert_eq!(
            t.check(&sms("+447700900123", Some("+15005550006"), 1), None, false),
            Ok(())
        );
        assert_eq!(
            t.check(&sms("+15561234567", Some("+15005550006"), 1), None, false)
                .unwrap_err()
                .constraint,
            "to"
        );
        assert_eq!(
            t.check(&sms("+15551234567", Some("+15005550007"), 1), None, false)
                .unwrap_err()
                .constraint,
            "from"
        );
        assert_eq!(
            t.check(&sms("+15551234567", None, 1), None, false)
                .unwrap_err()
                .constraint,
            "from"
        );
        assert_eq!(
            t.check(&sms("+15551234567", Some("+15005550006"), 3), None, false)
                .unwrap_err()
                .constraint,
            "max_segments"
        );

        let r = parse(json!({"from_domains": ["acme.com"], "to_domains": ["example.org"], "max_recipients": 2}), "resend").unwrap();
        let mail = |from: &str, to: &[&str]| CallFacts {
            from: vec![from.into()],
            to: to.iter().map(|s| s.to_string()).collect(),
            max_recipients: Some(to.len() as u32),
            ..Default::default()
        };
        assert_eq!(
            r.check(
                &mail("Acme <bot@ACME.com>", &["a@example.org"]),
                None,
                false
            ),
            Ok(())
        );
        assert_eq!(
            r.check(&mail("bot@evil.com", &["a@example.org"]), None, false)
                .unwrap_err()
                .constraint,
            "from_domains"
        );
        assert_eq!(
            r.check(
                &mail("bot@acme.com", &["a@example.org.evil.com"]),
                None,
                false
            )
            .unwrap_err()
            .constraint,
            "to_domains"
        );
        assert_eq!(
            r.check(
                &mail(
                    "bot@acme.com",
                    &["a@example.org", "b@example.org", "c@example.org"]
                ),
                None,
                false
            )
            .unwrap_err()
            .constraint,
            "max_recipients"
        );
    }

    #[test]
    fn email_domains() {
        assert_eq!(email_domain("Name <a@B.com>").as_deref(), Some("b.com"));
        assert_eq!(email_domain("a@b.com").as_deref(), Some("b.com"));
        assert_eq!(email_domain("nobody"), None);
        assert_eq!(email_domain("a@"), None);
    }
}
