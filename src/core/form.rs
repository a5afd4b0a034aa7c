//! Form bodies as Stripe and Twilio read them, and as Keybrake forwards them.
//!
//! Keybrake never forwards the client's bytes: it decodes the body into
//! pairs, refuses anything a vendor could read differently (a broken escape,
//! text that is not UTF-8, a key its parser would fold into another, a key
//! given twice), prices those pairs, and forwards its own encoding of the
//! very same pairs. A JSON object body (what the product brief sends) is
//! turned into the same pairs, the way Stripe's form encoding nests them
//! (`metadata[run]`, `expand[0]`).

use serde_json::Value;

/// How a vendor spells its parameter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGrammar {
    /// Stripe: `name` then any number of `[subscript]`s; `name[]` appends
    /// to a list and is the only key that may repeat.
    Bracketed,
    /// Twilio: plain names (`To`, `MediaUrl`); only the vendor's list
    /// fields may repeat.
    Flat,
}

/// Decoded form pairs, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormBody(Vec<(String, String)>);

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

/// A top-level parameter name: letters, digits and `_`.
fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What goes between brackets: anything but brackets and control characters
/// (metadata keys may hold spaces or dots).
fn subscript_ok(sub: &str) -> bool {
    !sub.chars().any(|c| c == '[' || c == ']' || c.is_control())
}

/// Checks one key against the vendor's grammar. A key a Rack-style parser
/// would fold into another (`amount]`, `[amount]`, `amount[x]y`) is refused.
pub fn check_key(grammar: KeyGrammar, key: &str) -> Result<(), String> {
    let bad = || Err(format!("parameter name {key:?} is malformed"));
    let (name, mut rest) = match key.find('[') {
        Some(i) => key.split_at(i),
        None => (key, ""),
    };
    if !name_ok(name) {
        return bad();
    }
    if grammar == KeyGrammar::Flat && !rest.is_empty() {
        return bad();
    }
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return bad();
        };
        let Some(end) = inner.find(']') else {
            return bad();
        };
        if !subscript_ok(&inner[..end]) {
            return bad();
        }
        rest = &inner[end + 1..];
    }
    Ok(())
}

impl FormBody {
    pub const EMPTY: FormBody = FormBody(Vec::new());

    /// Parses a form body, refusing what a vendor might decode differently:
    /// bytes that are not UTF-8 and `%` not followed by two hex digits.
    pub fn parse_strict(body: &[u8]) -> Result<FormBody, String> {
        std::str::from_utf8(body).map_err(|_| "the form body is not valid UTF-8".to_owned())?;
        for part in body.split(|&b| b == b'&' || b == b'=') {
            let decoded = percent_decode(part)?;
            std::str::from_utf8(&decoded)
                .map_err(|_| "the form body decodes to text that is not valid UTF-8".to_owned())?;
        }
        Ok(FormBody(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    /// Pairs as given (already decoded).
    #[cfg(test)]
    pub fn from_pairs(pairs: Vec<(String, String)>) -> FormBody {
        FormBody(pairs)
    }

    /// Refuses malformed keys and keys given twice, unless `repeatable` says
    /// the vendor reads that key as a list.
    pub fn check_keys(
        &self,
        grammar: KeyGrammar,
        repeatable: &dyn Fn(&str) -> bool,
    ) -> Result<(), (String, String)> {
        let mut seen = std::collections::HashSet::with_capacity(self.0.len());
        for (k, _) in &self.0 {
            check_key(grammar, k).map_err(|e| (k.clone(), e))?;
            let list = match grammar {
                KeyGrammar::Bracketed => k.contains("[]"),
                KeyGrammar::Flat => repeatable(k),
            };
            if !seen.insert(k.as_str()) && !list {
                return Err((
                    k.clone(),
                    format!("parameter {k:?} is given more than once"),
                ));
            }
        }
        Ok(())
    }

    /// The encoding Keybrake forwards: these pairs and nothing else.
    pub fn encode(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            out.append_pair(k, v);
        }
        out.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every value of a repeated field (`MediaUrl`), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single value of a field; `Err` when it is repeated (an ambiguity
    /// the vendor might resolve differently from Keybrake).
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

    /// Whether any key is `name` or nests under it (`name[…]`).
    pub fn mentions(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| {
            k == name || (k.starts_with(name) && k.as_bytes().get(name.len()) == Some(&b'['))
        })
    }
}

/// A JSON object body as the form pairs the vendor expects. Nested objects
/// become `a[b]`, arrays `a[0]` (`Bracketed`) or a repeated key (`Flat`),
/// `null` an empty value (Stripe's "unset"). Keys are checked like a form's.
pub fn json_to_form(
    object: &serde_json::Map<String, Value>,
    grammar: KeyGrammar,
) -> Result<FormBody, (String, String)> {
    let mut pairs = Vec::new();
    for (key, value) in object {
        if !name_ok(key) {
            return Err((key.clone(), format!("parameter name {key:?} is malformed")));
        }
        flatten(&mut pairs, key.clone(), value, grammar)?;
    }
    Ok(FormBody(pairs))
}

fn flatten(
    out: &mut Vec<(String, String)>,
    key: String,
    value: &Value,
    grammar: KeyGrammar,
) -> Result<(), (String, String)> {
    let scalar = |v: &Value| -> Option<String> {
        Some(match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            _ => return None,
        })
    };
    match (value, grammar) {
        (Value::Object(map), KeyGrammar::Bracketed) => {
            for (k, v) in map {
                if !subscript_ok(k) {
                    return Err((key, format!("key {k:?} has brackets or control characters")));
                }
                flatten(out, format!("{key}[{k}]"), v, grammar)?;
            }
        }
        (Value::Array(items), KeyGrammar::Bracketed) => {
            for (i, v) in items.iter().enumerate() {
                flatten(out, format!("{key}[{i}]"), v, grammar)?;
            }
        }
        (Value::Array(items), KeyGrammar::Flat) => {
            for v in items {
                let text = scalar(v)
                    .ok_or_else(|| (key.clone(), "must hold only plain values".to_owned()))?;
                out.push((key.clone(), text));
            }
        }
        (Value::Object(_), KeyGrammar::Flat) => {
            return Err((key, "must not be an object".to_owned()));
        }
        (v, _) => out.push((key, scalar(v).unwrap_or_default())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(v: Value) -> String {
        json_to_form(v.as_object().unwrap(), KeyGrammar::Bracketed)
            .unwrap()
            .encode()
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
        let form = json_to_form(
            json!({
                "metadata": {"run": "wf 1", "step": 2},
                "expand": ["customer", "latest_charge"],
                "capture": false,
                "description": null
            })
            .as_object()
            .unwrap(),
            KeyGrammar::Bracketed,
        )
        .unwrap();
        let expect = [
            ("metadata[run]", "wf 1"),
            ("metadata[step]", "2"),
            ("expand[0]", "customer"),
            ("expand[1]", "latest_charge"),
            ("capture", "false"),
            ("description", ""),
        ];
        for (k, v) in expect {
            assert!(form.pairs().any(|p| p == (k, v)), "{k} missing");
        }
        assert_eq!(form.pairs().count(), expect.len());
    }

    #[test]
    fn array_of_objects() {
        assert_eq!(
            encode(json!({"items": [{"price": "p_1", "quantity": 2}]})),
            "items%5B0%5D%5Bprice%5D=p_1&items%5B0%5D%5Bquantity%5D=2"
        );
    }

    #[test]
    fn json_keys_that_a_parser_would_fold_are_refused() {
        for bad in [
            json!({"amount]": 1}),
            json!({"[amount]": 1}),
            json!({"": 1}),
            json!({"metadata": {"a]b": 1}}),
            json!({"metadata": {"a[b": 1}}),
        ] {
            assert!(
                json_to_form(bad.as_object().unwrap(), KeyGrammar::Bracketed).is_err(),
                "{bad}"
            );
        }
        let flat = json_to_form(
            json!({"To": "+1555", "MediaUrl": ["a", "b"]})
                .as_object()
                .unwrap(),
            KeyGrammar::Flat,
        )
        .unwrap();
        assert_eq!(flat.all("MediaUrl"), vec!["a", "b"]);
        assert!(json_to_form(
            json!({"To": {"a": 1}}).as_object().unwrap(),
            KeyGrammar::Flat
        )
        .is_err());
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
        let media = FormBody::parse_strict(b"MediaUrl=a&MediaUrl=b").unwrap();
        assert_eq!(media.all("MediaUrl"), vec!["a", "b"]);
    }

    #[test]
    fn key_grammar() {
        use KeyGrammar::*;
        for ok in [
            "amount",
            "metadata[run]",
            "expand[]",
            "items[0][price]",
            "metadata[a b.c]",
        ] {
            assert_eq!(check_key(Bracketed, ok), Ok(()), "{ok}");
        }
        for bad in [
            "amount]",
            "[amount]",
            "customer]",
            "amount[",
            "amount[x]y",
            "amount[[x]]",
            "am ount",
            "amount\0",
            "",
            "metadata[a\nb]",
        ] {
            assert!(check_key(Bracketed, bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_key(Flat, "MediaUrl"), Ok(()));
        assert!(check_key(Flat, "To[0]").is_err());
    }

    #[test]
    fn duplicates_only_where_the_vendor_reads_a_list() {
        let none = |_: &str| false;
        let dup = FormBody::parse_strict(b"customer=cus_a&customer=cus_b").unwrap();
        assert_eq!(
            dup.check_keys(KeyGrammar::Bracketed, &none).unwrap_err().0,
            "customer"
        );
        let list = FormBody::parse_strict(b"expand[]=a&expand[]=b").unwrap();
        assert!(list.check_keys(KeyGrammar::Bracketed, &none).is_ok());
        let media = FormBody::parse_strict(b"MediaUrl=a&MediaUrl=b").unwrap();
        assert!(media.check_keys(KeyGrammar::Flat, &none).is_err());
        assert!(media
            .check_keys(KeyGrammar::Flat, &|k| k == "MediaUrl")
            .is_ok());
    }

    #[test]
    fn reads_form_fields_and_refuses_duplicates() {
        let body = FormBody::parse_strict(b"amount=100&currency=usd&metadata%5Ba%5D=1").unwrap();
        assert_eq!(body.get("amount"), Ok(Some("100")));
        assert_eq!(body.get("metadata[a]"), Ok(Some("1")));
        assert_eq!(body.get("missing"), Ok(None));
        assert!(body.mentions("metadata") && !body.mentions("meta"));
        let dup = FormBody::parse_strict(b"amount=1&amount=100000").unwrap();
        assert!(dup.get("amount").is_err());
    }

    #[test]
    fn forwarded_encoding_reparses_to_the_same_pairs() {
        let body =
            FormBody::parse_strict(b"description=x;amount=99&amount=50&note=a+b%26c").unwrap();
        let again = FormBody::parse_strict(body.encode().as_bytes()).unwrap();
        assert_eq!(again, body);
        assert_eq!(body.get("amount"), Ok(Some("50")));
        assert_eq!(body.get("description"), Ok(Some("x;amount=99")));
    }
}
