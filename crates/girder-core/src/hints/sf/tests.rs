//! What the conformance suite (`tests/structured_fields.rs`) does not
//! check: borrowing, error positions, the decoded bytes of a byte
//! sequence, and repeated keys past the hash-index threshold.

use super::*;

const MAX_INTEGER: i64 = 999_999_999_999_999;

fn item(input: &str) -> Item<'_> {
    parse_item(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
}

#[test]
fn strings_and_display_strings_borrow_unless_escaped() {
    let BareItem::String(plain) = item(r#""burst window""#).bare else {
        panic!("not a string");
    };
    assert!(matches!(plain, Cow::Borrowed("burst window")));

    let BareItem::String(escaped) = item(r#""say \"hi\" \\ bye""#).bare else {
        panic!("not a string");
    };
    assert!(matches!(escaped, Cow::Owned(_)));
    assert_eq!(escaped, r#"say "hi" \ bye"#);

    let BareItem::DisplayString(plain) = item(r#"%"caf""#).bare else {
        panic!("not a display string");
    };
    assert!(matches!(plain, Cow::Borrowed("caf")));
    let BareItem::DisplayString(escaped) = item(r#"%"caf%c3%a9!""#).bare else {
        panic!("not a display string");
    };
    assert_eq!(escaped, "café!");
}

#[test]
fn tokens_and_keys_borrow_from_the_input() {
    let input = String::from("text/html;charset=utf-8");
    let parsed = item(&input);
    let BareItem::Token(token) = parsed.bare else {
        panic!("not a token");
    };
    assert_eq!(token, "text/html");
    assert!(input.as_bytes().as_ptr_range().contains(&token.as_ptr()));
    let (key, value) = parsed.params.iter().next().unwrap();
    assert_eq!(*key, "charset");
    assert!(input.as_bytes().as_ptr_range().contains(&key.as_ptr()));
    assert_eq!(value, &BareItem::Token("utf-8"));
}

#[test]
fn numbers_at_their_limits() {
    assert_eq!(item("999999999999999").bare, BareItem::Integer(MAX_INTEGER));
    assert_eq!(
        item("-999999999999999").bare,
        BareItem::Integer(-MAX_INTEGER)
    );
    assert!(parse_item("1000000000000000").is_err());
    let decimal = |text| match item(text).bare {
        BareItem::Decimal(d) => d.thousandths(),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(decimal("999999999999.999"), 999_999_999_999_999);
    assert_eq!(decimal("-0.001"), -1);
    assert_eq!(decimal("1.5"), 1500);
    assert_eq!(decimal("-0.0"), 0);
    assert!(parse_item("9999999999999.9").is_err());
    assert_eq!(item("@-62135596800").bare, BareItem::Date(-62_135_596_800));
    assert!(parse_item("@1.5").is_err());
}

#[test]
fn byte_sequences_decode_with_full_short_or_no_padding() {
    let bytes = |text| match item(text).bare {
        BareItem::ByteSequence(b) => b.decode(),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(bytes(":aGVsbG8=:"), b"hello");
    assert_eq!(bytes(":aGVsbG8:"), b"hello");
    assert_eq!(bytes(":aGVsbA==:"), b"hell");
    assert_eq!(bytes(":aGVsbA:"), b"hell");
    // Short padding is completed, as missing padding is.
    assert_eq!(bytes(":aGVsbA=:"), b"hell");
    assert_eq!(bytes(":aGVs:"), b"hel");
    assert_eq!(bytes("::"), b"");
    assert_eq!(bytes(":/+8=:"), [0xff, 0xef]);
    // Non-zero pad bits are ignored.
    assert_eq!(bytes(":iZ==:"), [0x89]);
    for bad in [
        ":a:",
        ":aGVsbG8==:",
        ":aGVs=:",
        ":=:",
        ":aGVsbA===:",
        ":aG=sbA=:",
        ":aGVsbG8-:",
    ] {
        assert!(parse_item(bad).is_err(), "{bad}");
    }
}

#[test]
fn errors_say_where_and_why() {
    let e = parse_list(r#""a";r=1, "b";r=x=1"#).unwrap_err();
    assert_eq!(e.position(), 16);
    assert_eq!(e.reason(), "expected ',' between list members");
    assert_eq!(
        e.to_string(),
        "invalid structured field at byte 16: expected ',' between list members"
    );
    assert_eq!(parse_item("1, 2").unwrap_err().position(), 1);
    assert_eq!(parse_item(":YW=J:").unwrap_err().position(), 4);
    assert_eq!(parse_dictionary("a=1, B=2").unwrap_err().position(), 5);
}

#[test]
fn non_ascii_input_fails_without_panicking() {
    for input in [
        "é", "a, é", "\"é\"", "a;é", "%\"é\"", ":é:", "(a é)", "aé", "a=é", "1é", "?é", "@é",
    ] {
        assert!(parse_list(input).is_err(), "{input}");
        assert!(parse_dictionary(input).is_err(), "{input}");
        assert!(parse_item(input).is_err(), "{input}");
    }
}

#[test]
fn repeated_keys_keep_the_first_position_and_the_last_value() {
    // Past the index threshold and below it, in parameters and in a
    // dictionary.
    for n in [3, INDEX_FROM - 1, INDEX_FROM, 40] {
        let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        let first: Vec<String> = keys.iter().map(|k| format!("{k}=1")).collect();
        let again: Vec<String> = keys.iter().rev().map(|k| format!("{k}=2")).collect();
        let dict = format!("{}, {}, z", first.join(", "), again.join(", "));
        let parsed = parse_dictionary(&dict).unwrap();
        assert_eq!(parsed.len(), n + 1);
        for (i, (key, member)) in parsed.iter().take(n).enumerate() {
            assert_eq!(*key, keys[i]);
            let Member::Item(item) = member else {
                panic!("inner list");
            };
            assert_eq!(item.bare, BareItem::Integer(2), "{key} of {n}");
        }
        assert_eq!(parsed[n].0, "z");

        let params = format!("t;{};{};z", first.join(";"), again.join(";"));
        let parsed = item(&params).params;
        assert_eq!(parsed.len(), n + 1);
        for (i, (key, value)) in parsed.iter().take(n).enumerate() {
            assert_eq!(*key, keys[i]);
            assert_eq!(value, &BareItem::Integer(2));
        }
        assert_eq!(parsed.get("z"), Some(&BareItem::Boolean(true)));
    }
}

#[test]
fn many_repeated_keys_parse_in_linear_time() {
    // 100,000 parameters, half of them repeats: quadratic dedup would take
    // billions of comparisons; this takes milliseconds.
    let mut input = String::from("t");
    for i in 0..50_000 {
        input.push_str(&format!(";k{i}=1"));
    }
    for i in 0..50_000 {
        input.push_str(&format!(";k{i}=2"));
    }
    let parsed = item(&input).params;
    assert_eq!(parsed.len(), 50_000);
    assert!(
        parsed
            .iter()
            .all(|(_, value)| *value == BareItem::Integer(2))
    );
}

#[test]
fn inner_lists_do_not_nest() {
    assert!(parse_list("((1))").is_err());
    let deep = "(".repeat(100_000);
    assert!(parse_list(&deep).is_err());
    assert!(parse_dictionary(&format!("a={deep}")).is_err());
}
