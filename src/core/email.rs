//! Email address lists as a mail API reads them: `a@x.io, "Doe, Jo"
//! <jo@y.io>` is two recipients, not one. Every address counts (and is
//! priced); anything Keybrake cannot read unambiguously is refused.

/// The bare addresses of a comma-separated list, in order.
pub fn addresses(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let bytes = list.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if !angle => quoted = !quoted,
            b'<' if !quoted => {
                if angle {
                    return Err(format!("{list:?} has a nested <"));
                }
                angle = true;
            }
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                out.push(one(&list[start..i])?);
                start = i + 1;
            }
            b';' if !quoted => return Err(format!("{list:?}: separate addresses with commas")),
            _ => {}
        }
    }
    if quoted || angle {
        return Err(format!("{list:?} has an unclosed quote or <"));
    }
    out.push(one(&list[start..])?);
    Ok(out)
}

/// One entry: `addr` or `Display Name <addr>`.
fn one(entry: &str) -> Result<String, String> {
    let entry = entry.trim();
    let address = match entry.find('<') {
        Some(open) => {
            let rest = &entry[open + 1..];
            let close = rest
                .find('>')
                .ok_or_else(|| format!("{entry:?} has no closing >"))?;
            if !rest[close + 1..].trim().is_empty() {
                return Err(format!("{entry:?} has text after the address"));
            }
            &rest[..close]
        }
        None => entry,
    };
    if valid(address) {
        Ok(address.to_owned())
    } else {
        Err(format!("{entry:?} is not an email address"))
    }
}

/// `local@domain`: one `@`, nothing blank, no spaces, quotes or brackets.
fn valid(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "\"<>,;()[]\\".contains(c))
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_counts() {
        assert_eq!(addresses("a@x.io").unwrap(), vec!["a@x.io"]);
        assert_eq!(
            addresses("a@x.io, b@evil.test,c@x.io").unwrap(),
            vec!["a@x.io", "b@evil.test", "c@x.io"]
        );
        assert_eq!(
            addresses(r#""Doe, Jo" <jo@y.io>, Ann <ann@x.io>"#).unwrap(),
            vec!["jo@y.io", "ann@x.io"]
        );
    }

    #[test]
    fn ambiguous_lists_are_refused() {
        for bad in [
            "",
            "a@x.io,",
            "a@x.io; b@y.io",
            "nobody",
            "a@b@c.io",
            "Ann <ann@x.io",
            "\"Ann <ann@x.io>",
            "Ann <ann@x.io> extra",
            "a b@x.io",
            "a@x_io.com",
            "a@localhost",
            "<<a@x.io>>",
        ] {
            assert!(addresses(bad).is_err(), "{bad:?}");
        }
    }
}
