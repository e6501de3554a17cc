//! How long the partition takes: `cargo bench -p portolan-policy --bench compile`.
//!
//! Two policies, each compiled a few times, the median printed (a plain harness: no timing goal
//! is asserted anywhere; tests assert behaviour):
//! - `pairs N`: the policy of `bench/firewall.sh` — N rules, clients → host i (10.98.x.y) on
//!   UDP port 10000 + i % 1000 — whose gateway rules that benchmark generates and applies;
//! - `zones`: 300 rules between 60 overlapping zones (networks /18 to /26 inside 10.0.0.0/16),
//!   port ranges, one rule in four logging: many sources per destination, where the source
//!   partition does its work.
//!
//! `ROUNDS=N` sets the number of runs per figure (default 5).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use portolan_policy::{compile, Policy};
use portolan_registry::Registry;

fn pairs(n: usize) -> String {
    let mut s = String::from(
        "zones:\n  clients: { networks: [10.99.1.0/24] }\n  servers: { networks: [10.98.0.0/16] }\nhosts:\n",
    );
    for i in 0..n {
        let _ = writeln!(
            s,
            "  h{i}: {{ address: 10.98.{}.{}, zone: servers }}",
            i / 250,
            i % 250 + 1
        );
    }
    s.push_str("rules:\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "  - {{ from: clients, to: h{i}, allow: [{}/udp] }}",
            10000 + i % 1000
        );
    }
    s.push_str("default: deny\n");
    s
}

fn zones() -> String {
    // A fixed linear congruential sequence: the same policy on every run.
    let mut x: u64 = 0x706f_7274_6f6c_616e;
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let mut s = String::from("zones:\n");
    for z in 0..60 {
        let len = 18 + next(9) as u32;
        let addr: u32 = (10 << 24) | ((next(1 << 16) as u32) & (u32::MAX << (32 - len)) & 0xffff);
        let _ = writeln!(
            s,
            "  z{z}: {{ networks: [{}.{}.{}.{}/{len}] }}",
            addr >> 24,
            (addr >> 16) & 255,
            (addr >> 8) & 255,
            addr & 255
        );
    }
    s.push_str("rules:\n");
    for _ in 0..300 {
        let (f, t) = (next(60), next(60));
        let lo = 1000 + next(3000);
        let hi = lo + next(40);
        let log = if next(4) == 0 { ", log: true" } else { "" };
        let _ = writeln!(
            s,
            "  - {{ from: z{f}, to: z{t}, allow: [{lo}-{hi}/tcp]{log} }}"
        );
    }
    s.push_str("default: deny\n");
    s
}

fn median(rounds: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut n = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        n = std::hint::black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], n)
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let reg = Registry::embedded();
    println!(
        "{:<14} {:>8} {:>12} {:>12} {:>12}",
        "policy", "rules", "gateway ms", "by_rule ms", "elements"
    );
    for (name, text) in [
        ("pairs 1000", pairs(1000)),
        ("pairs 10000", pairs(10_000)),
        ("zones", zones()),
    ] {
        let p = match Policy::parse(&text, reg) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(2);
            }
        };
        let (g, n) = median(rounds, || compile::gateway(&p).elements.len());
        let (b, _) = median(rounds, || compile::by_rule(&p).elements.len());
        println!(
            "{name:<14} {:>8} {:>12.1} {:>12.1} {n:>12}",
            p.rules.len(),
            g.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3
        );
    }
    println!("(median of {rounds} runs each)");
}
