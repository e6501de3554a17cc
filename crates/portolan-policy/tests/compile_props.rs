//! Properties of the partition (compile) and the parser.
//!
//! The partition must be exactly the rules read top to bottom: for any packet, the one element
//! that holds it (there is never more than one) carries the verdict of the first rule that
//! matches it, and no element holds a packet that no rule allows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_policy::addr::{Family, Range};
use portolan_policy::compile::{self, Verdict};
use portolan_policy::model::Default as DefaultAction;
use portolan_policy::{Endpoint, Host, Policy, Rate, RateUnit, Rule, Service, ServiceRef, Zone};
use portolan_registry::{Protocol, Registry};
use proptest::prelude::*;

#[path = "reference/compile_two_pass.rs"]
mod reference;

fn v4(last: u8, third: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, third, last))
}

/// A network inside 10.0.0.0/22, or a v6 one inside fd00::/120.
fn net() -> impl Strategy<Value = Range> {
    prop_oneof![
        4 => (0u8..4, 0u8..=255, 22u32..=32).prop_map(|(third, last, len)| {
            let base = u32::from(Ipv4Addr::new(10, 0, third, last)) as u128;
            let size = 1u128 << (32 - len);
            let lo = base / size * size;
            Range { family: Family::V4, lo, hi: lo + size - 1 }
        }),
        1 => (0u8..=255, 120u32..=128).prop_map(|(last, len)| {
            let base = u128::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last as u16));
            let size = 1u128 << (128 - len);
            let lo = base / size * size;
            Range { family: Family::V6, lo, hi: lo + size - 1 }
        }),
    ]
}

fn service() -> impl Strategy<Value = Service> {
    prop_oneof![
        5 => (0usize..2, 1u16..20, 0u16..6).prop_map(|(p, lo, w)| Service::Ports {
            proto: [Protocol::Tcp, Protocol::Udp][p],
            lo,
            hi: lo + w
        }),
        1 => Just(Service::IcmpEcho),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let zones = prop::collection::vec(prop::collection::vec(net(), 0..3), 1..4);
    let hosts = prop::collection::vec((0usize..4, 0u8..4, 0u8..=255), 0..4);
    let rules = prop::collection::vec(
        (
            0usize..9,
            0usize..9,
            prop::collection::vec(service(), 1..3),
            any::<bool>(),
            any::<bool>(),
        ),
        0..6,
    );
    (zones, hosts, rules).prop_map(|(zones, hosts, rules)| {
        let zone_map: BTreeMap<String, Zone> = zones
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    format!("z{i}"),
                    Zone {
                        networks: portolan_policy::addr::normalize(n.clone()),
                    },
                )
            })
            .collect();
        let nz = zone_map.len();
        let host_map: BTreeMap<String, Host> = hosts
            .iter()
            .enumerate()
            .map(|(i, &(z, third, last))| {
                (
                    format!("h{i}"),
                    Host {
                        address: v4(last, third),
                        zone: format!("z{}", z % nz),
                    },
                )
            })
            .collect();
        let nh = host_map.len();
        let endpoint = |k: usize| -> Endpoint {
            if k == 0 {
                Endpoint::Any
            } else if k <= 4 || nh == 0 {
                Endpoint::Zone(format!("z{}", k % nz))
            } else {
                Endpoint::Host(format!("h{}", k % nh))
            }
        };
        let rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, (f, t, svcs, log, rate))| Rule {
                number: i + 1,
                from: endpoint(f),
                to: endpoint(t),
                allow: svcs
                    .iter()
                    .map(|s| ServiceRef {
                        spec: s.to_string(),
                        resolved: vec![*s],
                    })
                    .collect(),
                log,
                rate: rate.then_some(Rate {
                    count: 10,
                    unit: RateUnit::Second,
                }),
                comment: None,
            })
            .collect();
        Policy {
            zones: zone_map,
            hosts: host_map,
            rules,
            default: DefaultAction::Deny,
            egress: None,
        }
    })
}

fn holds(p: &Policy, e: &Endpoint, a: IpAddr) -> bool {
    p.ranges(e).iter().any(|r| r.contains(a))
}

fn svc_holds(s: &Service, proto: Option<Protocol>, port: u16) -> bool {
    match (s, proto) {
        (Service::IcmpEcho, None) => true,
        (Service::Ports { proto: sp, lo, hi }, Some(pp)) => *sp == pp && *lo <= port && port <= *hi,
        _ => false,
    }
}

fn first_match(
    p: &Policy,
    src: IpAddr,
    dst: IpAddr,
    proto: Option<Protocol>,
    port: u16,
) -> Option<usize> {
    p.rules.iter().position(|r| {
        holds(p, &r.from, src)
            && holds(p, &r.to, dst)
            && r.services().iter().any(|s| svc_holds(s, proto, port))
    })
}

/// Interesting addresses: every boundary of every range, and its neighbours.
fn probes(p: &Policy) -> Vec<IpAddr> {
    let mut v = vec![
        v4(0, 0),
        v4(255, 3),
        v4(0, 4),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        "fd00::1".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    ];
    for z in p.zones.values() {
        for r in &z.networks {
            for x in [r.lo.saturating_sub(1), r.lo, r.hi, r.hi.saturating_add(1)] {
                match r.family {
                    Family::V4 if x <= u32::MAX as u128 => {
                        v.push(IpAddr::V4(Ipv4Addr::from(x as u32)))
                    }
                    Family::V6 => v.push(IpAddr::V6(Ipv6Addr::from(x))),
                    _ => {}
                }
            }
        }
    }
    v.extend(p.hosts.values().map(|h| h.address));
    v.sort();
    v.dedup();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    #[test]
    fn partition_equals_first_match(p in policy()) {
        let exact = compile::by_rule(&p);
        let merged = compile::gateway(&p);
        let addrs = probes(&p);
        let mut services: Vec<(Option<Protocol>, u16)> = vec![(None, 0)];
        for proto in [Protocol::Tcp, Protocol::Udp] {
            for port in 0..27 {
                services.push((Some(proto), port));
            }
        }
        for &src in &addrs {
            for &dst in &addrs {
                if src.is_ipv4() != dst.is_ipv4() {
                    continue; // no packet has one source and destination of two families
                }
                for &(proto, port) in &services {
                    let want = first_match(&p, src, dst, proto, port);
                    for (c, by_rule) in [(&exact, true), (&merged, false)] {
                        let hits: Vec<_> = c.elements.iter().filter(|e| {
                            e.src.contains(src) && e.dst.contains(dst) && svc_holds(&e.service, proto, port)
                        }).collect();
                        prop_assert!(hits.len() <= 1, "overlapping elements {hits:?}");
                        let got = hits.first().map(|e| e.verdict);
                        let expect = want.map(|r| {
                            if by_rule || p.rules[r].has_options() { Verdict::Rule(r) } else { Verdict::Accept }
                        });
                        prop_assert_eq!(got, expect, "src {} dst {} {:?}/{} by_rule {}", src, dst, proto, port, by_rule);
                    }
                }
            }
        }
        // The merged form is never larger than the exact one.
        prop_assert!(merged.elements.len() <= exact.elements.len());
    }

    /// The gateway view computes its two labellings in one pass: the result is the one of the
    /// two separate passes it replaced, element for element, with the same overlaps and first
    /// matches; so are the by-rule and host views.
    #[test]
    fn one_pass_equals_the_two_pass_computation(p in policy()) {
        prop_assert_eq!(compile::gateway(&p), reference::gateway(&p));
        prop_assert_eq!(compile::by_rule(&p), reference::by_rule(&p));
        for h in p.hosts.values() {
            prop_assert_eq!(compile::host(&p, h.address), reference::host(&p, h.address));
        }
    }

    #[test]
    fn host_view_is_the_gateway_view_restricted(p in policy()) {
        for h in p.hosts.values() {
            let c = compile::host(&p, h.address);
            for &src in probes(&p).iter().filter(|s| s.is_ipv4() == h.address.is_ipv4()) {
                for port in 0..27 {
                    let want = first_match(&p, src, h.address, Some(Protocol::Tcp), port);
                    let got = c.elements.iter().filter(|e| e.src.contains(src) && e.dst.contains(h.address) && svc_holds(&e.service, Some(Protocol::Tcp), port)).count();
                    prop_assert_eq!(got, usize::from(want.is_some()));
                }
            }
        }
    }

    /// The outgoing view of a host: exactly the first-match flows from its address, one
    /// element at most per packet, every element from the host.
    #[test]
    fn host_out_view_is_first_match_from_the_host(p in policy()) {
        for h in p.hosts.values() {
            let c = compile::host_out(&p, h.address);
            prop_assert!(c.elements.iter().all(|e| e.src.lo == e.src.hi && e.src.contains(h.address)));
            for &dst in probes(&p).iter().filter(|d| d.is_ipv4() == h.address.is_ipv4()) {
                for (proto, port) in [(None, 0)].into_iter().chain((0..27).map(|p| (Some(Protocol::Udp), p))) {
                    let want = first_match(&p, h.address, dst, proto, port);
                    let got = c.elements.iter().filter(|e| e.dst.contains(dst) && svc_holds(&e.service, proto, port)).count();
                    prop_assert_eq!(got, usize::from(want.is_some()), "dst {} {:?}/{}", dst, proto, port);
                }
            }
        }
    }

    #[test]
    fn parser_never_panics(s in ".{0,400}") {
        let _ = Policy::parse(&s, Registry::embedded());
    }

    #[test]
    fn parser_never_panics_on_mangled_policies(cut in 0usize..700, ins in "[ -~\n]{0,12}") {
        let base = include_str!("data/example.yaml");
        let cut = cut.min(base.len());
        let mut s = base[..cut].to_string();
        s.push_str(&ins);
        s.push_str(&base[cut..]);
        if let Ok(p) = Policy::parse(&s, Registry::embedded()) {
            let _ = portolan_policy::lint(&p);
            let _ = compile::gateway(&p);
        }
    }
}
