//! Completeness of the risk knowledge: every entry has every field and a public source, and the
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures
//! services the hardening guides name are there.

use std::collections::HashSet;

use portolan_registry::risk::{self, Severity};
use portolan_registry::Protocol;

#[test]
fn every_entry_is_complete() {
    let all = risk::all();
    assert!(all.len() >= 40, "only {} risk entries", all.len());
    let mut ids = HashSet::new();
    for r in all {
        assert!(ids.insert(r.id), "duplicate id {}", r.id);
        assert!(
            r.id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}",
            r.id
        );
        assert!(!r.name.trim().is_empty(), "{}: name", r.id);
        assert!(!r.ports.is_empty(), "{}: ports", r.id);
        assert!(!r.category.trim().is_empty(), "{}: category", r.id);
        assert!(r.why.trim().len() > 20, "{}: why", r.id);
        assert!(r.remediation.trim().len() > 20, "{}: remediation", r.id);
        assert!(!r.sources.is_empty(), "{}: sources", r.id);
        for s in r.sources {
            assert!(
                s.starts_with("https://") && s.len() > 12 && !s.contains(' '),
                "{}: source {s}",
                r.id
            );
        }
    }
}

#[test]
fn compiled_data_matches_the_file() {
    let text = include_str!("../data/risks.toml");
    let v: toml::Value = toml::from_str(text).unwrap();
    let n = v["risk"].as_array().unwrap().len();
    assert_eq!(n, risk::all().len());
}

#[test]
fn the_usual_suspects_are_known() {
    let must = [
        (23, Protocol::Tcp),
        (21, Protocol::Tcp),
        (513, Protocol::Tcp),
        (6379, Protocol::Tcp),
        (27017, Protocol::Tcp),
        (9200, Protocol::Tcp),
        (11211, Protocol::Tcp),
        (11211, Protocol::Udp),
        (3389, Protocol::Tcp),
        (445, Protocol::Tcp),
        (2375, Protocol::Tcp),
        (10250, Protocol::Tcp),
        (1900, Protocol::Udp),
        (123, Protocol::Udp),
        (389, Protocol::Udp),
        (19, Protocol::Udp),
        (161, Protocol::Udp),
    ];
    for (port, proto) in must {
        assert!(
            risk::for_port(port, proto).next().is_some(),
            "no risk entry for {port}/{proto}"
        );
    }
    let redis = risk::for_port(6379, Protocol::Tcp).next().unwrap();
    assert!(redis.severity >= Severity::High);
    let docker = risk::for_port(2375, Protocol::Tcp).next().unwrap();
    assert_eq!(docker.severity, Severity::Critical);
    // HTTPS is not a risk by itself.
    assert!(risk::for_port(443, Protocol::Tcp).next().is_none());
}
