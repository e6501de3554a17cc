//! Ethernet II frames with any number (up to 4) of 802.1Q / 802.1ad (QinQ) VLAN tags.

use super::{be16, ethertype, WireError};

/// A view of an Ethernet II frame.
#[derive(Debug, Clone)]
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
        if b.len() < 14 {
            return Err(WireError::Truncated("ethernet"));
        }
        let mut at = 12;
        let mut ty = be16(b, at);
        let mut vlans = 0u8;
        while matches!(ty, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
            if vlans == MAX_VLAN_TAGS {
                return Err(WireError::Malformed {
                    layer: "ethernet",
                    what: "more than 4 VLAN tags",
                });
            }
            if b.len() < at + 6 {
                return Err(WireError::Truncated("802.1Q VLAN tag"));
            }
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

    /// The payload after all tags.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.payload_at..]
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
}
