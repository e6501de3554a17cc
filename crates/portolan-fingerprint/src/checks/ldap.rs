//! LDAP: anonymous bind, the root DSE, and whether the directory's data can be read anonymously.
//!
//! On one connection, BER encoded by hand (RFC 4511 §4.2 BindRequest, §4.5.1 SearchRequest):
//!
//! 1. a simple bind with an empty name and an empty password — the anonymous bind of RFC 4513
//!    §5.1.1 (no credential is sent);
//! 2. a base search of the root DSE (RFC 4512 §5.1) for `namingContexts`,
//!    `supportedLDAPVersion`, `vendorName`, `vendorVersion`: what they say goes to the report's
//!    extra information (any server may publish its root DSE; this alone is not a finding);
//! 3. for each naming context (at most [`MAX_CONTEXTS`]), a one-level search asking for no
//!    attributes (`1.1`) and at most [`SIZE_LIMIT`] entries: entries returned mean the directory's
//!    data is readable without credentials (`ldap-anonymous-read`).
//!
//! The BER reader takes definite lengths only, checks every length against what was received
//! and nests at most a few levels; it is fuzzed (`fuzz/fuzz_targets/nocred.rs`).

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;

use crate::checks::finding;
use crate::engine::{connect, read_reply, Options};
use crate::report::{ServiceReport, Severity};

/// Naming contexts searched, at most.
pub const MAX_CONTEXTS: usize = 4;
/// Entries asked for per naming context.
pub const SIZE_LIMIT: u8 = 3;
/// Largest reply read per request.
const MAX_READ: usize = 64 * 1024;
/// Values kept per attribute, and entries per search.
pub const MAX_VALUES: usize = 32;
/// Longest value kept.
const MAX_VALUE: usize = 256;

fn ber_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend(ber_len(content.len()));
    v.extend_from_slice(content);
    v
}

fn message(id: u8, op: Vec<u8>) -> Vec<u8> {
    ber(0x30, &[ber(0x02, &[id]), op].concat())
}

/// RFC 4511 §4.2: BindRequest, version 3, empty name, simple authentication with an empty
/// password (anonymous).
pub fn anonymous_bind(id: u8) -> Vec<u8> {
    let op = ber(
        0x60,
        &[ber(0x02, &[3]), ber(0x04, b""), ber(0x80, b"")].concat(),
    );
    message(id, op)
}

/// RFC 4511 §4.5.1: SearchRequest with filter `(objectClass=*)`.
pub fn search(id: u8, base: &str, scope: u8, size_limit: u8, attrs: &[&str]) -> Vec<u8> {
    let base = &base.as_bytes()[..base.len().min(1024)];
    let attrs: Vec<u8> = attrs.iter().flat_map(|a| ber(0x04, a.as_bytes())).collect();
    let op = ber(
        0x63,
        &[
            ber(0x04, base),
            ber(0x0a, &[scope]),
            ber(0x0a, &[0]),           // derefAliases: never
            ber(0x02, &[size_limit]),  // sizeLimit
            ber(0x02, &[10]),          // timeLimit, seconds
            ber(0x01, &[0]),           // typesOnly: false
            ber(0x87, b"objectClass"), // present filter
            ber(0x30, &attrs),
        ]
        .concat(),
    );
    message(id, op)
}

/// One BER element: tag, content, the bytes after it. Definite lengths of up to 4 bytes only.
pub fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for &c in b.get(2..2 + n)? {
            len = (len << 8) | c as usize;
        }
        (len, 2 + n)
    };
    let content = b.get(head..head.checked_add(len)?)?;
    Some((tag, content, &b[head + len..]))
}

fn integer(c: &[u8]) -> Option<u32> {
    if c.is_empty() || c.len() > 4 {
        return None;
    }
    Some(c.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)))
}

/// One LDAPMessage (RFC 4511 §4.1.1): message id, protocol op tag, op content; and the bytes
/// after it.
pub fn parse_message(b: &[u8]) -> Option<(u32, u8, &[u8], &[u8])> {
    let (tag, content, rest) = tlv(b)?;
    if tag != 0x30 {
        return None;
    }
    let (t, id, after) = tlv(content)?;
    if t != 0x02 {
        return None;
    }
    let (op, opc, _) = tlv(after)?;
    Some((integer(id)?, op, opc, rest))
}

/// The result code at the start of an LDAPResult (RFC 4511 §4.1.9).
pub fn result_code(op_content: &[u8]) -> Option<u32> {
    let (t, c, _) = tlv(op_content)?;
    (t == 0x0a).then(|| integer(c)).flatten()
}

/// An attribute: its name and values.
pub type Attribute = (String, Vec<String>);
/// An entry: its DN and attributes.
pub type Entry = (String, Vec<Attribute>);

/// A search's outcome: the entries (DN and attributes) and the done message's result code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResult {
    pub entries: Vec<Entry>,
    pub done: Option<u32>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(MAX_VALUE)])
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// SearchResultEntry content (RFC 4511 §4.5.2): objectName, then attributes.
fn parse_entry(c: &[u8]) -> Option<Entry> {
    let (t, dn, rest) = tlv(c)?;
    if t != 0x04 {
        return None;
    }
    let (t, mut attrs, _) = tlv(rest)?;
    if t != 0x30 {
        return None;
    }
    let mut out = Vec::new();
    while !attrs.is_empty() && out.len() < MAX_VALUES {
        let (t, attr, rest) = tlv(attrs)?;
        attrs = rest;
        if t != 0x30 {
            return None;
        }
        let (t, name, rest) = tlv(attr)?;
        let (s, mut vals, _) = tlv(rest)?;
        if t != 0x04 || s != 0x31 {
            return None;
        }
        let mut values = Vec::new();
        while !vals.is_empty() && values.len() < MAX_VALUES {
            let (t, v, rest) = tlv(vals)?;
            vals = rest;
            if t == 0x04 {
                values.push(text(v));
            }
        }
        out.push((text(name), values));
    }
    Some((text(dn), out))
}

/// The messages answering search `id` in `b`, up to its SearchResultDone.
pub fn parse_search(mut b: &[u8], id: u32) -> SearchResult {
    let mut r = SearchResult::default();
    while let Some((mid, op, c, rest)) = parse_message(b) {
        b = rest;
        if mid != id {
            continue;
        }
        match op {
            0x64 if r.entries.len() < MAX_VALUES => {
                if let Some(e) = parse_entry(c) {
                    r.entries.push(e);
                }
            }
            0x65 => {
                r.done = result_code(c);
                break;
            }
            _ => {}
        }
    }
    r
}

/// Whether `b` holds the final message for `id` (a BindResponse or a SearchResultDone).
fn finished(mut b: &[u8], id: u32, op_want: u8) -> bool {
    while let Some((mid, op, _, rest)) = parse_message(b) {
        if mid == id && op == op_want {
            return true;
        }
        b = rest;
    }
    false
}

/// The values of `attr` (case-insensitive) in the first entry.
fn values<'a>(r: &'a SearchResult, attr: &str) -> Vec<&'a str> {
    r.entries
        .first()
        .map(|(_, attrs)| {
            attrs
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(attr))
                .flat_map(|(_, v)| v.iter().map(String::as_str))
                .collect()
        })
        .unwrap_or_default()
}

async fn exchange(
    s: &mut tokio::net::TcpStream,
    req: &[u8],
    id: u32,
    op: u8,
    opts: &Options,
) -> Option<Vec<u8>> {
    s.write_all(req).await.ok()?;
    let (b, _) = read_reply(s, opts.probe_wait, opts.idle_gap, MAX_READ, |b| {
        finished(b, id, op)
    })
    .await;
    Some(b)
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Ok(mut s) = connect(addr, opts.connect_timeout).await else {
        return;
    };
    let Some(b) = exchange(&mut s, &anonymous_bind(1), 1, 0x61, opts).await else {
        return;
    };
    let bind = parse_message(&b).filter(|m| m.0 == 1 && m.1 == 0x61);
    let Some(code) = bind.and_then(|m| result_code(m.2)) else {
        return;
    };
    if code != 0 {
        r.notes
            .push(format!("LDAP: anonymous bind refused (resultCode {code})"));
        return;
    }
    let attrs = [
        "namingContexts",
        "defaultNamingContext",
        "supportedLDAPVersion",
        "vendorName",
        "vendorVersion",
    ];
    let Some(b) = exchange(&mut s, &search(2, "", 0, 0, &attrs), 2, 0x65, opts).await else {
        return;
    };
    let dse = parse_search(&b, 2);
    let mut contexts: Vec<String> = values(&dse, "namingContexts")
        .into_iter()
        .map(str::to_string)
        .collect();
    for d in values(&dse, "defaultNamingContext") {
        if !contexts.iter().any(|c| c.eq_ignore_ascii_case(d)) {
            contexts.push(d.to_string());
        }
    }
    describe(&dse, &contexts, r);
    let mut readable = Vec::new();
    for (i, nc) in contexts.iter().take(MAX_CONTEXTS).enumerate() {
        if nc.is_empty() {
            continue;
        }
        let id = 3 + i as u8;
        let Some(b) = exchange(
            &mut s,
            &search(id, nc, 1, SIZE_LIMIT, &["1.1"]),
            id.into(),
            0x65,
            opts,
        )
        .await
        else {
            break;
        };
        let res = parse_search(&b, id.into());
        if !res.entries.is_empty() {
            let dns: Vec<&str> = res.entries.iter().map(|e| e.0.as_str()).collect();
            readable.push(format!("{nc}: {}", dns.join("; ")));
        }
    }
    if !readable.is_empty() {
        let ev = format!(
            "anonymous bind -> success; one-level search -> entries under {}",
            readable.join(" | ")
        );
        r.findings.push(finding(
            "ldap-anonymous-read",
            Severity::High,
            "LDAP directory readable without credentials (anonymous bind and search return entries)",
            ev.as_bytes(),
        ));
    }
}

/// The root DSE into the report: vendor and version when no rule named them, naming contexts
/// and protocol versions as extra information.
fn describe(dse: &SearchResult, contexts: &[String], r: &mut ServiceReport) {
    let mut parts = Vec::new();
    if let Some(v) = values(dse, "vendorName").first() {
        if r.product.is_none() {
            r.product = Some((*v).to_string());
        } else {
            parts.push(format!("vendor {v}"));
        }
    }
    if let Some(v) = values(dse, "vendorVersion").first() {
        if r.version.is_none() && v.starts_with(|c: char| c.is_ascii_digit()) {
            r.version = Some((*v).to_string());
        } else {
            parts.push(format!("vendor version {v}"));
        }
    }
    let versions = values(dse, "supportedLDAPVersion");
    if !versions.is_empty() {
        parts.push(format!("LDAP versions {}", versions.join(",")));
    }
    if !contexts.is_empty() {
        let shown: Vec<&str> = contexts.iter().take(8).map(String::as_str).collect();
        parts.push(format!("naming contexts {}", shown.join(", ")));
    }
    if parts.is_empty() {
        return;
    }
    let s = format!("root DSE: {}", parts.join("; "));
    r.extrainfo = Some(match r.extrainfo.take() {
        Some(e) => format!("{e}; {s}"),
        None => s,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};

    fn result(id: u8, op: u8, code: u8) -> Vec<u8> {
        message(
            id,
            ber(
                op,
                &[ber(0x0a, &[code]), ber(0x04, b""), ber(0x04, b"")].concat(),
            ),
        )
    }

    fn entry(id: u8, dn: &str, attrs: &[(&str, &[&str])]) -> Vec<u8> {
        let a: Vec<u8> = attrs
            .iter()
            .flat_map(|(n, vs)| {
                let vals: Vec<u8> = vs.iter().flat_map(|v| ber(0x04, v.as_bytes())).collect();
                ber(0x30, &[ber(0x04, n.as_bytes()), ber(0x31, &vals)].concat())
            })
            .collect();
        message(
            id,
            ber(0x64, &[ber(0x04, dn.as_bytes()), ber(0x30, &a)].concat()),
        )
    }

    #[test]
    fn requests_are_ber() {
        assert_eq!(
            anonymous_bind(1),
            [0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00]
        );
        let s = search(2, "dc=example,dc=com", 1, 3, &["1.1"]);
        let (id, op, _, rest) = parse_message(&s).unwrap();
        assert_eq!((id, op), (2, 0x63));
        assert!(rest.is_empty());
        let long = search(2, &"x".repeat(300), 0, 0, &[]);
        assert_eq!(parse_message(&long).unwrap().1, 0x63);
    }

    #[test]
    fn entries_and_done_are_read() {
        let mut b = entry(
            2,
            "",
            &[
                ("namingContexts", &["dc=lab,dc=test"]),
                ("vendorName", &["Lab DS"]),
            ],
        );
        b.extend(result(2, 0x65, 0));
        let r = parse_search(&b, 2);
        assert_eq!(r.done, Some(0));
        assert_eq!(values(&r, "NAMINGCONTEXTS"), ["dc=lab,dc=test"]);
        for n in 0..b.len() {
            let _ = parse_search(&b[..n], 2);
        }
        assert_eq!(parse_search(&b, 3).entries.len(), 0, "another message id");
        assert_eq!(tlv(&[0x04, 0x80]), None, "indefinite length");
        assert_eq!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]), None, "length of 5 bytes");
    }

    /// A directory: anonymous bind answered `bind_code`; the root DSE names dc=lab,dc=test;
    /// a one-level search below it returns `children`.
    async fn directory(bind_code: u8, children: &'static [&'static str]) -> SocketAddr {
        fake(b"", move |req| {
            let (id, op, c, _) = parse_message(req)?;
            let id = id as u8;
            match op {
                0x60 => Some(result(id, 0x61, bind_code)),
                0x63 => {
                    let (_, base, _) = tlv(c)?;
                    let mut out = Vec::new();
                    if base.is_empty() {
                        out.extend(entry(
                            id,
                            "",
                            &[
                                ("namingContexts", &["dc=lab,dc=test"]),
                                ("supportedLDAPVersion", &["3"]),
                                ("vendorName", &["Lab Directory"]),
                                ("vendorVersion", &["2.6.3"]),
                            ],
                        ));
                    } else {
                        for ch in children {
                            out.extend(entry(id, ch, &[]));
                        }
                    }
                    out.extend(result(id, 0x65, 0));
                    Some(out)
                }
                _ => None,
            }
        })
        .await
    }

    #[tokio::test]
    async fn anonymous_search_that_returns_entries_is_flagged() {
        let addr = directory(0, &["ou=people,dc=lab,dc=test", "cn=admin,dc=lab,dc=test"]).await;
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert_eq!(r.product.as_deref(), Some("Lab Directory"));
        assert_eq!(r.version.as_deref(), Some("2.6.3"));
        assert!(
            r.extrainfo
                .as_deref()
                .unwrap()
                .contains("naming contexts dc=lab,dc=test"),
            "{r:?}"
        );
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "ldap-anonymous-read");
        assert!(
            r.findings[0].evidence.contains("ou=people,dc=lab,dc=test"),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn a_root_dse_alone_or_a_refused_bind_is_not_flagged() {
        let addr = directory(0, &[]).await;
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty(), "{r:?}");
        assert!(r.extrainfo.is_some());
        // resultCode 48: inappropriateAuthentication (anonymous bind disabled).
        let addr = directory(48, &["cn=x"]).await;
        let mut r = ServiceReport::new(addr, portolan_registry::Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty(), "{r:?}");
        assert!(r.notes[0].contains("refused (resultCode 48)"), "{r:?}");
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic_and_stay_bounded(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), id in 0u32..4) {
            let r = parse_search(&b, id);
            proptest::prop_assert!(r.entries.len() <= MAX_VALUES);
            let _ = finished(&b, id, 0x65);
        }
    }
}
