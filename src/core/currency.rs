//! Converting a vendor amount in a currency's minor units into micro-USD.
//!
//! Stripe states amounts in the smallest unit of the currency: cents for USD,
//! yen for JPY (zero-decimal), fils for KWD (three-decimal). Non-USD
//! currencies go through an operator-configured rate table; an unknown
//! currency cannot be priced and is refused.

use std::collections::HashMap;

use super::money::{parse_decimal_scaled, Money, MAX_MONEY};

const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

/// Decimal places of a currency's minor unit, as Stripe counts them.
pub fn minor_unit_digits(currency: &str) -> u32 {
    if ZERO_DECIMAL.contains(&currency) {
        0
    } else if THREE_DECIMAL.contains(&currency) {
        3
    } else {
        2
    }
}

/// USD per one major unit of each currency, in micro-USD. USD is always 1.
#[derive(Debug, Clone, Default)]
pub struct RateTable(HashMap<String, u64>);

impl RateTable {
    /// Parses `{"eur": "1.08", "jpy": 0.0067}`: currency code to dollars per
    /// unit, as a string or a number.
    pub fn parse(json: &str) -> Result<RateTable, String> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| format!("rate table is not a JSON object: {e}"))?;
        let mut rates = HashMap::with_capacity(map.len());
        for (code, value) in map {
            let text = match &value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return Err(format!("rate for {code:?} must be a number")),
            };
            let micros =
                parse_decimal_scaled(&text, 6).map_err(|e| format!("rate for {code:?} {e}"))?;
            if micros == 0 {
                return Err(format!("rate for {code:?} must be above zero"));
            }
            rates.insert(code.to_ascii_lowercase(), micros);
        }
        Ok(RateTable(rates))
    }

    fn micros_per_unit(&self, currency: &str) -> Option<u64> {
        if currency == "usd" {
            return Some(1_000_000);
        }
        self.0.get(currency).copied()
    }

    /// Converts `minor` units of `currency` to USD, rounding up to the next
    /// micro-dollar so a cap is never under-charged.
    pub fn to_usd(&self, minor: u64, currency: &str) -> Result<Money, String> {
        let currency = currency.to_ascii_lowercase();
        let rate = self
            .micros_per_unit(&currency)
            .ok_or_else(|| format!("no USD rate is configured for currency {currency:?}"))?;
        let scale = 10u128.pow(minor_unit_digits(&currency));
        let micros = (minor as u128 * rate as u128).div_ceil(scale);
        if micros > MAX_MONEY.micros() as u128 {
            return Err("amount is too large".into());
        }
        Ok(Money::from_micros(micros as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RateTable {
        RateTable::parse(r#"{"eur":"1.08","jpy":0.0067,"kwd":"3.25"}"#).unwrap()
    }

    #[test]
    fn usd_cents() {
        assert_eq!(
            table().to_usd(2000, "usd"),
            Ok(Money::from_micros(20_000_000))
        );
        assert_eq!(table().to_usd(1, "USD"), Ok(Money::from_micros(10_000)));
    }

    #[test]
    fn zero_and_three_decimal_currencies() {
        // ¥1000 at $0.0067 = $6.70
        assert_eq!(
            table().to_usd(1000, "jpy"),
            Ok(Money::from_micros(6_700_000))
        );
        // 1.500 KWD at $3.25 = $4.875
        assert_eq!(
            table().to_usd(1500, "kwd"),
            Ok(Money::from_micros(4_875_000))
        );
        // €12.34 at $1.08 = $13.3272
        assert_eq!(
            table().to_usd(1234, "eur"),
            Ok(Money::from_micros(13_327_200))
        );
    }

    #[test]
    fn rounds_up_never_down() {
        let t = RateTable::parse(r#"{"eur":"1.000001"}"#).unwrap();
        // 1 cent * 1.000001 = 0.01000001 USD -> 10000.01 micros -> 10001
        assert_eq!(t.to_usd(1, "eur"), Ok(Money::from_micros(10_001)));
    }

    #[test]
    fn unknown_currency_is_unpriceable() {
        assert!(table().to_usd(100, "xyz").is_err());
    }

    #[test]
    fn bad_tables_are_refused() {
        assert!(RateTable::parse("[]").is_err());
        assert!(RateTable::parse(r#"{"eur": -1}"#).is_err());
        assert!(RateTable::parse(r#"{"eur": 0}"#).is_err());
        assert!(RateTable::parse(r#"{"eur": true}"#).is_err());
    }
}
