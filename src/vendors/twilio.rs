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

use super::{
    by_catalogue, required, times, Charge, ConfigSource, HeaderUse, Inspection, PricingInput,
    Vendor,
};
use crate::core::body::BodyShape;
use crate::core::catalogue::{entry, Entry, Rule};
use crate::core::constraints::CallFacts;
use crate::core::endpoint::{canonicalize, CanonicalPath};
use crate::core::form::KeyGrammar;
use crate::core::mcp::Tool;
use crate::core::money::Money;
use crate::core::sms::{self, MAX_BODY_CHARS};
use crate::core::token::{hex, KeyId};
use crate::error::{ApiError, ApiResult, ErrorCode};

pub struct Twilio;

const API_VERSION: &str = "2010-04-01";

/// How Twilio's money-moving endpoints are priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    /// Sends a message (POST, and PUT, which Twilio's 2010 API treats alike).
    Message,
    /// Redacts (`Body=""`) or cancels (`Status=canceled`) a message.
    MessageUpdate,
}

use Rule::{Free, Never, Priced, Read};

const AUTH_TOKEN: &str = "answers the account's auth token";
const KEYS: &str = "mints or manages API keys";

/// The Twilio endpoints Keybrake knows: messages and reads. Everything
/// else (calls, numbers, other products) is refused.
pub const CATALOGUE: &[Entry<Price>] = &[
    entry("*", "/2010-04-01/Accounts", Never(AUTH_TOKEN)),
    entry("*", "/2010-04-01/Accounts.*", Never(AUTH_TOKEN)),
    entry("*", "/2010-04-01/Accounts/*", Never(AUTH_TOKEN)),
    entry("*", "/2010-04-01/Accounts/*/Keys.*", Never(KEYS)),
    entry("*", "/2010-04-01/Accounts/*/Keys/**", Never(KEYS)),
    entry("*", "/2010-04-01/Accounts/*/SigningKeys.*", Never(KEYS)),
    entry("*", "/2010-04-01/Accounts/*/SigningKeys/**", Never(KEYS)),
    entry(
        "POST",
        "/2010-04-01/Accounts/*/Messages.json",
        Priced(Price::Message),
    ),
    entry(
        "PUT",
        "/2010-04-01/Accounts/*/Messages.json",
        Priced(Price::Message),
    ),
    entry(
        "POST",
        "/2010-04-01/Accounts/*/Messages/*.json",
        Priced(Price::MessageUpdate),
    ),
    entry(
        "PUT",
        "/2010-04-01/Accounts/*/Messages/*.json",
        Priced(Price::MessageUpdate),
    ),
    entry(
        "DELETE",
        "/2010-04-01/Accounts/*/Messages/*.json",
        Free(&[]),
    ),
    entry(
        "DELETE",
        "/2010-04-01/Accounts/*/Messages/*/Media/*.json",
        Free(&[]),
    ),
    entry("GET", "/2010-04-01/Accounts/*/**", Read),
];

/// Every parameter of twilio-node's `messages.create`. Twilio ignores names
/// it does not know, so Keybrake refuses them rather than guess.
const MESSAGE_PARAMS: &[&str] = &[
    "To",
    "From",
    "MessagingServiceSid",
    "Body",
    "MediaUrl",
    "ContentSid",
    "ContentVariables",
    "StatusCallback",
    "ApplicationSid",
    "MaxPrice",
    "ProvideFeedback",
    "Attempt",
    "ValidityPeriod",
    "ForceDelivery",
    "ContentRetention",
    "AddressRetention",
    "SmartEncoded",
    "PersistentAction",
    "TrafficType",
    "ShortenUrls",
    "ScheduleType",
    "SendAt",
    "SendAsMms",
    "MessageIntent",
    "RiskCheck",
    "FallbackFrom",
];

/// Parameters Twilio reads as lists.
fn repeatable(name: &str) -> bool {
    matches!(name, "MediaUrl" | "PersistentAction")
}

/// Prices per destination: the longest matching E.164 prefix wins, and a
/// destination no prefix covers cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixPrices(Vec<(String, Money)>);

impl PrefixPrices {
    /// Parses `{"+1": "0.0083", "+44": "0.0524"}`.
    pub fn parse(name: &str, text: &str) -> Result<PrefixPrices, String> {
        let map: serde_json::Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| format!("{name} must be a JSON object of \"+prefix\": \"USD\": {e}"))?;
        let mut prices = Vec::with_capacity(map.len());
        for (prefix, v) in map {
            let digits = prefix.strip_prefix('+').unwrap_or("");
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(format!(
                    "{name}: {prefix:?} is not an E.164 prefix such as \"+44\""
                ));
            }
            let usd = v
                .as_str()
                .map(Money::parse_usd)
                .ok_or_else(|| {
                    format!("{name}.{prefix} must be a dollar string such as \"0.0083\"")
                })?
                .map_err(|e| format!("{name}.{prefix} {e}"))?;
            prices.push((prefix, usd));
        }
        Ok(PrefixPrices(prices))
    }

    fn from_config(
        config: &dyn ConfigSource,
        name: &str,
        default: &str,
    ) -> ApiResult<PrefixPrices> {
        let text = config.get(name).filter(|v| !v.trim().is_empty());
        PrefixPrices::parse(name, text.as_deref().unwrap_or(default))
            .map_err(|e| ApiError::new(ErrorCode::NotConfigured, e))
    }

    pub fn price(&self, number: &str) -> Option<Money> {
        self.0
            .iter()
            .filter(|(p, _)| number.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, usd)| *usd)
    }
}

/// Defaults when the operator sets no table: the United States and Canada
/// only (`wrangler.toml` carries a longer list to review).
const DEFAULT_SMS_PRICES: &str = r#"{"+1": "0.0083"}"#;
const DEFAULT_MMS_PRICES: &str = r#"{"+1": "0.022"}"#;

/// An E.164 number: `+`, a country code that does not start with 0, at most
/// 15 digits. Other channels (`whatsapp:`, `messenger:`) are not priced.
fn e164(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn param_error(param: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        param: Some(param.to_owned()),
        ..ApiError::bad_request(message)
    }
}

fn unpriced(param: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        param: Some(param.to_owned()),
        ..ApiError::unpriceable(message)
    }
}

impl Twilio {
    fn price_message(&self, input: &PricingInput<'_>) -> ApiResult<Inspection> {
        let form = input.form();
        if let Some((k, _)) = form.pairs().find(|(k, _)| !MESSAGE_PARAMS.contains(k)) {
            return Err(param_error(
                k,
                format!("{k} is not a parameter Keybrake knows for sending a message (names are case-sensitive)"),
            ));
        }
        let one = |name: &str| form.get(name).map_err(|e| param_error(name, e));
        if one("ContentSid")?.is_some() {
            return Err(unpriced(
                "ContentSid",
                "messages built from a Content template cannot be priced; send Body instead",
            ));
        }
        let to = one("To")?.ok_or_else(|| param_error("To", "a message needs To"))?;
        if !e164(to) {
            return Err(unpriced(
                "To",
                format!("To {to:?} is not an E.164 number such as +15551234567; only SMS and MMS to phone numbers are priced"),
            ));
        }
        let body = one("Body")?.unwrap_or("");
        let chars = body.chars().count();
        if chars > MAX_BODY_CHARS {
            return Err(param_error(
                "Body",
                format!("Body has {chars} characters; Twilio accepts at most {MAX_BODY_CHARS}"),
            ));
        }
        let mms = !form.all("MediaUrl").is_empty()
            || one("SendAsMms")?.is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let mut facts = CallFacts {
            to: vec![to.to_owned()],
            from: form.all("From").into_iter().map(str::to_owned).collect(),
            ..CallFacts::default()
        };
        if mms {
            let prices =
                PrefixPrices::from_config(input.config, "TWILIO_MMS_PRICES", DEFAULT_MMS_PRICES)?;
            let usd = prices.price(to).ok_or_else(|| {
                unpriced(
                    "To",
                    format!("no MMS price is configured for {to} (TWILIO_MMS_PRICES)"),
                )
            })?;
            return Ok(Inspection {
                charge: Charge::Usage { usd },
                facts,
            });
        }
        if body.is_empty() {
            return Err(param_error("Body", "a message needs a Body or a MediaUrl"));
        }
        let prices =
            PrefixPrices::from_config(input.config, "TWILIO_SMS_PRICES", DEFAULT_SMS_PRICES)?;
        let per_segment = prices.price(to).ok_or_else(|| {
            unpriced(
                "To",
                format!("no SMS price is configured for {to} (TWILIO_SMS_PRICES)"),
            )
        })?;
        let segments = sms::segments(body);
        facts.segments = u32::try_from(segments).ok();
        Ok(Inspection {
            charge: Charge::Usage {
                usd: times(per_segment, segments)?,
            },
            facts,
        })
    }

    /// Only redaction and cancellation: they move no money.
    fn price_update(&self, input: &PricingInput<'_>) -> ApiResult<Inspection> {
        for (k, v) in input.form().pairs() {
            match (k, v) {
                ("Body", "") | ("Status", "canceled") => {}
                ("Body", _) => {
                    return Err(param_error(
                        "Body",
                        "a sent message's Body can only be redacted (Body=\"\")",
                    ))
                }
                ("Status", _) => {
                    return Err(param_error(
                        "Status",
                        "a message's Status can only be set to canceled",
                    ))
                }
                _ => {
                    return Err(param_error(
                        k,
                        format!("{k} is not a parameter of a message update"),
                    ))
                }
            }
        }
        Ok(Inspection::free())
    }
}

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

    fn body_shape(&self) -> BodyShape {
        BodyShape::Form {
            keys: KeyGrammar::Flat,
            repeatable,
        }
    }

    fn header_use(&self, name: &str) -> HeaderUse {
        match name {
            // twilio-python names itself here, as a User-Agent would.
            "accept-charset" | "x-twilio-client" => HeaderUse::Cosmetic,
            _ => HeaderUse::Dropped,
        }
    }

    /// `X-Twilio-Webhook-Enabled` and friends change what Twilio does.
    fn refused_header_prefixes(&self) -> &'static [&'static str] {
        &["x-twilio-", "i-twilio-", "twilio-"]
    }

    fn config_problems(&self, config: &dyn ConfigSource) -> Vec<String> {
        [
            ("TWILIO_SMS_PRICES", DEFAULT_SMS_PRICES),
            ("TWILIO_MMS_PRICES", DEFAULT_MMS_PRICES),
        ]
        .into_iter()
        .filter_map(|(name, default)| PrefixPrices::from_config(config, name, default).err())
        .map(|e| e.message)
        .collect()
    }

    /// Twilio has no idempotency keys.
    fn idempotency_header(&self) -> Option<&'static str> {
        None
    }

    fn inspect(&self, input: &PricingInput<'_>) -> ApiResult<Inspection> {
        by_catalogue(self.name(), CATALOGUE, input, |rule| match rule {
            Price::Message => self.price_message(input),
            Price::MessageUpdate => self.price_update(input),
        })
    }

    /// twilio-node raises `RestException` with `code`, `message`,
    /// `moreInfo` and `details`: Keybrake's code rides in `details` too.
    fn tools(&self) -> &'static [Tool] {
        TOOLS
    }

    fn tool_placeholders(&self, key: &KeyId) -> Vec<(&'static str, String)> {
        vec![("AccountSid", placeholder_sid(key))]
    }

    fn error_body(&self, error: &ApiError) -> Value {
        let status = error.status();
        let mut body = json!({
            "code": 90_000 + u32::from(status),
            "message": format!("{}: {}", error.code.as_str(), error.message),
            "more_info": format!("keybrake:errors/{}", error.code.as_str()),
            "status": status,
            "keybrake_code": error.code.as_str(),
            "details": { "keybrake_code": error.code.as_str() },
        });
        if let Some(p) = &error.param {
            body["param"] = json!(p);
            body["details"]["param"] = json!(p);
        }
        if let Some(a) = &error.approval_id {
            body["approval_id"] = json!(a);
            body["details"]["approval_id"] = json!(a);
        }
        body
    }
}

/// The common calls as MCP tools (`core::mcp`); the account is the key's.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "twilio_send_message",
        title: "Send a message",
        description: "Sends an SMS (or MMS with MediaUrl) through Twilio. To is an E.164 number.",
        cost: "the destination's price per segment (TWILIO_SMS_PRICES), or per MMS",
        method: "POST",
        path: "/2010-04-01/Accounts/{AccountSid}/Messages.json",
        input_schema: r#"{"type":"object","properties":{"To":{"type":"string","description":"E.164, e.g. +15551234567"},"From":{"type":"string"},"MessagingServiceSid":{"type":"string"},"Body":{"type":"string"},"MediaUrl":{"type":"string"}},"required":["To"]}"#,
        body_from: None,
    },
    Tool {
        name: "twilio_get_message",
        title: "Get a message",
        description: "Reads a Twilio message by its SID.",
        cost: "free",
        method: "GET",
        path: "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
        input_schema: r#"{"type":"object","properties":{"Sid":{"type":"string","description":"SM…"}},"required":["Sid"],"additionalProperties":false}"#,
        body_from: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::body::{read_body, Params, FORM};
    use crate::core::catalogue::OperatorCatalogue;
    use crate::core::currency::RateTable;
    use crate::vendors::MapConfig;

    const REAL: &str = "AC00000000000000000000000000000001";

    fn config() -> MapConfig {
        MapConfig(vec![
            ("TWILIO_ACCOUNT_SID", REAL),
            ("TWILIO_AUTH_TOKEN", "tok"),
            (
                "TWILIO_SMS_PRICES",
                r#"{"+1": "0.0083", "+44": "0.05", "+1876": "0.15"}"#,
            ),
        ])
    }

    fn call(method: &str, path: &str, body: &str) -> ApiResult<Charge> {
        let rates = RateTable::default();
        let path = canonicalize(path).unwrap();
        let params = if body.is_empty() {
            Params::None
        } else {
            read_body(Twilio.body_shape(), method, Some(FORM), body.as_bytes())?
        };
        Twilio
            .inspect(&PricingInput {
                method,
                path: &path,
                params: &params,
                rates: &rates,
                config: &config(),
                operator: &OperatorCatalogue::default(),
            })
            .map(|i| i.charge)
    }

    fn price(path: &str, body: &str) -> ApiResult<Charge> {
        call("POST", path, body)
    }

    const MESSAGES: &str = "/2010-04-01/Accounts/AC1/Messages.json";

    fn sms(to: &str, body: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("To", to)
            .append_pair("From", "+15550001111")
            .append_pair("Body", body)
            .finish()
    }

    fn usd(micros: u64) -> ApiResult<Charge> {
        Ok(Charge::Usage {
            usd: Money::from_micros(micros),
        })
    }

    #[test]
    fn sms_costs_segments_times_the_destination_price() {
        assert_eq!(
            price(MESSAGES, &sms("+15551234567", "Your order shipped")),
            usd(8_300)
        );
        assert_eq!(
            price(MESSAGES, &sms("+15551234567", &"x".repeat(307))),
            usd(24_900)
        );
        assert_eq!(
            price(
                MESSAGES,
                &sms("+15551234567", &format!("{}✅", "a".repeat(70)))
            ),
            usd(16_600)
        );
        assert_eq!(price(MESSAGES, &sms("+447700900123", "hi")), usd(50_000));
        assert_eq!(
            price(MESSAGES, &sms("+18765550123", "hi")),
            usd(150_000),
            "longest prefix"
        );
        assert_eq!(
            call("PUT", MESSAGES, &sms("+447700900123", "hi")),
            usd(50_000),
            "PUT sends too"
        );
    }

    #[test]
    fn destinations_without_a_price_are_refused() {
        for to in [
            "+8613800138000",
            "whatsapp:+15551234567",
            "15551234567",
            "+0123456789",
        ] {
            let err = price(MESSAGES, &sms(to, "hi")).unwrap_err();
            assert_eq!(
                (err.code, err.param.as_deref()),
                (ErrorCode::UnpriceableRequest, Some("To")),
                "{to}"
            );
        }
    }

    #[test]
    fn mms_is_priced_per_destination() {
        assert_eq!(
            price(MESSAGES, "To=%2B15551234567&Body=hi&MediaUrl=https%3A%2F%2Fx%2Fa.png&MediaUrl=https%3A%2F%2Fx%2Fb.png"),
            usd(22_000)
        );
        assert_eq!(
            price(MESSAGES, "To=%2B15551234567&Body=hi&SendAsMms=true"),
            usd(22_000)
        );
        assert_eq!(
            price(MESSAGES, "To=%2B447700900123&Body=hi&SendAsMms=true")
                .unwrap_err()
                .code,
            ErrorCode::UnpriceableRequest
        );
    }

    #[test]
    fn bad_messages_are_refused() {
        let long = sms("+15551234567", &"a".repeat(1601));
        let err = price(MESSAGES, &long).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            (ErrorCode::BadRequest, Some("Body"))
        );
        for (body, code, param) in [
            ("To=%2B15551234567", ErrorCode::BadRequest, "Body"),
            ("Body=%zz", ErrorCode::BadRequest, ""),
            (
                "To=%2B15551234567&ContentSid=HX1",
                ErrorCode::UnpriceableRequest,
                "ContentSid",
            ),
            (
                "To=%2B15551234567&body=hi&Body=x",
                ErrorCode::BadRequest,
                "body",
            ),
            (
                "To=%2B15551234567&To=%2B8613800138000&Body=x",
                ErrorCode::BadRequest,
                "To",
            ),
            (
                "To[0]=%2B15551234567&Body=x",
                ErrorCode::BadRequest,
                "To[0]",
            ),
        ] {
            let err = price(MESSAGES, body).unwrap_err();
            assert_eq!(err.code, code, "{body}");
            if !param.is_empty() {
                assert_eq!(err.param.as_deref(), Some(param), "{body}");
            }
        }
    }

    #[test]
    fn the_catalogue_refuses_what_it_does_not_know() {
        for (method, path) in [
            ("GET", "/2010-04-01/Accounts/AC1.json"),
            ("GET", "/2010-04-01/Accounts.json"),
            ("GET", "/2010-04-01/Accounts/AC1"),
            ("POST", "/2010-04-01/Accounts/AC1/Keys.json"),
            ("POST", "/2010-04-01/Accounts/AC1/Calls.json"),
            ("POST", "/2010-04-01/Accounts/AC1/Messages"),
            ("POST", "/2010-04-01/Accounts/AC1/messages.json"),
            ("POST", "/v1/Services"),
        ] {
            assert_eq!(
                call(method, path, "").unwrap_err().code,
                ErrorCode::UnpriceableRequest,
                "{method} {path}"
            );
        }
        assert_eq!(
            call("GET", "/2010-04-01/Accounts/AC1/Messages/SM1.json", ""),
            Ok(Charge::Free)
        );
        assert_eq!(
            price("/2010-04-01/Accounts/AC1/Messages/SM1.json", "Body="),
            Ok(Charge::Free)
        );
        assert_eq!(
            price(
                "/2010-04-01/Accounts/AC1/Messages/SM1.json",
                "Status=canceled"
            ),
            Ok(Charge::Free)
        );
        assert_eq!(
            price(
                "/2010-04-01/Accounts/AC1/Messages/SM1.json",
                "Body=new+text"
            )
            .unwrap_err()
            .code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn price_tables_are_validated() {
        assert!(PrefixPrices::parse("T", r#"{"+1": "0.01"}"#).is_ok());
        for bad in [
            r#"{"1": "0.01"}"#,
            r#"{"+1": 0.01}"#,
            r#"{"+1": "-1"}"#,
            "[]",
            r#"{"+1x": "1"}"#,
        ] {
            assert!(PrefixPrices::parse("T", bad).is_err(), "{bad}");
        }
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
        let field = Twilio.error_body(&ApiError::field("To", "is wrong"));
        assert_eq!(field["details"]["param"], "To");
    }

    #[test]
    fn the_sdks_own_client_header_passes_and_other_twilio_headers_are_refused() {
        use crate::vendors::{header_use, HeaderUse};
        assert_eq!(header_use(&Twilio, "x-twilio-client"), HeaderUse::Cosmetic);
        for name in [
            "x-twilio-webhook-enabled",
            "i-twilio-idempotency-token",
            "twilio-anything",
        ] {
            assert_eq!(header_use(&Twilio, name), HeaderUse::Refused, "{name}");
        }
    }
}
