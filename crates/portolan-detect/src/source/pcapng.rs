//! pcapng: section headers (either byte order, several sections), interface descriptions with
//! their own link types and timestamp resolutions, enhanced, simple and obsolete packet blocks.
//! Other blocks (name resolution, statistics, custom, ...) are skipped.

use std::io::Read;

use super::{ByteReader, CaptureError, PacketSource, RawPacket, MAX_RECORD};

pub const BLOCK_SHB: u32 = 0x0a0d_0d0a;
pub const BLOCK_IDB: u32 = 0x0000_0001;
pub const BLOCK_OPB: u32 = 0x0000_0002;
pub const BLOCK_SPB: u32 = 0x0000_0003;
pub const BLOCK_EPB: u32 = 0x0000_0006;
pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second are 10^n (or 2^n when `binary`).
    resol: u8,
    binary: bool,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_s: i64,
}

impl Interface {
    fn ts_to_ns(&self, ts: u64) -> u64 {
        let ns = if self.binary {
            let shift = u32::from(self.resol.min(63));
            ((u128::from(ts) * 1_000_000_000) >> shift) as u64
        } else if self.resol <= 9 {
            ts.saturating_mul(10u64.pow(9 - u32::from(self.resol)))
        } else {
            ts / 10u64.pow(u32::from(self.resol.min(19)) - 9)
        };
        let off = self.offset_s.saturating_mul(1_000_000_000);
        if off >= 0 {
            ns.saturating_add(off as u64)
        } else {
            ns.saturating_sub(off.unsigned_abs())
        }
    }
}

/// A pcapng reader.
pub struct PcapngReader<R> {
    r: ByteReader<R>,
    big_endian: bool,
    interfaces: Vec<Interface>,
    done: bool,
}

/// The most interfaces accepted in one section (a bound against corrupt files).
pub const MAX_INTERFACES: usize = 65_536;

impl<R: Read> PcapngReader<R> {
    pub fn new(inner: R) -> Result<Self, CaptureError> {
        Self::from_byte_reader(ByteReader::new(inner))
    }

    pub fn from_byte_reader(r: ByteReader<R>) -> Result<Self, CaptureError> {
        let mut me = PcapngReader {
            r,
            big_endian: false,
            interfaces: Vec::new(),
            done: false,
        };
        me.r.require(12, "pcapng section header block")?;
        let ty = u32::from_le_bytes(first4(me.r.peek()));
        if ty != BLOCK_SHB {
            return Err(CaptureError::UnknownFormat {
                magic: me.r.peek()[..4].to_vec(),
            });
        }
        Ok(me)
    }

    /// Link types of the interfaces of the current section.
    pub fn linktypes(&self) -> Vec<u32> {
        self.interfaces.iter().map(|i| i.linktype).collect()
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    }
    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let x = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        }
    }

    fn corrupt(&mut self, what: String) -> CaptureError {
        self.done = true;
        CaptureError::Corrupt {
            offset: self.r.offset(),
            what,
        }
    }

    /// Parse an IDB body (after the 8-byte block header, before the trailing length).
    fn parse_idb(&self, body: &[u8]) -> Option<Interface> {
        if body.len() < 8 {
            return None;
        }
        let mut iface = Interface {
            linktype: u32::from(self.u16_at(body, 0)),
            snaplen: self.u32_at(body, 4),
            resol: 6,
            binary: false,
            offset_s: 0,
        };
        let mut opts = &body[8..];
        while opts.len() >= 4 {
            let code = self.u16_at(opts, 0);
            let len = usize::from(self.u16_at(opts, 2));
            let padded = (len + 3) & !3;
            if code == 0 || opts.len() < 4 + len {
                break;
            }
            let v = &opts[4..4 + len];
            match (code, len) {
                (9, 1) => {
                    iface.binary = v[0] & 0x80 != 0;
                    iface.resol = v[0] & 0x7f;
                }
                (14, 8) => {
                    let b = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                    iface.offset_s = if self.big_endian {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
                _ => {}
            }
            opts = opts.get(4 + padded..).unwrap_or(&[]);
        }
        Some(iface)
    }
}

fn first4(b: &[u8]) -> [u8; 4] {
    [b[0], b[1], b[2], b[3]]
}

impl<R: Read> PcapngReader<R> {
    /// Process section, interface and skipped blocks until a packet block is fully buffered at
    /// the head of the buffer (true) or the stream ends (false).
    fn advance(&mut self) -> Result<bool, CaptureError> {
        loop {
            if self.done {
                return Ok(false);
            }
            let have = self.r.fill(12)?;
            if have == 0 {
                self.done = true;
                return Ok(false);
            }
            if have < 12 {
                self.done = true;
                return Err(CaptureError::Truncated {
                    offset: self.r.offset(),
                    what: "pcapng block header",
                    need: 12,
                    have: have as u64,
                });
            }
            let h = self.r.peek();
            let raw_type = first4(h);
            if u32::from_le_bytes(raw_type) == BLOCK_SHB {
                // The byte-order magic decides the order of this whole section.
                let bom = first4(&h[8..]);
                self.big_endian = if u32::from_le_bytes(bom) == BYTE_ORDER_MAGIC {
                    false
                } else if u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC {
                    true
                } else {
                    return Err(self.corrupt(format!("bad byte-order magic {bom:02x?}")));
                };
                self.interfaces.clear();
            }
            let h = self.r.peek();
            let ty = self.u32_at(h, 0);
            let len = self.u32_at(h, 4) as usize;
            if len < 12 || len % 4 != 0 || len > MAX_RECORD {
                return Err(self.corrupt(format!(
                    "block length {len} is invalid (must be a multiple of 4, at least 12)"
                )));
            }
            if let Err(e) = self.r.require(len, "pcapng block") {
                self.done = true;
                return Err(e);
            }
            match ty {
                BLOCK_IDB => {
                    let body = &self.r.peek()[8..len - 4];
                    let Some(iface) = self.parse_idb(body) else {
                        return Err(self.corrupt("interface description block too short".into()));
                    };
                    if self.interfaces.len() >= MAX_INTERFACES {
                        return Err(self.corrupt("too many interfaces".into()));
                    }
                    self.interfaces.push(iface);
                    self.r.consume(len);
                }
                BLOCK_EPB | BLOCK_OPB | BLOCK_SPB => return Ok(true),
                _ => self.r.consume(len),
            }
        }
    }
}

impl<R: Read> PacketSource for PcapngReader<R> {
    fn has_packet(&mut self) -> Result<bool, CaptureError> {
        self.advance()
    }

    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if !self.advance()? {
            return Ok(None);
        }
        let b = self.r.peek();
        let ty = self.u32_at(b, 0);
        let len = self.u32_at(b, 4) as usize;
        if ty == BLOCK_SPB {
            if len < 16 {
                return Err(self.corrupt("simple packet block too short".into()));
            }
            let orig = self.u32_at(b, 8);
            let Some(iface) = self.interfaces.first().copied() else {
                return Err(self.corrupt("simple packet block before any interface".into()));
            };
            let mut caplen = (orig as usize).min(len - 16);
            if iface.snaplen != 0 {
                caplen = caplen.min(iface.snaplen as usize);
            }
            let block = self.r.take(len);
            return Ok(Some(RawPacket {
                ts_ns: 0,
                linktype: iface.linktype,
                interface: 0,
                orig_len: orig,
                data: &block[12..12 + caplen],
            }));
        }
        if len < 32 {
            return Err(self.corrupt("packet block too short".into()));
        }
        let iface_id = if ty == BLOCK_EPB {
            self.u32_at(b, 8) as usize
        } else {
            usize::from(self.u16_at(b, 8))
        };
        let (ts_hi, ts_lo) = (self.u32_at(b, 12), self.u32_at(b, 16));
        let (caplen, orig) = (self.u32_at(b, 20) as usize, self.u32_at(b, 24));
        if caplen > len - 32 {
            return Err(self.corrupt(format!(
                "packet length {caplen} exceeds its block ({len} bytes)"
            )));
        }
        let Some(iface) = self.interfaces.get(iface_id).copied() else {
            let n = self.interfaces.len();
            return Err(self.corrupt(format!(
                "packet refers to interface {iface_id}, but only {n} are described"
            )));
        };
        let ts = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
        let block = self.r.take(len);
        Ok(Some(RawPacket {
            ts_ns: iface.ts_to_ns(ts),
            linktype: iface.linktype,
            interface: iface_id as u32,
            orig_len: orig,
            data: &block[28..28 + caplen],
        }))
    }
}

/// Build pcapng files in tests and tools.
pub mod build {
    /// A little-endian section header block.
    pub fn shb() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&super::BLOCK_SHB.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&super::BYTE_ORDER_MAGIC.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b
    }

    /// An interface description block; `tsresol` as in the if_tsresol option.
    pub fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&linktype.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend_from_slice(&9u16.to_le_bytes());
            body.extend_from_slice(&1u16.to_le_bytes());
            body.extend_from_slice(&[r, 0, 0, 0]);
            body.extend_from_slice(&[0, 0, 0, 0]);
        }
        block(super::BLOCK_IDB, &body)
    }

    /// An enhanced packet block.
    pub fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&iface.to_le_bytes());
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        block(super::BLOCK_EPB, &body)
    }

    /// A simple packet block.
    pub fn spb(data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        block(super::BLOCK_SPB, &body)
    }

    pub fn block(ty: u32, body: &[u8]) -> Vec<u8> {
        let len = (body.len() + 12) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&ty.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    #[test]
    fn interfaces_with_different_linktypes_and_resolutions() {
        let mut f = shb();
        f.extend(idb(1, None)); // Ethernet, microseconds
        f.extend(idb(101, Some(9))); // raw IP, nanoseconds
        f.extend(block(5, &[0; 8])); // interface statistics: skipped
        f.extend(epb(0, 1_000_000, b"eth"));
        f.extend(epb(1, 2_000_000_001, b"raw!x"));
        f.extend(spb(b"simple"));
        let mut r = PcapngReader::new(&f[..]).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (p.linktype, p.ts_ns, p.data),
            (1, 1_000_000_000, &b"eth"[..])
        );
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (p.linktype, p.ts_ns, p.data),
            (101, 2_000_000_001, &b"raw!x"[..])
        );
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.linktype, p.data), (1, &b"simple"[..]));
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn big_endian_section_and_second_section() {
        // A big-endian SHB + IDB + EPB, then a little-endian section.
        let mut f = Vec::new();
        let be_block = |ty: u32, body: &[u8]| {
            let len = (body.len() + 12) as u32;
            let mut b = ty.to_be_bytes().to_vec();
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(body);
            b.extend_from_slice(&len.to_be_bytes());
            b
        };
        let mut shb_body = BYTE_ORDER_MAGIC.to_be_bytes().to_vec();
        shb_body.extend_from_slice(&[0, 1, 0, 0]);
        shb_body.extend_from_slice(&u64::MAX.to_be_bytes());
        f.extend(be_block(BLOCK_SHB, &shb_body));
        let mut idb_body = 228u16.to_be_bytes().to_vec();
        idb_body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        f.extend(be_block(BLOCK_IDB, &idb_body));
        let mut epb_body = 0u32.to_be_bytes().to_vec();
        epb_body.extend_from_slice(&0u32.to_be_bytes());
        epb_body.extend_from_slice(&7u32.to_be_bytes());
        epb_body.extend_from_slice(&4u32.to_be_bytes());
        epb_body.extend_from_slice(&4u32.to_be_bytes());
        epb_body.extend_from_slice(b"abcd");
        f.extend(be_block(BLOCK_EPB, &epb_body));
        f.extend(shb());
        f.extend(idb(229, None));
        f.extend(epb(0, 3, b"v6"));
        let mut r = PcapngReader::new(&f[..]).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.linktype, p.ts_ns, p.data), (228, 7000, &b"abcd"[..]));
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.linktype, p.data), (229, &b"v6"[..]));
    }

    #[test]
    fn corrupt_and_truncated() {
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(epb(3, 0, b"x")); // no interface 3
        let mut r = PcapngReader::new(&f[..]).unwrap();
        assert!(matches!(r.next_packet(), Err(CaptureError::Corrupt { .. })));
        let mut f = shb();
        f.extend(idb(1, None));
        f.extend(epb(0, 0, b"xyz"));
        let cut = &f[..f.len() - 3];
        let mut r = PcapngReader::new(cut).unwrap();
        assert!(matches!(
            r.next_packet(),
            Err(CaptureError::Truncated { .. })
        ));
    }
}
