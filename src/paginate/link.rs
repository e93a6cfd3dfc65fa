//! The `Link` header field (RFC 8288 §3), parsed strictly: a value that
//! does not follow the grammar is an error, never an empty list.

use std::fmt;

/// One link of a `Link` header field: a target and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    target: String,
    params: Vec<(String, String)>,
}

impl Link {
    /// The target URI reference, as written (possibly relative).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The value of the first parameter called `name` (case-insensitive),
    /// unquoted. RFC 8288 §3.3 ignores a second `rel`, and so does this.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The relation types of the first `rel` parameter (a space-separated
    /// list), lower-cased.
    pub fn rels(&self) -> impl Iterator<Item = String> + '_ {
        self.param("rel")
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(str::to_ascii_lowercase)
    }

    /// Whether one of the relation types is `rel` (case-insensitive).
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rels().any(|r| r.eq_ignore_ascii_case(rel))
    }
}

/// A `Link` header field value that does not follow RFC 8288's grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLink {
    at: usize,
    why: &'static str,
}

impl fmt::Display for InvalidLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Link header at byte {}: {}", self.at, self.why)
    }
}

impl std::error::Error for InvalidLink {}

/// Parses one `Link` field value: `#link-value` where
/// `link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )` and
/// `link-param = token BWS [ "=" BWS ( token / quoted-string ) ]`.
///
/// ```
/// use girder::paginate::parse_link_header;
///
/// let links = parse_link_header(
///     r#"<https://api.test/items?page=3>; rel="next last", </items?page=1>; rel=first"#,
/// ).unwrap();
/// assert!(links[0].has_rel("next") && links[0].has_rel("last"));
/// assert_eq!(links[1].target(), "/items?page=1");
/// assert!(parse_link_header("page=3; next").is_err());
/// ```
pub fn parse_link_header(value: &str) -> Result<Vec<Link>, InvalidLink> {
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    let mut links = Vec::new();
    loop {
        p.ows();
        if p.eof() {
            return Ok(links);
        }
        // Empty list elements (", ,") are allowed by the `#` rule.
        if p.eat(b',') {
            continue;
        }
        links.push(p.link_value(value)?);
        p.ows();
        if p.eof() {
            return Ok(links);
        }
        if !p.eat(b',') {
            return Err(p.err("expected ',' between links"));
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn err(&self, why: &'static str) -> InvalidLink {
        InvalidLink { at: self.i, why }
    }

    fn link_value(&mut self, text: &str) -> Result<Link, InvalidLink> {
        if !self.eat(b'<') {
            return Err(self.err("a link must start with '<'"));
        }
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b'>' {
                break;
            }
            if c.is_ascii_whitespace() || c.is_ascii_control() || c == b'<' {
                return Err(self.err("a link target may not hold spaces or '<'"));
            }
            self.i += 1;
        }
        if !self.eat(b'>') {
            return Err(self.err("a link target is missing its '>'"));
        }
        let target = text[start..self.i - 1].to_owned();
        let mut params = Vec::new();
        loop {
            self.ows();
            if !self.eat(b';') {
                break;
            }
            self.ows();
            // A trailing ';' before ',' or the end is tolerated, as browsers do.
            if self.eof() || self.peek() == Some(b',') {
                break;
            }
            let name = self
                .token()
                .ok_or_else(|| self.err("expected a parameter name"))?;
            self.ows();
            let value = if self.eat(b'=') {
                self.ows();
                if self.peek() == Some(b'"') {
                    self.quoted()?
                } else {
                    self.token()
                        .ok_or_else(|| self.err("expected a token or a quoted string"))?
                }
            } else {
                String::new()
            };
            params.push((name.to_ascii_lowercase(), value));
        }
        Ok(Link { target, params })
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            // RFC 9110 tchar; '*' also admits RFC 8187's `title*`.
            if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c) {
                self.i += 1;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> Result<String, InvalidLink> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.err("a quoted string is not closed")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.i += 1;
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    match self.peek() {
                        Some(c) if c.is_ascii_control() && c != b'\t' => {
                            return Err(self.err("a control character in a quoted string"));
                        }
                        Some(c) => out.push(c),
                        None => return Err(self.err("a quoted string ends in '\\'")),
                    }
                    self.i += 1;
                }
                Some(c) if c.is_ascii_control() && c != b'\t' => {
                    return Err(self.err("a control character in a quoted string"));
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_links_rels_and_quoted_params() {
        let links = parse_link_header(
            r#"<https://a.test/x?page=2&per_page=10>; rel="next", <https://a.test/x?page=5>;rel=last;title="a, \"b\"; c""#,
        )
        .unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].target(), "https://a.test/x?page=2&per_page=10");
        assert!(links[0].has_rel("NEXT"));
        assert!(links[1].has_rel("last") && !links[1].has_rel("next"));
        assert_eq!(links[1].param("title"), Some(r#"a, "b"; c"#));
    }

    #[test]
    fn the_first_rel_wins_and_lists_of_rels_split() {
        let links =
            parse_link_header(r#"<a>; rel="prev"; rel="next", <b>; REL="Next  last""#).unwrap();
        assert!(!links[0].has_rel("next"));
        assert_eq!(links[1].rels().collect::<Vec<_>>(), ["next", "last"]);
    }

    #[test]
    fn empty_elements_and_empty_values() {
        assert!(parse_link_header("").unwrap().is_empty());
        assert_eq!(parse_link_header(" , <a>; rel=next ,, ").unwrap().len(), 1);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "https://a.test/x; rel=next",
            "<https://a.test/x; rel=next",
            "<a> rel=next",
            "<a>; rel=\"next",
            "<a>; =next",
            "<a b>; rel=next",
            "<a>; rel=next <b>",
        ] {
            assert!(parse_link_header(bad).is_err(), "{bad}");
        }
    }
}
