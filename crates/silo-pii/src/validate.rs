//! Checksums and structural rules that turn a pattern match into a confident detection:
//! Luhn for card numbers, ISO 13616 mod-97 for IBANs, the SSA's rules for SSNs.
//!
//! Each function takes the matched text as written (spaces and dashes allowed) and never
//! allocates on the hot path beyond a small stack buffer.

/// True when `digits` (ASCII digits, other characters ignored) pass the Luhn check.
pub fn luhn_valid(text: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for b in text.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if count % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    count > 0 && sum.is_multiple_of(10)
}

/// What may stand between the digit groups of a card or phone number: whitespace (also
/// no-break and thin spaces), ASCII and Unicode hyphens and dashes, `.`, `/`, `_` (the
/// class `known::DIGIT_SEP` matches).
pub fn is_digit_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '/' | '_' | '\u{2010}'
                ..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
        )
}

/// True when `text` is a payment card number: 13 to 19 digits (separators between
/// groups allowed), an issuer prefix in use (2–6: Mastercard, Amex, Diners, JCB, Visa,
/// Discover, UnionPay, Maestro) and a valid Luhn check digit.
pub fn card_valid(text: &str) -> bool {
    if !text
        .chars()
        .all(|c| c.is_ascii_digit() || is_digit_separator(c))
    {
        return false;
    }
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let first = text.bytes().find(u8::is_ascii_digit);
    (13..=19).contains(&digits) && matches!(first, Some(b'2'..=b'6')) && luhn_valid(text)
}

/// The IBAN length of a country (ISO 3166 alpha-2), from the SWIFT IBAN registry.
pub fn iban_length(country: &str) -> Option<usize> {
    let len = match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FK" | "FO" | "GL" | "NL" | "SD" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "MN" | "XK" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "OM" | "SO" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "LY" | "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "BI" | "DJ" | "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HN" | "HU" | "LB" | "NI" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" | "YE" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
        _ => return None,
    };
    Some(len)
}

/// True when `text` (spaces allowed, letters of either case) is an IBAN: a registered country
/// code, that country's length, and the ISO 7064 mod-97-10 check.
pub fn iban_valid(text: &str) -> bool {
    let mut compact = [0u8; 34];
    let mut len = 0usize;
    for b in text.bytes() {
        if b == b' ' {
            continue;
        }
        if !b.is_ascii_alphanumeric() {
            return false;
        }
        let Some(slot) = compact.get_mut(len) else {
            return false;
        };
        *slot = b.to_ascii_uppercase();
        len += 1;
    }
    let Some(compact) = compact.get(..len) else {
        return false;
    };
    let (Some(country), Some(check)) = (compact.get(..2), compact.get(2..4)) else {
        return false;
    };
    if !country.iter().all(u8::is_ascii_uppercase) || !check.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let country = std::str::from_utf8(country).unwrap_or_default();
    if iban_length(country) != Some(len) {
        return false;
    }
    // Move the first four characters to the end, letters become 10..35, then mod 97.
    let rotated = compact.iter().skip(4).chain(compact.iter().take(4));
    let mut rem: u32 = 0;
    for &b in rotated {
        let v = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// True when `text` (`123-45-6789`, `123 45 6789` or `123456789`) is a US SSN the SSA could
/// issue: area not 000, 666 or 900–999; group not 00; serial not 0000.
pub fn ssn_valid(text: &str) -> bool {
    let mut d = [0u8; 9];
    let mut n = 0usize;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => {
                let Some(slot) = d.get_mut(n) else {
                    return false;
                };
                *slot = b - b'0';
                n += 1;
            }
            b'-' | b' ' => {}
            _ => return false,
        }
    }
    if n != 9 {
        return false;
    }
    let area = u16::from(d[0]) * 100 + u16::from(d[1]) * 10 + u16::from(d[2]);
    let group = d[3] * 10 + d[4];
    let serial = d[5..].iter().fold(0u16, |acc, &x| acc * 10 + u16::from(x));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_one_digit_off() {
        assert!(card_valid("4111 1111 1111 1111"));
        assert!(card_valid("5500-0000-0000-0004"));
        assert!(card_valid("378282246310005"));
        assert!(!card_valid("4111 1111 1111 1112"));
        assert!(!card_valid("1111 1111 1111 1117")); // Luhn-valid, no such issuer
        assert!(!card_valid("4111"));
    }

    #[test]
    fn iban_checks_country_length_and_mod97() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(iban_valid("gb82 west 1234 5698 7654 32"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 01"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 0"));
        assert!(!iban_valid("ZZ89 3704 0044 0532 0130 00"));
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_valid("123-45-6789"));
        assert!(ssn_valid("123 45 6789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "12-345-6789x",
        ] {
            assert!(!ssn_valid(bad), "{bad}");
        }
    }
}
