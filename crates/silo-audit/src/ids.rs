//! Identifier newtypes an entry may carry: short, printable ids, never tokens or secrets.
//!
//! Every identifier is 1..=64 characters of `[A-Za-z0-9._:@/+-]` and must not look like a
//! JWS/JWT (`eyJ…` segments). A compact JWS with an Ed25519 or HMAC signature is longer than
//! 64 characters and PEM needs spaces and newlines, so a whole key or token cannot be stored
//! in an id field by mistake; the type system then keeps raw material out of entries because
//! these are the only string types an entry has outside [`crate::Detail`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest identifier accepted.
pub const MAX_ID_LEN: usize = 64;

/// Why a string was refused as an identifier.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Empty string.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// Longer than [`MAX_ID_LEN`].
    #[error("{kind} is {len} characters long; at most {MAX_ID_LEN} are allowed (ids, not tokens)")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// Its length.
        len: usize,
    },
    /// A character outside the allowed set.
    #[error("{kind} `{value}` contains `{ch}`; allowed are letters, digits and `._:@/+-`")]
    BadChar {
        /// Which identifier.
        kind: &'static str,
        /// The refused value.
        value: String,
        /// The first bad character.
        ch: char,
    },
    /// Looks like a JWS/JWT: the audit log stores key ids, never keys.
    #[error("{kind} looks like a token (`eyJ…`); record its `kid`/`jti` instead")]
    LooksLikeToken {
        /// Which identifier.
        kind: &'static str,
    },
}

/// Checks the rules every identifier shares (see the module doc).
pub(crate) fn check_id(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    let len = value.chars().count();
    if len > MAX_ID_LEN {
        return Err(IdError::TooLong { kind, len });
    }
    if let Some(ch) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._:@/+-".contains(*c)))
    {
        return Err(IdError::BadChar {
            kind,
            value: value.to_owned(),
            ch,
        });
    }
    if looks_like_jws(value) {
        return Err(IdError::LooksLikeToken { kind });
    }
    Ok(())
}

/// True when `s` contains a base64url-encoded JSON object header (`eyJ` = `{"`) followed by
/// a dot: the shape of every JWS/JWT/JWE.
pub(crate) fn looks_like_jws(s: &str) -> bool {
    s.match_indices("eyJ").any(|(i, _)| {
        s.get(i..)
            .is_some_and(|rest| rest.contains('.') && rest.len() > 8)
    })
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value` (see the module doc for the rules).
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_id($kind, &value)?;
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// Who acted: `router`, `membrane`, `human:ops-7`, `agent:refund-agent`.
    Actor,
    "actor"
);
id_type!(
    /// A task's id, as the router assigned it.
    TaskId,
    "task id"
);
id_type!(
    /// An agent's name (optionally `name@version`).
    AgentName,
    "agent name"
);
id_type!(
    /// The vault's token for a customer (`cus_…`): a pseudonym, never the raw identity.
    CustomerToken,
    "customer token"
);
id_type!(
    /// A signing key's id (JWT `kid`).
    KeyId,
    "key id"
);
id_type!(
    /// A token's unique id (JWT `jti`).
    TokenId,
    "token id"
);
id_type!(
    /// What was attempted or happened: `task.received`, `refund.issue`, `key.revoked`.
    ActionName,
    "action"
);
id_type!(
    /// The policy rule that decided, e.g. `refund.max_cents`.
    RuleId,
    "rule id"
);

impl KeyId {
    /// A key id made of hex digits from a key fingerprint; hex always passes the id rules,
    /// so this is infallible (asserted by a test).
    pub(crate) fn from_fingerprint(hex: &str) -> KeyId {
        KeyId(hex.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for ok in [
            "router",
            "human:ops-7",
            "refund-agent@1.2.0",
            "cus_tok_8f3a",
            "0f1e2d3c4b5a6978",
            "550e8400-e29b-41d4-a716-446655440000",
            "refund.issue",
        ] {
            assert!(TaskId::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_a_jwt_in_an_id_field() {
        let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";
        assert_eq!(
            KeyId::new(jwt),
            Err(IdError::LooksLikeToken { kind: "key id" })
        );
        let long_jwt = format!("{jwt}{}", "A".repeat(80));
        assert!(matches!(
            TokenId::new(long_jwt),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn refuses_pem_spaces_and_empty() {
        assert!(matches!(
            KeyId::new("-----BEGIN PRIVATE KEY-----"),
            Err(IdError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            CustomerToken::new("Jane Doe"),
            Err(IdError::BadChar { .. })
        ));
        assert_eq!(Actor::new(""), Err(IdError::Empty { kind: "actor" }));
    }

    #[test]
    fn fingerprint_ids_pass_the_rules() {
        let hex = "0123456789abcdef";
        assert_eq!(KeyId::from_fingerprint(hex), KeyId::new(hex).unwrap());
    }

    #[test]
    fn deserialising_validates_too() {
        let bad: Result<KeyId, _> = serde_json::from_str("\"has space\"");
        assert!(bad.is_err());
        let good: KeyId = serde_json::from_str("\"k1\"").unwrap();
        assert_eq!(good.as_str(), "k1");
    }
}
