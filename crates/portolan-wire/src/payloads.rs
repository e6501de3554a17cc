//! Protocol-correct UDP probe payloads.
//!
//! Many UDP services stay silent unless the datagram is a well-formed request of their protocol,
//! so an empty datagram can only ever tell "closed" (ICMP port unreachable) from "open|filtered".
//! Each payload here is written from the protocol's RFC or public specification, asks for
//! something harmless (a version, a status, a discovery answer) and changes nothing on the
//! server. Ports without a specific payload get an empty datagram.
//!
//! | port | protocol | request | specification |
//! |---|---|---|---|
//! | 7 | echo | any bytes | RFC 862 |
//! | 19 | chargen | any datagram | RFC 864 |
//! | 53 | DNS | query `. NS` | RFC 1035 §4.1 |
//! | 69 | TFTP | read request of a file that does not exist (answered by ERROR) | RFC 1350 |
//! | 111 | ONC RPC / rpcbind | NULL procedure call of program 100000 v2 | RFC 5531, RFC 1833 |
//! | 123 | NTP | client-mode (3) version-4 packet | RFC 5905 §7.3 |
//! | 137 | NetBIOS-NS | node status request for `*` | RFC 1002 §4.2.17 |
//! | 161 | SNMP | v1 and v2c GetRequest sysDescr.0, community `public` | RFC 1157, RFC 3416 |
//! | 389 | CLDAP | search of the root DSE | RFC 1798, RFC 4511 |
//! | 500 | IKE | IKEv1 Main Mode SA proposal | RFC 2408, RFC 2409 |
//! | 1900 | SSDP | `M-SEARCH * ssdp:all` | UPnP Device Architecture 2.0 §1.3 |
//! | 3478 | STUN | Binding request | RFC 8489 §5 |
//! | 3702 | WS-Discovery | SOAP Probe | OASIS WS-Discovery 1.1 |
//! | 5060 | SIP | OPTIONS | RFC 3261 §11 |
//! | 5351 | NAT-PMP | external address request | RFC 6886 §3.2 |
//! | 5353 | mDNS | `_services._dns-sd._udp.local PTR` (legacy unicast) | RFC 6762, RFC 6763 §9 |
//! | 5683 | CoAP | confirmable GET `/.well-known/core` | RFC 7252, RFC 6690 |
//! | 11211 | memcached | `version` with the UDP frame header | memcached protocol.txt |

/// A probe payload for one UDP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub port: u16,
    /// Short protocol name, for output ("dns", "snmp-v2c", ...).
    pub protocol: &'static str,
    pub bytes: Vec<u8>,
}

/// All payloads for `port`, in the order to send them (empty for ports without one; send an
/// empty datagram there). Several payloads means several probes (SNMP v1 and v2c).
pub fn for_port(port: u16) -> Vec<Payload> {
    let one = |protocol, bytes| {
        vec![Payload {
            port,
            protocol,
            bytes,
        }]
    };
    match port {
        7 => one("echo", b"portolan\r\n".to_vec()),
        19 => one("chargen", b"\r\n".to_vec()),
        53 => one("dns", dns_root_ns(0x7072)),
        69 => one("tftp", tftp_rrq()),
        111 => one("rpcbind", rpc_null_call(0x706f_7274, 100_000, 2)),
        123 => one("ntp", ntp_client()),
        137 => one("netbios-ns", netbios_node_status()),
        161 => vec![
            Payload {
                port,
                protocol: "snmp-v2c",
                bytes: snmp_get_sysdescr(1, b"public"),
            },
            Payload {
                port,
                protocol: "snmp-v1",
                bytes: snmp_get_sysdescr(0, b"public"),
            },
        ],
        389 => one("cldap", cldap_rootdse()),
        500 => one("ike", ike_main_mode()),
        1900 => one("ssdp", ssdp_msearch()),
        3478 => one("stun", stun_binding()),
        3702 => one("ws-discovery", ws_discovery_probe()),
        5060 => one("sip", sip_options()),
        5351 => one("nat-pmp", vec![0, 0]),
        5353 => one("mdns", mdns_services()),
        5683 => one("coap", coap_well_known_core()),
        11211 => one("memcached", memcached_version()),
        _ => Vec::new(),
    }
}

/// Ports that have a specific payload.
pub const PORTS: &[u16] = &[
    7, 19, 53, 69, 111, 123, 137, 161, 389, 500, 1900, 3478, 3702, 5060, 5351, 5353, 5683, 11211,
];

fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// DNS query (RFC 1035 §4.1.1): ID, RD set, one question `. IN NS`. Every DNS server answers
/// it, with data or with REFUSED.
pub fn dns_root_ns(id: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(17);
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    dns_name(&mut v, "");
    v.extend_from_slice(&[0, 2, 0, 1]); // QTYPE NS, QCLASS IN
    v
}

/// mDNS legacy-unicast query (RFC 6762 §6.7: a query from a port other than 5353 gets a unicast
/// answer) for the DNS-SD service enumeration name (RFC 6763 §9).
pub fn mdns_services() -> Vec<u8> {
    let mut v = vec![0x00, 0x00, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    dns_name(&mut v, "_services._dns-sd._udp.local");
    v.extend_from_slice(&[0, 12, 0, 1]); // PTR, IN
    v
}

/// NetBIOS node status request (RFC 1002 §4.2.17) for the wildcard name `*`.
pub fn netbios_node_status() -> Vec<u8> {
    let mut v = vec![0x70, 0x6c, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    // First-level encoding (RFC 1001 §14.1) of "*" padded with NULs to 16 bytes.
    v.push(32);
    let mut name = [0u8; 16];
    name[0] = b'*';
    for b in name {
        v.push(b'A' + (b >> 4));
        v.push(b'A' + (b & 0x0f));
    }
    v.push(0);
    v.extend_from_slice(&[0x00, 0x21, 0x00, 0x01]); // NBSTAT, IN
    v
}

/// NTP client request (RFC 5905): LI=3 (unsynchronised), VN=4, Mode=3, the rest zero.
pub fn ntp_client() -> Vec<u8> {
    let mut v = vec![0u8; 48];
    v[0] = 0xe3;
    v
}

/// TFTP read request (RFC 1350) for a name no server has: the answer is an ERROR packet, which
/// proves the service without transferring anything.
pub fn tftp_rrq() -> Vec<u8> {
    let mut v = vec![0, 1];
    v.extend_from_slice(b"portolan-probe-nonexistent\0octet\0");
    v
}

/// ONC RPC call (RFC 5531 §9) of procedure 0 (NULL) with AUTH_NONE.
pub fn rpc_null_call(xid: u32, prog: u32, vers: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(40);
    for w in [xid, 0, 2, prog, vers, 0, 0, 0, 0, 0] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    v
}

/// Append a BER TLV (short or long definite length).
fn ber(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
}

fn ber_vec(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 4);
    ber(&mut v, tag, content);
    v
}

/// SNMP GetRequest (RFC 1157 / RFC 3416) for sysDescr.0 (1.3.6.1.2.1.1.1.0).
/// `version`: 0 = SNMPv1, 1 = SNMPv2c.
pub fn snmp_get_sysdescr(version: u8, community: &[u8]) -> Vec<u8> {
    let oid = [0x2b, 6, 1, 2, 1, 1, 1, 0];
    let mut varbind = ber_vec(0x06, &oid);
    ber(&mut varbind, 0x05, &[]); // NULL value
    let varbind = ber_vec(0x30, &varbind);
    let list = ber_vec(0x30, &varbind);
    let mut pdu = ber_vec(0x02, &[0x70, 0x6f, 0x72, 0x74]); // request-id
    ber(&mut pdu, 0x02, &[0]); // error-status
    ber(&mut pdu, 0x02, &[0]); // error-index
    pdu.extend_from_slice(&list);
    let mut msg = ber_vec(0x02, &[version]);
    ber(&mut msg, 0x04, community);
    ber(&mut msg, 0xa0, &pdu); // GetRequest-PDU
    ber_vec(0x30, &msg)
}

/// CLDAP (RFC 1798) search request of the root DSE: base "", scope base, filter
/// `(objectClass=*)`, as Active Directory's DC locator sends.
pub fn cldap_rootdse() -> Vec<u8> {
    let mut req = ber_vec(0x04, b""); // baseObject
    ber(&mut req, 0x0a, &[0]); // scope baseObject
    ber(&mut req, 0x0a, &[0]); // derefAliases never
    ber(&mut req, 0x02, &[0]); // sizeLimit
    ber(&mut req, 0x02, &[0]); // timeLimit
    ber(&mut req, 0x01, &[0]); // typesOnly FALSE
    ber(&mut req, 0x87, b"objectClass"); // present filter
    ber(&mut req, 0x30, &[]); // all attributes
    let mut msg = ber_vec(0x02, &[1]); // messageID
    ber(&mut msg, 0x63, &req); // SearchRequest
    ber_vec(0x30, &msg)
}

/// IKEv1 (RFC 2408/2409) Main Mode first message: one proposal, one transform
/// (3DES, SHA1, pre-shared key, MODP group 2, 28800 s).
pub fn ike_main_mode() -> Vec<u8> {
    let attrs: [u8; 24] = [
        0x80, 0x01, 0x00, 0x05, // encryption: 3DES-CBC
        0x80, 0x02, 0x00, 0x02, // hash: SHA
        0x80, 0x03, 0x00, 0x01, // auth: pre-shared key
        0x80, 0x04, 0x00, 0x02, // group: MODP 1024
        0x80, 0x0b, 0x00, 0x01, // life type: seconds
        0x80, 0x0c, 0x70, 0x80, // life duration: 28800
    ];
    let mut transform = vec![0, 0, 0, 0, 1, 1, 0, 0]; // last, len, #1, KEY_IKE
    transform.extend_from_slice(&attrs);
    let tl = transform.len() as u16;
    transform[2..4].copy_from_slice(&tl.to_be_bytes());
    let mut proposal = vec![0, 0, 0, 0, 1, 1, 0, 1]; // last, len, #1, ISAKMP, SPI 0, 1 transform
    proposal.extend_from_slice(&transform);
    let pl = proposal.len() as u16;
    proposal[2..4].copy_from_slice(&pl.to_be_bytes());
    let mut sa = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]; // next none, len, DOI IPSEC, SIT_IDENTITY_ONLY
    sa.extend_from_slice(&proposal);
    let sl = sa.len() as u16;
    sa[2..4].copy_from_slice(&sl.to_be_bytes());
    let mut msg = Vec::with_capacity(28 + sa.len());
    msg.extend_from_slice(b"portolan"); // initiator cookie
    msg.extend_from_slice(&[0; 8]); // responder cookie
    msg.extend_from_slice(&[1, 0x10, 2, 0]); // next SA, version 1.0, Main Mode, flags
    msg.extend_from_slice(&[0; 4]); // message id
    let total = (28 + sa.len()) as u32;
    msg.extend_from_slice(&total.to_be_bytes());
    msg.extend_from_slice(&sa);
    msg
}

/// SSDP search (UPnP Device Architecture §1.3.2).
pub fn ssdp_msearch() -> Vec<u8> {
    b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n".to_vec()
}

/// STUN Binding request (RFC 8489 §5): type 0x0001, length 0, magic cookie, transaction id.
pub fn stun_binding() -> Vec<u8> {
    let mut v = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    v.extend_from_slice(b"portolanprob");
    v
}

/// WS-Discovery Probe (OASIS WS-Discovery 1.1, SOAP 1.2 over UDP).
pub fn ws_discovery_probe() -> Vec<u8> {
    concat!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
        "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\" ",
        "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" ",
        "xmlns:wsd=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\">",
        "<soap:Header>",
        "<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>",
        "<wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</wsa:Action>",
        "<wsa:MessageID>urn:uuid:0b1e7a3c-5d2f-4c8e-9a61-706f72746f6c</wsa:MessageID>",
        "</soap:Header>",
        "<soap:Body><wsd:Probe/></soap:Body>",
        "</soap:Envelope>"
    )
    .as_bytes()
    .to_vec()
}

/// SIP OPTIONS (RFC 3261 §11): asks a SIP server for its capabilities.
pub fn sip_options() -> Vec<u8> {
    concat!(
        "OPTIONS sip:nm SIP/2.0\r\n",
        "Via: SIP/2.0/UDP nm;branch=z9hG4bK-portolan;rport\r\n",
        "Max-Forwards: 70\r\n",
        "To: <sip:nm>\r\n",
        "From: <sip:portolan@nm>;tag=706f7274\r\n",
        "Call-ID: 706f72746f6c616e\r\n",
        "CSeq: 1 OPTIONS\r\n",
        "Accept: application/sdp\r\n",
        "Content-Length: 0\r\n\r\n"
    )
    .as_bytes()
    .to_vec()
}

/// CoAP (RFC 7252) confirmable GET of `/.well-known/core` (RFC 6690 resource discovery).
pub fn coap_well_known_core() -> Vec<u8> {
    let mut v = vec![0x40, 0x01, 0x70, 0x6c]; // ver 1, CON, TKL 0, GET, message id
    v.push(0xbb); // option 11 (Uri-Path), length 11
    v.extend_from_slice(b".well-known");
    v.push(0x04); // option delta 0 (Uri-Path again), length 4
    v.extend_from_slice(b"core");
    v
}

/// memcached UDP request (protocol.txt "UDP protocol"): 8-byte frame header
/// (request id, sequence 0, 1 datagram, reserved) then the text command `version`.
pub fn memcached_version() -> Vec<u8> {
    let mut v = vec![0x70, 0x6c, 0, 0, 0, 1, 0, 0];
    v.extend_from_slice(b"version\r\n");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal BER reader for the tests: (tag, content, rest).
    fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = b[0];
        let (len, hdr) = match b[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (b[2] as usize, 3),
            _ => ((b[2] as usize) << 8 | b[3] as usize, 4),
        };
        (tag, &b[hdr..hdr + len], &b[hdr + len..])
    }

    #[test]
    fn every_listed_port_has_a_payload() {
        for &p in PORTS {
            let v = for_port(p);
            assert!(!v.is_empty(), "{p}");
            for x in v {
                assert!(!x.bytes.is_empty() && x.bytes.len() <= crate::build::MAX_UDP_PAYLOAD);
            }
        }
        assert!(for_port(40000).is_empty());
    }

    #[test]
    fn dns_query_shape() {
        let q = dns_root_ns(0xabcd);
        assert_eq!(&q[..2], &[0xab, 0xcd]);
        assert_eq!(&q[4..6], &[0, 1]); // one question
        assert_eq!(q.len(), 12 + 1 + 4);
        let m = mdns_services();
        assert_eq!(m[12] as usize, "_services".len());
        assert_eq!(&m[m.len() - 4..], &[0, 12, 0, 1]);
    }

    #[test]
    fn netbios_name_is_encoded() {
        let n = netbios_node_status();
        assert_eq!(n[12], 32);
        assert_eq!(&n[13..15], b"CK"); // '*' = 0x2a
        assert!(n[15..45].iter().all(|&c| c == b'A'));
        assert_eq!(n.len(), 12 + 34 + 4);
    }

    #[test]
    fn snmp_is_well_formed_ber() {
        for version in [0u8, 1] {
            let m = snmp_get_sysdescr(version, b"public");
            let (tag, msg, rest) = tlv(&m);
            assert_eq!((tag, rest.len()), (0x30, 0));
            let (t, v, msg) = tlv(msg);
            assert_eq!((t, v), (0x02, &[version][..]));
            let (t, c, msg) = tlv(msg);
            assert_eq!((t, c), (0x04, &b"public"[..]));
            let (t, pdu, rest) = tlv(msg);
            assert_eq!((t, rest.len()), (0xa0, 0));
            let (_, _, pdu) = tlv(pdu); // request id
            let (_, _, pdu) = tlv(pdu);
            let (_, _, pdu) = tlv(pdu);
            let (t, list, _) = tlv(pdu);
            assert_eq!(t, 0x30);
            let (_, vb, _) = tlv(list);
            let (t, oid, _) = tlv(vb);
            assert_eq!((t, oid), (0x06, &[0x2b, 6, 1, 2, 1, 1, 1, 0][..]));
        }
    }

    #[test]
    fn cldap_is_a_search_request() {
        let m = cldap_rootdse();
        let (tag, msg, rest) = tlv(&m);
        assert_eq!((tag, rest.len()), (0x30, 0));
        let (_, id, msg) = tlv(msg);
        assert_eq!(id, &[1]);
        let (tag, _req, rest) = tlv(msg);
        assert_eq!((tag, rest.len()), (0x63, 0));
    }

    #[test]
    fn ike_lengths_add_up() {
        let m = ike_main_mode();
        let total = u32::from_be_bytes([m[24], m[25], m[26], m[27]]) as usize;
        assert_eq!(total, m.len());
        let sa_len = u16::from_be_bytes([m[30], m[31]]) as usize;
        assert_eq!(28 + sa_len, m.len());
        assert_eq!(m[16], 1); // next payload SA
        assert_eq!(m[17], 0x10); // version 1.0
    }

    #[test]
    fn fixed_formats() {
        assert_eq!(ntp_client().len(), 48);
        assert_eq!(ntp_client()[0] & 0x07, 3);
        assert_eq!(rpc_null_call(1, 100_000, 2).len(), 40);
        assert_eq!(stun_binding().len(), 20);
        assert_eq!(&tftp_rrq()[..2], &[0, 1]);
        assert!(tftp_rrq().ends_with(b"octet\0"));
        assert!(memcached_version().ends_with(b"version\r\n"));
        assert!(ssdp_msearch().ends_with(b"\r\n\r\n"));
        let c = coap_well_known_core();
        assert_eq!(c[0] >> 6, 1);
    }
}
