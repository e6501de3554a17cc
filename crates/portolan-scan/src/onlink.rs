//! Host discovery on a directly connected Ethernet link: ARP who-has for IPv4 targets,
//! neighbour solicitations for IPv6 targets (as nmap does: on the local link, address
//! resolution replaces the IP pings, and finds the hosts that drop every IP packet too).
//!
//! - [`split`] reads the kernel's addresses ([`netlink::addresses`]) and cuts the targets into
//!   the parts inside a subnet of an Ethernet-type interface ([`LinkJob`]: one per interface and
//!   family) and the rest (routed, or on another kind of link), which the IP pings probe. This
//!   host's own addresses stay with the rest (nothing answers ARP for them on the wire).
//! - [`run`] walks one job, stateless like the raw engine: one `AF_PACKET` socket bound to the
//!   interface sends a who-has (to the broadcast address) or a solicitation (to the target's
//!   solicited-node multicast address, with our link address as its option) to every target
//!   address under the pace, reading answers between sends; nothing is kept per probe. An
//!   is-at (ARP operation 2) addressed to our IP, or a neighbour advertisement (hop limit 255,
//!   valid checksum) for a target, proves its sender up: reason `arp-response` /
//!   `nd-response`, nmap's words. Addresses still silent after a pass are asked again
//!   (`retries` more passes), then the job ends after a short wait for late answers.

use std::collections::HashMap;
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portolan_wire::neighbor::{self, ArpPacket, NeighborAdvert};

use crate::connect::Status;
use crate::discovery::HostUp;
use crate::model::{Reason, ScanStats};
use crate::netlink::{self, IfAddr};
use crate::rate::TokenBucket;
use crate::rawio::RawError;
use crate::target::{Family, Interval};

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];

/// The targets of one family on one Ethernet-type interface's subnets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkJob {
    pub ifindex: u32,
    pub ifname: String,
    /// The interface's MAC.
    pub mac: [u8; 6],
    /// Our address on that link (the ARP sender / the solicitation's source).
    pub source: IpAddr,
    pub family: Family,
    /// The targets, sorted and disjoint.
    pub intervals: Vec<Interval>,
}

impl LinkJob {
    /// Number of target addresses.
    pub fn len(&self) -> u128 {
        self.intervals.iter().map(|iv| iv.hi - iv.lo + 1).sum()
    }

    /// Whether the job has no address (never true for a job [`split`] returns).
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Whether `ip` is one of the job's targets.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (f, v) = to_num(ip);
        if f != self.family {
            return false;
        }
        let i = self.intervals.partition_point(|iv| iv.lo <= v);
        i > 0 && v <= self.intervals[i - 1].hi
    }
}

/// The targets cut by link: the on-link jobs, and everything else.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub jobs: Vec<LinkJob>,
    /// Targets not on a directly connected Ethernet link (or this host's own addresses).
    pub rest: Vec<Interval>,
}

fn to_num(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

fn to_ip(f: Family, v: u128) -> IpAddr {
    match f {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// The subnet `addr/prefix_len` as an inclusive interval.
fn subnet(a: &IfAddr) -> Option<Interval> {
    let (family, v) = to_num(a.addr);
    let bits: u32 = if family == Family::V4 { 32 } else { 128 };
    let host = bits.checked_sub(u32::from(a.prefix_len))?;
    if host == 0 {
        return None; // a /32 or /128: no link subnet beyond the address itself
    }
    let mask: u128 = if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    };
    Some(Interval {
        family,
        lo: v & !mask,
        hi: v | mask,
    })
}

/// An interface: index, name, MAC (Ethernet-type links only).
pub type EtherLink = (u32, String, [u8; 6]);

/// Cut `targets` (sorted, disjoint) by the subnets of `addrs` on the Ethernet-type interfaces
/// `ether` says (`ifindex → (name, mac)`). Pure: [`split`] feeds it the kernel's tables. The
/// first address of an interface in a subnet is the source; subnets of link-local IPv6
/// (`fe80::/10`) are skipped (the same prefix is on every interface).
pub fn split_with(
    targets: &[Interval],
    addrs: &[IfAddr],
    ether: &dyn Fn(u32) -> Option<(String, [u8; 6])>,
) -> Split {
    let own: Vec<(Family, u128)> = addrs.iter().map(|a| to_num(a.addr)).collect();
    let mut jobs: Vec<LinkJob> = Vec::new();
    let mut rest: Vec<Interval> = targets.to_vec();
    for a in addrs {
        let Some(net) = subnet(a) else { continue };
        if let IpAddr::V6(v6) = a.addr {
            if v6.segments()[0] & 0xffc0 == 0xfe80 {
                continue;
            }
        }
        let Some((ifname, mac)) = ether(a.ifindex) else {
            continue;
        };
        // The targets inside this subnet (and not yet taken by another).
        let mut inside = Vec::new();
        let mut outside = Vec::new();
        for iv in rest {
            if iv.family != net.family || iv.hi < net.lo || iv.lo > net.hi {
                outside.push(iv);
                continue;
            }
            let lo = iv.lo.max(net.lo);
            let hi = iv.hi.min(net.hi);
            if iv.lo < lo {
                outside.push(Interval { hi: lo - 1, ..iv });
            }
            if iv.hi > hi {
                outside.push(Interval { lo: hi + 1, ..iv });
            }
            inside.push(Interval { lo, hi, ..iv });
        }
        // Our own addresses go back to the rest.
        let mut mine: Vec<Interval> = own
            .iter()
            .filter(|(f, _)| *f == net.family)
            .map(|&(family, v)| Interval {
                family,
                lo: v,
                hi: v,
            })
            .collect();
        mine.sort();
        mine.dedup();
        let kept = crate::target::subtract(&inside, &mine);
        for m in &mine {
            if inside.iter().any(|iv| iv.lo <= m.lo && m.lo <= iv.hi) {
                outside.push(*m);
            }
        }
        outside.sort();
        rest = outside;
        if kept.is_empty() {
            continue;
        }
        match jobs
            .iter_mut()
            .find(|j| j.ifindex == a.ifindex && j.family == net.family)
        {
            Some(j) => {
                j.intervals.extend(kept);
                j.intervals.sort();
            }
            None => jobs.push(LinkJob {
                ifindex: a.ifindex,
                ifname,
                mac,
                source: a.addr,
                family: net.family,
                intervals: kept,
            }),
        }
    }
    Split { jobs, rest }
}

/// Cut the targets by link, from the kernel's address and link tables; with `interface`, only
/// that interface's subnets are on the link.
pub fn split(
    targets: &[Interval],
    interface: Option<&str>,
) -> Result<Split, netlink::NetlinkError> {
    let only = interface.and_then(netlink::ifindex);
    let mut addrs = Vec::new();
    for (family, v6) in [(Family::V4, false), (Family::V6, true)] {
        if targets.iter().any(|iv| iv.family == family) {
            addrs.extend(netlink::addresses(v6)?);
        }
    }
    let mut links: HashMap<u32, Option<(String, [u8; 6])>> = HashMap::new();
    for a in &addrs {
        if interface.is_some() && Some(a.ifindex) != only {
            links.insert(a.ifindex, None);
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = links.entry(a.ifindex) {
            let l = netlink::link(a.ifindex)
                .ok()
                .and_then(|l| l.ether().map(|m| (l.name, m)));
            e.insert(l);
        }
    }
    Ok(split_with(targets, &addrs, &|i| {
        links.get(&i).cloned().flatten()
    }))
}

/// Tunables of a link job.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Requests per second (a broadcast reaches every host of the link: keep it civil).
    pub rate: f64,
    /// Extra passes over the addresses still silent.
    pub retries: u32,
    /// How long to wait for answers after each pass's last request.
    pub wait: Duration,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            rate: DEFAULT_RATE,
            retries: 1,
            wait: Duration::from_millis(200),
        }
    }
}

/// Requests per second on a link without `--max-rate`.
pub const DEFAULT_RATE: f64 = 20_000.0;

/// What a link job found.
#[derive(Clone, Debug, Default)]
pub struct LinkFound {
    pub hosts: Vec<HostUp>,
    pub stats: ScanStats,
}

fn cvt(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// An `AF_PACKET`/`SOCK_DGRAM` socket of one EtherType bound to one interface: the kernel adds
/// and strips the Ethernet header.
struct LinkSocket {
    fd: OwnedFd,
    ifindex: i32,
    proto: u16,
}

impl LinkSocket {
    fn open(ifindex: u32, ifname: &str, proto: u16) -> Result<LinkSocket, RawError> {
        let iface = |err| RawError::Interface {
            name: ifname.to_string(),
            err,
        };
        // SAFETY: socket(2) with constant arguments; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                i32::from(proto.to_be()),
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => RawError::Permission(e),
                _ => RawError::Socket(e),
            });
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let ifindex =
            i32::try_from(ifindex).map_err(|_| iface(io::Error::other("bad interface index")))?;
        let sll = Self::addr(ifindex, proto, [0; 6]);
        // SAFETY: sll is a valid sockaddr_ll of the size given.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(iface(io::Error::last_os_error()));
        }
        Ok(LinkSocket { fd, ifindex, proto })
    }

    fn addr(ifindex: i32, proto: u16, mac: [u8; 6]) -> libc::sockaddr_ll {
        // SAFETY: an all-zero sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&mac);
        sll
    }

    /// Send `payload` to `mac`: `Ok(false)` when the queue is full.
    fn send(&self, mac: [u8; 6], payload: &[u8]) -> io::Result<bool> {
        let sll = Self::addr(self.ifindex, self.proto, mac);
        // SAFETY: payload and sll are valid for the lengths given.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                libc::MSG_DONTWAIT,
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        match cvt(r) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::ENOBUFS)) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// One received packet (not our own outgoing one) into `buf`; `None` when nothing waits.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: an all-zero sockaddr_ll is valid; the kernel fills it.
            let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
            let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buf and sll are valid for the lengths given.
            let r = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            match cvt(r) {
                Ok(n) if sll.sll_pkttype == libc::PACKET_OUTGOING => {
                    let _ = n;
                    continue;
                }
                Ok(n) => return Ok(Some(n.min(buf.len()))),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Wait at most `d` for a packet to read.
    fn wait(&self, d: Duration) {
        let mut p = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = d.as_millis().clamp(0, 1000) as libc::c_int;
        // SAFETY: one valid pollfd.
        let _ = unsafe { libc::poll(&mut p, 1, ms) };
    }
}

/// The target an answer proves up, for `job`: an is-at to our address from a target, or a
/// neighbour advertisement of a target.
pub fn answer(job: &LinkJob, packet: &[u8]) -> Option<(IpAddr, Reason, Option<u8>)> {
    match job.family {
        Family::V4 => {
            let a = ArpPacket::parse(packet).ok()?;
            let from = IpAddr::V4(a.sender_ip);
            (a.is_reply() && IpAddr::V4(a.target_ip) == job.source && job.contains(from))
                .then_some((from, Reason::ArpResponse, None))
        }
        Family::V6 => {
            let na = NeighborAdvert::parse(packet).ok()??;
            let t = IpAddr::V6(na.target);
            (job.contains(t) && (na.solicited || na.dst.is_multicast())).then_some((
                t,
                Reason::NdResponse,
                Some(na.hop_limit),
            ))
        }
    }
}

/// Build the request for `target` into `buf`: its length and the Ethernet destination.
fn request(job: &LinkJob, target: IpAddr, buf: &mut [u8]) -> Option<(usize, [u8; 6])> {
    match (job.source, target) {
        (IpAddr::V4(s), IpAddr::V4(t)) => neighbor::arp_request(buf, job.mac, s, t)
            .ok()
            .map(|n| (n, BROADCAST)),
        (IpAddr::V6(s), IpAddr::V6(t)) => neighbor::neighbor_solicitation(buf, job.mac, s, t)
            .ok()
            .map(|n| (n, neighbor::solicited_node_mac(t))),
        _ => None,
    }
}

/// Ask every address of `job`, pass after pass, and collect who answered. Needs `CAP_NET_RAW`.
pub fn run(
    job: &LinkJob,
    cfg: &LinkConfig,
    status: &mut dyn FnMut(&Status),
    stop: &AtomicBool,
) -> Result<LinkFound, RawError> {
    let proto = match job.family {
        Family::V4 => ETH_P_ARP,
        Family::V6 => ETH_P_IPV6,
    };
    let sock = LinkSocket::open(job.ifindex, &job.ifname, proto)?;
    let total = u64::try_from(job.len()).unwrap_or(u64::MAX);
    let mut up: HashMap<IpAddr, HostUp> = HashMap::new();
    let mut stats = ScanStats {
        planned: total,
        ..Default::default()
    };
    let origin = Instant::now();
    let mut bucket = TokenBucket::new(cfg.rate, TokenBucket::default_burst(cfg.rate), origin);
    let mut out = [0u8; 128];
    let mut inb = vec![0u8; 2048];
    // No round trip is reported: nothing is kept per request (stateless), so there is no send
    // time to measure one from.
    let mut last_status = origin;
    let mut drain = |up: &mut HashMap<IpAddr, HostUp>| -> io::Result<()> {
        while let Some(n) = sock.recv(&mut inb)? {
            if let Some((ip, reason, ttl)) = answer(job, &inb[..n]) {
                up.entry(ip).or_insert(HostUp {
                    addr: ip,
                    reason,
                    rtt: None,
                    ttl,
                });
            }
        }
        Ok(())
    };
    for pass in 0..=cfg.retries {
        for iv in &job.intervals {
            let mut v = iv.lo;
            loop {
                if stop.load(Ordering::SeqCst) {
                    stats.interrupted = true;
                    break;
                }
                let ip = to_ip(job.family, v);
                if !up.contains_key(&ip) {
                    if let Some((n, mac)) = request(job, ip, &mut out) {
                        loop {
                            match bucket.try_take(Instant::now()) {
                                Ok(()) => break,
                                Err(when) => {
                                    drain(&mut up).map_err(RawError::Socket)?;
                                    let d = when.saturating_duration_since(Instant::now());
                                    if d > Duration::from_micros(200) {
                                        std::thread::sleep(d);
                                    }
                                }
                            }
                        }
                        while !sock.send(mac, &out[..n]).map_err(RawError::Socket)? {
                            drain(&mut up).map_err(RawError::Socket)?;
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        stats.sent += 1;
                        if pass > 0 {
                            stats.retries += 1;
                        }
                    }
                }
                if v % 64 == 0 {
                    drain(&mut up).map_err(RawError::Socket)?;
                }
                if last_status.elapsed() >= Duration::from_millis(100) {
                    last_status = Instant::now();
                    status(&Status {
                        planned: total,
                        completed: 0,
                        sent: stats.sent,
                        open: up.len() as u64,
                        in_flight: 0,
                        window: 0,
                        timeout: cfg.wait,
                    });
                }
                if v == iv.hi {
                    break;
                }
                v += 1;
            }
        }
        // Late answers: wait after the pass's last request (less when every target answered).
        let deadline = Instant::now() + cfg.wait;
        loop {
            drain(&mut up).map_err(RawError::Socket)?;
            let now = Instant::now();
            if now >= deadline || up.len() as u128 >= job.len() || stop.load(Ordering::SeqCst) {
                break;
            }
            sock.wait(deadline - now);
        }
        if up.len() as u128 >= job.len() || stats.interrupted {
            break;
        }
    }
    let mut hosts: Vec<HostUp> = up.into_values().collect();
    hosts.sort_by_key(|h| h.addr);
    stats.completed = total;
    stats.open = hosts.len() as u64;
    stats.filtered = total.saturating_sub(stats.open);
    Ok(LinkFound { hosts, stats })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn iv(a: &str, b: &str) -> Interval {
        let (family, lo) = to_num(a.parse().unwrap());
        let (_, hi) = to_num(b.parse().unwrap());
        Interval { family, lo, hi }
    }

    fn ifaddr(i: u32, a: &str, p: u8) -> IfAddr {
        IfAddr {
            ifindex: i,
            addr: a.parse().unwrap(),
            prefix_len: p,
        }
    }

    fn ether(i: u32) -> Option<(String, [u8; 6])> {
        // 1: loopback (not Ethernet), 2 and 3: Ethernet.
        (i != 1).then(|| (format!("eth{i}"), [2, 0, 0, 0, 0, i as u8]))
    }

    #[test]
    fn targets_are_cut_by_link() {
        let addrs = [
            ifaddr(1, "127.0.0.1", 8),
            ifaddr(2, "10.79.0.1", 24),
            ifaddr(2, "fd79::1", 64),
            ifaddr(2, "fe80::1", 64),
            ifaddr(3, "192.168.5.9", 32),
        ];
        let targets = vec![
            iv("10.78.255.0", "10.79.0.255"),
            iv("127.0.0.1", "127.0.0.1"),
            iv("192.168.5.0", "192.168.5.255"),
            iv("fd79::", "fd79::ff"),
            iv("fe80::5", "fe80::5"),
        ];
        let s = split_with(&targets, &addrs, &ether);
        assert_eq!(s.jobs.len(), 2, "{s:?}");
        let j4 = &s.jobs[0];
        assert_eq!(j4.ifname, "eth2");
        assert_eq!(j4.source, "10.79.0.1".parse::<IpAddr>().unwrap());
        // The /24 minus our own address.
        assert_eq!(
            j4.intervals,
            vec![iv("10.79.0.0", "10.79.0.0"), iv("10.79.0.2", "10.79.0.255")]
        );
        assert_eq!(j4.len(), 255);
        assert!(j4.contains("10.79.0.77".parse().unwrap()));
        assert!(!j4.contains("10.79.0.1".parse().unwrap()));
        assert!(!j4.contains("10.79.1.0".parse().unwrap()));
        assert!(!j4.contains("fd79::2".parse().unwrap()));
        let j6 = &s.jobs[1];
        assert_eq!(j6.family, Family::V6);
        assert_eq!(
            j6.intervals,
            vec![iv("fd79::", "fd79::0"), iv("fd79::2", "fd79::ff")]
        );
        // The rest: off-link, loopback (not Ethernet), a /32 and link-local, our own addresses.
        assert_eq!(
            s.rest,
            vec![
                iv("10.78.255.0", "10.78.255.255"),
                iv("10.79.0.1", "10.79.0.1"),
                iv("127.0.0.1", "127.0.0.1"),
                iv("192.168.5.0", "192.168.5.255"),
                iv("fd79::1", "fd79::1"),
                iv("fe80::5", "fe80::5"),
            ]
        );
        // Nothing on a link: everything is the rest.
        let s = split_with(&targets[..1], &addrs[..1], &ether);
        assert!(s.jobs.is_empty());
        assert_eq!(s.rest, targets[..1].to_vec());
    }

    fn job4() -> LinkJob {
        LinkJob {
            ifindex: 2,
            ifname: "eth2".into(),
            mac: [2, 0, 0, 0, 0, 2],
            source: "10.79.0.1".parse().unwrap(),
            family: Family::V4,
            intervals: vec![iv("10.79.0.2", "10.79.0.254")],
        }
    }

    #[test]
    fn arp_answers_are_matched_to_targets() {
        let job = job4();
        let mut b = [0u8; 28];
        let (n, mac) = request(&job, "10.79.0.9".parse().unwrap(), &mut b).unwrap();
        assert_eq!(mac, BROADCAST);
        // Our own request is no answer.
        assert_eq!(answer(&job, &b[..n]), None);
        // The reply: operation 2, from the target, to us.
        let reply = |from: &str, to: &str| {
            let mut r = [0u8; 28];
            neighbor::arp_request(
                &mut r,
                [2, 0, 0, 0, 0, 9],
                from.parse().unwrap(),
                to.parse().unwrap(),
            )
            .unwrap();
            r[7] = 2;
            r
        };
        assert_eq!(
            answer(&job, &reply("10.79.0.9", "10.79.0.1")),
            Some(("10.79.0.9".parse().unwrap(), Reason::ArpResponse, None))
        );
        // Not a target, or not to us: ignored.
        assert_eq!(answer(&job, &reply("10.79.0.255", "10.79.0.1")), None);
        assert_eq!(answer(&job, &reply("10.79.0.9", "10.79.0.3")), None);
        assert_eq!(answer(&job, &[0u8; 10]), None);
    }

    #[test]
    fn neighbour_advertisements_are_matched_to_targets() {
        let job = LinkJob {
            source: "fd79::1".parse().unwrap(),
            family: Family::V6,
            intervals: vec![iv("fd79::2", "fd79::ff")],
            ..job4()
        };
        let mut b = [0u8; 128];
        let t: Ipv6Addr = "fd79::20".parse().unwrap();
        let (n, mac) = request(&job, IpAddr::V6(t), &mut b).unwrap();
        assert_eq!(mac, [0x33, 0x33, 0xff, 0, 0, 0x20]);
        // Our own solicitation is no answer.
        assert_eq!(answer(&job, &b[..n]), None);
        // An advertisement: the solicitation turned around (type 136, solicited flag).
        let na = |target: Ipv6Addr| {
            let me: Ipv6Addr = "fd79::1".parse().unwrap();
            let mut v = vec![0u8; 72];
            portolan_wire::Ipv6Repr {
                src_addr: target,
                dst_addr: me,
                next_header: 58,
                payload_len: 32,
                hop_limit: 255,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut v)
            .unwrap();
            v[40] = 136;
            v[44] = 0x60;
            v[48..64].copy_from_slice(&target.octets());
            v[64] = 2;
            v[65] = 1;
            let sum = portolan_wire::checksum::pseudo(IpAddr::V6(target), IpAddr::V6(me), 58, 32)
                .unwrap();
            let c = portolan_wire::checksum::finish(portolan_wire::checksum::add(sum, &v[40..]));
            v[42..44].copy_from_slice(&c.to_be_bytes());
            v
        };
        assert_eq!(
            answer(&job, &na(t)),
            Some((IpAddr::V6(t), Reason::NdResponse, Some(255)))
        );
        assert_eq!(answer(&job, &na("fd79::1:0".parse().unwrap())), None);
    }
}
