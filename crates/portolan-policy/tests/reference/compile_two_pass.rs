//! The partition as it was computed before the gateway view shared one pass between its two
//! labellings (commit 937b9e1, `crates/portolan-policy/src/compile.rs`), kept verbatim as the
//! reference the shared pass must equal: `gateway` built the merged partition and the by-rule
//! one separately and kept the smaller.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use portolan_policy::addr::{Family, Range};
use portolan_policy::compile::{Compiled, Element, Verdict};
use portolan_policy::{Policy, Service};
use portolan_registry::Protocol;

/// The forwarding view: every rule, every destination.
pub fn gateway(p: &Policy) -> Compiled {
    let merged = build(p, None, false);
    // Merging neighbours is greedy (sources, then destinations, then ports), so merging across
    // rules can now and then cut the space into more pieces than keeping the rules apart does
    // (found by the `partition_equals_first_match` property). Both are exact; keep the smaller.
    let exact = build(p, None, true);
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

fn build(p: &Policy, dst_only: Option<IpAddr>, by_rule: bool) -> Compiled {
    let n = p.rules.len();
    let mut out = Compiled {
        elements: Vec::new(),
        has_flows: vec![false; n],
        first_match: vec![false; n],
        overlaps: BTreeSet::new(),
    };
    let services: Vec<Vec<Service>> = p.rules.iter().map(|r| r.services()).collect();
    let cache = portolan_policy::model::RangeCache::new(p);
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
    let label = |r: usize| -> Verdict {
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
        // Source partition per (destination atom, service atom).
        let mut by_src: BTreeMap<(SvcAtom, u128, u128, Verdict), Vec<usize>> = BTreeMap::new();
        for ((da, sa), rules) in &index {
            let src_atoms = Atoms::new(
                rules
                    .iter()
                    .flat_map(|&r| src[r].iter().map(|x| (x.lo, x.hi))),
                family.max(),
            );
            let mut run: Option<(usize, u128, u128, Verdict)> = None;
            for i in 0..src_atoms.starts.len() {
                let (lo, hi) = src_atoms.get(i);
                let mut holders = rules
                    .iter()
                    .copied()
                    .filter(|&r| src[r].iter().any(|x| x.lo <= lo && hi <= x.hi));
                let Some(first) = holders.next() else {
                    if let Some((_, l, h, v)) = run.take() {
                        by_src.entry((*sa, l, h, v)).or_default().push(*da);
                    }
                    continue;
                };
                for other in holders {
                    out.overlaps.insert((first, other));
                }
                out.first_match[first] = true;
                let v = label(first);
                run = match run {
                    Some((last, l, _, rv)) if rv == v && last + 1 == i => Some((i, l, hi, v)),
                    Some((_, l, h, rv)) => {
                        by_src.entry((*sa, l, h, rv)).or_default().push(*da);
                        Some((i, lo, hi, v))
                    }
                    None => Some((i, lo, hi, v)),
                };
            }
            if let Some((_, l, h, v)) = run {
                by_src.entry((*sa, l, h, v)).or_default().push(*da);
            }
        }
        // Merge destination atoms, then port atoms.
        let mut by_port: BTreeMap<PortKey, Vec<usize>> = BTreeMap::new();
        for ((sa, slo, shi, v), atoms) in by_src {
            for (dlo, dhi) in merge_runs(&atoms, &dst_atoms) {
                match sa {
                    SvcAtom::Echo => out.elements.push(Element {
                        family,
                        src: Range {
                            family,
                            lo: slo,
                            hi: shi,
                        },
                        dst: Range {
                            family,
                            lo: dlo,
                            hi: dhi,
                        },
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
                out.elements.push(Element {
                    family,
                    src: Range {
                        family,
                        lo: slo,
                        hi: shi,
                    },
                    dst: Range {
                        family,
                        lo: dlo,
                        hi: dhi,
                    },
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
    out.elements.sort();
    out
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

/// `by_rule` as it was.
pub fn by_rule(p: &Policy) -> Compiled {
    build(p, None, true)
}

/// `host` as it was.
pub fn host(p: &Policy, addr: IpAddr) -> Compiled {
    build(p, Some(addr), false)
}
