//! Property tests of the parsers that read untrusted input. `cargo test`
//! runs 256 cases each; `scripts/fuzz.sh` runs many more through
//! `PROPTEST_CASES`.

use proptest::prelude::*;

use super::body::{read_body, BodyShape, Params, FORM, JSON};
use super::duration::{format_secs, parse_duration_secs};
use super::endpoint::{canonicalize, Allowlist, EndpointPattern};
use super::form::{json_to_form, FormBody, KeyGrammar};
use super::money::Money;
use super::sms;
use super::time::{parse_instant, to_rfc3339};
use super::token::{mint_token, parse_token, KeyId};

/// Strings biased toward what path and pattern parsers find interesting.
fn pathish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("/".to_owned()),
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just("%2e".to_owned()),
            Just("%2F".to_owned()),
            Just("\\".to_owned()),
            Just("*".to_owned()),
            Just("**".to_owned()),
            Just("v1".to_owned()),
            "[a-z_]{1,8}",
            any::<char>().prop_map(String::from),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

/// Form keys, well-formed or folded the ways Rack-style parsers fold them.
fn form_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("amount".to_owned()),
        Just("amount%5D".to_owned()),
        Just("%5Bamount%5D".to_owned()),
        Just("amount]".to_owned()),
        Just("customer".to_owned()),
        Just("metadata[a]".to_owned()),
        Just("metadata%5Bb%5D".to_owned()),
        Just("expand[]".to_owned()),
        "[a-z_\\[\\]%5BD]{1,10}",
    ]
}

/// Values with separators and escapes in them.
fn form_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,9}",
        "[a-z;=&+% ]{0,12}",
        Just("%zz".to_owned()),
        Just("a%3Bamount%3D9".to_owned()),
        ".{0,8}",
    ]
}

/// Patterns over a tiny alphabet, so covering pairs and matching paths
/// turn up often: `[METHOD ]/a/*/b/**`.
fn small_pattern() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(""), Just("GET "), Just("POST "), Just("HEAD ")],
        prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("*")], 1..4),
        any::<bool>(),
    )
        .prop_map(|(m, segs, rest)| {
            format!("{m}/{}{}", segs.join("/"), if rest { "/**" } else { "" })
        })
}

fn small_path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 1..6)
        .prop_map(|segs| format!("/{}", segs.join("/")))
}

/// Whether a pattern's method prefix lets `method` through.
fn method_ok(pattern: &str, method: &str) -> bool {
    match pattern.split_once(' ') {
        None => true,
        Some((m, _)) => m == method || (m == "GET" && method == "HEAD"),
    }
}

/// A plain reading of a canonical pattern (`[METHOD ]/seg/*/…[/**]`):
/// the model `Allowlist::allows` is checked against.
fn admits(pattern: &str, method: &str, path: &str) -> bool {
    let (m, pat) = match pattern.split_once(' ') {
        Some((m, p)) => (Some(m), p),
        None => (None, pattern),
    };
    let method_ok = m.is_none_or(|m| {
        m.eq_ignore_ascii_case(method) || (m == "GET" && method.eq_ignore_ascii_case("HEAD"))
    });
    fn walk(pat: &[&str], path: &[&str]) -> bool {
        match (pat, path) {
            (["**"], rest) => !rest.is_empty(),
            ([], []) => true,
            ([p, pat @ ..], [s, path @ ..]) => (*p == "*" || p == s) && walk(pat, path),
            _ => false,
        }
    }
    let segments = |t: &'_ str| -> Vec<String> {
        t.trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect()
    };
    let (pat, path) = (segments(pat), segments(path));
    let pat: Vec<&str> = pat.iter().map(String::as_str).collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    method_ok && walk(&pat, &path)
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![Just("GET"), Just("HEAD"), Just("POST")].prop_map(str::to_owned)
}

proptest! {
    #[test]
    fn canonical_paths_hold_nothing_ambiguous(raw in pathish()) {
        if let Ok(path) = canonicalize(&raw) {
            let s = path.as_str();
            prop_assert!(s.starts_with('/'));
            prop_assert!(!s.contains("//") && !s.contains('%') && !s.contains('\\'));
            for segment in path.segments() {
                prop_assert!(!segment.is_empty() && segment != "." && segment != "..");
            }
        }
    }

    #[test]
    fn a_literal_pattern_matches_exactly_its_own_path(a in pathish(), b in pathish()) {
        if let (Ok(pa), Ok(pb)) = (canonicalize(&a), canonicalize(&b)) {
            if let Ok(pattern) = EndpointPattern::parse(pa.as_str()) {
                prop_assert!(pattern.matches("GET", &pa));
                prop_assert_eq!(pattern.matches("GET", &pb), pa == pb);
            }
        }
    }

    /// Whatever odd text became a pattern, it admits exactly the paths a
    /// plain reading of its canonical form does.
    #[test]
    fn patterns_admit_what_their_canonical_form_says(
        p in prop_oneof![pathish(), small_pattern()],
        raw in prop_oneof![pathish(), small_path()],
        method in prop_oneof![method(), "[A-Z]{3,7}".prop_map(String::from)],
    ) {
        if let (Ok(list), Ok(path)) = (Allowlist::parse(&[p]), canonicalize(&raw)) {
            let entries = list.entries();
            prop_assert_eq!(entries.len(), 1);
            prop_assert_eq!(list.allows(&method, &path), admits(&entries[0], &method, path.as_str()));
        }
    }

    /// Any body accepted is UTF-8 and reads back, re-encoded, to the same
    /// pairs in the same order (what Keybrake priced is what it forwards).
    #[test]
    fn accepted_form_bodies_reencode_to_the_same_pairs(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(form) = FormBody::parse_strict(&body) {
            prop_assert!(std::str::from_utf8(&body).is_ok());
            let again = FormBody::parse_strict(form.encode().as_bytes()).unwrap();
            prop_assert!(again.pairs().eq(form.pairs()));
            prop_assert_eq!(again.get("amount"), form.get("amount"));
        }
    }

    #[test]
    fn json_objects_round_trip_through_stripe_forms(fields in prop::collection::btree_map("[a-z_]{1,10}", ".{0,20}", 0..8)) {
        let object: serde_json::Map<String, serde_json::Value> =
            fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        let form = json_to_form(&object, KeyGrammar::Bracketed).unwrap().encode();
        let back = FormBody::parse_strict(form.as_bytes()).unwrap();
        for (k, v) in &fields {
            prop_assert_eq!(back.get(k).unwrap(), Some(v.as_str()));
        }
    }

    /// Parser parity: whatever body Keybrake accepts, the body it forwards
    /// reads back to exactly the parameters it priced.
    #[test]
    fn forwarded_bodies_reparse_to_the_priced_parameters(
        pairs in prop::collection::vec((form_key(), form_text()), 0..8),
        separators in prop::collection::vec(prop_oneof![Just("&"), Just(";"), Just("&&")], 8),
        as_json in any::<bool>(),
    ) {
        let stripe = BodyShape::Form { keys: KeyGrammar::Bracketed, repeatable: |_| false };
        let (ct, body) = if as_json {
            let object: serde_json::Map<String, serde_json::Value> =
                pairs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            (JSON, serde_json::Value::Object(object).to_string())
        } else {
            let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut body = String::new();
            for (i, part) in raw.iter().enumerate() {
                if i > 0 { body.push_str(separators[i % separators.len()]); }
                body.push_str(part);
            }
            (FORM, body)
        };
        if let Ok(params) = read_body(stripe, "POST", Some(ct), body.as_bytes()) {
            let (forwarded, forwarded_ct) = params.encode();
            let again = read_body(stripe, "POST", forwarded_ct, &forwarded).unwrap();
            prop_assert_eq!(&again, &params);
            // No key a Rack-style parser would fold reaches the vendor.
            if let Params::Form(form) = &again {
                for (k, _) in form.pairs() {
                    prop_assert!(super::form::check_key(KeyGrammar::Bracketed, k).is_ok());
                }
            }
        }
    }

    #[test]
    fn durations_parse_what_they_format(secs in 1u64..100_000_000) {
        prop_assert_eq!(parse_duration_secs(&format_secs(secs)), Ok(secs));
    }

    /// Any text accepted is a positive whole number of a unit, and names
    /// the same lifetime as its canonical spelling.
    #[test]
    fn accepted_durations_are_positive_and_canonical(text in "[0-9]{0,10}[smhdx]?|.{0,16}") {
        if let Ok(secs) = parse_duration_secs(&text) {
            prop_assert!(secs >= 1);
            let t = text.trim();
            prop_assert!(t[..t.len() - 1].bytes().all(|b| b.is_ascii_digit()), "{:?}", text);
            prop_assert_eq!(parse_duration_secs(&format_secs(secs)), Ok(secs));
        }
    }

    #[test]
    fn money_parses_what_it_prints(micros in 0u64..1_000_000_000_000_000) {
        let m = Money::from_micros(micros);
        prop_assert_eq!(Money::parse_usd(&m.to_string()), Ok(m));
    }

    /// Any amount accepted is a decimal number as JSON writes one (digits,
    /// a point, an exponent; never negative) and prints back to itself.
    #[test]
    fn accepted_money_is_a_decimal_and_prints_back(text in "[-+0-9.eE]{0,24}|.{0,24}") {
        if let Ok(m) = Money::parse_usd(&text) {
            let t = text.trim();
            prop_assert!(!t.starts_with('-') && t.bytes().all(|b| b"+0123456789.eE".contains(&b)), "{:?}", text);
            prop_assert_eq!(Money::parse_usd(&m.to_string()), Ok(m));
        }
    }

    #[test]
    fn instants_round_trip(ms in 0i64..32_503_680_000_000) {
        prop_assert_eq!(parse_instant(&to_rfc3339(ms)), Some(ms));
    }

    /// Any instant accepted within the years Keybrake prints reads back
    /// from its RFC 3339 form.
    #[test]
    fn accepted_instants_round_trip(text in "[0-9]{1,14}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{0,12}Z?|.{0,40}") {
        if let Some(ms) = parse_instant(&text) {
            if (0..32_503_680_000_000).contains(&ms) {
                prop_assert_eq!(parse_instant(&to_rfc3339(ms)), Some(ms), "{:?}", text);
            }
        }
    }

    /// Text that is not a minted token never parses: a guess would need its
    /// checksum too.
    #[test]
    fn only_minted_tokens_parse(text in "kbk_[0-9a-f]{24}_[0-9a-f]{48,60}|kbk_[0-9a-f_]{0,80}|.{0,80}") {
        prop_assert!(parse_token(&text).is_err(), "{:?} parsed", text);
    }

    #[test]
    fn minted_tokens_survive_only_intact(flip in 4usize..76, with in "[0-9a-f]") {
        let id = KeyId::generate();
        let token = mint_token(&id).token;
        prop_assert_eq!(parse_token(&token), Ok(id));
        let mut bytes = token.clone().into_bytes();
        if flip != 28 && bytes[flip] != with.as_bytes()[0] {
            bytes[flip] = with.as_bytes()[0];
            prop_assert!(parse_token(&String::from_utf8(bytes).unwrap()).is_err());
        }
    }

    #[test]
    fn sms_segments_are_sane(body in ".{0,400}") {
        let n = sms::segments(&body);
        prop_assert!(n >= 1);
        prop_assert!(n as usize <= body.encode_utf16().count().max(1) * 2);
    }

    /// Issuer ceilings rest on `covers`: whenever a ceiling covers a key's
    /// pattern, every call the key's pattern lets through, the ceiling lets
    /// through too.
    #[test]
    fn a_covering_pattern_matches_everything_the_covered_one_does(
        ceiling in small_pattern(), key in small_pattern(), fill in small_path(), method in method()
    ) {
        // A path the key's pattern matches, by construction: each `*` and
        // the trailing `**` filled from `fill`.
        let mut fills = fill.trim_start_matches('/').split('/').cycle();
        let key_path = key.rsplit(' ').next().unwrap_or(&key);
        let path: String = key_path
            .trim_start_matches('/')
            .split('/')
            .map(|seg| match seg {
                "*" => fills.next().unwrap_or("c").to_owned(),
                "**" => format!("{}/{}", fills.next().unwrap_or("c"), fills.next().unwrap_or("c")),
                lit => lit.to_owned(),
            })
            .fold(String::new(), |acc, seg| acc + "/" + &seg);
        if let (Ok(c), Ok(k), Ok(p)) = (EndpointPattern::parse(&ceiling), EndpointPattern::parse(&key), canonicalize(&path)) {
            prop_assert!(k.matches(&method, &p) || !method_ok(&key, &method), "{} should match {} {}", key, method, path);
            if c.covers(&k) && k.matches(&method, &p) {
                prop_assert!(c.matches(&method, &p), "{} covers {} but not {} {}", ceiling, key, method, path);
            }
        }
    }
}
