//! rsync daemon: list the modules (`@RSYNCD` greeting, then an empty module name), then ask for
//! each listed module (at most [`MAX_MODULES`]) without credentials. A module the daemon opens
//! (`@RSYNCD: OK`) is readable by anyone; one that answers `@RSYNCD: AUTHREQD` is not. The
//! connection is closed right after the answer: no file list is asked for, nothing transferred.

use std::net::SocketAddr;

use crate::checks::{ask, finding};
use crate::engine::Options;
use crate::report::{ServiceReport, Severity};

/// Modules tried, at most.
pub const MAX_MODULES: usize = 8;

const HELLO: &str = "@RSYNCD: 31.0\n";

/// Module names from a listing (`name<TAB or spaces>comment` lines up to `@RSYNCD: EXIT`).
pub fn modules(listing: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(listing)
        .lines()
        .filter(|l| !l.starts_with("@RSYNCD:") && !l.starts_with("@ERROR"))
        .filter_map(|l| l.split(['\t', ' ']).next())
        .map(str::trim)
        .filter(|m| {
            !m.is_empty()
                && m.len() <= 64
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
        })
        .take(MAX_MODULES)
        .map(str::to_string)
        .collect()
}

/// Whether the daemon's answer to a module request opens it without credentials.
pub fn opened(answer: &[u8]) -> bool {
    String::from_utf8_lossy(answer)
        .lines()
        .any(|l| l.trim_end() == "@RSYNCD: OK")
}

fn answered(b: &[u8]) -> bool {
    let t = String::from_utf8_lossy(b);
    t.contains("@RSYNCD: OK")
        || t.contains("AUTHREQD")
        || t.contains("@ERROR")
        || t.contains("@RSYNCD: EXIT")
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Some(listing) = ask(addr, opts, format!("{HELLO}\n").as_bytes(), |b| {
        let t = String::from_utf8_lossy(b);
        t.contains("@RSYNCD: EXIT") || t.contains("@ERROR")
    })
    .await
    else {
        return;
    };
    // The greeting is the first line; the listing follows.
    let body = listing
        .iter()
        .position(|&c| c == b'\n')
        .map_or(&[][..], |i| &listing[i + 1..]);
    let mut open = Vec::new();
    for m in modules(body) {
        let req = format!("{HELLO}{m}\n");
        if let Some(a) = ask(addr, opts, req.as_bytes(), answered).await {
            if opened(&a) {
                open.push(m);
            }
        }
    }
    if !open.is_empty() {
        let ev = format!("modules readable without credentials: {}", open.join(", "));
        r.findings.push(finding(
            "rsync-no-auth",
            Severity::High,
            "rsync daemon serves modules without authentication",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    /// A fake rsync daemon: `pub` is open, `private` asks for credentials.
    fn daemon(req: &[u8]) -> Option<Vec<u8>> {
        let t = String::from_utf8_lossy(req);
        let module = t.lines().nth(1).unwrap_or("");
        Some(match module {
            "" => b"pub\tpublic files\nprivate\tprivate files\n@RSYNCD: EXIT\n".to_vec(),
            "pub" => b"@RSYNCD: OK\n".to_vec(),
            "private" => b"@RSYNCD: AUTHREQD abcdef\n".to_vec(),
            _ => b"@ERROR: Unknown module\n".to_vec(),
        })
    }

    #[tokio::test]
    async fn open_module_is_flagged_with_its_name() {
        let addr = fake(b"@RSYNCD: 31.0 sha512 sha256\n", daemon).await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        assert_eq!(r.findings[0].id, "rsync-no-auth");
        assert!(r.findings[0].evidence.contains("pub"));
        assert!(!r.findings[0].evidence.contains("private"));
    }

    #[tokio::test]
    async fn modules_behind_a_password_are_not_flagged() {
        let addr = fake(b"@RSYNCD: 31.0\n", |req| {
            let t = String::from_utf8_lossy(req);
            Some(match t.lines().nth(1).unwrap_or("") {
                "" => b"private\tprivate files\n@RSYNCD: EXIT\n".to_vec(),
                _ => b"@RSYNCD: AUTHREQD abcdef\n".to_vec(),
            })
        })
        .await;
        let mut r = ServiceReport::new(addr, Protocol::Tcp);
        check(addr, &opts(), &mut r).await;
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[test]
    fn listing_parsing_ignores_junk() {
        assert_eq!(
            modules(b"pub\tx\nother  y\n@RSYNCD: EXIT\n"),
            vec!["pub", "other"]
        );
        assert!(modules(b"\x1b[2J\tx\n../etc\n").is_empty());
        assert!(!opened(b"@RSYNCD: AUTHREQD x\n"));
        assert!(opened(b"@RSYNCD: OK\n"));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let m = modules(&b);
            proptest::prop_assert!(m.len() <= MAX_MODULES);
            let _ = opened(&b);
        }
    }
}
