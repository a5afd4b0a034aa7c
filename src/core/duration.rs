//! Key lifetimes written the way people say them: `30s`, `5m`, `2h`, `1d`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Malformed,
    Zero,
    TooLong { max_secs: u64 },
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Malformed => f.write_str(
                "must be a whole number followed by s, m, h or d (e.g. \"30s\", \"5m\", \"2h\", \"1d\")",
            ),
            DurationError::Zero => f.write_str("must be longer than zero"),
            DurationError::TooLong { max_secs } => {
                write!(f, "must be at most {}", format_secs(*max_secs))
            }
        }
    }
}

/// Parses `<digits><unit>` into seconds. Units: s, m, h, d.
pub fn parse_duration_secs(text: &str) -> Result<u64, DurationError> {
    let text = text.trim();
    let unit = text.chars().last().ok_or(DurationError::Malformed)?;
    let digits = &text[..text.len() - unit.len_utf8()];
    let per_unit: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(DurationError::Malformed),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::Malformed);
    }
    let n: u64 = digits.parse().map_err(|_| DurationError::Malformed)?;
    if n == 0 {
        return Err(DurationError::Zero);
    }
    Ok(n * per_unit)
}

/// Parses and bounds a lifetime by the configured maximum.
pub fn parse_ttl_secs(text: &str, max_secs: u64) -> Result<u64, DurationError> {
    let secs = parse_duration_secs(text)?;
    if secs > max_secs {
        return Err(DurationError::TooLong { max_secs });
    }
    Ok(secs)
}

/// The shortest exact spelling of a number of seconds: `90s`, `5m`, `1d`.
pub fn format_secs(secs: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration_secs("30s"), Ok(30));
        assert_eq!(parse_duration_secs("5m"), Ok(300));
        assert_eq!(parse_duration_secs("2h"), Ok(7_200));
        assert_eq!(parse_duration_secs("1d"), Ok(86_400));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "s",
            "5",
            "5x",
            "-5m",
            "1.5h",
            "5 m",
            "m5",
            "5mm",
            "9999999999s",
        ] {
            assert_eq!(
                parse_duration_secs(bad),
                Err(DurationError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(parse_duration_secs("0m"), Err(DurationError::Zero));
    }

    #[test]
    fn bounds_by_maximum() {
        assert_eq!(parse_ttl_secs("24h", 86_400), Ok(86_400));
        assert_eq!(
            parse_ttl_secs("25h", 86_400),
            Err(DurationError::TooLong { max_secs: 86_400 })
        );
        assert_eq!(
            DurationError::TooLong { max_secs: 86_400 }.to_string(),
            "must be at most 1d"
        );
    }

    #[test]
    fn formats_shortest() {
        assert_eq!(format_secs(90), "90s");
        assert_eq!(format_secs(300), "5m");
        assert_eq!(format_secs(7_200), "2h");
        assert_eq!(format_secs(86_400), "1d");
    }
}
