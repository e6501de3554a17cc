//! SSH (RFC 4253): the identification string and the server's first KEXINIT, read from
//! untrusted bytes with every length checked.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::report::SshInfo;

/// Largest SSH packet accepted (RFC 4253 §6.1 requires 35000 to be handled).
const MAX_PACKET: usize = 35_000;

/// Parse `SSH-protoversion-softwareversion SP comments` (the line, CR LF optional).
pub fn parse_ident(line: &[u8]) -> Option<SshInfo> {
    let line = String::from_utf8_lossy(line);
    let line = line.lines().find(|l| l.starts_with("SSH-"))?;
    let rest = line.strip_prefix("SSH-")?;
    let (proto, rest) = rest.split_once('-')?;
    let (software, comments) = match rest.split_once(' ') {
        Some((s, c)) => (s, Some(c.trim().to_string())),
        None => (rest, None),
    };
    Some(SshInfo {
        protocol: proto.chars().take(16).collect(),
        software: software.trim_end().chars().take(128).collect(),
        comments: comments
            .filter(|c| !c.is_empty())
            .map(|c| c.chars().take(128).collect()),
        ..SshInfo::default()
    })
}

/// Name-lists of a KEXINIT: kex, host key, ciphers (server to client), MACs (server to client).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KexInit {
    pub kex: Vec<String>,
    pub host_key: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// Parse one binary packet holding SSH_MSG_KEXINIT. `b` starts at the packet length.
pub fn parse_kexinit(b: &[u8]) -> Option<KexInit> {
    let len = u32_at(b, 0)?;
    if !(5..=MAX_PACKET).contains(&len) {
        return None;
    }
    let packet = b.get(4..4 + len)?;
    let pad = *packet.first()? as usize;
    let payload = packet.get(1..len.checked_sub(pad)?)?;
    if *payload.first()? != 20 {
        return None;
    }
    let mut at = 17; // message code + 16-byte cookie
    let mut lists = Vec::new();
    for _ in 0..6 {
        let n = u32_at(payload, at)?;
        let s = payload.get(at + 4..at.checked_add(4)?.checked_add(n)?)?;
        at += 4 + n;
        let names: Vec<String> = String::from_utf8_lossy(s)
            .split(',')
            .filter(|x| !x.is_empty())
            .take(64)
            .map(|x| x.chars().take(64).collect())
            .collect();
        lists.push(names);
    }
    let mut it = lists.into_iter();
    let kex = it.next()?;
    let host_key = it.next()?;
    let _c2s = it.next()?;
    let ciphers = it.next()?;
    let _mac_c2s = it.next()?;
    let macs = it.next()?;
    Some(KexInit {
        kex,
        host_key,
        ciphers,
        macs,
    })
}

/// Connect, read the identification, send ours, read the server's KEXINIT.
pub async fn fetch(addr: SocketAddr, wait: Duration) -> Option<SshInfo> {
    tokio::time::timeout(wait, async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        // Identification line (other lines may precede it, RFC 4253 §4.2).
        let ident_end = loop {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(start) = find_ident(&buf) {
                if let Some(nl) = buf[start..].iter().position(|&c| c == b'\n') {
                    break start + nl + 1;
                }
            }
            if buf.len() > 8192 {
                return None;
            }
        };
        let mut info = parse_ident(&buf[..ident_end])?;
        s.write_all(b"SSH-2.0-portolan\r\n").await.ok()?;
        let mut rest = buf[ident_end..].to_vec();
        loop {
            if let Some(len) = u32_at(&rest, 0) {
                if len > MAX_PACKET {
                    break;
                }
                if rest.len() >= len + 4 {
                    break;
                }
            }
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        if let Some(k) = parse_kexinit(&rest) {
            info.kex = k.kex;
            info.host_key = k.host_key;
            info.ciphers = k.ciphers;
            info.macs = k.macs;
        }
        Some(info)
    })
    .await
    .ok()
    .flatten()
}

fn find_ident(b: &[u8]) -> Option<usize> {
    if b.starts_with(b"SSH-") {
        return Some(0);
    }
    b.windows(5).position(|w| w == b"\nSSH-").map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kexinit(lists: &[&str]) -> Vec<u8> {
        let mut payload = vec![20u8];
        payload.extend_from_slice(&[7u8; 16]);
        for l in lists {
            payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
            payload.extend_from_slice(l.as_bytes());
        }
        payload.extend_from_slice(&[0, 0, 0, 0, 0]);
        let pad = 4u8;
        let len = 1 + payload.len() + pad as usize;
        let mut p = (len as u32).to_be_bytes().to_vec();
        p.push(pad);
        p.extend_from_slice(&payload);
        p.extend_from_slice(&[0; 4]);
        p
    }

    #[test]
    fn identification() {
        let i = parse_ident(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n").unwrap();
        assert_eq!(i.protocol, "2.0");
        assert_eq!(i.software, "OpenSSH_9.2p1");
        assert_eq!(i.comments.as_deref(), Some("Debian-2+deb12u3"));
        assert!(parse_ident(b"HTTP/1.1 200").is_none());
    }

    #[test]
    fn kexinit_lists() {
        let p = kexinit(&[
            "curve25519-sha256,ecdh-sha2-nistp256",
            "ssh-ed25519",
            "aes128-ctr",
            "aes256-gcm@openssh.com,aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-512",
            "none",
            "none",
            "",
            "",
        ]);
        let k = parse_kexinit(&p).unwrap();
        assert_eq!(k.kex, vec!["curve25519-sha256", "ecdh-sha2-nistp256"]);
        assert_eq!(k.host_key, vec!["ssh-ed25519"]);
        assert_eq!(k.ciphers, vec!["aes256-gcm@openssh.com", "aes128-ctr"]);
        assert_eq!(k.macs, vec!["hmac-sha2-512"]);
        assert!(parse_kexinit(&p[..p.len() - 10]).is_none());
    }

    proptest! {
        #[test]
        fn hostile_packets_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_kexinit(&b);
            let _ = parse_ident(&b);
        }

        #[test]
        fn truncations_never_panic(cut in 0usize..200) {
            let p = kexinit(&["a,b", "c", "d", "e", "f", "g", "", "", "", ""]);
            let _ = parse_kexinit(&p[..cut.min(p.len())]);
        }
    }
}
