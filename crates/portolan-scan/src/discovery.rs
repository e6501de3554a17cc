//! Host discovery: which hosts of the targets are up, and how each answered — before a port
//! scan (so that only live hosts are scanned) or on its own (`scan -sn`).
//!
//! With raw sockets the probes are the raw engine's, stateless like a port scan's: each carries
//! its keyed cookie (ICMP echo and timestamp: identifier and sequence number; TCP SYN ping: the
//! sequence number; TCP ACK ping: the acknowledgement number, which the RST answering it repeats
//! as its sequence number), and one keyed permutation walks hosts × probes under the same
//! congestion windows and pace as a port scan ([`run_raw`]). A probe kind is a "port" slot of
//! its host (1, 2, ... in the order given), so a host's probes are spread over the whole walk.
//! Any validated answer proves the host up: an echo or timestamp reply, a SYN-ACK or a RST.
//! An ICMP error (unreachable) does not.
//!
//! Without raw sockets, [`run_connect`] connects to a few ports (80 and 443 by default) and
//! counts a completed handshake or a refused connection as up (nmap's unprivileged ping).
//!
//! The probes: [`Probe`], parsed from `--discovery` lists by [`parse_probes`]
//! (`icmp-echo,icmp-ts,syn:443,ack:80`; nmap's default set is [`DEFAULT_PROBES`]). ICMP echo is
//! ICMPv6 echo for IPv6 targets; ICMPv6 has no timestamp, so that probe is skipped there.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::connect::{self, ConnectConfig, EventSink, Job, Status};
use crate::model::{PortEvent, Reason, ScanStats};
use crate::plan::{Plan, PlanError, Progress};
use crate::ports::PortSet;
use crate::raw::{self, RawConfig, RawKind, RawStats};
use crate::rawio::RawError;
use crate::target::TargetSet;

/// One discovery probe kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Probe {
    /// ICMP echo request (ICMPv6 echo for IPv6 targets): nmap's `-PE`.
    Echo,
    /// ICMP timestamp request (IPv4 only): nmap's `-PP`.
    Timestamp,
    /// TCP SYN to this port: a SYN-ACK or a RST proves the host up (`-PS`).
    Syn(u16),
    /// TCP ACK to this port: a RST proves the host up (`-PA`).
    Ack(u16),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Echo => f.write_str("icmp-echo"),
            Probe::Timestamp => f.write_str("icmp-ts"),
            Probe::Syn(p) => write!(f, "syn:{p}"),
            Probe::Ack(p) => write!(f, "ack:{p}"),
        }
    }
}

/// nmap's default discovery probes (as root): ICMP echo, SYN to 443, ACK to 80, ICMP timestamp.
pub const DEFAULT_PROBES: &str = "icmp-echo,syn:443,ack:80,icmp-ts";

/// The ports the unprivileged fallback connects to.
pub const CONNECT_PORTS: [u16; 2] = [80, 443];

/// Why discovery could not run.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("--discovery: {0}")]
    BadProbe(String),
    #[error(transparent)]
    Raw(#[from] RawError),
    #[error(transparent)]
    Connect(#[from] connect::ConnectError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Parse a probe list: comma-separated `icmp-echo` (or `echo`, `PE`), `icmp-ts` (`timestamp`,
/// `PP`), `syn[:PORT]` (`PS`, default 443), `ack[:PORT]` (`PA`, default 80). Duplicates are
/// dropped; the order is kept.
pub fn parse_probes(spec: &str) -> Result<Vec<Probe>, DiscoveryError> {
    let mut out: Vec<Probe> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, port) = match item.split_once(':') {
            Some((n, p)) => {
                let port = p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
                    DiscoveryError::BadProbe(format!(
                        "{p:?} in {item:?} is not a port: give 1-65535 (e.g. syn:443)"
                    ))
                })?;
                (n, Some(port))
            }
            None => (item, None),
        };
        let probe = match (name.to_ascii_lowercase().as_str(), port) {
            ("icmp-echo" | "echo" | "pe", None) => Probe::Echo,
            ("icmp-ts" | "timestamp" | "pp", None) => Probe::Timestamp,
            ("syn" | "ps", p) => Probe::Syn(p.unwrap_or(443)),
            ("ack" | "pa", p) => Probe::Ack(p.unwrap_or(80)),
            ("arp" | "nd" | "icmp6-ns", _) => {
                return Err(DiscoveryError::BadProbe(format!(
                    "{item:?}: ARP and neighbour-solicitation discovery are not built yet; on a \
                     local link, ICMP echo and TCP pings find the hosts that answer them \
                     (e.g. --discovery {DEFAULT_PROBES})"
                )))
            }
            _ => {
                return Err(DiscoveryError::BadProbe(format!(
                    "unknown probe {item:?}: use icmp-echo, icmp-ts, syn[:PORT], ack[:PORT] \
                     (e.g. --discovery {DEFAULT_PROBES})"
                )))
            }
        };
        if !out.contains(&probe) {
            out.push(probe);
        }
    }
    if out.is_empty() {
        return Err(DiscoveryError::BadProbe(format!(
            "no probe given: e.g. --discovery {DEFAULT_PROBES}"
        )));
    }
    Ok(out)
}

/// What the scan does about host discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum HostDiscovery {
    /// Every target is scanned (`-Pn`).
    #[default]
    Off,
    /// Discover first, then scan the ports of live hosts only.
    Before(Vec<Probe>),
    /// Discover only (`-sn`): which hosts are up and how each answered.
    Only(Vec<Probe>),
}

impl HostDiscovery {
    /// The probes, when discovery runs.
    pub fn probes(&self) -> Option<&[Probe]> {
        match self {
            HostDiscovery::Off => None,
            HostDiscovery::Before(p) | HostDiscovery::Only(p) => Some(p),
        }
    }
}

/// A host found up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostUp {
    pub addr: IpAddr,
    /// The first answer's reason (`echo-reply`, `timestamp-reply`, `syn-ack`, `reset`,
    /// `conn-refused`).
    pub reason: Reason,
    pub rtt: Option<Duration>,
    /// TTL / hop limit of that answer (raw probes only).
    pub ttl: Option<u8>,
}

/// What discovery found.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    /// Live hosts, sorted by address.
    pub hosts: Vec<HostUp>,
    /// Probes planned, sent, answered (as a port scan counts them).
    pub stats: ScanStats,
    /// The raw engine's counters (raw discovery only).
    pub raw: Option<RawStats>,
    /// What to tell the user.
    pub notices: Vec<String>,
}

/// Folds the engine's events into live hosts.
struct Collect<'a> {
    up: HashMap<IpAddr, HostUp>,
    status: &'a mut dyn FnMut(&Status),
    notices: Vec<String>,
}

impl EventSink for Collect<'_> {
    fn port(&mut self, ev: PortEvent) {
        if !ev.state.proves_host_up() {
            return;
        }
        self.up.entry(ev.addr).or_insert(HostUp {
            addr: ev.addr,
            reason: ev.reason,
            rtt: ev.rtt,
            ttl: ev.ttl,
        });
    }
    fn status(&mut self, st: &Status) {
        (self.status)(st);
    }
    fn notice(&mut self, msg: &str) {
        self.notices.push(msg.to_string());
    }
}

impl Collect<'_> {
    fn finish(self, stats: ScanStats, raw: Option<RawStats>) -> Discovered {
        let mut hosts: Vec<HostUp> = self.up.into_values().collect();
        hosts.sort_by_key(|h| h.addr);
        Discovered {
            hosts,
            stats,
            raw,
            notices: self.notices,
        }
    }
}

/// The job of `targets` × `slots` ports, walked in the order `seed` gives.
fn job_parts(targets: &TargetSet, slots: PortSet, seed: u64) -> Result<(PortSet, Plan), PlanError> {
    let total = targets
        .len()
        .checked_mul(slots.len() as u64)
        .ok_or(PlanError::TooLarge(
            u128::from(targets.len()) * slots.len() as u128,
        ))?;
    let plan = Plan::new(total, seed ^ 0x6469_7363_6f76_6572)?;
    Ok((slots, plan))
}

/// Raw, stateless discovery with `probes` (needs `CAP_NET_RAW`): the raw engine with `cfg`'s
/// rate, windows, timeouts, retries and sending path.
pub fn run_raw(
    targets: &TargetSet,
    probes: &[Probe],
    cfg: &RawConfig,
    seed: u64,
    status: &mut dyn FnMut(&Status),
    stop: Arc<AtomicBool>,
) -> Result<Discovered, DiscoveryError> {
    let n = u16::try_from(probes.len())
        .map_err(|_| DiscoveryError::BadProbe("too many probes".into()))?;
    let (ports, plan) = job_parts(targets, PortSet::from_ports((1..=n).collect()), seed)?;
    let job = Job {
        targets,
        ports: &ports,
        plan: &plan,
        positions: 0..plan.len(),
        progress: Progress::new(0, &[]),
    };
    let mut c = cfg.clone();
    c.kind = RawKind::Discovery;
    c.discovery = probes.to_vec();
    let mut sink = Collect {
        up: HashMap::new(),
        status,
        notices: Vec::new(),
    };
    let st = raw::run(job, &c, &mut sink, stop)?;
    Ok(sink.finish(st.scan.clone(), Some(st)))
}

/// Unprivileged discovery: a TCP connect to each of `ports` (a completed handshake or a refused
/// connection proves the host up).
pub fn run_connect(
    targets: &TargetSet,
    ports: &[u16],
    cfg: &ConnectConfig,
    seed: u64,
    status: &mut dyn FnMut(&Status),
    stop: Arc<AtomicBool>,
) -> Result<Discovered, DiscoveryError> {
    let (ports, plan) = job_parts(targets, PortSet::from_ports(ports.to_vec()), seed)?;
    let job = Job {
        targets,
        ports: &ports,
        plan: &plan,
        positions: 0..plan.len(),
        progress: Progress::new(0, &[]),
    };
    let mut sink = Collect {
        up: HashMap::new(),
        status,
        notices: Vec::new(),
    };
    let st = connect::run(job, cfg, &mut sink, stop)?;
    Ok(sink.finish(st, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lists_parse_in_order_without_duplicates() {
        let p = parse_probes(DEFAULT_PROBES).unwrap();
        assert_eq!(
            p,
            vec![
                Probe::Echo,
                Probe::Syn(443),
                Probe::Ack(80),
                Probe::Timestamp
            ]
        );
        assert_eq!(
            parse_probes("PE, syn:22,syn,ack,ack:80,echo").unwrap(),
            vec![Probe::Echo, Probe::Syn(22), Probe::Syn(443), Probe::Ack(80)]
        );
        let names: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert_eq!(names.join(","), DEFAULT_PROBES);
        for bad in [
            "",
            "syn:0",
            "syn:70000",
            "ack:x",
            "bogus",
            "icmp-echo:3",
            "arp",
        ] {
            let e = parse_probes(bad).unwrap_err().to_string();
            assert!(e.starts_with("--discovery"), "{bad}: {e}");
        }
        assert!(parse_probes("arp")
            .unwrap_err()
            .to_string()
            .contains("not built yet"));
    }

    #[test]
    fn modes() {
        assert_eq!(HostDiscovery::default().probes(), None);
        let p = vec![Probe::Echo];
        assert_eq!(
            HostDiscovery::Only(p.clone()).probes(),
            Some(&[Probe::Echo][..])
        );
        assert_eq!(HostDiscovery::Before(p).probes(), Some(&[Probe::Echo][..]));
    }
}
