//! The classic libpcap format: both byte orders, microsecond and nanosecond timestamps.

use std::io::Read;

use super::{ByteReader, CaptureError, PacketSource, RawPacket, MAX_RECORD};

pub const MAGIC_US: u32 = 0xa1b2_c3d4;
pub const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// A pcap reader.
pub struct PcapReader<R> {
    r: ByteReader<R>,
    big_endian: bool,
    nanos: bool,
    linktype: u32,
    snaplen: u32,
    done: bool,
}

impl<R: Read> PcapReader<R> {
    /// Read the global header.
    pub fn new(inner: R) -> Result<Self, CaptureError> {
        Self::from_byte_reader(ByteReader::new(inner))
    }

    pub fn from_byte_reader(mut r: ByteReader<R>) -> Result<Self, CaptureError> {
        r.require(24, "pcap global header")?;
        let h = r.take(24);
        let magic_le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let magic_be = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let (big_endian, nanos) = match (magic_le, magic_be) {
            (MAGIC_US, _) => (false, false),
            (MAGIC_NS, _) => (false, true),
            (_, MAGIC_US) => (true, false),
            (_, MAGIC_NS) => (true, true),
            _ => {
                return Err(CaptureError::UnknownFormat {
                    magic: h[..4].to_vec(),
                })
            }
        };
        let rd = |at: usize| {
            let b = [h[at], h[at + 1], h[at + 2], h[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let snaplen = rd(16);
        // The upper bits of the link-type field carry FCS information (pcap-linktype(7)).
        let linktype = rd(20) & 0x0fff_ffff;
        Ok(PcapReader {
            r,
            big_endian,
            nanos,
            linktype,
            snaplen,
            done: false,
        })
    }

    pub fn linktype(&self) -> u32 {
        self.linktype
    }
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }
    pub fn is_nanosecond(&self) -> bool {
        self.nanos
    }
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }
}

impl<R: Read> PacketSource for PcapReader<R> {
    fn has_packet(&mut self) -> Result<bool, CaptureError> {
        Ok(!self.done && self.r.fill(1)? > 0)
    }

    #[inline]
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let have = self.r.fill(16)?;
        if have == 0 {
            self.done = true;
            return Ok(None);
        }
        if have < 16 {
            self.done = true;
            return Err(CaptureError::Truncated {
                offset: self.r.offset(),
                what: "pcap record header",
                need: 16,
                have: have as u64,
            });
        }
        let h = self.r.peek();
        let rd = |at: usize| {
            let b = [h[at], h[at + 1], h[at + 2], h[at + 3]];
            if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (sec, frac, caplen, orig_len) = (rd(0), rd(4), rd(8), rd(12));
        let caplen = caplen as usize;
        if caplen > MAX_RECORD {
            self.done = true;
            return Err(CaptureError::Corrupt {
                offset: self.r.offset(),
                what: format!("record length {caplen} is implausible (corrupt file?)"),
            });
        }
        let ts_ns = u64::from(sec) * 1_000_000_000
            + if self.nanos {
                u64::from(frac)
            } else {
                u64::from(frac) * 1000
            };
        if let Err(e) = self.r.require(16 + caplen, "pcap record") {
            self.done = true;
            return Err(e);
        }
        let rec = self.r.take(16 + caplen);
        Ok(Some(RawPacket {
            ts_ns,
            linktype: self.linktype,
            interface: 0,
            orig_len,
            data: &rec[16..],
        }))
    }
}

/// Write a pcap stream (used by tests, the benchmark generator and `--write`).
pub struct PcapWriter<W: std::io::Write> {
    w: W,
}

impl<W: std::io::Write> PcapWriter<W> {
    /// Write a little-endian, nanosecond pcap global header.
    pub fn new(mut w: W, linktype: u32, snaplen: u32) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&MAGIC_NS.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapWriter { w })
    }

    pub fn write(&mut self, ts_ns: u64, data: &[u8]) -> std::io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(data)
    }

    pub fn into_inner(self) -> W {
        self.w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(big: bool, nanos: bool, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = Vec::new();
        f.extend_from_slice(&w32(if nanos { MAGIC_NS } else { MAGIC_US }));
        f.extend_from_slice(&w16(2));
        f.extend_from_slice(&w16(4));
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&w32(65535));
        f.extend_from_slice(&w32(101));
        for (s, frac, d) in recs {
            f.extend_from_slice(&w32(*s));
            f.extend_from_slice(&w32(*frac));
            f.extend_from_slice(&w32(d.len() as u32));
            f.extend_from_slice(&w32(d.len() as u32));
            f.extend_from_slice(d);
        }
        f
    }

    #[test]
    fn both_byte_orders_and_resolutions() {
        for big in [false, true] {
            for nanos in [false, true] {
                let f = file(big, nanos, &[(10, 5, b"abc"), (11, 0, b"")]);
                let mut r = PcapReader::new(&f[..]).unwrap();
                assert_eq!(r.linktype(), 101);
                let p = r.next_packet().unwrap().unwrap();
                assert_eq!(p.data, b"abc");
                let want = 10_000_000_000 + if nanos { 5 } else { 5000 };
                assert_eq!(p.ts_ns, want);
                assert_eq!(r.next_packet().unwrap().unwrap().data, b"");
                assert!(r.next_packet().unwrap().is_none());
            }
        }
    }

    #[test]
    fn truncated_record_is_an_error_after_good_ones() {
        let f = file(false, false, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        let cut = &f[..f.len() - 2];
        let mut r = PcapReader::new(cut).unwrap();
        assert!(r.next_packet().unwrap().is_some());
        let e = r.next_packet().unwrap_err();
        assert!(matches!(e, CaptureError::Truncated { .. }), "{e}");
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn writer_round_trip() {
        let mut w = PcapWriter::new(Vec::new(), 1, 65535).unwrap();
        w.write(1_500_000_123, b"xyz").unwrap();
        let v = w.into_inner();
        let mut r = PcapReader::new(&v[..]).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (p.ts_ns, p.data, p.linktype),
            (1_500_000_123, &b"xyz"[..], 1)
        );
    }
}
