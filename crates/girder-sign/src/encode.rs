//! Small encoders shared by the schemes: hex, percent-encoding, and the
//! time formats signatures carry. Hand-written: each is a few lines, and a
//! dependency for each would weigh more than the code.

// Each scheme uses some of these; a build without all three leaves the
// others unused.
#![cfg_attr(
    not(all(feature = "hmac", feature = "rfc9421", feature = "sigv4")),
    allow(dead_code)
)]

use std::time::{Duration, SystemTime};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes` (tests compare with it).
#[cfg(test)]
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Writes the lower-case hex of `bytes` into the start of `out` (which
/// must hold twice as many bytes) and returns that part of it.
pub(crate) fn hex_into<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a [u8] {
    let out = &mut out[..bytes.len() * 2];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    out
}

/// The lower-case hex SHA-256 of an empty body (every GET's): a constant,
/// so that signing a request without a body hashes nothing.
#[cfg(any(feature = "hmac", feature = "sigv4"))]
const EMPTY_SHA256_HEX: &[u8; 64] =
    b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The lower-case hex SHA-512 of an empty body.
#[cfg(feature = "hmac")]
const EMPTY_SHA512_HEX: &[u8; 128] = b"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

/// Writes the lower-case hex SHA-256 of `body` into the start of `out`
/// (at least 64 bytes) and returns that part; an empty body's is a
/// constant.
#[cfg(any(feature = "hmac", feature = "sigv4"))]
pub(crate) fn sha256_hex_into<'a>(body: &[u8], out: &'a mut [u8]) -> &'a [u8] {
    digest_hex_into::<sha2::Sha256>(body, EMPTY_SHA256_HEX, out)
}

/// [`sha256_hex_into`] with SHA-512 (`out` at least 128 bytes).
#[cfg(feature = "hmac")]
pub(crate) fn sha512_hex_into<'a>(body: &[u8], out: &'a mut [u8]) -> &'a [u8] {
    digest_hex_into::<sha2::Sha512>(body, EMPTY_SHA512_HEX, out)
}

/// The hex digest `D` of `body`, or `empty` (`D`'s of nothing) for an
/// empty body.
#[cfg(any(feature = "hmac", feature = "sigv4"))]
fn digest_hex_into<'a, D: sha2::Digest>(body: &[u8], empty: &[u8], out: &'a mut [u8]) -> &'a [u8] {
    if body.is_empty() {
        let out = &mut out[..empty.len()];
        out.copy_from_slice(empty);
        return out;
    }
    hex_into(&D::digest(body), out)
}

/// A short text built on the stack: timestamps, nonces. Writing past its
/// `N` bytes is a [`fmt::Error`](std::fmt::Error).
pub(crate) struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) fn new() -> Self {
        StackText {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let room = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// RFC 3986 unreserved characters: never percent-encoded by SigV4.
pub(crate) fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Where canonical text goes: a buffer, a hash, a MAC or a [`Count`].
/// Writing never fails, so text can be fed piece by piece to whichever
/// is wanted without building it first.
pub(crate) trait Sink {
    /// Appends `text`.
    fn put(&mut self, text: &str);

    /// Appends the decimal digits of `n`.
    fn put_u64(&mut self, n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = n;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(std::str::from_utf8(&buf[i..]).expect("digits are ASCII"));
    }

    /// Appends `%XX`, upper-case hex.
    fn put_escaped_byte(&mut self, b: u8) {
        let text = [
            b'%',
            HEX_UPPER[usize::from(b >> 4)],
            HEX_UPPER[usize::from(b & 0xf)],
        ];
        self.put(std::str::from_utf8(&text).expect("hex is ASCII"));
    }

    /// Appends `text` in ASCII lower case, without copying it first.
    fn put_lower(&mut self, text: &str) {
        let mut rest = text;
        while let Some(i) = rest.bytes().position(|b| b.is_ascii_uppercase()) {
            self.put(&rest[..i]);
            let lower = [rest.as_bytes()[i].to_ascii_lowercase()];
            self.put(std::str::from_utf8(&lower).expect("ASCII"));
            rest = &rest[i + 1..];
        }
        self.put(rest);
    }
}

impl Sink for String {
    fn put(&mut self, text: &str) {
        self.push_str(text);
    }
}

#[cfg(feature = "sigv4")]
impl Sink for sha2::Sha256 {
    fn put(&mut self, text: &str) {
        sha2::Digest::update(self, text.as_bytes());
    }
}

/// A [`Sink`] that only counts bytes: the exact size of a text before it
/// is built.
pub(crate) struct Count(pub(crate) usize);

impl Sink for Count {
    fn put(&mut self, text: &str) {
        self.0 += text.len();
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes every byte but the unreserved ones (and `/` when
/// `keep_slash`), with upper-case hex as SigV4 requires.
pub(crate) fn percent_encode(out: &mut impl Sink, input: &[u8], keep_slash: bool) {
    let mut rest = input;
    while !rest.is_empty() {
        let plain = rest
            .iter()
            .position(|&b| !(unreserved(b) || (keep_slash && b == b'/')))
            .unwrap_or(rest.len());
        out.put(std::str::from_utf8(&rest[..plain]).expect("unreserved bytes are ASCII"));
        if let Some(&b) = rest.get(plain) {
            out.put_escaped_byte(b);
            rest = &rest[plain + 1..];
        } else {
            rest = &[];
        }
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as
/// it is (a lenient reading, as browsers do).
pub(crate) fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A UTC civil time, enough for the formats below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) millis: u32,
}

/// Seconds (and milliseconds) since the epoch of `at`, zero before it.
pub(crate) fn since_epoch(at: SystemTime) -> Duration {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

impl Civil {
    pub(crate) fn of(at: SystemTime) -> Civil {
        let since = since_epoch(at);
        let secs = since.as_secs();
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3_600) as u32,
            minute: (rem % 3_600 / 60) as u32,
            second: (rem % 60) as u32,
            millis: since.subsec_millis(),
        }
    }

    /// `20150830T123600Z`, SigV4's `X-Amz-Date` (tests compare the
    /// hand-written form with it).
    #[cfg(test)]
    pub(crate) fn amz_date(&self) -> String {
        let mut text = String::new();
        self.write_amz_date(&mut text)
            .expect("a String takes any text");
        text
    }

    /// [`amz_date`](Self::amz_date) into `out`.
    pub(crate) fn write_amz_date(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        if let Ok(year @ 0..=9999) = u32::try_from(self.year) {
            // The usual case without the formatting machinery: 16 digits
            // and letters written by hand.
            let mut text = [0u8; 16];
            let pairs = [
                year / 100,
                year % 100,
                self.month,
                self.day,
                self.hour,
                self.minute,
                self.second,
            ];
            let mut at = 0;
            for (i, pair) in pairs.into_iter().enumerate() {
                if i == 4 {
                    text[at] = b'T';
                    at += 1;
                }
                text[at] = b'0' + (pair / 10 % 10) as u8;
                text[at + 1] = b'0' + (pair % 10) as u8;
                at += 2;
            }
            text[at] = b'Z';
            return out.write_str(std::str::from_utf8(&text).expect("digits are ASCII"));
        }
        write!(
            out,
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2015-08-30T12:36:00Z`, RFC 3339 in UTC, whole seconds.
    #[cfg(test)]
    pub(crate) fn rfc3339(&self) -> String {
        let mut out = String::with_capacity(20);
        let _ = self.write_rfc3339(&mut out);
        out
    }

    /// Writes [`rfc3339`](Civil::rfc3339) to `out`.
    pub(crate) fn write_rfc3339(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(feature = "hmac")]
    fn the_empty_bodys_digests_are_the_hash_of_nothing() {
        use sha2::Digest;
        let mut out = [0u8; 128];
        assert_eq!(
            super::sha256_hex_into(b"", &mut out),
            super::hex(&sha2::Sha256::digest(b"")).as_bytes()
        );
        assert_eq!(
            super::sha512_hex_into(b"", &mut out),
            super::hex(&sha2::Sha512::digest(b"")).as_bytes()
        );
        assert_eq!(
            super::sha256_hex_into(b"abc", &mut out),
            super::hex(&sha2::Sha256::digest(b"abc")).as_bytes()
        );
        assert_eq!(
            super::sha512_hex_into(b"abc", &mut out),
            super::hex(&sha2::Sha512::digest(b"abc")).as_bytes()
        );
    }

    use super::*;

    #[test]
    fn civil_time_of_known_instants() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_440_938_160_250);
        let civil = Civil::of(at);
        assert_eq!(civil.amz_date(), "20150830T123600Z");
        assert_eq!(civil.rfc3339(), "2015-08-30T12:36:00Z");
        assert_eq!(civil.millis, 250);
        // A leap day and the end of a century year.
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(Civil::of(leap).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(
            Civil::of(SystemTime::UNIX_EPOCH).amz_date(),
            "19700101T000000Z"
        );
    }

    #[test]
    fn amz_dates_written_by_hand_match_the_formatted_ones() {
        let mut secs = 0u64;
        // Every few days over more than 10,000 years, and the last second
        // of year 9999 and the first of 10000.
        let mut instants = vec![253_402_300_799, 253_402_300_800];
        while secs < 330_000_000_000 {
            instants.push(secs);
            secs += 86_400 * 3 + 3_661;
        }
        for secs in instants {
            let c = Civil::of(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
            let formatted = format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                c.year, c.month, c.day, c.hour, c.minute, c.second
            );
            assert_eq!(c.amz_date(), formatted, "{secs}");
        }
    }

    #[test]
    fn percent_coding_round_trips_and_tolerates_garbage() {
        let mut out = String::new();
        percent_encode(&mut out, "a b/ሴ~".as_bytes(), true);
        assert_eq!(out, "a%20b/%E1%88%B4~");
        assert_eq!(percent_decode(&out), "a b/ሴ~".as_bytes());
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        let mut buf = [b'-'; 8];
        assert_eq!(hex_into(&[0, 0xab, 0xff], &mut buf), b"00abff");
        assert_eq!(&buf[6..], b"--", "only twice the input is written");
    }

    #[test]
    fn stack_text_refuses_to_overflow() {
        use std::fmt::Write as _;
        let mut text = StackText::<4>::new();
        assert!(write!(text, "{}", 123).is_ok());
        assert_eq!(text.as_bytes(), b"123");
        assert!(write!(text, "45").is_err());
        assert_eq!(
            text.as_bytes(),
            b"123",
            "nothing of a refused write is kept"
        );
    }
}
