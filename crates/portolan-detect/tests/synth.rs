//! The test synthesiser writes the frames it wrote before its headers were described by
//! `portolan_wire`'s `Repr`s (`tests/data/synth_golden.txt`, one `name hex` line per frame,
//! recorded from the hand-written synthesiser, which left every checksum zero): the same bytes,
//! except that every checksum is now filled in, and right.
//!
//! To regenerate after an intended change: `PORTOLAN_BLESS=1 cargo test -p portolan-detect --test synth`
//! (the recorded frames then carry checksums; the comparison zeroes them on both sides).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::fmt::Write as _;
use std::net::IpAddr;

use portolan_detect::synth::{self, Tcp, LINUX_SYN_OPTIONS};
use portolan_wire::{icmp, ip, ipproto, tcp, udp};
use portolan_wire::{EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket};

/// Check (when `verify`) every checksum of one IP packet (and of the packet an ICMP error
/// quotes) and zero it in `frame`, where the packet starts at `at`. Returns how many checksums
/// it zeroed.
fn check_and_zero(frame: &mut [u8], at: usize, verify: bool) -> usize {
    let b = frame[at..].to_vec();
    let (src, dst, proto, l4_at): (IpAddr, IpAddr, u8, usize) = if b[0] >> 4 == 4 {
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(
            !verify || p.verify_checksum(),
            "IPv4 header checksum at {at}"
        );
        frame[at + ip::v4_field::CHECKSUM.start..at + ip::v4_field::CHECKSUM.end].fill(0);
        (
            p.src_addr().into(),
            p.dst_addr().into(),
            p.protocol(),
            at + p.header_len(),
        )
    } else {
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        let ul = p.upper_layer().unwrap();
        let l4 = at + b.len() - ul.payload.len();
        (p.src_addr().into(), p.dst_addr().into(), ul.protocol, l4)
    };
    let l4 = frame[l4_at..].to_vec();
    let zero = |frame: &mut [u8], f: portolan_wire::Field| {
        frame[l4_at + f.start..l4_at + f.end].fill(0);
    };
    let quoted = match proto {
        ipproto::TCP => {
            assert!(
                !verify
                    || TcpPacket::new_checked(&l4[..])
                        .unwrap()
                        .verify_checksum(src, dst)
            );
            zero(frame, tcp::field::CHECKSUM);
            0
        }
        ipproto::UDP => {
            let u = UdpPacket::new_checked(&l4[..]).unwrap();
            assert!(!verify || (u.checksum() != 0 && u.verify_checksum(src, dst)));
            zero(frame, udp::field::CHECKSUM);
            0
        }
        ipproto::ICMP => {
            let i = IcmpPacket::new_checked(&l4[..], false).unwrap();
            assert!(!verify || i.verify_checksum(src, dst));
            zero(frame, icmp::field::CHECKSUM);
            check_and_zero(frame, l4_at + icmp::field::DATA, verify)
        }
        p => panic!("unexpected protocol {p}"),
    };
    2 + quoted
}

/// `frame` (Ethernet) with every checksum checked (when `verify`) and zeroed.
fn zeroed(frame: &[u8], verify: bool) -> Vec<u8> {
    let mut f = frame.to_vec();
    let e = EthernetFrame::new_checked(frame).unwrap();
    let at = frame.len() - e.payload().len();
    assert!(check_and_zero(&mut f, at, verify) >= 1);
    f
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// Every synthesiser over a spread of addresses, flags, options and payload lengths.
fn frames() -> Vec<(String, Vec<u8>)> {
    let v4 = [([10, 1, 2, 3], [10, 2, 0, 1]), ([255; 4], [0; 4])];
    let v6 = [([0xfd; 16], [0x20; 16])];
    let segs = [
        Tcp::default(),
        frames_segment(),
        Tcp {
            flags: 0x18,
            options: &[1, 1, 8],
            payload_len: 37,
            ..Tcp::default()
        },
        Tcp {
            flags: 0xff,
            options: &[2, 4, 5, 0xb4],
            payload_len: 1,
            ..Tcp::default()
        },
    ];
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for (ai, &(s, d)) in v4.iter().enumerate() {
        for (ti, t) in segs.iter().enumerate() {
            for (ii, &(id, ttl)) in [(0u16, 64u8), (0xffff, 1)].iter().enumerate() {
                synth::tcp4(&mut buf, s, d, id, ttl, t);
                out.push((format!("tcp4/a{ai}/t{ti}/i{ii}"), std::mem::take(&mut buf)));
            }
        }
        for (li, len) in [0usize, 1, 30, 90].into_iter().enumerate() {
            synth::udp4(&mut buf, s, d, 41000, 53, len);
            out.push((format!("udp4/a{ai}/l{li}"), std::mem::take(&mut buf)));
        }
        synth::icmp4_port_unreachable(&mut buf, d, s, 41000, 161);
        out.push((format!("icmp4/a{ai}"), std::mem::take(&mut buf)));
    }
    for (ai, &(s, d)) in v6.iter().enumerate() {
        for (ti, t) in segs.iter().enumerate() {
            synth::tcp6(&mut buf, s, d, t);
            out.push((format!("tcp6/a{ai}/t{ti}"), std::mem::take(&mut buf)));
        }
    }
    // Frames are appended: two in one buffer are the two frames back to back.
    synth::tcp4(&mut buf, [1, 2, 3, 4], [5, 6, 7, 8], 1, 64, &segs[1]);
    synth::udp4(&mut buf, [1, 2, 3, 4], [5, 6, 7, 8], 1, 2, 3);
    out.push(("appended".into(), buf));
    out
}

#[test]
fn synthesised_frames_are_the_recorded_bytes_with_checksums() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/synth_golden.txt");
    let got = frames();
    if std::env::var_os("PORTOLAN_BLESS").is_some() {
        let text: String = got
            .iter()
            .map(|(name, b)| format!("{name} {}\n", hex(b)))
            .collect();
        std::fs::write(path, text).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap();
    assert!(want.lines().count() > 30, "golden file too small");
    assert_eq!(got.len(), want.lines().count());
    // The two frames of "appended" are checked one by one: the first is as long as a tcp4 of
    // its segment alone.
    let mut first = Vec::new();
    synth::tcp4(
        &mut first,
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        1,
        64,
        &frames_segment(),
    );
    let mut checked = 0;
    for ((name, g), line) in got.iter().zip(want.lines()) {
        let (wname, whex) = line.split_once(' ').unwrap();
        assert_eq!(name, wname);
        let w = unhex(whex);
        let cut = if name == "appended" {
            first.len()
        } else {
            g.len()
        };
        assert_eq!(g.len(), w.len(), "{name}: length");
        let (g1, g2) = g.split_at(cut);
        let (w1, w2) = w.split_at(cut);
        assert_eq!(hex(&zeroed(g1, true)), hex(&zeroed(w1, false)), "{name}");
        if !g2.is_empty() {
            assert_eq!(
                hex(&zeroed(g2, true)),
                hex(&zeroed(w2, false)),
                "{name} (second frame)"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, got.len());
}

/// The segment of the first frame of "appended" (the second of [`frames`]' segments).
fn frames_segment() -> Tcp<'static> {
    Tcp {
        sport: 443,
        dport: 51000,
        flags: 0x12,
        seq: 0xdead_beef,
        ack: u32::MAX,
        window: 0,
        options: &LINUX_SYN_OPTIONS,
        payload_len: 0,
    }
}
