//! Stripe's form encoding. Stripe v1 takes `application/x-www-form-urlencoded`
//! bodies with bracketed keys (`metadata[run]=1`, `expand[0]=customer`); agents
//! written from the product brief send JSON. A JSON object body is rewritten
//! into the form Stripe expects, and form bodies are read back as pairs for
//! pricing.

use serde_json::Value;

/// Encodes a JSON object as a Stripe form body. Nested objects become
/// `a[b]`, arrays `a[0]`, `null` an empty value (Stripe's "unset").
pub fn json_to_form(object: &serde_json::Map<String, Value>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in object {
        append(&mut out, key, value);
    }
    out.finish()
}

fn append(out: &mut form_urlencoded::Serializer<'_, String>, key: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                append(out, &format!("{key}[{k}]"), v);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                append(out, &format!("{key}[{i}]"), v);
            }
        }
        Value::String(s) => {
            out.append_pair(key, s);
        }
        Value::Number(n) => {
            out.append_pair(key, &n.to_string());
        }
        Value::Bool(b) => {
            out.append_pair(key, if *b { "true" } else { "false" });
        }
        Value::Null => {
            out.append_pair(key, "");
        }
    }
}

/// Decodes `%XX` escapes (and `+`), refusing a `%` without two hex digits.
fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, String> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let byte = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| Some((hex(h[0])? << 4) | hex(h[1])?))
                    .ok_or_else(|| format!("the form body has a broken %-escape at byte {i}"))?;
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Decoded form pairs, in order.
pub struct FormBody(Vec<(String, String)>);

impl FormBody {
    /// Parses a form body, refusing what a vendor might decode differently:
    /// bytes that are not UTF-8 and `%` not followed by two hex digits.
    pub fn parse_strict(body: &[u8]) -> Result<FormBody, String> {
        std::str::from_utf8(body).map_err(|_| "the form body is not valid UTF-8".to_owned())?;
        for part in body.split(|&b| b == b'&' || b == b'=') {
            let decoded = percent_decode(part)?;
            std::str::from_utf8(&decoded)
                .map_err(|_| "the form body decodes to text that is not valid UTF-8".to_owned())?;
        }
        Ok(FormBody::parse(body))
    }

    pub fn parse(body: &[u8]) -> FormBody {
        FormBody(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every value of a repeated field (`MediaUrl`, `to`), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of a top-level field; `Err` when it is repeated (an
    /// ambiguity the vendor might resolve differently from Keybrake).
    pub fn get(&self, name: &str) -> Result<Option<&str>, String> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("field {name:?} is given more than once"));
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(v: Value) -> String {
        json_to_form(v.as_object().unwrap())
    }

    #[test]
    fn flat_fields() {
        assert_eq!(
            encode(json!({"amount": 2000, "currency": "usd", "customer": "cus_1"})),
            "amount=2000&currency=usd&customer=cus_1"
        );
    }

    #[test]
    fn nested_objects_and_arrays_use_brackets() {
        let form = encode(json!({
            "metadata": {"run": "wf 1", "step": 2},
            "expand": ["customer", "latest_charge"],
            "capture": false,
            "description": null
        }));
        let pairs: Vec<(String, String)> = form_urlencoded::parse(form.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let expect = [
            ("metadata[run]", "wf 1"),
            ("metadata[step]", "2"),
            ("expand[0]", "customer"),
            ("expand[1]", "latest_charge"),
            ("capture", "false"),
            ("description", ""),
        ];
        for (k, v) in expect {
            assert!(
                pairs.contains(&(k.to_owned(), v.to_owned())),
                "{k} missing in {form}"
            );
        }
        assert_eq!(pairs.len(), expect.len());
    }

    #[test]
    fn array_of_objects() {
        let form = encode(json!({"items": [{"price": "p_1", "quantity": 2}]}));
        assert_eq!(
            form,
            "items%5B0%5D%5Bprice%5D=p_1&items%5B0%5D%5Bquantity%5D=2"
        );
    }

    #[test]
    fn strict_parsing_refuses_undecodable_bodies() {
        assert!(FormBody::parse_strict(b"amount=100&currency=usd").is_ok());
        assert!(FormBody::parse_strict(b"a=%E2%82%AC").is_ok());
        assert!(FormBody::parse_strict(b"amount=%zz").is_err());
        assert!(FormBody::parse_strict(b"amount=1%").is_err());
        assert!(FormBody::parse_strict(b"amount=\xff").is_err());
        assert!(FormBody::parse_strict(b"a=%ff%fe").is_err());
        assert!(
            FormBody::parse_strict(b"a=%EF%BF%BD").is_ok(),
            "a real U+FFFD is text"
        );
        let media = FormBody::parse(b"MediaUrl=a&MediaUrl=b");
        assert_eq!(media.all("MediaUrl"), vec!["a", "b"]);
    }

    #[test]
    fn reads_form_fields_and_refuses_duplicates() {
        let body = FormBody::parse(b"amount=100&currency=usd&metadata%5Ba%5D=1");
        assert_eq!(body.get("amount"), Ok(Some("100")));
        assert_eq!(body.get("metadata[a]"), Ok(Some("1")));
        assert_eq!(body.get("missing"), Ok(None));
        let dup = FormBody::parse(b"amount=1&amount=100000");
        assert!(dup.get("amount").is_err());
    }
}
