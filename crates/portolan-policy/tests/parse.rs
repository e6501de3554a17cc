//! The policy parser: the issue's example as written, and errors that say where and what.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use portolan_policy::{Endpoint, Policy, PolicyError, Service};
use portolan_registry::{Protocol, Registry};

const EXAMPLE: &str = include_str!("data/example.yaml");

fn parse(s: &str) -> Result<Policy, PolicyError> {
    Policy::parse(s, Registry::embedded())
}

#[test]
fn the_issue_example_parses_as_written() {
    let p = parse(EXAMPLE).unwrap();
    assert_eq!(p.zones.len(), 4);
    assert_eq!(p.hosts.len(), 2);
    assert_eq!(p.rules.len(), 5);
    let r = &p.rules[0];
    assert_eq!(r.from, Endpoint::Zone("internet".into()));
    assert_eq!(r.to, Endpoint::Host("web1".into()));
    assert_eq!(
        r.services(),
        vec![Service::Ports {
            proto: Protocol::Tcp,
            lo: 80,
            hi: 80
        }]
    );
    assert!(p.rules[1].log);
    assert_eq!(
        p.rules[2].services(),
        vec![Service::Ports {
            proto: Protocol::Tcp,
            lo: 5432,
            hi: 5432
        }]
    );
    assert_eq!(p.rules[3].to, Endpoint::Any);
    assert_eq!(p.rules[3].services(), vec![Service::IcmpEcho]);
    assert_eq!(p.rules[4].rate.unwrap().to_string(), "200/second");
    assert_eq!(p.rules[4].services()[0].to_string(), "443/tcp");
}

#[test]
fn services_by_name_port_range_and_protocol() {
    let y = "zones: { a: { networks: [10.0.0.0/8] } }\n\
             rules:\n  - { from: a, to: a, allow: [53/udp, 22, 8000-8100, domain/udp, ntp/udp, 'ssh/tcp'] }\n\
             default: deny\n";
    let p = parse(y).unwrap();
    let s: Vec<String> = p.rules[0]
        .services()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(s, ["53/udp", "22/tcp", "8000-8100/tcp", "123/udp"]);
}

fn err(y: &str) -> PolicyError {
    match parse(y) {
        Ok(_) => panic!("expected an error for:\n{y}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_service_is_located_and_suggests() {
    let y = "zones: { a: { networks: [10.0.0.0/8] } }\nrules:\n  - { from: a, to: a, allow: [ssh, postgress] }\ndefault: deny\n";
    let e = err(y);
    assert_eq!(e.line, Some(3), "{e}");
    assert_eq!(e.column, Some(36), "{e}");
    assert!(e.message.contains("unknown service \"postgress\""), "{e}");
    assert!(
        e.message.contains("postgres"),
        "suggests the close name: {e}"
    );
}

#[test]
fn unknown_zone_is_located_with_a_suggestion() {
    let y = "zones:\n  office: { networks: [10.30.0.0/16] }\nrules:\n  - from: ofice\n    to: any\n    allow: [ssh]\ndefault: deny\n";
    let e = err(y);
    assert_eq!((e.line, e.column), (Some(4), Some(11)), "{e}");
    assert!(e.message.contains("did you mean office"), "{e}");
}

#[test]
fn host_in_unknown_zone_is_located() {
    let y = "zones: { a: { networks: [10.0.0.0/8] } }\nhosts:\n  h: { address: 10.0.0.1, zone: b }\nrules: []\ndefault: deny\n";
    let e = err(y);
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("unknown zone \"b\""), "{e}");
}

#[test]
fn syntax_errors_are_located() {
    // A misspelt key.
    let e = err("zones: {}\nrules:\n  - { from: any, to: any, alow: [ssh] }\ndefault: deny\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("alow"), "{e}");
    // Host bits set.
    let e = err("zones:\n  a: { networks: [10.20.0.1/24] }\ndefault: deny\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("10.20.0.0/24"), "{e}");
    // A bad rate.
    let e = err("rules:\n  - { from: any, to: any, allow: [ssh], rate: fast }\ndefault: deny\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("200/second"), "{e}");
    // Default accept is refused.
    let e = err("rules: []\ndefault: accept\n");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("default: deny"), "{e}");
    assert!(e.message.contains("default: reject"), "{e}");
    // deny, drop and reject are the defaults there are.
    let reg = portolan_registry::Registry::embedded();
    for (d, want) in [
        ("deny", portolan_policy::model::Default::Deny),
        ("drop", portolan_policy::model::Default::Deny),
        ("reject", portolan_policy::model::Default::Reject),
        ("Reject", portolan_policy::model::Default::Reject),
    ] {
        let p = portolan_policy::Policy::parse(&format!("rules: []\ndefault: {d}\n"), reg).unwrap();
        assert_eq!(p.default, want, "{d}");
    }
    // egress: allow (the same as none), deny, reject; nothing else.
    for (e, want) in [
        ("", None),
        ("egress: allow\n", None),
        (
            "egress: deny\n",
            Some(portolan_policy::model::Default::Deny),
        ),
        (
            "egress: reject\n",
            Some(portolan_policy::model::Default::Reject),
        ),
    ] {
        let p =
            portolan_policy::Policy::parse(&format!("rules: []\ndefault: deny\n{e}"), reg).unwrap();
        assert_eq!(p.egress, want, "{e}");
    }
    let e = err("rules: []\ndefault: deny\negress: sometimes\n");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("egress: deny"), "{e}");
    // Missing default.
    let e = err("rules: []\n");
    assert!(e.message.contains("default"), "{e}");
    // Empty allow.
    let e = err("rules:\n  - { from: any, to: any, allow: [] }\ndefault: deny\n");
    assert_eq!(e.line, Some(2), "{e}");
    // Not YAML at all.
    let e = err("zones: [\n");
    assert!(e.line.is_some(), "{e}");
    // Port out of range, reversed range, bad protocol.
    for bad in ["70000", "0", "100-90", "22/icmp"] {
        let y = format!("rules:\n  - {{ from: any, to: any, allow: ['{bad}'] }}\ndefault: deny\n");
        let e = err(&y);
        assert_eq!(e.line, Some(2), "{bad}: {e}");
    }
}

#[test]
fn zone_and_host_with_one_name_are_refused() {
    let y = "zones: { a: { networks: [10.0.0.0/8] } }\nhosts: { a: { address: 10.0.0.1, zone: a } }\nrules: []\ndefault: deny\n";
    let e = err(y);
    assert!(e.message.contains("both a zone and a host"), "{e}");
}

#[test]
fn from_file_reads_bounded_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, "rules: []\ndefault: maybe\n").unwrap();
    let e = Policy::from_file(&path, Registry::embedded())
        .unwrap_err()
        .to_string();
    assert!(e.contains("p.yaml: line 2"), "{e}");
    let e = Policy::from_file(dir.path(), Registry::embedded())
        .unwrap_err()
        .to_string();
    assert!(e.contains("directory"), "{e}");
}
