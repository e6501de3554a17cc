//! TCP headers (RFC 9293), flags and options: the [`field`]s, the [`TcpPacket`] view and the
//! [`TcpRepr`] that parses and emits a header.

use std::net::IpAddr;

use crate::WireError;
use crate::{be32, checksum, get16, get32, ipproto, need, put16, put32, room, tcpflags};

/// Where each field of the TCP header lies (RFC 9293 §3.1).
pub mod field {
    use crate::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset (header length in 32-bit words) in the high nibble.
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    /// Where the options start: the length of a header without options.
    pub const OPTIONS: usize = 20;
    /// The longest header the data offset can say (15 words).
    pub const MAX_HEADER_LEN: usize = 60;
}

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
        need(b, field::OPTIONS, "TCP")?;
        let hlen = usize::from(b[field::DATA_OFFSET] >> 4) * 4;
        if hlen < field::OPTIONS {
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
        get16(self.b(), field::SRC_PORT)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get16(self.b(), field::DST_PORT)
    }
    #[inline]
    pub fn seq_number(&self) -> u32 {
        get32(self.b(), field::SEQ_NUM)
    }
    #[inline]
    pub fn ack_number(&self) -> u32 {
        get32(self.b(), field::ACK_NUM)
    }
    pub fn header_len(&self) -> usize {
        self.hlen
    }
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.b()[field::FLAGS])
    }
    pub fn window_len(&self) -> u16 {
        get16(self.b(), field::WIN_SIZE)
    }
    pub fn checksum(&self) -> u16 {
        get16(self.b(), field::CHECKSUM)
    }
    pub fn urgent_at(&self) -> u16 {
        get16(self.b(), field::URGENT)
    }
    /// The option bytes that were captured (may be shorter than the header says).
    pub fn option_bytes(&self) -> &[u8] {
        let b = self.b();
        &b[field::OPTIONS..self.hlen.min(b.len())]
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

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Whether the checksum is right for a segment from `src` to `dst` (false when the segment
    /// was cut by the snap length, or the addresses are of different families).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        let b = self.b();
        checksum::pseudo(src, dst, ipproto::TCP, b.len())
            .is_ok_and(|p| checksum::finish(checksum::add(p, b)) == 0)
    }
}

/// The first 8 bytes of a TCP header, as an ICMP error quotes them: `(src_port, dst_port, seq)`.
pub fn quoted(b: &[u8]) -> Result<(u16, u16, u32), WireError> {
    need(b, field::ACK_NUM.start, "quoted TCP")?;
    Ok((
        get16(b, field::SRC_PORT),
        get16(b, field::DST_PORT),
        get32(b, field::SEQ_NUM),
    ))
}

/// A TCP header as plain fields: what [`TcpRepr::parse`] reads from a segment and
/// [`TcpRepr::emit`] writes, checksum included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: TcpFlags,
    pub window_len: u16,
    pub urgent_at: u16,
    /// The option bytes, as they go on the wire (at most 40; `emit` pads them with zeros, the
    /// end-of-list option, to a multiple of 4).
    pub options: &'a [u8],
    /// Length of the payload that follows the header.
    pub payload_len: usize,
}

/// The most option bytes a header holds.
pub const MAX_OPTIONS_LEN: usize = field::MAX_HEADER_LEN - field::OPTIONS;

impl<'a> TcpRepr<'a> {
    /// Read the header of `packet`. The options are returned as they are on the wire (padding
    /// included); the payload length is what was captured. An error when the options were cut
    /// by the snap length.
    pub fn parse<B: AsRef<[u8]> + ?Sized>(packet: &TcpPacket<&'a B>) -> Result<Self, WireError> {
        let b: &'a [u8] = packet.buf.as_ref();
        need(b, packet.hlen, "TCP options")?;
        Ok(TcpRepr {
            src_port: get16(b, field::SRC_PORT),
            dst_port: get16(b, field::DST_PORT),
            seq_number: get32(b, field::SEQ_NUM),
            ack_number: get32(b, field::ACK_NUM),
            flags: TcpFlags(b[field::FLAGS]),
            window_len: get16(b, field::WIN_SIZE),
            urgent_at: get16(b, field::URGENT),
            options: &b[field::OPTIONS..packet.hlen],
            payload_len: b.len() - packet.hlen,
        })
    }

    /// Length of the header: 20 bytes and the options padded to a multiple of 4.
    #[inline]
    pub fn header_len(&self) -> usize {
        field::OPTIONS + ((self.options.len() + 3) & !3)
    }

    /// Length of the segment: header and payload.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Write the header into `buf` and the checksum of the segment from `src` to `dst` (one
    /// family). `buf` holds [`Self::buffer_len`] bytes with the payload already in place after
    /// the header (the checksum covers it); bytes after `buffer_len` are not touched.
    #[inline]
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr) -> Result<(), WireError> {
        if self.options.len() > MAX_OPTIONS_LEN {
            return Err(WireError::Malformed {
                layer: "TCP",
                what: "more than 40 bytes of options",
            });
        }
        let (hlen, len) = (self.header_len(), self.buffer_len());
        room(buf.len(), len)?;
        let pseudo = checksum::pseudo(src, dst, ipproto::TCP, len)?;
        let b = &mut buf[..len];
        put16(b, field::SRC_PORT, self.src_port);
        put16(b, field::DST_PORT, self.dst_port);
        put32(b, field::SEQ_NUM, self.seq_number);
        put32(b, field::ACK_NUM, self.ack_number);
        b[field::DATA_OFFSET] = ((hlen / 4) as u8) << 4;
        b[field::FLAGS] = self.flags.0;
        put16(b, field::WIN_SIZE, self.window_len);
        put16(b, field::CHECKSUM, 0);
        put16(b, field::URGENT, self.urgent_at);
        let opts = field::OPTIONS..field::OPTIONS + self.options.len();
        b[opts.end..hlen].fill(0);
        b[opts].copy_from_slice(self.options);
        let c = checksum::finish(checksum::add(pseudo, b));
        put16(b, field::CHECKSUM, c);
        Ok(())
    }
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
        bad[field::OPTIONS + 1] = 200; // the first option's length
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
        seg[field::DATA_OFFSET] = 4 << 4;
        assert!(TcpPacket::new_checked(&seg[..]).is_err());
    }
}
