//! Default deny: every call a vendor accepts is classified before anything
//! is forwarded. Each vendor declares a catalogue of `method path → rule`
//! (its data lives in `vendors/<vendor>.rs`); a call no entry matches is
//! refused, never priced at $0. Operators may classify more endpoints in
//! `KEYBRAKE_CATALOGUE`, but never one a vendor marks `Never` (endpoints
//! that mint credentials or reveal secrets).

use serde_json::Value;

use crate::core::endpoint::CanonicalPath;
use crate::core::money::Money;

/// What Keybrake does with one kind of call. `P` is the vendor's own
/// pricing rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule<P: 'static> {
    /// A read: moves no money.
    Read,
    /// A write that moves no money; the listed parameters are refused
    /// (they would: a customer's `balance`).
    Free(&'static [&'static str]),
    /// Moves money, priced by the vendor's rule.
    Priced(P),
    /// Refused, and why. An operator may classify it.
    Refused(&'static str),
    /// Refused whatever the allowlist or the operator says, and why.
    Never(&'static str),
}

/// One catalogue line: `method` is `GET` (also HEAD), another method,
/// `WRITE` for any but GET and HEAD, or `*` for any; `path` is a pattern
/// (`*` one segment or part of one, as in `*.json`; a trailing `**` the
/// path before it and anything under it).
#[derive(Debug, Clone, Copy)]
pub struct Entry<P: 'static> {
    pub method: &'static str,
    pub path: &'static str,
    pub rule: Rule<P>,
}

pub const fn entry<P>(method: &'static str, path: &'static str, rule: Rule<P>) -> Entry<P> {
    Entry { method, path, rule }
}

/// Whether `method` is one the catalogue method names.
fn method_matches(pattern: &str, method: &str) -> bool {
    let read = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
    pattern == "*"
        || (pattern == "WRITE" && !read)
        || pattern.eq_ignore_ascii_case(method)
        || (pattern == "GET" && method.eq_ignore_ascii_case("HEAD"))
}

/// One segment against one pattern segment with at most one `*`, which
/// stands for one or more characters.
fn segment_matches(pattern: &str, segment: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == segment,
        Some((prefix, suffix)) => {
            segment.len() > prefix.len() + suffix.len()
                && segment.starts_with(prefix)
                && segment.ends_with(suffix)
        }
    }
}

/// Whether a catalogue path pattern matches a path (case-sensitive, as the
/// vendors route).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let mut pat = pattern.trim_start_matches('/').split('/').peekable();
    let mut segs = path.trim_start_matches('/').split('/');
    while let Some(p) = pat.next() {
        if p == "**" && pat.peek().is_none() {
            return true;
        }
        match segs.next() {
            Some(s) if segment_matches(p, s) => {}
            _ => return false,
        }
    }
    segs.next().is_none()
}

/// The first entry matching a call.
pub fn lookup<'a, P>(
    entries: &'a [Entry<P>],
    method: &str,
    path: &CanonicalPath,
) -> Option<&'a Entry<P>> {
    entries
        .iter()
        .find(|e| method_matches(e.method, method) && path_matches(e.path, path.as_str()))
}

/// How an operator classified an endpoint in `KEYBRAKE_CATALOGUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorRule {
    Free,
    Refused(String),
    /// A minor-unit amount from one parameter, in the currency another
    /// parameter (or a fixed code) names.
    Amount {
        amount: String,
        currency: CurrencyFrom,
    },
    /// The same price for every call.
    Fixed(Money),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrencyFrom {
    Param(String),
    Code(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorEntry {
    pub vendor: String,
    pub method: String,
    pub path: String,
    pub rule: OperatorRule,
}

/// The operator's additions, in their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorCatalogue(pub Vec<OperatorEntry>);

impl OperatorCatalogue {
    /// Parses `KEYBRAKE_CATALOGUE`: a JSON array of
    /// `{"vendor", "endpoint": "METHOD /path", "rule": "free" | "refused" | "amount" | "fixed", …}`.
    /// Errors name the entry and field.
    pub fn parse(text: &str, vendor_ok: &dyn Fn(&str) -> bool) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(OperatorCatalogue::default());
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("KEYBRAKE_CATALOGUE is not valid JSON: {e}"))?;
        let Value::Array(items) = value else {
            return Err("KEYBRAKE_CATALOGUE must be a JSON array of entries".into());
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at =
                |field: &str, problem: &str| format!("KEYBRAKE_CATALOGUE[{i}].{field} {problem}");
            let Value::Object(map) = item else {
                return Err(format!("KEYBRAKE_CATALOGUE[{i}] must be an object"));
            };
            const FIELDS: &[&str] = &[
                "vendor",
                "endpoint",
                "rule",
                "reason",
                "amount",
                "currency",
                "currency_param",
                "usd",
            ];
            if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                return Err(at(
                    unknown,
                    &format!("is not a known field ({})", FIELDS.join(", ")),
                ));
            }
            let text = |field: &str| -> Result<Option<String>, String> {
                match map.get(field) {
                    None => Ok(None),
                    Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
                    Some(_) => Err(at(field, "must be a non-empty string")),
                }
            };
            let required = |field: &str| text(field)?.ok_or_else(|| at(field, "is required"));
            let vendor = required("vendor")?;
            if !vendor_ok(&vendor) {
                return Err(at(
                    "vendor",
                    &format!("{vendor:?} is not a vendor Keybrake proxies"),
                ));
            }
            let endpoint = required("endpoint")?;
            let (method, path) = endpoint
                .split_once(' ')
                .map(|(m, p)| (m.trim().to_ascii_uppercase(), p.trim().to_owned()))
                .ok_or_else(|| {
                    at(
                        "endpoint",
                        "must be \"METHOD /path\", e.g. \"POST /v1/customers/*/tax_ids\"",
                    )
                })?;
            const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
            if !METHODS.contains(&method.as_str()) {
                return Err(at("endpoint", &format!("has an unknown method {method:?}")));
            }
            pattern_ok(&path).map_err(|e| at("endpoint", &e))?;
            let rule = match required("rule")?.as_str() {
                "free" => OperatorRule::Free,
                "refused" => OperatorRule::Refused(
                    text("reason")?.unwrap_or_else(|| "the operator refuses this endpoint".into()),
                ),
                "amount" => {
                    let amount = required("amount")?;
                    let currency = match (text("currency")?, text("currency_param")?) {
                        (Some(code), None)
                            if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) =>
                        {
                            CurrencyFrom::Code(code.to_ascii_lowercase())
                        }
                        (Some(_), None) => {
                            return Err(at("currency", "must be a three-letter currency code"))
                        }
                        (None, Some(param)) => CurrencyFrom::Param(param),
                        _ => {
                            return Err(at(
                                "currency",
                                "or currency_param (not both) is required for an amount rule",
                            ))
                        }
                    };
                    OperatorRule::Amount { amount, currency }
                }
                "fixed" => {
                    let usd = required("usd")?;
                    OperatorRule::Fixed(
                        Money::parse_usd(&usd).map_err(|e| at("usd", &e.to_string()))?,
                    )
                }
                other => {
                    return Err(at(
                        "rule",
                        &format!("{other:?} is not one of free, refused, amount, fixed"),
                    ))
                }
            };
            out.push(OperatorEntry {
                vendor,
                method,
                path,
                rule,
            });
        }
        Ok(OperatorCatalogue(out))
    }

    /// The operator's rule for a call, if any.
    pub fn lookup(
        &self,
        vendor: &str,
        method: &str,
        path: &CanonicalPath,
    ) -> Option<&OperatorEntry> {
        self.0.iter().find(|e| {
            e.vendor == vendor
                && method_matches(&e.method, method)
                && path_matches(&e.path, path.as_str())
        })
    }
}

/// A catalogue path pattern: `/` then segments of safe characters, `*`
/// at most once per segment, `**` only last.
pub fn pattern_ok(path: &str) -> Result<(), String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("{path:?} must start with /"))?;
    let segments: Vec<&str> = rest.split('/').collect();
    for (i, s) in segments.iter().enumerate() {
        if *s == "**" {
            if i + 1 != segments.len() || i == 0 {
                return Err(format!(
                    "{path:?}: ** may only end a pattern, after a literal prefix"
                ));
            }
            continue;
        }
        // A segment is safe path characters around at most one `*`.
        let literal = s.replace('*', "");
        let safe = literal.is_empty()
            || crate::core::endpoint::canonicalize(&format!("/{literal}")).is_ok();
        if s.is_empty() || s.matches('*').count() > 1 || !safe {
            return Err(format!("{path:?}: segment {s:?} is not allowed"));
        }
    }
    Ok(())
}

/// What a call is, once classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified<'a, P: 'static> {
    Builtin(Rule<P>),
    Operator(&'a OperatorRule),
    /// No entry: refused.
    Unknown,
}

/// Classifies a call: a vendor's `Never` first, then the operator's
/// entries, then the vendor's own.
pub fn classify<'a, P: Copy>(
    entries: &[Entry<P>],
    operator: &'a OperatorCatalogue,
    vendor: &str,
    method: &str,
    path: &CanonicalPath,
) -> Classified<'a, P> {
    let builtin = lookup(entries, method, path).map(|e| e.rule);
    if let Some(never @ Rule::Never(_)) = builtin {
        return Classified::Builtin(never);
    }
    if let Some(op) = operator.lookup(vendor, method, path) {
        return Classified::Operator(&op.rule);
    }
    builtin.map_or(Classified::Unknown, Classified::Builtin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::endpoint::canonicalize;

    fn p(s: &str) -> CanonicalPath {
        canonicalize(s).unwrap()
    }

    #[test]
    fn patterns() {
        assert!(path_matches("/v1/payment_intents", "/v1/payment_intents"));
        assert!(!path_matches(
            "/v1/payment_intents",
            "/v1/payment_intents/pi_1"
        ));
        assert!(path_matches(
            "/v1/payment_intents/*",
            "/v1/payment_intents/pi_1"
        ));
        assert!(!path_matches(
            "/v1/payment_intents/*",
            "/v1/payment_intents/pi_1/confirm"
        ));
        assert!(path_matches("/v1/issuing/**", "/v1/issuing/cards/ic_1"));
        assert!(path_matches("/v1/issuing/**", "/v1/issuing"));
        assert!(!path_matches("/v1/issuing/**", "/v1/issuings"));
        assert!(path_matches(
            "/2010-04-01/Accounts/*.json",
            "/2010-04-01/Accounts/AC1.json"
        ));
        assert!(!path_matches(
            "/2010-04-01/Accounts/*.json",
            "/2010-04-01/Accounts/.json"
        ));
        assert!(path_matches(
            "/2010-04-01/Accounts.*",
            "/2010-04-01/Accounts.csv"
        ));
        assert!(
            !path_matches("/emails/batch", "/emails/Batch"),
            "case-sensitive"
        );
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Pay;

    const CAT: &[Entry<Pay>] = &[
        entry("*", "/v1/webhook_endpoints/**", Rule::Never("secret")),
        entry("POST", "/v1/webhook_endpoints", Rule::Never("secret")),
        entry("POST", "/v1/payment_intents", Rule::Priced(Pay)),
        entry("POST", "/v1/invoices/**", Rule::Refused("billing")),
        entry("GET", "/v1/**", Rule::Read),
    ];

    #[test]
    fn first_match_never_wins_then_operator_then_builtin() {
        let ops = OperatorCatalogue::parse(
            r#"[{"vendor":"stripe","endpoint":"POST /v1/webhook_endpoints","rule":"free"},
                {"vendor":"stripe","endpoint":"POST /v1/invoices/*/pay","rule":"amount","amount":"amount","currency_param":"currency"},
                {"vendor":"stripe","endpoint":"POST /v1/tax_ids","rule":"free"}]"#,
            &|v| v == "stripe",
        )
        .unwrap();
        let c = |m: &str, path: &str| classify(CAT, &ops, "stripe", m, &p(path));
        assert_eq!(
            c("POST", "/v1/webhook_endpoints"),
            Classified::Builtin(Rule::Never("secret"))
        );
        assert!(matches!(
            c("POST", "/v1/invoices/in_1/pay"),
            Classified::Operator(OperatorRule::Amount { .. })
        ));
        assert_eq!(
            c("POST", "/v1/invoices/in_1/void"),
            Classified::Builtin(Rule::Refused("billing"))
        );
        assert_eq!(c("HEAD", "/v1/customers"), Classified::Builtin(Rule::Read));
        assert_eq!(
            c("POST", "/v1/tax_ids"),
            Classified::Operator(&OperatorRule::Free)
        );
        assert_eq!(c("POST", "/v1/customers"), Classified::Unknown);
        assert_eq!(c("DELETE", "/v1/customers/cus_1"), Classified::Unknown);
    }

    #[test]
    fn operator_entries_are_validated_by_field() {
        let err = |text: &str| OperatorCatalogue::parse(text, &|v| v == "stripe").unwrap_err();
        assert!(err("{").contains("not valid JSON"));
        assert!(err("{}").contains("array"));
        assert!(
            err(r#"[{"vendor":"paypal","endpoint":"POST /x","rule":"free"}]"#)
                .contains("[0].vendor")
        );
        assert!(
            err(r#"[{"vendor":"stripe","endpoint":"/x","rule":"free"}]"#).contains("[0].endpoint")
        );
        assert!(
            err(r#"[{"vendor":"stripe","endpoint":"FETCH /x","rule":"free"}]"#)
                .contains("unknown method")
        );
        assert!(
            err(r#"[{"vendor":"stripe","endpoint":"POST /x/../y","rule":"free"}]"#)
                .contains("[0].endpoint")
        );
        assert!(
            err(r#"[{"vendor":"stripe","endpoint":"POST /x","rule":"cheap"}]"#)
                .contains("[0].rule")
        );
        assert!(
            err(r#"[{"vendor":"stripe","endpoint":"POST /x","rule":"amount","amount":"a"}]"#)
                .contains("[0].currency")
        );
        assert!(
            err(r#"[{"vendor":"stripe","endpoint":"POST /x","rule":"fixed","usd":"-1"}]"#)
                .contains("[0].usd")
        );
        assert!(
            err(r#"[{"vendor":"stripe","endpoint":"POST /x","rule":"free","price":1}]"#)
                .contains("[0].price")
        );
        assert_eq!(
            OperatorCatalogue::parse("", &|_| true),
            Ok(OperatorCatalogue::default())
        );
    }
}
