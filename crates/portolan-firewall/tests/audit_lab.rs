//! `audit` on live rulesets, read with `nft -j list ruleset` inside a network namespace this
//! test creates: a ruleset seeded with faults, then the generated one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::process::{Command, Stdio};

use portolan_firewall::audit::audit;
use portolan_firewall::{nft, Target};
use portolan_policy::Policy;
use portolan_registry::{Protocol, Registry};

const SEEDED: &str = "
table inet seeded {
  chain input {
    type filter hook input priority 0; policy accept;
    ct state established,related accept
    tcp dport { 22, 80 } accept
    tcp dport 22 accept
    ip saddr 10.0.0.0/8 tcp dport 8000-8100 accept
    accept
  }
}
";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A namespace `pol-aud{tag}-PID` (tests run in parallel: one tag each).
fn netns(tag: &str) -> Option<Netns> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    let have_nft = Command::new("nft")
        .arg("-v")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" || !have_nft {
        assert!(!in_ci(), "lab test cannot run under CI: needs root and nft");
        eprintln!("SKIPPED: needs root and nft to create a namespace");
        return None;
    }
    let name = format!("pol-aud{tag}-{}", std::process::id());
    let _ = Command::new("ip").args(["netns", "del", &name]).output();
    assert!(Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .unwrap()
        .success());
    Some(Netns(name))
}

fn load(ns: &Netns, rules: &str) -> String {
    let mut c = Command::new("ip")
        .args(["netns", "exec", &ns.0, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "nft -f failed");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0, "nft", "-j", "list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn finds_the_seeded_faults_and_nothing_on_the_generated_rules() {
    let Some(ns) = netns("") else {
        return;
    };
    let json = load(&ns, SEEDED);
    let f = audit(&json, Some(&[(Protocol::Tcp, 22)])).unwrap();
    let got: Vec<(&str, String)> = f.iter().map(|f| (f.code, f.evidence.clone())).collect();
    let has = |code: &str, ev: &str| got.iter().any(|(c, e)| *c == code && e.contains(ev));
    assert!(has("default-accept", "hook input"), "{got:?}");
    assert!(has("any-any", "inet seeded input handle"), "{got:?}");
    // `tcp dport 22` after `tcp dport { 22, 80 }`: shadowed; and the last rules after the
    // accept-everything rule are not there (it is last).
    assert_eq!(
        got.iter().filter(|(c, _)| *c == "shadowed").count(),
        1,
        "{got:?}"
    );
    // 80 is accepted with nothing listening; 22 listens; the range is not enumerated.
    let not_listening: Vec<&str> = f
        .iter()
        .filter(|f| f.code == "port-not-listening")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        not_listening,
        vec!["accepts 80/tcp but nothing listens there"],
        "{got:?}"
    );

    // The generated host rules for web1, alone in the namespace: no finding.
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns.0, "nft", "flush", "ruleset"])
        .status();
    let p = Policy::parse(include_str!("policies/example.yaml"), Registry::embedded()).unwrap();
    let listening = [(Protocol::Tcp, 80), (Protocol::Tcp, 443)];
    let json = load(
        &ns,
        &nft(&p, &Target::Host("web1".into()), "example.yaml").unwrap(),
    );
    assert_eq!(audit(&json, Some(&listening)).unwrap(), vec![]);
    // The gateway rules filter forwarding only: the one finding is the router's own input.
    let json = load(&ns, &nft(&p, &Target::Gateway, "example.yaml").unwrap());
    let f = audit(&json, Some(&listening)).unwrap();
    let got: Vec<(&str, &str)> = f.iter().map(|f| (f.code, f.evidence.as_str())).collect();
    assert_eq!(got, vec![("default-accept", "hook input: no base chain")]);
    // And an empty ruleset filters nothing.
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns.0, "nft", "flush", "ruleset"])
        .status();
    let f = audit(&load(&ns, ""), None).unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "default-accept");
}

#[test]
fn refuses_what_is_not_a_ruleset() {
    assert!(audit("not json", None)
        .unwrap_err()
        .to_string()
        .contains("nft -j list ruleset"));
    assert!(audit("{\"x\": 1}", None)
        .unwrap_err()
        .to_string()
        .contains("nftables"));
    assert_eq!(
        audit("{\"nftables\": []}", None).unwrap()[0].code,
        "default-accept"
    );
}

/// Every policy of `tests/policies` and each of its targets: the generated nft rules, loaded
/// in a namespace and read back with `nft -j list ruleset`, show no drift against the policy;
/// with one allowed flow removed from the policy they show exactly that flow as extra.
#[test]
fn the_generated_rules_of_every_policy_have_no_drift() {
    use portolan_firewall::drift::drift;
    let Some(ns) = netns("d") else {
        return;
    };
    for (name, targets) in [
        ("example", &["gateway", "web1", "pg1"][..]),
        ("dualstack", &["gateway", "mail", "ns1"][..]),
        ("overlap", &["gateway", "crm"][..]),
        ("reject", &["gateway", "web1", "web1v6"][..]),
        ("egress", &["gateway", "web1", "pg1"][..]),
        ("empty", &["gateway"][..]),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/policies")
            .join(format!("{name}.yaml"));
        let p = Policy::from_file(&path, Registry::embedded()).unwrap();
        for t in targets {
            let target = if *t == "gateway" {
                Target::Gateway
            } else {
                Target::Host(t.to_string())
            };
            let _ = Command::new("ip")
                .args(["netns", "exec", &ns.0, "nft", "flush", "ruleset"])
                .status();
            let json = load(&ns, &nft(&p, &target, "p.yaml").unwrap());
            let d = drift(&json, &p, &target).unwrap();
            assert_eq!(d.findings, vec![], "{name} {t}");
            // Without its first rule, the policy allows less than the rules accept.
            if p.rules.is_empty() {
                continue;
            }
            let mut less = p.clone();
            less.rules.remove(0);
            let d = drift(&json, &less, &target).unwrap();
            if !d.findings.is_empty() {
                assert!(
                    d.findings.iter().all(|f| f.code == "drift-extra"),
                    "{name} {t}: {:?}",
                    d.findings
                );
            }
        }
    }
}
