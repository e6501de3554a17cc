//! What detection found about one port: [`ServiceReport`] and its parts. All serialisable;
//! the JSON form is documented in `docs/schema/service.md`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::db::Transport;

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

/// Severity of an exposure finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

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
    pub transport: Transport,
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
    pub findings: Vec<ExposureFinding>,
    /// Things worth knowing that are not findings (timeouts, skipped steps).
    pub notes: Vec<String>,
}

impl ServiceReport {
    /// An empty report for `addr`.
    pub fn new(addr: SocketAddr, transport: Transport) -> ServiceReport {
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

impl ServiceReport {
    /// The nmap XML `<service>` element for this report (`name`, `product`, `version`,
    /// `extrainfo`, `hostname`, `tunnel`, `method`, `conf`, and `<cpe>` children), with every
    /// value XML-escaped; `None` when nothing is known. For the scanner's XML output.
    pub fn nmap_service_xml(&self) -> Option<String> {
        let name = self.name.as_deref()?;
        let mut x = format!("<service name=\"{}\"", xml_escape(name));
        for (k, v) in [
            ("product", &self.product),
            ("version", &self.version),
            ("extrainfo", &self.extrainfo),
            ("hostname", &self.hostname),
            ("tunnel", &self.tunnel),
        ] {
            if let Some(v) = v {
                x.push_str(&format!(" {k}=\"{}\"", xml_escape(v)));
            }
        }
        let (method, conf) = match self.confidence {
            Confidence::Matched => ("probed", 10),
            Confidence::Soft => ("probed", 8),
            Confidence::PortTable | Confidence::Unknown => ("table", 3),
        };
        x.push_str(&format!(" method=\"{method}\" conf=\"{conf}\""));
        if self.cpe.is_empty() {
            x.push_str("/>");
        } else {
            x.push('>');
            for c in &self.cpe {
                x.push_str(&format!("<cpe>{}</cpe>", xml_escape(c)));
            }
            x.push_str("</service>");
        }
        Some(x)
    }
}

/// Escape text for an XML attribute or element; characters XML 1.0 cannot carry are dropped.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push_str(&format!("&#{};", c as u32)),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => o.push(c),
        }
    }
    o
}

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
        let mut r = ServiceReport::new("127.0.0.1:22".parse().unwrap(), Transport::Tcp);
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
    fn nmap_xml_service_element_is_escaped() {
        let mut r = ServiceReport::new("127.0.0.1:80".parse().unwrap(), Transport::Tcp);
        assert!(r.nmap_service_xml().is_none());
        r.name = Some("http".into());
        r.confidence = Confidence::Matched;
        r.product = Some("evil\"/><x a='1'>&\x1b".into());
        r.tunnel = Some("ssl".into());
        r.cpe = vec!["cpe:/a:f5:nginx:1.22.1".into()];
        let x = r.nmap_service_xml().unwrap();
        assert_eq!(
            x,
            "<service name=\"http\" product=\"evil&quot;/&gt;&lt;x a=&apos;1&apos;&gt;&amp;\" \
             tunnel=\"ssl\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:f5:nginx:1.22.1</cpe></service>"
        );
        // An independent XML parser reads it back, when python3 is there.
        let parsed = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, xml.etree.ElementTree as E; e = E.fromstring(sys.argv[1]); \
                 print(e.get('product') + '|' + e.find('cpe').text)",
                &x,
            ])
            .output();
        match parsed {
            Ok(o) if o.status.success() => assert_eq!(
                String::from_utf8_lossy(&o.stdout).trim_end(),
                "evil\"/><x a='1'>&|cpe:/a:f5:nginx:1.22.1"
            ),
            _ => eprintln!("python3 not available: XML parse-back skipped"),
        }
        r.cpe.clear();
        r.confidence = Confidence::PortTable;
        assert!(r
            .nmap_service_xml()
            .unwrap()
            .ends_with("method=\"table\" conf=\"3\"/>"));
    }

    #[test]
    fn banners_are_capped() {
        assert_eq!(capped_text(&[b'a'; 2000], BANNER_CAP).len(), BANNER_CAP);
        assert_eq!(capped_text(b"\xff\xfeok", 10), "\u{fffd}\u{fffd}ok");
    }
}
