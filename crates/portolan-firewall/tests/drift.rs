//! Drift between a ruleset (`nft -j list ruleset`, as saved from a namespace running the
//! generated rules) and the policy: none for the generated rules, and each seeded change found
//! with the handle of the rule that decided.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::path::PathBuf;

use portolan_firewall::drift::drift;
use portolan_firewall::Target;
use portolan_policy::Policy;
use portolan_registry::Registry;
use serde_json::{json, Value};

fn fixture(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

fn example() -> Policy {
    Policy::from_file(&fixture("policies/example.yaml"), Registry::embedded()).unwrap()
}

fn ruleset(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(&format!("rulesets/{name}"))).unwrap())
        .unwrap()
}

/// (code, evidence) of every finding.
fn found(rs: &Value, p: &Policy, t: &Target) -> Vec<(String, String, String)> {
    let d = drift(&rs.to_string(), p, t).unwrap();
    assert!(!d.sampled);
    assert!(d.packets > 100, "{}", d.packets);
    d.findings
        .into_iter()
        .map(|f| (f.code.to_string(), f.evidence, f.message))
        .collect()
}

#[test]
fn the_generated_rules_have_no_drift() {
    let p = example();
    assert_eq!(
        found(&ruleset("example.gateway.json"), &p, &Target::Gateway),
        []
    );
    assert_eq!(
        found(
            &ruleset("example.web1.json"),
            &p,
            &Target::Host("web1".into())
        ),
        []
    );
}

/// Insert `rule` (a `{"rule": ...}` item) before the item at `pos`.
fn insert(rs: &mut Value, pos: usize, rule: Value) {
    rs["nftables"].as_array_mut().unwrap().insert(pos, rule);
}

fn position(rs: &Value, handle: u64) -> usize {
    rs["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .position(|i| i["rule"]["handle"] == handle)
        .unwrap()
}

#[test]
fn an_extra_accept_is_drift_with_its_handle() {
    let p = example();
    let mut rs = ruleset("example.gateway.json");
    // `tcp dport 5432 accept` before the maps: postgresql to everyone from everywhere.
    let at = position(&rs, 23);
    insert(
        &mut rs,
        at,
        json!({"rule": {"family": "inet", "table": "portolan", "chain": "forward", "handle": 99,
            "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5432}}, {"accept": null}]}}),
    );
    let got = found(&rs, &p, &Target::Gateway);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "drift-extra");
    assert_eq!(got[0].1, "inet portolan forward handle 99");
    assert!(got[0].2.contains(":5432/tcp"), "{got:?}");
}

#[test]
fn a_missing_map_element_is_drift_against_the_chain_policy() {
    let p = example();
    let mut rs = ruleset("example.gateway.json");
    // exact4 loses `10.20.0.10 . tcp . 80 : accept` (policy rule 1, http to web1).
    for item in rs["nftables"].as_array_mut().unwrap() {
        if item["map"]["name"] == "exact4" {
            let elems = item["map"]["elem"].as_array_mut().unwrap();
            elems.retain(|e| e[0]["concat"][2] != 80);
            assert_eq!(elems.len(), 2);
        }
    }
    let got = found(&rs, &p, &Target::Gateway);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "drift-missing");
    assert_eq!(got[0].1, "inet portolan forward policy drop");
    assert!(got[0].2.contains("policy rule 1 allows"), "{got:?}");
    assert!(got[0].2.contains("10.20.0.10:80/tcp"), "{got:?}");
}

#[test]
fn a_drop_rule_before_the_maps_is_drift_with_its_handle() {
    let p = example();
    let mut rs = ruleset("example.gateway.json");
    let at = position(&rs, 23);
    insert(
        &mut rs,
        at,
        json!({"rule": {"family": "inet", "table": "portolan", "chain": "forward", "handle": 98,
            "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.30.0.0", "len": 16}}}}, {"drop": null}]}}),
    );
    let got = found(&rs, &p, &Target::Gateway);
    // Office loses http and https to web1 (rules 1 and 5: office is inside the internet),
    // ssh to the dmz (rule 2) and ping (rule 4); nothing else changes.
    assert_eq!(got.len(), 4, "{got:?}");
    for ((code, evidence, message), rule) in got.iter().zip([1, 2, 4, 5]) {
        assert_eq!(
            (code.as_str(), evidence.as_str()),
            ("drift-missing", "inet portolan forward handle 98")
        );
        assert!(
            message.contains(&format!("policy rule {rule} allows: 10.30.")),
            "{got:?}"
        );
    }
}

#[test]
fn a_host_ruleset_checked_as_another_host_drifts_both_ways() {
    let p = example();
    // web1's input rules on pg1: http/https accepted (not allowed to pg1), postgresql from the
    // dmz dropped.
    let got = found(
        &ruleset("example.web1.json"),
        &p,
        &Target::Host("pg1".into()),
    );
    let codes: Vec<&str> = got.iter().map(|(c, _, _)| c.as_str()).collect();
    assert!(codes.contains(&"drift-extra"), "{got:?}");
    assert!(codes.contains(&"drift-missing"), "{got:?}");
    assert!(
        got.iter().any(|(c, e, m)| c == "drift-missing"
            && e == "inet portolan input policy drop"
            && m.contains("policy rule 3")),
        "{got:?}"
    );
}

#[test]
fn an_accept_everything_ruleset_drifts_by_its_policy_or_rule() {
    let p = example();
    let got = found(&ruleset("seeded.json"), &p, &Target::Host("web1".into()));
    assert!(got.iter().all(|(c, _, _)| c == "drift-extra"), "{got:?}");
    assert!(
        got.iter()
            .any(|(_, e, _)| e == "inet seeded input handle 7"),
        "{got:?}"
    );
    let none = json!({"nftables": []});
    let got = found(&none, &p, &Target::Gateway);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, "hook forward: chain policy accept");
}

#[test]
fn an_unknown_host_is_an_error() {
    let e = drift(
        "{\"nftables\": []}",
        &example(),
        &Target::Host("web9".into()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("web9"), "{e}");
}
