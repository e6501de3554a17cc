//! STARTTLS: for services that upgrade a clear-text connection to TLS (SMTP RFC 3207, IMAP
//! RFC 9051 §6.2.1, POP3 RFC 2595 `STLS`, FTP RFC 4217 `AUTH TLS`, PostgreSQL `SSLRequest`),
//! ask for the upgrade and record the TLS facts. Nothing is authenticated or sent inside.

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::engine::{connect, read_reply, Options};
use crate::report::TlsInfo;
use crate::tls::{self, Attempt};

/// Services this module knows how to upgrade.
pub fn supports(service: &str) -> bool {
    matches!(service, "smtp" | "imap" | "pop3" | "ftp" | "postgresql")
}

fn last_line(b: &[u8]) -> String {
    let t = String::from_utf8_lossy(b);
    t.trim_end().lines().last().unwrap_or("").to_string()
}

/// Whether a reply is complete: for SMTP/FTP the last line is `NNN text`.
fn coded_complete(b: &[u8]) -> bool {
    b.ends_with(b"\n") && {
        let l = last_line(b);
        l.len() >= 4 && l.as_bytes()[..3].iter().all(u8::is_ascii_digit) && l.as_bytes()[3] == b' '
    }
}

async fn say(
    s: &mut TcpStream,
    opts: &Options,
    line: &[u8],
    done: fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    if !line.is_empty() {
        s.write_all(line).await.ok()?;
    }
    let (b, _) = read_reply(s, opts.probe_wait, opts.idle_gap, 16 * 1024, done).await;
    (!b.is_empty()).then_some(b)
}

/// Ask `service` at `addr` to start TLS; `None` if it does not offer it, `Some` with what the
/// handshake showed (`error` set if it failed) if it does.
pub async fn probe(
    addr: SocketAddr,
    service: &str,
    sni: Option<&str>,
    opts: &Options,
) -> Option<TlsInfo> {
    let mut s = connect(addr, opts.connect_timeout).await.ok()?;
    let ready = match service {
        "smtp" => {
            let greet = say(&mut s, opts, b"", coded_complete).await?;
            if !greet.starts_with(b"220") {
                return None;
            }
            let ehlo = say(&mut s, opts, b"EHLO portolan.invalid\r\n", coded_complete).await?;
            let offers = String::from_utf8_lossy(&ehlo)
                .to_ascii_uppercase()
                .contains("STARTTLS");
            offers
                && say(&mut s, opts, b"STARTTLS\r\n", coded_complete)
                    .await?
                    .starts_with(b"220")
        }
        "imap" => {
            let greet = say(&mut s, opts, b"", |b| b.ends_with(b"\n")).await?;
            let mut caps = String::from_utf8_lossy(&greet).to_ascii_uppercase();
            if !caps.contains("STARTTLS") {
                let c = say(&mut s, opts, b"a1 CAPABILITY\r\n", |b| {
                    b.windows(6).any(|w| w.eq_ignore_ascii_case(b"\na1 OK"))
                        || b.starts_with(b"a1 ")
                })
                .await?;
                caps = String::from_utf8_lossy(&c).to_ascii_uppercase();
            }
            caps.contains("STARTTLS")
                && say(&mut s, opts, b"a2 STARTTLS\r\n", |b| b.ends_with(b"\n"))
                    .await?
                    .starts_with(b"a2 OK")
        }
        "pop3" => {
            let greet = say(&mut s, opts, b"", |b| b.ends_with(b"\n")).await?;
            if !greet.starts_with(b"+OK") {
                return None;
            }
            let capa = say(&mut s, opts, b"CAPA\r\n", |b| {
                b.ends_with(b"\n.\r\n") || b.starts_with(b"-ERR")
            })
            .await?;
            let offers = String::from_utf8_lossy(&capa)
                .to_ascii_uppercase()
                .contains("\nSTLS");
            offers
                && say(&mut s, opts, b"STLS\r\n", |b| b.ends_with(b"\n"))
                    .await?
                    .starts_with(b"+OK")
        }
        "ftp" => {
            let greet = say(&mut s, opts, b"", coded_complete).await?;
            if !greet.starts_with(b"220") {
                return None;
            }
            say(&mut s, opts, b"AUTH TLS\r\n", coded_complete)
                .await?
                .starts_with(b"234")
        }
        "postgresql" => {
            // SSLRequest: length 8, code 80877103.
            s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
                .await
                .ok()?;
            let (b, _) =
                read_reply(&mut s, opts.probe_wait, opts.idle_gap, 1, |b| !b.is_empty()).await;
            b == b"S"
        }
        _ => false,
    };
    if !ready {
        return None;
    }
    let mut info = match tls::attempt(s, addr, sni, opts.probe_wait).await {
        Attempt::Tls(_, info) | Attempt::TlsFailed(info) => info,
        Attempt::NotTls(_) => TlsInfo {
            error: Some("the server agreed to STARTTLS but did not speak TLS".into()),
            ..TlsInfo::default()
        },
    };
    info.starttls = true;
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    fn opts() -> Options {
        let mut o = Options::new().unwrap();
        o.probe_wait = std::time::Duration::from_millis(800);
        o.idle_gap = std::time::Duration::from_millis(100);
        o
    }

    /// A fake SMTP server: greets, answers EHLO (offering STARTTLS if `offer`), then performs
    /// a real TLS handshake after STARTTLS.
    async fn smtp(offer: bool) -> SocketAddr {
        let acceptor = crate::tls::test_acceptor("mail.lab.test");
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = s.write_all(b"220 mail.lab.test ESMTP Exim 4.96\r\n").await;
                    let mut b = [0u8; 512];
                    loop {
                        let n = s.read(&mut b).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        if b[..n].starts_with(b"EHLO") {
                            let caps: &[u8] = if offer {
                                b"250-mail.lab.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
                            } else {
                                b"250-mail.lab.test\r\n250 PIPELINING\r\n"
                            };
                            let _ = s.write_all(caps).await;
                        } else if b[..n].starts_with(b"STARTTLS") {
                            let _ = s.write_all(b"220 TLS go ahead\r\n").await;
                            let _ = acceptor.accept(s).await;
                            return;
                        } else {
                            let _ = s.write_all(b"500 no\r\n").await;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn smtp_starttls_is_followed_and_the_certificate_read() {
        let addr = smtp(true).await;
        let info = probe(addr, "smtp", None, &opts()).await.unwrap();
        assert!(info.starttls);
        assert_eq!(info.protocol.as_deref(), Some("TLSv1.3"));
        assert_eq!(info.cert.unwrap().sans, vec!["DNS:mail.lab.test"]);
    }

    #[tokio::test]
    async fn smtp_without_starttls_gives_nothing() {
        let addr = smtp(false).await;
        assert!(probe(addr, "smtp", None, &opts()).await.is_none());
        assert!(!supports("http"));
    }

    #[test]
    fn coded_replies() {
        assert!(coded_complete(b"250-a\r\n250 b\r\n"));
        assert!(!coded_complete(b"250-a\r\n"));
    }
}
