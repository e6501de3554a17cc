//! Ephemeral ("dynamic", client-side) port ranges: the defaults of common systems, with the
//! document each comes from, and this machine's configured range.
//!
//! A server bound inside the ephemeral range can collide with the kernel's choice of source port
//! for outgoing connections, and a firewall that opens the range for replies opens the server too.

use std::path::Path;

/// A system's default ephemeral port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EphemeralRange {
    /// Which system (and version) uses this range by default.
    pub system: &'static str,
    pub lo: u16,
    pub hi: u16,
    /// Where the default is documented.
    pub source: &'static str,
}

impl EphemeralRange {
    /// Whether `port` is inside the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

/// Default ephemeral ranges of common systems.
pub const DEFAULTS: &[EphemeralRange] = &[
    EphemeralRange {
        system: "Linux (net.ipv4.ip_local_port_range default)",
        lo: 32768,
        hi: 60999,
        source: "https://www.kernel.org/doc/html/latest/networking/ip-sysctl.html",
    },
    EphemeralRange {
        system: "IANA / RFC 6335 dynamic range",
        lo: 49152,
        hi: 65535,
        source: "https://www.rfc-editor.org/rfc/rfc6335#section-6",
    },
    EphemeralRange {
        system: "Windows Vista / Server 2008 and later",
        lo: 49152,
        hi: 65535,
        source: "https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/default-dynamic-port-range-tcpip-chang",
    },
    EphemeralRange {
        system: "Windows XP / Server 2003 and earlier",
        lo: 1025,
        hi: 5000,
        source: "https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/default-dynamic-port-range-tcpip-chang",
    },
    EphemeralRange {
        system: "FreeBSD (net.inet.ip.portrange.first/last)",
        lo: 10000,
        hi: 65535,
        source: "https://man.freebsd.org/cgi/man.cgi?query=ip&sektion=4",
    },
    EphemeralRange {
        system: "macOS (net.inet.ip.portrange.first/last)",
        lo: 49152,
        hi: 65535,
        source: "https://github.com/apple-oss-distributions/xnu/blob/main/bsd/netinet/in.h",
    },
];

/// Where Linux exposes the configured range.
pub const LINUX_PROC_PATH: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Parse the contents of `ip_local_port_range` ("32768\t60999\n").
pub fn parse_proc_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace();
    let lo = it.next()?.parse().ok()?;
    let hi = it.next()?.parse().ok()?;
    (lo <= hi && it.next().is_none()).then_some((lo, hi))
}

/// This machine's ephemeral range, read from `path` (normally [`LINUX_PROC_PATH`]).
/// `None` when the file is missing or unreadable (not Linux, or a restricted container).
pub fn local_range_from(path: &Path) -> Option<(u16, u16)> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| parse_proc_range(&t))
}

/// This machine's ephemeral range on Linux; `None` elsewhere.
pub fn local_range() -> Option<(u16, u16)> {
    local_range_from(Path::new(LINUX_PROC_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_format() {
        assert_eq!(parse_proc_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_proc_range("1024 65535"), Some((1024, 65535)));
        assert_eq!(parse_proc_range("60999 32768"), None);
        assert_eq!(parse_proc_range("x y"), None);
        assert_eq!(parse_proc_range("1 2 3"), None);
        assert_eq!(parse_proc_range(""), None);
    }

    #[test]
    fn defaults_are_sane() {
        for r in DEFAULTS {
            assert!(r.lo <= r.hi, "{r:?}");
            assert!(r.source.starts_with("https://"), "{r:?}");
        }
        assert!(DEFAULTS
            .iter()
            .any(|r| r.contains(32768) && r.system.starts_with("Linux")));
    }
}
