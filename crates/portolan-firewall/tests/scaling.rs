//! The shape that makes per-packet cost independent of the number of allowed pairs: with
//! 2,000 (host, service) pairs the base chain has the same rules as with 2, every pair is one
//! exact-map entry, and pairs allowing the same sources share one source-class chain.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use portolan_firewall::{nft, Target};
use portolan_policy::Policy;
use portolan_registry::Registry;

fn policy(n: usize) -> Policy {
    let mut y = String::from(
        "zones:\n  clients: { networks: [10.99.1.0/24] }\n  servers: { networks: [10.98.0.0/16] }\nhosts:\n",
    );
    for i in 0..n {
        y.push_str(&format!(
            "  h{i}: {{ address: 10.98.{}.{}, zone: servers }}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    y.push_str("rules:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - {{ from: clients, to: h{i}, allow: [{}/udp] }}\n",
            10000 + i % 1000
        ));
    }
    y.push_str("default: deny\n");
    Policy::parse(&y, Registry::embedded()).unwrap()
}

fn base_chain(script: &str) -> Vec<String> {
    let start = script.find("\tchain forward {").unwrap();
    script[start..].lines().map(str::to_string).collect()
}

#[test]
fn the_lookup_path_does_not_grow_with_the_pairs() {
    let small = nft(&policy(2), &Target::Gateway, "p").unwrap();
    let large = nft(&policy(2000), &Target::Gateway, "p").unwrap();
    assert_eq!(base_chain(&small), base_chain(&large));
    let entries = large
        .lines()
        .filter(|l| l.contains(" . udp . ") && l.contains(": jump src4_1"))
        .count();
    assert_eq!(entries, 2000, "one exact entry a pair");
    assert_eq!(
        large.matches("\tchain src4_").count(),
        1,
        "one shared source class"
    );
    // No interval map holds the pairs.
    let flows = &large[large.find("map flows4").unwrap()..];
    let flows = &flows[..flows.find("\t}").unwrap()];
    assert!(!flows.contains("elements"), "{flows}");
}
