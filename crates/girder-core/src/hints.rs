//! What the server said about when to come back, parsed into one value.
//!
//! [`ServerHints`] gathers, from one response's headers:
//!
//! - `Retry-After`, as delta-seconds or an HTTP-date (RFC 9110, 10.2.3);
//! - the IETF `RateLimit` and `RateLimit-Policy` fields
//!   (draft-ietf-httpapi-ratelimit-headers), parsed as structured fields
//!   (RFC 9651): the current list form (`"default";r=0;t=30` and
//!   `"default";q=100;w=60`), the earlier dictionary form
//!   (`limit=100, remaining=0, reset=30`) and the earliest separate
//!   `RateLimit-Limit`/`-Remaining`/`-Reset` fields;
//! - the common `X-RateLimit-Limit`/`-Remaining`/`-Reset` fields (also
//!   spelled `X-Rate-Limit-*`), where the reset is delta-seconds, a Unix
//!   time in seconds or milliseconds, possibly with a fraction, and
//!   `X-RateLimit-Reset-After` in seconds.
//!
//! Rules, the same for every field:
//!
//! - A value that does not parse is ignored, never an error: a hint is
//!   advice, and a garbage header must not fail a request.
//! - Times are durations from now, never negative (a past date is zero)
//!   and never above [`MAX_HINT`] (a far-future or overflowing value
//!   saturates to it, so a consumer's own cap still sees "too long").
//! - Duplicate fields are combined conservatively: the longest wait, the
//!   lowest remaining count, the lowest limit. Waiting a little longer
//!   than needed costs less than being banned by an API.
//! - A Unix time is told from delta-seconds by size: 10⁹ seconds is 31
//!   years, which no server means as a delay, while every Unix time since
//!   2001 is larger.
//!
//! `RateLimit` and `RateLimit-Policy` are read by girder-core's own
//! structured-field parser: parsing only, strict to RFC 9651 (a value it
//! refuses is ignored whole), and run against the published conformance
//! suite (httpwg/structured-field-tests) in girder-core's tests. The
//! well-kept `sfv` crate would do, but it brings seven more crates, a
//! proc-macro stack among them, to every layer that reads hints on its own
//! (girder-retry, girder-ratelimit, girder-breaker); a parser that only
//! reads is a few hundred lines.
//!
//! Converting an HTTP-date or a Unix time needs the wall clock.
//! [`ServerHints::from_headers`] reads it once, in this module only;
//! [`ServerHints::parse`] takes `now` as an argument for tests and replays.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use girder_core::hints::{HintSource, ServerHints};
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("retry-after", "7".parse().unwrap());
//! headers.insert("ratelimit-policy", r#""hourly";q=1000;w=3600"#.parse().unwrap());
//! headers.insert("ratelimit", r#""hourly";r=0;t=42"#.parse().unwrap());
//!
//! let hints = ServerHints::parse(&headers, SystemTime::UNIX_EPOCH);
//! assert_eq!(hints.retry_after(), Some(Duration::from_secs(7)));
//! let quota = hints.quotas().next().unwrap();
//! assert_eq!(quota.name.as_deref(), Some("hourly"));
//! assert_eq!((quota.limit, quota.remaining), (Some(1000), Some(0)));
//! assert_eq!(quota.window, Some(Duration::from_secs(3600)));
//! assert_eq!(hints.exhausted_for(), Some(Duration::from_secs(42)));
//! // Retry-After wins over a quota reset when both are present.
//! assert_eq!(hints.delay(), Some((Duration::from_secs(7), HintSource::RetryAfter)));
//! ```

use std::time::{Duration, SystemTime};

use http::header::{GetAll, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, HeaderName};

use sf::{BareItem, Item, Member};

pub(crate) mod sf;

/// The longest wait a hint can express; longer values saturate to this.
pub const MAX_HINT: Duration = Duration::from_secs(24 * 60 * 60);

/// Unix times below this are read as delta-seconds (see the module docs).
const UNIX_TIME_FLOOR: u64 = 1_000_000_000;
/// Unix times at or above this are read as milliseconds.
const UNIX_MILLIS_FLOOR: u64 = 1_000_000_000_000;

const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The names of one spelling of the `X-RateLimit-*` fields.
struct XNames {
    limit: HeaderName,
    remaining: HeaderName,
    reset: HeaderName,
    reset_after: HeaderName,
}

const X_SPELLINGS: [XNames; 2] = [
    XNames {
        limit: HeaderName::from_static("x-ratelimit-limit"),
        remaining: HeaderName::from_static("x-ratelimit-remaining"),
        reset: HeaderName::from_static("x-ratelimit-reset"),
        reset_after: HeaderName::from_static("x-ratelimit-reset-after"),
    },
    XNames {
        limit: HeaderName::from_static("x-rate-limit-limit"),
        remaining: HeaderName::from_static("x-rate-limit-remaining"),
        reset: HeaderName::from_static("x-rate-limit-reset"),
        reset_after: HeaderName::from_static("x-rate-limit-reset-after"),
    },
];

/// Which header a hint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HintSource {
    /// `Retry-After`.
    RetryAfter,
    /// The IETF `RateLimit` / `RateLimit-Policy` fields, or the earlier
    /// `RateLimit-Limit/-Remaining/-Reset` fields.
    RateLimit,
    /// `X-RateLimit-*` or `X-Rate-Limit-*`.
    XRateLimit,
}

/// One quota the server announced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quota {
    /// The policy name (IETF list form only).
    pub name: Option<String>,
    /// Requests (or quota units) allowed per window.
    pub limit: Option<u64>,
    /// Requests left in the current window.
    pub remaining: Option<u64>,
    /// Time until the window resets.
    pub reset: Option<Duration>,
    /// Length of the policy's window.
    pub window: Option<Duration>,
}

impl Quota {
    fn is_empty(&self) -> bool {
        self.limit.is_none()
            && self.remaining.is_none()
            && self.reset.is_none()
            && self.window.is_none()
    }
}

/// The hints of one response; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHints {
    retry_after: Option<Duration>,
    quotas: Vec<(HintSource, Quota)>,
}

impl ServerHints {
    /// Parses `headers`, reading the system clock once for HTTP-dates and
    /// Unix times.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        // The one place girder-core reads the wall clock: HTTP-dates and
        // Unix times are wall-clock instants.
        #[allow(clippy::disallowed_methods)]
        let now = SystemTime::now();
        Self::parse(headers, now)
    }

    /// Parses `headers` as if the wall clock read `now`.
    pub fn parse(headers: &HeaderMap, now: SystemTime) -> Self {
        // Most responses carry no hint: one pass over the names decides
        // which groups to look up, instead of a dozen lookups that miss.
        let (mut retry, mut ietf, mut x) = (false, false, [false; 2]);
        for name in headers.keys() {
            let name = name.as_str();
            retry |= name == RETRY_AFTER.as_str();
            ietf |= name.starts_with("ratelimit");
            x[0] |= name.starts_with("x-ratelimit-");
            x[1] |= name.starts_with("x-rate-limit-");
        }
        let mut hints = ServerHints::default();
        if retry {
            hints.retry_after = retry_after(headers.get_all(RETRY_AFTER), now);
        }
        if ietf {
            for quota in ietf_quotas(headers) {
                hints.quotas.push((HintSource::RateLimit, quota));
            }
        }
        for (names, present) in X_SPELLINGS.iter().zip(x) {
            if !present {
                continue;
            }
            let quota = x_ratelimit(headers, names, now);
            if !quota.is_empty() {
                hints.quotas.push((HintSource::XRateLimit, quota));
            }
        }
        hints
    }

    /// The `Retry-After` delay, if the response had a valid one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Every quota announced, from any of the rate-limit fields.
    pub fn quotas(&self) -> impl ExactSizeIterator<Item = &Quota> + '_ {
        self.quotas.iter().map(|(_, quota)| quota)
    }

    /// Every quota announced, with the field it came from.
    pub fn quotas_with_source(&self) -> &[(HintSource, Quota)] {
        &self.quotas
    }

    /// How long until every exhausted quota (0 remaining) has reset: the
    /// longest such reset, or `None` when no announced quota is exhausted
    /// with a known reset.
    pub fn exhausted_for(&self) -> Option<Duration> {
        self.exhausted().map(|(delay, _)| delay)
    }

    fn exhausted(&self) -> Option<(Duration, HintSource)> {
        self.quotas
            .iter()
            .filter(|(_, q)| q.remaining == Some(0))
            .filter_map(|(source, q)| Some((q.reset?, *source)))
            .max_by_key(|(reset, _)| *reset)
    }

    /// The wait the server asked for, and where it came from:
    /// `Retry-After` when present, else the reset of an exhausted quota.
    pub fn delay(&self) -> Option<(Duration, HintSource)> {
        match self.retry_after {
            Some(delay) => Some((delay, HintSource::RetryAfter)),
            None => self.exhausted(),
        }
    }

    /// `true` when the response carried no usable hint.
    pub fn is_empty(&self) -> bool {
        self.retry_after.is_none() && self.quotas.is_empty()
    }
}

fn retry_after(values: GetAll<'_, HeaderValue>, now: SystemTime) -> Option<Duration> {
    values
        .iter()
        .filter_map(|value| {
            let text = value.to_str().ok()?.trim();
            if let Some(secs) = delta_seconds(text) {
                return Some(secs);
            }
            let date = httpdate::parse_http_date(text).ok()?;
            Some(until(date, now))
        })
        .max()
}

/// `1*DIGIT` seconds; overflow saturates at [`MAX_HINT`].
fn delta_seconds(text: &str) -> Option<Duration> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        text.parse::<u64>()
            .map_or(MAX_HINT, |secs| Duration::from_secs(secs).min(MAX_HINT)),
    )
}

fn until(instant: SystemTime, now: SystemTime) -> Duration {
    instant
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
        .min(MAX_HINT)
}

/// A non-negative count: `1*DIGIT`, optionally followed by `,` or `;` and
/// anything (the earliest drafts appended policies after the count).
fn count(text: &str) -> Option<u64> {
    let text = text.trim();
    let end = text.find([',', ';']).unwrap_or(text.len());
    let digits = text[..end].trim_end();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Non-negative seconds with an optional fraction, as (whole, nanos).
fn decimal_seconds(text: &str) -> Option<(u64, u32)> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && fraction.is_empty())
    {
        return None;
    }
    let whole = whole.parse::<u64>().unwrap_or(u64::MAX);
    let mut nanos = 0u32;
    for (i, digit) in fraction.bytes().take(9).enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    Some((whole, nanos))
}

/// A reset given as delta-seconds or a Unix time (seconds or milliseconds).
fn reset(text: &str, now: SystemTime) -> Option<Duration> {
    let (whole, nanos) = decimal_seconds(text)?;
    if whole >= UNIX_MILLIS_FLOOR {
        let at = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(whole))?;
        return Some(until(at, now));
    }
    if whole >= UNIX_TIME_FLOOR {
        let at = SystemTime::UNIX_EPOCH.checked_add(Duration::new(whole, nanos))?;
        return Some(until(at, now));
    }
    Some(Duration::new(whole, nanos).min(MAX_HINT))
}

/// Combines every line of a field with `parse`, keeping the value `pick`
/// prefers.
fn combine<T>(
    headers: &HeaderMap,
    name: &HeaderName,
    parse: impl Fn(&str) -> Option<T>,
    pick: fn(T, T) -> T,
) -> Option<T> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| parse(v.to_str().ok()?))
        .reduce(pick)
}

fn x_ratelimit(headers: &HeaderMap, names: &XNames, now: SystemTime) -> Quota {
    let reset_at = combine(headers, &names.reset, |t| reset(t, now), Duration::max);
    let reset_after = combine(
        headers,
        &names.reset_after,
        |t| {
            decimal_seconds(t)
                .map(|(s, n)| Duration::new(s.min(MAX_HINT.as_secs()), n).min(MAX_HINT))
        },
        Duration::max,
    );
    Quota {
        name: None,
        limit: combine(headers, &names.limit, count, u64::min),
        remaining: combine(headers, &names.remaining, count, u64::min),
        reset: reset_after.max(reset_at),
        window: None,
    }
}

/// The Item of a list member; an Inner List announces no quota.
fn list_item<'m, 'a>(member: &'m Member<'a>) -> Option<&'m Item<'a>> {
    match member {
        Member::Item(item) => Some(item),
        Member::InnerList(_) => None,
    }
}

/// The policy name of a list member: its String or Token.
fn policy_name<'m>(item: &'m Item<'_>) -> Option<&'m str> {
    match &item.bare {
        BareItem::String(name) => Some(name),
        BareItem::Token(name) => Some(name),
        _ => None,
    }
}

/// Parameter `key` when it is an Integer.
fn int_param(item: &Item<'_>, key: &str) -> Option<i64> {
    item.params.get(key).and_then(BareItem::as_integer)
}

/// All lines of a field joined as one structured-field value (RFC 9651,
/// section 4.2), or `None` when absent or not ASCII.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out = String::new();
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?;
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(text);
    }
    (!out.is_empty()).then_some(out)
}

fn non_negative(value: Option<i64>) -> Option<u64> {
    value.and_then(|v| u64::try_from(v).ok())
}

fn seconds(value: Option<i64>) -> Option<Duration> {
    non_negative(value).map(|s| Duration::from_secs(s).min(MAX_HINT))
}

fn ietf_quotas(headers: &HeaderMap) -> Vec<Quota> {
    let mut quotas: Vec<Quota> = Vec::new();
    let find = |quotas: &mut Vec<Quota>, name: Option<&str>| -> usize {
        match quotas.iter().position(|q| q.name.as_deref() == name) {
            Some(i) => i,
            None => {
                quotas.push(Quota {
                    name: name.map(str::to_owned),
                    ..Quota::default()
                });
                quotas.len() - 1
            }
        }
    };

    if let Some(policy) = joined(headers, &RATELIMIT_POLICY)
        && let Ok(members) = sf::parse_list(&policy)
    {
        for item in members.iter().filter_map(list_item) {
            // Current drafts: `"name";q=100;w=60`. Earlier ones: `100;w=60`.
            let limit = non_negative(int_param(item, "q").or(item.bare.as_integer()));
            let window = seconds(int_param(item, "w"));
            if limit.is_none() && window.is_none() {
                continue;
            }
            let i = find(&mut quotas, policy_name(item));
            quotas[i].limit = limit.or(quotas[i].limit);
            quotas[i].window = window.or(quotas[i].window);
        }
    }

    if let Some(field) = joined(headers, &RATELIMIT) {
        if let Ok(members) = sf::parse_list(&field) {
            for item in members.iter().filter_map(list_item) {
                let remaining = non_negative(int_param(item, "r"));
                let reset = seconds(int_param(item, "t"));
                if remaining.is_none() && reset.is_none() {
                    continue;
                }
                let i = find(&mut quotas, policy_name(item));
                quotas[i].remaining = remaining.or(quotas[i].remaining);
                quotas[i].reset = reset.or(quotas[i].reset);
            }
        } else if let Ok(members) = sf::parse_dictionary(&field) {
            // The dictionary form of drafts 06 and 07.
            let i = find(&mut quotas, None);
            for (key, member) in &members {
                let value = list_item(member).and_then(|item| item.bare.as_integer());
                match *key {
                    "limit" => quotas[i].limit = non_negative(value).or(quotas[i].limit),
                    "remaining" => quotas[i].remaining = non_negative(value),
                    "reset" => quotas[i].reset = seconds(value),
                    _ => {}
                }
            }
        }
    }

    // The separate fields of the earliest drafts.
    let limit = combine(headers, &RATELIMIT_LIMIT, count, u64::min);
    let remaining = combine(headers, &RATELIMIT_REMAINING, count, u64::min);
    let reset = combine(headers, &RATELIMIT_RESET, delta_seconds, Duration::max);
    if limit.is_some() || remaining.is_some() || reset.is_some() {
        let i = find(&mut quotas, None);
        quotas[i].limit = quotas[i].limit.or(limit);
        quotas[i].remaining = quotas[i].remaining.or(remaining);
        quotas[i].reset = quotas[i].reset.or(reset);
    }

    quotas.retain(|q| !q.is_empty());
    quotas
}

#[cfg(test)]
mod tests;
