//! The probe builders on the scanner's send path: one call per probe sent.
//!
//! Run: `cargo bench -p portolan-wire --bench build`
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures built here

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, Criterion};
use portolan_wire::build::{self, IpFields};
use portolan_wire::payloads;

fn bench(c: &mut Criterion) {
    let (s4, d4): (IpAddr, IpAddr) = (
        Ipv4Addr::new(10, 78, 0, 1).into(),
        Ipv4Addr::new(10, 78, 0, 2).into(),
    );
    let (s6, d6): (IpAddr, IpAddr) = (
        "fd00::1".parse::<Ipv6Addr>().unwrap().into(),
        "fd00::2".parse::<Ipv6Addr>().unwrap().into(),
    );
    let f = IpFields { ttl: 64, ident: 7 };
    let dns = payloads::for_port(53).remove(0).bytes;
    let mut buf = [0u8; 1500];
    c.bench_function("build/syn_v4", |b| {
        b.iter(|| build::syn(&mut buf, black_box(s4), black_box(d4), 40001, 443, 7, f))
    });
    c.bench_function("build/syn_v6", |b| {
        b.iter(|| build::syn(&mut buf, black_box(s6), black_box(d6), 40001, 443, 7, f))
    });
    c.bench_function("build/udp_dns_v4", |b| {
        b.iter(|| build::udp(&mut buf, black_box(s4), black_box(d4), 61001, 53, &dns, f))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
