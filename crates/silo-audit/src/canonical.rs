//! Canonical JSON: the one byte encoding of an entry or checkpoint that is hashed and signed.
//!
//! We hand-write a small RFC 8785 (JCS) writer over `serde_json::Value` rather than use
//! `serde_jcs` (unmaintained since 2021) or rely on `serde_json`'s map ordering: whether
//! `serde_json::Map` is sorted depends on the `preserve_order` cargo feature, which any other
//! crate in the build can switch on, and a hash format must not change with a feature flag.
//!
//! The subset we accept is what audit entries need, and it is exactly JCS on that subset:
//! - object keys sorted by their UTF-16 code units (RFC 8785 §3.2.3), no whitespace;
//! - strings escaped as ECMAScript `JSON.stringify` does, which is what `serde_json` writes
//!   (`\"`, `\\`, `\b \f \n \r \t`, other C0 controls as lower-case `\u00xx`, all else literal);
//! - numbers: integers in the I-JSON safe range only. Floating point is refused, because
//!   JCS's number form needs the ECMAScript double-to-string algorithm and amounts in silo
//!   are integer minor units anyway.

use serde::Serialize;
use serde_json::Value;

/// The largest integer JSON can carry without loss in every reader (2^53 − 1, I-JSON).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    /// A floating-point number: refused so that hashes never depend on float formatting.
    #[error("floating-point number `{0}` has no canonical form here; use integer minor units")]
    Float(String),
    /// An integer beyond ±(2^53 − 1), which some JSON readers would round.
    #[error("integer `{0}` is outside the safe range ±(2^53 − 1)")]
    UnsafeInteger(String),
    /// The value could not be turned into JSON at all.
    #[error("value is not representable as JSON: {0}")]
    NotJson(String),
}

/// Serialises `value` to canonical JSON bytes.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value = serde_json::to_value(value).map_err(|e| CanonicalError::NotJson(e.to_string()))?;
    canonical_value(&value)
}

/// Canonical JSON bytes of an already-parsed value.
pub fn canonical_value(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                if u > MAX_SAFE_INTEGER {
                    return Err(CanonicalError::UnsafeInteger(n.to_string()));
                }
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64() {
                if i.unsigned_abs() > MAX_SAFE_INTEGER {
                    return Err(CanonicalError::UnsafeInteger(n.to_string()));
                }
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                return Err(CanonicalError::Float(n.to_string()));
            }
        }
        Value::String(s) => write_string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // JCS orders by UTF-16 code units; this differs from byte order only for
            // characters above U+FFFF against U+E000..U+FFFF, but we follow the spec exactly.
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out)?;
                out.push(b':');
                write_value(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    // serde_json's string escaping is the ECMAScript one that JCS prescribes (see module doc).
    serde_json::to_writer(&mut *out, s).map_err(|e| CanonicalError::NotJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: Value) -> String {
        String::from_utf8(canonical_value(&v).unwrap()).unwrap()
    }

    #[test]
    fn keys_are_sorted_and_whitespace_is_dropped() {
        let v = json!({"b": 1, "a": {"d": [1, 2, {"z": null, "y": true}], "c": "x"}});
        assert_eq!(
            canon(v),
            r#"{"a":{"c":"x","d":[1,2,{"y":true,"z":null}]},"b":1}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units_as_rfc8785_says() {
        // RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16,
        // though after it in UTF-8 byte order.
        let v = json!({"\u{fb33}": 1, "\u{1f600}": 2, "\r": 3, "1": 4, "\u{80}": 5, "\u{f6}": 6});
        assert_eq!(
            canon(v),
            "{\"\\r\":3,\"1\":4,\"\u{80}\":5,\"\u{f6}\":6,\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn strings_are_escaped_like_json_stringify() {
        let v = json!("a\"b\\c\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}/é\u{2028}");
        assert_eq!(
            canon(v),
            "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}/é\u{2028}\""
        );
    }

    #[test]
    fn floats_and_unsafe_integers_are_refused() {
        assert!(matches!(
            canonical_value(&json!(1.5)),
            Err(CanonicalError::Float(_))
        ));
        assert!(matches!(
            canonical_value(&json!({"a": [1e3]})),
            Err(CanonicalError::Float(_))
        ));
        assert!(matches!(
            canonical_value(&json!(MAX_SAFE_INTEGER + 1)),
            Err(CanonicalError::UnsafeInteger(_))
        ));
        assert!(matches!(
            canonical_value(&json!(-(MAX_SAFE_INTEGER as i64) - 1)),
            Err(CanonicalError::UnsafeInteger(_))
        ));
        assert_eq!(
            canon(json!(-(MAX_SAFE_INTEGER as i64))),
            "-9007199254740991"
        );
        assert_eq!(canon(json!(0)), "0");
    }
}
