//! VNC (RFB): read the server's version, answer with the same protocol family, and read the
//! security types it offers. Type 1 ("None") means anyone who connects sees and drives the
//! desktop. The check stops there: no type is chosen, no ClientInit sent.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;

use crate::checks::finding;
use crate::engine::{connect, read_reply, Options};
use crate::report::{ServiceReport, Severity};

/// RFB security type "None".
const NONE: u8 = 1;

/// The RFB version in a greeting (`RFB 003.008\n` → (3, 8)).
pub fn version(greeting: &[u8]) -> Option<(u16, u16)> {
    let g = greeting.get(..12)?;
    if &g[..4] != b"RFB " || g[7] != b'.' || g[11] != b'\n' {
        return None;
    }
    let num = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<u16>().ok();
    Some((num(&g[4..7])?, num(&g[8..11])?))
}

/// The security types offered, from the server's answer to our version: RFB 3.7+ sends a count
/// and the types (count 0: a failure reason follows); RFB 3.3 sends one 32-bit type.
pub fn offered(minor_3_7_or_later: bool, b: &[u8]) -> Option<Vec<u8>> {
    if minor_3_7_or_later {
        let n = *b.first()? as usize;
        b.get(1..1 + n).map(<[u8]>::to_vec)
    } else {
        let t = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
        Some(vec![u8::try_from(t).unwrap_or(0)])
    }
}

pub async fn check(addr: SocketAddr, opts: &Options, r: &mut ServiceReport) {
    let Ok(mut s) = connect(addr, opts.connect_timeout).await else {
        return;
    };
    let (g, _) = read_reply(&mut s, opts.probe_wait, opts.idle_gap, 64, |b| {
        b.len() >= 12
    })
    .await;
    let Some((major, minor)) = version(&g) else {
        return;
    };
    let modern = major > 3 || (major == 3 && minor >= 7);
    let reply: &[u8] = if modern {
        b"RFB 003.008\n"
    } else {
        b"RFB 003.003\n"
    };
    if s.write_all(reply).await.is_err() {
        return;
    }
    let (b, _) = read_reply(&mut s, opts.probe_wait, opts.idle_gap, 512, |b| {
        if modern {
            b.first().is_some_and(|&n| b.len() > n as usize)
        } else {
            b.len() >= 4
        }
    })
    .await;
    let Some(types) = offered(modern, &b) else {
        return;
    };
    if types.is_empty() {
        // RFB 3.7+: no type offered, a failure reason follows (e.g. "Too many security
        // failures" after the service probes).
        let reason = crate::report::capped_text(b.get(5..).unwrap_or(&[]), 120);
        r.notes.push(format!(
            "VNC check: the server offered no security type ({})",
            reason.trim()
        ));
        return;
    }
    if types.contains(&NONE) {
        let ev =
            format!("RFB {major}.{minor} offers security types {types:?} (1 = None: no password)");
        r.findings.push(finding(
            "vnc-no-auth",
            Severity::Critical,
            "VNC server lets anyone view and control the desktop (security type None)",
            ev.as_bytes(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testutil::{fake, opts};
    use portolan_registry::Protocol;

    #[tokio::test]
    async fn security_type_none_is_flagged_and_vnc_auth_is_not() {
        let open = fake(b"RFB 003.008\n", |_| Some(vec![1, 1])).await;
        let mut r = ServiceReport::new(open, Protocol::Tcp);
        check(open, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].id, "vnc-no-auth");

        let auth = fake(b"RFB 003.008\n", |_| Some(vec![2, 2, 19])).await;
        let mut r = ServiceReport::new(auth, Protocol::Tcp);
        check(auth, &opts(), &mut r).await;
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }

    #[tokio::test]
    async fn rfb_3_3_server_chooses_the_type() {
        let open = fake(b"RFB 003.003\n", |_| Some(vec![0, 0, 0, 1])).await;
        let mut r = ServiceReport::new(open, Protocol::Tcp);
        check(open, &opts(), &mut r).await;
        assert_eq!(r.findings.len(), 1);
        let auth = fake(b"RFB 003.003\n", |_| Some(vec![0, 0, 0, 2])).await;
        let mut r = ServiceReport::new(auth, Protocol::Tcp);
        check(auth, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }

    #[tokio::test]
    async fn not_vnc_is_left_alone() {
        let other = fake(b"SSH-2.0-OpenSSH_9.2\r\n", |_| Some(vec![1, 1])).await;
        let mut r = ServiceReport::new(other, Protocol::Tcp);
        check(other, &opts(), &mut r).await;
        assert!(r.findings.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64), m: bool) {
            let _ = version(&b);
            let _ = offered(m, &b);
        }
    }
}
