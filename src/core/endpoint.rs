//! Endpoint allowlists and the canonical form of a proxied path.
//!
//! The allowlist is matched against the path exactly as it will be forwarded,
//! so any path whose meaning could change between here and the vendor is
//! refused rather than normalised: dot segments, empty segments, percent
//! escapes, backslashes and control characters never reach the matcher.

use std::fmt;

/// A vendor path that is safe to match and forward: `/v1/payment_intents/pi_1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath(String);

impl CanonicalPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/')
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    Empty,
    NoLeadingSlash,
    EmptySegment,
    DotSegment,
    Encoded,
    Character(char),
    TooLong,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("path is empty"),
            PathError::NoLeadingSlash => f.write_str("path must start with /"),
            PathError::EmptySegment => {
                f.write_str("path has an empty segment (// or a trailing /)")
            }
            PathError::DotSegment => f.write_str("path has a . or .. segment"),
            PathError::Encoded => f.write_str("path has a percent-encoded character"),
            PathError::Character(c) => write!(f, "path has a character that is not allowed: {c:?}"),
            PathError::TooLong => f.write_str("path is longer than 1024 characters"),
        }
    }
}

const MAX_PATH: usize = 1024;

/// Characters allowed in a path segment: RFC 3986 unreserved plus a few
/// sub-delims vendors use in ids (`:`, `@`, `+`, `,`, `=`). No `%`: an escape
/// could decode to `/` or `.` on the far side.
fn segment_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | ':' | '@' | '+' | ',' | '=')
}

/// Validates a path (no query string) as it arrived from the client.
pub fn canonicalize(raw: &str) -> Result<CanonicalPath, PathError> {
    if raw.is_empty() {
        return Err(PathError::Empty);
    }
    if raw.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let rest = raw.strip_prefix('/').ok_or(PathError::NoLeadingSlash)?;
    for segment in rest.split('/') {
        check_segment(segment)?;
    }
    Ok(CanonicalPath(raw.to_owned()))
}

fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment);
    }
    if let Some(c) = segment.chars().find(|&c| !segment_char_ok(c)) {
        return Err(if c == '%' {
            PathError::Encoded
        } else {
            PathError::Character(c)
        });
    }
    Ok(())
}

/// One allowlist entry: `[METHOD ]/literal/*/more/**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPattern {
    method: Option<String>,
    segments: Vec<PatternSegment>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternSegment {
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// trailing `**`: one or more segments.
    Rest,
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl EndpointPattern {
    pub fn parse(text: &str) -> Result<EndpointPattern, String> {
        if text.len() > MAX_PATH {
            return Err(format!("patterns are at most {MAX_PATH} characters"));
        }
        let trimmed = text.trim();
        let (method, path) = match trimmed.split_once(' ') {
            Some((m, p)) => {
                let m = m.to_ascii_uppercase();
                if !METHODS.contains(&m.as_str()) {
                    return Err(format!("{text:?}: unknown method {m:?}"));
                }
                (Some(m), p.trim())
            }
            None => (None, trimmed),
        };
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| format!("{text:?}: must start with / (after an optional method)"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = match *part {
                "**" if i + 1 == parts.len() && i > 0 => PatternSegment::Rest,
                "**" => {
                    return Err(format!(
                        "{text:?}: ** is only allowed as the last segment, after a literal prefix"
                    ))
                }
                "*" => PatternSegment::One,
                literal => {
                    check_segment(literal).map_err(|e| format!("{text:?}: {e}"))?;
                    if literal.contains('*') {
                        return Err(format!("{text:?}: * must be a whole segment"));
                    }
                    PatternSegment::Literal(literal.to_owned())
                }
            };
            segments.push(segment);
        }
        let text = match &method {
            Some(m) => format!("{m} {path}"),
            None => path.to_owned(),
        };
        Ok(EndpointPattern {
            method,
            segments,
            text,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether every call `other` matches, this pattern matches too: how an
    /// issuer's endpoint ceiling bounds the keys it issues.
    pub fn covers(&self, other: &EndpointPattern) -> bool {
        let method_ok = match (&self.method, &other.method) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(m), Some(o)) => m == o || (m == "GET" && o == "HEAD"),
        };
        if !method_ok {
            return false;
        }
        let mut theirs = other.segments.iter();
        for mine in &self.segments {
            let Some(t) = theirs.next() else {
                return false;
            };
            match (mine, t) {
                // One or more segments: whatever remains of theirs is at least one.
                (PatternSegment::Rest, _) => return true,
                (PatternSegment::One, PatternSegment::Literal(_) | PatternSegment::One) => {}
                (PatternSegment::Literal(a), PatternSegment::Literal(b)) if a == b => {}
                _ => return false,
            }
        }
        theirs.next().is_none()
    }

    pub fn matches(&self, method: &str, path: &CanonicalPath) -> bool {
        if let Some(m) = &self.method {
            let same = m.eq_ignore_ascii_case(method)
                // HEAD is a GET without a body; allowing GET allows HEAD.
                || (m == "GET" && method.eq_ignore_ascii_case("HEAD"));
            if !same {
                return false;
            }
        }
        let mut path_segments = path.segments();
        for pattern in &self.segments {
            match pattern {
                PatternSegment::Rest => return path_segments.next().is_some(),
                PatternSegment::One => {
                    if path_segments.next().is_none() {
                        return false;
                    }
                }
                PatternSegment::Literal(lit) => {
                    if path_segments.next() != Some(lit.as_str()) {
                        return false;
                    }
                }
            }
        }
        path_segments.next().is_none()
    }
}

/// A key's whole allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist(Vec<EndpointPattern>);

impl Allowlist {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Allowlist, String> {
        if entries.is_empty() {
            return Err("must list at least one endpoint".into());
        }
        if entries.len() > 100 {
            return Err("must list at most 100 endpoints".into());
        }
        entries
            .iter()
            .map(|e| EndpointPattern::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Allowlist)
    }

    pub fn allows(&self, method: &str, path: &CanonicalPath) -> bool {
        self.0.iter().any(|p| p.matches(method, path))
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(|p| p.as_str().to_owned()).collect()
    }

    /// The first entry no pattern of `ceiling` covers, if any.
    pub fn outside<'a>(&'a self, ceiling: &Allowlist) -> Option<&'a str> {
        self.0
            .iter()
            .find(|p| !ceiling.0.iter().any(|c| c.covers(p)))
            .map(EndpointPattern::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(patterns: &[&str], method: &str, path: &str) -> bool {
        let list = Allowlist::parse(patterns).unwrap();
        list.allows(method, &canonicalize(path).unwrap())
    }

    #[test]
    fn literal_matches_only_itself() {
        let p = ["/v1/payment_intents"];
        assert!(allows(&p, "POST", "/v1/payment_intents"));
        assert!(!allows(&p, "POST", "/v1/payment_intents/pi_1"));
        assert!(!allows(&p, "POST", "/v1/payment_intent"));
        assert!(!allows(&p, "POST", "/v1"));
    }

    #[test]
    fn star_is_exactly_one_segment() {
        let p = ["/v1/payment_intents/*"];
        assert!(allows(&p, "POST", "/v1/payment_intents/pi_1"));
        assert!(!allows(&p, "POST", "/v1/payment_intents"));
        assert!(!allows(&p, "POST", "/v1/payment_intents/pi_1/confirm"));
        let mid = ["/v1/payment_intents/*/confirm"];
        assert!(allows(&mid, "POST", "/v1/payment_intents/pi_1/confirm"));
        assert!(!allows(&mid, "POST", "/v1/payment_intents/pi_1/capture"));
    }

    #[test]
    fn double_star_is_one_or_more_trailing_segments() {
        let p = ["/v1/customers/**"];
        assert!(allows(&p, "GET", "/v1/customers/cus_1"));
        assert!(allows(&p, "GET", "/v1/customers/cus_1/sources/src_1"));
        assert!(!allows(&p, "GET", "/v1/customers"));
        assert!(Allowlist::parse(&["/**"]).is_err());
        assert!(Allowlist::parse(&["/v1/**/x"]).is_err());
    }

    #[test]
    fn method_prefix_restricts_method() {
        let p = ["POST /v1/payment_intents", "GET /v1/payment_intents/*"];
        assert!(allows(&p, "POST", "/v1/payment_intents"));
        assert!(!allows(&p, "GET", "/v1/payment_intents"));
        assert!(allows(&p, "GET", "/v1/payment_intents/pi_1"));
        assert!(allows(&p, "HEAD", "/v1/payment_intents/pi_1"));
        assert!(!allows(&p, "POST", "/v1/payment_intents/pi_1"));
        assert!(allows(&["post /v1/x"], "POST", "/v1/x"));
        assert!(Allowlist::parse(&["FETCH /v1/x"]).is_err());
    }

    #[test]
    fn ambiguous_paths_never_reach_the_matcher() {
        for bad in [
            "/v1/payment_intents/../customers",
            "/v1/./payment_intents",
            "/v1//payment_intents",
            "/v1/payment_intents/",
            "/v1/payment_intents/%2e%2e/customers",
            "/v1/payment_intents%2Fpi_1",
            "/v1/payment_intents/pi_1%00",
            "/v1\\payment_intents",
            "/v1/payment intents",
            "v1/payment_intents",
            "",
        ] {
            assert!(canonicalize(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(canonicalize("/v1/x%41").unwrap_err(), PathError::Encoded);
    }

    #[test]
    fn patterns_reject_bad_segments() {
        assert!(Allowlist::parse(&["/v1/../x"]).is_err());
        assert!(Allowlist::parse(&["/v1/pi_*"]).is_err());
        assert!(Allowlist::parse(&["v1/x"]).is_err());
        assert!(Allowlist::parse(&[format!("/v1/{}", "a".repeat(1100))]).is_err());
        assert!(Allowlist::parse::<&str>(&[]).is_err());
    }

    #[test]
    fn ceilings_cover_narrower_patterns_only() {
        let p = |s: &str| EndpointPattern::parse(s).unwrap();
        let covers = |c: &str, k: &str| p(c).covers(&p(k));
        assert!(covers("/v1/payment_intents", "/v1/payment_intents"));
        assert!(covers("/v1/payment_intents", "POST /v1/payment_intents"));
        assert!(!covers("POST /v1/payment_intents", "/v1/payment_intents"));
        assert!(covers("GET /v1/x", "HEAD /v1/x"));
        assert!(!covers("HEAD /v1/x", "GET /v1/x"));
        assert!(covers("/v1/payment_intents/**", "/v1/payment_intents/*"));
        assert!(covers(
            "/v1/payment_intents/**",
            "/v1/payment_intents/*/capture"
        ));
        assert!(covers(
            "/v1/payment_intents/**",
            "/v1/payment_intents/pi_1/**"
        ));
        assert!(!covers("/v1/payment_intents/**", "/v1/payment_intents"));
        assert!(covers("/v1/*", "/v1/customers"));
        assert!(!covers("/v1/*", "/v1/customers/**"));
        assert!(!covers("/v1/*", "/v1/customers/cus_1"));
        assert!(!covers("/v1/customers", "/v1/*"));
        assert!(!covers("/v1/payment_intents/*", "/v1/payment_intents/**"));
        let ceiling =
            Allowlist::parse(&["POST /v1/payment_intents", "/v1/payment_intents/**"]).unwrap();
        let inside =
            Allowlist::parse(&["POST /v1/payment_intents", "/v1/payment_intents/*/capture"])
                .unwrap();
        assert_eq!(inside.outside(&ceiling), None);
        let wider = Allowlist::parse(&["/v1/payment_intents", "/v1/refunds"]).unwrap();
        assert_eq!(wider.outside(&ceiling), Some("/v1/payment_intents"));
    }
}
