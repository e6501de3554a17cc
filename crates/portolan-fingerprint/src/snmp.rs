//! A minimal BER reader for SNMP v1/v2c responses (RFC 3416, X.690), enough to read the
//! variable bindings of a GetResponse, and the one request Portolan sends
//! ([`get_request_public`]). Every length is checked; hostile input gives `None`.

/// One TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// Read one TLV from the start of `b`; returns it and the rest.
pub fn tlv(b: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let value = b.get(hdr..end)?;
    Some((Tlv { tag, value }, &b[end..]))
}

/// Decode an OID's content octets to dotted form.
pub fn oid_string(v: &[u8]) -> Option<String> {
    let (&first, rest) = v.split_first()?;
    let mut parts = vec![
        (first / 40).min(2) as u64,
        (first - (first / 40).min(2) * 40) as u64,
    ];
    let mut acc: u64 = 0;
    for &c in rest {
        acc = acc.checked_mul(128)?.checked_add((c & 0x7f) as u64)?;
        if c & 0x80 == 0 {
            parts.push(acc);
            acc = 0;
        }
    }
    Some(
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// A BER INTEGER's content octets (two's complement, big-endian, 1-8 octets).
pub fn integer(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    let neg = v[0] & 0x80 != 0;
    let mut n: i64 = if neg { -1 } else { 0 };
    for &b in v {
        n = (n << 8) | i64::from(b);
    }
    Some(n)
}

/// sysDescr.0 (RFC 3418) and UCD-SNMP-MIB versionTag.0 (Net-SNMP's version), BER-encoded OIDs.
const GET_OIDS: [&[u8]; 2] = [
    &[0x2b, 6, 1, 2, 1, 1, 1, 0],
    &[0x2b, 6, 1, 4, 1, 0x8f, 0x65, 0x64, 2, 0],
];

/// The SNMPv2c GetRequest (RFC 3416 §3, §4.2.1; community-based message of RFC 1901) with
/// community `public` for sysDescr.0 and versionTag.0: a read of two scalars, nothing set.
pub fn get_request_public(request_id: i32) -> Vec<u8> {
    fn enc(tag: u8, v: &[u8]) -> Vec<u8> {
        // Every part is short (< 128 octets): the short length form.
        let mut o = vec![tag, v.len() as u8];
        o.extend_from_slice(v);
        o
    }
    let vbl: Vec<u8> = GET_OIDS
        .iter()
        .flat_map(|oid| enc(0x30, &[enc(0x06, oid), vec![0x05, 0x00]].concat()))
        .collect();
    let pdu = enc(
        0xa0,
        &[
            enc(0x02, &request_id.to_be_bytes()),
            enc(0x02, &[0]),
            enc(0x02, &[0]),
            enc(0x30, &vbl),
        ]
        .concat(),
    );
    enc(0x30, &[enc(0x02, &[1]), enc(0x04, b"public"), pdu].concat())
}

/// What a GetResponse says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub version: u8,
    pub community: Vec<u8>,
    /// The request-id, which a response repeats from its request (RFC 3416 §4.2.1-4.2.5).
    pub request_id: i64,
    pub error_status: u8,
    /// (OID, value) for values that are OCTET STRINGs; other types are shown as `<tag 0xNN>`.
    pub bindings: Vec<(String, String)>,
}

/// Parse an SNMP message holding a GetResponse (PDU tag 0xa2).
pub fn parse_response(b: &[u8]) -> Option<Response> {
    let (msg, _) = tlv(b)?;
    if msg.tag != 0x30 {
        return None;
    }
    let (ver, rest) = tlv(msg.value)?;
    let (comm, rest) = tlv(rest)?;
    let (pdu, _) = tlv(rest)?;
    if ver.tag != 0x02 || comm.tag != 0x04 || pdu.tag != 0xa2 {
        return None;
    }
    let (reqid, rest) = tlv(pdu.value)?;
    if reqid.tag != 0x02 {
        return None;
    }
    let (err, rest) = tlv(rest)?;
    let (_idx, rest) = tlv(rest)?;
    let (vbl, _) = tlv(rest)?;
    let mut bindings = Vec::new();
    let mut list = vbl.value;
    while !list.is_empty() && bindings.len() < 64 {
        let (vb, next) = tlv(list)?;
        list = next;
        let (oid, rest) = tlv(vb.value)?;
        let (val, _) = tlv(rest)?;
        if oid.tag != 0x06 {
            return None;
        }
        let v = if val.tag == 0x04 {
            String::from_utf8_lossy(&val.value[..val.value.len().min(512)]).into_owned()
        } else {
            format!("<tag 0x{:02x}>", val.tag)
        };
        bindings.push((oid_string(oid.value)?, v));
    }
    Some(Response {
        version: *ver.value.last()?,
        community: comm.value.to_vec(),
        request_id: integer(reqid.value)?,
        error_status: *err.value.last()?,
        bindings,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub fn enc(tag: u8, v: &[u8]) -> Vec<u8> {
        let mut o = vec![tag];
        if v.len() < 128 {
            o.push(v.len() as u8);
        } else {
            o.push(0x82);
            o.extend_from_slice(&(v.len() as u16).to_be_bytes());
        }
        o.extend_from_slice(v);
        o
    }

    /// A GetResponse as Net-SNMP sends it, to the `snmp-public` probe (request-id "port").
    pub fn sample_response(descr: &str, version: &str) -> Vec<u8> {
        sample_response_to(b"port", descr, version)
    }

    /// The GetResponse to a request whose request-id content octets are `request_id`.
    pub fn sample_response_to(request_id: &[u8], descr: &str, version: &str) -> Vec<u8> {
        let vb1 = enc(
            0x30,
            &[
                enc(6, &[0x2b, 6, 1, 2, 1, 1, 1, 0]),
                enc(4, descr.as_bytes()),
            ]
            .concat(),
        );
        let vb2 = enc(
            0x30,
            &[
                enc(6, &[0x2b, 6, 1, 4, 1, 0x8f, 0x65, 0x64, 2, 0]),
                enc(4, version.as_bytes()),
            ]
            .concat(),
        );
        let vbl = enc(0x30, &[vb1, vb2].concat());
        let pdu = enc(
            0xa2,
            &[enc(2, request_id), enc(2, &[0]), enc(2, &[0]), vbl].concat(),
        );
        enc(0x30, &[enc(2, &[1]), enc(4, b"public"), pdu].concat())
    }

    #[test]
    fn reads_a_get_response() {
        let r = parse_response(&sample_response("Linux lab 6.1.0", "5.9.3")).unwrap();
        assert_eq!(r.version, 1);
        assert_eq!(r.community, b"public");
        assert_eq!(r.error_status, 0);
        assert_eq!(
            r.bindings[0],
            ("1.3.6.1.2.1.1.1.0".into(), "Linux lab 6.1.0".into())
        );
        assert_eq!(
            r.bindings[1],
            ("1.3.6.1.4.1.2021.100.2.0".into(), "5.9.3".into())
        );
        let long = sample_response(&"x".repeat(300), "1");
        assert_eq!(parse_response(&long).unwrap().bindings[0].1.len(), 300);
    }

    #[test]
    fn the_get_request_is_the_snmp_public_probe_with_its_own_request_id() {
        // The check's exchange and the probe's are the same request: a reply to either says
        // the same about community public.
        let db = crate::ProbeDb::embedded().unwrap();
        let probe = db.probe("snmp-public").unwrap();
        assert_eq!(get_request_public(0x706f_7274), probe.payload);
        let q = get_request_public(-2);
        assert_eq!(&q[..2], &[0x30, q.len() as u8 - 2]);
        // A response echoes the request-id; ours reads back.
        let mut resp = sample_response("x", "1");
        let at = resp.windows(6).position(|w| w == b"\x02\x04port").unwrap();
        resp[at + 2..at + 6].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(parse_response(&resp).unwrap().request_id, -2);
        assert_eq!(
            parse_response(&sample_response("x", "1"))
                .unwrap()
                .request_id,
            0x706f_7274
        );
    }

    #[test]
    fn integers() {
        assert_eq!(integer(&[0x01]), Some(1));
        assert_eq!(integer(&[0xff]), Some(-1));
        assert_eq!(integer(&[0x00, 0x80]), Some(128));
        assert_eq!(integer(&[0x80, 0, 0, 0]), Some(i64::from(i32::MIN)));
        assert_eq!(integer(&[]), None);
        assert_eq!(integer(&[0; 9]), None);
    }

    #[test]
    fn oids() {
        assert_eq!(
            oid_string(&[0x2b, 6, 1, 4, 1, 0x8f, 0x65]).unwrap(),
            "1.3.6.1.4.1.2021"
        );
        assert!(oid_string(&[]).is_none());
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_response(&b);
        }

        #[test]
        fn truncated_responses_are_rejected(cut in 0usize..60) {
            let full = sample_response("Linux", "5.9.3");
            let cut = cut.min(full.len() - 1);
            prop_assert!(parse_response(&full[..cut]).is_none());
        }
    }
}
