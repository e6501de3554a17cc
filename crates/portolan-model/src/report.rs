//! Port events, services, exposures and the scan report every probe kind produces and every
//! renderer consumes.
//!
//! - [`PortEvent`]: one probed port's outcome — address, port, protocol, [`PortState`],
//!   [`Reason`], RTT, the reply's TTL when the probe kind sees it (raw SYN/UDP; `None` for
//!   connect) and an optional [`Service`] that service detection fills in.
//! - [`ReportBuilder`] folds events into a [`ScanReport`] with bounded memory: every open port is
//!   kept; for other states a host keeps at most [`ReportBuilder::LIST_LIMIT`] entries and counts
//!   the rest (nmap's `extraports`).
//!
//! The names of states and reasons are nmap's (`open`, `closed`, `filtered`, `open|filtered`;
//! `syn-ack`, `conn-refused`, `no-response`, `host-unreach`, `reset`, `udp-response`,
//! `port-unreach`), so the XML is what nmap tools expect.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::{Cpe, Protocol, Severity};

/// What a port is, as far as the probe could tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PortState {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed")]
    Closed,
    #[serde(rename = "filtered")]
    Filtered,
    #[serde(rename = "unfiltered")]
    Unfiltered,
    #[serde(rename = "open|filtered")]
    OpenFiltered,
    #[serde(rename = "closed|filtered")]
    ClosedFiltered,
}

impl PortState {
    pub const ALL: [PortState; 6] = [
        PortState::Open,
        PortState::Closed,
        PortState::Filtered,
        PortState::Unfiltered,
        PortState::OpenFiltered,
        PortState::ClosedFiltered,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Filtered => "filtered",
            PortState::Unfiltered => "unfiltered",
            PortState::OpenFiltered => "open|filtered",
            PortState::ClosedFiltered => "closed|filtered",
        }
    }
    /// Whether the host answered (the probe proves the host is up).
    pub fn proves_host_up(self) -> bool {
        matches!(
            self,
            PortState::Open | PortState::Closed | PortState::Unfiltered
        )
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a port got its state (nmap's reason names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The handshake completed (connect) or a SYN-ACK came back (SYN scan).
    SynAck,
    /// connect() was refused: the target sent a RST.
    ConnRefused,
    /// A RST came back (raw scans).
    Reset,
    /// Nothing came back after every retry.
    NoResponse,
    /// An ICMP host/network unreachable (or the local stack said so).
    HostUnreach,
    /// ICMP port unreachable (UDP).
    PortUnreach,
    /// ICMP administratively prohibited.
    AdminProhibited,
    /// A UDP reply.
    UdpResponse,
    /// Host discovery: an ICMP / ICMPv6 echo reply.
    EchoReply,
    /// Host discovery: an ICMP timestamp reply.
    TimestampReply,
    /// Host discovery: an ARP reply on the local link.
    ArpResponse,
    /// Host discovery: an IPv6 neighbour advertisement.
    NdResponse,
    /// Host discovery: the target is one of this host's own addresses (loopback, or an
    /// address of a local interface), up without a probe (nmap's `localhost-response`).
    LocalhostResponse,
}

impl Reason {
    /// Every reason, for parsers of the names.
    pub const ALL: [Reason; 13] = [
        Reason::SynAck,
        Reason::ConnRefused,
        Reason::Reset,
        Reason::NoResponse,
        Reason::HostUnreach,
        Reason::PortUnreach,
        Reason::AdminProhibited,
        Reason::UdpResponse,
        Reason::EchoReply,
        Reason::TimestampReply,
        Reason::ArpResponse,
        Reason::NdResponse,
        Reason::LocalhostResponse,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::ConnRefused => "conn-refused",
            Reason::Reset => "reset",
            Reason::NoResponse => "no-response",
            Reason::HostUnreach => "host-unreach",
            Reason::PortUnreach => "port-unreach",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::UdpResponse => "udp-response",
            Reason::EchoReply => "echo-reply",
            Reason::TimestampReply => "timestamp-reply",
            Reason::ArpResponse => "arp-response",
            Reason::NdResponse => "nd-response",
            Reason::LocalhostResponse => "localhost-response",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a service was identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ServiceMethod {
    /// Looked up from the port number (IANA registry / nmap-services).
    #[default]
    Table,
    /// Identified by probing (service detection).
    Probed,
}

/// What runs on a port. Connect scans fill only `name` (from the port table); service detection
/// fills the rest. Text here may come from the network: escape it before printing to a terminal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Service {
    // Fields in alphabetical order: the JSON Lines records have always listed them so.
    /// Confidence 0-10 (nmap: 3 for a table lookup, 10 for a hard match).
    pub conf: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpe: Vec<Cpe>,
    /// Everything service detection learnt (TLS certificate, SSH algorithms, HTTP title,
    /// banner), as the detector reported it. Untrusted text: escape before printing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// What a harmless request proved (unauthenticated access, an open proxy, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposures: Vec<Exposure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extrainfo: Option<String>,
    pub method: ServiceMethod,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Results of checks run on the service after detection (nmap's NSE `<script>` results),
    /// e.g. `portolan-vulns`: the known vulnerabilities of the detected version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<Script>,
    /// `ssl` when the service was found inside TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The id of the script that carries a service's known vulnerabilities (`scan --vulns`): its
/// [`Script::records`] are the findings, written as the `vulns` array of a JSON Lines port
/// record.
pub const VULNS_SCRIPT: &str = "portolan-vulns";

/// The result of one check on a service, shaped as nmap's NSE `<script>` element: an id, a
/// human-readable output, structured data as nmap's `<table>`/`<elem>` tree (for nmap XML
/// readers), and the same data as JSON records (for JSON readers). Text may come from outside:
/// escape it before printing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Script {
    pub id: String,
    pub output: String,
    /// The nmap XML form (`<table key=..>`, `<elem key=..>`); not written to JSON.
    #[serde(skip)]
    pub elems: Vec<ScriptElem>,
    /// The JSON form; not written inside the service (a renderer places it).
    #[serde(skip)]
    pub records: Vec<serde_json::Value>,
}

/// One node of a script's structured output (nmap's `<elem>` and `<table>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScriptElem {
    Elem {
        key: Option<String>,
        value: String,
    },
    Table {
        key: Option<String>,
        elems: Vec<ScriptElem>,
    },
}

/// A security fact about a service, proved without exploiting anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    // Fields in alphabetical order, as the JSON Lines records have always listed them.
    /// What the server answered (untrusted, length-capped).
    pub evidence: String,
    /// Stable identifier, e.g. `redis-no-auth`.
    pub id: String,
    /// How bad it is (serialised lowercase: `low`, `medium`, `high`, `critical`).
    pub severity: Severity,
    pub title: String,
}

/// One probed port's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortEvent {
    pub addr: IpAddr,
    pub port: u16,
    pub proto: Protocol,
    pub state: PortState,
    pub reason: Reason,
    /// Round-trip time of the answering probe.
    #[serde(with = "opt_micros", rename = "rtt_us")]
    pub rtt: Option<Duration>,
    /// TTL of the reply, when the probe kind sees the reply's IP header.
    pub ttl: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
}

mod opt_micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_micros() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_micros))
    }
}

/// How many ports of one state a host had beyond those listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraPorts {
    pub state: PortState,
    pub count: u64,
    /// Counts by reason.
    pub reasons: Vec<(Reason, u64)>,
}

/// Everything found about one host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    pub addr: IpAddr,
    pub hostname: Option<String>,
    /// Up when any probe got an answer.
    pub up: bool,
    /// The reason of the first answer that proved it up.
    pub up_reason: Option<Reason>,
    /// The TTL (IPv4) or hop limit (IPv6) of that answer, when it was read from the packet
    /// (raw scans and raw host discovery; nmap's `reason_ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_ttl: Option<u8>,
    /// Listed ports, sorted by (proto, port).
    pub ports: Vec<PortEvent>,
    /// States too numerous to list.
    pub extra: Vec<ExtraPorts>,
    /// Smoothed RTT of the answers, microseconds.
    pub srtt_us: Option<u64>,
}

impl HostReport {
    pub fn open_ports(&self) -> impl Iterator<Item = &PortEvent> {
        self.ports.iter().filter(|p| p.state == PortState::Open)
    }
    /// Total ports probed on this host (listed + counted).
    pub fn probed(&self) -> u64 {
        self.ports.len() as u64 + self.extra.iter().map(|e| e.count).sum::<u64>()
    }
}

/// Overall statistics of a scan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanStats {
    /// Probes planned for this run (after shard and resume).
    pub planned: u64,
    /// Probes that reached a final state.
    pub completed: u64,
    /// Attempts sent (first tries + retries).
    pub sent: u64,
    pub retries: u64,
    pub open: u64,
    pub closed: u64,
    pub filtered: u64,
    /// Whether the scan stopped early (Ctrl-C).
    pub interrupted: bool,
}

/// What a scan found: the input of every renderer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// `connect`, `syn`, `udp`, ...
    pub scan_type: String,
    pub proto: Protocol,
    /// The command line, for the record.
    pub args: String,
    /// The scanned ports in compact form (`1-1024,8080`).
    pub ports_spec: String,
    pub num_ports: u64,
    pub start: SystemTime,
    pub end: SystemTime,
    /// Hosts with something to report (answered, or had ports listed), sorted by address.
    pub hosts: Vec<HostReport>,
    /// Targets scanned in total (including silent ones).
    pub targets_total: u64,
    pub stats: ScanStats,
    /// How hosts were found up before the ports were scanned: empty when discovery did not
    /// run (`-Pn`, or a report read from elsewhere), else the probes that ran
    /// (`arp,nd,icmp-echo,syn:443,ack:80,icmp-ts`, `connect:80,443` without raw sockets,
    /// `localhost` when every target was this host's own address).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_discovery: String,
}

impl ScanReport {
    pub fn hosts_up(&self) -> u64 {
        self.hosts.iter().filter(|h| h.up).count() as u64
    }
    pub fn elapsed(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct HostAccum {
    up_reason: Option<Reason>,
    #[serde(default)]
    up_ttl: Option<u8>,
    listed: HashMap<PortState, Vec<PortEvent>>,
    counts: HashMap<PortState, HashMap<Reason, u64>>,
    srtt_us: Option<f64>,
}

/// Folds [`PortEvent`]s into a [`ScanReport`]. Serialisable, so that a resumable scan can save
/// what it found beside its resume state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportBuilder {
    hosts: HashMap<IpAddr, HostAccum>,
    /// Whether hosts that never answered still get an entry (small scans only).
    track_silent: bool,
    silent_filtered: u64,
    list_all: bool,
}

impl ReportBuilder {
    /// Per host and non-open state, at most this many ports are listed; more are counted.
    pub const LIST_LIMIT: usize = 25;

    /// `track_silent`: keep a record for hosts that never answered (costs memory per host: use it
    /// when the target set is small). `list_all`: never fold ports into counts.
    pub fn new(track_silent: bool, list_all: bool) -> ReportBuilder {
        ReportBuilder {
            hosts: HashMap::new(),
            track_silent,
            silent_filtered: 0,
            list_all,
        }
    }

    /// Add one final port outcome.
    pub fn add(&mut self, ev: PortEvent) {
        let answered = ev.state.proves_host_up();
        if !answered && !self.track_silent && !self.hosts.contains_key(&ev.addr) {
            self.silent_filtered += 1;
            return;
        }
        let h = self.hosts.entry(ev.addr).or_default();
        if answered && h.up_reason.is_none() {
            h.up_reason = Some(ev.reason);
            h.up_ttl = ev.ttl;
        }
        if let Some(rtt) = ev.rtt {
            let r = rtt.as_micros() as f64;
            h.srtt_us = Some(match h.srtt_us {
                None => r,
                Some(s) => s + (r - s) / 8.0,
            });
        }
        *h.counts
            .entry(ev.state)
            .or_default()
            .entry(ev.reason)
            .or_default() += 1;
        let list = h.listed.entry(ev.state).or_default();
        if ev.state == PortState::Open || self.list_all || list.len() <= Self::LIST_LIMIT {
            list.push(ev);
        }
    }

    /// Host discovery found `addr` up, for `reason` (an echo reply, a RST to a ping, ...), with
    /// the answer's TTL / hop limit when known: the host is reported up even when no port is
    /// probed (`scan -sn`). A reason already known (an earlier answer) is kept.
    pub fn host_up(
        &mut self,
        addr: IpAddr,
        reason: Reason,
        rtt: Option<Duration>,
        ttl: Option<u8>,
    ) {
        let h = self.hosts.entry(addr).or_default();
        if h.up_reason.is_none() {
            h.up_reason = Some(reason);
            h.up_ttl = ttl;
        }
        if let (Some(rtt), None) = (rtt, h.srtt_us) {
            h.srtt_us = Some(rtt.as_micros() as f64);
        }
    }

    /// Every listed event (open ports always; every port with `list_all`).
    pub fn listed(&self) -> impl Iterator<Item = &PortEvent> {
        self.hosts
            .values()
            .flat_map(|h| h.listed.values().flat_map(|l| l.iter()))
    }

    /// Every listed event, to update in place (service detection's results).
    pub fn listed_mut(&mut self) -> impl Iterator<Item = &mut PortEvent> {
        self.hosts
            .values_mut()
            .flat_map(|h| h.listed.values_mut().flat_map(|l| l.iter_mut()))
    }

    /// Change the state and reason of a port already added (a UDP port that was open|filtered
    /// and answered a service probe becomes open, reason udp-response, as nmap's -sV does). The
    /// event moves to its new state's list, with its counts; returns whether the port was found
    /// (listed, or only counted: then it is listed under its new state from `ev`).
    pub fn restate(&mut self, ev: &PortEvent, state: PortState, reason: Reason) -> bool {
        let Some(h) = self.hosts.get_mut(&ev.addr) else {
            return false;
        };
        let key = ev.key();
        let listed = h.listed.get(&ev.state);
        let at = listed.and_then(|l| l.iter().position(|e| e.key() == key));
        if at.is_none() {
            // Not listed: it may only have been counted (folded), if the state has more ports
            // counted than listed.
            let counted: u64 = h.counts.get(&ev.state).map_or(0, |c| c.values().sum());
            if counted <= listed.map_or(0, |l| l.len() as u64) {
                return false;
            }
        }
        let Some(c) = h
            .counts
            .get_mut(&ev.state)
            .and_then(|c| c.get_mut(&ev.reason))
            .filter(|c| **c > 0)
        else {
            return false;
        };
        *c -= 1;
        let mut moved = ev.clone();
        if let (Some(i), Some(list)) = (at, h.listed.get_mut(&ev.state)) {
            moved = list.remove(i);
        }
        moved.state = state;
        moved.reason = reason;
        if h.up_reason.is_none() && state.proves_host_up() {
            h.up_reason = Some(reason);
        }
        *h.counts
            .entry(state)
            .or_default()
            .entry(reason)
            .or_default() += 1;
        let list = h.listed.entry(state).or_default();
        if state == PortState::Open || self.list_all || list.len() <= Self::LIST_LIMIT {
            list.push(moved);
        }
        true
    }

    /// Number of probes on silent hosts that were not tracked.
    pub fn silent_filtered(&self) -> u64 {
        self.silent_filtered
    }

    /// Finish: sorted hosts, each state either listed (all of it) or folded into a count.
    pub fn finish(self, hostname: impl Fn(IpAddr) -> Option<String>) -> Vec<HostReport> {
        let mut hosts: Vec<HostReport> = self
            .hosts
            .into_iter()
            .map(|(addr, acc)| {
                let mut ports = Vec::new();
                let mut extra = Vec::new();
                let mut listed = acc.listed;
                for st in PortState::ALL {
                    let Some(counts) = acc.counts.get(&st) else {
                        continue;
                    };
                    let total: u64 = counts.values().sum();
                    let l = listed.remove(&st).unwrap_or_default();
                    if st == PortState::Open || self.list_all || total <= Self::LIST_LIMIT as u64 {
                        ports.extend(l);
                    } else {
                        let mut reasons: Vec<(Reason, u64)> =
                            counts.iter().map(|(r, c)| (*r, *c)).collect();
                        reasons.sort();
                        extra.push(ExtraPorts {
                            state: st,
                            count: total,
                            reasons,
                        });
                    }
                }
                ports.sort_by_key(|p| (p.proto, p.port));
                HostReport {
                    addr,
                    hostname: hostname(addr),
                    up: acc.up_reason.is_some(),
                    up_reason: acc.up_reason,
                    up_ttl: acc.up_ttl,
                    ports,
                    extra,
                    srtt_us: acc.srtt_us.map(|s| s as u64),
                }
            })
            .collect();
        hosts.sort_by_key(|h| h.addr);
        hosts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(port: u16, state: PortState, reason: Reason) -> PortEvent {
        PortEvent {
            addr: "192.0.2.1".parse().unwrap(),
            port,
            proto: Protocol::Tcp,
            state,
            reason,
            rtt: Some(Duration::from_micros(100)),
            ttl: None,
            service: None,
        }
    }

    #[test]
    fn restate_moves_a_port_to_its_new_state_with_its_counts() {
        let mut b = ReportBuilder::new(true, false);
        let mut u = ev(53, PortState::OpenFiltered, Reason::NoResponse);
        u.proto = Protocol::Udp;
        b.add(u.clone());
        let mut other = ev(54, PortState::OpenFiltered, Reason::NoResponse);
        other.proto = Protocol::Udp;
        b.add(other);
        assert!(b.restate(&u, PortState::Open, Reason::UdpResponse));
        // A second time: the port is no longer open|filtered.
        assert!(!b.restate(&u, PortState::Open, Reason::UdpResponse));
        let hosts = b.finish(|_| None);
        assert!(hosts[0].up, "an answer proves the host up");
        assert_eq!(hosts[0].up_reason, Some(Reason::UdpResponse));
        let states: Vec<(u16, PortState, Reason)> = hosts[0]
            .ports
            .iter()
            .map(|p| (p.port, p.state, p.reason))
            .collect();
        assert_eq!(
            states,
            vec![
                (53, PortState::Open, Reason::UdpResponse),
                (54, PortState::OpenFiltered, Reason::NoResponse)
            ]
        );
        // A port never added is not invented.
        let mut b = ReportBuilder::new(true, false);
        assert!(!b.restate(&u, PortState::Open, Reason::UdpResponse));
        assert!(b.finish(|_| None).is_empty());
    }

    #[test]
    fn folds_numerous_states() {
        let mut b = ReportBuilder::new(false, false);
        for p in 1..=100 {
            b.add(ev(p, PortState::Closed, Reason::ConnRefused));
        }
        b.add(ev(22, PortState::Open, Reason::SynAck));
        for p in 200..210 {
            b.add(ev(p, PortState::Filtered, Reason::NoResponse));
        }
        let hosts = b.finish(|_| None);
        assert_eq!(hosts.len(), 1);
        let h = &hosts[0];
        assert!(h.up);
        assert_eq!(h.open_ports().count(), 1);
        assert_eq!(h.ports.len(), 11);
        assert_eq!(h.extra.len(), 1);
        assert_eq!(h.extra[0].count, 100);
        assert_eq!(h.probed(), 111);
    }

    #[test]
    fn discovery_marks_hosts_up_without_ports() {
        let mut b = ReportBuilder::new(false, false);
        let a: IpAddr = "192.0.2.9".parse().unwrap();
        b.host_up(
            a,
            Reason::EchoReply,
            Some(Duration::from_micros(250)),
            Some(61),
        );
        // A later port answer does not replace the discovery reason.
        b.add(PortEvent {
            addr: a,
            ..ev(22, PortState::Open, Reason::SynAck)
        });
        let hosts = b.finish(|_| None);
        assert_eq!(hosts.len(), 1);
        assert!(hosts[0].up);
        assert_eq!(hosts[0].up_reason, Some(Reason::EchoReply));
        // The TTL of the answer that proved it up goes with its reason.
        assert_eq!(hosts[0].up_ttl, Some(61));
        assert_eq!(hosts[0].open_ports().count(), 1);
        for r in Reason::ALL {
            let j = serde_json::to_string(&r).unwrap();
            assert_eq!(j, format!("\"{}\"", r.as_str()));
        }
    }

    #[test]
    fn silent_hosts_untracked() {
        let mut b = ReportBuilder::new(false, false);
        b.add(ev(1, PortState::Filtered, Reason::NoResponse));
        assert_eq!(b.silent_filtered(), 1);
        assert!(b.finish(|_| None).is_empty());
    }

    #[test]
    fn builder_survives_a_json_roundtrip() {
        let mut b = ReportBuilder::new(true, false);
        b.add(ev(22, PortState::Open, Reason::SynAck));
        b.add(ev(23, PortState::Closed, Reason::ConnRefused));
        let text = serde_json::to_string(&b).unwrap();
        let back: ReportBuilder = serde_json::from_str(&text).unwrap();
        assert_eq!(back.listed().count(), 2);
        assert_eq!(back.finish(|_| None), b.finish(|_| None));
    }

    #[test]
    fn event_json_roundtrip() {
        let e = ev(22, PortState::OpenFiltered, Reason::NoResponse);
        let s = serde_json::to_string(&e).unwrap();
        assert!(s.contains("\"open|filtered\""), "{s}");
        assert!(s.contains("\"rtt_us\":100"), "{s}");
        let back: PortEvent = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
    }
}
