//! Reading an encoded entry: a cursor over untrusted bytes.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{DecodeError, DecodeErrorKind};

/// Bounds a decoded time, so that adding a freshness lifetime (at most
/// 2^31 seconds) to it cannot overflow.
const MAX_TIME_SECS: i64 = 1 << 40;

/// A cursor over untrusted bytes: every read checks what is left.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub(super) fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.buf.len());
        let end = end.ok_or_else(|| self.error(DecodeErrorKind::Truncated))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    pub(super) fn duration(&mut self) -> Result<Duration, DecodeError> {
        let secs = self.u64()?;
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 {
            return Err(self.error(DecodeErrorKind::InvalidTime));
        }
        Ok(Duration::new(secs, nanos))
    }

    pub(super) fn time(&mut self) -> Result<SystemTime, DecodeError> {
        let secs = i64::from_be_bytes(self.array()?);
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 || !(-MAX_TIME_SECS..=MAX_TIME_SECS).contains(&secs) {
            return Err(self.error(DecodeErrorKind::InvalidTime));
        }
        let whole = Duration::from_secs(secs.unsigned_abs());
        let at = if secs >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(whole)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(whole)
        };
        at.and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
            .ok_or_else(|| self.error(DecodeErrorKind::InvalidTime))
    }

    pub(super) fn name(&mut self) -> Result<HeaderName, DecodeError> {
        let bytes = self.bytes()?;
        HeaderName::from_bytes(bytes).map_err(|_| self.error(DecodeErrorKind::InvalidHeader))
    }

    pub(super) fn headers(&mut self) -> Result<HeaderMap, DecodeError> {
        let count = self.u32()?;
        let mut map = HeaderMap::new();
        for _ in 0..count {
            let flags = self.u8()?;
            if flags & !1 != 0 {
                return Err(self.error(DecodeErrorKind::InvalidField));
            }
            let name = self.name()?;
            let mut value = HeaderValue::from_bytes(self.bytes()?)
                .map_err(|_| self.error(DecodeErrorKind::InvalidHeader))?;
            value.set_sensitive(flags & 1 != 0);
            map.try_append(name, value)
                .map_err(|_| self.error(DecodeErrorKind::Oversized))?;
        }
        Ok(map)
    }
}
