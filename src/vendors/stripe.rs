//! Stripe: Bearer secret upstream, form-encoded v1 bodies, and the money a
//! call moves read from the request (`amount` + `currency`).

use super::{required, Charge, ConfigSource, PricingInput, Vendor};
use crate::core::constraints::CallFacts;
use crate::core::form::json_to_form;
use crate::error::{ApiError, ApiResult, ErrorCode};
use serde_json::{json, Value};

pub struct Stripe;

const FORM: &str = "application/x-www-form-urlencoded";

/// Create endpoints that always move money: the request must state what.
const MONEY_CREATES: &[&str] = &[
    "payment_intents",
    "charges",
    "transfers",
    "payouts",
    "topups",
    "refunds",
];

/// Endpoints that move money by an amount Keybrake cannot read from the
/// request (prices live in other objects): refused rather than guessed.
const UNPRICEABLE: &[&str] = &[
    "subscriptions",
    "subscription_items",
    "subscription_schedules",
    "checkout",
    "payment_links",
    "invoices",
    "invoiceitems",
    "credit_notes",
    "quotes",
];

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

    fn prepare_body(
        &self,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> ApiResult<(Vec<u8>, Option<&'static str>)> {
        let declared_json = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !(declared_json || looks_json) {
            return Ok((body, None));
        }
        if declared_json && body.iter().all(u8::is_ascii_whitespace) {
            return Ok((Vec::new(), Some(FORM)));
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("a JSON request body must be an object"))?;
        Ok((json_to_form(object).into_bytes(), Some(FORM)))
    }

    fn facts(&self, input: &PricingInput<'_>) -> CallFacts {
        let mut facts = CallFacts::default();
        if !input.method.eq_ignore_ascii_case("POST") {
            return facts;
        }
        // A body that does not parse is refused by `price`.
        let Ok(form) = input.form() else {
            return facts;
        };
        for (k, v) in form.pairs() {
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

    fn price(&self, input: &PricingInput<'_>) -> ApiResult<Charge> {
        if !input.method.eq_ignore_ascii_case("POST") {
            return Ok(Charge::Free);
        }
        let form = input.form().map_err(ApiError::bad_request)?;
        let field = |name: &str| form.get(name).map_err(ApiError::bad_request);
        let segments: Vec<&str> = input.path.segments().collect();
        let stated_amount = |name: &str| -> ApiResult<Option<u64>> {
            match field(name)? {
                None => Ok(None),
                Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
                    ApiError::unpriceable(format!("{name} must be a whole number of the currency's smallest unit, got {text:?}"))
                }),
            }
        };
        let priced = |amount: u64| -> ApiResult<Charge> {
            let currency = field("currency")?.ok_or_else(|| {
                ApiError::unpriceable("the request states an amount but no currency")
            })?;
            let usd = input
                .rates
                .to_usd(amount, currency)
                .map_err(ApiError::unpriceable)?;
            Ok(Charge::Amount { usd, minor: amount })
        };

        match segments.as_slice() {
            ["v1", resource] if MONEY_CREATES.contains(resource) => {
                match stated_amount("amount")? {
                    Some(amount) => priced(amount),
                    None => Err(ApiError::unpriceable(format!(
                        "POST /v1/{resource} moves money but states no amount"
                    ))),
                }
            }
            ["v1", "payment_intents", id, action] => {
                let minor = match *action {
                    "confirm" => None,
                    "capture" => stated_amount("amount_to_capture")?,
                    "increment_authorization" => {
                        Some(stated_amount("amount")?.ok_or_else(|| {
                            ApiError::unpriceable("increment_authorization states no amount")
                        })?)
                    }
                    "cancel" | "verify_microdeposits" => return Ok(Charge::Free),
                    _ => {
                        return Err(ApiError::unpriceable(format!(
                            "Keybrake cannot price POST /v1/payment_intents/{{id}}/{action}"
                        )))
                    }
                };
                Ok(Charge::FollowUp {
                    object: (*id).to_owned(),
                    minor,
                    unknown_is_free: false,
                })
            }
            ["v1", "payment_intents", id] => Ok(match stated_amount("amount")? {
                // Updating the amount moves no money until confirmation, which
                // is priced then; on an object this key paid for, an increase
                // is charged now so the later confirm stays free.
                Some(amount) => Charge::FollowUp {
                    object: (*id).to_owned(),
                    minor: Some(amount),
                    unknown_is_free: true,
                },
                None => Charge::Free,
            }),
            ["v1", "charges", id, "capture"] => Ok(Charge::FollowUp {
                object: (*id).to_owned(),
                minor: stated_amount("amount")?,
                unknown_is_free: false,
            }),
            ["v1", resource, ..] if UNPRICEABLE.contains(resource) => {
                // Creating or updating these without an amount (a customer
                // portal session, an invoice draft) may still move money later
                // through prices Keybrake cannot see.
                Err(ApiError::unpriceable(format!(
                    "Keybrake cannot price calls to /v1/{resource}: the amount lives in other objects"
                )))
            }
            _ => match stated_amount("amount")? {
                Some(amount) => priced(amount),
                None => Ok(Charge::Free),
            },
        }
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
        json!({ "error": inner, "code": error.code.as_str(), "message": error.message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::currency::RateTable;
    use crate::core::endpoint::canonicalize;
    use crate::core::money::Money;
    use crate::vendors::MapConfig;

    fn price(method: &str, path: &str, body: &str) -> ApiResult<Charge> {
        let rates = RateTable::parse(r#"{"eur":"1.10","jpy":"0.0067"}"#).unwrap();
        let path = canonicalize(path).unwrap();
        Stripe.price(&PricingInput::new(
            method,
            &path,
            body.as_bytes(),
            &rates,
            &MapConfig(vec![]),
        ))
    }

    fn code(r: ApiResult<Charge>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn payment_intent_create_costs_its_amount() {
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
        assert_eq!(
            code(price("POST", "/v1/payment_intents", "currency=usd")),
            U
        );
        assert_eq!(code(price("POST", "/v1/payment_intents", "amount=100")), U);
        assert_eq!(
            code(price(
                "POST",
                "/v1/payment_intents",
                "amount=100&currency=xyz"
            )),
            U
        );
        assert_eq!(
            code(price(
                "POST",
                "/v1/payment_intents",
                "amount=1.5&currency=usd"
            )),
            U
        );
        assert_eq!(
            code(price(
                "POST",
                "/v1/payment_intents",
                "amount=-5&currency=usd"
            )),
            U
        );
        assert_eq!(
            code(price("POST", "/v1/transfers", "destination=acct_1")),
            U
        );
        assert_eq!(
            code(price("POST", "/v1/subscriptions", "customer=cus_1")),
            U
        );
        assert_eq!(
            code(price(
                "POST",
                "/v1/payment_intents/pi_1/apply_customer_balance",
                ""
            )),
            U
        );
    }

    #[test]
    fn undecodable_forms_are_bad_requests() {
        assert_eq!(
            code(price(
                "POST",
                "/v1/payment_intents",
                "amount=1%zz&currency=usd"
            )),
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn duplicated_amount_is_ambiguous() {
        assert_eq!(
            code(price(
                "POST",
                "/v1/payment_intents",
                "amount=1&amount=99999&currency=usd"
            )),
            ErrorCode::BadRequest
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
    }

    #[test]
    fn steps_on_existing_objects_are_follow_ups() {
        assert_eq!(
            price("POST", "/v1/payment_intents/pi_1/confirm", ""),
            Ok(Charge::FollowUp {
                object: "pi_1".into(),
                minor: None,
                unknown_is_free: false
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
                unknown_is_free: false
            })
        );
        assert_eq!(
            price("POST", "/v1/payment_intents/pi_1", "amount=900"),
            Ok(Charge::FollowUp {
                object: "pi_1".into(),
                minor: Some(900),
                unknown_is_free: true
            })
        );
    }

    #[test]
    fn any_other_endpoint_stating_an_amount_is_priced() {
        assert_eq!(
            price("POST", "/v1/some_new_thing", "amount=150&currency=eur"),
            Ok(Charge::Amount {
                usd: Money::from_micros(1_650_000),
                minor: 150
            })
        );
    }

    #[test]
    fn json_bodies_become_forms() {
        let (body, ct) = Stripe
            .prepare_body(
                None,
                br#"{"amount":2000,"currency":"usd","metadata":{"run":"r1"}}"#.to_vec(),
            )
            .unwrap();
        assert_eq!(ct, Some(FORM));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "amount=2000&currency=usd&metadata%5Brun%5D=r1"
        );
        let (same, ct) = Stripe
            .prepare_body(Some(FORM), b"amount=1".to_vec())
            .unwrap();
        assert_eq!((same.as_slice(), ct), (&b"amount=1"[..], None));
        assert!(Stripe
            .prepare_body(Some("application/json"), b"[1]".to_vec())
            .is_err());
        assert!(Stripe.prepare_body(None, b"{nope".to_vec()).is_err());
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
