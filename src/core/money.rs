//! Money as integer micro-dollars. The ledger never sees a float: amounts
//! arrive as decimal text (JSON numbers keep their written form) or as
//! integer minor units, and are converted with integer arithmetic only.

use std::fmt;

/// An amount of US dollars in millionths (micro-USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(u64);

/// Micro-dollars in one dollar.
pub const MICROS_PER_USD: u64 = 1_000_000;

/// Largest amount Keybrake will hold as a cap or a cost: one trillion dollars.
/// Far above any real cap, far below `u64::MAX`, so sums of thousands of
/// costs cannot overflow.
pub const MAX_MONEY: Money = Money(1_000_000_000_000 * MICROS_PER_USD);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    Empty,
    Negative,
    NotADecimal,
    TooPrecise,
    TooLarge,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::Empty => "is empty",
            MoneyError::Negative => "must not be negative",
            MoneyError::NotADecimal => "must be a decimal number of dollars such as 500 or 12.50",
            MoneyError::TooPrecise => "has more than 6 decimal places",
            MoneyError::TooLarge => "is too large",
        })
    }
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: u64) -> Money {
        Money(micros)
    }

    pub const fn micros(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// Parses a decimal dollar amount written as text: `500`, `12.5`,
    /// `0.0083`, `1e3` (JSON allows exponents). Exact: no binary rounding.
    pub fn parse_usd(text: &str) -> Result<Money, MoneyError> {
        Ok(Money(parse_decimal_scaled(text, 6)?))
    }

    /// The amount as a JSON number (for API output). Exact for any amount a
    /// person would type; display only, never fed back into the ledger.
    /// A cap or limit as the API takes it: a JSON number (its written form,
    /// so 0.1 stays exactly 0.1) or a decimal string, above zero and at most
    /// `MAX_MONEY`. The error says what is wrong, for the field's name to
    /// precede.
    pub fn from_json_limit(value: &serde_json::Value) -> Result<Money, String> {
        let m = match value {
            serde_json::Value::Number(n) => Money::parse_usd(&n.to_string()),
            serde_json::Value::String(s) => Money::parse_usd(s),
            _ => return Err("must be a number of dollars".into()),
        }
        .map_err(|e| e.to_string())?;
        if m == Money::ZERO || m > MAX_MONEY {
            return Err(format!("must be above zero and at most {MAX_MONEY}"));
        }
        Ok(m)
    }

    pub fn to_json(self) -> serde_json::Value {
        if self.0.is_multiple_of(MICROS_PER_USD) {
            return serde_json::Value::from(self.0 / MICROS_PER_USD);
        }
        serde_json::Number::from_f64(self.0 as f64 / MICROS_PER_USD as f64)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

// The ledger's wire form is the integer count of micro-dollars.
impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Money)
    }
}

/// Formats as dollars with at least two decimals and no trailing zeros past
/// them: `10.00`, `0.0083`, `1234.5678`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / MICROS_PER_USD;
        let frac = format!("{:06}", self.0 % MICROS_PER_USD);
        let trimmed = frac.trim_end_matches('0');
        let shown = if trimmed.len() < 2 {
            &frac[..2]
        } else {
            trimmed
        };
        write!(f, "{whole}.{shown}")
    }
}

/// Parses a non-negative decimal (optionally with an exponent) into an
/// integer scaled by 10^scale, refusing anything that would need rounding.
pub fn parse_decimal_scaled(text: &str, scale: u32) -> Result<u64, MoneyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(MoneyError::Empty);
    }
    if text.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => {
            let exp: i32 = text[i + 1..].parse().map_err(|_| MoneyError::NotADecimal)?;
            (&text[..i], exp)
        }
        None => (text, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(MoneyError::NotADecimal);
    }
    // All digits as one integer, with the decimal point `point` places from
    // the right; then shift by the exponent and the wanted scale.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let shift = scale as i64 + exponent as i64 - frac_part.len() as i64;
    if digits.is_empty() {
        return Ok(0);
    }
    if shift < 0 {
        let cut = (-shift) as usize;
        if cut >= digits.len() {
            return Err(MoneyError::TooPrecise);
        }
        let (keep, dropped) = digits.split_at(digits.len() - cut);
        if dropped.bytes().any(|b| b != b'0') {
            return Err(MoneyError::TooPrecise);
        }
        return keep.parse().map_err(|_| MoneyError::TooLarge);
    }
    if digits.len() as i64 + shift > 19 {
        return Err(MoneyError::TooLarge);
    }
    let base: u64 = digits.parse().map_err(|_| MoneyError::TooLarge)?;
    base.checked_mul(10u64.pow(shift as u32))
        .ok_or(MoneyError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_fractional_dollars() {
        assert_eq!(Money::parse_usd("500"), Ok(Money(500_000_000)));
        assert_eq!(Money::parse_usd("12.5"), Ok(Money(12_500_000)));
        assert_eq!(Money::parse_usd("0.0083"), Ok(Money(8_300)));
        assert_eq!(Money::parse_usd("0.000001"), Ok(Money(1)));
        assert_eq!(Money::parse_usd("1e3"), Ok(Money(1_000_000_000)));
        assert_eq!(Money::parse_usd("2.5E-2"), Ok(Money(25_000)));
        assert_eq!(Money::parse_usd("0"), Ok(Money(0)));
        assert_eq!(Money::parse_usd("0.10"), Ok(Money(100_000)));
    }

    #[test]
    fn rejects_what_it_cannot_hold_exactly() {
        assert_eq!(Money::parse_usd("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::parse_usd("0.0000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse_usd("1.2.3"), Err(MoneyError::NotADecimal));
        assert_eq!(Money::parse_usd("abc"), Err(MoneyError::NotADecimal));
        assert_eq!(Money::parse_usd(""), Err(MoneyError::Empty));
        assert_eq!(Money::parse_usd("."), Err(MoneyError::NotADecimal));
        assert_eq!(Money::parse_usd("1e30"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse_usd("NaN"), Err(MoneyError::NotADecimal));
    }

    #[test]
    fn displays_dollars() {
        assert_eq!(Money(10_000_000).to_string(), "10.00");
        assert_eq!(Money(8_300).to_string(), "0.0083");
        assert_eq!(Money(1_234_567_800).to_string(), "1234.5678");
        assert_eq!(Money(0).to_string(), "0.00");
        assert_eq!(Money(1).to_string(), "0.000001");
    }

    #[test]
    fn json_output_is_the_written_amount() {
        assert_eq!(Money(500_000_000).to_json().to_string(), "500");
        assert_eq!(Money(100_000).to_json().to_string(), "0.1");
    }
}
