//! Fuzz target for girder-core's structured-field parser (RFC 9651), fed
//! any text directly: the hints target (the facade's `tests/fuzz.rs`)
//! reaches it only through header values that are visible ASCII.
//!
//! Beyond "does not panic", every value that parses must keep the
//! grammar's invariants, serialise (with the small serialiser below) to
//! text that parses back to the same value, and, for Lists and
//! Dictionaries, combine across field lines as RFC 9651, 4.2 says. The
//! long run: `GIRDER_FUZZ_ITERS=1000000 cargo test --release -p
//! girder-test --features fuzz --test fuzz -- --nocapture` (see
//! `girder_test::fuzz`).

#![cfg(feature = "fuzz")]

use girder_core::__private::{
    self as sf, BareItem, Dictionary, InnerList, Item, Member, Parameters,
};
use girder_test::fuzz::structured::{DICT, SEEDS};
use girder_test::fuzz::{self, Gen};

const MAX_INTEGER: i64 = 999_999_999_999_999;

#[test]
fn every_seed_parses_as_some_type() {
    for seed in SEEDS {
        assert!(
            sf::parse_list(seed).is_ok()
                || sf::parse_dictionary(seed).is_ok()
                || sf::parse_item(seed).is_ok(),
            "{seed:?}"
        );
    }
}

#[test]
fn structured_fields_round_trip() {
    let mut parsed = [0usize; 3];
    let mut inputs = 0;
    fuzz::check(
        "structured fields",
        20_000,
        |g: &mut Gen| g.text(SEEDS, DICT),
        |text| {
            inputs += 1;
            if let Ok(list) = sf::parse_list(text) {
                parsed[0] += 1;
                list.iter().for_each(check_member);
                let again = list_text(&list);
                assert_eq!(sf::parse_list(&again).as_ref(), Ok(&list), "{again:?}");
            }
            if let Ok(dict) = sf::parse_dictionary(text) {
                parsed[1] += 1;
                check_unique(dict.iter().map(|(key, _)| *key));
                for (key, member) in &dict {
                    check_key(key);
                    check_member(member);
                }
                let again = dictionary_text(&dict);
                let reparsed = sf::parse_dictionary(&again);
                assert_eq!(reparsed.as_ref(), Ok(&dict), "{again:?}");
            }
            if let Ok(item) = sf::parse_item(text) {
                parsed[2] += 1;
                check_item(&item);
                let again = item_text(&item);
                assert_eq!(sf::parse_item(&again).as_ref(), Ok(&item), "{again:?}");
            }
            assert_eq!(sf::parse_list(text), sf::parse_list(text), "deterministic");
        },
    );
    eprintln!("parsed as list / dictionary / item: {parsed:?} of {inputs}");
    // Enough inputs get through for the properties to mean something (of
    // 20,000: about 4,000 lists, 2,000 dictionaries, 1,600 items).
    assert!(
        parsed.iter().all(|&n| n * 20 > inputs),
        "{parsed:?} of {inputs}"
    );
}

#[test]
fn field_lines_combine_as_one_value() {
    // RFC 9651, 4.2: field lines are joined with ", " before parsing; two
    // lines that are non-empty Lists give their members in order, two
    // Dictionaries give the second's value for a key both have.
    fuzz::check(
        "structured field lines",
        5_000,
        |g: &mut Gen| (g.text(SEEDS, DICT), g.text(SEEDS, DICT)),
        |(a, b)| {
            let joined = format!("{a}, {b}");
            if let (Ok(mut first), Ok(second)) = (sf::parse_list(a), sf::parse_list(b))
                && !first.is_empty()
                && !second.is_empty()
            {
                first.extend(second);
                assert_eq!(sf::parse_list(&joined), Ok(first));
            }
            if let (Ok(mut first), Ok(second)) = (sf::parse_dictionary(a), sf::parse_dictionary(b))
                && !first.is_empty()
                && !second.is_empty()
            {
                for (key, value) in second {
                    match first.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => first.push((key, value)),
                    }
                }
                assert_eq!(sf::parse_dictionary(&joined), Ok(first));
            }
        },
    );
}

fn check_member(member: &Member<'_>) {
    match member {
        Member::Item(item) => check_item(item),
        Member::InnerList(list) => {
            list.items.iter().for_each(check_item);
            check_params(&list.params);
        }
    }
}

fn check_item(item: &Item<'_>) {
    check_bare(&item.bare);
    check_params(&item.params);
}

fn check_params(params: &Parameters<'_>) {
    check_unique(params.iter().map(|(key, _)| *key));
    for (key, value) in params.iter() {
        check_key(key);
        check_bare(value);
    }
}

fn check_unique<'a>(keys: impl Iterator<Item = &'a str>) {
    let mut keys: Vec<&str> = keys.collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "a key twice: {keys:?}");
}

fn check_key(key: &str) {
    let mut bytes = key.bytes();
    assert!(matches!(bytes.next(), Some(b'a'..=b'z' | b'*')), "{key:?}");
    assert!(
        bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')),
        "{key:?}"
    );
}

fn check_bare(bare: &BareItem<'_>) {
    match bare {
        BareItem::Integer(i) | BareItem::Date(i) => assert!(i.abs() <= MAX_INTEGER, "{i}"),
        BareItem::Decimal(d) => assert!(d.thousandths().abs() <= MAX_INTEGER, "{d:?}"),
        BareItem::String(s) => assert!(s.bytes().all(|b| (b' '..=b'~').contains(&b)), "{s:?}"),
        BareItem::Token(t) => {
            assert!(t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '*'));
            assert!(t.bytes().all(|b| b.is_ascii_graphic()), "{t:?}");
        }
        BareItem::ByteSequence(b) => {
            let text = b.base64();
            assert!(
                text.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')),
                "{text:?}"
            );
            let decoded = b.decode();
            let digits = text.trim_end_matches('=').len();
            assert_eq!(decoded.len(), digits * 3 / 4, "{text:?}");
        }
        BareItem::Boolean(_) | BareItem::DisplayString(_) => {}
    }
}

// A serialiser for the round trip, as RFC 9651, 4.1 describes (not
// canonical in every detail: a byte sequence keeps its received text).

fn list_text(list: &[Member<'_>]) -> String {
    let members: Vec<String> = list.iter().map(member_text).collect();
    members.join(", ")
}

fn dictionary_text(dict: &Dictionary<'_>) -> String {
    let members: Vec<String> = dict
        .iter()
        .map(|(key, member)| match member {
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params,
            }) => format!("{key}{}", params_text(params)),
            _ => format!("{key}={}", member_text(member)),
        })
        .collect();
    members.join(", ")
}

fn member_text(member: &Member<'_>) -> String {
    match member {
        Member::Item(item) => item_text(item),
        Member::InnerList(InnerList { items, params }) => {
            let items: Vec<String> = items.iter().map(item_text).collect();
            format!("({}){}", items.join(" "), params_text(params))
        }
    }
}

fn item_text(item: &Item<'_>) -> String {
    format!("{}{}", bare_text(&item.bare), params_text(&item.params))
}

fn params_text(params: &Parameters<'_>) -> String {
    params
        .iter()
        .map(|(key, value)| match value {
            BareItem::Boolean(true) => format!(";{key}"),
            _ => format!(";{key}={}", bare_text(value)),
        })
        .collect()
}

fn bare_text(bare: &BareItem<'_>) -> String {
    match bare {
        BareItem::Integer(i) => i.to_string(),
        BareItem::Decimal(d) => {
            let t = d.thousandths();
            let sign = if t < 0 { "-" } else { "" };
            let (whole, fraction) = (t.abs() / 1000, t.abs() % 1000);
            let fraction = format!("{fraction:03}");
            let fraction = fraction.trim_end_matches('0');
            let fraction = if fraction.is_empty() { "0" } else { fraction };
            format!("{sign}{whole}.{fraction}")
        }
        BareItem::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        BareItem::Token(t) => (*t).to_owned(),
        BareItem::ByteSequence(b) => format!(":{}:", b.base64()),
        BareItem::Boolean(b) => format!("?{}", u8::from(*b)),
        BareItem::Date(d) => format!("@{d}"),
        BareItem::DisplayString(s) => {
            let mut out = String::from("%\"");
            for &b in s.as_bytes() {
                if b == b'%' || b == b'"' || !(b' '..=b'~').contains(&b) {
                    out.push_str(&format!("%{b:02x}"));
                } else {
                    out.push(char::from(b));
                }
            }
            out.push('"');
            out
        }
    }
}
