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

    #[test]
    fn patterns_never_panic_and_never_match_ambiguity(p in pathish(), raw in pathish(), method in "[A-Z]{3,7}") {
        if let Ok(list) = Allowlist::parse(&[p]) {
            if let Ok(path) = canonicalize(&raw) {
                let _ = list.allows(&method, &path);
            }
        }
    }

    #[test]
    fn form_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(form) = FormBody::parse_strict(&body) {
            let _ = form.get("amount");
            prop_assert!(std::str::from_utf8(&body).is_ok());
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

    #[test]
    fn durations_never_panic(text in ".{0,16}") {
        let _ = parse_duration_secs(&text);
    }

    #[test]
    fn money_parses_what_it_prints(micros in 0u64..1_000_000_000_000_000) {
        let m = Money::from_micros(micros);
        prop_assert_eq!(Money::parse_usd(&m.to_string()), Ok(m));
    }

    #[test]
    fn money_never_panics(text in "[-+0-9.eE]{0,24}|.{0,24}") {
        let _ = Money::parse_usd(&text);
    }

    #[test]
    fn instants_round_trip(ms in 0i64..32_503_680_000_000) {
        prop_assert_eq!(parse_instant(&to_rfc3339(ms)), Some(ms));
    }

    #[test]
    fn instants_never_panic(text in ".{0,40}") {
        let _ = parse_instant(&text);
    }

    #[test]
    fn tokens_never_panic_and_only_minted_ones_parse(text in "kbk_[0-9a-f_]{0,80}|.{0,80}") {
        let _ = parse_token(&text);
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
