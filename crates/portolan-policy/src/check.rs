//! `policy check`: what was seen open, against what the policy allows.
//!
//! - **violation** (high): a port seen open that no rule allows to reach from the vantage
//!   point (the zone, host or address the scan ran from; without one, from anywhere).
//! - **stale** (low): a service a rule allows to a named host, on a host and ports the scan
//!   covered, that was never seen open: the firewall opens a port for nothing (remove the rule
//!   or start the service).
//!
//! Zone destinations are not checked for staleness (a zone's addresses cannot be enumerated
//! meaningfully); only rules whose `to` is a host are.

use std::net::IpAddr;

use portolan_registry::risk::Severity;
use portolan_registry::Protocol;
use serde::Serialize;

use crate::addr::Range;
use crate::compile::{self, Verdict};
use crate::model::{Endpoint, Policy, Service};

/// One port seen open (or listening).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Observed {
    pub addr: IpAddr,
    pub proto: Protocol,
    pub port: u16,
}

/// What the observation covered: which addresses, and which ports of which protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Addresses that were probed.
    pub hosts: Vec<IpAddr>,
    /// (protocol, lo, hi) port ranges that were probed on each of them.
    pub ports: Vec<(Protocol, u16, u16)>,
}

impl Scope {
    fn covers(&self, addr: IpAddr, proto: Protocol, lo: u16, hi: u16) -> bool {
        self.hosts.contains(&addr)
            && (lo..=hi).all(|p| {
                self.ports
                    .iter()
                    .any(|&(pp, a, b)| pp == proto && a <= p && p <= b)
            })
    }
}

/// Where the traffic comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vantage {
    /// Any source a rule names.
    Anywhere,
    /// These addresses (a zone's networks, a host, an address).
    From(Vec<Range>),
}

impl Vantage {
    /// A zone or host of the policy, or an address.
    pub fn parse(p: &Policy, s: &str) -> Result<Vantage, String> {
        if p.zones.contains_key(s) {
            return Ok(Vantage::From(p.ranges(&Endpoint::Zone(s.into()))));
        }
        if p.hosts.contains_key(s) {
            return Ok(Vantage::From(p.ranges(&Endpoint::Host(s.into()))));
        }
        if let Ok(r) = crate::addr::parse_net(s) {
            return Ok(Vantage::From(vec![r]));
        }
        Err(format!(
            "--from {s:?}: not a zone or host of the policy, nor an address; give the zone, host or address the scan ran from"
        ))
    }

    fn overlaps(&self, src: &Range) -> bool {
        match self {
            Vantage::Anywhere => true,
            Vantage::From(v) => v
                .iter()
                .any(|r| r.family == src.family && r.lo <= src.hi && src.lo <= r.hi),
        }
    }
}

/// One check finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckFinding {
    pub severity: Severity,
    /// `violation` or `stale`.
    pub code: &'static str,
    pub addr: IpAddr,
    pub proto: Protocol,
    /// The port (the first of the range for a stale range).
    pub port: u16,
    /// The policy host with that address, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The rule concerned (1-based; stale findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    pub message: String,
    pub fix: String,
}

/// Check what was seen open against the policy. Findings: violations first, then stale,
/// each sorted by address and port.
pub fn check(p: &Policy, open: &[Observed], scope: &Scope, vantage: &Vantage) -> Vec<CheckFinding> {
    let compiled = compile::by_rule(p);
    let host_name = |a: IpAddr| {
        p.hosts
            .iter()
            .find(|(_, h)| h.address == a)
            .map(|(n, _)| n.clone())
    };
    let cache = crate::model::RangeCache::new(p);
    let mut out = Vec::new();
    let mut seen: Vec<Observed> = open.to_vec();
    seen.sort();
    seen.dedup();
    for o in &seen {
        let allowed_by = compiled.elements.iter().find_map(|e| {
            let svc_ok = matches!(e.service, Service::Ports { proto, lo, hi } if proto == o.proto && lo <= o.port && o.port <= hi);
            (svc_ok && e.dst.contains(o.addr) && vantage.overlaps(&e.src)).then_some(e.verdict)
        });
        if allowed_by.is_none() {
            let name = host_name(o.addr);
            out.push(CheckFinding {
                severity: Severity::High,
                code: "violation",
                addr: o.addr,
                proto: o.proto,
                port: o.port,
                message: format!(
                    "{}:{}/{} is open{} but no rule allows it{}",
                    o.addr,
                    o.port,
                    o.proto,
                    name.as_ref().map_or(String::new(), |n| format!(" (host {n})")),
                    match vantage {
                        Vantage::Anywhere => " from anywhere",
                        Vantage::From(_) => " from where the scan ran",
                    }
                ),
                fix: "stop the service or bind it to loopback, block the port, or add a rule if it is needed".into(),
                host: name,
                rule: None,
            });
        }
    }
    for r in &p.rules {
        let Endpoint::Host(h) = &r.to else { continue };
        let Some(addr) = p.host(h).map(|h| h.address) else {
            continue;
        };
        if let Vantage::From(_) = vantage {
            if !cache.get(&r.from).iter().any(|s| vantage.overlaps(s)) {
                continue;
            }
        }
        // Only rules that decide some flow (a shadowed rule is lint's business).
        if !compiled
            .elements
            .iter()
            .any(|e| e.verdict == Verdict::Rule(r.number - 1))
        {
            continue;
        }
        for s in r.services() {
            let Service::Ports { proto, lo, hi } = s else {
                continue;
            };
            if !scope.covers(addr, proto, lo, hi) {
                continue;
            }
            let any_open = seen
                .iter()
                .any(|o| o.addr == addr && o.proto == proto && lo <= o.port && o.port <= hi);
            if !any_open {
                out.push(CheckFinding {
                    severity: Severity::Low,
                    code: "stale",
                    addr,
                    proto,
                    port: lo,
                    host: Some(h.clone()),
                    rule: Some(r.number),
                    message: format!(
                        "rule {} allows {s} to {h} ({addr}) but nothing was seen open there",
                        r.number
                    ),
                    fix: format!(
                        "remove {s} from rule {} if the service is gone, or start it",
                        r.number
                    ),
                });
            }
        }
    }
    out
}
