//! Where the raw engine's probes leave the host: per address family, the IP raw socket or
//! Ethernet frames on the route's interface to one next-hop MAC ([`crate::rawio::Via`]), decided
//! once before the scan from the kernel's tables ([`crate::netlink`]).
//!
//! Link-layer sending (`--send-via link`, `--router-mac`) binds one interface and one next hop
//! per family, as masscan does: the route to the family's first target decides both. Every
//! address of a small target range, and the first and last address of a larger one, are
//! checked against that route; an address that leaves by another interface (or, with
//! `--send-via link`, through another next hop) is *off path*: its probes are reported filtered (`host-unreach`) after one notice, never sent
//! to the wrong MAC. Scan such targets with `--send-via ip`, where the kernel routes each
//! packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::netlink::{self, Route};
use crate::rawio::{format_mac, LinkPath, RawError, Via};
use crate::target::{Family, Interval, TargetSet};

/// How raw probes are handed to the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SendVia {
    /// The IP raw socket: the kernel routes and resolves the next hop (works on every link).
    #[default]
    Ip,
    /// `AF_PACKET` frames to the next hop's MAC from the kernel's neighbour table.
    Link,
}

/// Target ranges checked against the chosen route, at most (two route lookups each).
pub const MAX_CHECKED_RANGES: usize = 2048;
/// Ranges of fewer addresses are checked address by address; larger ones by their two ends.
const SMALL_RANGE: u128 = 16;

/// The sending plan of a scan.
#[derive(Clone, Debug, Default)]
pub struct Egress {
    pub v4: Option<Via>,
    pub v6: Option<Via>,
    /// Inclusive target ranges the link sender cannot reach, sorted: their probes fail.
    pub off_path: Vec<(IpAddr, IpAddr)>,
    /// What to tell the user (one line each).
    pub notices: Vec<String>,
}

impl Egress {
    /// Whether probes to `ip` cannot be sent (it routes elsewhere than the link sender).
    pub fn is_off_path(&self, ip: IpAddr) -> bool {
        if self.off_path.is_empty() {
            return false;
        }
        let i = self.off_path.partition_point(|&(lo, _)| lo <= ip);
        i > 0 && ip <= self.off_path[i - 1].1 && same_family(ip, self.off_path[i - 1].1)
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn addr(family: Family, v: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

/// Decide how each family in use is sent. With [`SendVia::Ip`] and no `router_mac` this asks
/// the kernel nothing.
pub fn plan(
    send_via: SendVia,
    router_mac: Option<[u8; 6]>,
    interface: Option<&str>,
    targets: &TargetSet,
) -> Result<Egress, RawError> {
    let ip = Via::Ip {
        interface: interface.map(str::to_string),
    };
    let mut eg = Egress::default();
    for family in [Family::V4, Family::V6] {
        let ivs: Vec<&Interval> = targets
            .intervals()
            .iter()
            .filter(|iv| iv.family == family)
            .collect();
        let Some(first) = ivs.first() else { continue };
        let via = if send_via == SendVia::Ip && router_mac.is_none() {
            ip.clone()
        } else {
            link_for(family, first, &ivs, router_mac, interface, &ip, &mut eg)?
        };
        match family {
            Family::V4 => eg.v4 = Some(via),
            Family::V6 => eg.v6 = Some(via),
        }
    }
    eg.off_path.sort();
    Ok(eg)
}

fn link_for(
    family: Family,
    first: &Interval,
    ivs: &[&Interval],
    router_mac: Option<[u8; 6]>,
    interface: Option<&str>,
    ip: &Via,
    eg: &mut Egress,
) -> Result<Via, RawError> {
    let oif = match interface {
        Some(name) => Some(netlink::ifindex(name).ok_or_else(|| RawError::Interface {
            name: name.to_string(),
            err: std::io::Error::other("no such interface"),
        })?),
        None => None,
    };
    let rep = addr(family, first.lo);
    let route = netlink::route_get(rep, oif).map_err(|err| RawError::Route { dst: rep, err })?;
    let link = netlink::link(route.ifindex).map_err(|err| RawError::Route { dst: rep, err })?;
    let Some(src_mac) = link.ether() else {
        eg.notices.push(format!(
            "interface {} is not an Ethernet-type link (link type {}{}): link-layer sending \
             needs one; {} probes go through the IP raw socket",
            link.name,
            link.kind,
            if link.kind == netlink::ARPHRD_LOOPBACK {
                ", loopback"
            } else {
                ""
            },
            family_name(family)
        ));
        return Ok(ip.clone());
    };
    let hop = route.next_hop(rep);
    let dst_mac = match router_mac {
        Some(m) => m,
        None => netlink::neighbour(route.ifindex, hop)
            .map_err(|err| RawError::Route { dst: rep, err })?
            .ok_or_else(|| RawError::NoNeighbour {
                ip: hop,
                ifname: link.name.clone(),
                on_link: route.gateway.is_none(),
            })?,
    };
    eg.notices.push(format!(
        "{} probes go out as Ethernet frames on {} to {} ({}), bypassing the kernel's routing",
        family_name(family),
        link.name,
        format_mac(&dst_mac),
        if router_mac.is_some() {
            "--router-mac".to_string()
        } else {
            format!("next hop {hop}")
        },
    ));
    // Which target ranges leave the same way.
    let same = |r: &Route, a: IpAddr| {
        r.ifindex == route.ifindex && (router_mac.is_some() || r.next_hop(a) == hop)
    };
    let on_path = |v: u128| {
        let a = addr(family, v);
        if a == rep {
            return true;
        }
        let ok = netlink::route_get(a, oif).is_ok_and(|r| same(&r, a));
        // Through a router every address shares the hop; on the link each is its own.
        ok && (router_mac.is_some() || route.gateway.is_some())
    };
    let mut off = 0u128;
    let mut mark = |lo: u128, hi: u128, eg: &mut Egress| {
        off += hi - lo + 1;
        eg.off_path.push((addr(family, lo), addr(family, hi)));
    };
    for iv in ivs.iter().take(MAX_CHECKED_RANGES) {
        if iv.hi - iv.lo < SMALL_RANGE {
            // Small ranges: every address, merged into runs.
            let mut run: Option<u128> = None;
            for v in iv.lo..=iv.hi {
                match (on_path(v), run) {
                    (false, None) => run = Some(v),
                    (true, Some(start)) => {
                        mark(start, v - 1, eg);
                        run = None;
                    }
                    _ => {}
                }
            }
            if let Some(start) = run {
                mark(start, iv.hi, eg);
            }
            continue;
        }
        // Large ranges: the two ends stand for the whole.
        if on_path(iv.lo) && on_path(iv.hi) {
            continue;
        }
        // The representative (the first range's first address) was resolved: keep it.
        let lo = if std::ptr::eq(*iv, first) {
            iv.lo + 1
        } else {
            iv.lo
        };
        mark(lo, iv.hi, eg);
    }
    if off > 0 {
        eg.notices.push(format!(
            "{off} {} targets do not leave through {} to {}: their probes are not sent and are \
             reported filtered (host-unreach); scan them with --send-via ip",
            family_name(family),
            link.name,
            format_mac(&dst_mac)
        ));
    }
    if ivs.len() > MAX_CHECKED_RANGES {
        eg.notices.push(format!(
            "only the first {MAX_CHECKED_RANGES} of {} {} target ranges were checked against \
             the route through {}",
            ivs.len(),
            family_name(family),
            link.name
        ));
    }
    Ok(Via::Link(LinkPath {
        ifindex: route.ifindex,
        ifname: link.name,
        src_mac,
        dst_mac,
        mtu: link.mtu.unwrap_or(1500),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn off_path_lookup() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let eg = Egress {
            off_path: vec![
                (ip("10.0.0.5"), ip("10.0.0.9")),
                (ip("10.0.1.0"), ip("10.0.1.0")),
                (ip("2001:db8::1"), ip("2001:db8::ff")),
            ],
            ..Default::default()
        };
        assert!(!eg.is_off_path(ip("10.0.0.4")));
        assert!(eg.is_off_path(ip("10.0.0.5")));
        assert!(eg.is_off_path(ip("10.0.0.9")));
        assert!(!eg.is_off_path(ip("10.0.0.10")));
        assert!(eg.is_off_path(ip("10.0.1.0")));
        assert!(eg.is_off_path(ip("2001:db8::80")));
        assert!(!eg.is_off_path(ip("2001:db8::100")));
        assert!(!Egress::default().is_off_path(ip("10.0.0.5")));
    }

    #[test]
    fn ip_plan_asks_nothing() {
        let t = TargetSet::parse(
            &["192.0.2.0/30", "2001:db8::1"],
            &[] as &[&str],
            Default::default(),
        )
        .unwrap();
        let eg = plan(SendVia::Ip, None, Some("nosuchif0"), &t).unwrap();
        let want = Via::Ip {
            interface: Some("nosuchif0".into()),
        };
        assert_eq!(eg.v4, Some(want.clone()));
        assert_eq!(eg.v6, Some(want));
        assert!(eg.off_path.is_empty() && eg.notices.is_empty());
    }

    #[test]
    fn loopback_falls_back_to_ip_with_a_notice() {
        let t = TargetSet::parse(&["127.0.0.1"], &[] as &[&str], Default::default()).unwrap();
        let eg = plan(SendVia::Link, None, None, &t).unwrap();
        assert_eq!(eg.v4, Some(Via::Ip { interface: None }));
        assert_eq!(eg.v6, None);
        assert!(
            eg.notices[0].contains("not an Ethernet-type link"),
            "{:?}",
            eg.notices
        );
        assert!(eg.notices[0].contains("loopback"));
    }
}
