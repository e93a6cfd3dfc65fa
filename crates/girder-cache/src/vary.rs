//! `Vary`: the request header values a stored response was selected by.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The request header values a stored response was selected by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Vary {
    /// `Vary: *`: matches no later request.
    Star,
    /// The nominated headers and the (normalised) values the original
    /// request had.
    Headers(Box<[Selected]>),
}

/// One header a `Vary` nominates, and what the original request had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Selected {
    /// A header the request's value of was remembered (`None`: the request
    /// did not have it), normalised.
    Value(HeaderName, Option<Box<[u8]>>),
    /// A credential header (`Vary: Authorization`, `Vary: Cookie`): its
    /// value is never kept, because it is already part of the key. The
    /// identity in the [`CacheKey`](crate::CacheKey) is the keyed hash of
    /// every value of every credential header, so two requests with one key
    /// have the same values (or both none), and the comparison the `Vary`
    /// asks for holds by construction. An entry, and so a shared store,
    /// never holds a credential.
    Keyed(HeaderName),
}

impl Selected {
    pub(crate) fn name(&self) -> &HeaderName {
        match self {
            Selected::Value(name, _) | Selected::Keyed(name) => name,
        }
    }
}

/// A header's lines as one list, without the whitespace around its
/// members: `a, b` and `a,b` on two lines select the same variant.
fn normalised(headers: &HeaderMap, name: &HeaderName) -> Option<Box<[u8]>> {
    let mut out: Vec<u8> = Vec::new();
    let mut any = false;
    for value in headers.get_all(name) {
        for member in value.as_bytes().split(|b| *b == b',') {
            let member = member.trim_ascii();
            if any {
                out.push(b',');
            }
            any = true;
            out.extend_from_slice(member);
        }
    }
    any.then(|| out.into_boxed_slice())
}

impl Vary {
    /// The `Vary` of a `response` to `request`; `keyed` are the credential
    /// headers the key is made from.
    pub(crate) fn of(response: &HeaderMap, request: &HeaderMap, keyed: &[HeaderName]) -> Vary {
        let mut selected: Vec<Selected> = Vec::new();
        for value in response.get_all(http::header::VARY) {
            let Ok(text) = value.to_str() else {
                return Vary::Star;
            };
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if name == "*" {
                    return Vary::Star;
                }
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    return Vary::Star;
                };
                if selected.iter().any(|s| *s.name() == name) {
                    continue;
                }
                if keyed.contains(&name) {
                    selected.push(Selected::Keyed(name));
                } else {
                    let values = normalised(request, &name);
                    selected.push(Selected::Value(name, values));
                }
            }
        }
        Vary::Headers(selected.into())
    }

    /// Whether a request with `headers` (and this entry's key) selects
    /// this response.
    pub(crate) fn matches(&self, headers: &HeaderMap) -> bool {
        match self {
            Vary::Star => false,
            Vary::Headers(selected) => selected.iter().all(|s| match s {
                Selected::Value(name, values) => normalised(headers, name) == *values,
                Selected::Keyed(_) => true,
            }),
        }
    }

    /// `headers` as `http-cache-semantics` must see them: each header this
    /// Vary nominates in its normalised form (it compares nominated headers
    /// byte for byte: given normalised headers on both sides it agrees with
    /// [`Vary::matches`]), and the keyed ones taken out, as they are from
    /// the request the policy was built from.
    pub(crate) fn normalise_request(&self, headers: &HeaderMap) -> HeaderMap {
        let mut out = headers.clone();
        if let Vary::Headers(selected) = self {
            for s in selected.iter() {
                match s {
                    Selected::Value(name, _) => {
                        if let Some(value) =
                            normalised(headers, name).and_then(|v| HeaderValue::from_bytes(&v).ok())
                        {
                            out.insert(name.clone(), value);
                        }
                    }
                    Selected::Keyed(name) => {
                        out.remove(name);
                    }
                }
            }
        }
        out
    }

    /// The nominated request headers the policy is built from: the
    /// remembered normalised values, never a keyed (credential) one.
    pub(crate) fn remembered(&self, out: &mut HeaderMap) {
        if let Vary::Headers(selected) = self {
            for s in selected.iter() {
                if let Selected::Value(name, Some(value)) = s
                    && let Ok(value) = HeaderValue::from_bytes(value)
                {
                    out.insert(name.clone(), value);
                }
            }
        }
    }

    /// Whether two requests with one key select the same variant under
    /// this Vary.
    pub(crate) fn same_selection(&self, a: &HeaderMap, b: &HeaderMap) -> bool {
        match self {
            Vary::Star => false,
            Vary::Headers(selected) => selected.iter().all(|s| match s {
                Selected::Value(name, _) => normalised(a, name) == normalised(b, name),
                Selected::Keyed(_) => true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    /// Pins the defect where `Vary: Authorization` (or `Cookie`) kept the
    /// credential's value in the entry, so a shared store would hold it.
    #[test]
    fn credential_headers_are_keyed_never_kept() {
        let keyed = [http::header::AUTHORIZATION, http::header::COOKIE];
        let request = headers(&[
            ("authorization", "Bearer s3cr3t"),
            ("cookie", "sid=s3cr3t"),
            ("accept", "a, b"),
        ]);
        let response = headers(&[("vary", "Authorization, Cookie, Accept")]);
        let vary = Vary::of(&response, &request, &keyed);
        assert!(!format!("{vary:?}").contains("s3cr3t"));
        let mut remembered = HeaderMap::new();
        vary.remembered(&mut remembered);
        assert_eq!(remembered.len(), 1);
        assert_eq!(remembered["accept"], "a,b");
        // The key already tells identities apart; the Vary still tells
        // `Accept` apart.
        assert!(vary.matches(&headers(&[("accept", "a,b")])));
        assert!(!vary.matches(&headers(&[("accept", "b")])));
        let view = vary.normalise_request(&request);
        assert!(!view.contains_key("authorization") && !view.contains_key("cookie"));
        assert_eq!(view["accept"], "a,b");
    }
}
