//! The probe builders write the same bytes as before the headers were described by `Repr`s:
//! every probe below is compared with the bytes the hand-written builders produced
//! (`tests/data/build_golden.txt`, one `name hex` line per probe).
//!
//! To regenerate after an intended change: `PORTOLAN_BLESS=1 cargo test -p portolan-wire --test golden`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portolan_wire::build::{self, IpFields};
use portolan_wire::payloads;

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// Every builder over a spread of addresses, ports, sequence numbers, TTLs, identifications and
/// payloads (including the real UDP probe payloads and ones whose checksum folds to zero).
fn probes() -> Vec<(String, Vec<u8>)> {
    let v4s: [(Ipv4Addr, Ipv4Addr); 3] = [
        (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)),
        (Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST),
        (Ipv4Addr::new(255, 255, 255, 255), Ipv4Addr::new(0, 0, 0, 0)),
    ];
    let v6s: [(Ipv6Addr, Ipv6Addr); 2] = [
        (Ipv6Addr::LOCALHOST, "fd00::2".parse().unwrap()),
        (
            "2001:db8:ffff::1".parse().unwrap(),
            "fe80::1234:5678:9abc:def0".parse().unwrap(),
        ),
    ];
    let fields = [
        IpFields::default(),
        IpFields {
            ttl: 1,
            ident: 0xffff,
        },
        IpFields { ttl: 255, ident: 7 },
    ];
    let ports = [(40000u16, 443u16), (0, 0), (65535, 1)];
    let seqs = [0u32, 0xdead_beef, u32::MAX];
    let mut payload_set: Vec<Vec<u8>> = vec![vec![], b"x".to_vec(), vec![0xff; 33]];
    for p in [53u16, 123, 161, 137, 1900, 5353] {
        for pl in payloads::for_port(p) {
            payload_set.push(pl.bytes.clone());
        }
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    let mut addrs: Vec<(IpAddr, IpAddr)> = v4s.iter().map(|&(s, d)| (s.into(), d.into())).collect();
    addrs.extend(v6s.iter().map(|&(s, d)| (IpAddr::from(s), IpAddr::from(d))));
    for (ai, &(s, d)) in addrs.iter().enumerate() {
        for (fi, &f) in fields.iter().enumerate() {
            for (pi, &(sp, dp)) in ports.iter().enumerate() {
                for (si, &seq) in seqs.iter().enumerate() {
                    let n = build::syn(&mut buf, s, d, sp, dp, seq, f).unwrap();
                    out.push((format!("syn/a{ai}/f{fi}/p{pi}/s{si}"), buf[..n].to_vec()));
                }
                for (li, pl) in payload_set.iter().enumerate() {
                    let n = build::udp(&mut buf, s, d, sp, dp, pl, f).unwrap();
                    out.push((format!("udp/a{ai}/f{fi}/p{pi}/l{li}"), buf[..n].to_vec()));
                }
            }
        }
    }
    // The family-specific wrappers write what the generic builders write.
    let (s4, d4) = v4s[0];
    let n = build::syn_v4(&mut buf, s4, d4, 1, 2, 3, IpFields::default()).unwrap();
    out.push(("syn_v4".into(), buf[..n].to_vec()));
    let n = build::udp_v4(&mut buf, s4, d4, 1, 2, b"abc", IpFields::default()).unwrap();
    out.push(("udp_v4".into(), buf[..n].to_vec()));
    let (s6, d6) = v6s[0];
    let n = build::syn_v6(&mut buf, s6, d6, 1, 2, 3, IpFields::default()).unwrap();
    out.push(("syn_v6".into(), buf[..n].to_vec()));
    let n = build::udp_v6(&mut buf, s6, d6, 1, 2, b"abc", IpFields::default()).unwrap();
    out.push(("udp_v6".into(), buf[..n].to_vec()));
    // A UDP probe whose checksum computes to zero is sent as 0xffff: search a payload for it.
    for x in 0u16..=u16::MAX {
        let n = build::udp_v4(
            &mut buf,
            s4,
            d4,
            1,
            2,
            &x.to_be_bytes(),
            IpFields::default(),
        )
        .unwrap();
        if buf[26..28] == [0xff, 0xff] {
            out.push(("udp_v4/zero_checksum".into(), buf[..n].to_vec()));
            break;
        }
    }
    out
}

#[test]
fn builders_write_the_recorded_bytes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/build_golden.txt");
    let got: String = probes()
        .into_iter()
        .map(|(name, b)| format!("{name} {}\n", hex(&b)))
        .collect();
    if std::env::var_os("PORTOLAN_BLESS").is_some() {
        std::fs::write(path, &got).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap();
    assert!(want.lines().count() > 500, "golden file too small");
    assert!(want.contains("udp_v4/zero_checksum "));
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w);
    }
    assert_eq!(got.lines().count(), want.lines().count());
}
