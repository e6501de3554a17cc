//! TCP headers (RFC 9293), flags and options.

use crate::{be16, be32, need, tcpflags, WireError};

/// The 8 TCP flag bits (CWR..FIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = tcpflags::FIN;
    pub const SYN: u8 = tcpflags::SYN;
    pub const RST: u8 = tcpflags::RST;
    pub const PSH: u8 = tcpflags::PSH;
    pub const ACK: u8 = tcpflags::ACK;
    pub const URG: u8 = tcpflags::URG;
    pub const ECE: u8 = tcpflags::ECE;
    pub const CWR: u8 = tcpflags::CWR;

    /// True when every bit of `mask` is set.
    pub fn has(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
    /// The flags ignoring ECN bits (ECE, CWR), which a SYN may carry.
    pub fn core(self) -> u8 {
        self.0 & 0x3f
    }
    /// All 8 bits.
    pub fn bits(self) -> u8 {
        self.0
    }
}

/// A TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buf: T,
    /// Header length in bytes (data offset × 4), as the header says.
    hlen: usize,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Check the fixed 20-byte header and that the data offset is sane. Options and payload may
    /// be cut by the snap length; `options()` then returns what was captured.
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        need(b, 20, "TCP")?;
        let hlen = usize::from(b[12] >> 4) * 4;
        if hlen < 20 {
            return Err(WireError::Malformed {
                layer: "TCP",
                what: "data offset below 5",
            });
        }
        Ok(TcpPacket { buf, hlen })
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.b(), 0)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be32(self.b(), 4)
    }
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be32(self.b(), 8)
    }
    pub fn header_len(&self) -> usize {
        self.hlen
    }
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.b()[13])
    }
    pub fn window_len(&self) -> u16 {
        be16(self.b(), 14)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 16)
    }
    pub fn urgent_at(&self) -> u16 {
        be16(self.b(), 18)
    }
    /// The option bytes that were captured (may be shorter than the header says).
    pub fn option_bytes(&self) -> &[u8] {
        let b = self.b();
        &b[20..self.hlen.min(b.len())]
    }
    /// The options that were captured, parsed.
    pub fn options(&self) -> TcpOptions<'_> {
        TcpOptions {
            rest: self.option_bytes(),
        }
    }
    /// The payload that was captured.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        &b[self.hlen.min(b.len())..]
    }
}

/// The first 8 bytes of a TCP header, as an ICMP error quotes them: `(src_port, dst_port, seq)`.
pub fn quoted(b: &[u8]) -> Result<(u16, u16, u32), WireError> {
    need(b, 8, "quoted TCP")?;
    Ok((be16(b, 0), be16(b, 2), be32(b, 4)))
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    NoOperation,
    MaxSegmentSize(u16),
    WindowScale(u8),
    SackPermitted,
    Timestamp { tsval: u32, tsecr: u32 },
    Unknown { kind: u8, data: &'a [u8] },
}

/// An iterator over TCP options; stops at the end of the list or at a malformed option.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = TcpOption<'a>;
    fn next(&mut self) -> Option<TcpOption<'a>> {
        let (&kind, tail) = self.rest.split_first()?;
        match kind {
            0 => {
                self.rest = &[];
                Some(TcpOption::EndOfList)
            }
            1 => {
                self.rest = tail;
                Some(TcpOption::NoOperation)
            }
            _ => {
                let len = usize::from(*tail.first()?);
                if len < 2 || len > self.rest.len() {
                    self.rest = &[];
                    return None;
                }
                let data = &self.rest[2..len];
                self.rest = &self.rest[len..];
                Some(match (kind, data.len()) {
                    (2, 2) => TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]])),
                    (3, 1) => TcpOption::WindowScale(data[0]),
                    (4, 0) => TcpOption::SackPermitted,
                    (8, 8) => TcpOption::Timestamp {
                        tsval: be32(data, 0),
                        tsecr: be32(data, 4),
                    },
                    _ => TcpOption::Unknown { kind, data },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_of_linux_syn() {
        let mut seg = vec![
            0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0, 0, 0, 0, 0,
        ];
        seg.extend_from_slice(&[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let t = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(t.src_port(), 12345);
        assert!(t.flags().has(TcpFlags::SYN));
        let opts: Vec<_> = t.options().collect();
        assert_eq!(opts[0], TcpOption::MaxSegmentSize(1460));
        assert_eq!(opts[1], TcpOption::SackPermitted);
        assert!(matches!(opts[2], TcpOption::Timestamp { tsval: 1, .. }));
        assert_eq!(opts[4], TcpOption::WindowScale(7));
        assert!(t.payload().is_empty());
        // an option whose length runs past the header ends the list
        let mut bad = seg.clone();
        bad[21] = 200;
        let t = TcpPacket::new_checked(&bad[..]).unwrap();
        assert_eq!(t.options().count(), 0);
    }

    #[test]
    fn quoted_header_and_bad_offset() {
        assert_eq!(
            quoted(&[0, 80, 0x9c, 0x40, 0, 0, 0, 9]).unwrap(),
            (80, 40000, 9)
        );
        assert!(quoted(&[0; 7]).is_err());
        let mut seg = [0u8; 20];
        seg[12] = 4 << 4;
        assert!(TcpPacket::new_checked(&seg[..]).is_err());
    }
}
