//! A refillable read buffer that hands out slices of itself.

use std::io::{ErrorKind, Read};

use super::CaptureError;

/// Default buffer size: 1 MiB.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// A buffered byte reader whose records are parsed in place.
pub struct ByteReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Stream offset of `buf[start]`.
    offset: u64,
}

impl<R: Read> ByteReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_capacity(inner, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(inner: R, cap: usize) -> Self {
        ByteReader {
            inner,
            buf: vec![0; cap.max(64)],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
        }
    }

    /// Stream offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes buffered and not consumed.
    pub fn available(&self) -> usize {
        self.end - self.start
    }

    /// Make at least `need` bytes available. Returns the number available, which is less than
    /// `need` only at the end of the stream. The buffer grows (by doubling) only as data
    /// actually arrives, so a corrupt length field cannot make it allocate more than the
    /// stream holds.
    pub fn fill(&mut self, need: usize) -> Result<usize, CaptureError> {
        if self.available() >= need {
            return Ok(self.available());
        }
        if self.start > 0 && self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.available() < need && !self.eof {
            if self.end == self.buf.len() {
                let grown = (self.buf.len() * 2).min(need.next_power_of_two());
                self.buf.resize(grown.max(self.buf.len() + 1), 0);
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(CaptureError::Io {
                        offset: self.offset + self.available() as u64,
                        source: e,
                    })
                }
            }
        }
        Ok(self.available())
    }

    /// The buffered, unconsumed bytes.
    #[inline]
    pub fn peek(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Consume `n` bytes (at most what is available).
    #[inline]
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.available());
        self.start += n;
        self.offset += n as u64;
    }

    /// Consume `n` bytes and return them (they stay valid until the next `fill`).
    #[inline]
    pub fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.available());
        let s = self.start;
        self.start += n;
        self.offset += n as u64;
        &self.buf[s..s + n]
    }

    /// Fill exactly `need` bytes or report a truncation of `what`.
    pub fn require(&mut self, need: usize, what: &'static str) -> Result<(), CaptureError> {
        let have = self.fill(need)?;
        if have < need {
            return Err(CaptureError::Truncated {
                offset: self.offset,
                what,
                need: need as u64,
                have: have as u64,
            });
        }
        Ok(())
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refill_and_grow() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut r = ByteReader::with_capacity(&data[..], 64);
        r.require(10, "x").unwrap();
        assert_eq!(r.take(10), &data[..10]);
        r.require(200, "x").unwrap();
        assert_eq!(&r.peek()[..200], &data[10..210]);
        r.consume(200);
        assert_eq!(r.offset(), 210);
        assert!(r.require(1000, "x").is_err());
        assert_eq!(r.fill(1000).unwrap(), 790);
        // a huge claimed length over a short stream allocates only what arrives
        let mut r = ByteReader::with_capacity(&data[..100], 64);
        assert_eq!(r.fill(200_000_000).unwrap(), 100);
        assert!(r.buf.len() <= 256);
    }
}
