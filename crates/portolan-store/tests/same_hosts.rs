//! The fast path of `portolan diff` on two nmap XML files (`import::same_hosts`): reading the
//! two files with the hosts identical in both cut out gives the same diff as reading them
//! whole — hosts that differ only in their times, hosts in another order, one port's version,
//! hosts listed twice, hosts that went down, vanished or appeared — and a property test over
//! generated pairs of files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor};
use std::net::IpAddr;

use portolan_model::diff::{diff_hosts, diff_ports, HostDiff};
use portolan_model::{PortDiff, PortEvent, PortKey, PortState};
use portolan_store::import::same_hosts::{identical_hosts, index_hosts, Omit, OmitHosts};
use portolan_store::import::{read_nmap_xml, Record};
use proptest::prelude::*;

type Side = (BTreeMap<PortKey, PortEvent>, BTreeMap<IpAddr, bool>);

/// A file's side of a diff, as `portolan diff` builds it.
fn side(r: impl BufRead) -> Side {
    let (mut ports, mut hosts) = (BTreeMap::new(), BTreeMap::new());
    read_nmap_xml(r, "test.xml", &mut |rec| {
        if let Record::Host(h) = rec {
            hosts.insert(h.addr, h.up);
            for ev in h.ports {
                if ev.state.proves_host_up() {
                    hosts.insert(ev.addr, true);
                }
                if ev.state != PortState::Closed {
                    ports.insert(ev.key(), ev);
                }
            }
        }
        Ok(())
    })
    .unwrap();
    (ports, hosts)
}

fn diff(a: Side, b: Side) -> (Vec<PortDiff>, Vec<HostDiff>) {
    let hosts = diff_hosts(&a.1, &b.1);
    (diff_ports(a.0, b.0), hosts)
}

/// The diff read whole, the diff the fast path gives, and how many hosts it cut from each.
fn both_ways(a: &str, b: &str) -> ((Vec<PortDiff>, Vec<HostDiff>), Option<Fast>) {
    let whole = diff(side(a.as_bytes()), side(b.as_bytes()));
    let rs = RandomState::new();
    let (Some(ia), Some(ib)) = (
        index_hosts(a.as_bytes(), &rs).unwrap(),
        index_hosts(b.as_bytes(), &rs).unwrap(),
    ) else {
        return (whole, None);
    };
    let (oa, ob) = identical_hosts(&ia, &ib);
    let cut = (oa.len(), ob.len());
    let fast = diff(
        side(BufReader::new(OmitHosts::new(
            Cursor::new(a.as_bytes()),
            oa,
        ))),
        side(BufReader::with_capacity(
            7,
            OmitHosts::new(Cursor::new(b.as_bytes()), ob),
        )),
    );
    (whole, Some(Fast { diff: fast, cut }))
}

struct Fast {
    diff: (Vec<PortDiff>, Vec<HostDiff>),
    cut: (usize, usize),
}

/// One port: (port, state, product version).
type P = (u16, &'static str, &'static str);

fn host(addr: &str, t: u64, up: bool, srtt: u32, ports: &[P]) -> String {
    let mut s = format!(
        "<host starttime=\"{t}\" endtime=\"{}\"><status state=\"{}\" reason=\"syn-ack\" reason_ttl=\"64\"/>\n\
         <address addr=\"{addr}\" addrtype=\"ipv4\"/>\n<hostnames>\n</hostnames>\n<ports>",
        t + 3,
        if up { "up" } else { "down" }
    );
    for (p, st, ver) in ports {
        s.push_str(&format!(
            "<port protocol=\"tcp\" portid=\"{p}\"><state state=\"{st}\" reason=\"syn-ack\" reason_ttl=\"64\"/>\
             <service name=\"ssh\" product=\"OpenSSH\" version=\"{ver}\" method=\"probed\" conf=\"10\"><cpe>cpe:/a:openbsd:openssh</cpe></service></port>\n"
        ));
    }
    s.push_str(&format!(
        "</ports>\n<times srtt=\"{srtt}\" rttvar=\"5\" to=\"100000\"/>\n</host>\n"
    ));
    s
}

fn file(t: u64, hosts: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n\
         <?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n\
         <!-- Nmap 7.93 scan -->\n\
         <nmaprun scanner=\"nmap\" args=\"nmap -sV 10.0.0.0/24\" start=\"{t}\" version=\"7.93\" xmloutputversion=\"1.05\">\n\
         <scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"3\" services=\"22,80,443\"/>\n\
         <hosthint><status state=\"up\" reason=\"arp-response\" reason_ttl=\"0\"/>\n\
         <address addr=\"10.0.0.1\" addrtype=\"ipv4\"/>\n<hostnames>\n</hostnames>\n</hosthint>\n\
         {}<runstats><finished time=\"{}\" exit=\"success\"/></runstats>\n</nmaprun>\n",
        hosts.concat(),
        t + 60
    )
}

const SSH: P = (22, "open", "9.2p1");

#[test]
fn hosts_that_differ_only_in_their_times_are_cut_and_change_nothing() {
    let a = file(
        1000,
        &[
            host("10.0.0.1", 1000, true, 300, &[SSH]),
            host("10.0.0.2", 1001, true, 310, &[SSH, (80, "open", "1")]),
        ],
    );
    let b = file(
        90000,
        &[
            host("10.0.0.1", 90000, true, 999, &[SSH]),
            host("10.0.0.2", 90007, true, 1, &[SSH, (80, "open", "1")]),
        ],
    );
    let (whole, fast) = both_ways(&a, &b);
    let fast = fast.expect("plain nmap XML takes the fast path");
    assert_eq!(fast.cut, (2, 2), "both hosts are the same in both files");
    assert_eq!(whole, fast.diff);
    assert!(whole.0.is_empty() && whole.1.is_empty());
}

#[test]
fn one_port_s_version_and_hosts_in_another_order() {
    let a = file(
        1000,
        &[
            host("10.0.0.1", 1000, true, 300, &[SSH]),
            host("10.0.0.2", 1001, true, 300, &[SSH]),
            host("10.0.0.3", 1002, true, 300, &[SSH]),
        ],
    );
    let b = file(
        2000,
        &[
            host("10.0.0.3", 2000, true, 300, &[SSH]),
            host("10.0.0.2", 2001, true, 300, &[(22, "open", "9.6p1")]),
            host("10.0.0.1", 2002, true, 300, &[SSH]),
        ],
    );
    let (whole, fast) = both_ways(&a, &b);
    let fast = fast.unwrap();
    assert_eq!(fast.cut, (2, 2));
    assert_eq!(whole, fast.diff);
    assert_eq!(whole.0.len(), 1);
    assert_eq!(whole.0[0].key.addr.to_string(), "10.0.0.2");
}

#[test]
fn a_host_listed_twice_is_always_read() {
    // In `a` 10.0.0.1 is listed twice (the second listing wins); `b` lists it once, the same
    // as `a`'s first listing: cutting that pair would hide the change.
    let first = host("10.0.0.1", 1000, true, 300, &[SSH]);
    let a = file(
        1000,
        &[
            first.clone(),
            host("10.0.0.1", 1005, true, 300, &[(22, "filtered", "9.2p1")]),
        ],
    );
    let b = file(1000, &[first]);
    let (whole, fast) = both_ways(&a, &b);
    let fast = fast.unwrap();
    assert_eq!(fast.cut, (0, 0));
    assert_eq!(whole, fast.diff);
    assert_eq!(whole.0.len(), 1, "22 filtered -> open");
}

#[test]
fn hosts_down_gone_and_new() {
    let a = file(
        1000,
        &[
            host("10.0.0.1", 1000, true, 300, &[SSH]),
            host("10.0.0.2", 1000, true, 300, &[SSH]),
            host("10.0.0.3", 1000, true, 300, &[SSH]),
        ],
    );
    let b = file(
        1000,
        &[
            host("10.0.0.1", 1000, false, 300, &[]),
            host("10.0.0.3", 1000, true, 300, &[SSH]),
            host("10.0.0.4", 1000, true, 300, &[SSH]),
        ],
    );
    let (whole, fast) = both_ways(&a, &b);
    let fast = fast.unwrap();
    assert_eq!(fast.cut, (1, 1));
    assert_eq!(whole, fast.diff);
    assert_eq!(whole.1.len(), 3, "down, gone, new");
}

#[test]
fn a_commented_host_takes_the_slow_path() {
    let h = host("10.0.0.1", 1000, true, 300, &[SSH]);
    let a = file(1000, &[format!("<!-- {h} -->")]);
    let b = file(1000, std::slice::from_ref(&h));
    let (whole, fast) = both_ways(&a, &b);
    assert!(fast.is_none(), "a comment around a host: read whole");
    assert_eq!(whole.1.len(), 1, "the host is new in b");
}

#[test]
fn omit_nothing_reads_the_file_unchanged() {
    let a = file(1000, &[host("10.0.0.1", 1000, true, 300, &[SSH])]);
    let mut out = String::new();
    std::io::Read::read_to_string(
        &mut OmitHosts::new(Cursor::new(a.as_bytes()), Omit::default()),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, a);
}

/// A generated host: address (few, so that some repeat), up, ports (port, state, version, as
/// indexes), time, srtt.
type Gen = (u8, bool, Vec<(u8, u8, u8)>, u16, u16);

fn arb_host() -> impl Strategy<Value = Gen> {
    (
        0u8..12,
        prop::bool::weighted(0.9),
        prop::collection::vec((0u8..3, 0u8..3, 0u8..2), 0..3),
        any::<u16>(),
        any::<u16>(),
    )
}

fn render(hosts: &[Gen], t: u64) -> String {
    const PORTS: [u16; 3] = [22, 80, 443];
    const STATES: [&str; 3] = ["open", "filtered", "closed"];
    const VERSIONS: [&str; 2] = ["9.2p1", "9.6p1"];
    let hs: Vec<String> = hosts
        .iter()
        .map(|(a, up, ports, time, srtt)| {
            let mut seen = std::collections::HashSet::new();
            let ps: Vec<P> = ports
                .iter()
                .filter(|(p, _, _)| seen.insert(*p))
                .map(|(p, s, v)| {
                    (
                        PORTS[*p as usize],
                        STATES[*s as usize],
                        VERSIONS[*v as usize],
                    )
                })
                .collect();
            host(
                &format!("10.0.0.{a}"),
                t + u64::from(*time),
                *up,
                u32::from(*srtt),
                &ps,
            )
        })
        .collect();
    file(t, &hs)
}

/// The diff read whole and the fast path's, when both files read whole (`None` otherwise); the
/// fast path must not panic either way.
fn both_ways_if_readable(a: &[u8], b: &[u8]) -> Option<(Side, Side, Side, Side)> {
    let lenient = |r: &mut dyn BufRead| -> Option<Side> {
        let (mut ports, mut hosts) = (BTreeMap::new(), BTreeMap::new());
        read_nmap_xml(r, "t.xml", &mut |rec| {
            if let Record::Host(h) = rec {
                hosts.insert(h.addr, h.up);
                for ev in h.ports {
                    if ev.state.proves_host_up() {
                        hosts.insert(ev.addr, true);
                    }
                    if ev.state != PortState::Closed {
                        ports.insert(ev.key(), ev);
                    }
                }
            }
            Ok(())
        })
        .ok()?;
        Some((ports, hosts))
    };
    let rs = RandomState::new();
    let (ia, ib) = (index_hosts(a, &rs).ok()??, index_hosts(b, &rs).ok()??);
    let (oa, ob) = identical_hosts(&ia, &ib);
    let fa = lenient(&mut BufReader::new(OmitHosts::new(Cursor::new(a), oa)));
    let fb = lenient(&mut BufReader::new(OmitHosts::new(Cursor::new(b), ob)));
    let (wa, wb) = (lenient(&mut &a[..])?, lenient(&mut &b[..])?);
    Some((wa, wb, fa?, fb?))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Generated files with bytes changed at random (markup characters among them): the fast
    /// path never panics, and whenever both files read whole, it finds what the full parse
    /// finds (the differential check of the fuzz target `same_hosts`).
    #[test]
    fn mangled_files_never_mislead_the_fast_path(
        a in prop::collection::vec(arb_host(), 1..6),
        b in prop::collection::vec(arb_host(), 1..6),
        edits in prop::collection::vec((any::<bool>(), any::<prop::sample::Index>(), prop::sample::select(b"<>\"'!-?/ a=:&[]".to_vec())), 1..4),
    ) {
        let (mut fa, fb) = (render(&a, 1000).into_bytes(), render(&b, 2000).into_bytes());
        for (insert, at, c) in edits {
            let i = at.index(fa.len());
            if insert { fa.insert(i, c) } else { fa[i] = c }
        }
        if let Some((wa, wb, fa, fb)) = both_ways_if_readable(&fa, &fb) {
            prop_assert_eq!(diff(wa, wb), diff(fa, fb));
        }
    }

    /// Any bytes: no panic.
    #[test]
    fn any_bytes_never_panic(a in prop::collection::vec(any::<u8>(), 0..512), b in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = both_ways_if_readable(&a, &b);
    }

    /// `b` is `a` with some hosts changed, dropped, added and moved, and every time changed:
    /// the fast path finds what the full parse finds.
    #[test]
    fn the_fast_path_finds_what_the_full_parse_finds(
        a in prop::collection::vec(arb_host(), 0..10),
        edits in prop::collection::vec((0u8..5, arb_host()), 0..10),
        rotate in 0usize..10,
    ) {
        let mut b = a.clone();
        for (i, (op, h)) in edits.into_iter().enumerate() {
            let n = b.len();
            match op {
                0 if n > 0 => { b.remove(i % n); }
                1 => b.push(h),
                2 if n > 0 => { b[i % n].2 = h.2; }
                3 if n > 0 => { b[i % n].1 = h.1; }
                _ if n > 0 => { b[i % n].3 = h.3; b[i % n].4 = h.4; }
                _ => {}
            }
        }
        if !b.is_empty() {
            let k = rotate % b.len();
            b.rotate_left(k);
        }
        let (whole, fast) = both_ways(&render(&a, 1000), &render(&b, 500_000));
        let fast = fast.expect("generated files are plain nmap XML");
        prop_assert_eq!(whole, fast.diff);
    }
}
