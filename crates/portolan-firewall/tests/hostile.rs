//! Names and comments come from the policy file: they must never become rules.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use portolan_firewall::{iptables, nft, Target};
use portolan_policy::Policy;
use portolan_registry::Registry;

const HOSTILE_COMMENT: &str = r#"
zones:
  lan: { networks: [10.0.0.0/24] }
hosts:
  h: { address: 10.0.0.5, zone: lan }
rules:
  - from: lan
    to: h
    allow: [ssh]
    log: true
    comment: "x\n-A INPUT -j ACCEPT\n}\ntable ip pwned { chain c { type filter hook input priority 0; policy accept; } }"
default: deny
"#;

#[test]
fn hostile_comments_stay_comments() {
    let p = Policy::parse(HOSTILE_COMMENT, Registry::embedded()).unwrap();
    for t in [Target::Gateway, Target::Host("h".into())] {
        let n = nft(&p, &t, "bad\nname.yaml\n}\ntable ip pwned {").unwrap();
        assert!(!n.contains("pwned {"), "{n}");
        assert!(
            !n.lines().any(|l| l.trim_start().starts_with("table ip")),
            "{n}"
        );
        let i = iptables(&p, &t, "bad\nname.yaml").unwrap().bundle();
        assert!(
            !i.lines().any(|l| l.starts_with("-A INPUT -j ACCEPT")),
            "{i}"
        );
        assert!(
            i.contains("# rule 1: lan -> h allow ssh log (x_-A INPUT -j ACCEPT_"),
            "{i}"
        );
    }
}

#[test]
fn names_that_could_inject_are_refused_where_they_are() {
    for (y, line) in [
        (
            "zones:\n  \"evil\\n}\\ntable ip x {}\": { networks: [10.0.0.0/24] }\nrules: []\ndefault: deny\n",
            2,
        ),
        (
            "zones:\n  lan: { networks: [10.0.0.0/24] }\nhosts:\n  \"h\\\"\\n-A INPUT -j ACCEPT\": { address: 10.0.0.5, zone: lan }\nrules: []\ndefault: deny\n",
            4,
        ),
        (
            "zones:\n  lan: { networks: [10.0.0.0/24] }\nrules:\n  - { from: \"lan;\", to: any, allow: [ssh] }\ndefault: deny\n",
            4,
        ),
    ] {
        let e = Policy::parse(y, Registry::embedded()).unwrap_err();
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.message.contains("not a usable name"), "{e}");
        assert!(!e.message.contains('\n'), "the message shows the name escaped: {e}");
    }
}

#[test]
fn unknown_host_says_which_exist() {
    let p = Policy::parse(include_str!("policies/example.yaml"), Registry::embedded()).unwrap();
    let e = nft(&p, &Target::Host("web2".into()), "p")
        .unwrap_err()
        .to_string();
    assert!(e.contains("pg1, web1"), "{e}");
}
