//! Resend: Bearer key upstream, JSON bodies, priced per email where every
//! `to`, `cc` and `bcc` address counts as one.

use serde_json::{json, Value};

use super::{
    by_catalogue, required, times, unit_price, Charge, ConfigSource, HeaderUse, Inspection,
    PricingInput, Vendor,
};
use crate::core::body::BodyShape;
use crate::core::catalogue::{entry, Entry, Rule};
use crate::core::constraints::CallFacts;
use crate::core::email::addresses;
use crate::core::mcp::Tool;
use crate::error::{ApiError, ApiResult};

pub struct Resend;

/// How Resend's sending endpoints are priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    Email,
    Batch,
}

use Rule::{Free, Never, Priced, Read, Refused};

const NO_PARAMS: &[&str] = &[];
/// Fields of a sent email a reschedule may not touch.
const EMAIL_CONTENT: &[&str] = &[
    "to", "cc", "bcc", "from", "subject", "html", "text", "headers",
];

/// Every Resend endpoint, first match wins (paths are case-sensitive:
/// `/emails/Batch` is not `/emails/batch`).
pub const CATALOGUE: &[Entry<Price>] = &[
    entry("*", "/api-keys/**", Never("creates or deletes Resend API keys: an agent could leave Keybrake behind, or cut it off")),
    entry("*", "/webhooks/**", Never("answers or rotates a webhook signing secret")),
    entry("*", "/oauth/**", Never("manages OAuth grants")),
    entry("POST", "/emails", Priced(Price::Email)),
    entry("POST", "/emails/batch", Priced(Price::Batch)),
    entry("PATCH", "/emails/*", Free(EMAIL_CONTENT)),
    entry("POST", "/emails/*/cancel", Free(NO_PARAMS)),
    entry("WRITE", "/emails/*/share", Refused("publishes the email at a public link")),
    entry("WRITE", "/broadcasts/**", Refused("a broadcast goes to an audience whose size Keybrake cannot see")),
    entry("WRITE", "/automations/**", Refused("automations send emails Keybrake cannot count")),
    entry("WRITE", "/events/**", Refused("events start automations that send emails Keybrake cannot count")),
    entry("WRITE", "/inboxes/**", Refused("sending from inboxes is not priced")),
    entry("WRITE", "/domains/**", Free(NO_PARAMS)),
    entry("WRITE", "/audiences/**", Free(NO_PARAMS)),
    entry("WRITE", "/contacts/**", Free(NO_PARAMS)),
    entry("WRITE", "/contact-properties/**", Free(NO_PARAMS)),
    entry("WRITE", "/segments/**", Free(NO_PARAMS)),
    entry("WRITE", "/topics/**", Free(NO_PARAMS)),
    entry("WRITE", "/suppressions/**", Free(NO_PARAMS)),
    entry("WRITE", "/templates/**", Free(NO_PARAMS)),
    entry("GET", "/**", Read),
];

/// Resend's limits: emails per batch call, addresses per recipient field.
const MAX_BATCH: usize = 100;
const MAX_PER_FIELD: usize = 50;

/// Every field of an email resend-node sends (a batch passes its emails
/// through as given, so both spellings appear).
const EMAIL_FIELDS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "html",
    "text",
    "reply_to",
    "replyTo",
    "headers",
    "attachments",
    "tags",
    "scheduled_at",
    "scheduledAt",
    "template",
    "topic_id",
    "topicId",
];

/// Custom headers that cannot add recipients or change the sender.
fn harmless_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("x-")
        || matches!(
            name.as_str(),
            "list-unsubscribe" | "list-unsubscribe-post" | "in-reply-to" | "references"
        )
}

fn field_error(at: &str, field: &str, problem: impl std::fmt::Display) -> ApiError {
    let param = if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    };
    ApiError::field(&param, problem)
}

/// One email as Keybrake prices and constrains it.
struct Email {
    /// Every `to`, `cc` and `bcc` address.
    recipients: Vec<String>,
    from: Option<String>,
}

/// Reads one email, refusing what Resend might read differently.
fn read_email(email: &Value, at: &str) -> ApiResult<Email> {
    let email = email.as_object().ok_or_else(|| {
        ApiError::bad_request(format!(
            "{} must be a JSON object",
            if at.is_empty() { "the email" } else { at }
        ))
    })?;
    if let Some(unknown) = email.keys().find(|k| !EMAIL_FIELDS.contains(&k.as_str())) {
        return Err(field_error(
            at,
            unknown,
            "is not a field Keybrake knows for an email (names are case-sensitive)",
        ));
    }
    let mut recipients = Vec::new();
    for field in ["to", "cc", "bcc"] {
        let lists: Vec<&str> = match email.get(field) {
            None | Some(Value::Null) => vec![],
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).collect()
            }
            Some(_) => {
                return Err(field_error(
                    at,
                    field,
                    "must be an email address or a list of them",
                ));
            }
        };
        let mut found = Vec::new();
        for list in lists {
            found.extend(addresses(list).map_err(|e| field_error(at, field, e))?);
        }
        if found.len() > MAX_PER_FIELD {
            return Err(field_error(
                at,
                field,
                format!(
                    "has {} addresses; Resend accepts at most {MAX_PER_FIELD}",
                    found.len()
                ),
            ));
        }
        recipients.extend(found);
    }
    if recipients.is_empty() {
        return Err(field_error(at, "to", "is required"));
    }
    match email.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                if !harmless_header(name) {
                    return Err(field_error(
                        at,
                        &format!("headers.{name}"),
                        "could add recipients or change the sender; only X- headers, List-Unsubscribe, In-Reply-To and References are forwarded",
                    ));
                }
                if !value.is_string() {
                    return Err(field_error(
                        at,
                        &format!("headers.{name}"),
                        "must be a string",
                    ));
                }
            }
        }
        Some(_) => return Err(field_error(at, "headers", "must be an object")),
    }
    let from = match email.get("from") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let mut list = addresses(s).map_err(|e| field_error(at, "from", e))?;
            if list.len() != 1 {
                return Err(field_error(at, "from", "must be one address"));
            }
            list.pop()
        }
        Some(_) => return Err(field_error(at, "from", "must be an email address")),
    };
    Ok(Email { recipients, from })
}

/// Every email of a send or batch call.
fn emails(rule: Price, input: &PricingInput<'_>) -> ApiResult<Vec<Email>> {
    let body = input
        .json()
        .ok_or_else(|| ApiError::bad_request("sending email needs a JSON body"))?;
    match rule {
        Price::Email => Ok(vec![read_email(body, "")?]),
        Price::Batch => {
            let items = body
                .as_array()
                .ok_or_else(|| ApiError::bad_request("a batch must be a JSON array of emails"))?;
            if items.is_empty() || items.len() > MAX_BATCH {
                return Err(ApiError::bad_request(format!(
                    "a batch holds 1 to {MAX_BATCH} emails, got {}",
                    items.len()
                )));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, e)| read_email(e, &format!("[{i}]")))
                .collect()
        }
    }
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

    fn body_shape(&self) -> BodyShape {
        BodyShape::Json
    }

    /// A batch's validation mode decides whether invalid emails are
    /// dropped or fail the batch.
    fn header_use(&self, name: &str) -> HeaderUse {
        match name {
            "x-batch-validation" => HeaderUse::Semantic,
            _ => HeaderUse::Dropped,
        }
    }

    fn refused_header_prefixes(&self) -> &'static [&'static str] {
        &["resend-", "x-resend-"]
    }

    fn inspect(&self, input: &PricingInput<'_>) -> ApiResult<Inspection> {
        by_catalogue(self.name(), CATALOGUE, input, |rule| {
            let mut facts = CallFacts::default();
            let mut count = 0u64;
            for email in emails(rule, input)? {
                let n = email.recipients.len();
                count += n as u64;
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                facts.max_recipients = Some(facts.max_recipients.unwrap_or(0).max(n));
                facts.to.extend(email.recipients);
                facts.from.extend(email.from);
            }
            let per_email = unit_price(input.config, "RESEND_USD_PER_EMAIL", "0.0009")?;
            Ok(Inspection {
                charge: Charge::Usage {
                    usd: times(per_email, count)?,
                },
                facts,
            })
        })
    }

    /// resend-node hands the parsed body back as `error`: `name` and
    /// `message` as it expects, plus Keybrake's `code`. The name is
    /// Keybrake's code, never `rate_limit_exceeded`: a spent cap is not a
    /// reason to retry.
    fn tools(&self) -> &'static [Tool] {
        TOOLS
    }

    fn error_body(&self, error: &ApiError) -> Value {
        let mut body = json!({
            "statusCode": error.status(),
            "name": error.code.as_str(),
            "message": error.message,
            "code": error.code.as_str(),
        });
        if let Some(p) = &error.param {
            body["param"] = json!(p);
        }
        if let Some(a) = &error.approval_id {
            body["approval_id"] = json!(a);
        }
        body
    }
}

/// The common calls as MCP tools (`core::mcp`).
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "resend_send_email",
        title: "Send an email",
        description: "Sends one email through Resend.",
        cost: "RESEND_USD_PER_EMAIL per recipient",
        method: "POST",
        path: "/emails",
        input_schema: r#"{"type":"object","properties":{"from":{"type":"string"},"to":{"oneOf":[{"type":"string"},{"type":"array","items":{"type":"string"}}]},"subject":{"type":"string"},"html":{"type":"string"},"text":{"type":"string"},"cc":{"type":"array","items":{"type":"string"}},"bcc":{"type":"array","items":{"type":"string"}},"reply_to":{"type":"string"}},"required":["from","to","subject"]}"#,
        body_from: None,
    },
    Tool {
        name: "resend_send_batch",
        title: "Send a batch of emails",
        description: "Sends up to 100 emails in one call.",
        cost: "RESEND_USD_PER_EMAIL per recipient of every email",
        method: "POST",
        path: "/emails/batch",
        input_schema: r#"{"type":"object","properties":{"emails":{"type":"array","minItems":1,"maxItems":100,"items":{"type":"object"}}},"required":["emails"],"additionalProperties":false}"#,
        body_from: Some("emails"),
    },
    Tool {
        name: "resend_get_email",
        title: "Get an email",
        description: "Reads an email Resend sent, by id.",
        cost: "free",
        method: "GET",
        path: "/emails/{id}",
        input_schema: r#"{"type":"object","properties":{"id":{"type":"string"}},"required":["id"],"additionalProperties":false}"#,
        body_from: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::body::{read_body, Params, JSON};
    use crate::core::catalogue::OperatorCatalogue;
    use crate::core::currency::RateTable;
    use crate::core::endpoint::canonicalize;
    use crate::core::money::Money;
    use crate::error::ErrorCode;
    use crate::vendors::MapConfig;

    fn run(method: &str, path: &str, body: Option<Value>) -> (ApiResult<Charge>, CallFacts) {
        let rates = RateTable::default();
        let path = canonicalize(path).unwrap();
        let params = match body {
            Some(b) => read_body(
                BodyShape::Json,
                method,
                Some(JSON),
                b.to_string().as_bytes(),
            )
            .unwrap(),
            None => Params::None,
        };
        let input = PricingInput {
            method,
            path: &path,
            params: &params,
            rates: &rates,
            config: &MapConfig(vec![]),
            operator: &OperatorCatalogue::default(),
        };
        match Resend.inspect(&input) {
            Ok(read) => (Ok(read.charge), read.facts),
            Err(e) => (Err(e), CallFacts::default()),
        }
    }

    fn price(path: &str, body: Value) -> ApiResult<Charge> {
        run("POST", path, Some(body)).0
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
    fn comma_lists_count_every_address_and_reach_the_constraints() {
        let (charge, facts) = run(
            "POST",
            "/emails",
            Some(json!({"to": "a@x.io, b@evil.test", "from": "Shop <f@x.io>"})),
        );
        assert_eq!(charge, usd(1_800));
        assert_eq!(facts.to, vec!["a@x.io", "b@evil.test"]);
        assert_eq!(facts.from, vec!["f@x.io"]);
        assert_eq!(facts.max_recipients, Some(2));
    }

    #[test]
    fn headers_that_add_recipients_are_refused() {
        for name in ["Bcc", "cc", "To", "Resent-To", "From", "Sender"] {
            let err = price(
                "/emails",
                json!({"to": "a@x.io", "headers": {name: "z@evil.test"}}),
            )
            .unwrap_err();
            assert_eq!(
                err.param.as_deref(),
                Some(format!("headers.{name}").as_str()),
                "{name}"
            );
        }
        assert_eq!(
            price(
                "/emails",
                json!({"to": "a@x.io", "headers": {"X-Entity-Ref-ID": "1"}})
            ),
            usd(900)
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
        assert_eq!(
            price("/emails/Batch", json!(batch)).unwrap_err().code,
            ErrorCode::UnpriceableRequest,
            "paths match exactly"
        );
    }

    #[test]
    fn limits_and_shapes_are_checked() {
        let fifty_one: Vec<String> = (0..51).map(|i| format!("u{i}@x.io")).collect();
        let err = price("/emails", json!({ "to": fifty_one })).unwrap_err();
        assert_eq!(
            (err.code, err.param.as_deref()),
            (ErrorCode::BadRequest, Some("to"))
        );
        let joined = (0..51)
            .map(|i| format!("u{i}@x.io"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            price("/emails", json!({ "to": joined }))
                .unwrap_err()
                .param
                .as_deref(),
            Some("to")
        );
        assert_eq!(
            price("/emails", json!({"subject": "no one"}))
                .unwrap_err()
                .param
                .as_deref(),
            Some("to")
        );
        assert_eq!(
            price("/emails", json!({"to": "a@x.io", "CC": "b@y.io"}))
                .unwrap_err()
                .param
                .as_deref(),
            Some("CC")
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
        assert_eq!(
            run("PATCH", "/emails/e_1", Some(json!({"to": "z@evil.test"})))
                .0
                .unwrap_err()
                .param
                .as_deref(),
            Some("to")
        );
    }

    #[test]
    fn credential_endpoints_are_never_forwarded() {
        for (method, path) in [
            ("POST", "/api-keys"),
            ("GET", "/api-keys"),
            ("DELETE", "/api-keys/k1"),
            ("POST", "/webhooks"),
            ("GET", "/webhooks/w1"),
        ] {
            let err = run(method, path, None).0.unwrap_err();
            assert!(
                err.message.contains("never forwarded"),
                "{method} {path}: {}",
                err.message
            );
        }
    }

    #[test]
    fn a_spent_cap_does_not_look_like_a_rate_limit() {
        let body = Resend.error_body(&ApiError::new(ErrorCode::CapExhausted, "cap reached"));
        assert_eq!(body["statusCode"], 429);
        assert_eq!(body["name"], "cap_exhausted");
        assert_eq!(body["code"], "cap_exhausted");
    }
}
