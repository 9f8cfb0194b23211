//! `Timestamp`: an RFC 3339 UTC instant with a fixed microsecond form, `2026-11-23T13:08:41.123456Z`.
//!
//! The form is fixed-width (always six fraction digits, always `Z`) so that one instant has
//! exactly one encoding inside hashed entries, and so that text order is time order.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Why a string is not a timestamp.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimestampError {
    /// Not RFC 3339 at all.
    #[error("`{0}` is not an RFC 3339 time (e.g. `2026-11-23T13:08:41Z`)")]
    NotRfc3339(String),
    /// Outside years 0000..=9999 or the microsecond range of an `i64`.
    #[error("`{0}` is out of range")]
    OutOfRange(String),
    /// Valid RFC 3339, but not the canonical form an entry must use.
    #[error("`{0}` is not in the canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ`")]
    NotCanonical(String),
}

/// An instant in UTC with microsecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_micros: i64,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self {
            unix_micros: Utc::now().timestamp_micros(),
        }
    }

    /// From microseconds since the Unix epoch (years 0000..=9999 only).
    pub fn from_unix_micros(unix_micros: i64) -> Result<Self, TimestampError> {
        let ts = Self { unix_micros };
        ts.datetime()?;
        Ok(ts)
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(self) -> i64 {
        self.unix_micros
    }

    /// Parses any RFC 3339 time (any offset, any fraction), truncating below a microsecond.
    /// Use this for user input such as `--since`.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let dt = DateTime::parse_from_rfc3339(s)
            .map_err(|_| TimestampError::NotRfc3339(s.to_owned()))?;
        Self::from_unix_micros(dt.with_timezone(&Utc).timestamp_micros())
            .map_err(|_| TimestampError::OutOfRange(s.to_owned()))
    }

    /// Parses only the canonical form (what [`fmt::Display`] writes).
    pub fn parse_canonical(s: &str) -> Result<Self, TimestampError> {
        let ts = Self::parse_rfc3339(s)?;
        if ts.to_string() != s {
            return Err(TimestampError::NotCanonical(s.to_owned()));
        }
        Ok(ts)
    }

    fn datetime(self) -> Result<DateTime<Utc>, TimestampError> {
        DateTime::<Utc>::from_timestamp_micros(self.unix_micros)
            .filter(|dt| (0..=9999).contains(&dt.year()))
            .ok_or_else(|| TimestampError::OutOfRange(self.unix_micros.to_string()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Micros` + `Z`: always six fraction digits, so the form is fixed-width.
        let dt = self.datetime().map_err(|_| fmt::Error)?;
        f.write_str(&dt.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, TimestampError> {
        Self::parse_rfc3339(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse_canonical(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_fixed_width_utc() {
        let ts = Timestamp::parse_rfc3339("2026-11-23T14:08:41.5+01:00").unwrap();
        assert_eq!(ts.to_string(), "2026-11-23T13:08:41.500000Z");
        assert_eq!(
            Timestamp::parse_canonical("2026-11-23T13:08:41.500000Z").unwrap(),
            ts
        );
        assert!(matches!(
            Timestamp::parse_canonical("2026-11-23T13:08:41.5Z"),
            Err(TimestampError::NotCanonical(_))
        ));
        assert!(matches!(
            Timestamp::parse_rfc3339("yesterday"),
            Err(TimestampError::NotRfc3339(_))
        ));
    }

    #[test]
    fn text_order_is_time_order() {
        let a = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let b = Timestamp::parse_rfc3339("2026-01-01T00:00:00.000001Z").unwrap();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(b.unix_micros() - a.unix_micros(), 1);
    }

    #[test]
    fn pre_epoch_and_range_limits() {
        let ts = Timestamp::parse_rfc3339("1969-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(ts.unix_micros(), -1);
        assert_eq!(ts.to_string(), "1969-12-31T23:59:59.999999Z");
        assert!(Timestamp::from_unix_micros(i64::MAX).is_err());
    }
}
