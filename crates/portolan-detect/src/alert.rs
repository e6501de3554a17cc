//! Alerts and their EVE JSON form (the shape of Suricata's `eve.json` alert events).
//!
//! Schema: `docs/schema/detect-eve.md` (version [`SCHEMA_VERSION`]).

use serde::Serialize;

use crate::decode::Addr;

/// Version of the `portolan` object inside each EVE alert.
pub const SCHEMA_VERSION: u32 = 1;

/// How the probes were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Technique {
    /// Raw SYNs that never complete (nmap -sS, masscan, ZMap).
    TcpSyn,
    /// Full connections from the operating system (nmap -sT, RustScan, ...).
    TcpConnect,
    TcpFin,
    TcpNull,
    TcpXmas,
    TcpAck,
    TcpMaimon,
    Udp,
    /// Not a scan: a SYN flood.
    SynFlood,
}

impl Technique {
    pub const ALL: [Technique; 9] = [
        Technique::TcpSyn,
        Technique::TcpConnect,
        Technique::TcpFin,
        Technique::TcpNull,
        Technique::TcpXmas,
        Technique::TcpAck,
        Technique::TcpMaimon,
        Technique::Udp,
        Technique::SynFlood,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: usize) -> Technique {
        Technique::ALL.get(i).copied().unwrap_or(Technique::TcpSyn)
    }

    /// The stable name used in JSON and on the terminal.
    pub fn name(self) -> &'static str {
        match self {
            Technique::TcpSyn => "tcp-syn",
            Technique::TcpConnect => "tcp-connect",
            Technique::TcpFin => "tcp-fin",
            Technique::TcpNull => "tcp-null",
            Technique::TcpXmas => "tcp-xmas",
            Technique::TcpAck => "tcp-ack",
            Technique::TcpMaimon => "tcp-maimon",
            Technique::Udp => "udp",
            Technique::SynFlood => "syn-flood",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Technique::TcpSyn => "TCP SYN (half-open)",
            Technique::TcpConnect => "TCP connect",
            Technique::TcpFin => "TCP FIN",
            Technique::TcpNull => "TCP NULL",
            Technique::TcpXmas => "TCP Xmas",
            Technique::TcpAck => "TCP ACK",
            Technique::TcpMaimon => "TCP Maimon (FIN/ACK)",
            Technique::Udp => "UDP",
            Technique::SynFlood => "TCP SYN",
        }
    }

    pub fn is_stealth(self) -> bool {
        matches!(
            self,
            Technique::TcpFin
                | Technique::TcpNull
                | Technique::TcpXmas
                | Technique::TcpAck
                | Technique::TcpMaimon
        )
    }

    pub fn proto(self) -> &'static str {
        if self == Technique::Udp {
            "UDP"
        } else {
            "TCP"
        }
    }
}

/// What was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One source, many ports of one (or few) hosts.
    Vertical,
    /// One source, one (or few) ports of many hosts.
    Horizontal,
    /// One source, many ports of many hosts.
    Block,
    /// Many sources, one target.
    Distributed,
    /// Many half-open connections to one service.
    Flood,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Vertical => "vertical",
            Shape::Horizontal => "horizontal",
            Shape::Block => "block",
            Shape::Distributed => "distributed",
            Shape::Flood => "flood",
        }
    }
    fn phrase(self) -> &'static str {
        match self {
            Shape::Vertical => "port scan",
            Shape::Horizontal => "port sweep",
            Shape::Block => "block scan",
            Shape::Distributed => "distributed port scan",
            Shape::Flood => "flood",
        }
    }
    fn index(self) -> u32 {
        self as u32
    }
}

/// Which detector raised the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorKind {
    /// Threshold Random Walk on first-contact outcomes.
    Trw,
    /// Windowed distinct-count threshold.
    Threshold,
    /// Flag-pattern rule (stealth scans).
    Flags,
    /// Many sources probing one target.
    Distributed,
    /// Half-open count per service.
    SynFlood,
}

/// What was done about an alert: EVE's `alert.action`. `blocked` when the source was banned
/// (`portolan detect --block`), `allowed` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Allowed,
    Blocked,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Allowed => "allowed",
            Action::Blocked => "blocked",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// When it was raised (capture time of the packet that tipped it), ns since the epoch.
    pub ts_ns: u64,
    pub technique: Technique,
    pub shape: Shape,
    pub detector: DetectorKind,
    /// The scanner (for a flood or a distributed scan: the last source seen).
    pub src: Addr,
    pub src_port: Option<u16>,
    /// The target (for a horizontal sweep: the last host probed).
    pub dst: Addr,
    pub dst_port: Option<u16>,
    /// The tool whose probe traits were recognised, if any.
    pub tool: Option<&'static str>,
    /// Distinct ports probed, the first few (at most [`MAX_PORTS_LISTED`]), in order seen.
    pub ports: Vec<u16>,
    /// Estimated distinct ports probed in the window.
    pub distinct_ports: u64,
    /// Estimated distinct hosts probed in the window.
    pub distinct_hosts: u64,
    /// Estimated distinct sources (floods, distributed scans).
    pub distinct_sources: Option<u64>,
    /// Probes (first contacts) counted before the alert.
    pub probes: u64,
    /// Half-open connections (floods).
    pub half_open: Option<u64>,
    /// TRW log-likelihood ratio when it crossed ln η1.
    pub trw_llr: Option<f64>,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
}

/// How many ports an alert lists.
pub const MAX_PORTS_LISTED: usize = 32;

impl Alert {
    /// The Suricata-style signature text.
    pub fn signature(&self) -> String {
        if self.technique == Technique::SynFlood {
            return "PORTOLAN DOS TCP SYN flood".to_string();
        }
        format!(
            "PORTOLAN SCAN {} {}",
            self.technique.phrase(),
            self.shape.phrase()
        )
    }

    /// A stable signature id: 9_100_000 + 10 × technique + shape.
    pub fn signature_id(&self) -> u32 {
        9_100_000 + 10 * self.technique.index() as u32 + self.shape.index()
    }

    /// Suricata classification text.
    pub fn category(&self) -> &'static str {
        if self.technique == Technique::SynFlood {
            "Attempted Denial of Service"
        } else {
            "Attempted Information Leak"
        }
    }

    /// Suricata severity: 1 (high) to 3 (low).
    pub fn severity(&self) -> u8 {
        match (self.technique, self.shape) {
            (Technique::SynFlood, _) | (_, Shape::Distributed) => 1,
            _ => 2,
        }
    }

    /// The severity on portolan's scale (info, low, medium, high, critical), from
    /// [`Alert::severity`]: floods and distributed scans are high, scans and sweeps medium.
    pub fn severity_name(&self) -> &'static str {
        match self.severity() {
            1 => "high",
            2 => "medium",
            _ => "low",
        }
    }

    pub fn proto(&self) -> &'static str {
        self.technique.proto()
    }

    /// The EVE JSON event (`alert.action` is `allowed`: nothing was done).
    pub fn to_eve(&self) -> serde_json::Value {
        self.to_eve_with(Action::Allowed)
    }

    /// The EVE JSON event with `alert.action` saying what was done about it.
    pub fn to_eve_with(&self, action: Action) -> serde_json::Value {
        let mut v = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "timestamp": format_timestamp(self.ts_ns),
            "event_type": "alert",
            "src_ip": self.src.to_string(),
            "dest_ip": self.dst.to_string(),
            "proto": self.proto(),
            "alert": {
                "action": action.name(),
                "gid": 1,
                "signature_id": self.signature_id(),
                "rev": 1,
                "signature": self.signature(),
                "category": self.category(),
                "severity": self.severity(),
            },
            "portolan": {
                "schema_version": SCHEMA_VERSION,
                "severity": self.severity_name(),
                "technique": self.technique.name(),
                "shape": self.shape.name(),
                "detector": self.detector,
                "tool": self.tool,
                "ports": self.ports,
                "distinct_ports": self.distinct_ports,
                "distinct_hosts": self.distinct_hosts,
                "probes": self.probes,
                "first_seen": format_timestamp(self.first_seen_ns),
                "last_seen": format_timestamp(self.last_seen_ns),
            }
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(p) = self.src_port {
                obj.insert("src_port".into(), p.into());
            }
            if let Some(p) = self.dst_port {
                obj.insert("dest_port".into(), p.into());
            }
        }
        if let Some(p) = v.get_mut("portolan").and_then(|p| p.as_object_mut()) {
            if let Some(s) = self.distinct_sources {
                p.insert("distinct_sources".into(), s.into());
            }
            if let Some(h) = self.half_open {
                p.insert("half_open".into(), h.into());
            }
            if let Some(l) = self.trw_llr {
                p.insert("trw_llr".into(), ((l * 1000.0).round() / 1000.0).into());
            }
        }
        v
    }
}

/// Format as Suricata does: `2026-11-25T09:16:09.486123+0000` (UTC, microseconds).
pub fn format_timestamp(ts_ns: u64) -> String {
    let micros = (ts_ns % 1_000_000_000) / 1000;
    // Any u64 of nanoseconds is within the years `time` supports (1970-2554).
    match time::OffsetDateTime::from_unix_timestamp((ts_ns / 1_000_000_000) as i64) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("@{ts_ns}ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(
            format_timestamp(1_764_062_169_486_123_999),
            "2025-11-25T09:16:09.486123+0000"
        );
        assert_eq!(
            format_timestamp(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000+0000"
        );
    }

    #[test]
    fn action_is_in_the_eve_alert() {
        let a = Alert {
            ts_ns: 0,
            technique: Technique::TcpSyn,
            shape: Shape::Vertical,
            detector: DetectorKind::Trw,
            src: Addr::v4([203, 0, 113, 7]),
            src_port: None,
            dst: Addr::default(),
            dst_port: None,
            tool: None,
            ports: vec![],
            distinct_ports: 0,
            distinct_hosts: 0,
            distinct_sources: None,
            probes: 4,
            half_open: None,
            trw_llr: None,
            first_seen_ns: 0,
            last_seen_ns: 0,
        };
        assert_eq!(a.to_eve()["alert"]["action"], "allowed");
        assert_eq!(a.to_eve_with(Action::Blocked)["alert"]["action"], "blocked");
        assert_eq!(a.to_eve_with(Action::Allowed), a.to_eve());
    }

    #[test]
    fn signature_ids_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for t in Technique::ALL {
            for s in [
                Shape::Vertical,
                Shape::Horizontal,
                Shape::Block,
                Shape::Distributed,
                Shape::Flood,
            ] {
                let a = Alert {
                    ts_ns: 0,
                    technique: t,
                    shape: s,
                    detector: DetectorKind::Trw,
                    src: Addr::default(),
                    src_port: None,
                    dst: Addr::default(),
                    dst_port: None,
                    tool: None,
                    ports: vec![],
                    distinct_ports: 0,
                    distinct_hosts: 0,
                    distinct_sources: None,
                    probes: 0,
                    half_open: None,
                    trw_llr: None,
                    first_seen_ns: 0,
                    last_seen_ns: 0,
                };
                assert!(seen.insert(a.signature_id()));
            }
        }
    }
}
