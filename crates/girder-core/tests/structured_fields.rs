//! girder-core's structured-field parser (RFC 9651) against the published
//! conformance suite, vendored in `tests/structured-field-tests/` (see its
//! README for the source and commit).
//!
//! Every case of every file runs: `list`, `dictionary` and `item` cases,
//! with the field lines joined by `", "` as RFC 9651, section 4.2 says. A
//! case that must fail must fail; any other must parse to `expected`,
//! except that a `can_fail` case (a SHOULD of the RFC) may also fail. The
//! counts are asserted exactly, so a new suite version or a change in the
//! parser shows up here. Serialisation cases (`serialisation-tests/`, and
//! `canonical`) do not apply: the parser serialises nothing.
//!
//! The suite is JSON; the small reader below keeps this test free of
//! dependencies girder-core does not otherwise have.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use girder_core::__private::{self as sf, BareItem, Member};

/// Cases in the vendored files, by outcome. Update with the suite.
const EXPECTED_CASES: usize = 1591;
/// Cases parsed to exactly the expected value (`can_fail` ones included).
const EXPECTED_MATCHED: usize = 727;
/// `must_fail` cases refused.
const EXPECTED_REFUSED: usize = 864;
/// `can_fail` cases (all parsed, so also counted in `EXPECTED_MATCHED`).
const EXPECTED_CAN_FAIL: usize = 6;

#[test]
fn the_published_suite_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/structured-field-tests");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 20, "vendored files: {files:?}");

    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(path).unwrap();
        let cases = Json::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        for case in cases.array() {
            if let Err(why) = run(case, &mut tally) {
                failures.push(format!("{file}: {:?}: {why}", case.get("name").str()));
            }
        }
    }

    eprintln!(
        "structured-field-tests: {} cases: {} matched (of which {} can_fail), \
         {} must_fail refused, {} can_fail refused, 0 skipped; by type: {:?}",
        tally.cases,
        tally.matched,
        tally.can_fail_matched,
        tally.refused,
        tally.can_fail_refused,
        tally.by_type
    );
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(tally.cases, EXPECTED_CASES);
    assert_eq!(tally.matched, EXPECTED_MATCHED);
    assert_eq!(tally.refused, EXPECTED_REFUSED);
    assert_eq!(tally.can_fail_matched, EXPECTED_CAN_FAIL);
    assert_eq!(tally.can_fail_refused, 0);
    assert_eq!(tally.matched + tally.refused, tally.cases);
}

#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    matched: usize,
    refused: usize,
    can_fail_matched: usize,
    can_fail_refused: usize,
    by_type: BTreeMap<String, usize>,
}

/// Runs one case; `Err` says how the parser disagreed with it.
fn run(case: &Json, tally: &mut Tally) -> Result<(), String> {
    let raw: Vec<&str> = case.get("raw").array().iter().map(Json::str).collect();
    let input = raw.join(", ");
    let kind = case.get("header_type").str();
    let must_fail = case.find("must_fail").is_some_and(Json::bool);
    let can_fail = case.find("can_fail").is_some_and(Json::bool);
    tally.cases += 1;
    *tally.by_type.entry(kind.to_owned()).or_default() += 1;

    let parsed = match kind {
        "list" => sf::parse_list(&input).map(|list| Value::List(list.iter().map(member).collect())),
        "dictionary" => sf::parse_dictionary(&input).map(|dict| {
            Value::Dictionary(
                dict.iter()
                    .map(|(key, m)| ((*key).to_owned(), member(m)))
                    .collect(),
            )
        }),
        "item" => sf::parse_item(&input).map(|item| Value::Item(item_of(&item))),
        other => return Err(format!("unknown header_type {other:?}")),
    };

    if must_fail {
        return match parsed {
            Err(_) => {
                tally.refused += 1;
                Ok(())
            }
            Ok(value) => Err(format!("{input:?} must fail, parsed as {value:?}")),
        };
    }
    let expected = match kind {
        "list" => Value::List(
            case.get("expected")
                .array()
                .iter()
                .map(expected_member)
                .collect(),
        ),
        "dictionary" => Value::Dictionary(
            case.get("expected")
                .array()
                .iter()
                .map(|pair| {
                    let pair = pair.array();
                    (pair[0].str().to_owned(), expected_member(&pair[1]))
                })
                .collect(),
        ),
        _ => Value::Item(expected_item(case.get("expected"))),
    };
    match parsed {
        Ok(value) if value == expected => {
            tally.matched += 1;
            tally.can_fail_matched += usize::from(can_fail);
            Ok(())
        }
        Ok(value) => Err(format!(
            "{input:?} parsed as {value:?}, expected {expected:?}"
        )),
        Err(_) if can_fail => {
            tally.can_fail_refused += 1;
            Ok(())
        }
        Err(e) => Err(format!("{input:?} failed: {e}")),
    }
}

/// A parsed value in a form both the parser's output and the suite's
/// `expected` convert to.
#[derive(Debug, PartialEq)]
enum Value {
    List(Vec<Entry>),
    Dictionary(Vec<(String, Entry)>),
    Item(Item),
}

#[derive(Debug, PartialEq)]
enum Entry {
    Item(Item),
    InnerList(Vec<Item>, Params),
}

type Item = (Bare, Params);
type Params = Vec<(String, Bare)>;

#[derive(Debug, PartialEq)]
enum Bare {
    Integer(i64),
    /// Thousandths.
    Decimal(i64),
    String(String),
    Token(String),
    Binary(Vec<u8>),
    Boolean(bool),
    Date(i64),
    DisplayString(String),
}

fn member(m: &Member<'_>) -> Entry {
    match m {
        Member::Item(item) => Entry::Item(item_of(item)),
        Member::InnerList(list) => Entry::InnerList(
            list.items.iter().map(item_of).collect(),
            params_of(&list.params),
        ),
    }
}

fn item_of(item: &sf::Item<'_>) -> Item {
    (bare_of(&item.bare), params_of(&item.params))
}

fn params_of(params: &sf::Parameters<'_>) -> Params {
    params
        .iter()
        .map(|(key, value)| ((*key).to_owned(), bare_of(value)))
        .collect()
}

fn bare_of(bare: &BareItem<'_>) -> Bare {
    match bare {
        BareItem::Integer(i) => Bare::Integer(*i),
        BareItem::Decimal(d) => Bare::Decimal(d.thousandths()),
        BareItem::String(s) => Bare::String(s.to_string()),
        BareItem::Token(t) => Bare::Token((*t).to_owned()),
        BareItem::ByteSequence(b) => Bare::Binary(b.decode()),
        BareItem::Boolean(b) => Bare::Boolean(*b),
        BareItem::Date(d) => Bare::Date(*d),
        BareItem::DisplayString(s) => Bare::DisplayString(s.to_string()),
    }
}

/// A list member or dictionary value of `expected`: `[bare, params]` or,
/// for an inner list, `[[items...], params]`.
fn expected_member(json: &Json) -> Entry {
    let pair = json.array();
    match &pair[0] {
        Json::Array(items) => Entry::InnerList(
            items.iter().map(expected_item).collect(),
            expected_params(&pair[1]),
        ),
        _ => Entry::Item(expected_item(json)),
    }
}

fn expected_item(json: &Json) -> Item {
    let pair = json.array();
    (expected_bare(&pair[0]), expected_params(&pair[1]))
}

fn expected_params(json: &Json) -> Params {
    json.array()
        .iter()
        .map(|pair| {
            let pair = pair.array();
            (pair[0].str().to_owned(), expected_bare(&pair[1]))
        })
        .collect()
}

fn expected_bare(json: &Json) -> Bare {
    match json {
        Json::Number(text) if text.contains('.') => Bare::Decimal(thousandths(text)),
        Json::Number(text) => Bare::Integer(text.parse().expect("an integer")),
        Json::String(s) => Bare::String(s.clone()),
        Json::Bool(b) => Bare::Boolean(*b),
        Json::Object(_) => {
            let value = json.get("value");
            match json.get("__type").str() {
                "token" => Bare::Token(value.str().to_owned()),
                "binary" => Bare::Binary(base32(value.str())),
                "date" => Bare::Date(match value {
                    Json::Number(text) => text.parse().expect("an integer date"),
                    other => panic!("date {other:?}"),
                }),
                "displaystring" => Bare::DisplayString(value.str().to_owned()),
                other => panic!("unknown __type {other:?}"),
            }
        }
        other => panic!("not a bare item: {other:?}"),
    }
}

/// A JSON decimal with at most three fractional digits, exactly, in
/// thousandths.
fn thousandths(text: &str) -> i64 {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').expect("a decimal point");
    assert!(fraction.len() <= 3, "{text}: more than 3 fractional digits");
    let mut value: i64 = whole.parse::<i64>().expect("digits") * 1000;
    let mut scale = 100;
    for d in fraction.bytes() {
        assert!(d.is_ascii_digit(), "{text}");
        value += i64::from(d - b'0') * scale;
        scale /= 10;
    }
    if negative { -value } else { value }
}

/// RFC 4648 base32, as the suite encodes binary values.
fn base32(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("{text}: not base32"),
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Just enough JSON for the suite's files.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    /// The number's text, so decimals compare exactly.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            pos: 0,
        };
        let value = reader.value()?;
        reader.ws();
        if reader.pos != reader.bytes.len() {
            return Err(format!("trailing data at {}", reader.pos));
        }
        Ok(value)
    }

    fn find(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> &Json {
        self.find(key)
            .unwrap_or_else(|| panic!("no {key:?} in {self:?}"))
    }

    fn array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::String(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            other => panic!("not a boolean: {other:?}"),
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", char::from(byte), self.pos))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(format!("bad literal at {}", self.pos))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.peek() {
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(format!("bad array at {}", self.pos)),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.expect(b':')?;
                    members.push((key, self.value()?));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(format!("bad object at {}", self.pos)),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap();
                if text.contains(['e', 'E']) {
                    return Err(format!("exponent in {text}: not used by the suite"));
                }
                Ok(Json::Number(text.to_owned()))
            }
            _ => Err(format!("unexpected byte at {}", self.pos)),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err("unterminated string".into());
            };
            self.pos += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let escaped = self.peek().ok_or("unterminated escape")?;
                    self.pos += 1;
                    let c = match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let high = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&high) {
                                self.expect(b'\\')?;
                                self.expect(b'u')?;
                                let low = self.hex4()?;
                                0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                            } else {
                                high
                            };
                            char::from_u32(code).ok_or("bad \\u escape")?
                        }
                        _ => return Err(format!("bad escape at {}", self.pos)),
                    };
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or("short \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
        self.pos += 4;
        u32::from_str_radix(text, 16).map_err(|e| e.to_string())
    }
}
