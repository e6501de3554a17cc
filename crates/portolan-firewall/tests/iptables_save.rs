//! Audit of `iptables-save` output: the seeded faults of a real `iptables-save` dump, none on
//! the generated rules, and the parser under random input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::path::PathBuf;

use portolan_firewall::iptables_save::{audit, parse, MAX_LINE, MAX_WORDS};
use portolan_firewall::{iptables, Target};
use portolan_policy::Policy;
use portolan_registry::{Protocol, Registry};
use proptest::prelude::*;

fn fixture(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

#[test]
fn finds_the_seeded_faults_with_their_line() {
    let text = std::fs::read_to_string(fixture("rulesets/seeded.iptables-save")).unwrap();
    let f = audit(&text, "iptables-save", Some(&[(Protocol::Tcp, 22)])).unwrap();
    let got: Vec<(&str, &str)> = f.iter().map(|f| (f.code, f.evidence.as_str())).collect();
    assert_eq!(
        got,
        [
            ("default-accept", "iptables-save line 3: :INPUT ACCEPT"),
            (
                "any-any",
                "iptables-save line 11: -A INPUT -m comment --comment \"legacy \\\"allow all\\\"\" -j ACCEPT"
            ),
            (
                "shadowed",
                "iptables-save line 10: -A INPUT -s 10.1.0.0/16 -p tcp -m tcp --dport 8080 -j DROP"
            ),
            (
                "redundant",
                "iptables-save line 8: -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"
            ),
            (
                "port-not-listening",
                "iptables-save line 7: -A INPUT -p tcp -m multiport --dports 22,80 -j ACCEPT"
            ),
        ],
        "{f:#?}"
    );
    assert!(f[2].message.contains("line 9"), "{f:#?}");
    assert_eq!(f[4].message, "accepts 80/tcp but nothing listens there");
    // Without the live sockets, no port-not-listening.
    let f = audit(&text, "saved", None).unwrap();
    assert!(f.iter().all(|f| f.code != "port-not-listening"));
}

#[test]
fn the_generated_rules_audit_clean() {
    for (name, targets) in [
        ("example", &["web1", "pg1", "gateway"][..]),
        ("dualstack", &["mail", "ns1", "gateway"][..]),
        ("overlap", &["crm", "gateway"][..]),
        ("reject", &["web1", "web1v6", "gateway"][..]),
        ("egress", &["web1", "pg1", "gateway"][..]),
    ] {
        let p = Policy::from_file(
            &fixture(&format!("policies/{name}.yaml")),
            Registry::embedded(),
        )
        .unwrap();
        for t in targets {
            let target = if *t == "gateway" {
                Target::Gateway
            } else {
                Target::Host(t.to_string())
            };
            let b = iptables(&p, &target, "p.yaml").unwrap();
            for (tool, text) in [("iptables", &b.v4), ("ip6tables", &b.v6)] {
                let f = audit(text, tool, None).unwrap();
                // A gateway's rules leave the router's own INPUT alone.
                let f: Vec<_> = f
                    .into_iter()
                    .filter(|f| {
                        !(*t == "gateway"
                            && f.code == "default-accept"
                            && f.evidence.contains(":INPUT"))
                    })
                    .collect();
                assert_eq!(f, vec![], "{name} {t} {tool}:\n{text}");
            }
        }
    }
}

#[test]
fn errors_name_the_line() {
    for (text, want) in [
        (
            "-A INPUT -j ACCEPT\n",
            "line 1: a chain or rule outside a table",
        ),
        (
            "*filter\n:INPUT\n",
            "line 2: a chain declaration without a policy",
        ),
        ("*filter\n-A INPUT -p\n", "line 2: -p without a value"),
        ("*filter\n-A INPUT tcp\n", "line 2: \"tcp\" where an option"),
        ("*filter\nbogus\n", "line 2: \"bogus\" is not a rule"),
        (
            "*filter\n-A INPUT -m comment --comment \"x\n",
            "line 2: a quote is not closed",
        ),
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(e.contains("iptables-save"), "{e}");
    }
    let long = format!("*filter\n-A INPUT {}\n", "-s 1.2.3.4 ".repeat(MAX_LINE / 8));
    assert!(parse(&long)
        .unwrap_err()
        .to_string()
        .contains("longer than"));
    let wordy = format!("*filter\n-A INPUT {}\n", "-p tcp ".repeat(MAX_WORDS));
    assert!(parse(&wordy).unwrap_err().to_string().contains("words"));
}

/// One random rule: (source prefix, tcp?, destination ports (lo, width), target).
type GenRule = (Option<(u8, u8)>, bool, Vec<(u16, u16)>, u8);

fn rule() -> impl Strategy<Value = GenRule> {
    (
        proptest::option::of((0u8..4, prop::sample::select(vec![8u8, 16, 24, 32]))),
        any::<bool>(),
        prop::collection::vec((1u16..200, 0u16..5), 1..4),
        0u8..3,
    )
}

fn render(r: &GenRule) -> String {
    let mut s = String::from("-A INPUT");
    if let Some((net, len)) = r.0 {
        s.push_str(&format!(" -s 10.{net}.0.0/{len}"));
    }
    s.push_str(if r.1 { " -p tcp" } else { " -p udp" });
    let ports: Vec<String> =
        r.2.iter()
            .map(|&(lo, w)| {
                if w == 0 {
                    lo.to_string()
                } else {
                    format!("{lo}:{}", lo + w)
                }
            })
            .collect();
    if ports.len() == 1 {
        s.push_str(&format!(
            " -m {} --dport {}",
            if r.1 { "tcp" } else { "udp" },
            ports[0]
        ));
    } else {
        s.push_str(&format!(" -m multiport --dports {}", ports.join(",")));
    }
    s.push_str(match r.3 {
        0 => " -j ACCEPT",
        1 => " -j DROP",
        _ => " -j REJECT --reject-with icmp-port-unreachable",
    });
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text: an error or a result, never a panic.
    #[test]
    fn never_panics(text in ".{0,400}") {
        let _ = audit(&text, "x", Some(&[(Protocol::Tcp, 22)]));
    }

    /// Lines made of the format's own words, shuffled: never a panic either.
    #[test]
    fn never_panics_on_shuffled_words(words in prop::collection::vec(prop::sample::select(vec![
        "*filter", "COMMIT", ":INPUT", "ACCEPT", "-A", "INPUT", "-p", "tcp", "--dport", "22:",
        ":80", "!", "-s", "10.0.0.0/99", "-j", "\"", "\\", "-m", "multiport", "--dports", ",",
        "\n", "--syn", "-f", "65536", "::/0",
    ]), 0..60)) {
        let _ = audit(&words.join(" "), "x", Some(&[(Protocol::Tcp, 22)]));
    }

    /// Rendered rules parse back to what was rendered, and a rule after an identical one
    /// is found redundant or shadowed, naming the earlier line.
    #[test]
    fn rules_parse_back_and_repeats_are_found(rules in prop::collection::vec(rule(), 1..6)) {
        let mut text = String::from("*filter\n:INPUT DROP [0:0]\n");
        for r in &rules {
            text.push_str(&render(r));
            text.push('\n');
        }
        let repeat = render(&rules[0]);
        text.push_str(&repeat);
        text.push_str("\nCOMMIT\n");
        let save = parse(&text).unwrap();
        prop_assert_eq!(save.rules.len(), rules.len() + 1);
        for (r, got) in rules.iter().zip(&save.rules) {
            prop_assert_eq!(got.matches.iter().any(|(k, v)| k == "source" && Some(v) == r.0.map(|(n, l)| format!("10.{n}.0.0/{l}")).as_ref()), r.0.is_some());
            prop_assert_eq!(got.target.as_deref(), Some(["ACCEPT", "DROP", "REJECT"][r.3 as usize]));
        }
        let last = rules.len() + 3;
        let f = audit(&text, "t", None).unwrap();
        let hit = f.iter().find(|f| f.evidence.starts_with(&format!("t line {last}:")));
        prop_assert!(hit.is_some_and(|f| f.code == "redundant" || f.code == "shadowed"), "{:?}", f);
    }
}
