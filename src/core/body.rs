//! A proxied call's body, read once, the way the vendor reads it.
//!
//! Only the shapes the vendors' SDKs and the product brief send are
//! accepted: a form (`application/x-www-form-urlencoded`, UTF-8) or a JSON
//! object for form vendors, JSON for JSON vendors. JSON comes as
//! `application/json`, or as the `text/plain;charset=UTF-8` that `fetch`
//! sets for a string body (the product brief's Workflow sends that).
//! Multipart, other charsets and other types are refused. What was read is
//! what is priced, constrained and forwarded: the body sent upstream is
//! Keybrake's own encoding of these parameters, never the client's bytes.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::core::form::{json_to_form, FormBody, KeyGrammar};
use crate::error::{ApiError, ApiResult};

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const JSON: &str = "application/json";

/// What a vendor takes upstream.
#[derive(Clone, Copy)]
pub enum BodyShape {
    /// Form pairs (Stripe, Twilio); a JSON object from the client is
    /// turned into the same pairs. `repeatable` names list fields of a
    /// `Flat` grammar.
    Form {
        keys: KeyGrammar,
        repeatable: fn(&str) -> bool,
    },
    /// A JSON document (Resend).
    Json,
}

/// The parameters of a call, as priced and as forwarded.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Params {
    #[default]
    None,
    Form(FormBody),
    Json(Value),
}

impl Params {
    /// The body Keybrake forwards and its content type.
    pub fn encode(&self) -> (Vec<u8>, Option<&'static str>) {
        match self {
            Params::None => (Vec::new(), None),
            Params::Form(form) => (form.encode().into_bytes(), Some(FORM)),
            Params::Json(value) => (value.to_string().into_bytes(), Some(JSON)),
        }
    }
}

/// A `Content-Type` reduced to what matters: its media type, lowercase.
/// The only parameter accepted is `charset=utf-8`: another charset could
/// make the vendor decode other text than Keybrake priced.
pub fn media_type(header: &str) -> ApiResult<String> {
    let mut parts = header.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if media.is_empty() || media.contains(',') || media.contains(' ') {
        return Err(content_type_error(header, "is not a single media type"));
    }
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        if !(name.trim().eq_ignore_ascii_case("charset") && value.eq_ignore_ascii_case("utf-8")) {
            return Err(content_type_error(
                header,
                "may only carry charset=utf-8 as a parameter",
            ));
        }
    }
    Ok(media)
}

fn content_type_error(header: &str, problem: &str) -> ApiError {
    ApiError::field(
        "Content-Type",
        format!(
            "{:?} {problem}",
            header.chars().take(100).collect::<String>()
        ),
    )
}

/// Reads a call's body for a vendor of `shape`.
pub fn read_body(
    shape: BodyShape,
    method: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> ApiResult<Params> {
    if body.is_empty() {
        return Ok(Params::None);
    }
    if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
        return Err(ApiError::bad_request(format!(
            "a {method} request carries no body"
        )));
    }
    let media = media_type(content_type.ok_or_else(|| {
        ApiError::field("Content-Type", "is required when the request has a body")
    })?)?;
    match (shape, media.as_str()) {
        (BodyShape::Form { keys, repeatable }, FORM) => {
            let form = FormBody::parse_strict(body).map_err(ApiError::bad_request)?;
            form_params(form, keys, repeatable)
        }
        (BodyShape::Form { keys, repeatable }, JSON | "text/plain") => {
            let Value::Object(object) = parse_json(body)? else {
                return Err(ApiError::bad_request(
                    "a JSON request body must be an object",
                ));
            };
            let form = json_to_form(&object, keys).map_err(|(k, p)| ApiError::field(&k, p))?;
            form_params(form, keys, repeatable)
        }
        (BodyShape::Json, JSON | "text/plain") => Ok(Params::Json(parse_json(body)?)),
        (BodyShape::Form { .. }, other) => Err(ApiError::field(
            "Content-Type",
            format!("{other} is not accepted: send {FORM} or a JSON object as {JSON}"),
        )),
        (BodyShape::Json, other) => Err(ApiError::field(
            "Content-Type",
            format!("{other} is not accepted: send {JSON}"),
        )),
    }
}

fn form_params(
    form: FormBody,
    keys: KeyGrammar,
    repeatable: fn(&str) -> bool,
) -> ApiResult<Params> {
    form.check_keys(keys, &repeatable)
        .map_err(|(key, problem)| ApiError::field(&key, problem))?;
    Ok(if form.is_empty() {
        Params::None
    } else {
        Params::Form(form)
    })
}

/// Parses JSON, refusing a key given twice in one object (vendors' parsers
/// disagree on which one wins).
pub fn parse_json(body: &[u8]) -> ApiResult<Value> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Strict::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v.0))
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("key {key:?} is given twice")));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const STRIPE: BodyShape = BodyShape::Form {
        keys: KeyGrammar::Bracketed,
        repeatable: |_| false,
    };

    fn read(ct: Option<&str>, body: &str) -> ApiResult<Params> {
        read_body(STRIPE, "POST", ct, body.as_bytes())
    }

    fn form(pairs: &[(&str, &str)]) -> Params {
        Params::Form(FormBody::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    #[test]
    fn accepts_what_the_sdks_and_the_brief_send() {
        let want = form(&[("amount", "2000"), ("currency", "usd")]);
        assert_eq!(
            read(Some(FORM), "amount=2000&currency=usd"),
            Ok(want.clone())
        );
        assert_eq!(
            read(
                Some("application/x-www-form-urlencoded; charset=UTF-8"),
                "amount=2000&currency=usd"
            ),
            Ok(want.clone())
        );
        let json = r#"{"amount":2000,"currency":"usd"}"#;
        assert_eq!(read(Some("application/json"), json), Ok(want.clone()));
        assert_eq!(read(Some("text/plain;charset=UTF-8"), json), Ok(want));
        assert_eq!(read(None, ""), Ok(Params::None));
    }

    #[test]
    fn refuses_other_shapes_naming_the_content_type() {
        for ct in [
            Some("multipart/form-data; boundary=x"),
            Some("application/x-www-form-urlencoded; charset=utf-16"),
            Some("application/x-www-form-urlencoded; charset=iso-8859-1"),
            Some("text/html"),
            Some("application/json, application/x-www-form-urlencoded"),
            Some("application/x-www-form-urlencoded; boundary=x"),
            None,
        ] {
            let err = read(ct, "amount=50").unwrap_err();
            assert_eq!(err.param.as_deref(), Some("Content-Type"), "{ct:?}");
        }
        assert_eq!(
            read(Some("text/plain"), "amount=50").unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert!(read_body(BodyShape::Json, "POST", Some(FORM), b"a=1").is_err());
        assert!(read_body(
            BodyShape::Json,
            "POST",
            Some("text/plain;charset=UTF-8"),
            b"a=1"
        )
        .is_err());
        assert!(read_body(STRIPE, "GET", Some(FORM), b"a=1").is_err());
    }

    #[test]
    fn refuses_ambiguous_keys() {
        for body in [
            "amount=50&amount%5D=99999900",
            "amount%5D=99999900&currency=usd",
            "%5Bamount%5D=9",
            "customer=cus_a&customer=cus_b",
        ] {
            assert_eq!(
                read(Some(FORM), body).unwrap_err().code,
                ErrorCode::BadRequest,
                "{body}"
            );
        }
        let dup = read(Some(JSON), r#"{"amount":50,"amount":99999900}"#).unwrap_err();
        assert!(dup.message.contains("twice"), "{}", dup.message);
        assert!(parse_json(br#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse_json(br#"{"a":1} x"#).is_err());
    }

    #[test]
    fn forwards_its_own_encoding() {
        let params = read(Some(JSON), r#"{"amount":5,"metadata":{"a":"b"}}"#).unwrap();
        let (body, ct) = params.encode();
        assert_eq!(ct, Some(FORM));
        assert_eq!(body, b"amount=5&metadata%5Ba%5D=b");
        let json = read_body(
            BodyShape::Json,
            "POST",
            Some(JSON),
            br#"{ "to" : "a@x.io" }"#,
        )
        .unwrap()
        .encode();
        assert_eq!(json, (br#"{"to":"a@x.io"}"#.to_vec(), Some(JSON)));
    }
}
