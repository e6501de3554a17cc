//! Drift between a live ruleset and a policy: the flows the ruleset accepts that the policy
//! does not allow (`drift-extra`, high), and the flows the policy allows that the ruleset drops
//! (`drift-missing`, medium).
//!
//! Both sides are constant between the boundaries they draw (every address, port and range a
//! policy rule or a ruleset expression names), so one packet per class — the product of the
//! source, destination and service boundaries of both — is enough to find every difference the
//! evaluator understands (see [`crate::eval`]). Above [`MAX_PACKETS`] classes (very large
//! policies), the packets are the corners of every policy flow and every source boundary
//! towards every policy destination, and the result says it was sampled.
//!
//! The evidence is the rule of the ruleset that decided (`inet filter input handle 7`, or a
//! chain's policy), so `nft -a list ruleset` shows it and `nft delete rule ... handle N`
//! removes it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use portolan_policy::addr::Family;
use portolan_policy::compile::{self, Verdict};
use portolan_policy::{Policy, Service};
use portolan_registry::risk::Severity;
use portolan_registry::Protocol;

use crate::audit::{AuditError, AuditFinding};
use crate::eval::{Decision, Packet, Ruleset, L4};
use crate::Target;

/// The most packets evaluated exactly; beyond, drift is sampled.
pub const MAX_PACKETS: usize = 400_000;

/// How many example flows a finding lists.
const EXAMPLES: usize = 3;

/// The drift findings and how they were found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub findings: Vec<AuditFinding>,
    /// Packets evaluated on both sides.
    pub packets: usize,
    /// True when the policy was too large for one packet per class.
    pub sampled: bool,
}

/// Compare the ruleset `json` (`nft -j list ruleset`) with what `policy` allows for `target`
/// (a gateway: the forward hook; a host: the input hook, packets to its address).
pub fn drift(json: &str, policy: &Policy, target: &Target) -> Result<Drift, AuditError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| AuditError::NotJson(e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .ok_or(AuditError::NotNftables)?;
    let rs = Ruleset::parse(items);
    let (hook, host) = match target {
        Target::Gateway => ("forward", None),
        Target::Host(name) => (
            "input",
            Some(crate::host_addr(policy, name).map_err(|e| AuditError::Policy(e.to_string()))?),
        ),
    };
    let compiled = compile::by_rule(policy);
    let elements: Vec<&compile::Element> = compiled
        .elements
        .iter()
        .filter(|e| host.is_none_or(|a| e.dst.contains(a)))
        .collect();
    let (packets, sampled) = candidates(&rs, &elements, host);
    let mut extra: BTreeMap<String, Vec<Packet>> = BTreeMap::new();
    let mut missing: BTreeMap<(usize, String), Vec<Packet>> = BTreeMap::new();
    for pkt in &packets {
        let allowed = elements.iter().find_map(|e| allows(e, pkt));
        match (rs.decide(hook, pkt), allowed) {
            (Decision::Accept { by }, None) => extra
                .entry(by.unwrap_or_else(|| format!("hook {hook}: chain policy accept")))
                .or_default()
                .push(*pkt),
            (Decision::Drop { by }, Some(rule)) => {
                missing.entry((rule, by)).or_default().push(*pkt)
            }
            _ => {}
        }
    }
    let mut findings = Vec::new();
    for (by, pkts) in extra {
        findings.push(AuditFinding {
            severity: Severity::High,
            code: "drift-extra",
            message: format!(
                "accepts {} the policy does not allow: {}",
                flows(pkts.len(), sampled),
                examples(&pkts)
            ),
            fix: "delete or narrow the rule, or add a policy rule if the flows are needed; then regenerate (portolan firewall generate)".into(),
            evidence: by,
        });
    }
    for ((rule, by), pkts) in missing {
        let number = policy.rules.get(rule).map_or(rule + 1, |r| r.number);
        findings.push(AuditFinding {
            severity: Severity::Medium,
            code: "drift-missing",
            message: format!(
                "drops {} that policy rule {number} allows: {}",
                flows(pkts.len(), sampled),
                examples(&pkts)
            ),
            fix: format!(
                "apply the rules generated from the policy (portolan firewall generate), or remove rule {number} from the policy if the flows are no longer needed"
            ),
            evidence: by,
        });
    }
    Ok(Drift {
        findings,
        packets: packets.len(),
        sampled,
    })
}

fn flows(n: usize, sampled: bool) -> String {
    let s = if n == 1 { "" } else { "s" };
    if sampled {
        format!("at least {n} sampled flow{s}")
    } else {
        format!("{n} flow class{}", if n == 1 { "" } else { "es" })
    }
}

fn examples(p: &[Packet]) -> String {
    let mut s: Vec<String> = p.iter().take(EXAMPLES).map(|p| p.to_string()).collect();
    if p.len() > EXAMPLES {
        s.push("...".into());
    }
    s.join(", ")
}

/// The policy rule (index) that allows `pkt` through element `e`, if it does.
fn allows(e: &compile::Element, pkt: &Packet) -> Option<usize> {
    let svc_ok = match (e.service, pkt.l4) {
        (Service::Ports { proto, lo, hi }, L4::Port(p, port)) => {
            proto == p && lo <= port && port <= hi
        }
        (Service::IcmpEcho, L4::Echo) => true,
        _ => false,
    };
    if !(svc_ok && e.src.contains(pkt.src) && e.dst.contains(pkt.dst)) {
        return None;
    }
    match e.verdict {
        Verdict::Rule(i) => Some(i),
        Verdict::Accept => Some(0),
    }
}

fn family_of(a: IpAddr) -> Family {
    if a.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

fn to_ip(f: Family, v: u128) -> IpAddr {
    match f {
        Family::V4 => IpAddr::V4((v as u32).into()),
        Family::V6 => IpAddr::V6(v.into()),
    }
}

fn as_int(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => a.into(),
    }
}

/// Boundary points of a range: its ends and the addresses just outside.
fn corners(out: &mut BTreeSet<u128>, lo: u128, hi: u128, max: u128) {
    out.insert(lo);
    out.insert(hi);
    if lo > 0 {
        out.insert(lo - 1);
    }
    if hi < max {
        out.insert(hi + 1);
    }
}

/// One packet per class of the combined boundaries, or a sample when there are too many.
fn candidates(
    rs: &Ruleset,
    elements: &[&compile::Element],
    host: Option<IpAddr>,
) -> (Vec<Packet>, bool) {
    let crate::eval::Values {
        addrs: rs_addrs,
        nums: rs_nums,
    } = rs.values();
    // Services: every port boundary of both sides, on TCP and UDP, and echo.
    let mut ports: BTreeSet<u128> = BTreeSet::new();
    corners(&mut ports, 1, 65535, 65535);
    for e in elements {
        if let Service::Ports { lo, hi, .. } = e.service {
            corners(&mut ports, lo.into(), hi.into(), 65535);
        }
    }
    for &(lo, hi) in &rs_nums {
        if lo <= 65535 {
            corners(&mut ports, lo.into(), hi.min(65535).into(), 65535);
        }
    }
    let mut l4: Vec<L4> = Vec::new();
    for proto in [Protocol::Tcp, Protocol::Udp] {
        l4.extend(
            ports
                .iter()
                .filter(|&&p| p >= 1)
                .map(|&p| L4::Port(proto, p as u16)),
        );
    }
    l4.push(L4::Echo);

    let families: Vec<Family> = match host {
        Some(a) => vec![family_of(a)],
        None => Family::BOTH.to_vec(),
    };
    let mut packets = Vec::new();
    let mut total = 0usize;
    let mut per_family = Vec::new();
    for f in families {
        let mut src: BTreeSet<u128> = BTreeSet::new();
        let mut dst: BTreeSet<u128> = BTreeSet::new();
        corners(&mut src, 0, f.max(), f.max());
        for e in elements.iter().filter(|e| e.family == f) {
            corners(&mut src, e.src.lo, e.src.hi, f.max());
            corners(&mut dst, e.dst.lo, e.dst.hi, f.max());
        }
        for &(lo, hi) in &rs_addrs {
            if family_of(lo) == f && family_of(hi) == f {
                corners(&mut src, as_int(lo), as_int(hi), f.max());
                corners(&mut dst, as_int(lo), as_int(hi), f.max());
            }
        }
        match host {
            Some(a) => {
                dst.clear();
                dst.insert(as_int(a));
            }
            None => corners(&mut dst, 0, f.max(), f.max()),
        }
        total = total.saturating_add(src.len().saturating_mul(dst.len()).saturating_mul(l4.len()));
        per_family.push((f, src, dst));
    }
    if total <= MAX_PACKETS {
        for (f, src, dst) in &per_family {
            for &s in src {
                for &d in dst {
                    for &l in &l4 {
                        packets.push(Packet {
                            src: to_ip(*f, s),
                            dst: to_ip(*f, d),
                            l4: l,
                        });
                    }
                }
            }
        }
        return (packets, false);
    }
    // Sampled: the corners of every policy flow, every source boundary towards each policy
    // destination and service, and the ruleset's ports towards each destination from the
    // family's first address.
    let pkt = |f: Family, s: u128, d: u128, l: L4| Packet {
        src: to_ip(f, s),
        dst: to_ip(f, d),
        l4: l,
    };
    let svc = |s: Service, hi: bool| match s {
        Service::Ports { proto, lo, hi: h } => L4::Port(proto, if hi { h } else { lo }),
        Service::IcmpEcho => L4::Echo,
    };
    let mut seen: BTreeSet<Packet> = BTreeSet::new();
    for e in elements {
        seen.insert(pkt(e.family, e.src.lo, e.dst.lo, svc(e.service, false)));
        seen.insert(pkt(e.family, e.src.hi, e.dst.hi, svc(e.service, true)));
    }
    'outer: for (f, src, dst) in &per_family {
        for e in elements.iter().filter(|e| e.family == *f) {
            for &s in src {
                if seen.len() >= MAX_PACKETS {
                    break 'outer;
                }
                seen.insert(pkt(*f, s, e.dst.lo, svc(e.service, false)));
            }
        }
        for &d in dst {
            for &l in &l4 {
                if seen.len() >= MAX_PACKETS {
                    break 'outer;
                }
                seen.insert(pkt(*f, 0, d, l));
            }
        }
    }
    (seen.into_iter().collect(), true)
}
