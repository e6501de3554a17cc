//! The test synthesiser writes the frames it wrote before its headers were described by
//! `portolan_wire`'s `Repr`s (`tests/data/synth_golden.txt`, one `name hex` line per frame).
//!
//! To regenerate after an intended change: `PORTOLAN_BLESS=1 cargo test -p portolan-detect --test synth`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::fmt::Write as _;

use portolan_detect::synth::{self, Tcp, LINUX_SYN_OPTIONS};

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
        Tcp {
            sport: 443,
            dport: 51000,
            flags: 0x12,
            seq: 0xdead_beef,
            ack: u32::MAX,
            window: 0,
            options: &LINUX_SYN_OPTIONS,
            payload_len: 0,
        },
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
fn synthesised_frames_are_the_recorded_bytes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/synth_golden.txt");
    let got: String = frames()
        .into_iter()
        .map(|(name, b)| format!("{name} {}\n", hex(&b)))
        .collect();
    if std::env::var_os("PORTOLAN_BLESS").is_some() {
        std::fs::write(path, &got).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap();
    assert!(want.lines().count() > 30, "golden file too small");
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w);
    }
    assert_eq!(got.lines().count(), want.lines().count());
}
