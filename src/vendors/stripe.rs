//! Stripe: Bearer secret upstream, form-encoded bodies, and a catalogue of
//! every endpoint: what moves money and how much (read from the request),
//! what moves none, what is refused and why. Nothing outside it is sent.

use super::{
    by_catalogue, required, Charge, ConfigSource, HeaderUse, Inspection, PricingInput, Vendor,
};
use crate::core::body::BodyShape;
use crate::core::catalogue::{entry, Entry, Rule};
use crate::core::constraints::CallFacts;
use crate::core::form::KeyGrammar;
use crate::core::mcp::Tool;
use crate::error::{ApiError, ApiResult, ErrorCode};
use serde_json::{json, Value};

pub struct Stripe;

/// How Stripe's money-moving endpoints are priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    /// Creates a payment: `amount` in `currency`, both required.
    Payment,
    /// Updates a payment intent: a new `amount` is priced at the rate the
    /// key paid for it; a new `currency` is refused.
    PaymentUpdate,
    /// A step on a payment this key created (the id is the path's third
    /// segment): free up to what the key priced; the named parameter, when
    /// present, is the payment's new total.
    Step {
        amount: Option<&'static str>,
        required: bool,
    },
    /// Refunds a payment this key created, named in the path.
    RefundInPath,
    /// Refunds a payment this key created, named by `charge` or
    /// `payment_intent`.
    Refund,
}

use Price::*;
use Rule::{Free, Never, Priced, Read, Refused};

const NO_PARAMS: &[&str] = &[];

const SIGNING_SECRET: &str =
    "answers or redirects a webhook signing secret: an agent could forge or intercept payment events";
const SESSION: &str =
    "mints a session, link or key that acts on the account without going through Keybrake";
const BILLING: &str =
    "moves money through prices, invoices or billing objects whose amounts Keybrake cannot see in the request";
const CONNECT: &str = "manages connected accounts and their payout destinations";

/// Every Stripe endpoint, first match wins. `WRITE` is any method but GET
/// and HEAD; `**` is the path and everything under it.
pub const CATALOGUE: &[Entry<Price>] = &[
    // Never, whatever the allowlist or the operator says.
    entry("POST", "/v1/webhook_endpoints/**", Never(SIGNING_SECRET)),
    entry("*", "/v2/core/event_destinations/**", Never(SIGNING_SECRET)),
    entry("*", "/v1/ephemeral_keys/**", Never(SESSION)),
    entry("*", "/v1/account_links/**", Never(SESSION)),
    entry("*", "/v1/account_sessions/**", Never(SESSION)),
    entry("*", "/v1/accounts/*/login_links/**", Never(SESSION)),
    entry("*", "/v1/customer_sessions/**", Never(SESSION)),
    entry("*", "/v1/billing_portal/sessions/**", Never(SESSION)),
    entry("*", "/v1/terminal/connection_tokens/**", Never(SESSION)),
    entry("*", "/v1/terminal/onboarding_links/**", Never(SESSION)),
    entry("*", "/v2/core/account_links/**", Never(SESSION)),
    entry("*", "/v2/core/account_tokens/**", Never(SESSION)),
    entry("*", "/v2/core/accounts/*/person_tokens/**", Never(SESSION)),
    entry(
        "*",
        "/oauth/**",
        Never("issues or revokes OAuth access to connected accounts"),
    ),
    entry(
        "*",
        "/v1/apps/secrets/**",
        Never("reads or writes secrets stored with Stripe Apps"),
    ),
    entry(
        "*",
        "/v1/issuing/cards/**",
        Never("can answer issued card numbers, which spend outside any cap"),
    ),
    entry(
        "*",
        "/v1/issuing/tokens/**",
        Never("manages network tokens of issued cards"),
    ),
    entry(
        "*",
        "/v1/forwarding/**",
        Never("sends stored card details to a third party"),
    ),
    // Payments.
    entry("POST", "/v1/payment_intents", Priced(Payment)),
    entry(
        "POST",
        "/v1/payment_intents/*/confirm",
        Priced(Step {
            amount: None,
            required: false,
        }),
    ),
    entry(
        "POST",
        "/v1/payment_intents/*/capture",
        Priced(Step {
            amount: Some("amount_to_capture"),
            required: false,
        }),
    ),
    entry(
        "POST",
        "/v1/payment_intents/*/increment_authorization",
        Priced(Step {
            amount: Some("amount"),
            required: true,
        }),
    ),
    entry("POST", "/v1/payment_intents/*/cancel", Free(NO_PARAMS)),
    entry(
        "POST",
        "/v1/payment_intents/*/verify_microdeposits",
        Free(NO_PARAMS),
    ),
    entry(
        "POST",
        "/v1/payment_intents/*/apply_customer_balance",
        Refused("spends the customer's cash balance by an amount Keybrake cannot see"),
    ),
    entry("POST", "/v1/payment_intents/*", Priced(PaymentUpdate)),
    entry("POST", "/v1/charges", Priced(Payment)),
    entry(
        "POST",
        "/v1/charges/*/capture",
        Priced(Step {
            amount: Some("amount"),
            required: false,
        }),
    ),
    entry("POST", "/v1/charges/*/refund", Priced(RefundInPath)),
    entry("POST", "/v1/charges/*/refunds", Priced(RefundInPath)),
    entry("POST", "/v1/charges/*/refunds/*", Free(NO_PARAMS)),
    entry("POST", "/v1/charges/*", Free(NO_PARAMS)),
    entry("POST", "/v1/refunds", Priced(Refund)),
    entry("POST", "/v1/refunds/*", Free(NO_PARAMS)),
    entry("POST", "/v1/refunds/*/cancel", Free(NO_PARAMS)),
    entry("POST", "/v1/transfers", Priced(Payment)),
    entry("POST", "/v1/transfers/*", Free(NO_PARAMS)),
    entry("POST", "/v1/transfers/*/reversals/*", Free(NO_PARAMS)),
    entry(
        "WRITE",
        "/v1/transfers/*/reversals",
        Refused("reverses a transfer Keybrake has no price for"),
    ),
    entry("POST", "/v1/payouts", Priced(Payment)),
    entry("POST", "/v1/payouts/*", Free(NO_PARAMS)),
    entry("POST", "/v1/payouts/*/cancel", Free(NO_PARAMS)),
    entry(
        "WRITE",
        "/v1/payouts/*/reverse",
        Refused("reverses a payout by an amount Keybrake cannot see"),
    ),
    entry("POST", "/v1/topups", Priced(Payment)),
    entry("POST", "/v1/topups/*", Free(NO_PARAMS)),
    entry("POST", "/v1/topups/*/cancel", Free(NO_PARAMS)),
    entry(
        "WRITE",
        "/v1/disputes/*/close",
        Refused("accepting a dispute gives up its amount"),
    ),
    entry("POST", "/v1/disputes/*", Free(NO_PARAMS)),
    entry(
        "WRITE",
        "/v1/reviews/**",
        Refused("approving a review lets a held payment through"),
    ),
    // Customers: free, but their balance is money.
    entry(
        "WRITE",
        "/v1/customers/*/balance_transactions/**",
        Refused("credits or debits the customer's balance"),
    ),
    entry(
        "WRITE",
        "/v1/customers/*/cash_balance/**",
        Refused("changes how the customer's cash balance is spent"),
    ),
    entry(
        "WRITE",
        "/v1/customers/*/funding_instructions/**",
        Refused("creates bank transfer instructions that fund a cash balance"),
    ),
    entry(
        "WRITE",
        "/v1/customers/*/subscriptions/**",
        Refused(BILLING),
    ),
    entry("WRITE", "/v1/customers/**", Free(&["balance"])),
    // Writes that move no money by themselves.
    entry("WRITE", "/v1/payment_methods/**", Free(NO_PARAMS)),
    entry(
        "WRITE",
        "/v1/payment_method_configurations/**",
        Free(NO_PARAMS),
    ),
    entry("WRITE", "/v1/payment_method_domains/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/apple_pay/domains/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/setup_intents/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/tokens/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/products/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/prices/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/plans/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/coupons/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/promotion_codes/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/tax_rates/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/tax_ids/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/shipping_rates/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/file_links/**", Free(NO_PARAMS)),
    entry("WRITE", "/v1/reporting/**", Free(NO_PARAMS)),
    // Refused, each with its reason.
    entry(
        "WRITE",
        "/v1/webhook_endpoints/**",
        Refused("deleting a webhook endpoint stops the operator's own event delivery"),
    ),
    entry("WRITE", "/v1/subscriptions/**", Refused(BILLING)),
    entry("WRITE", "/v1/subscription_items/**", Refused(BILLING)),
    entry("WRITE", "/v1/subscription_schedules/**", Refused(BILLING)),
    entry("WRITE", "/v1/invoices/**", Refused(BILLING)),
    entry("WRITE", "/v1/invoiceitems/**", Refused(BILLING)),
    entry(
        "WRITE",
        "/v1/invoice_rendering_templates/**",
        Refused(BILLING),
    ),
    entry("WRITE", "/v1/credit_notes/**", Refused(BILLING)),
    entry("WRITE", "/v1/quotes/**", Refused(BILLING)),
    entry("WRITE", "/v1/checkout/**", Refused(BILLING)),
    entry("WRITE", "/v1/payment_links/**", Refused(BILLING)),
    entry("WRITE", "/v1/billing/**", Refused(BILLING)),
    entry("WRITE", "/v1/billing_portal/**", Refused(BILLING)),
    entry("WRITE", "/v1/product_catalog/**", Refused(BILLING)),
    entry("WRITE", "/v1/entitlements/**", Refused(BILLING)),
    entry(
        "*",
        "/v1/issuing/**",
        Refused("Issuing spends card funds Keybrake does not price"),
    ),
    entry(
        "*",
        "/v1/treasury/**",
        Refused("Treasury moves money Keybrake does not price"),
    ),
    entry(
        "WRITE",
        "/v1/application_fees/**",
        Refused("refunds application fees Keybrake has no price for"),
    ),
    entry("WRITE", "/v1/accounts/**", Refused(CONNECT)),
    entry(
        "WRITE",
        "/v1/terminal/**",
        Refused("in-person payments are not priced"),
    ),
    entry(
        "WRITE",
        "/v1/identity/**",
        Refused("Stripe bills each identity verification"),
    ),
    entry(
        "WRITE",
        "/v1/climate/**",
        Refused("climate orders are purchases Keybrake does not price"),
    ),
    entry(
        "WRITE",
        "/v1/tax/**",
        Refused("Stripe Tax bills calculations and transactions"),
    ),
    entry(
        "WRITE",
        "/v1/financial_connections/**",
        Refused("Stripe bills Financial Connections refreshes and subscriptions"),
    ),
    entry(
        "WRITE",
        "/v1/radar/**",
        Refused("changes which payments Radar blocks"),
    ),
    entry(
        "WRITE",
        "/v1/three_d_secure/**",
        Refused("standalone 3D Secure is billed per authentication"),
    ),
    entry(
        "WRITE",
        "/v1/sources/**",
        Refused("legacy sources can carry amounts Keybrake does not price"),
    ),
    entry(
        "WRITE",
        "/v1/payment_records/**",
        Refused("reports payments made outside Stripe"),
    ),
    entry(
        "WRITE",
        "/v1/balance_settings/**",
        Refused("changes payout schedules and balance settings"),
    ),
    entry(
        "WRITE",
        "/v1/apps/**",
        Refused("installs or removes Stripe Apps"),
    ),
    entry(
        "WRITE",
        "/v1/files/**",
        Refused("uploads go to files.stripe.com as multipart, which Keybrake does not forward"),
    ),
    entry(
        "WRITE",
        "/v1/test_helpers/**",
        Refused("test helpers change objects in ways Keybrake does not price"),
    ),
    entry(
        "WRITE",
        "/v2/**",
        Refused("Stripe's v2 APIs are not priced"),
    ),
    // Reads move no money.
    entry("GET", "/v1/**", Read),
    entry("GET", "/v2/**", Read),
];

/// The object a step acts on: `/v1/<resource>/<id>/…`.
fn object_in_path(input: &PricingInput<'_>) -> String {
    input.path.segments().nth(2).unwrap_or_default().to_owned()
}

/// A refund's `currency` is its payment's: Keybrake refuses another.
fn no_currency(input: &PricingInput<'_>, what: &str) -> ApiResult<()> {
    match input
        .form()
        .get("currency")
        .map_err(|e| ApiError::field("currency", e))?
    {
        None => Ok(()),
        Some(_) => Err(ApiError {
            param: Some("currency".into()),
            ..ApiError::unpriceable(format!("{} may not state a currency: {what}", input.call()))
        }),
    }
}

impl Stripe {
    /// Read from every classified call: a step or update names them too.
    fn facts(&self, input: &PricingInput<'_>) -> CallFacts {
        let mut facts = CallFacts::default();
        for (k, v) in input.form().pairs() {
            match k {
                "currency" => facts.currency = Some(v.to_ascii_lowercase()),
                "customer" => facts.customer = Some(v.to_owned()),
                _ => {
                    if let Some(key) = k
                        .strip_prefix("metadata[")
                        .and_then(|r| r.strip_suffix(']'))
                    {
                        facts.metadata.insert(key.to_owned(), v.to_owned());
                    }
                }
            }
        }
        facts
    }

    fn price_rule(&self, rule: Price, input: &PricingInput<'_>) -> ApiResult<Charge> {
        let form = input.form();
        let call = input.call();
        match rule {
            Payment => {
                let minor = input.amount("amount")?.ok_or_else(|| ApiError {
                    param: Some("amount".into()),
                    ..ApiError::unpriceable(format!("{call} moves money but states no amount"))
                })?;
                let currency = form
                    .get("currency")
                    .map_err(|e| ApiError::field("currency", e))?
                    .ok_or_else(|| ApiError {
                        param: Some("currency".into()),
                        ..ApiError::unpriceable(format!("{call} states an amount but no currency"))
                    })?;
                Ok(Charge::Amount {
                    usd: input.to_usd(minor, currency)?,
                    minor,
                })
            }
            PaymentUpdate => {
                no_currency(input, "a payment's currency cannot change through Keybrake")?;
                Ok(match input.amount("amount")? {
                    // An increase is charged now, so the confirm stays free up
                    // to the new amount; a payment this key did not create is
                    // refused (the key that did would confirm it for less).
                    Some(minor) => Charge::FollowUp {
                        object: object_in_path(input),
                        minor: Some(minor),
                    },
                    None => Charge::Free,
                })
            }
            Step { amount, required } => {
                no_currency(input, "a step is in its payment's currency")?;
                let minor = match amount {
                    Some(field) => input.amount(field)?,
                    None => None,
                };
                if let (Some(field), None, true) = (amount, minor, required) {
                    return Err(ApiError {
                        param: Some(field.to_owned()),
                        ..ApiError::unpriceable(format!("{call} must state {field}"))
                    });
                }
                Ok(Charge::FollowUp {
                    object: object_in_path(input),
                    minor,
                })
            }
            RefundInPath => {
                no_currency(input, "a refund is in its payment's currency")?;
                Ok(Charge::Refund {
                    object: object_in_path(input),
                    minor: input.amount("amount")?,
                })
            }
            Refund => {
                no_currency(input, "a refund is in its payment's currency")?;
                let named = |f: &str| form.get(f).map_err(|e| ApiError::field(f, e));
                let object = match (named("charge")?, named("payment_intent")?) {
                    (Some(id), None) | (None, Some(id)) => id.to_owned(),
                    _ => return Err(ApiError {
                        param: Some("charge".into()),
                        ..ApiError::unpriceable(
                            "a refund must name one charge or payment_intent that this key created",
                        )
                    }),
                };
                Ok(Charge::Refund {
                    object,
                    minor: input.amount("amount")?,
                })
            }
        }
    }
}

impl Vendor for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn default_api_base(&self) -> &'static str {
        "https://api.stripe.com"
    }

    fn upstream_authorization(&self, config: &dyn ConfigSource) -> ApiResult<String> {
        Ok(format!("Bearer {}", required(config, "STRIPE_SECRET_KEY")?))
    }

    fn account_headers(&self) -> &'static [&'static str] {
        &["stripe-account", "stripe-context"]
    }

    fn retry_hint_header(&self) -> Option<&'static str> {
        Some("stripe-should-retry")
    }

    fn idempotency_header(&self) -> Option<&'static str> {
        Some("idempotency-key")
    }

    fn body_shape(&self) -> BodyShape {
        BodyShape::Form {
            keys: KeyGrammar::Bracketed,
            repeatable: |_| false,
        }
    }

    /// stripe-node's headers. `Stripe-Version` changes what a call means,
    /// so an idempotent retry must repeat it.
    fn header_use(&self, name: &str) -> HeaderUse {
        match name {
            "stripe-version" => HeaderUse::Semantic,
            "x-stripe-client-user-agent" => HeaderUse::Cosmetic,
            _ => HeaderUse::Dropped,
        }
    }

    fn refused_header_prefixes(&self) -> &'static [&'static str] {
        &["stripe-"]
    }

    fn inspect(&self, input: &PricingInput<'_>) -> ApiResult<Inspection> {
        let mut read = by_catalogue(self.name(), CATALOGUE, input, |rule| {
            self.price_rule(rule, input).map(|charge| Inspection {
                charge,
                facts: CallFacts::default(),
            })
        })?;
        read.facts = self.facts(input);
        Ok(read)
    }

    fn tools(&self) -> &'static [Tool] {
        TOOLS
    }

    fn error_body(&self, error: &ApiError) -> Value {
        let mut inner = json!({
            "type": "invalid_request_error",
            "code": error.code.as_str(),
            "message": error.message,
        });
        if let Some(p) = &error.param {
            inner["param"] = json!(p);
        }
        if error.code == ErrorCode::UpstreamUnreachable {
            inner["type"] = json!("api_error");
        }
        let mut body = json!({ "code": error.code.as_str(), "message": error.message });
        if let Some(a) = &error.approval_id {
            // stripe-node keeps the error object as `err.raw`.
            inner["approval_id"] = json!(a);
            body["approval_id"] = json!(a);
        }
        body["error"] = inner;
        body
    }
}

/// The common calls as MCP tools (`core::mcp`); amounts are in the
/// currency's smallest unit, as Stripe takes them.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "stripe_create_payment_intent",
        title: "Create a payment intent",
        description: "Creates a Stripe PaymentIntent for an amount in the currency's smallest unit (cents for USD).",
        cost: "the payment's amount, in USD",
        method: "POST",
        path: "/v1/payment_intents",
        input_schema: r#"{"type":"object","properties":{"amount":{"type":"integer","minimum":1,"description":"in the smallest currency unit"},"currency":{"type":"string","description":"three-letter ISO code, lowercase"},"customer":{"type":"string"},"description":{"type":"string"},"payment_method":{"type":"string"},"confirm":{"type":"boolean"},"metadata":{"type":"object","additionalProperties":{"type":"string"}}},"required":["amount","currency"]}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_retrieve_payment_intent",
        title: "Retrieve a payment intent",
        description: "Reads a Stripe PaymentIntent by id.",
        cost: "free",
        method: "GET",
        path: "/v1/payment_intents/{id}",
        input_schema: r#"{"type":"object","properties":{"id":{"type":"string","description":"pi_…"}},"required":["id"],"additionalProperties":false}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_confirm_payment_intent",
        title: "Confirm a payment intent",
        description: "Confirms a PaymentIntent this key created.",
        cost: "free up to the amount the key paid for it; a higher amount costs the difference",
        method: "POST",
        path: "/v1/payment_intents/{id}/confirm",
        input_schema: r#"{"type":"object","properties":{"id":{"type":"string"},"payment_method":{"type":"string"}},"required":["id"]}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_capture_payment_intent",
        title: "Capture a payment intent",
        description: "Captures an authorized PaymentIntent this key created.",
        cost: "free up to the amount the key paid for it",
        method: "POST",
        path: "/v1/payment_intents/{id}/capture",
        input_schema: r#"{"type":"object","properties":{"id":{"type":"string"},"amount_to_capture":{"type":"integer","minimum":1}},"required":["id"]}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_cancel_payment_intent",
        title: "Cancel a payment intent",
        description: "Cancels a PaymentIntent.",
        cost: "free",
        method: "POST",
        path: "/v1/payment_intents/{id}/cancel",
        input_schema: r#"{"type":"object","properties":{"id":{"type":"string"},"cancellation_reason":{"type":"string","enum":["duplicate","fraudulent","requested_by_customer","abandoned"]}},"required":["id"]}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_create_refund",
        title: "Refund a payment",
        description: "Refunds all or part of a PaymentIntent this key created.",
        cost: "the refunded share of what the key paid for the payment",
        method: "POST",
        path: "/v1/refunds",
        input_schema: r#"{"type":"object","properties":{"payment_intent":{"type":"string"},"amount":{"type":"integer","minimum":1,"description":"in the payment's smallest currency unit; all of it when left out"},"reason":{"type":"string","enum":["duplicate","fraudulent","requested_by_customer"]}},"required":["payment_intent"]}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_list_customers",
        title: "List customers",
        description: "Lists Stripe customers, newest first.",
        cost: "free",
        method: "GET",
        path: "/v1/customers",
        input_schema: r#"{"type":"object","properties":{"limit":{"type":"integer","minimum":1,"maximum":100},"email":{"type":"string"},"starting_after":{"type":"string"}},"additionalProperties":false}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_retrieve_customer",
        title: "Retrieve a customer",
        description: "Reads a Stripe customer by id.",
        cost: "free",
        method: "GET",
        path: "/v1/customers/{id}",
        input_schema: r#"{"type":"object","properties":{"id":{"type":"string","description":"cus_…"}},"required":["id"],"additionalProperties":false}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_list_charges",
        title: "List charges",
        description: "Lists Stripe charges, newest first.",
        cost: "free",
        method: "GET",
        path: "/v1/charges",
        input_schema: r#"{"type":"object","properties":{"limit":{"type":"integer","minimum":1,"maximum":100},"customer":{"type":"string"},"payment_intent":{"type":"string"},"starting_after":{"type":"string"}},"additionalProperties":false}"#,
        body_from: None,
    },
    Tool {
        name: "stripe_retrieve_charge",
        title: "Retrieve a charge",
        description: "Reads a Stripe charge by id.",
        cost: "free",
        method: "GET",
        path: "/v1/charges/{id}",
        input_schema: r#"{"type":"object","properties":{"id":{"type":"string","description":"ch_…"}},"required":["id"],"additionalProperties":false}"#,
        body_from: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::body::{read_body, Params};
    use crate::core::catalogue::OperatorCatalogue;
    use crate::core::currency::RateTable;
    use crate::core::endpoint::canonicalize;
    use crate::core::money::Money;
    use crate::vendors::MapConfig;

    fn price(method: &str, path: &str, body: &str) -> ApiResult<Charge> {
        let rates = RateTable::parse(r#"{"eur":"1.10","jpy":"0.0067","inr":"0.012"}"#).unwrap();
        let path = canonicalize(path).unwrap();
        let params = if body.is_empty() {
            Params::None
        } else {
            read_body(
                Stripe.body_shape(),
                method,
                Some(crate::core::body::FORM),
                body.as_bytes(),
            )?
        };
        Stripe
            .inspect(&PricingInput {
                method,
                path: &path,
                params: &params,
                rates: &rates,
                config: &MapConfig(vec![]),
                operator: &OperatorCatalogue::default(),
            })
            .map(|i| i.charge)
    }

    fn code(r: ApiResult<Charge>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn payment_creates_cost_their_amount() {
        assert_eq!(
            price("POST", "/v1/payment_intents", "amount=2000&currency=usd"),
            Ok(Charge::Amount {
                usd: Money::from_micros(20_000_000),
                minor: 2000
            })
        );
        assert_eq!(
            price("POST", "/v1/charges", "amount=1000&currency=jpy"),
            Ok(Charge::Amount {
                usd: Money::from_micros(6_700_000),
                minor: 1000
            })
        );
    }

    #[test]
    fn money_moves_without_a_known_amount_are_refused() {
        use ErrorCode::UnpriceableRequest as U;
        for (path, body) in [
            ("/v1/payment_intents", "currency=usd"),
            ("/v1/payment_intents", "amount=100"),
            ("/v1/payment_intents", "amount=100&currency=xyz"),
            ("/v1/payment_intents", "amount=1.5&currency=usd"),
            ("/v1/payment_intents", "amount=-5&currency=usd"),
            ("/v1/transfers", "destination=acct_1"),
            ("/v1/subscriptions", "customer=cus_1"),
            ("/v1/payment_intents/pi_1/apply_customer_balance", ""),
            ("/v1/payment_intents/pi_1/increment_authorization", ""),
        ] {
            assert_eq!(code(price("POST", path, body)), U, "{path} {body}");
        }
    }

    #[test]
    fn the_issue_12_endpoints_are_refused_not_free() {
        for (path, body) in [
            ("/v1/charges/ch_1/refund", "currency=usd"),
            ("/v1/application_fees/fee_1/refunds", ""),
            ("/v1/issuing/authorizations/iauth_1/approve", ""),
            (
                "/v1/customers/cus_1/balance_transactions",
                "amount=-100000&currency=usd",
            ),
            ("/v1/customers/cus_1/subscriptions", "items[0][price]=p_1"),
            ("/v1/billing/credit_grants", "amount[monetary][value]=99999"),
            ("/v1/treasury/outbound_payments", "amount=1&currency=usd"),
            (
                "/v1/webhook_endpoints",
                "url=https://x.test&enabled_events[]=*",
            ),
            ("/v1/some_new_thing", "amount=150&currency=eur"),
            ("/v1/customers", "balance=-100000"),
            ("/v1/refunds", "amount=100"),
        ] {
            let err = price("POST", path, body).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnpriceableRequest, "{path}: {err:?}");
            assert!(
                err.message.contains(path) || err.param.is_some(),
                "{path}: {}",
                err.message
            );
        }
        let webhook = price("POST", "/v1/webhook_endpoints", "").unwrap_err();
        assert!(
            webhook.message.contains("never forwarded"),
            "{}",
            webhook.message
        );
    }

    #[test]
    fn refunds_are_priced_from_the_payment_they_name() {
        assert_eq!(
            price("POST", "/v1/refunds", "payment_intent=pi_1&amount=500"),
            Ok(Charge::Refund {
                object: "pi_1".into(),
                minor: Some(500)
            })
        );
        assert_eq!(
            price("POST", "/v1/charges/ch_1/refunds", ""),
            Ok(Charge::Refund {
                object: "ch_1".into(),
                minor: None
            })
        );
        for body in [
            "charge=ch_1&payment_intent=pi_1",
            "amount=5",
            "charge=ch_1&currency=inr",
        ] {
            assert_eq!(
                code(price("POST", "/v1/refunds", body)),
                ErrorCode::UnpriceableRequest,
                "{body}"
            );
        }
    }

    #[test]
    fn payment_updates_cannot_change_currency() {
        let err = price("POST", "/v1/payment_intents/pi_1", "currency=usd").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("currency"));
        assert_eq!(
            price("POST", "/v1/payment_intents/pi_1", "amount=900"),
            Ok(Charge::FollowUp {
                object: "pi_1".into(),
                minor: Some(900),
            })
        );
        assert_eq!(
            code(price(
                "POST",
                "/v1/payment_intents/pi_1/capture",
                "amount_to_capture=5&currency=gbp"
            )),
            ErrorCode::UnpriceableRequest
        );
    }

    #[test]
    fn reads_and_plain_updates_are_free() {
        assert_eq!(
            price("GET", "/v1/payment_intents/pi_1", ""),
            Ok(Charge::Free)
        );
        assert_eq!(price("DELETE", "/v1/customers/cus_1", ""), Ok(Charge::Free));
        assert_eq!(
            price("POST", "/v1/customers", "email=a%40b.c"),
            Ok(Charge::Free)
        );
        assert_eq!(
            price("POST", "/v1/payment_intents/pi_1", "metadata%5Ba%5D=1"),
            Ok(Charge::Free)
        );
        assert_eq!(
            price("POST", "/v1/payment_intents/pi_1/cancel", ""),
            Ok(Charge::Free)
        );
        assert_eq!(
            code(price("GET", "/v1/issuing/cards/ic_1", "")),
            ErrorCode::UnpriceableRequest
        );
    }

    #[test]
    fn steps_on_existing_objects_are_follow_ups() {
        assert_eq!(
            price("POST", "/v1/payment_intents/pi_1/confirm", ""),
            Ok(Charge::FollowUp {
                object: "pi_1".into(),
                minor: None,
            })
        );
        assert_eq!(
            price(
                "POST",
                "/v1/payment_intents/pi_1/capture",
                "amount_to_capture=500"
            ),
            Ok(Charge::FollowUp {
                object: "pi_1".into(),
                minor: Some(500),
            })
        );
    }

    #[test]
    fn operators_can_classify_what_is_refused_but_not_what_is_never() {
        let ops = OperatorCatalogue::parse(
            r#"[{"vendor":"stripe","endpoint":"POST /v1/invoices/*/pay","rule":"amount","amount":"amount","currency":"usd"},
                {"vendor":"stripe","endpoint":"POST /v1/ephemeral_keys","rule":"free"}]"#,
            &|_| true,
        )
        .unwrap();
        let rates = RateTable::default();
        let run = |path: &str, body: &str| {
            let path = canonicalize(path).unwrap();
            let params = read_body(
                Stripe.body_shape(),
                "POST",
                Some(crate::core::body::FORM),
                body.as_bytes(),
            )
            .unwrap();
            Stripe
                .inspect(&PricingInput {
                    method: "POST",
                    path: &path,
                    params: &params,
                    rates: &rates,
                    config: &MapConfig(vec![]),
                    operator: &ops,
                })
                .map(|i| i.charge)
        };
        assert_eq!(
            run("/v1/invoices/in_1/pay", "amount=1234"),
            Ok(Charge::Usage {
                usd: Money::from_micros(12_340_000)
            })
        );
        assert_eq!(
            code(run("/v1/ephemeral_keys", "customer=cus_1")),
            ErrorCode::UnpriceableRequest
        );
    }

    #[test]
    fn stripe_headers_are_classified() {
        use crate::vendors::header_use;
        assert_eq!(header_use(&Stripe, "stripe-account"), HeaderUse::Semantic);
        assert_eq!(header_use(&Stripe, "stripe-version"), HeaderUse::Semantic);
        assert_eq!(header_use(&Stripe, "idempotency-key"), HeaderUse::Cosmetic);
        assert_eq!(header_use(&Stripe, "stripe-livemode"), HeaderUse::Refused);
        assert_eq!(
            header_use(&Stripe, "x-stripe-client-telemetry"),
            HeaderUse::Dropped
        );
        assert_eq!(header_use(&Stripe, "cookie"), HeaderUse::Dropped);
    }

    #[test]
    fn errors_are_shaped_for_stripe_node() {
        let body = Stripe.error_body(&ApiError::new(ErrorCode::CapExhausted, "cap reached"));
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "cap_exhausted");
        assert_eq!(body["code"], "cap_exhausted");
        assert_eq!(body["message"], "cap reached");
    }
}
