#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures
//! Property tests of the two parsers of untrusted bytes: the `/proc/net` tables and netlink
//! sock_diag answers. They must never panic, and must give back what was encoded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_audit::netlink::{encode_diag_message, encode_done, parse_messages};
use portolan_audit::procnet::{format_endpoint, parse_endpoint, parse_table};
use portolan_audit::{Family, Socket};
use portolan_registry::Protocol;
use proptest::prelude::*;

fn arb_socket() -> impl Strategy<Value = Socket> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(udp, v6, a, port, inode, uid, v6only)| {
            let (family, address, v6only) = if v6 {
                (Family::Ipv6, IpAddr::V6(Ipv6Addr::from(a)), v6only)
            } else {
                (
                    Family::Ipv4,
                    IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
                    None,
                )
            };
            Socket {
                protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
                family,
                address,
                port,
                inode: u64::from(inode),
                uid,
                v6only,
                interface: 0,
            }
        })
}

fn proc_line(i: usize, s: &Socket, state: u8) -> String {
    format!(
        "{i:4}: {} {} {state:02X} 00000000:00000000 00:00000000 00000000 {:5} 0 {} 1 0000000000000000 100 0 0 10 0",
        format_endpoint(s.address, s.port),
        format_endpoint(s.address, 0),
        s.uid,
        s.inode
    )
}

proptest! {
    #[test]
    fn endpoint_roundtrip(a in any::<[u8; 16]>(), port in any::<u16>(), v6 in any::<bool>()) {
        let (addr, fam) = if v6 {
            (IpAddr::V6(Ipv6Addr::from(a)), Family::Ipv6)
        } else {
            (IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), Family::Ipv4)
        };
        let text = format_endpoint(addr, port);
        prop_assert_eq!(parse_endpoint(&text, fam), Ok((addr, port)));
    }

    #[test]
    fn proc_table_roundtrip(socks in proptest::collection::vec(arb_socket(), 0..40), states in proptest::collection::vec(0u8..12, 40)) {
        for fam in [Family::Ipv4, Family::Ipv6] {
            for proto in [Protocol::Tcp, Protocol::Udp] {
                let want_state = if proto == Protocol::Tcp { 0x0A } else { 0x07 };
                let chosen: Vec<&Socket> = socks.iter().filter(|s| s.family == fam).collect();
                let mut text = String::from("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
                let mut expected = Vec::new();
                for (i, s) in chosen.iter().enumerate() {
                    let st = if states[i] == 0 { want_state } else { states[i] };
                    text.push_str(&proc_line(i, s, st));
                    text.push('\n');
                    if st == want_state {
                        expected.push((s.address, s.port, s.inode, s.uid));
                    }
                }
                let p = parse_table(&text, proto, fam);
                prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
                let got: Vec<_> = p.sockets.iter().map(|s| (s.address, s.port, s.inode, s.uid)).collect();
                prop_assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn proc_table_never_panics(text in ".{0,400}") {
        let _ = parse_table(&text, Protocol::Tcp, Family::Ipv6);
        let _ = parse_table(&text, Protocol::Udp, Family::Ipv4);
    }

    #[test]
    fn proc_table_line_noise(lines in proptest::collection::vec("[0-9A-Fa-f: x]{0,120}", 0..20)) {
        let text = lines.join("\n");
        let p = parse_table(&text, Protocol::Tcp, Family::Ipv4);
        prop_assert!(p.sockets.len() + p.errors.len() <= lines.len());
    }

    #[test]
    fn netlink_roundtrip(socks in proptest::collection::vec(arb_socket(), 0..30), seq in any::<u32>()) {
        let mut buf = Vec::new();
        for s in &socks {
            buf.extend(encode_diag_message(seq, s));
        }
        buf.extend(encode_done(seq));
        let b = parse_messages(&buf, Protocol::Tcp, seq).unwrap();
        prop_assert!(b.done);
        prop_assert_eq!(b.sockets.len(), socks.len());
        for (got, want) in b.sockets.iter().zip(&socks) {
            prop_assert_eq!(got.address, want.address);
            prop_assert_eq!(got.port, want.port);
            prop_assert_eq!(got.inode, want.inode);
            prop_assert_eq!(got.uid, want.uid);
            prop_assert_eq!(got.v6only, want.v6only);
        }
    }

    #[test]
    fn netlink_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), seq in any::<u32>()) {
        let _ = parse_messages(&bytes, Protocol::Udp, seq);
    }

    #[test]
    fn netlink_mutations_never_panic(socks in proptest::collection::vec(arb_socket(), 1..5), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut buf = Vec::new();
        for s in &socks {
            buf.extend(encode_diag_message(7, s));
        }
        for (i, v) in flips {
            let n = buf.len();
            buf[i % n] = v;
        }
        let _ = parse_messages(&buf, Protocol::Tcp, 7);
    }
}
