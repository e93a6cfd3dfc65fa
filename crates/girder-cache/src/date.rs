//! HTTP-date parsing as lenient as RFC 9110 §5.6.7 asks of recipients.
//!
//! `httpdate` reads the three forms exactly (and checks the weekday);
//! servers also send names in the wrong case and weekdays that do not
//! match the date. Those are read here, by position: the spacing must
//! still be exact, so `Thu, 18  Aug  2050 …` stays invalid.

use std::time::{Duration, SystemTime};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// 10000-01-01T00:00:00Z: the first instant `httpdate` cannot format (it
/// panics), reached by a leap second at the end of 9999.
const END_OF_9999: u64 = 253_402_300_800;

/// Parses an HTTP-date in any of its three forms; a date that cannot be
/// written back as an IMF-fixdate (after the year 9999) is invalid.
pub(crate) fn parse(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let parsed = match httpdate::parse_http_date(text) {
        Ok(t) => Some(t),
        Err(_) => imf(text).or_else(|| rfc850(text)).or_else(|| asctime(text)),
    };
    parsed.filter(|t| *t < SystemTime::UNIX_EPOCH + Duration::from_secs(END_OF_9999))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if !s[25..].eq_ignore_ascii_case(" gmt") {
        return None;
    }
    let day = num(&s[5..7])?;
    let month = month(&s[8..11])?;
    let year = num(&s[12..16])?;
    at(year, month, day, &s[17..25])
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850(s: &str) -> Option<SystemTime> {
    let (_, rest) = s.split_once(", ")?;
    let b = rest.as_bytes();
    if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' {
        return None;
    }
    if !rest[18..].eq_ignore_ascii_case(" gmt") {
        return None;
    }
    let day = num(&rest[0..2])?;
    let month = month(&rest[3..6])?;
    let yy = num(&rest[7..9])?;
    // RFC 9110: a two-digit year more than 50 years ahead is in the past.
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    at(year, month, day, &rest[10..18])
}

/// `Sun Nov  6 08:49:37 1994`
fn asctime(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 24 || b[3] != b' ' || b[7] != b' ' || b[10] != b' ' || b[19] != b' ' {
        return None;
    }
    let month = month(&s[4..7])?;
    let day = num(s[8..10].trim_start())?;
    let year = num(&s[20..24])?;
    at(year, month, day, &s[11..19])
}

fn num(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month(s: &str) -> Option<u64> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u64 + 1)
}

fn at(year: u64, month: u64, day: u64, time: &str) -> Option<SystemTime> {
    let b = time.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, sec) = (num(&time[0..2])?, num(&time[3..5])?, num(&time[6..8])?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || year < 1970 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe;
    let days = days.checked_sub(719_468)?;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn reads_the_three_forms_leniently_but_not_loose_spacing() {
        let exact = secs(parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap());
        assert_eq!(exact, 784_111_777);
        assert_eq!(secs(parse("SUN, 06 NOV 1994 08:49:37 gmt").unwrap()), exact);
        assert_eq!(
            secs(parse("Sunday, 06-Nov-94 08:49:37 GMT").unwrap()),
            exact
        );
        assert_eq!(secs(parse("Sun Nov  6 08:49:37 1994").unwrap()), exact);
        // A weekday that does not match the date is ignored.
        assert_eq!(secs(parse("Thu Nov  6 08:49:37 1994").unwrap()), exact);
        assert!(parse("Thu, 18  Aug  2050 02:01:18 GMT").is_none());
        assert!(parse("0").is_none());
        assert!(parse("Sun, 06 Foo 1994 08:49:37 GMT").is_none());
        assert!(parse("Sun, 32 Nov 1994 08:49:37 GMT").is_none());
    }
}
