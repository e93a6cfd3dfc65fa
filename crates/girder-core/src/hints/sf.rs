//! Structured Field Values for HTTP (RFC 9651): parsing only.
//!
//! The `RateLimit` and `RateLimit-Policy` fields are structured fields.
//! This module parses the three top-level types (List, Dictionary, Item)
//! following the algorithms of RFC 9651, section 4.2, step by step, with
//! every bare item type: Integer, Decimal, String, Token, Byte Sequence,
//! Boolean, Date and Display String. It serialises nothing.
//!
//! - Strict: anything the RFC's algorithm fails on fails here, as one
//!   [`Error`] for the whole field value (the caller then ignores the
//!   field, as section 4.2 requires). `tests/structured_fields.rs` runs
//!   the published conformance suite against it.
//! - Cheap: tokens, keys and byte sequences borrow from the input; a
//!   String or Display String allocates only when it holds an escape.
//!   Byte sequences are validated but kept as their base64 text
//!   ([`ByteSequence::decode`] decodes on demand).
//! - Bounded: no panics, no recursion beyond the grammar's one level of
//!   Inner List, and linear time: a repeated key is found through a hash
//!   index once a dictionary or parameter list grows past a few members.
//!
//! Several field lines are combined by the caller, joined with `", "`
//! (section 4.2 and RFC 9110, section 5.3), before parsing.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

/// Digits an Integer may have: its magnitude is at most fifteen nines.
const INTEGER_DIGITS: usize = 15;
/// Digits a Decimal may have before its point, and after it.
const DECIMAL_WHOLE_DIGITS: usize = 12;
const DECIMAL_FRACTION_DIGITS: usize = 3;
/// Members a dictionary or parameter list holds before repeated keys are
/// looked up in a hash index instead of by a linear scan.
const INDEX_FROM: usize = 8;

/// Why a field value is not a structured field of the type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    at: usize,
    reason: &'static str,
}

impl Error {
    /// The byte offset in the input where parsing failed.
    pub fn position(&self) -> usize {
        self.at
    }

    /// What the parser expected there.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid structured field at byte {}: {}",
            self.at, self.reason
        )
    }
}

impl std::error::Error for Error {}

/// An exact Decimal: at most twelve digits before the point and three
/// after, held as a count of thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(i64);

impl Decimal {
    /// The value in thousandths: `1.5` is 1500, `-0.001` is -1.
    pub fn thousandths(self) -> i64 {
        self.0
    }
}

/// A Byte Sequence, kept as the base64 text between its colons, which the
/// parser has checked decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSequence<'a>(&'a str);

impl<'a> ByteSequence<'a> {
    /// The base64 text as received (padding may be absent).
    pub fn base64(&self) -> &'a str {
        self.0
    }

    /// The bytes. Pad bits that are not zero are ignored, as RFC 9651,
    /// section 4.2.7 recommends.
    pub fn decode(&self) -> Vec<u8> {
        let digits = self.0.trim_end_matches('=').as_bytes();
        let mut out = Vec::with_capacity(digits.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0u32);
        for &c in digits {
            // Validated at parse time: every byte is a base64 digit.
            acc = (acc << 6) | u32::from(base64_value(c).unwrap_or(0));
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }
}

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// A Bare Item (RFC 9651, section 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BareItem<'a> {
    /// An Integer, within ±999,999,999,999,999.
    Integer(i64),
    /// A Decimal.
    Decimal(Decimal),
    /// A String, unescaped: borrowed unless it held a `\` escape.
    String(Cow<'a, str>),
    /// A Token.
    Token(&'a str),
    /// A Byte Sequence.
    ByteSequence(ByteSequence<'a>),
    /// A Boolean.
    Boolean(bool),
    /// A Date, in seconds since the Unix epoch.
    Date(i64),
    /// A Display String, percent-decoded: borrowed unless it held a `%`
    /// escape.
    DisplayString(Cow<'a, str>),
}

impl BareItem<'_> {
    /// The value of an Integer, else `None`.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            BareItem::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

/// The Parameters of an Item or Inner List, in order, each key once (a
/// repeated key kept its first position and took the last value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters<'a>(Vec<(&'a str, BareItem<'a>)>);

impl<'a> Parameters<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&BareItem<'a>> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Every parameter, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &(&'a str, BareItem<'a>)> + '_ {
        self.0.iter()
    }

    /// How many parameters there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An Item: a bare item and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    /// The value.
    pub bare: BareItem<'a>,
    /// Its parameters.
    pub params: Parameters<'a>,
}

/// An Inner List: items in parentheses, and the list's own parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerList<'a> {
    /// The items.
    pub items: Vec<Item<'a>>,
    /// The parameters after the closing parenthesis.
    pub params: Parameters<'a>,
}

/// A member of a List or a value of a Dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member<'a> {
    /// An Item.
    Item(Item<'a>),
    /// An Inner List.
    InnerList(InnerList<'a>),
}

/// A parsed Dictionary: keys in order of first appearance, each once, with
/// the value of its last appearance.
pub type Dictionary<'a> = Vec<(&'a str, Member<'a>)>;

/// Parses `input` as a List (RFC 9651, sections 4.2 and 4.2.1). An empty
/// or all-space value is the empty list.
pub fn parse_list(input: &str) -> Result<Vec<Member<'_>>, Error> {
    let mut p = Parser::new(input);
    p.skip_sp();
    let list = p.list()?;
    p.end()?;
    Ok(list)
}

/// Parses `input` as a Dictionary (RFC 9651, sections 4.2 and 4.2.2). An
/// empty or all-space value is the empty dictionary.
pub fn parse_dictionary(input: &str) -> Result<Dictionary<'_>, Error> {
    let mut p = Parser::new(input);
    p.skip_sp();
    let dictionary = p.dictionary()?;
    p.end()?;
    Ok(dictionary)
}

/// Parses `input` as an Item (RFC 9651, sections 4.2 and 4.2.3).
pub fn parse_item(input: &str) -> Result<Item<'_>, Error> {
    let mut p = Parser::new(input);
    p.skip_sp();
    let item = p.item()?;
    p.end()?;
    Ok(item)
}

/// An ordered map under construction: a repeated key overwrites its value
/// in place (sections 4.2.2 and 4.2.3.2).
struct OrderedMap<'a, V> {
    entries: Vec<(&'a str, V)>,
    index: Option<HashMap<&'a str, usize>>,
}

impl<'a, V> OrderedMap<'a, V> {
    fn new() -> Self {
        OrderedMap {
            entries: Vec::new(),
            index: None,
        }
    }

    fn insert(&mut self, key: &'a str, value: V) {
        if let Some(index) = &mut self.index {
            match index.entry(key) {
                Entry::Occupied(at) => {
                    if let Some(slot) = self.entries.get_mut(*at.get()) {
                        slot.1 = value;
                    }
                }
                Entry::Vacant(at) => {
                    at.insert(self.entries.len());
                    self.entries.push((key, value));
                }
            }
            return;
        }
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
            return;
        }
        self.entries.push((key, value));
        if self.entries.len() >= INDEX_FROM {
            let index = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (*k, i))
                .collect();
            self.index = Some(index);
        }
    }
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser { input, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn fail<T>(&self, reason: &'static str) -> Result<T, Error> {
        Err(Error {
            at: self.pos,
            reason,
        })
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.pos += usize::from(next);
        next
    }

    /// Consumes bytes while `keep` holds.
    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
    }

    fn skip_sp(&mut self) {
        self.skip_while(|b| b == b' ');
    }

    /// OWS: spaces and horizontal tabs.
    fn skip_ows(&mut self) {
        self.skip_while(|b| b == b' ' || b == b'\t');
    }

    /// The input from `start` to the current position. Every caller has
    /// checked those bytes are ASCII, so the range lies on character
    /// boundaries; were it not to, this fails rather than panics.
    fn since(&self, start: usize) -> Result<&'a str, Error> {
        match self.input.get(start..self.pos) {
            Some(text) => Ok(text),
            None => self.fail("not ASCII"),
        }
    }

    /// Section 4.2, steps 6 and 7: only spaces may follow.
    fn end(&mut self) -> Result<(), Error> {
        self.skip_sp();
        if self.is_empty() {
            Ok(())
        } else {
            self.fail("unexpected character after the value")
        }
    }

    /// Section 4.2.1.
    fn list(&mut self) -> Result<Vec<Member<'a>>, Error> {
        let mut members = Vec::new();
        while !self.is_empty() {
            members.push(self.item_or_inner_list()?);
            self.skip_ows();
            if self.is_empty() {
                return Ok(members);
            }
            if !self.eat(b',') {
                return self.fail("expected ',' between list members");
            }
            self.skip_ows();
            if self.is_empty() {
                return self.fail("trailing ','");
            }
        }
        Ok(members)
    }

    /// Section 4.2.1.1.
    fn item_or_inner_list(&mut self) -> Result<Member<'a>, Error> {
        if self.peek() == Some(b'(') {
            self.inner_list().map(Member::InnerList)
        } else {
            self.item().map(Member::Item)
        }
    }

    /// Section 4.2.1.2.
    fn inner_list(&mut self) -> Result<InnerList<'a>, Error> {
        if !self.eat(b'(') {
            return self.fail("expected '('");
        }
        let mut items = Vec::new();
        while !self.is_empty() {
            self.skip_sp();
            if self.eat(b')') {
                let params = self.parameters()?;
                return Ok(InnerList { items, params });
            }
            items.push(self.item()?);
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return self.fail("expected ' ' or ')' after an inner list item");
            }
        }
        self.fail("inner list without ')'")
    }

    /// Section 4.2.2.
    fn dictionary(&mut self) -> Result<Dictionary<'a>, Error> {
        let mut map = OrderedMap::new();
        while !self.is_empty() {
            let key = self.key()?;
            let member = if self.eat(b'=') {
                self.item_or_inner_list()?
            } else {
                Member::Item(Item {
                    bare: BareItem::Boolean(true),
                    params: self.parameters()?,
                })
            };
            map.insert(key, member);
            self.skip_ows();
            if self.is_empty() {
                return Ok(map.entries);
            }
            if !self.eat(b',') {
                return self.fail("expected ',' between dictionary members");
            }
            self.skip_ows();
            if self.is_empty() {
                return self.fail("trailing ','");
            }
        }
        Ok(map.entries)
    }

    /// Section 4.2.3.
    fn item(&mut self) -> Result<Item<'a>, Error> {
        let bare = self.bare_item()?;
        let params = self.parameters()?;
        Ok(Item { bare, params })
    }

    /// Section 4.2.3.1.
    fn bare_item(&mut self) -> Result<BareItem<'a>, Error> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string().map(BareItem::String),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => self.token().map(BareItem::Token),
            Some(b':') => self.byte_sequence().map(BareItem::ByteSequence),
            Some(b'?') => self.boolean().map(BareItem::Boolean),
            Some(b'@') => self.date().map(BareItem::Date),
            Some(b'%') => self.display_string().map(BareItem::DisplayString),
            _ => self.fail("expected an item"),
        }
    }

    /// Section 4.2.3.2.
    fn parameters(&mut self) -> Result<Parameters<'a>, Error> {
        if self.peek() != Some(b';') {
            return Ok(Parameters::default());
        }
        let mut map = OrderedMap::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            map.insert(key, value);
        }
        Ok(Parameters(map.entries))
    }

    /// Section 4.2.3.3: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> Result<&'a str, Error> {
        if !matches!(self.peek(), Some(b'a'..=b'z' | b'*')) {
            return self.fail("expected a key (lowercase letter or '*')");
        }
        let start = self.pos;
        self.skip_while(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'));
        self.since(start)
    }

    /// Section 4.2.4: an Integer or a Decimal.
    fn number(&mut self) -> Result<BareItem<'a>, Error> {
        let negative = self.eat(b'-');
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return self.fail("expected a digit");
        }
        let (mut whole, mut digits) = (0i64, 0usize);
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if digits == INTEGER_DIGITS {
                return self.fail("integer of more than 15 digits");
            }
            whole = whole * 10 + i64::from(b - b'0');
            digits += 1;
            self.pos += 1;
        }
        let sign = if negative { -1 } else { 1 };
        if self.peek() != Some(b'.') {
            return Ok(BareItem::Integer(sign * whole));
        }
        if digits > DECIMAL_WHOLE_DIGITS {
            return self.fail("decimal of more than 12 digits before the point");
        }
        self.pos += 1;
        let (mut fraction, mut fraction_digits) = (0i64, 0usize);
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if fraction_digits == DECIMAL_FRACTION_DIGITS {
                return self.fail("decimal of more than 3 digits after the point");
            }
            fraction = fraction * 10 + i64::from(b - b'0');
            fraction_digits += 1;
            self.pos += 1;
        }
        if fraction_digits == 0 {
            return self.fail("decimal without digits after the point");
        }
        for _ in fraction_digits..DECIMAL_FRACTION_DIGITS {
            fraction *= 10;
        }
        Ok(BareItem::Decimal(Decimal(sign * (whole * 1000 + fraction))))
    }

    /// Section 4.2.5.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        if !self.eat(b'"') {
            return self.fail("expected '\"'");
        }
        let start = self.pos;
        // Filled only once an escape is met: until then the text borrows.
        let mut owned: Option<String> = None;
        loop {
            let Some(b) = self.peek() else {
                return self.fail("string without closing '\"'");
            };
            match b {
                b'"' => {
                    let text = match owned {
                        Some(text) => Cow::Owned(text),
                        None => Cow::Borrowed(self.since(start)?),
                    };
                    self.pos += 1;
                    return Ok(text);
                }
                b'\\' => {
                    let text = match &mut owned {
                        Some(text) => text,
                        None => owned.insert(self.since(start)?.to_owned()),
                    };
                    self.pos += 1;
                    match self.peek() {
                        Some(escaped @ (b'"' | b'\\')) => text.push(char::from(escaped)),
                        _ => return self.fail("only '\"' and '\\' may be escaped"),
                    }
                }
                b' '..=b'~' => {
                    if let Some(text) = &mut owned {
                        text.push(char::from(b));
                    }
                }
                _ => return self.fail("character not allowed in a string"),
            }
            self.pos += 1;
        }
    }

    /// Section 4.2.6: `( ALPHA / "*" ) *( tchar / ":" / "/" )`.
    fn token(&mut self) -> Result<&'a str, Error> {
        if !matches!(self.peek(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'*')) {
            return self.fail("expected a token");
        }
        let start = self.pos;
        self.skip_while(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                        | b':'
                        | b'/'
                )
        });
        self.since(start)
    }

    /// Section 4.2.7. Padding may be absent or short and pad bits need not
    /// be zero (the RFC's SHOULD NOT fail); anything else base64 refuses
    /// fails.
    fn byte_sequence(&mut self) -> Result<ByteSequence<'a>, Error> {
        if !self.eat(b':') {
            return self.fail("expected ':'");
        }
        let start = self.pos;
        let rest = self.input.as_bytes().get(start..).unwrap_or_default();
        let Some(len) = rest.iter().position(|&b| b == b':') else {
            return self.fail("byte sequence without closing ':'");
        };
        let content = &rest[..len];
        let digits = content.iter().take_while(|&&b| b != b'=').count();
        for (i, &b) in content.iter().enumerate() {
            let ok = if i < digits {
                base64_value(b).is_some()
            } else {
                b == b'='
            };
            if !ok {
                self.pos = start + i;
                return self.fail("character not allowed in a byte sequence");
            }
        }
        let padding = len - digits;
        let partial = digits % 4;
        // One digit left over is six bits: not even a byte. Padding may be
        // short ("synthesizing padding if necessary") but not more than
        // completes the last group of four.
        if partial == 1 || (padding > 0 && (partial == 0 || partial + padding > 4)) {
            self.pos = start + digits;
            return self.fail("malformed base64");
        }
        self.pos = start + len;
        let text = self.since(start)?;
        self.pos += 1;
        Ok(ByteSequence(text))
    }

    /// Section 4.2.8.
    fn boolean(&mut self) -> Result<bool, Error> {
        if !self.eat(b'?') {
            return self.fail("expected '?'");
        }
        if self.eat(b'1') {
            Ok(true)
        } else if self.eat(b'0') {
            Ok(false)
        } else {
            self.fail("expected '1' or '0' after '?'")
        }
    }

    /// Section 4.2.9.
    fn date(&mut self) -> Result<i64, Error> {
        if !self.eat(b'@') {
            return self.fail("expected '@'");
        }
        let start = self.pos;
        match self.number()? {
            BareItem::Integer(seconds) => Ok(seconds),
            _ => {
                self.pos = start;
                self.fail("a date is an integer")
            }
        }
    }

    /// Section 4.2.10.
    fn display_string(&mut self) -> Result<Cow<'a, str>, Error> {
        if !(self.eat(b'%') && self.eat(b'"')) {
            return self.fail("expected '%\"'");
        }
        let start = self.pos;
        // Filled only once a percent escape is met: until then the text,
        // all ASCII, borrows.
        let mut bytes: Option<Vec<u8>> = None;
        loop {
            let Some(b) = self.peek() else {
                return self.fail("display string without closing '\"'");
            };
            match b {
                b'"' => {
                    let text = match bytes {
                        Some(bytes) => match String::from_utf8(bytes) {
                            Ok(text) => Cow::Owned(text),
                            Err(_) => return self.fail("display string is not UTF-8"),
                        },
                        None => Cow::Borrowed(self.since(start)?),
                    };
                    self.pos += 1;
                    return Ok(text);
                }
                b'%' => {
                    let out = match &mut bytes {
                        Some(out) => out,
                        None => bytes.insert(self.since(start)?.as_bytes().to_vec()),
                    };
                    self.pos += 1;
                    let hex = |at: usize| match self.input.as_bytes().get(at) {
                        Some(&d @ b'0'..=b'9') => Some(d - b'0'),
                        Some(&d @ b'a'..=b'f') => Some(d - b'a' + 10),
                        _ => None,
                    };
                    let (Some(high), Some(low)) = (hex(self.pos), hex(self.pos + 1)) else {
                        return self.fail("expected two lowercase hex digits after '%'");
                    };
                    out.push((high << 4) | low);
                    self.pos += 2;
                    continue;
                }
                b' '..=b'~' => {
                    if let Some(out) = &mut bytes {
                        out.push(b);
                    }
                }
                _ => return self.fail("character not allowed in a display string"),
            }
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests;
