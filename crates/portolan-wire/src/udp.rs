//! UDP headers (RFC 768).

use crate::{be16, need, WireError};

/// A UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    #[inline]
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        need(buf.as_ref(), 8, "UDP")?;
        Ok(UdpPacket { buf })
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
    /// The length field (header included).
    pub fn len(&self) -> u16 {
        be16(self.b(), 4)
    }
    pub fn is_empty(&self) -> bool {
        self.len() <= 8
    }
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 6)
    }
    /// The payload that was captured, up to the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let end = usize::from(self.len()).clamp(8, b.len());
        &b[8..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_follows_length_and_capture() {
        let d = [0, 53, 0xc3, 0x50, 0, 11, 0, 0, b'a', b'b', b'c', b'd'];
        let u = UdpPacket::new_checked(&d[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (53, 50000, 11));
        assert_eq!(u.payload(), b"abc");
        assert_eq!(UdpPacket::new_checked(&d[..9]).unwrap().payload(), b"a");
        let mut short = d;
        short[5] = 3; // length below the header
        assert!(UdpPacket::new_checked(&short[..])
            .unwrap()
            .payload()
            .is_empty());
        assert!(UdpPacket::new_checked(&d[..7]).is_err());
    }
}
