//! Twilio: HTTP Basic upstream with the real account (or an API key pair),
//! form bodies, and messages priced by segment.
//!
//! Agents use the official SDK as `twilio(key.account_sid, key.token)`: the
//! SDK speaks only Basic auth and insists on an account SID starting with
//! `AC`, so each Twilio vault key comes with a placeholder SID derived from
//! its id. Keybrake swaps it for the real SID in
//! `/2010-04-01/Accounts/{sid}/…` and refuses any other account.

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{required, times, unit_price, Charge, ConfigSource, PricingInput, Vendor};
use crate::core::constraints::CallFacts;
use crate::core::endpoint::{canonicalize, CanonicalPath};
use crate::core::sms::{self, MAX_BODY_CHARS};
use crate::core::token::{hex, KeyId};
use crate::error::{ApiError, ApiResult, ErrorCode};

pub struct Twilio;

const API_VERSION: &str = "2010-04-01";

/// The per-key placeholder account SID: `AC` + 32 hex.
pub fn placeholder_sid(key: &KeyId) -> String {
    let digest = Sha256::digest(format!("keybrake twilio account {key}").as_bytes());
    format!("AC{}", hex(&digest[..16]))
}

fn real_sid(config: &dyn ConfigSource) -> ApiResult<String> {
    required(config, "TWILIO_ACCOUNT_SID")
}

impl Vendor for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn default_api_base(&self) -> &'static str {
        "https://api.twilio.com"
    }

    /// An API key pair when configured (revocable without rotating the
    /// account's auth token), the account SID and auth token otherwise.
    fn upstream_authorization(&self, config: &dyn ConfigSource) -> ApiResult<String> {
        let (user, pass) = match config.get("TWILIO_API_KEY_SID").filter(|v| !v.is_empty()) {
            Some(sid) => (sid, required(config, "TWILIO_API_KEY_SECRET")?),
            None => (real_sid(config)?, required(config, "TWILIO_AUTH_TOKEN")?),
        };
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Ok(format!("Basic {pair}"))
    }

    fn forward_path(
        &self,
        path: CanonicalPath,
        key: &KeyId,
        config: &dyn ConfigSource,
    ) -> ApiResult<CanonicalPath> {
        let segments: Vec<&str> = path.segments().collect();
        let [API_VERSION, "Accounts", account, rest @ ..] = segments.as_slice() else {
            return Ok(path);
        };
        // `/Accounts/{sid}.json` names the account resource itself.
        let (sid, suffix) = match account.strip_suffix(".json") {
            Some(stem) => (stem, ".json"),
            None => (*account, ""),
        };
        let real = real_sid(config)?;
        if sid != placeholder_sid(key) && sid != real {
            return Err(ApiError::new(
                ErrorCode::AccountNotAllowed,
                format!("account {sid} is not this key's Twilio account"),
            ));
        }
        let mut forwarded = format!("/{API_VERSION}/Accounts/{real}{suffix}");
        for segment in rest {
            forwarded.push('/');
            forwarded.push_str(segment);
        }
        canonicalize(&forwarded).map_err(|e| ApiError::bad_request(format!("refused: {e}")))
    }

    fn issued_fields(&self, key: &KeyId) -> serde_json::Map<String, Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("account_sid".into(), json!(placeholder_sid(key)));
        fields
    }

    fn facts(&self, input: &PricingInput<'_>) -> CallFacts {
        let mut facts = CallFacts::default();
        let segments: Vec<&str> = input.path.segments().collect();
        let is_message = matches!(
            segments.as_slice(),
            [API_VERSION, "Accounts", _, "Messages.json"]
        );
        if !input.method.eq_ignore_ascii_case("POST") || !is_message {
            return facts;
        }
        let Ok(form) = input.form() else {
            return facts;
        };
        facts.to = form.all("To").into_iter().map(str::to_owned).collect();
        facts.from = form.all("From").into_iter().map(str::to_owned).collect();
        let body = form.get("Body").ok().flatten().unwrap_or("");
        if form.all("MediaUrl").is_empty() && !body.is_empty() {
            facts.segments = u32::try_from(sms::segments(body)).ok();
        }
        facts
    }

    fn price(&self, input: &PricingInput<'_>) -> ApiResult<Charge> {
        let method = input.method.to_ascii_uppercase();
        if method != "POST" {
            return Ok(Charge::Free);
        }
        let segments: Vec<&str> = input.path.segments().collect();
        match segments.as_slice() {
            [API_VERSION, "Accounts", _, "Messages.json"] => {
                let form = input.form().map_err(ApiError::bad_request)?;
                if form
                    .get("ContentSid")
                    .map_err(ApiError::bad_request)?
                    .is_some()
                {
                    return Err(ApiError::unpriceable(
                        "messages built from a Content template cannot be priced; send Body instead",
                    ));
                }
                let body = form
                    .get("Body")
                    .map_err(ApiError::bad_request)?
                    .unwrap_or("");
                let chars = body.chars().count();
                if chars > MAX_BODY_CHARS {
                    return Err(ApiError {
                        param: Some("Body".into()),
                        ..ApiError::bad_request(format!(
                            "Body has {chars} characters; Twilio accepts at most {MAX_BODY_CHARS}"
                        ))
                    });
                }
                if !form.all("MediaUrl").is_empty() {
                    return Ok(Charge::Usage {
                        usd: unit_price(input.config, "TWILIO_MMS_USD", "0.022")?,
                    });
                }
                if body.is_empty() {
                    return Err(ApiError {
                        param: Some("Body".into()),
                        ..ApiError::bad_request("a message needs a Body or a MediaUrl")
                    });
                }
                let per_segment = unit_price(input.config, "TWILIO_SMS_USD_PER_SEGMENT", "0.0083")?;
                Ok(Charge::Usage {
                    usd: times(per_segment, sms::segments(body))?,
                })
            }
            // Redacting or cancelling a message moves no money.
            [API_VERSION, "Accounts", _, "Messages", _] => Ok(Charge::Free),
            _ => Err(ApiError::unpriceable(format!(
                "Keybrake prices Twilio messages only; POST {} cannot be priced",
                input.path.as_str()
            ))),
        }
    }

    /// twilio-node raises `RestException` with `code`, `message`,
    /// `moreInfo` and `details`: Keybrake's code rides in `details` too.
    fn error_body(&self, error: &ApiError) -> Value {
        let status = error.status();
        json!({
            "code": 90_000 + u32::from(status),
            "message": format!("{}: {}", error.code.as_str(), error.message),
            "more_info": format!("keybrake:errors/{}", error.code.as_str()),
            "status": status,
            "keybrake_code": error.code.as_str(),
            "details": { "keybrake_code": error.code.as_str() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::currency::RateTable;
    use crate::core::money::Money;
    use crate::vendors::MapConfig;

    const REAL: &str = "AC00000000000000000000000000000001";

    fn config() -> MapConfig {
        MapConfig(vec![
            ("TWILIO_ACCOUNT_SID", REAL),
            ("TWILIO_AUTH_TOKEN", "tok"),
        ])
    }

    fn price(path: &str, body: &str) -> ApiResult<Charge> {
        let rates = RateTable::default();
        let path = canonicalize(path).unwrap();
        Twilio.price(&PricingInput::new(
            "POST",
            &path,
            body.as_bytes(),
            &rates,
            &config(),
        ))
    }

    const MESSAGES: &str = "/2010-04-01/Accounts/AC1/Messages.json";

    #[test]
    fn sms_costs_segments_times_the_price() {
        let one = form_urlencoded::Serializer::new(String::new())
            .append_pair("Body", "Your order shipped")
            .finish();
        assert_eq!(
            price(MESSAGES, &one),
            Ok(Charge::Usage {
                usd: Money::from_micros(8_300)
            })
        );
        let three = form_urlencoded::Serializer::new(String::new())
            .append_pair("Body", &"x".repeat(307))
            .finish();
        assert_eq!(
            price(MESSAGES, &three),
            Ok(Charge::Usage {
                usd: Money::from_micros(24_900)
            })
        );
        let emoji = form_urlencoded::Serializer::new(String::new())
            .append_pair("Body", &format!("{}✅", "a".repeat(70)))
            .finish();
        assert_eq!(
            price(MESSAGES, &emoji),
            Ok(Charge::Usage {
                usd: Money::from_micros(16_600)
            })
        );
    }

    #[test]
    fn mms_is_flat() {
        assert_eq!(
            price(
                MESSAGES,
                "Body=hi&MediaUrl=https%3A%2F%2Fx%2Fa.png&MediaUrl=https%3A%2F%2Fx%2Fb.png"
            ),
            Ok(Charge::Usage {
                usd: Money::from_micros(22_000)
            })
        );
    }

    #[test]
    fn bad_messages_are_refused() {
        let long = format!("Body={}", "a".repeat(1601));
        let err = price(MESSAGES, &long).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            (ErrorCode::BadRequest, Some("Body"))
        );
        assert_eq!(
            price(MESSAGES, "To=%2B1555").unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            price(MESSAGES, "Body=%zz").unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert_eq!(
            price(MESSAGES, "ContentSid=HX1").unwrap_err().code,
            ErrorCode::UnpriceableRequest
        );
        assert_eq!(
            price("/2010-04-01/Accounts/AC1/Calls.json", "To=1")
                .unwrap_err()
                .code,
            ErrorCode::UnpriceableRequest
        );
        assert_eq!(
            price("/2010-04-01/Accounts/AC1/Messages/SM1.json", "Body="),
            Ok(Charge::Free)
        );
    }

    #[test]
    fn placeholder_sid_is_rewritten_and_foreign_accounts_refused() {
        let key = KeyId::parse("key_0123456789abcdef01234567").unwrap();
        let placeholder = placeholder_sid(&key);
        assert!(placeholder.starts_with("AC") && placeholder.len() == 34);
        let path =
            canonicalize(&format!("/2010-04-01/Accounts/{placeholder}/Messages.json")).unwrap();
        let forwarded = Twilio.forward_path(path, &key, &config()).unwrap();
        assert_eq!(
            forwarded.as_str(),
            format!("/2010-04-01/Accounts/{REAL}/Messages.json")
        );
        let account = canonicalize(&format!("/2010-04-01/Accounts/{placeholder}.json")).unwrap();
        assert_eq!(
            Twilio
                .forward_path(account, &key, &config())
                .unwrap()
                .as_str(),
            format!("/2010-04-01/Accounts/{REAL}.json")
        );
        let other =
            canonicalize("/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages.json")
                .unwrap();
        assert_eq!(
            Twilio
                .forward_path(other, &key, &config())
                .unwrap_err()
                .code,
            ErrorCode::AccountNotAllowed
        );
        let other_key = KeyId::parse("key_fedcba9876543210fedcba98").unwrap();
        let stolen = canonicalize(&format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            placeholder_sid(&other_key)
        ))
        .unwrap();
        assert!(Twilio.forward_path(stolen, &key, &config()).is_err());
    }

    #[test]
    fn upstream_auth_prefers_an_api_key_pair() {
        let basic = |user: &str, pass: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            )
        };
        assert_eq!(
            Twilio.upstream_authorization(&config()).unwrap(),
            basic(REAL, "tok")
        );
        let keyed = MapConfig(vec![
            ("TWILIO_ACCOUNT_SID", REAL),
            ("TWILIO_API_KEY_SID", "SK1"),
            ("TWILIO_API_KEY_SECRET", "sec"),
        ]);
        assert_eq!(
            Twilio.upstream_authorization(&keyed).unwrap(),
            basic("SK1", "sec")
        );
        assert_eq!(
            Twilio
                .upstream_authorization(&MapConfig(vec![]))
                .unwrap_err()
                .code,
            ErrorCode::NotConfigured
        );
    }

    #[test]
    fn errors_are_shaped_for_twilio_node() {
        let body = Twilio.error_body(&ApiError::new(ErrorCode::CapExhausted, "cap reached"));
        assert_eq!(body["code"], 90_429);
        assert_eq!(body["status"], 429);
        assert_eq!(body["keybrake_code"], "cap_exhausted");
        assert_eq!(body["details"]["keybrake_code"], "cap_exhausted");
    }
}
