//! Link layers: Ethernet II with up to four 802.1Q / 802.1ad (QinQ) VLAN tags, Linux cooked
//! capture v1 (SLL) and v2 (SLL2), BSD / OpenBSD loopback (null), and the pcap `LINKTYPE_`
//! numbers that say which one a capture holds.

use crate::{be16, be32, need, WireError};

/// EtherType values the views understand.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const QINQ_OLD: u16 = 0x9100;
}

/// Link-layer header types (the `LINKTYPE_` values of pcap and pcapng).
pub mod linktype {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// `DLT_RAW` as some BSDs wrote it.
    pub const RAW_BSD: u32 = 12;
    pub const RAW_BSD2: u32 = 14;
    /// Raw IPv4 or IPv6, decided by the version nibble.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: family in network byte order.
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;

    /// A name for messages.
    pub fn name(lt: u32) -> &'static str {
        match lt {
            NULL => "NULL (BSD loopback)",
            ETHERNET => "Ethernet",
            RAW | RAW_BSD | RAW_BSD2 => "raw IP",
            LOOP => "LOOP (OpenBSD loopback)",
            LINUX_SLL => "Linux cooked (SLL)",
            IPV4 => "raw IPv4",
            IPV6 => "raw IPv6",
            LINUX_SLL2 => "Linux cooked v2 (SLL2)",
            _ => "unsupported",
        }
    }

    /// True when the views understand this link type.
    pub fn supported(lt: u32) -> bool {
        name(lt) != "unsupported"
    }
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
    /// Offset of the payload after all VLAN tags.
    payload_at: usize,
    /// The EtherType after all VLAN tags.
    inner_type: u16,
    vlans: u8,
}

/// The most VLAN tags followed before giving up.
pub const MAX_VLAN_TAGS: u8 = 4;

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// View `buffer` as an Ethernet frame, walking VLAN tags.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        need(b, 14, "Ethernet")?;
        let mut at = 12;
        let mut ty = be16(b, at);
        let mut vlans = 0u8;
        while matches!(ty, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
            if vlans == MAX_VLAN_TAGS {
                return Err(WireError::Malformed {
                    layer: "Ethernet",
                    what: "more than 4 VLAN tags",
                });
            }
            need(b, at + 6, "802.1Q VLAN tag")?;
            at += 4;
            ty = be16(b, at);
            vlans += 1;
        }
        Ok(EthernetFrame {
            buffer,
            payload_at: at + 2,
            inner_type: ty,
            vlans,
        })
    }

    /// Destination MAC address.
    pub fn dst_addr(&self) -> [u8; 6] {
        let b = self.buffer.as_ref();
        [b[0], b[1], b[2], b[3], b[4], b[5]]
    }

    /// Source MAC address.
    pub fn src_addr(&self) -> [u8; 6] {
        let b = self.buffer.as_ref();
        [b[6], b[7], b[8], b[9], b[10], b[11]]
    }

    /// The EtherType of the payload (after VLAN tags).
    pub fn ethertype(&self) -> u16 {
        self.inner_type
    }

    /// How many VLAN tags were skipped.
    pub fn vlan_count(&self) -> u8 {
        self.vlans
    }

    /// The outermost VLAN id, if tagged.
    pub fn outer_vlan(&self) -> Option<u16> {
        (self.vlans > 0).then(|| be16(self.buffer.as_ref(), 14) & 0x0fff)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// The payload after all tags.
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buffer)[self.payload_at..]
    }
}

/// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113): a 16-byte pseudo header.
#[derive(Debug, Clone, Copy)]
pub struct SllFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SllFrame<T> {
    pub const HEADER_LEN: usize = 16;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need(buffer.as_ref(), Self::HEADER_LEN, "Linux cooked (SLL)")?;
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
}

impl<'a, T: AsRef<[u8]> + ?Sized> SllFrame<&'a T> {
    /// The bytes after the pseudo header.
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buffer)[SllFrame::<&[u8]>::HEADER_LEN..]
    }
}

/// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`, 276): a 20-byte pseudo header.
#[derive(Debug, Clone, Copy)]
pub struct Sll2Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Sll2Frame<T> {
    pub const HEADER_LEN: usize = 20;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need(buffer.as_ref(), Self::HEADER_LEN, "Linux cooked v2 (SLL2)")?;
        Ok(Sll2Frame { buffer })
    }
    /// The protocol (an EtherType for IP).
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }
    /// The interface index the packet was seen on.
    pub fn ifindex(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
    pub fn hatype(&self) -> u16 {
        be16(self.buffer.as_ref(), 8)
    }
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[10]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Sll2Frame<&'a T> {
    /// The bytes after the pseudo header.
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buffer)[Sll2Frame::<&[u8]>::HEADER_LEN..]
    }
}

/// BSD loopback (`LINKTYPE_NULL`, 0, family in the capturing host's byte order) and OpenBSD
/// loopback (`LINKTYPE_LOOP`, 108, family in network byte order): a 4-byte address family.
#[derive(Debug, Clone, Copy)]
pub struct NullFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NullFrame<T> {
    pub const HEADER_LEN: usize = 4;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need(buffer.as_ref(), Self::HEADER_LEN, "loopback (null)")?;
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
}

impl<'a, T: AsRef<[u8]> + ?Sized> NullFrame<&'a T> {
    /// The bytes after the pseudo header.
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buffer)[NullFrame::<&[u8]>::HEADER_LEN..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_qinq() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[
            0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00, 0x45,
        ]);
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(e.ethertype(), ethertype::IPV4);
        assert_eq!(e.vlan_count(), 2);
        assert_eq!(e.outer_vlan(), Some(10));
        assert_eq!(e.payload(), &[0x45]);
        assert!(EthernetFrame::new_checked(&f[..15]).is_err());
    }

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
