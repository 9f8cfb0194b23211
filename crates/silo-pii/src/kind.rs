//! `PiiKind`: the kinds of personal data silo recognises, each with its token prefix.

use std::fmt;
use std::str::FromStr;

/// A kind of personal data. Its [`as_str`](PiiKind::as_str) is the prefix of its tokens:
/// `[NAME_1]`, `[EMAIL_2]`…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    /// A person's name.
    Name,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A postal or street address.
    Address,
    /// A payment card number (PAN).
    Card,
    /// A US Social Security number.
    Ssn,
    /// An International Bank Account Number.
    Iban,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A date of birth.
    Dob,
}

impl PiiKind {
    /// Every kind, in declaration order.
    pub const ALL: [PiiKind; 9] = [
        PiiKind::Name,
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Address,
        PiiKind::Card,
        PiiKind::Ssn,
        PiiKind::Iban,
        PiiKind::Ip,
        PiiKind::Dob,
    ];

    /// The upper-case token prefix: `"NAME"`, `"EMAIL"`, `"PHONE"`, `"ADDRESS"`, `"CARD"`,
    /// `"SSN"`, `"IBAN"`, `"IP"`, `"DOB"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PiiKind::Name => "NAME",
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::Address => "ADDRESS",
            PiiKind::Card => "CARD",
            PiiKind::Ssn => "SSN",
            PiiKind::Iban => "IBAN",
            PiiKind::Ip => "IP",
            PiiKind::Dob => "DOB",
        }
    }

    /// The kind whose token prefix is exactly `prefix` (upper case, as in a token).
    pub fn from_prefix(prefix: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.as_str() == prefix)
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`PiiKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pii kind `{given}`; expected one of NAME, EMAIL, PHONE, ADDRESS, CARD, SSN, IBAN, IP, DOB")]
pub struct UnknownKind {
    /// What was given.
    pub given: String,
}

impl FromStr for PiiKind {
    type Err = UnknownKind;

    /// Case-insensitive, so configuration and command lines may write `email` or `EMAIL`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PiiKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownKind {
                given: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_prefix() {
        for kind in PiiKind::ALL {
            assert_eq!(PiiKind::from_prefix(kind.as_str()), Some(kind));
            assert_eq!(kind.as_str().parse::<PiiKind>(), Ok(kind));
            assert_eq!(kind.as_str().to_lowercase().parse::<PiiKind>(), Ok(kind));
        }
        assert!("PASSPORT".parse::<PiiKind>().is_err());
        assert_eq!(PiiKind::from_prefix("name"), None);
    }
}
