//! Resend: Bearer key upstream, JSON bodies, priced per email where every
//! `to`, `cc` and `bcc` recipient counts as one.

use serde_json::{json, Value};

use super::{required, times, unit_price, Charge, ConfigSource, PricingInput, Vendor};
use crate::core::constraints::CallFacts;
use crate::error::{ApiError, ApiResult};

pub struct Resend;

/// Resend's limits: emails per batch call, addresses per recipient field.
const MAX_BATCH: usize = 100;
const MAX_PER_FIELD: usize = 50;

/// Recipients of one email, checked against Resend's limits.
fn recipients(email: &Value, at: &str) -> ApiResult<u64> {
    let email = email
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("{at} must be a JSON object")))?;
    let mut total = 0;
    for field in ["to", "cc", "bcc"] {
        let count = match email.get(field) {
            None | Some(Value::Null) => 0,
            Some(Value::String(s)) if !s.trim().is_empty() => 1,
            Some(Value::Array(items))
                if items
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| !s.trim().is_empty())) =>
            {
                items.len()
            }
            Some(_) => {
                return Err(field_error(
                    at,
                    field,
                    "must be an email address or a list of them",
                ));
            }
        };
        if count > MAX_PER_FIELD {
            return Err(field_error(
                at,
                field,
                format!("has {count} addresses; Resend accepts at most {MAX_PER_FIELD}"),
            ));
        }
        total += count as u64;
    }
    if total == 0 {
        return Err(field_error(at, "to", "is required"));
    }
    Ok(total)
}

fn field_error(at: &str, field: &str, problem: impl std::fmt::Display) -> ApiError {
    let param = if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    };
    ApiError::field(&param, problem)
}

impl Vendor for Resend {
    fn name(&self) -> &'static str {
        "resend"
    }

    fn default_api_base(&self) -> &'static str {
        "https://api.resend.com"
    }

    fn upstream_authorization(&self, config: &dyn ConfigSource) -> ApiResult<String> {
        Ok(format!("Bearer {}", required(config, "RESEND_API_KEY")?))
    }

    fn idempotency_header(&self) -> Option<&'static str> {
        Some("idempotency-key")
    }

    /// Resend takes JSON only: a body must parse, whatever its Content-Type.
    fn prepare_body(
        &self,
        _content_type: Option<&str>,
        body: Vec<u8>,
    ) -> ApiResult<(Vec<u8>, Option<&'static str>)> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok((body, None));
        }
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
        Ok((body, Some("application/json")))
    }

    fn facts(&self, input: &PricingInput<'_>) -> CallFacts {
        let mut facts = CallFacts::default();
        let segments: Vec<&str> = input.path.segments().collect();
        if !input.method.eq_ignore_ascii_case("POST") {
            return facts;
        }
        let Some(body) = input.json() else {
            return facts;
        };
        let emails: Vec<&Value> = match (segments.as_slice(), body) {
            (["emails"], email) => vec![email],
            (["emails", "batch"], Value::Array(items)) => items.iter().collect(),
            _ => return facts,
        };
        for email in emails {
            let mut count = 0u32;
            for field in ["to", "cc", "bcc"] {
                match email.get(field) {
                    Some(Value::String(s)) => {
                        facts.to.push(s.clone());
                        count += 1;
                    }
                    Some(Value::Array(items)) => {
                        for s in items.iter().filter_map(Value::as_str) {
                            facts.to.push(s.to_owned());
                            count += 1;
                        }
                    }
                    _ => {}
                }
            }
            facts.max_recipients = Some(facts.max_recipients.unwrap_or(0).max(count));
            if let Some(from) = email.get("from").and_then(Value::as_str) {
                facts.from.push(from.to_owned());
            }
        }
        facts
    }

    fn price(&self, input: &PricingInput<'_>) -> ApiResult<Charge> {
        let method = input.method.to_ascii_uppercase();
        if method != "POST" {
            return Ok(Charge::Free);
        }
        let segments: Vec<&str> = input.path.segments().collect();
        let per_email = || unit_price(input.config, "RESEND_USD_PER_EMAIL", "0.0009");
        let body = || -> ApiResult<&Value> {
            input
                .json()
                .ok_or_else(|| ApiError::bad_request("sending email needs a JSON body"))
        };
        match segments.as_slice() {
            ["emails"] => Ok(Charge::Usage {
                usd: times(per_email()?, recipients(body()?, "")?)?,
            }),
            ["emails", "batch"] => {
                let body = body()?;
                let emails = body.as_array().ok_or_else(|| {
                    ApiError::bad_request("a batch must be a JSON array of emails")
                })?;
                if emails.is_empty() || emails.len() > MAX_BATCH {
                    return Err(ApiError::bad_request(format!(
                        "a batch holds 1 to {MAX_BATCH} emails, got {}",
                        emails.len()
                    )));
                }
                let mut total = 0;
                for (i, email) in emails.iter().enumerate() {
                    total += recipients(email, &format!("[{i}]"))?;
                }
                Ok(Charge::Usage {
                    usd: times(per_email()?, total)?,
                })
            }
            // A broadcast goes to an audience whose size Keybrake cannot see.
            ["broadcasts", ..] => Err(ApiError::unpriceable(
                "broadcasts go to an audience of unknown size and cannot be priced",
            )),
            _ => Ok(Charge::Free),
        }
    }

    /// resend-node hands the parsed body back as `error`: `name` and
    /// `message` as it expects, plus Keybrake's `code`. The name is
    /// Keybrake's code, never `rate_limit_exceeded`: a spent cap is not a
    /// reason to retry.
    fn error_body(&self, error: &ApiError) -> Value {
        json!({
            "statusCode": error.status(),
            "name": error.code.as_str(),
            "message": error.message,
            "code": error.code.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::currency::RateTable;
    use crate::core::endpoint::canonicalize;
    use crate::core::money::Money;
    use crate::error::ErrorCode;
    use crate::vendors::MapConfig;

    fn price(path: &str, body: Value) -> ApiResult<Charge> {
        let rates = RateTable::default();
        let path = canonicalize(path).unwrap();
        let body = body.to_string();
        Resend.price(&PricingInput::new(
            "POST",
            &path,
            body.as_bytes(),
            &rates,
            &MapConfig(vec![]),
        ))
    }

    fn usd(micros: u64) -> ApiResult<Charge> {
        Ok(Charge::Usage {
            usd: Money::from_micros(micros),
        })
    }

    #[test]
    fn every_recipient_is_an_email() {
        assert_eq!(
            price("/emails", json!({"to": "a@x.io", "from": "f@x.io"})),
            usd(900)
        );
        assert_eq!(
            price(
                "/emails",
                json!({"to": ["a@x.io", "b@x.io"], "cc": "c@x.io", "bcc": ["d@x.io"]})
            ),
            usd(3_600)
        );
    }

    #[test]
    fn batches_sum_their_emails() {
        let batch: Vec<Value> = (0..3)
            .map(|_| json!({"to": ["a@x.io", "b@x.io"]}))
            .collect();
        assert_eq!(price("/emails/batch", json!(batch)), usd(5_400));
        let too_many: Vec<Value> = (0..101).map(|_| json!({"to": "a@x.io"})).collect();
        assert_eq!(
            price("/emails/batch", json!(too_many)).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            price("/emails/batch", json!([])).unwrap_err().code,
            ErrorCode::BadRequest
        );
        let bad = price("/emails/batch", json!([{"to": "a@x.io"}, {"to": 5}])).unwrap_err();
        assert_eq!(bad.param.as_deref(), Some("[1].to"));
    }

    #[test]
    fn limits_and_shapes_are_checked() {
        let fifty_one: Vec<String> = (0..51).map(|i| format!("u{i}@x.io")).collect();
        let err = price("/emails", json!({ "to": fifty_one })).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            (ErrorCode::BadRequest, Some("to"))
        );
        assert_eq!(
            price("/emails", json!({"subject": "no one"}))
                .unwrap_err()
                .param
                .as_deref(),
            Some("to")
        );
        assert_eq!(
            price("/emails", json!([1])).unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            price("/broadcasts/b1/send", json!({})).unwrap_err().code,
            ErrorCode::UnpriceableRequest
        );
        assert_eq!(price("/domains", json!({"name": "x.io"})), Ok(Charge::Free));
    }

    #[test]
    fn bodies_must_be_json() {
        assert!(Resend.prepare_body(None, b"to=a".to_vec()).is_err());
        let (_, ct) = Resend
            .prepare_body(None, br#"{"to":"a@x.io"}"#.to_vec())
            .unwrap();
        assert_eq!(ct, Some("application/json"));
    }

    #[test]
    fn a_spent_cap_does_not_look_like_a_rate_limit() {
        let body = Resend.error_body(&ApiError::new(ErrorCode::CapExhausted, "cap reached"));
        assert_eq!(body["statusCode"], 429);
        assert_eq!(body["name"], "cap_exhausted");
        assert_eq!(body["code"], "cap_exhausted");
    }
}
