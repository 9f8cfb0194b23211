//! Strict parsing of money from JSON: positive integer minor units (`i64`) and an ISO currency code.
//! Every trick (negative, zero, fractions, floats, exponent notation, strings, overflow) is an error.

use serde_json::Value;

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// No `amount` param.
    #[error("`amount` is missing")]
    Missing,
    /// A string such as `"100"`.
    #[error("`amount` must be a JSON integer of minor units, not the string `{0}`")]
    String(String),
    /// `true`, `null`, an array or an object.
    #[error("`amount` must be a JSON integer of minor units, not {0}")]
    WrongType(&'static str),
    /// A float, a fraction or exponent notation (`1e3`, `10.5`, `100.0`).
    #[error("`amount` must be an integer of minor units; `{0}` is not (no fractions, floats or exponent notation)")]
    NotAnInteger(String),
    /// Larger than `i64::MAX`.
    #[error("`amount` `{0}` is too large")]
    TooLarge(String),
    /// Below zero.
    #[error("`amount` `{0}` is negative")]
    Negative(i64),
    /// Exactly zero.
    #[error("`amount` must be positive, not zero")]
    Zero,
    /// No `currency` param.
    #[error("`currency` is missing")]
    MissingCurrency,
    /// Not three upper-case letters.
    #[error("`currency` `{0}` is not a three-letter upper-case ISO code")]
    BadCurrency(String),
}

/// Parses a positive amount of minor units (cents). Only a JSON integer is accepted;
/// `serde_json` reads `1e3`, `10.0` and integers beyond `u64` as floats, so they are refused.
pub fn parse_minor_units(value: Option<&Value>) -> Result<i64, AmountError> {
    let n = parse_integer(value.ok_or(AmountError::Missing)?)?;
    match n {
        0 => Err(AmountError::Zero),
        n if n < 0 => Err(AmountError::Negative(n)),
        n => Ok(n),
    }
}

/// Parses any JSON integer that fits `i64` (for rule comparisons). Same strictness as amounts.
pub(crate) fn parse_integer(value: &Value) -> Result<i64, AmountError> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if n.is_u64() {
                Err(AmountError::TooLarge(n.to_string()))
            } else {
                Err(AmountError::NotAnInteger(n.to_string()))
            }
        }
        Value::String(s) => Err(AmountError::String(s.chars().take(40).collect())),
        other => Err(AmountError::WrongType(type_name(other))),
    }
}

/// Parses a currency code: exactly three ASCII upper-case letters.
pub fn parse_currency(value: Option<&Value>) -> Result<&str, AmountError> {
    match value {
        None => Err(AmountError::MissingCurrency),
        Some(Value::String(s)) if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) => {
            Ok(s)
        }
        Some(Value::String(s)) => Err(AmountError::BadCurrency(s.chars().take(40).collect())),
        Some(other) => Err(AmountError::BadCurrency(type_name(other).to_string())),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(json: &str) -> Result<i64, AmountError> {
        let v: Value = serde_json::from_str(json).unwrap();
        parse_minor_units(Some(&v))
    }

    #[test]
    fn tricks_are_refused() {
        assert_eq!(parse("100"), Ok(100));
        assert_eq!(parse("0"), Err(AmountError::Zero));
        assert_eq!(parse("-1"), Err(AmountError::Negative(-1)));
        assert!(matches!(parse("1e3"), Err(AmountError::NotAnInteger(_))));
        assert!(matches!(parse("1E3"), Err(AmountError::NotAnInteger(_))));
        assert!(matches!(parse("100.0"), Err(AmountError::NotAnInteger(_))));
        assert!(matches!(parse("99.99"), Err(AmountError::NotAnInteger(_))));
        assert!(matches!(parse("-0.0"), Err(AmountError::NotAnInteger(_))));
        assert!(matches!(
            parse("9223372036854775808"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse("18446744073709551616"),
            Err(AmountError::NotAnInteger(_))
        ));
        // Out of f64 range: serde_json refuses the whole request body before we see it.
        assert!(serde_json::from_str::<Value>("1e400").is_err());
        assert!(matches!(parse("\"100\""), Err(AmountError::String(_))));
        assert!(matches!(parse("\"1e3\""), Err(AmountError::String(_))));
        assert!(matches!(parse("null"), Err(AmountError::WrongType("null"))));
        assert!(matches!(parse("true"), Err(AmountError::WrongType(_))));
        assert!(matches!(parse("[100]"), Err(AmountError::WrongType(_))));
        assert!(matches!(
            parse("{\"cents\":100}"),
            Err(AmountError::WrongType(_))
        ));
        assert_eq!(parse_minor_units(None), Err(AmountError::Missing));
        assert_eq!(parse(&i64::MAX.to_string()), Ok(i64::MAX));
    }

    #[test]
    fn currency_is_strict() {
        let ok = Value::from("USD");
        assert_eq!(parse_currency(Some(&ok)), Ok("USD"));
        for bad in ["usd", "US", "USDT", "U$D", ""] {
            assert!(parse_currency(Some(&Value::from(bad))).is_err(), "{bad}");
        }
        assert!(parse_currency(Some(&Value::from(840))).is_err());
        assert_eq!(parse_currency(None), Err(AmountError::MissingCurrency));
    }

    proptest! {
        #[test]
        fn positive_integers_parse_to_themselves(n in 1i64..=i64::MAX) {
            prop_assert_eq!(parse(&n.to_string()), Ok(n));
        }

        #[test]
        fn non_positive_integers_are_refused(n in i64::MIN..=0) {
            prop_assert!(parse(&n.to_string()).is_err());
        }

        #[test]
        fn floats_are_refused(f in proptest::num::f64::NORMAL | proptest::num::f64::ZERO) {
            let text = format!("{f:?}");
            // `{:?}` always prints a `.` or an exponent, so serde_json reads a float.
            prop_assert!(parse(&text).is_err(), "{}", text);
        }

        #[test]
        fn exponent_notation_is_refused(m in 1u32..1000, e in 0u32..20) {
            let text = format!("{m}e{e}");
            prop_assert!(parse(&text).is_err());
        }

        #[test]
        fn strings_are_always_refused(s in ".*") {
            let v = Value::String(s);
            prop_assert!(parse_minor_units(Some(&v)).is_err());
        }

        #[test]
        fn u64_beyond_i64_is_refused(n in (i64::MAX as u64 + 1)..=u64::MAX) {
            prop_assert!(matches!(parse(&n.to_string()), Err(AmountError::TooLarge(_))));
        }
    }
}
