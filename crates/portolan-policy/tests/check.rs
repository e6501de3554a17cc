//! `check`: violations and stale rules from what was seen open.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use portolan_policy::check::{check, Observed, Scope, Vantage};
use portolan_policy::Policy;
use portolan_registry::{Protocol, Registry};

fn example() -> Policy {
    Policy::parse(include_str!("data/example.yaml"), Registry::embedded()).unwrap()
}

fn obs(a: &str, port: u16) -> Observed {
    Observed {
        addr: a.parse().unwrap(),
        proto: Protocol::Tcp,
        port,
    }
}

fn scope(hosts: &[&str], ports: &[u16]) -> Scope {
    Scope {
        hosts: hosts.iter().map(|h| h.parse().unwrap()).collect(),
        ports: ports.iter().map(|&p| (Protocol::Tcp, p, p)).collect(),
    }
}

#[test]
fn allowed_and_open_is_clean() {
    let p = example();
    let open = [obs("10.20.0.10", 80), obs("10.20.0.10", 443)];
    let f = check(
        &p,
        &open,
        &scope(&["10.20.0.10"], &[22, 80, 443]),
        &Vantage::Anywhere,
    );
    assert_eq!(f, vec![]);
}

#[test]
fn open_but_not_allowed_is_a_violation_and_allowed_but_closed_is_stale() {
    let p = example();
    let open = [obs("10.20.0.10", 80), obs("10.20.0.10", 6379)];
    let f = check(
        &p,
        &open,
        &scope(&["10.20.0.10"], &[80, 443, 6379]),
        &Vantage::Anywhere,
    );
    let got: Vec<(&str, u16, Option<usize>)> = f.iter().map(|f| (f.code, f.port, f.rule)).collect();
    assert_eq!(
        got,
        vec![("violation", 6379, None), ("stale", 443, Some(5))]
    );
    assert_eq!(f[0].host.as_deref(), Some("web1"));
}

#[test]
fn ports_the_scan_did_not_cover_are_never_stale() {
    let p = example();
    let f = check(&p, &[], &scope(&["10.20.0.10"], &[22]), &Vantage::Anywhere);
    assert_eq!(f, vec![]);
    // A host the scan did not reach either.
    let f = check(
        &p,
        &[],
        &scope(&["10.20.0.99"], &[80, 443]),
        &Vantage::Anywhere,
    );
    assert_eq!(f, vec![]);
}

#[test]
fn the_vantage_decides_what_is_allowed() {
    let p = example();
    // ssh to the dmz is allowed from office only.
    let open = [obs("10.20.0.10", 22)];
    let s = scope(&["10.20.0.10"], &[22]);
    let office = Vantage::parse(&p, "office").unwrap();
    assert!(check(&p, &open, &s, &office).is_empty());
    let db = Vantage::parse(&p, "db").unwrap();
    assert_eq!(check(&p, &open, &s, &db)[0].code, "violation");
    let addr = Vantage::parse(&p, "10.40.0.9").unwrap();
    assert_eq!(check(&p, &open, &s, &addr)[0].code, "violation");
    assert!(Vantage::parse(&p, "nowhere")
        .unwrap_err()
        .contains("--from"));
}
