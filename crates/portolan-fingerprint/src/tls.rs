//! TLS detection with rustls: a handshake that accepts any certificate (we record what it is,
//! we do not trust it), and a reader for the leaf certificate (x509-parser).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use x509_parser::prelude::*;

use crate::report::{CertInfo, TlsInfo};

/// How many bytes of a failed handshake's reply are kept for matching.
const RECORD_CAP: usize = 16 * 1024;

/// A certificate verifier that accepts everything: detection must see self-signed and expired
/// certificates to report them.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connector that accepts any certificate, offering TLS 1.3 and 1.2.
pub fn connector() -> Result<TlsConnector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A TCP stream that keeps a copy of the first bytes read, so a failed handshake's reply (an
/// HTTP 400, an SSH banner) can still be matched.
#[derive(Debug)]
pub struct Recorder {
    inner: TcpStream,
    pub seen: Vec<u8>,
    recording: bool,
}

impl AsyncRead for Recorder {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.recording {
            let room = RECORD_CAP.saturating_sub(self.seen.len());
            let new = &buf.filled()[before..];
            let take = new.len().min(room);
            let copy = new[..take].to_vec();
            self.seen.extend_from_slice(&copy);
        }
        r
    }
}

impl AsyncWrite for Recorder {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The outcome of a TLS attempt.
pub enum Attempt {
    /// The handshake completed.
    Tls(Box<TlsStream<Recorder>>, TlsInfo),
    /// The server answered, but not with TLS: these bytes (may be empty).
    NotTls(Vec<u8>),
    /// The server speaks TLS but the handshake failed (e.g. it only offers TLS 1.0).
    TlsFailed(TlsInfo),
}

/// Whether bytes look like a TLS record (handshake or alert, SSL 3.0 - TLS 1.3 framing).
pub fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && matches!(b[0], 0x15 | 0x16) && b[1] == 0x03 && b[2] <= 0x04
}

/// Attempt a handshake over `tcp`.
pub async fn attempt(
    tcp: TcpStream,
    addr: SocketAddr,
    sni: Option<&str>,
    wait: Duration,
) -> Attempt {
    let connector = match connector() {
        Ok(c) => c,
        Err(e) => {
            return Attempt::TlsFailed(TlsInfo {
                error: Some(format!("cannot build a TLS client: {e}")),
                ..TlsInfo::default()
            })
        }
    };
    let name = sni
        .and_then(|s| ServerName::try_from(s.to_string()).ok())
        .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()));
    let rec = Recorder {
        inner: tcp,
        seen: Vec::new(),
        recording: true,
    };
    let mut seen = Vec::new();
    // The fallible form hands the stream back on failure, with the bytes it recorded.
    let fut = connector.connect_with(name, rec, |_| {});
    match tokio::time::timeout(wait, fut.into_fallible()).await {
        Ok(Ok(mut stream)) => {
            stream.get_mut().0.recording = false;
            let info = info_of(stream.get_ref().1);
            Attempt::Tls(Box::new(stream), info)
        }
        Ok(Err((err, rec))) => {
            seen.extend_from_slice(&rec.seen);
            if looks_like_tls(&seen) {
                Attempt::TlsFailed(TlsInfo {
                    error: Some(format!("TLS handshake failed: {err}")),
                    ..TlsInfo::default()
                })
            } else {
                Attempt::NotTls(seen)
            }
        }
        Err(_) => Attempt::NotTls(seen),
    }
}

fn info_of(conn: &rustls::ClientConnection) -> TlsInfo {
    let protocol = conn.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        other => format!("{other:?}"),
    });
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|der| parse_cert(der.as_ref(), now_unix()));
    TlsInfo {
        protocol,
        cipher,
        alpn,
        cert,
        error: None,
        starttls: false,
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn oid_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// Read a DER certificate; `now` (Unix seconds) decides `expired` and `days_left`.
pub fn parse_cert(der: &[u8], now: i64) -> Option<CertInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(s) => sans.push(format!("DNS:{s}")),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .ok()
                            .map(|a| std::net::IpAddr::from(a).to_string()),
                        16 => <[u8; 16]>::try_from(*b)
                            .ok()
                            .map(|a| std::net::IpAddr::from(a).to_string()),
                        _ => None,
                    };
                    sans.push(format!("IP:{}", ip.unwrap_or_else(|| "?".into())));
                }
                GeneralName::RFC822Name(s) => sans.push(format!("email:{s}")),
                GeneralName::URI(s) => sans.push(format!("URI:{s}")),
                _ => {}
            }
        }
    }
    let nb = cert.validity().not_before.timestamp();
    let na = cert.validity().not_after.timestamp();
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        serial: cert.raw_serial_as_string(),
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        expired: na < now,
        days_left: (na - now).div_euclid(86_400),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        key_algorithm: oid_name(&cert.public_key().algorithm.algorithm),
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
    })
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC); a time outside years
/// -9999..=9999 (no certificate has one) as `@SECONDS`.
pub fn rfc3339(t: i64) -> String {
    match ::time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        ),
        Err(_) => format!("@{t}"),
    }
}

/// A TLS acceptor with a fresh self-signed certificate for `name`, for the test servers.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_acceptor(name: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-86_400), "1969-12-31T00:00:00Z");
    }

    #[test]
    fn reads_a_self_signed_certificate() {
        let ck = rcgen::generate_simple_self_signed(vec!["lab.example".into(), "127.0.0.1".into()])
            .unwrap();
        let info = parse_cert(ck.cert.der(), 0).unwrap();
        assert!(info.self_signed);
        assert!(
            info.sans.contains(&"DNS:lab.example".to_string()),
            "{:?}",
            info.sans
        );
        assert!(
            info.sans.contains(&"IP:127.0.0.1".to_string()),
            "{:?}",
            info.sans
        );
        assert!(!info.expired);
        let later = parse_cert(ck.cert.der(), 10_000_000_000_000).unwrap();
        assert!(later.expired);
        assert!(later.days_left < 0);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(parse_cert(b"\x30\x03\x02\x01", 0).is_none());
        assert!(parse_cert(&[], 0).is_none());
    }

    #[test]
    fn tls_records_are_recognised() {
        assert!(looks_like_tls(b"\x16\x03\x03\x00\x10"));
        assert!(looks_like_tls(b"\x15\x03\x01\x00\x02"));
        assert!(!looks_like_tls(b"HTTP/1.1 400"));
        assert!(!looks_like_tls(b"\x16"));
    }
}
