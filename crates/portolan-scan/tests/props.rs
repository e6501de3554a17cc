//! Property tests: targets, port specs, the plan (bijection, shards), resume progress.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use portolan_scan::plan::{Plan, Progress, Shard};
use portolan_scan::ports::PortSet;
use portolan_scan::target::{TargetOptions, TargetSet};
use proptest::prelude::*;

fn v4(x: u32) -> String {
    Ipv4Addr::from(x).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Excludes are honoured absolutely and the set equals the brute-force difference.
    #[test]
    fn targets_minus_excludes(
        ranges in prop::collection::vec((0u32..2000, 0u32..300), 1..6),
        excl in prop::collection::vec((0u32..2000, 0u32..300), 0..6),
    ) {
        let base = 0x0a00_0000u32;
        let spec = |(a, l): (u32, u32)| format!("{}-{}", v4(base + a), v4(base + a + l));
        let t: Vec<String> = ranges.iter().copied().map(spec).collect();
        let e: Vec<String> = excl.iter().copied().map(spec).collect();
        let mut want = BTreeSet::new();
        for &(a, l) in &ranges { for x in a..=a + l { want.insert(base + x); } }
        for &(a, l) in &excl { for x in a..=a + l { want.remove(&(base + x)); } }
        match TargetSet::parse(&t, &e, TargetOptions::default()) {
            Err(_) => prop_assert!(want.is_empty()),
            Ok(s) => {
                prop_assert_eq!(s.len(), want.len() as u64);
                let got: Vec<u32> = (0..s.len()).map(|i| match s.get(i) {
                    Some(IpAddr::V4(a)) => u32::from(a),
                    other => panic!("{other:?}"),
                }).collect();
                prop_assert_eq!(got, want.iter().copied().collect::<Vec<_>>());
                for &(a, l) in &excl {
                    for x in a..=a + l {
                        let ip = IpAddr::V4(Ipv4Addr::from(base + x));
                        prop_assert!(!s.contains(ip));
                        prop_assert!(s.is_excluded(ip));
                    }
                }
            }
        }
    }

    /// CIDR blocks have 2^(32-p) addresses and contain their base.
    #[test]
    fn cidr_sizes(a in any::<u32>(), p in 8u32..=32) {
        let s = TargetSet::parse(&[format!("{}/{p}", v4(a))], &[] as &[&str], TargetOptions::default()).unwrap();
        prop_assert_eq!(s.len(), 1u64 << (32 - p));
        prop_assert!(s.contains(IpAddr::V4(Ipv4Addr::from(a))));
    }

    /// Arbitrary text never panics the target parser.
    #[test]
    fn target_parser_total(s in "\\PC{0,40}") {
        let _ = TargetSet::parse(&[s], &[] as &[&str], TargetOptions::default());
    }

    /// A port set printed compactly parses back to itself.
    #[test]
    fn port_spec_roundtrip(ports in prop::collection::vec(1u16..=65535, 1..200)) {
        let s = PortSet::from_ports(ports.clone());
        let back = PortSet::parse(&s.to_spec()).unwrap();
        prop_assert_eq!(&back, &s);
        for p in ports { prop_assert!(back.contains(p)); }
    }

    /// Arbitrary text never panics the port parser.
    #[test]
    fn port_parser_total(s in "\\PC{0,30}") {
        let _ = PortSet::parse(&s);
    }

    /// The plan is a bijection on 0..n for any n and seed.
    #[test]
    fn plan_bijection(n in 1u64..5000, seed in any::<u64>()) {
        let p = Plan::new(n, seed).unwrap();
        let mut seen = vec![false; n as usize];
        for i in 0..n {
            let x = p.index_at(i);
            prop_assert!(x < n);
            prop_assert!(!seen[x as usize], "duplicate {}", x);
            seen[x as usize] = true;
        }
    }

    /// Shards i/N partition the positions exactly: together all of them, pairwise disjoint.
    #[test]
    fn shards_partition(n in 1u64..100_000, count in 1u64..17) {
        let mut next = 0;
        for index in 0..count {
            let r = Shard { index, count }.positions(n);
            prop_assert_eq!(r.start, next);
            next = r.end;
        }
        prop_assert_eq!(next, n);
    }

    /// Progress reports a watermark below which everything is done, whatever the order.
    #[test]
    fn progress_any_order(order in Just((0u64..300).collect::<Vec<_>>()).prop_shuffle(), cut in 0usize..300) {
        let mut p = Progress::new(0, &[]);
        for &x in &order[..cut] { p.done(x); }
        let done: BTreeSet<u64> = order[..cut].iter().copied().collect();
        for x in 0..300 { prop_assert_eq!(p.is_done(x), done.contains(&x)); }
        // A resumed progress knows the same.
        let r = Progress::new(p.next(), &p.done_above());
        for x in 0..300 { prop_assert_eq!(r.is_done(x), done.contains(&x)); }
    }
}

#[test]
fn big_plan_is_cheap_and_in_range() {
    // A /8 x 1000 ports: an index range, not a list.
    let t = TargetSet::parse(&["10.0.0.0/8"], &[] as &[&str], TargetOptions::default()).unwrap();
    let n = t.len() * 1000;
    let p = Plan::new(n, 42).unwrap();
    for i in (0..n).step_by(1_000_003) {
        assert!(p.index_at(i) < n);
    }
}
