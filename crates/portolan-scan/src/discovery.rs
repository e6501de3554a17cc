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
//! Each IP probe is sent once unless the caller asks for retransmissions: any answer proves a
//! host up, so the probe kinds are each other's redundancy.
//!
//! On a directly connected Ethernet link, `arp` and `nd` in the list ([`Probe::Arp`],
//! [`Probe::Nd`], in [`DEFAULT_PROBES`]) replace the IP probes for the targets there: ARP
//! who-has and IPv6 neighbour solicitation ([`crate::onlink`]), which also find hosts that drop
//! every IP packet (reasons `arp-response`, `nd-response`).
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
use crate::onlink;
use crate::plan::{Plan, PlanError, Progress};
use crate::ports::PortSet;
use crate::raw::{self, RawConfig, RawKind, RawStats};
use crate::rawio::RawError;
use crate::target::{Family, Interval, TargetSet};

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
    /// ARP who-has, for IPv4 targets on a directly connected Ethernet link (`-PR`): it
    /// replaces the IP probes there (see [`crate::onlink`]).
    Arp,
    /// IPv6 neighbour solicitation, for IPv6 targets on a directly connected Ethernet link: it
    /// replaces the IP probes there.
    Nd,
}

impl Probe {
    /// Whether this probe asks the link (ARP, neighbour solicitation) rather than the host's IP
    /// stack.
    pub fn is_link(&self) -> bool {
        matches!(self, Probe::Arp | Probe::Nd)
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Echo => f.write_str("icmp-echo"),
            Probe::Timestamp => f.write_str("icmp-ts"),
            Probe::Syn(p) => write!(f, "syn:{p}"),
            Probe::Ack(p) => write!(f, "ack:{p}"),
            Probe::Arp => f.write_str("arp"),
            Probe::Nd => f.write_str("nd"),
        }
    }
}

/// nmap's default discovery probes (as root): ARP and neighbour solicitation for targets on a
/// directly connected Ethernet link; ICMP echo, SYN to 443, ACK to 80, ICMP timestamp for the
/// others.
pub const DEFAULT_PROBES: &str = "arp,nd,icmp-echo,syn:443,ack:80,icmp-ts";

/// The ports the unprivileged fallback connects to.
pub const CONNECT_PORTS: [u16; 2] = [80, 443];

/// At most this many of this host's own addresses among the targets are listed as hosts up
/// (`localhost-response`); more (a scan of all of 127.0.0.0/8) are still scanned, but listed
/// only where a port answers.
pub const LOCAL_LISTED: u128 = 1 << 16;

/// This host's own addresses: loopback (127.0.0.0/8, ::1) and every address of a local
/// interface (read by netlink), sorted and disjoint. A target among them is up without a
/// probe (nmap's `localhost-response`). When the interfaces cannot be read, loopback only and
/// why.
pub fn own_addresses() -> (Vec<Interval>, Option<String>) {
    let mut own = vec![
        Interval {
            family: Family::V4,
            lo: 0x7f00_0000,
            hi: 0x7fff_ffff,
        },
        Interval {
            family: Family::V6,
            lo: 1,
            hi: 1,
        },
    ];
    let mut why = None;
    for v6 in [false, true] {
        match crate::netlink::addresses(v6) {
            Ok(a) => own.extend(a.iter().map(|a| Interval::single(a.addr))),
            Err(e) => why = Some(e.to_string()),
        }
    }
    (crate::target::normalize(own), why)
}

/// The hosts up without a probe: the first [`LOCAL_LISTED`] addresses of `local`.
pub fn local_hosts(local: &[Interval]) -> Vec<HostUp> {
    local
        .iter()
        .flat_map(|iv| (0..iv.size()).filter_map(move |i| iv.nth(i)))
        .take(LOCAL_LISTED as usize)
        .map(|addr| HostUp {
            addr,
            reason: Reason::LocalhostResponse,
            rtt: None,
            ttl: None,
        })
        .collect()
}

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
    #[error(transparent)]
    Targets(#[from] crate::target::TargetError),
}

/// Parse a probe list: comma-separated `arp` (`PR`), `nd` (`icmp6-ns`), `icmp-echo` (or `echo`,
/// `PE`), `icmp-ts` (`timestamp`, `PP`), `syn[:PORT]` (`PS`, default 443), `ack[:PORT]` (`PA`,
/// default 80). Duplicates are dropped; the order is kept.
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
            ("arp" | "pr", None) => Probe::Arp,
            ("nd" | "icmp6-ns", None) => Probe::Nd,
            _ => {
                return Err(DiscoveryError::BadProbe(format!(
                    "unknown probe {item:?}: use arp, nd, icmp-echo, icmp-ts, syn[:PORT], \
                     ack[:PORT] (e.g. --discovery {DEFAULT_PROBES})"
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
    /// Live hosts, sorted by address (this host's own addresses among the targets with reason
    /// `localhost-response`, at most [`LOCAL_LISTED`] of them).
    pub hosts: Vec<HostUp>,
    /// The targets that are this host's own addresses: up without a probe.
    pub local: Vec<Interval>,
    /// How many targets were probed (the others are this host's own).
    pub probed: u64,
    /// The probes that ran (`arp,nd,icmp-echo,...`, `connect:80,443`), or `localhost` when
    /// every target was this host's own address.
    pub method: String,
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
            ..Default::default()
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

/// Raw, stateless discovery with `probes` (needs `CAP_NET_RAW`): ARP / neighbour solicitation
/// ([`crate::onlink`]) for the targets on a directly connected Ethernet link when `probes` has
/// `arp` / `nd`, then the raw engine with the IP probes, `cfg`'s rate, windows, timeouts,
/// retries and sending path for the other targets.
pub fn run_raw(
    targets: &TargetSet,
    probes: &[Probe],
    cfg: &RawConfig,
    seed: u64,
    status: &mut dyn FnMut(&Status),
    stop: Arc<AtomicBool>,
) -> Result<Discovered, DiscoveryError> {
    let ip_probes: Vec<Probe> = probes.iter().copied().filter(|p| !p.is_link()).collect();
    let want = |f: Family| match f {
        Family::V4 => probes.contains(&Probe::Arp),
        Family::V6 => probes.contains(&Probe::Nd),
    };
    let mut notices = Vec::new();
    let mut split = onlink::Split {
        jobs: Vec::new(),
        rest: targets.intervals().to_vec(),
    };
    if probes.iter().any(Probe::is_link) {
        match onlink::split(targets.intervals(), cfg.interface.as_deref()) {
            Ok(s) => split = s,
            Err(e) => notices.push(format!(
                "cannot read this host's addresses ({e}): no ARP / neighbour discovery, every \
                 target gets the IP probes"
            )),
        }
    }
    // On-link targets of a family whose link probe was not asked for go back to the IP probes.
    let (jobs, other): (Vec<_>, Vec<_>) = split.jobs.into_iter().partition(|j| want(j.family));
    let mut rest = split.rest;
    for j in other {
        rest.extend(j.intervals);
    }
    let mut up: HashMap<IpAddr, HostUp> = HashMap::new();
    let mut stats = ScanStats::default();
    let lcfg = onlink::LinkConfig {
        rate: if cfg.max_rate.is_finite() {
            cfg.max_rate
        } else {
            onlink::DEFAULT_RATE
        },
        // Link requests are few and cheap: silent addresses are always asked twice.
        retries: cfg.retries.max(1),
        wait: onlink::LinkConfig::default().wait.min(cfg.max_timeout),
    };
    for job in &jobs {
        let f = match onlink::run(job, &lcfg, status, &stop) {
            Ok(f) => f,
            Err(e @ RawError::Permission(_)) => return Err(e.into()),
            Err(e) => {
                // A link that cannot be used (down, gone): its targets get the IP probes.
                notices.push(format!(
                    "ARP / neighbour discovery on {} failed ({e}): its {} targets get the IP \
                     probes",
                    job.ifname,
                    job.len()
                ));
                rest.extend(job.intervals.iter().copied());
                continue;
            }
        };
        add(&mut stats, &f.stats);
        for h in f.hosts {
            up.entry(h.addr).or_insert(h);
        }
    }
    let mut raw_stats = None;
    let rest = if rest.is_empty() {
        None
    } else {
        Some(TargetSet::from_intervals(rest, Vec::new(), Vec::new())?)
    };
    match (&rest, ip_probes.is_empty()) {
        (Some(rest), false) => {
            let n = u16::try_from(ip_probes.len())
                .map_err(|_| DiscoveryError::BadProbe("too many probes".into()))?;
            let (ports, plan) = job_parts(rest, PortSet::from_ports((1..=n).collect()), seed)?;
            let job = Job {
                targets: rest,
                ports: &ports,
                plan: &plan,
                positions: 0..plan.len(),
                progress: Progress::new(0, &[]),
            };
            let mut c = cfg.clone();
            c.kind = RawKind::Discovery;
            c.discovery = ip_probes;
            let mut sink = Collect {
                up: HashMap::new(),
                status,
                notices: Vec::new(),
            };
            let st = raw::run(job, &c, &mut sink, stop)?;
            notices.append(&mut sink.notices);
            for (a, h) in sink.up {
                up.entry(a).or_insert(h);
            }
            add(&mut stats, &st.scan);
            raw_stats = Some(st);
        }
        (Some(rest), true) => {
            notices.push(format!(
                "{} targets are not on a directly connected Ethernet link (or are this host's \
                 own addresses), so ARP / neighbour solicitation cannot reach them: not probed, \
                 reported down; add IP probes for them (e.g. --discovery {DEFAULT_PROBES})",
                rest.len()
            ));
            if cfg.drop_privileges {
                crate::rawio::drop_privileges();
            }
        }
        (None, _) => {
            if cfg.drop_privileges {
                crate::rawio::drop_privileges();
            }
        }
    }
    let mut hosts: Vec<HostUp> = up.into_values().collect();
    hosts.sort_by_key(|h| h.addr);
    stats.planned = stats.planned.max(stats.completed);
    let method = probes
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    Ok(Discovered {
        hosts,
        stats,
        raw: raw_stats,
        notices,
        method,
        ..Default::default()
    })
}

/// Add one part's counts to the whole.
fn add(a: &mut ScanStats, b: &ScanStats) {
    a.planned += b.planned;
    a.completed += b.completed;
    a.sent += b.sent;
    a.retries += b.retries;
    a.open += b.open;
    a.closed += b.closed;
    a.filtered += b.filtered;
    a.interrupted |= b.interrupted;
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
    let method = format!(
        "connect:{}",
        ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
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
    let mut d = sink.finish(st, None);
    d.method = method;
    Ok(d)
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
                Probe::Arp,
                Probe::Nd,
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
            "arp:1",
            "nd:2",
        ] {
            let e = parse_probes(bad).unwrap_err().to_string();
            assert!(e.starts_with("--discovery"), "{bad}: {e}");
        }
        assert_eq!(
            parse_probes("arp,PR,nd,icmp6-ns").unwrap(),
            vec![Probe::Arp, Probe::Nd]
        );
        assert!(Probe::Arp.is_link() && Probe::Nd.is_link() && !Probe::Echo.is_link());
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

    #[test]
    fn own_addresses_hold_loopback_and_list_at_most_the_cap() {
        let (own, _) = own_addresses();
        for a in ["127.0.0.1", "127.255.255.254", "::1"] {
            let a: IpAddr = a.parse().unwrap();
            let i = Interval::single(a);
            assert!(
                own.iter()
                    .any(|o| o.family == i.family && o.lo <= i.lo && i.hi <= o.hi),
                "{a}"
            );
        }
        let all = local_hosts(&own);
        assert_eq!(all.len() as u128, LOCAL_LISTED);
        assert!(all
            .iter()
            .all(|h| h.reason == Reason::LocalhostResponse && h.rtt.is_none()));
        let one = local_hosts(&[Interval::single("10.9.9.9".parse().unwrap())]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].addr, "10.9.9.9".parse::<IpAddr>().unwrap());
    }
}
