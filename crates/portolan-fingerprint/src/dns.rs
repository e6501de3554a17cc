//! DNS CHAOS-class TXT queries (`version.bind`, `id.server`, `hostname.bind`) and a
//! bounds-checked reader of their answers (RFC 1035 §4.1, names with compression pointers
//! §4.1.4). Servers answer these with their software version and the name of the instance
//! that answered (RFC 4892 for `id.server`; BIND ARM for `hostname.bind`). Every length and
//! pointer is checked; hostile input gives `None`, never a panic or a loop.

/// QTYPE TXT.
const TXT: u16 = 16;
/// QCLASS CH (CHAOS).
const CH: u16 = 3;
/// Longest text kept from one answer.
const TEXT_CAP: usize = 120;

/// A standard query (RD clear) for `name` TXT CH with transaction `id`; over TCP prefix it
/// with its length ([`with_tcp_length`]). `None` if a label is empty or longer than 63 bytes.
pub fn chaos_txt_query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut m = Vec::with_capacity(12 + name.len() + 6);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&TXT.to_be_bytes());
    m.extend_from_slice(&CH.to_be_bytes());
    Some(m)
}

/// RFC 1035 §4.2.2: a message over TCP is preceded by its length.
pub fn with_tcp_length(msg: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(msg.len() + 2);
    v.extend_from_slice(&(msg.len().min(0xffff) as u16).to_be_bytes());
    v.extend_from_slice(msg);
    v
}

/// Skip a (possibly compressed) name starting at `at`; the offset just after it.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    // A name is at most 255 bytes, so at most 128 labels; a pointer ends it.
    for _ in 0..128 {
        let len = *m.get(at)?;
        match len {
            0 => return at.checked_add(1),
            l if l & 0xc0 == 0xc0 => {
                m.get(at + 1)?;
                return at.checked_add(2);
            }
            l if l & 0xc0 == 0 => at = at.checked_add(1 + l as usize)?,
            _ => return None,
        }
    }
    None
}

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]))
}

/// The texts of the TXT records answering transaction `id` (a response, RCODE 0): each
/// record's <character-string>s joined, printable ASCII only, capped. `None` if `m` is not
/// such a response or is malformed; an empty list if it answers with no TXT record.
pub fn parse_txt_answers(m: &[u8], id: u16) -> Option<Vec<String>> {
    if u16_at(m, 0)? != id {
        return None;
    }
    let flags = u16_at(m, 2)?;
    if flags & 0x8000 == 0 || flags & 0x000f != 0 {
        return None;
    }
    let qd = u16_at(m, 4)?;
    let an = u16_at(m, 6)?;
    let mut at = 12usize;
    for _ in 0..qd {
        at = skip_name(m, at)?.checked_add(4)?;
        if at > m.len() {
            return None;
        }
    }
    let mut out = Vec::new();
    for _ in 0..an.min(16) {
        at = skip_name(m, at)?;
        let rtype = u16_at(m, at)?;
        let rdlen = u16_at(m, at + 8)? as usize;
        let start = at.checked_add(10)?;
        let end = start.checked_add(rdlen)?;
        let rdata = m.get(start..end)?;
        at = end;
        if rtype != TXT {
            continue;
        }
        let mut text = String::new();
        let mut i = 0;
        while i < rdata.len() {
            let l = rdata[i] as usize;
            let s = rdata.get(i + 1..i + 1 + l)?;
            text.extend(
                s.iter()
                    .filter(|c| (0x20..0x7f).contains(*c))
                    .map(|&c| c as char),
            );
            i += 1 + l;
        }
        let text: String = text.trim().chars().take(TEXT_CAP).collect();
        if !text.is_empty() {
            out.push(text);
        }
    }
    Some(out)
}

/// Strip the TCP length prefix of a reply (RFC 1035 §4.2.2), if the length fits.
pub fn strip_tcp_length(b: &[u8]) -> Option<&[u8]> {
    let len = u16_at(b, 0)? as usize;
    b.get(2..2 + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An answer to `q` with one TXT record holding `texts`, the owner a pointer to the
    /// question (RFC 1035 §4.1.4), as BIND, Unbound and NSD send it.
    fn answer(q: &[u8], texts: &[&[u8]]) -> Vec<u8> {
        let mut m = q.to_vec();
        m[2] = 0x84; // QR, AA
        m[7] = 1; // ANCOUNT
        let mut rdata = Vec::new();
        for t in texts {
            rdata.push(t.len() as u8);
            rdata.extend_from_slice(t);
        }
        m.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x10, 0x00, 0x03, 0, 0, 0, 0]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend(rdata);
        m
    }

    #[test]
    fn queries_are_rfc1035_messages() {
        let q = chaos_txt_query(0x1234, "id.server").unwrap();
        assert_eq!(
            q,
            b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02id\x06server\x00\x00\x10\x00\x03"
        );
        assert_eq!(with_tcp_length(&q)[..2], [0, q.len() as u8]);
        assert!(chaos_txt_query(1, "a..b").is_none());
    }

    #[test]
    fn answers_are_read() {
        // RFC 4892 §2: id.server answered with the instance's name.
        let q = chaos_txt_query(7, "id.server").unwrap();
        let a = answer(&q, &[b"ns1.example", b"-fra"]);
        assert_eq!(
            parse_txt_answers(&a, 7),
            Some(vec!["ns1.example-fra".into()])
        );
        assert_eq!(parse_txt_answers(&a, 8), None, "another transaction");
        let t = with_tcp_length(&a);
        assert_eq!(strip_tcp_length(&t), Some(&a[..]));
        // REFUSED (RCODE 5): not an answer.
        let mut refused = q.clone();
        refused[2] = 0x80;
        refused[3] = 0x05;
        assert_eq!(parse_txt_answers(&refused, 7), None);
        // NOERROR with no answer: an empty list.
        let mut empty = q;
        empty[2] = 0x80;
        assert_eq!(parse_txt_answers(&empty, 7), Some(vec![]));
        // Control bytes are dropped.
        let a = answer(&chaos_txt_query(7, "a").unwrap(), &[b"x\x1b[2Jy"]);
        assert_eq!(parse_txt_answers(&a, 7), Some(vec!["x[2Jy".into()]));
    }

    #[test]
    fn malformed_answers_are_none() {
        let q = chaos_txt_query(7, "id.server").unwrap();
        let a = answer(&q, &[b"ns1"]);
        for cut in 0..a.len() {
            assert_eq!(parse_txt_answers(&a[..cut], 7), None, "cut at {cut}");
        }
        // A label with the reserved 0x40/0x80 bits.
        let mut bad = a.clone();
        bad[12] = 0x41;
        assert_eq!(parse_txt_answers(&bad, 7), None);
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..600), id in any::<u16>()) {
            let _ = parse_txt_answers(&b, id);
            let _ = strip_tcp_length(&b);
        }

        #[test]
        fn any_text_round_trips(texts in proptest::collection::vec("[ -~]{1,40}", 1..4), id in any::<u16>()) {
            let q = chaos_txt_query(id, "hostname.bind").unwrap();
            let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
            let got = parse_txt_answers(&answer(&q, &bytes), id).unwrap();
            let want: String = texts.concat().trim().chars().take(TEXT_CAP).collect();
            if want.is_empty() {
                prop_assert!(got.is_empty());
            } else {
                prop_assert_eq!(got, vec![want]);
            }
        }
    }
}
