//! Link layers: Ethernet II with up to four 802.1Q / 802.1ad (QinQ) VLAN tags, Linux cooked
//! capture v1 (SLL) and v2 (SLL2), BSD / OpenBSD loopback (null), and the pcap `LINKTYPE_`
//! numbers that say which one a capture holds. Each header names its fields once ([`field`],
//! [`sll_field`], [`sll2_field`], [`null_field`]); [`EthernetRepr`] parses and emits an Ethernet
//! header.

use crate::{get16, get32, need, put16, room, WireError};

/// Where each field of the Ethernet II header lies, and of an 802.1Q / 802.1ad tag after it.
pub mod field {
    use crate::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    /// The EtherType, or the TPID of the first VLAN tag.
    pub const ETHERTYPE: Field = 12..14;
    /// Where the payload (or the rest of the first VLAN tag) starts.
    pub const PAYLOAD: usize = 14;
    /// The first VLAN tag's control information (priority, DEI, VLAN id in the low 12 bits).
    pub const OUTER_VLAN_TCI: Field = 14..16;
    /// Bytes one VLAN tag adds (TPID and TCI).
    pub const VLAN_TAG_LEN: usize = 4;
    /// The VLAN id bits of a TCI.
    pub const VLAN_ID_MASK: u16 = 0x0fff;
}

/// Where each field of the Linux cooked capture v1 (SLL) pseudo header lies.
pub mod sll_field {
    use crate::Field;

    pub const PACKET_TYPE: Field = 0..2;
    pub const HATYPE: Field = 2..4;
    pub const ADDR_LEN: Field = 4..6;
    pub const ADDR: Field = 6..14;
    pub const PROTOCOL: Field = 14..16;
    pub const PAYLOAD: usize = 16;
}

/// Where each field of the Linux cooked capture v2 (SLL2) pseudo header lies.
pub mod sll2_field {
    use crate::Field;

    pub const PROTOCOL: Field = 0..2;
    pub const RESERVED: Field = 2..4;
    pub const IFINDEX: Field = 4..8;
    pub const HATYPE: Field = 8..10;
    pub const PACKET_TYPE: usize = 10;
    pub const ADDR_LEN: usize = 11;
    pub const ADDR: Field = 12..20;
    pub const PAYLOAD: usize = 20;
}

/// Where the field of the BSD / OpenBSD loopback pseudo header lies.
pub mod null_field {
    use crate::Field;

    /// The address family (host byte order for `LINKTYPE_NULL`, network for `LINKTYPE_LOOP`).
    pub const FAMILY: Field = 0..4;
    pub const PAYLOAD: usize = 4;
}

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
        need(b, field::PAYLOAD, "Ethernet")?;
        let mut at = field::ETHERTYPE;
        let mut ty = get16(b, at.clone());
        let mut vlans = 0u8;
        while matches!(ty, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
            if vlans == MAX_VLAN_TAGS {
                return Err(WireError::Malformed {
                    layer: "Ethernet",
                    what: "more than 4 VLAN tags",
                });
            }
            at = at.start + field::VLAN_TAG_LEN..at.end + field::VLAN_TAG_LEN;
            need(b, at.end, "802.1Q VLAN tag")?;
            ty = get16(b, at.clone());
            vlans += 1;
        }
        Ok(EthernetFrame {
            buffer,
            payload_at: at.end,
            inner_type: ty,
            vlans,
        })
    }

    /// Destination MAC address.
    pub fn dst_addr(&self) -> [u8; 6] {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        a
    }

    /// Source MAC address.
    pub fn src_addr(&self) -> [u8; 6] {
        let mut a = [0u8; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        a
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
        (self.vlans > 0)
            .then(|| get16(self.buffer.as_ref(), field::OUTER_VLAN_TCI) & field::VLAN_ID_MASK)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// The payload after all tags.
    pub fn payload(&self) -> &'a [u8] {
        &<T as AsRef<[u8]>>::as_ref(self.buffer)[self.payload_at..]
    }
}

/// An untagged Ethernet II header as plain fields: what [`EthernetRepr::parse`] reads and
/// [`EthernetRepr::emit`] writes (Ethernet has no checksum in the header; the FCS is the NIC's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src_addr: [u8; 6],
    pub dst_addr: [u8; 6],
    /// The EtherType of the payload ([`ethertype`]); `parse` gives the one after any VLAN tags.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Read the header of `frame` (VLAN tags are skipped, not kept).
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> EthernetRepr {
        EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        }
    }

    /// Length of the header `emit` writes.
    pub const HEADER_LEN: usize = field::PAYLOAD;

    /// Length of the header (the payload follows it in the same buffer).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN
    }

    /// Write the 14-byte header into the start of `buf`.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        room(buf.len(), Self::HEADER_LEN)?;
        buf[field::DESTINATION].copy_from_slice(&self.dst_addr);
        buf[field::SOURCE].copy_from_slice(&self.src_addr);
        put16(buf, field::ETHERTYPE, self.ethertype);
        Ok(())
    }
}

/// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113): a 16-byte pseudo header.
#[derive(Debug, Clone, Copy)]
pub struct SllFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SllFrame<T> {
    pub const HEADER_LEN: usize = sll_field::PAYLOAD;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need(buffer.as_ref(), Self::HEADER_LEN, "Linux cooked (SLL)")?;
        Ok(SllFrame { buffer })
    }
    /// Packet type: 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us.
    pub fn packet_type(&self) -> u16 {
        get16(self.buffer.as_ref(), sll_field::PACKET_TYPE)
    }
    /// ARPHRD_ type of the device.
    pub fn hatype(&self) -> u16 {
        get16(self.buffer.as_ref(), sll_field::HATYPE)
    }
    /// The protocol (an EtherType for IP).
    pub fn protocol(&self) -> u16 {
        get16(self.buffer.as_ref(), sll_field::PROTOCOL)
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
    pub const HEADER_LEN: usize = sll2_field::PAYLOAD;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need(buffer.as_ref(), Self::HEADER_LEN, "Linux cooked v2 (SLL2)")?;
        Ok(Sll2Frame { buffer })
    }
    /// The protocol (an EtherType for IP).
    pub fn protocol(&self) -> u16 {
        get16(self.buffer.as_ref(), sll2_field::PROTOCOL)
    }
    /// The interface index the packet was seen on.
    pub fn ifindex(&self) -> u32 {
        get32(self.buffer.as_ref(), sll2_field::IFINDEX)
    }
    pub fn hatype(&self) -> u16 {
        get16(self.buffer.as_ref(), sll2_field::HATYPE)
    }
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[sll2_field::PACKET_TYPE]
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
    pub const HEADER_LEN: usize = null_field::PAYLOAD;

    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need(buffer.as_ref(), Self::HEADER_LEN, "loopback (null)")?;
        Ok(NullFrame { buffer })
    }

    /// The address family, whatever the byte order it was written in.
    pub fn family(&self) -> u32 {
        let mut f = [0u8; 4];
        f.copy_from_slice(&self.buffer.as_ref()[null_field::FAMILY]);
        let le = u32::from_le_bytes(f);
        if le <= 0xffff {
            le
        } else {
            u32::from_be_bytes(f)
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
