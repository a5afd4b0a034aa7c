//! Vendors behind one small interface: how Keybrake authenticates upstream,
//! how it shapes the request body, how it prices a call, and how its errors
//! look to the vendor's own SDK. Adding a vendor is adding a file here and a
//! line in `vendor_for`. Nothing in this module touches the runtime.

pub mod resend;
pub mod stripe;
pub mod twilio;

use crate::core::body::{BodyShape, Params};
use crate::core::catalogue::{
    classify, Classified, CurrencyFrom, Entry, OperatorCatalogue, OperatorRule, Rule,
};
use crate::core::constraints::CallFacts;
use crate::core::currency::RateTable;
use crate::core::endpoint::CanonicalPath;
use crate::core::form::FormBody;
use crate::core::money::Money;
use crate::core::token::KeyId;
use crate::error::{ApiError, ApiResult, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a call costs, as far as the request alone can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Charge {
    /// Moves no money (reads, metadata updates, cancellations).
    Free,
    /// Moves a stated amount. The object it creates is remembered by the key
    /// so later steps on it (confirm, capture, refund) are priced from it.
    Amount {
        usd: Money,
        /// The amount as the vendor states it, in the currency's minor unit.
        minor: u64,
    },
    /// A metered use with nothing to follow up (an SMS, an email).
    Usage { usd: Money },
    /// A step on an existing object (`/v1/payment_intents/pi_1/capture`).
    /// Free up to what this key already priced for it; an increase is
    /// charged pro rata; an object this key did not create cannot be priced
    /// (another key may have priced it lower).
    FollowUp { object: String, minor: Option<u64> },
    /// Money sent back on an object this key created: `minor` of it (all of
    /// it when `None`), in the object's own currency, at the rate the key
    /// priced it. An object this key did not create cannot be priced.
    Refund { object: String, minor: Option<u64> },
}

/// A call as its vendor read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub charge: Charge,
    pub facts: CallFacts,
}

impl Inspection {
    /// A call that moves no money and states nothing constraints judge.
    pub fn free() -> Inspection {
        Inspection {
            charge: Charge::Free,
            facts: CallFacts::default(),
        }
    }
}

/// The parts of a proxied request a vendor looks at.
pub struct PricingInput<'a> {
    pub method: &'a str,
    pub path: &'a CanonicalPath,
    /// The parameters exactly as they will be forwarded.
    pub params: &'a Params,
    pub rates: &'a RateTable,
    /// For configurable unit prices (`TWILIO_SMS_PRICES`, …).
    pub config: &'a dyn ConfigSource,
    /// The operator's own classifications (`KEYBRAKE_CATALOGUE`).
    pub operator: &'a OperatorCatalogue,
}

static NO_FORM: FormBody = FormBody::EMPTY;

impl PricingInput<'_> {
    /// The parameters of a form vendor (none for an empty body).
    pub fn form(&self) -> &FormBody {
        match self.params {
            Params::Form(form) => form,
            _ => &NO_FORM,
        }
    }

    /// The body of a JSON vendor, if there is one.
    pub fn json(&self) -> Option<&Value> {
        match self.params {
            Params::Json(value) => Some(value),
            _ => None,
        }
    }

    /// Whether the call names a parameter, at the top level or nested.
    fn mentions(&self, name: &str) -> bool {
        match self.params {
            Params::Form(form) => form.mentions(name),
            Params::Json(Value::Object(map)) => map.contains_key(name),
            _ => false,
        }
    }

    /// One parameter's text: a form field, or a JSON field (`a.b` nests).
    fn param(&self, name: &str) -> ApiResult<Option<String>> {
        match self.params {
            Params::Form(form) => form
                .get(name)
                .map(|v| v.map(str::to_owned))
                .map_err(|e| ApiError::field(name, e)),
            Params::Json(value) => {
                Ok(name
                    .split('.')
                    .try_fold(value, |v, k| v.get(k))
                    .and_then(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    }))
            }
            Params::None => Ok(None),
        }
    }

    /// A money amount in minor units from a parameter.
    pub fn amount(&self, name: &str) -> ApiResult<Option<u64>> {
        match self.param(name)? {
            None => Ok(None),
            Some(text) => text.parse::<u64>().map(Some).map_err(|_| ApiError {
                param: Some(name.to_owned()),
                ..ApiError::unpriceable(format!(
                    "{name} must be a whole number of the currency's smallest unit, got {text:?}"
                ))
            }),
        }
    }

    /// `amount` in `currency` as dollars.
    pub fn to_usd(&self, minor: u64, currency: &str) -> ApiResult<Money> {
        self.rates.to_usd(minor, currency).map_err(|e| ApiError {
            param: Some("currency".into()),
            ..ApiError::unpriceable(e)
        })
    }

    /// `METHOD /path`, for messages.
    pub fn call(&self) -> String {
        format!("{} {}", self.method, self.path.as_str())
    }
}

/// Reads a call by a vendor's catalogue: refused unless an entry (the
/// vendor's, or the operator's) classifies it; `priced` reads the vendor's
/// own money-moving rules.
pub fn by_catalogue<P: Copy>(
    vendor: &str,
    entries: &[Entry<P>],
    input: &PricingInput<'_>,
    priced: impl FnOnce(P) -> ApiResult<Inspection>,
) -> ApiResult<Inspection> {
    // Only the vendor's own pricing depends on `P`; the rest is one
    // function for every vendor (one copy in the module).
    let rule = match classify(entries, input.operator, vendor, input.method, input.path) {
        Classified::Builtin(Rule::Priced(p)) => return priced(p),
        Classified::Builtin(Rule::Read) => Some(Rule::Read),
        Classified::Builtin(Rule::Free(refused)) => Some(Rule::Free(refused)),
        Classified::Builtin(Rule::Refused(why)) => Some(Rule::Refused(why)),
        Classified::Builtin(Rule::Never(why)) => Some(Rule::Never(why)),
        Classified::Operator(rule) => return by_operator(input, rule),
        Classified::Unknown => None,
    };
    by_rule(vendor, input, rule)
}

/// A call the vendor's catalogue does not price itself: a read, a free
/// write, a refusal, or (`None`) not in the catalogue at all.
fn by_rule(
    vendor: &str,
    input: &PricingInput<'_>,
    rule: Option<Rule<()>>,
) -> ApiResult<Inspection> {
    let call = input.call();
    match rule {
        None => Err(ApiError::unpriceable(format!(
            "{call} is not in Keybrake's {vendor} catalogue, so its cost is unknown and it was not forwarded \
             (an operator can classify it in KEYBRAKE_CATALOGUE)"
        ))),
        Some(Rule::Never(why)) => Err(ApiError::unpriceable(format!(
            "{call} is never forwarded: it {why}"
        ))),
        Some(Rule::Refused(why)) => Err(ApiError::unpriceable(format!(
            "{call} is refused: {why}"
        ))),
        Some(Rule::Free(refused)) => match refused.iter().find(|p| input.mentions(p)) {
            Some(p) => Err(ApiError {
                param: Some((*p).to_owned()),
                ..ApiError::unpriceable(format!(
                    "{p} moves money on {call}, which Keybrake cannot price"
                ))
            }),
            None => Ok(Inspection::free()),
        },
        Some(Rule::Read | Rule::Priced(())) => Ok(Inspection::free()),
    }
}

/// A call the operator classified in `KEYBRAKE_CATALOGUE`.
fn by_operator(input: &PricingInput<'_>, rule: &OperatorRule) -> ApiResult<Inspection> {
    let call = input.call();
    let charge = match rule {
        OperatorRule::Free => Charge::Free,
        OperatorRule::Fixed(usd) => Charge::Usage { usd: *usd },
        OperatorRule::Refused(why) => {
            return Err(ApiError::unpriceable(format!(
                "{call} is refused by the operator: {why}"
            )))
        }
        OperatorRule::Amount { amount, currency } => {
            let minor = input.amount(amount)?.ok_or_else(|| ApiError {
                param: Some(amount.clone()),
                ..ApiError::unpriceable(format!("{call} must state {amount}"))
            })?;
            let currency = match currency {
                CurrencyFrom::Code(code) => code.clone(),
                CurrencyFrom::Param(name) => input.param(name)?.ok_or_else(|| ApiError {
                    param: Some(name.clone()),
                    ..ApiError::unpriceable(format!("{call} must state {name}"))
                })?,
            };
            Charge::Usage {
                usd: input.to_usd(minor, &currency)?,
            }
        }
    };
    Ok(Inspection {
        charge,
        facts: CallFacts::default(),
    })
}

/// What to do with one request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderUse {
    /// Forwarded, and part of what makes two requests the same call (an
    /// idempotent retry must repeat it).
    Semantic,
    /// Forwarded; does not change what the vendor does.
    Cosmetic,
    /// Not forwarded.
    Dropped,
    /// The request is refused: a header of the vendor's own that Keybrake
    /// has not classified could change what the vendor does.
    Refused,
}

/// Reads configuration by name (Worker Secrets and vars in production, a map
/// in tests).
pub trait ConfigSource {
    fn get(&self, name: &str) -> Option<String>;
}

pub trait Vendor: Sync {
    /// The path prefix and the `vendor` of a key: `stripe`.
    fn name(&self) -> &'static str;

    /// Where the real API lives by default: `https://api.stripe.com`.
    fn default_api_base(&self) -> &'static str;

    /// The upstream base URL: `<VENDOR>_API_BASE` when set (tests point it
    /// at a local fake), the vendor's own otherwise.
    fn api_base(&self, config: &dyn ConfigSource) -> String {
        let var = format!("{}_API_BASE", self.name().to_ascii_uppercase());
        config
            .get(&var)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.default_api_base().to_owned())
    }

    /// The real credential, as the `Authorization` header value to forward.
    fn upstream_authorization(&self, config: &dyn ConfigSource) -> ApiResult<String>;

    /// Headers whose value scopes the call to another account; forwarded
    /// only when the key lists the value in `allowed_accounts`.
    fn account_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// A response header through which the vendor's SDK learns whether to
    /// retry (`Stripe-Should-Retry`); set to `false` on every denial.
    fn retry_hint_header(&self) -> Option<&'static str> {
        None
    }

    /// The header that makes a retry safe, when the vendor has one.
    fn idempotency_header(&self) -> Option<&'static str> {
        None
    }

    /// How long the vendor remembers an idempotency key (Stripe and Resend:
    /// 24 hours); a retry after that is a new call.
    fn idempotency_window_ms(&self) -> i64 {
        24 * 60 * 60 * 1000
    }

    /// The path as it will be forwarded: Twilio's per-key placeholder
    /// account SID becomes the real one. Refuses paths naming an account
    /// the operator did not configure.
    fn forward_path(
        &self,
        path: CanonicalPath,
        key: &KeyId,
        config: &dyn ConfigSource,
    ) -> ApiResult<CanonicalPath> {
        let _ = (key, config);
        Ok(path)
    }

    /// Extra fields of the issuance answer for a key of this vendor.
    fn issued_fields(&self, key: &KeyId) -> serde_json::Map<String, Value> {
        let _ = key;
        serde_json::Map::new()
    }

    /// How the vendor takes request bodies.
    fn body_shape(&self) -> BodyShape;

    /// The vendor's own request headers: how each is used. Headers this
    /// does not name are dropped, unless they carry the vendor's prefix
    /// (`refused_header_prefixes`), which refuses the call.
    fn header_use(&self, name: &str) -> HeaderUse {
        let _ = name;
        HeaderUse::Dropped
    }

    /// Prefixes of the vendor's own headers (`stripe-`).
    fn refused_header_prefixes(&self) -> &'static [&'static str] {
        &[]
    }

    /// Reads a call once: what it costs (refused unless the vendor's
    /// catalogue, or the operator's, classifies it) and what the key's
    /// constraints judge (currency, customer, recipients, sender…).
    fn inspect(&self, input: &PricingInput<'_>) -> ApiResult<Inspection>;

    /// The id of the object a successful money-moving call created.
    fn created_object_id(&self, response_body: &[u8]) -> Option<String> {
        // Only `id` is kept; the rest is skipped, not built into a tree.
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        serde_json::from_slice::<Created>(response_body)
            .ok()
            .map(|c| c.id)
    }

    /// What is wrong with this vendor's configuration (its price tables),
    /// for `GET /healthz`; calls fail closed on the same problems.
    fn config_problems(&self, config: &dyn ConfigSource) -> Vec<String> {
        let _ = config;
        Vec::new()
    }

    /// The error body the vendor's SDK understands, carrying Keybrake's code.
    fn error_body(&self, error: &ApiError) -> Value;

    /// Its common calls as MCP tools with typed arguments (the generic
    /// `<vendor>_request` tool covers the rest of the catalogue).
    fn tools(&self) -> &'static [crate::core::mcp::Tool] {
        &[]
    }

    /// Path placeholders a key fills itself (Twilio's `AccountSid`).
    fn tool_placeholders(&self, key: &KeyId) -> Vec<(&'static str, String)> {
        let _ = key;
        Vec::new()
    }
}

/// How a request header is treated on a call to `vendor`.
pub fn header_use(vendor: &dyn Vendor, name: &str) -> HeaderUse {
    match name {
        // The caller's W3C trace continues to the vendor.
        "accept" | "accept-language" | "user-agent" | "traceparent" | "tracestate" => {
            HeaderUse::Cosmetic
        }
        // The key itself, not what the call does.
        n if vendor.idempotency_header() == Some(n) => HeaderUse::Cosmetic,
        n if vendor.account_headers().contains(&n) => HeaderUse::Semantic,
        n => match vendor.header_use(n) {
            HeaderUse::Dropped
                if vendor
                    .refused_header_prefixes()
                    .iter()
                    .any(|p| n.starts_with(p)) =>
            {
                HeaderUse::Refused
            }
            used => used,
        },
    }
}

/// Every vendor Keybrake can proxy.
static VENDORS: [&dyn Vendor; 3] = [&stripe::Stripe, &twilio::Twilio, &resend::Resend];

/// The vendor named by a key's `vendor` or a proxy path's first segment.
pub fn vendor_for(name: &str) -> Option<&'static dyn Vendor> {
    VENDORS.iter().copied().find(|v| v.name() == name)
}

/// Every vendor Keybrake can proxy.
pub fn all() -> &'static [&'static dyn Vendor] {
    &VENDORS
}

/// Whether each vendor can be called: its upstream credentials are all
/// configured, or the message naming the missing one (never a value).
pub fn readiness(config: &dyn ConfigSource) -> Vec<(&'static str, Result<(), String>)> {
    VENDORS
        .iter()
        .map(|v| {
            let ready = v.upstream_authorization(config).map(drop);
            (v.name(), ready.map_err(|e| e.message))
        })
        .collect()
}

/// Names of every vendor Keybrake can proxy, for error messages.
pub fn vendor_names() -> String {
    VENDORS
        .iter()
        .map(|v| v.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A configured unit price in dollars, or its default.
pub fn unit_price(config: &dyn ConfigSource, name: &str, default: &str) -> ApiResult<Money> {
    let text = config.get(name).filter(|v| !v.trim().is_empty());
    Money::parse_usd(text.as_deref().unwrap_or(default))
        .map_err(|e| ApiError::new(ErrorCode::NotConfigured, format!("{name} {e}")))
}

/// Multiplies a unit price by a count, refusing overflow.
pub fn times(unit: Money, count: u64) -> ApiResult<Money> {
    unit.micros()
        .checked_mul(count)
        .map(Money::from_micros)
        .ok_or_else(|| ApiError::unpriceable("the call's cost is too large"))
}

/// Configuration from a list of pairs, for host tests.
#[cfg(test)]
pub struct MapConfig(pub Vec<(&'static str, &'static str)>);

#[cfg(test)]
impl ConfigSource for MapConfig {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// Reads a required secret or fails closed with `not_configured`.
pub fn required(config: &dyn ConfigSource, name: &str) -> ApiResult<String> {
    config
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotConfigured,
                format!("Keybrake has no {name} configured"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_each_missing_secret_and_no_value() {
        let config = MapConfig(vec![
            ("STRIPE_SECRET_KEY", "sk_test_value"),
            ("TWILIO_ACCOUNT_SID", "AC_value"),
        ]);
        let ready = readiness(&config);
        let names: Vec<&str> = ready.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["stripe", "twilio", "resend"]);
        assert_eq!(ready[0].1, Ok(()));
        let twilio = ready[1].1.clone().unwrap_err();
        assert!(twilio.contains("TWILIO_AUTH_TOKEN"), "{twilio}");
        let resend = ready[2].1.clone().unwrap_err();
        assert!(resend.contains("RESEND_API_KEY"), "{resend}");
        assert!(!format!("{twilio}{resend}").contains("value"));
        // An API key pair half configured names its other half.
        let pair = MapConfig(vec![
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_API_KEY_SID", "SK1"),
        ]);
        let twilio = readiness(&pair)[1].1.clone().unwrap_err();
        assert!(twilio.contains("TWILIO_API_KEY_SECRET"), "{twilio}");
    }
    use crate::core::catalogue::{classify, OperatorCatalogue};
    use crate::core::endpoint::canonicalize;

    /// The write endpoints the pinned `stripe` and `resend` npm packages
    /// call (`scripts/sdk-endpoints.mjs`; a Worker test keeps it current).
    const SDK_ENDPOINTS: &str = include_str!("../../tests/fixtures/sdk-write-endpoints.json");

    #[test]
    fn every_sdk_write_endpoint_is_classified_explicitly() {
        let sdk: Value = serde_json::from_str(SDK_ENDPOINTS).unwrap();
        let none = OperatorCatalogue::default();
        let mut unclassified = Vec::new();
        let mut counted = 0;
        for vendor in ["stripe", "resend"] {
            for e in sdk[vendor]["endpoints"].as_array().unwrap() {
                let method = e["method"].as_str().unwrap();
                let path =
                    canonicalize(&e["path"].as_str().unwrap().replace("{id}", "x_1")).unwrap();
                let known = match vendor {
                    "stripe" => !matches!(
                        classify(stripe::CATALOGUE, &none, vendor, method, &path),
                        Classified::Unknown
                    ),
                    _ => !matches!(
                        classify(resend::CATALOGUE, &none, vendor, method, &path),
                        Classified::Unknown
                    ),
                };
                if !known {
                    unclassified.push(format!("{vendor}: {method} {}", path.as_str()));
                }
                counted += 1;
            }
        }
        assert!(counted > 400, "the fixture lists {counted} endpoints");
        assert!(
            unclassified.is_empty(),
            "not in the catalogue:\n{}",
            unclassified.join("\n")
        );
    }

    /// Every curated MCP tool names an endpoint its vendor's catalogue
    /// reads or prices (a tool for a refused endpoint could only fail), and
    /// describes its arguments as a JSON Schema object.
    #[test]
    fn every_tool_is_a_classified_endpoint_with_an_object_schema() {
        use crate::core::catalogue::Rule;
        use crate::core::mcp::sample_path;
        let none = OperatorCatalogue::default();
        let mut names = std::collections::HashSet::new();
        for vendor in all() {
            for tool in vendor.tools() {
                assert!(names.insert(tool.name), "{} twice", tool.name);
                assert!(tool.name.starts_with(vendor.name()), "{}", tool.name);
                let schema: Value = serde_json::from_str(tool.input_schema).unwrap();
                assert_eq!(schema["type"], "object", "{}", tool.name);
                let path = canonicalize(&sample_path(
                    tool,
                    &[("AccountSid", "AC00000000000000000000000000000001".into())],
                ))
                .unwrap();
                let usable = |rule: Option<bool>| rule.unwrap_or(false);
                let ok = match vendor.name() {
                    "stripe" => usable(
                        match classify(stripe::CATALOGUE, &none, "stripe", tool.method, &path) {
                            Classified::Builtin(Rule::Refused(_) | Rule::Never(_))
                            | Classified::Unknown => None,
                            _ => Some(true),
                        },
                    ),
                    "twilio" => usable(
                        match classify(twilio::CATALOGUE, &none, "twilio", tool.method, &path) {
                            Classified::Builtin(Rule::Refused(_) | Rule::Never(_))
                            | Classified::Unknown => None,
                            _ => Some(true),
                        },
                    ),
                    _ => usable(
                        match classify(resend::CATALOGUE, &none, "resend", tool.method, &path) {
                            Classified::Builtin(Rule::Refused(_) | Rule::Never(_))
                            | Classified::Unknown => None,
                            _ => Some(true),
                        },
                    ),
                };
                assert!(
                    ok,
                    "{}: {} {} is not usable in the catalogue",
                    tool.name,
                    tool.method,
                    path.as_str()
                );
            }
        }
        assert!(names.len() >= 15);
    }
}
