//! What changed between two scans, as ndiff reports it: ports keyed by (address, protocol,
//! port); a port whose state, service or version changed is *one* change; a host that came
//! up, went down, appeared or vanished is one host change.
//!
//! [`diff`] compares two reports; [`diff_ports`] and [`diff_hosts`] compare indexes built by
//! a caller that streams its input (`portolan diff` reads two files record by record into
//! them, holding the listed ports, never the files).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::{PortEvent, PortKey, ScanReport};

/// One port's change between scan `a` and scan `b`.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Listed in `b` only.
    Added(PortEvent),
    /// Listed in `a` only.
    Removed(PortEvent),
    /// Listed in both with a different state, service name, product or version.
    Changed {
        before: Box<PortEvent>,
        after: Box<PortEvent>,
    },
}

impl Change {
    pub fn key(&self) -> PortKey {
        match self {
            Change::Added(e) | Change::Removed(e) => e.key(),
            Change::Changed { after, .. } => after.key(),
        }
    }
}

/// A change with its key, sorted by key.
#[derive(Clone, Debug, PartialEq)]
pub struct PortDiff {
    pub key: PortKey,
    pub change: Change,
}

/// What ndiff compares: state, and the service's name, product, version and extra info.
fn differs(a: &PortEvent, b: &PortEvent) -> bool {
    let svc = |e: &PortEvent| {
        e.service.as_ref().map(|s| {
            (
                s.name.clone(),
                s.product.clone(),
                s.version.clone(),
                s.extrainfo.clone(),
            )
        })
    };
    a.state != b.state || svc(a) != svc(b)
}

/// Every port listed in `a` or `b` whose state or service differs, sorted by (address,
/// protocol, port). Pure: the same two reports give the same list.
pub fn diff(a: &ScanReport, b: &ScanReport) -> Vec<PortDiff> {
    diff_ports(port_index(a), port_index(b))
}

/// The ports of a report by key.
pub fn port_index(r: &ScanReport) -> BTreeMap<PortKey, PortEvent> {
    r.hosts
        .iter()
        .flat_map(|h| h.ports.iter())
        .map(|p| (p.key(), p.clone()))
        .collect()
}

/// Whether each host of a report was up.
pub fn host_index(r: &ScanReport) -> BTreeMap<IpAddr, bool> {
    r.hosts.iter().map(|h| (h.addr, h.up)).collect()
}

/// A host whose status differs between scan `a` and scan `b`: `None` when the scan does not
/// list it, else whether it was up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostDiff {
    pub addr: IpAddr,
    pub before: Option<bool>,
    pub after: Option<bool>,
}

/// Every host whose status differs (listed in one scan only, or up in one and down in the
/// other), sorted by address.
pub fn diff_hosts(a: &BTreeMap<IpAddr, bool>, b: &BTreeMap<IpAddr, bool>) -> Vec<HostDiff> {
    let mut out: Vec<HostDiff> = Vec::new();
    for (addr, up) in a {
        let after = b.get(addr).copied();
        if after != Some(*up) {
            out.push(HostDiff {
                addr: *addr,
                before: Some(*up),
                after,
            });
        }
    }
    for (addr, up) in b {
        if !a.contains_key(addr) {
            out.push(HostDiff {
                addr: *addr,
                before: None,
                after: Some(*up),
            });
        }
    }
    out.sort_by_key(|h| h.addr);
    out
}

/// [`diff`] over two port indexes (see [`port_index`]).
pub fn diff_ports(
    mut ia: BTreeMap<PortKey, PortEvent>,
    ib: BTreeMap<PortKey, PortEvent>,
) -> Vec<PortDiff> {
    let mut out = Vec::new();
    for (key, after) in ib {
        let change = match ia.remove(&key) {
            None => Change::Added(after),
            Some(before) if differs(&before, &after) => Change::Changed {
                before: Box::new(before),
                after: Box::new(after),
            },
            Some(_) => continue,
        };
        out.push(PortDiff { key, change });
    }
    for (key, before) in ia {
        out.push(PortDiff {
            key,
            change: Change::Removed(before),
        });
    }
    out.sort_by_key(|d| d.key);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostReport, PortState, Protocol, Reason, ScanStats, Service};
    use proptest::prelude::*;
    use std::net::IpAddr;
    use std::time::SystemTime;

    fn ev(host: u8, port: u16, state: PortState, version: Option<&str>) -> PortEvent {
        PortEvent {
            addr: IpAddr::from([192, 0, 2, host]),
            port,
            proto: Protocol::Tcp,
            state,
            reason: Reason::SynAck,
            rtt: None,
            ttl: None,
            service: version.map(|v| Service {
                name: "ssh".into(),
                version: Some(v.into()),
                ..Default::default()
            }),
        }
    }

    fn report(ports: Vec<PortEvent>) -> ScanReport {
        let mut by_host: BTreeMap<IpAddr, Vec<PortEvent>> = BTreeMap::new();
        for p in ports {
            by_host.entry(p.addr).or_default().push(p);
        }
        ScanReport {
            scan_type: "connect".into(),
            proto: Protocol::Tcp,
            args: String::new(),
            ports_spec: String::new(),
            num_ports: 0,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            hosts: by_host
                .into_iter()
                .map(|(addr, ports)| HostReport {
                    addr,
                    hostname: None,
                    up: true,
                    up_reason: None,
                    up_ttl: None,
                    ports,
                    extra: vec![],
                    srtt_us: None,
                })
                .collect(),
            targets_total: 0,
            host_discovery: String::new(),
            stats: ScanStats::default(),
        }
    }

    #[test]
    fn one_change_per_port() {
        let a = report(vec![
            ev(1, 22, PortState::Open, Some("8.9")),
            ev(1, 80, PortState::Open, None),
            ev(2, 443, PortState::Open, None),
        ]);
        let b = report(vec![
            ev(1, 22, PortState::Open, Some("9.2")),
            ev(1, 80, PortState::Closed, None),
            ev(3, 25, PortState::Open, None),
        ]);
        let d = diff(&a, &b);
        let kinds: Vec<(u8, u16, &str)> = d
            .iter()
            .map(|x| {
                let IpAddr::V4(v4) = x.key.addr else { panic!() };
                let k = match x.change {
                    Change::Added(_) => "added",
                    Change::Removed(_) => "removed",
                    Change::Changed { .. } => "changed",
                };
                (v4.octets()[3], x.key.port, k)
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, 22, "changed"),
                (1, 80, "changed"),
                (2, 443, "removed"),
                (3, 25, "added")
            ]
        );
        assert!(diff(&a, &a).is_empty());
    }

    fn arb_ports() -> impl Strategy<Value = Vec<PortEvent>> {
        proptest::collection::btree_map(
            (0u8..4, 0u16..8),
            (any::<bool>(), proptest::option::of(0u8..3)),
            0..20,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|((h, p), (open, v))| {
                    let st = if open {
                        PortState::Open
                    } else {
                        PortState::Closed
                    };
                    ev(h, p, st, v.map(|v| ["1", "2", "3"][v as usize]))
                })
                .collect()
        })
    }

    #[test]
    fn hosts_that_came_up_went_down_appeared_or_vanished() {
        let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
        let a: BTreeMap<IpAddr, bool> =
            [(ip(1), true), (ip(2), true), (ip(3), false), (ip(4), true)]
                .into_iter()
                .collect();
        let b: BTreeMap<IpAddr, bool> =
            [(ip(1), true), (ip(2), false), (ip(3), true), (ip(5), true)]
                .into_iter()
                .collect();
        let d = diff_hosts(&a, &b);
        let got: Vec<(u8, Option<bool>, Option<bool>)> = d
            .iter()
            .map(|h| {
                let IpAddr::V4(v4) = h.addr else { panic!() };
                (v4.octets()[3], h.before, h.after)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (2, Some(true), Some(false)),
                (3, Some(false), Some(true)),
                (4, Some(true), None),
                (5, None, Some(true))
            ]
        );
        assert!(diff_hosts(&a, &a).is_empty());
    }

    proptest! {
        #[test]
        fn host_diff_is_symmetric(
            a in proptest::collection::btree_map(0u8..8, any::<bool>(), 0..8),
            b in proptest::collection::btree_map(0u8..8, any::<bool>(), 0..8),
        ) {
            let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
            let a: BTreeMap<IpAddr, bool> = a.into_iter().map(|(k, v)| (ip(k), v)).collect();
            let b: BTreeMap<IpAddr, bool> = b.into_iter().map(|(k, v)| (ip(k), v)).collect();
            let ab = diff_hosts(&a, &b);
            let ba = diff_hosts(&b, &a);
            prop_assert_eq!(ab.len(), ba.len());
            for (x, y) in ab.iter().zip(&ba) {
                prop_assert_eq!((x.addr, x.before, x.after), (y.addr, y.after, y.before));
            }
        }

        #[test]
        fn diff_is_symmetric_and_sorted(a in arb_ports(), b in arb_ports()) {
            let (ra, rb) = (report(a), report(b));
            let ab = diff(&ra, &rb);
            let ba = diff(&rb, &ra);
            prop_assert!(diff(&ra, &ra).is_empty());
            prop_assert_eq!(ab.len(), ba.len());
            prop_assert!(ab.windows(2).all(|w| w[0].key < w[1].key));
            for (x, y) in ab.iter().zip(&ba) {
                prop_assert_eq!(x.key, y.key);
                let mirrored = matches!(
                    (&x.change, &y.change),
                    (Change::Added(_), Change::Removed(_))
                        | (Change::Removed(_), Change::Added(_))
                        | (Change::Changed { .. }, Change::Changed { .. })
                );
                prop_assert!(mirrored);
            }
        }
    }
}
