//! `lint`: each finding on a policy made to have it, and none on the issue's example.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use portolan_policy::{lint, Policy};
use portolan_registry::Registry;

fn codes(y: &str) -> Vec<(String, Option<usize>)> {
    let p = Policy::parse(y, Registry::embedded()).unwrap();
    lint(&p)
        .into_iter()
        .map(|f| (f.code.to_string(), f.rule))
        .collect()
}

#[test]
fn the_issue_example_is_clean() {
    assert_eq!(codes(include_str!("data/example.yaml")), vec![]);
}

#[test]
fn finds_each_seeded_fault() {
    let y = "
zones:
  office: { networks: [10.30.0.0/16] }
  dmz:    { networks: [10.20.0.0/24] }
  empty:  {}
  v6only: { networks: ['fd00::/64'] }
  idle:   { networks: [10.50.0.0/16] }
hosts:
  web1: { address: 10.20.0.10, zone: dmz }
  lost: { address: 192.0.2.1, zone: office }
rules:
  - { from: office, to: dmz,  allow: [ssh] }
  - { from: office, to: web1, allow: [ssh] }
  - { from: office, to: web1, allow: [http], log: true }
  - { from: any,    to: dmz,  allow: [http] }
  - { from: any,    to: any,  allow: [domain/udp] }
  - { from: office, to: v6only, allow: [ssh] }
  - { from: office, to: empty, allow: [ssh] }
  - { from: dmz,    to: office, allow: [1-65535] }
default: deny
";
    let c = codes(y);
    let has = |code: &str, rule: Option<usize>| c.contains(&(code.to_string(), rule));
    assert!(has("shadowed", Some(2)), "{c:?}");
    assert!(
        has("overlap", Some(4)),
        "rule 3 logs, rule 4 does not: {c:?}"
    );
    assert!(has("any-any", Some(5)), "{c:?}");
    assert!(has("no-flows", Some(6)), "{c:?}");
    assert!(has("no-flows", Some(7)), "{c:?}");
    assert!(has("all-ports", Some(8)), "{c:?}");
    assert!(has("empty-zone", None), "{c:?}");
    assert!(has("host-outside-zone", None), "{c:?}");
    assert!(has("unused", None), "zone idle: {c:?}");
    // Nothing else: rule 1 and 3 are fine.
    assert!(
        !c.iter().any(|(_, r)| *r == Some(1) || *r == Some(3)),
        "{c:?}"
    );
}

#[test]
fn findings_are_sorted_worst_first() {
    let y = "zones: { e: {} }\nrules:\n  - { from: any, to: any, allow: [ssh] }\ndefault: deny\n";
    let p = Policy::parse(y, Registry::embedded()).unwrap();
    let f = lint(&p);
    assert!(f.len() >= 2);
    assert!(f.windows(2).all(|w| w[0].severity >= w[1].severity));
    assert_eq!(f[0].code, "any-any");
}
