//! git daemon (`git://`): the protocol has no authentication at all (gitprotocol-pack, "Git
//! Transport": the request names only a service, a path and a host). A daemon that answers a
//! `git-upload-pack` request serves every repository it exports to anyone who asks.
//!
//! The check asks for the root repository (`/`), as `git ls-remote git://host/` would: a ref
//! advertisement (pkt-lines `<40 hex> <ref>`) is proof of anonymous read and names the refs;
//! `ERR access denied or repository not exported` (git's daemon.c says the same for an absent
//! and for an unexported path) proves only that the daemon answers. Either way the daemon was
//! identified by its own answer to an upload-pack request, and is flagged `git-daemon-no-auth`;
//! a name guessed from the port table never is. The connection is closed after the
//! advertisement: nothing is fetched.

use std::net::SocketAddr;

use crate::checks::{ask, finding};
use crate::engine::Options;
use crate::report::{Confidence, ServiceReport, Severity};

/// Refs read from an advertisement, at most.
pub const MAX_REFS: usize = 64;

/// The request line for `path` on `host` (gitprotocol-pack: `git-proto-request`).
pub fn request(path: &str, host: &str) -> Vec<u8> {
    let body = format!("git-upload-pack {path}\0host={host}\0");
    let mut v = format!("{:04x}", body.len() + 4).into_bytes();
    v.extend(body.into_bytes());
    v
}

/// What a daemon answered to an upload-pack request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The ref names advertised (an empty repository advertises `capabilities^{}` only).
    Refs(Vec<String>),
    /// An `ERR` pkt-line with its message.
    Err(String),
}

/// Read the pkt-lines of an answer (gitprotocol-common: 4 hex digits of length including
/// themselves, `0000` a flush), up to the flush or [`MAX_REFS`] lines.
pub fn parse(b: &[u8]) -> Option<Answer> {
    let mut refs = Vec::new();
    let mut rest = b;
    while refs.len() < MAX_REFS {
        let len = usize::from_str_radix(std::str::from_utf8(rest.get(..4)?).ok()?, 16).ok()?;
        if len == 0 {
            break;
        }
        let line = rest.get(4..len)?;
        rest = &rest[len..];
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if let Some(msg) = line.strip_prefix(b"ERR ") {
            let msg = crate::report::capped_text(msg, 120);
            return Some(Answer::Err(msg.trim().to_string()));
        }
        // `<40 hex> SP <refname> [NUL capabilities]` (SHA-1; 64 hex under SHA-256).
        let text = line.split(|&c| c == 0).next().unwrap_or(line);
        let (oid, name) = text.split_at(text.iter().position(|&c| c == b' ')?);
        if !(oid.len() == 40 || oid.len() == 64) || !oid.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let name = String::from_utf8_lossy(&name[1..]);
        if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return None;
        }
        if name != "capabilities^{}" {
            refs.push(name.into_owned());
        }
    }
    Some(Answer::Refs(refs))
}

/// Whether a reply holds a complete answer (a flush or an `ERR` line).
fn complete(b: &[u8]) -> bool {
    b.windows(4).any(|w| w == b"0000") || b.get(4..8) == Some(b"ERR ")
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    if r.confidence != Confidence::Matched && r.confidence != Confidence::Soft {
        return;
    }
    let req = request("/", &addr.ip().to_string());
    let answer = ask(addr, opts, &req, complete)
        .await
        .and_then(|b| parse(&b));
    let evidence = match answer {
        Some(Answer::Refs(refs)) => {
            let shown: Vec<&str> = refs.iter().take(6).map(String::as_str).collect();
            format!(
                "git-upload-pack / -> ref advertisement without credentials ({} refs{}{})",
                refs.len(),
                if shown.is_empty() { "" } else { ": " },
                shown.join(", ")
            )
        }
        Some(Answer::Err(msg)) => format!(
            "git-upload-pack / -> ERR {msg} (the daemon answers anyone; no repository at the root)"
        ),
        // The daemon answered the identification probe; the second request went unanswered.
        None => "git-upload-pack request answered without credentials".to_string(),
    };
    r.findings.push(finding(
        "git-daemon-no-auth",
        Severity::Medium,
        "git daemon serves repositories over git:// (no authentication: anyone can clone every repository it exports)",
        evidence.as_bytes(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};

    fn pkt(s: &[u8]) -> Vec<u8> {
        let mut v = format!("{:04x}", s.len() + 4).into_bytes();
        v.extend_from_slice(s);
        v
    }

    #[test]
    fn request_is_a_pkt_line() {
        let r = request("/", "127.0.0.1");
        assert_eq!(&r[..4], b"0025");
        assert_eq!(r.len(), 0x25);
        assert!(r.ends_with(b"host=127.0.0.1\0"));
    }

    #[test]
    fn advertisements_and_errors_are_read() {
        let oid = "a".repeat(40);
        let mut b = pkt(format!("{oid} HEAD\0multi_ack side-band-64k\n").as_bytes());
        b.extend(pkt(format!("{oid} refs/heads/main\n").as_bytes()));
        b.extend(b"0000");
        assert_eq!(
            parse(&b),
            Some(Answer::Refs(vec!["HEAD".into(), "refs/heads/main".into()]))
        );
        let empty = [
            pkt(format!("{} capabilities^{{}}\0agent=git/2.39\n", "0".repeat(40)).as_bytes()),
            b"0000".to_vec(),
        ]
        .concat();
        assert_eq!(parse(&empty), Some(Answer::Refs(vec![])));
        let err = pkt(b"ERR access denied or repository not exported: /");
        assert_eq!(
            parse(&err),
            Some(Answer::Err(
                "access denied or repository not exported: /".into()
            ))
        );
        assert_eq!(parse(b"SSH-2.0-x\r\n"), None);
        assert_eq!(parse(&pkt(b"zz HEAD")), None);
        for n in 0..b.len() {
            let _ = parse(&b[..n]);
        }
    }

    #[tokio::test]
    async fn a_daemon_identified_by_its_answer_is_flagged_with_its_refs() {
        let oid = "b".repeat(40);
        let adv = [
            pkt(format!("{oid} HEAD\0agent=git/2.39\n").as_bytes()),
            b"0000".to_vec(),
        ]
        .concat();
        let addr = fake(b"", move |req| {
            if req.windows(16).any(|w| w == b"git-upload-pack ") {
                if req.windows(3).any(|w| w == b" /\0") {
                    Some(adv.clone())
                } else {
                    Some(pkt(
                        b"ERR access denied or repository not exported: /portolan",
                    ))
                }
            } else {
                None
            }
        })
        .await;
        let mut o = opts();
        o.intensity = 9;
        let r = crate::engine::detect(addr, &o).await;
        assert_eq!(r.name.as_deref(), Some("git"), "{r:?}");
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].id, "git-daemon-no-auth");
        assert!(r.findings[0].evidence.contains("1 refs: HEAD"), "{r:?}");
    }

    #[tokio::test]
    async fn a_port_table_guess_is_not_flagged() {
        let mut r = ServiceReport::new(
            "127.0.0.1:9".parse().unwrap(),
            portolan_registry::Protocol::Tcp,
        );
        r.name = Some("git".into());
        r.confidence = Confidence::PortTable;
        check(r.addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_stays_bounded(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            if let Some(Answer::Refs(refs)) = parse(&b) {
                proptest::prop_assert!(refs.len() <= MAX_REFS);
            }
        }
    }
}
