//! Rules → disjoint flows.
//!
//! A policy's rules overlap (`internet` is `0.0.0.0/0` and holds `office`; `8000-8100`
//! holds `8080`) and apply first-match. Firewalls that look a packet up in a set or a
//! verdict map need the opposite: elements that never overlap, so that the lookup is one
//! step whatever the number of rules and the order does not matter. This module computes that
//! partition, in the spirit of Batfish's header-space classes:
//!
//! 1. cut the destination addresses and each protocol's ports into *atoms*: the pieces
//!    between every boundary a rule's `to` or service draws;
//! 2. for each (destination atom, service atom), list the rules that apply, in order, and cut
//!    the source addresses of those rules only into atoms; each source atom belongs to the
//!    first rule that holds it (first match), the others overlap it;
//! 3. merge neighbours that end the same way (same verdict), first along sources, then
//!    destinations, then ports.
//!
//! The result is a list of [`Element`]s — (source range, destination range, service) →
//! verdict — equivalent to the rules read top to bottom, with no two elements overlapping.
//! Its size grows with the number of distinct (host, service) pairs, never with their
//! product with the number of zones.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use portolan_registry::Protocol;

use crate::addr::{Family, Range};
use crate::model::{Policy, Service};

/// What a matching packet gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Plain accept (a rule without log or rate).
    Accept,
    /// The rule with this index (0-based into `Policy::rules`) decides: it logs or rate-limits
    /// (or, in [`by_rule`] mode, every rule keeps its identity).
    Rule(usize),
}

/// One disjoint flow class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Element {
    pub family: Family,
    pub src: Range,
    pub dst: Range,
    pub service: Service,
    pub verdict: Verdict,
}

/// The partition, and what it showed about the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    pub elements: Vec<Element>,
    /// Per rule: does it have any flow at all (a source and a destination of one family)?
    pub has_flows: Vec<bool>,
    /// Per rule: is it the first match for at least one flow?
    pub first_match: Vec<bool>,
    /// (earlier, later) rules that both match some flow.
    pub overlaps: BTreeSet<(usize, usize)>,
}

/// The forwarding view: every rule, every destination.
pub fn gateway(p: &Policy) -> Compiled {
    // Merging neighbours is greedy (sources, then destinations, then ports), so merging across
    // rules can now and then cut the space into more pieces than keeping the rules apart does
    // (found by the `partition_equals_first_match` property). Both are exact; keep the smaller.
    // One pass computes both: the atoms, the rule index and each source atom's first match
    // are shared, only the merging runs once per labelling.
    let [merged, exact] = build(p, None, [false, true]);
    if merged.elements.len() <= exact.elements.len() {
        return merged;
    }
    accept_plain(p, exact)
}

/// A [`by_rule`] partition with the verdicts of [`gateway`]: a rule without options accepts.
fn accept_plain(p: &Policy, mut c: Compiled) -> Compiled {
    for e in &mut c.elements {
        if let Verdict::Rule(r) = e.verdict {
            if !p.rules.get(r).is_some_and(|r| r.has_options()) {
                e.verdict = Verdict::Accept;
            }
        }
    }
    c
}

/// The view of one host: only flows whose destination is `addr`.
pub fn host(p: &Policy, addr: IpAddr) -> Compiled {
    let [c] = build(p, Some(addr), [false]);
    c
}

/// The outgoing view of one host: the flows whose source is `addr` (rules whose `from` holds
/// it), each with `addr` as its source. The forwarding partition restricted to one source, so
/// still disjoint.
pub fn host_out(p: &Policy, addr: IpAddr) -> Compiled {
    let mut c = gateway(p);
    let me = Range::addr(addr);
    c.elements.retain(|e| e.src.contains(addr));
    for e in &mut c.elements {
        e.src = me;
    }
    c.elements.sort();
    c.elements.dedup();
    c
}

/// Like [`gateway`], but every element keeps the rule that decides it (for lint and checks).
pub fn by_rule(p: &Policy) -> Compiled {
    let [c] = build(p, None, [true]);
    c
}

/// (service atom, source lo, hi, verdict) → destination atoms: one family's source partition.
type BySrc = BTreeMap<(SvcAtom, u128, u128, Verdict), Vec<usize>>;

/// (protocol, source lo, hi, destination lo, hi, verdict): elements that differ only in ports.
type PortKey = (Option<Protocol>, u128, u128, u128, u128, Verdict);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SvcAtom {
    Port(Protocol, usize),
    Echo,
}

/// Atoms over an integer line: sorted starts; atom i is [starts[i], starts[i+1]-1], the last
/// one reaching `max`.
struct Atoms {
    starts: Vec<u128>,
    max: u128,
}

impl Atoms {
    fn new(ranges: impl Iterator<Item = (u128, u128)>, max: u128) -> Atoms {
        let mut starts = Vec::new();
        for (lo, hi) in ranges {
            starts.push(lo);
            if hi < max {
                starts.push(hi + 1);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        Atoms { starts, max }
    }

    /// Indices of the atoms inside [lo, hi] (boundaries of [lo, hi] are atom boundaries).
    fn within(&self, lo: u128, hi: u128) -> std::ops::Range<usize> {
        let a = self.starts.partition_point(|&s| s < lo);
        let b = self.starts.partition_point(|&s| s <= hi);
        a..b
    }

    fn get(&self, i: usize) -> (u128, u128) {
        let lo = self.starts.get(i).copied().unwrap_or(self.max);
        let hi = self
            .starts
            .get(i + 1)
            .map_or(self.max, |&next| next.saturating_sub(1));
        (lo, hi)
    }
}

/// The partition, once per labelling in `by_rule` (`true`: every element keeps its rule;
/// `false`: a rule without options accepts, so neighbours of different rules merge). The
/// labellings share everything but the merging: atoms, rule index, first matches, overlaps.
fn build<const N: usize>(
    p: &Policy,
    dst_only: Option<IpAddr>,
    by_rule: [bool; N],
) -> [Compiled; N] {
    #[cfg(test)]
    tests::PASSES.with(|c| c.set(c.get() + 1));
    let n = p.rules.len();
    let mut elements: [Vec<Element>; N] = std::array::from_fn(|_| Vec::new());
    let mut out = Compiled {
        elements: Vec::new(),
        has_flows: vec![false; n],
        first_match: vec![false; n],
        overlaps: BTreeSet::new(),
    };
    let services: Vec<Vec<Service>> = p.rules.iter().map(|r| r.services()).collect();
    let cache = crate::model::RangeCache::new(p);
    // Port atoms per protocol.
    let mut port_ranges: BTreeMap<Protocol, Vec<(u128, u128)>> = BTreeMap::new();
    for s in services.iter().flatten() {
        if let Service::Ports { proto, lo, hi } = *s {
            port_ranges
                .entry(proto)
                .or_default()
                .push((lo as u128, hi as u128));
        }
    }
    let port_atoms: BTreeMap<Protocol, Atoms> = port_ranges
        .into_iter()
        .map(|(p, v)| (p, Atoms::new(v.into_iter(), u16::MAX as u128)))
        .collect();
    let svc_atoms = |s: &Service| -> Vec<SvcAtom> {
        match *s {
            Service::IcmpEcho => vec![SvcAtom::Echo],
            Service::Ports { proto, lo, hi } => port_atoms
                .get(&proto)
                .map(|a| {
                    a.within(lo as u128, hi as u128)
                        .map(|i| SvcAtom::Port(proto, i))
                        .collect()
                })
                .unwrap_or_default(),
        }
    };
    let label = |by_rule: bool, r: usize| -> Verdict {
        if by_rule || p.rules.get(r).is_some_and(|r| r.has_options()) {
            Verdict::Rule(r)
        } else {
            Verdict::Accept
        }
    };

    for family in Family::BOTH {
        let src: Vec<Vec<Range>> = p
            .rules
            .iter()
            .map(|r| {
                cache
                    .get(&r.from)
                    .into_iter()
                    .filter(|x| x.family == family)
                    .collect()
            })
            .collect();
        let dst: Vec<Vec<Range>> = p
            .rules
            .iter()
            .map(|r| {
                let to = cache.get(&r.to);
                match dst_only {
                    Some(a) => {
                        if to.iter().any(|x| x.contains(a)) && Range::addr(a).family == family {
                            vec![Range::addr(a)]
                        } else {
                            Vec::new()
                        }
                    }
                    None => to.into_iter().filter(|x| x.family == family).collect(),
                }
            })
            .collect();
        let live: Vec<bool> = (0..n)
            .map(|r| !src[r].is_empty() && !dst[r].is_empty())
            .collect();
        let dst_atoms = Atoms::new(
            (0..n)
                .filter(|&r| live[r])
                .flat_map(|r| dst[r].iter().map(|x| (x.lo, x.hi))),
            family.max(),
        );
        let mut index: BTreeMap<(usize, SvcAtom), Vec<usize>> = BTreeMap::new();
        for r in 0..n {
            if !live[r] {
                continue;
            }
            let svcs: Vec<SvcAtom> = services[r].iter().flat_map(&svc_atoms).collect();
            if svcs.is_empty() {
                continue;
            }
            out.has_flows[r] = true;
            for d in &dst[r] {
                for da in dst_atoms.within(d.lo, d.hi) {
                    for &sa in &svcs {
                        let v = index.entry((da, sa)).or_default();
                        if v.last() != Some(&r) {
                            v.push(r);
                        }
                    }
                }
            }
        }
        // Source partition per (destination atom, service atom), per labelling.
        let mut by_src: [BySrc; N] = std::array::from_fn(|_| BTreeMap::new());
        for ((da, sa), rules) in &index {
            let src_atoms = Atoms::new(
                rules
                    .iter()
                    .flat_map(|&r| src[r].iter().map(|x| (x.lo, x.hi))),
                family.max(),
            );
            let mut run: [Option<(usize, u128, u128, Verdict)>; N] = [None; N];
            for i in 0..src_atoms.starts.len() {
                let (lo, hi) = src_atoms.get(i);
                let mut holders = rules
                    .iter()
                    .copied()
                    .filter(|&r| src[r].iter().any(|x| x.lo <= lo && hi <= x.hi));
                let Some(first) = holders.next() else {
                    for (run, by_src) in run.iter_mut().zip(by_src.iter_mut()) {
                        if let Some((_, l, h, v)) = run.take() {
                            by_src.entry((*sa, l, h, v)).or_default().push(*da);
                        }
                    }
                    continue;
                };
                for other in holders {
                    out.overlaps.insert((first, other));
                }
                out.first_match[first] = true;
                for k in 0..N {
                    let v = label(by_rule[k], first);
                    run[k] = match run[k] {
                        Some((last, l, _, rv)) if rv == v && last + 1 == i => Some((i, l, hi, v)),
                        Some((_, l, h, rv)) => {
                            by_src[k].entry((*sa, l, h, rv)).or_default().push(*da);
                            Some((i, lo, hi, v))
                        }
                        None => Some((i, lo, hi, v)),
                    };
                }
            }
            for (run, by_src) in run.iter().zip(by_src.iter_mut()) {
                if let Some((_, l, h, v)) = *run {
                    by_src.entry((*sa, l, h, v)).or_default().push(*da);
                }
            }
        }
        for (by_src, elements) in by_src.into_iter().zip(elements.iter_mut()) {
            merge_dst_and_ports(family, by_src, &dst_atoms, &port_atoms, elements);
        }
    }
    elements.map(|mut e| {
        e.sort();
        Compiled {
            elements: e,
            ..out.clone()
        }
    })
}

/// Merge destination atoms, then port atoms, of one family's source partition into elements.
fn merge_dst_and_ports(
    family: Family,
    by_src: BySrc,
    dst_atoms: &Atoms,
    port_atoms: &BTreeMap<Protocol, Atoms>,
    elements: &mut Vec<Element>,
) {
    let range = |lo: u128, hi: u128| Range { family, lo, hi };
    let mut by_port: BTreeMap<PortKey, Vec<usize>> = BTreeMap::new();
    for ((sa, slo, shi, v), atoms) in by_src {
        for (dlo, dhi) in merge_runs(&atoms, dst_atoms) {
            match sa {
                SvcAtom::Echo => elements.push(Element {
                    family,
                    src: range(slo, shi),
                    dst: range(dlo, dhi),
                    service: Service::IcmpEcho,
                    verdict: v,
                }),
                SvcAtom::Port(proto, pa) => by_port
                    .entry((Some(proto), slo, shi, dlo, dhi, v))
                    .or_default()
                    .push(pa),
            }
        }
    }
    for ((proto, slo, shi, dlo, dhi, v), atoms) in by_port {
        let (Some(proto), Some(pat)) = (proto, proto.and_then(|p| port_atoms.get(&p))) else {
            continue;
        };
        for (plo, phi) in merge_runs(&atoms, pat) {
            elements.push(Element {
                family,
                src: range(slo, shi),
                dst: range(dlo, dhi),
                service: Service::Ports {
                    proto,
                    lo: plo as u16,
                    hi: phi as u16,
                },
                verdict: v,
            });
        }
    }
}

/// Runs of consecutive atom indices, as (lo, hi) values.
fn merge_runs(idx: &[usize], atoms: &Atoms) -> Vec<(u128, u128)> {
    let mut sorted = idx.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some((_, b)) if *b + 1 == i => *b = i,
            _ => out.push((i, i)),
        }
    }
    out.into_iter()
        .map(|(a, b)| (atoms.get(a).0, atoms.get(b).1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Passes of [`build`] on this thread.
        pub(super) static PASSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Regression: `gateway` partitioned the flows twice (merged, then by rule) to keep the
    /// smaller; one pass now gives both.
    #[test]
    fn the_gateway_view_partitions_once() {
        let yaml = "
zones:
  office: { networks: [10.30.0.0/16] }
  dmz:    { networks: [10.20.0.0/24] }
rules:
  - { from: office, to: dmz, allow: [8080], log: true }
  - { from: office, to: dmz, allow: [ssh, 8000-8100] }
default: deny
";
        let p = Policy::parse(yaml, portolan_registry::Registry::embedded()).unwrap();
        let before = PASSES.with(|c| c.get());
        let g = gateway(&p);
        assert_eq!(PASSES.with(|c| c.get()) - before, 1);
        assert!(!g.elements.is_empty());
        // 8080 logs (rule 0); ssh and the rest of 8000-8100 accept.
        assert!(g.elements.iter().any(|e| e.verdict == Verdict::Rule(0)));
        assert!(g.elements.iter().any(|e| e.verdict == Verdict::Accept));
    }
}
