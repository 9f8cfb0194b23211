//! The recognizer layer: PII nobody told us about, found by pattern and kept by validator.

use silo_pii::PiiKind;

use crate::support::found_kind;

#[test]
fn luhn_valid_cards_are_found_and_invalid_ones_left_alone() {
    for card in [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500000000000004",
        "3782 822463 10005",
        "6011 1111 1111 1117",
        // Found by `silo redteam` (privacy-input-card-separators): these crossed raw.
        "5555.5555.5555.4444",
        "5555/5555/5555/4444",
        "5555\u{a0}5555\u{a0}5555\u{a0}4444",
        "5555\u{2010}5555\u{2010}5555\u{2010}4444",
    ] {
        assert_eq!(
            found_kind(&format!("pay with {card} today"), PiiKind::Card),
            vec![card]
        );
    }
    for not_card in [
        "4111 1111 1111 1112",     // Luhn fails
        "1111 1111 1111 1117",     // no such issuer
        "order 12345678901234567", // long order number
        "4111 1111 1111",          // too short
    ] {
        assert!(found_kind(not_card, PiiKind::Card).is_empty(), "{not_card}");
    }
}

#[test]
fn a_valid_card_followed_by_more_digits_is_cut_at_its_group() {
    assert_eq!(
        found_kind("4111 1111 1111 1111 22 units", PiiKind::Card),
        vec!["4111 1111 1111 1111"]
    );
}

#[test]
fn mod97_valid_ibans_are_found_and_invalid_ones_left_alone() {
    assert_eq!(
        found_kind("to DE89 3704 0044 0532 0130 00 please", PiiKind::Iban),
        vec!["DE89 3704 0044 0532 0130 00"]
    );
    assert_eq!(
        found_kind("IBAN GB82WEST12345698765432.", PiiKind::Iban),
        vec!["GB82WEST12345698765432"]
    );
    // Trailing capitals are not part of it.
    assert_eq!(
        found_kind("DE89 3704 0044 0532 0130 00 EUR", PiiKind::Iban),
        vec!["DE89 3704 0044 0532 0130 00"]
    );
    assert!(found_kind("to DE89 3704 0044 0532 0130 01", PiiKind::Iban).is_empty());
    assert!(found_kind("XX89 3704 0044 0532 0130 00", PiiKind::Iban).is_empty());
}

#[test]
fn ssn_rules() {
    assert_eq!(
        found_kind("SSN 123-45-6789.", PiiKind::Ssn),
        vec!["123-45-6789"]
    );
    assert_eq!(
        found_kind("id 234 56 7890", PiiKind::Ssn),
        vec!["234 56 7890"]
    );
    for bad in [
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
    ] {
        assert!(
            found_kind(&format!("SSN {bad}"), PiiKind::Ssn).is_empty(),
            "{bad}"
        );
    }
    // Inside a longer dashed number.
    assert!(found_kind("part 9-123-45-6789", PiiKind::Ssn).is_empty());
    // Nine bare digits need the context word.
    assert_eq!(
        found_kind("my SSN is 123456789", PiiKind::Ssn),
        vec!["123456789"]
    );
    assert!(found_kind("invoice 123456789", PiiKind::Ssn).is_empty());
}

#[test]
fn date_of_birth_needs_context() {
    for (text, date) in [
        ("born on 1985-03-14 in Ohio", "1985-03-14"),
        ("DOB: 03/14/1985", "03/14/1985"),
        ("date of birth is March 14, 1985", "March 14, 1985"),
        ("Birthday 14 March 1985!", "14 March 1985"),
        ("d.o.b. 14.03.1985", "14.03.1985"),
    ] {
        assert_eq!(found_kind(text, PiiKind::Dob), vec![date], "{text}");
    }
    for text in [
        "shipped on 1985-03-14",
        "meeting 03/14/1985",
        "born in 1985",
        "born on 1985-02-30",
        "born a long long long long long long time ago, on 1985-03-14",
    ] {
        assert!(found_kind(text, PiiKind::Dob).is_empty(), "{text}");
    }
}

#[test]
fn emails() {
    assert_eq!(
        found_kind("write to bob.jones+tag@mail.example.co.uk.", PiiKind::Email),
        vec!["bob.jones+tag@mail.example.co.uk"]
    );
    assert!(found_kind("not an email: a@b, @handle, x@y.z1", PiiKind::Email).is_empty());
}

#[test]
fn phones() {
    for phone in [
        "+1 (212) 555-0142",
        "(212) 555-0142",
        "212-555-0142",
        "212.555.0142",
        "+44 20 7946 0958",
        "+49 30 901820",
    ] {
        assert_eq!(
            found_kind(&format!("call {phone}."), PiiKind::Phone),
            vec![phone]
        );
    }
    // Ten bare digits need a phone word nearby; numbers that cannot be NANP never count.
    assert_eq!(
        found_kind("mobile: 2125550142", PiiKind::Phone),
        vec!["2125550142"]
    );
    assert!(found_kind("order 2125550142", PiiKind::Phone).is_empty());
    assert!(found_kind("call 1125550142", PiiKind::Phone).is_empty());
    assert!(found_kind("v 12-555-0142", PiiKind::Phone).is_empty());
}

#[test]
fn ip_addresses() {
    assert_eq!(
        found_kind("from 203.0.113.7:", PiiKind::Ip),
        vec!["203.0.113.7"]
    );
    assert_eq!(
        found_kind("via 2001:db8::8a2e:370:7334", PiiKind::Ip),
        vec!["2001:db8::8a2e:370:7334"]
    );
    assert_eq!(
        found_kind("mapped ::ffff:192.0.2.1 ok", PiiKind::Ip),
        vec!["::ffff:192.0.2.1"]
    );
    for text in [
        "version 1.2.3.4.5",
        "999.1.1.1",
        "std::fmt::Debug",
        "at 12:30:45",
        "::1",
        "a::b",
    ] {
        assert!(found_kind(text, PiiKind::Ip).is_empty(), "{text}");
    }
}

#[test]
fn street_addresses() {
    for (text, addr) in [
        (
            "ship to 1600 Pennsylvania Avenue today",
            "1600 Pennsylvania Avenue",
        ),
        ("at 221B Baker St. London", "221B Baker St."),
        (
            "1 Infinite Loop Dr, Cupertino, CA 95014 is",
            "1 Infinite Loop Dr, Cupertino, CA 95014",
        ),
        ("to 350 5th Ave, Apt 4B", "350 5th Ave, Apt 4B"),
    ] {
        assert_eq!(found_kind(text, PiiKind::Address), vec![addr], "{text}");
    }
    for text in [
        "3 dogs ran down the road",
        "I have 12 apples",
        "about 5 Street lamps",
    ] {
        assert!(found_kind(text, PiiKind::Address).is_empty(), "{text}");
    }
}

#[test]
fn names_after_an_honorific() {
    assert_eq!(
        found_kind("Dear Ms. Okafor,", PiiKind::Name),
        vec!["Okafor"]
    );
    assert_eq!(
        found_kind("ask Dr Lena Müller", PiiKind::Name),
        vec!["Lena Müller"]
    );
    assert!(found_kind("Dear customer,", PiiKind::Name).is_empty());
}
