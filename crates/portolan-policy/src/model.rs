//! The policy's types, once parsed and resolved: every name a rule uses is known, every
//! service is resolved to port ranges through the registry.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use portolan_registry::Protocol;

use crate::addr::{self, Family, Range};

/// A whole policy: named zones and hosts, ordered rules, and the default for everything else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub zones: BTreeMap<String, Zone>,
    pub hosts: BTreeMap<String, Host>,
    pub rules: Vec<Rule>,
    /// What happens to traffic no rule allows: `deny` (drop) or `reject`. There is no
    /// accept: a least-privilege policy that accepts by default is not one.
    pub default: Default,
    /// What happens to connections a host of the policy *opens* that no rule allows (rules
    /// whose `from` holds the host): `None` (`egress: allow`, the default) leaves a host's
    /// outgoing traffic alone; `deny` or `reject` makes `firewall generate --host` filter the
    /// output hook too.
    pub egress: Option<Default>,
}

/// A zone: the networks it is made of. Hosts that name the zone belong to it too.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Zone {
    pub networks: Vec<Range>,
}

/// A named host with its address and zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub address: IpAddr,
    pub zone: String,
}

/// What a rule's `from` or `to` names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `any`: every IPv4 and IPv6 address.
    Any,
    Zone(String),
    Host(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Any => f.write_str("any"),
            Endpoint::Zone(n) | Endpoint::Host(n) => f.write_str(n),
        }
    }
}

/// One allowed service, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// A port or an inclusive range of ports on one transport protocol.
    Ports { proto: Protocol, lo: u16, hi: u16 },
    /// ICMP echo request (ping), IPv4 and IPv6 (`icmp-echo`).
    IcmpEcho,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::Ports { proto, lo, hi } if lo == hi => write!(f, "{lo}/{proto}"),
            Service::Ports { proto, lo, hi } => write!(f, "{lo}-{hi}/{proto}"),
            Service::IcmpEcho => f.write_str("icmp-echo"),
        }
    }
}

/// A service as the user wrote it (`ssh`, `53/udp`) and what it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRef {
    pub spec: String,
    pub resolved: Vec<Service>,
}

/// A rate limit on new connections from one source address (`200/second`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: u32,
    pub unit: RateUnit,
}

/// The unit of a [`Rate`], as nftables and iptables spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.unit.as_str())
    }
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || {
            format!(
                "{s:?} is not a rate: write COUNT/UNIT with UNIT second, minute, hour or day \
                 (e.g. 200/second)"
            )
        };
        let (n, u) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!(
                "{s:?}: a rate of 0 allows nothing; remove the rule instead"
            ));
        }
        let unit = match u.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" | "seconds" => RateUnit::Second,
            "m" | "min" | "minute" | "minutes" => RateUnit::Minute,
            "h" | "hour" | "hours" => RateUnit::Hour,
            "d" | "day" | "days" => RateUnit::Day,
            _ => return Err(bad()),
        };
        Ok(Rate { count, unit })
    }
}

/// One rule: traffic from `from` to `to` on the `allow` services is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// 1-based position in the file, as people count rules.
    pub number: usize,
    pub from: Endpoint,
    pub to: Endpoint,
    pub allow: Vec<ServiceRef>,
    /// Log every new connection the rule accepts.
    pub log: bool,
    /// Accept at most this many new connections **per source address** (the rest fall
    /// through to later rules and the default).
    pub rate: Option<Rate>,
    /// Free text, copied into generated rules as a comment.
    pub comment: Option<String>,
}

impl Rule {
    /// Every resolved service, in order, without repeats.
    pub fn services(&self) -> Vec<Service> {
        let mut v: Vec<Service> = Vec::new();
        for s in self.allow.iter().flat_map(|s| s.resolved.iter()) {
            if !v.contains(s) {
                v.push(*s);
            }
        }
        v
    }

    /// Does the rule do more than accept (log or rate limit)?
    pub fn has_options(&self) -> bool {
        self.log || self.rate.is_some()
    }
}

/// The default verdict: what happens to traffic no rule allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// Drop silently (`default: deny`, or `drop`).
    Deny,
    /// Refuse at once (`default: reject`): a TCP reset for TCP, an ICMP administratively
    /// prohibited message otherwise — clients fail fast instead of timing out, at the cost of
    /// telling a scanner that a filter is there.
    Reject,
}

impl Policy {
    /// The addresses an endpoint stands for, merged and sorted (IPv4 first). A zone is its
    /// networks plus the addresses of the hosts that name it.
    pub fn ranges(&self, e: &Endpoint) -> Vec<Range> {
        match e {
            Endpoint::Any => Family::BOTH
                .iter()
                .map(|&family| Range {
                    family,
                    lo: 0,
                    hi: family.max(),
                })
                .collect(),
            Endpoint::Host(h) => self
                .hosts
                .get(h)
                .map(|h| vec![Range::addr(h.address)])
                .unwrap_or_default(),
            Endpoint::Zone(z) => {
                let mut v = self
                    .zones
                    .get(z)
                    .map(|z| z.networks.clone())
                    .unwrap_or_default();
                v.extend(
                    self.hosts
                        .values()
                        .filter(|h| &h.zone == z)
                        .map(|h| Range::addr(h.address)),
                );
                addr::normalize(v)
            }
        }
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name)
    }
}

/// [`Policy::ranges`] computed once per endpoint: a zone's ranges take a pass over all hosts,
/// and 10,000 rules naming one zone must not take 10,000 passes.
pub struct RangeCache<'p> {
    policy: &'p Policy,
    memo: std::cell::RefCell<std::collections::HashMap<Endpoint, Vec<Range>>>,
}

impl<'p> RangeCache<'p> {
    pub fn new(policy: &'p Policy) -> RangeCache<'p> {
        RangeCache {
            policy,
            memo: std::default::Default::default(),
        }
    }

    /// The ranges of `e` (see [`Policy::ranges`]).
    pub fn get(&self, e: &Endpoint) -> Vec<Range> {
        if let Some(v) = self.memo.borrow().get(e) {
            return v.clone();
        }
        let v = self.policy.ranges(e);
        self.memo.borrow_mut().insert(e.clone(), v.clone());
        v
    }
}
