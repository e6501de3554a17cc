//! What detection found about one port: [`ServiceReport`] and its parts. All serialisable;
//! the JSON form is documented in `docs/schema/service.md`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use portolan_registry::Protocol;

/// Longest banner kept, in bytes (the rest is dropped).
pub const BANNER_CAP: usize = 512;

/// How sure the name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// A hard match rule or a protocol exchange identified it.
    Matched,
    /// A soft rule named the service, no rule gave the product.
    Soft,
    /// Nothing matched; the name is the IANA registration of the port.
    PortTable,
    /// Nothing known.
    Unknown,
}

/// Severity of an exposure finding: Portolan's one severity type (info … critical).
pub use portolan_registry::risk::Severity;

/// A security fact proved by a harmless request (no write, no guess of a password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposureFinding {
    /// Stable identifier, e.g. `redis-no-auth`.
    pub id: String,
    pub severity: Severity,
    pub title: String,
    /// What the server answered that proves it (escaped at print time, length-capped).
    pub evidence: String,
}

/// TLS facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub protocol: Option<String>,
    pub cipher: Option<String>,
    pub alpn: Option<String>,
    pub cert: Option<CertInfo>,
    /// Set when the server speaks TLS but the handshake failed (e.g. only TLS 1.0 offered).
    pub error: Option<String>,
    /// TLS was reached by upgrading a clear-text connection (SMTP/IMAP/POP3 STARTTLS, FTP
    /// AUTH TLS, PostgreSQL SSLRequest), not by a TLS-wrapped port.
    #[serde(default)]
    pub starttls: bool,
}

/// The server's leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub serial: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub expired: bool,
    pub days_left: i64,
    /// Issuer equals subject.
    pub self_signed: bool,
    pub key_algorithm: String,
    pub signature_algorithm: String,
}

/// SSH facts from the identification string and the server's KEXINIT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SshInfo {
    pub protocol: String,
    pub software: String,
    pub comments: Option<String>,
    pub kex: Vec<String>,
    pub host_key: Vec<String>,
    pub ciphers: Vec<String>,
    pub macs: Vec<String>,
}

/// HTTP facts from the answer to `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HttpInfo {
    pub status: u16,
    pub server: Option<String>,
    pub title: Option<String>,
    /// The `WWW-Authenticate` or `Proxy-Authenticate` scheme, if the server asked for one.
    pub auth: Option<String>,
}

/// Everything detection learned about one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub addr: SocketAddr,
    pub transport: Protocol,
    /// `open`, `closed`, `filtered` (no answer to connect / UDP probes), `error`.
    pub state: String,
    /// Service name (nmap-style: `ssh`, `http`, `mysql`, ...).
    pub name: Option<String>,
    pub confidence: Confidence,
    pub product: Option<String>,
    pub version: Option<String>,
    pub extrainfo: Option<String>,
    pub hostname: Option<String>,
    pub cpe: Vec<String>,
    /// `ssl` when the service runs inside TLS.
    pub tunnel: Option<String>,
    pub tls: Option<TlsInfo>,
    pub ssh: Option<SshInfo>,
    pub http: Option<HttpInfo>,
    /// First bytes the service sent (lossy UTF-8, at most [`BANNER_CAP`] bytes).
    pub banner: Option<String>,
    /// The probe whose reply identified the service.
    pub probe: Option<String>,
    /// When the service answered but no rule recognised the answer: the probe and the first
    /// bytes it got back, escaped to printable ASCII (`null:"220 mystery\r\n"`), as nmap's
    /// unrecognised-service fingerprint. The name is then `unknown`, never the port table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub findings: Vec<ExposureFinding>,
    /// Things worth knowing that are not findings (timeouts, skipped steps).
    pub notes: Vec<String>,
}

impl ServiceReport {
    /// An empty report for `addr`.
    pub fn new(addr: SocketAddr, transport: Protocol) -> ServiceReport {
        ServiceReport {
            addr,
            transport,
            state: "open".into(),
            name: None,
            confidence: Confidence::Unknown,
            product: None,
            version: None,
            extrainfo: None,
            hostname: None,
            cpe: Vec::new(),
            tunnel: None,
            tls: None,
            ssh: None,
            http: None,
            banner: None,
            probe: None,
            fingerprint: None,
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// nmap-style display name: `ssl/http`, `ssh`, `http?` for a port-table guess.
    pub fn display_name(&self) -> String {
        let base = self.name.clone().unwrap_or_else(|| "unknown".into());
        let base = if self.confidence == Confidence::PortTable {
            format!("{base}?")
        } else {
            base
        };
        match &self.tunnel {
            Some(t) => format!("{t}/{base}"),
            None => base,
        }
    }

    /// `product version (extrainfo)` as one line.
    pub fn version_line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.product {
            parts.push(p.clone());
        }
        if let Some(v) = &self.version {
            parts.push(v.clone());
        }
        if let Some(i) = &self.extrainfo {
            parts.push(format!("({i})"));
        }
        parts.join(" ")
    }
}

/// Bytes of an unrecognised reply kept in [`ServiceReport::fingerprint`].
pub const FINGERPRINT_CAP: usize = 160;

/// Cap and lossily decode bytes from the network.
pub fn capped_text(bytes: &[u8], cap: usize) -> String {
    let b = &bytes[..bytes.len().min(cap)];
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_through_json() {
        let mut r = ServiceReport::new("127.0.0.1:22".parse().unwrap(), Protocol::Tcp);
        r.name = Some("ssh".into());
        r.confidence = Confidence::Matched;
        r.findings.push(ExposureFinding {
            id: "x".into(),
            severity: Severity::High,
            title: "t".into(),
            evidence: "e".into(),
        });
        let j = serde_json::to_string(&r).unwrap();
        let back: ServiceReport = serde_json::from_str(&j).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.display_name(), "ssh");
    }

    #[test]
    fn banners_are_capped() {
        assert_eq!(capped_text(&[b'a'; 2000], BANNER_CAP).len(), BANNER_CAP);
        assert_eq!(capped_text(b"\xff\xfeok", 10), "\u{fffd}\u{fffd}ok");
    }
}
