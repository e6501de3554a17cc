//! Link layers other than Ethernet: Linux cooked capture v1 (SLL) and v2 (SLL2), and the BSD
//! loopback / null encapsulation.

use super::{be16, ethertype, WireError};

/// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113): a 16-byte pseudo header.
#[derive(Debug, Clone)]
pub struct SllFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SllFrame<T> {
    pub const HEADER_LEN: usize = 16;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(WireError::Truncated("linux cooked (SLL)"));
        }
        Ok(SllFrame { buffer })
    }
    /// Packet type: 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us.
    pub fn packet_type(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }
    /// ARPHRD_ type of the device.
    pub fn hatype(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    /// The protocol (an EtherType for IP).
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..]
    }
}

/// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`, 276): a 20-byte pseudo header.
#[derive(Debug, Clone)]
pub struct Sll2Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Sll2Frame<T> {
    pub const HEADER_LEN: usize = 20;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(WireError::Truncated("linux cooked v2 (SLL2)"));
        }
        Ok(Sll2Frame { buffer })
    }
    /// The protocol (an EtherType for IP).
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }
    /// The interface index the packet was seen on.
    pub fn ifindex(&self) -> u32 {
        super::be32(self.buffer.as_ref(), 4)
    }
    pub fn hatype(&self) -> u16 {
        be16(self.buffer.as_ref(), 8)
    }
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[10]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..]
    }
}

/// BSD loopback (`LINKTYPE_NULL`, 0, family in the capturing host's byte order) and OpenBSD
/// loopback (`LINKTYPE_LOOP`, 108, family in network byte order): a 4-byte address family.
#[derive(Debug, Clone)]
pub struct NullFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NullFrame<T> {
    pub const HEADER_LEN: usize = 4;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(WireError::Truncated("loopback (null)"));
        }
        Ok(NullFrame { buffer })
    }

    /// The address family, whatever the byte order it was written in.
    pub fn family(&self) -> u32 {
        let b = self.buffer.as_ref();
        let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if le <= 0xffff {
            le
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        }
    }

    /// The EtherType equivalent of the family: AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD,
    /// OpenBSD), 28 (FreeBSD), 30 (macOS) or 10 (Linux).
    pub fn ethertype(&self) -> Option<u16> {
        match self.family() {
            2 => Some(ethertype::IPV4),
            10 | 24 | 28 | 30 => Some(ethertype::IPV6),
            _ => None,
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_both_orders() {
        let le = [2u8, 0, 0, 0, 0x45];
        let be = [0u8, 0, 0, 30, 0x60];
        assert_eq!(
            NullFrame::new_checked(&le[..]).unwrap().ethertype(),
            Some(ethertype::IPV4)
        );
        assert_eq!(
            NullFrame::new_checked(&be[..]).unwrap().ethertype(),
            Some(ethertype::IPV6)
        );
        assert!(NullFrame::new_checked(&be[..3]).is_err());
    }

    #[test]
    fn sll_and_sll2() {
        let mut s = [0u8; 16];
        s[14] = 0x86;
        s[15] = 0xdd;
        assert_eq!(
            SllFrame::new_checked(&s[..]).unwrap().protocol(),
            ethertype::IPV6
        );
        let mut s2 = [0u8; 20];
        s2[0] = 0x08;
        s2[7] = 3;
        let f = Sll2Frame::new_checked(&s2[..]).unwrap();
        assert_eq!(f.protocol(), ethertype::IPV4);
        assert_eq!(f.ifindex(), 3);
        assert!(Sll2Frame::new_checked(&s2[..19]).is_err());
    }
}
