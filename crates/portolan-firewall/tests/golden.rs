//! Golden tests (Capirca style): each policy of `tests/policies/` is turned into nftables and
//! iptables rules for a gateway and for some of its hosts, and compared with
//! `tests/golden/<policy>.<target>.{nft,iptables}.ref`. `PORTOLAN_BLESS=1 cargo test -p
//! portolan-firewall --test golden` rewrites the references (review the diff before
//! committing).
//!
//! `real_tools_accept_every_golden_file` then hands every reference to the real tools, inside a
//! network namespace the test creates (never the host's ruleset): `nft -c -f`, then `nft -f`
//! twice (the script must replace its table atomically, also when it exists), `ipset restore`,
//! `iptables-restore --test` and `ip6tables-restore --test`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use portolan_firewall::{iptables, nft, Target};
use portolan_policy::Policy;
use portolan_registry::Registry;

/// (policy, targets): `gateway` or a host name.
const CASES: &[(&str, &[&str])] = &[
    ("example", &["gateway", "web1", "pg1"]),
    ("dualstack", &["gateway", "mail", "ns1"]),
    ("overlap", &["gateway", "crm"]),
    ("reject", &["gateway", "web1", "web1v6"]),
    ("egress", &["gateway", "web1", "pg1"]),
    ("empty", &["gateway"]),
];

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

fn target(t: &str) -> Target {
    if t == "gateway" {
        Target::Gateway
    } else {
        Target::Host(t.into())
    }
}

/// Every (reference file name, generated text).
fn generated() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, targets) in CASES {
        let file = format!("{name}.yaml");
        let p = Policy::from_file(&dir("policies").join(&file), Registry::embedded()).unwrap();
        for t in *targets {
            let tg = target(t);
            out.push((format!("{name}.{t}.nft.ref"), nft(&p, &tg, &file).unwrap()));
            out.push((
                format!("{name}.{t}.iptables.ref"),
                iptables(&p, &tg, &file).unwrap().bundle(),
            ));
        }
    }
    out
}

#[test]
fn generated_rules_match_the_golden_files() {
    let bless = std::env::var("PORTOLAN_BLESS").is_ok_and(|v| v == "1");
    let mut failed = Vec::new();
    for (ref_name, text) in generated() {
        let path = dir("golden").join(&ref_name);
        if bless {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (PORTOLAN_BLESS=1 creates it)", path.display()));
        if want != text {
            failed.push(format!("{ref_name}:\n--- want\n{want}\n--- got\n{text}"));
        }
    }
    assert!(
        failed.is_empty(),
        "golden files differ:\n{}",
        failed.join("\n")
    );
}

#[test]
fn every_golden_file_is_generated() {
    let made: Vec<String> = generated().into_iter().map(|(n, _)| n).collect();
    for e in std::fs::read_dir(dir("golden")).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            made.contains(&n),
            "stale golden file {n}: no case generates it"
        );
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        // SAFETY-free check for root: `id -u`.
        let uid = Command::new("id").arg("-u").output().ok()?;
        let why = if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            Some("needs root to create a network namespace".to_string())
        } else {
            [
                "ip",
                "nft",
                "ipset",
                "iptables-restore",
                "ip6tables-restore",
            ]
            .iter()
            .find(|t| !have(t))
            .map(|t| format!("`{t}` is not installed (.ci/apt/policy.txt)"))
        };
        if let Some(why) = why {
            assert!(!in_ci(), "lab test cannot run under CI: {why}");
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let name = format!("pol-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        Some(Netns(name))
    }

    fn run(&self, args: &[&str], stdin_file: Option<&Path>) -> (bool, String) {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        if let Some(f) = stdin_file {
            c.stdin(std::fs::File::open(f).unwrap());
        }
        let out = c.output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn real_tools_accept_every_golden_file() {
    let Some(ns) = Netns::new("gold") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for (ref_name, text) in generated() {
        if ref_name.ends_with(".nft.ref") {
            let f = tmp.path().join("rules.nft");
            std::fs::write(&f, &text).unwrap();
            let fs = f.to_str().unwrap();
            let (ok, out) = ns.run(&["nft", "-c", "-f", fs], None);
            assert!(ok, "nft -c -f {ref_name}: {out}");
            for pass in ["first", "second"] {
                let (ok, out) = ns.run(&["nft", "-f", fs], None);
                assert!(ok, "nft -f {ref_name} ({pass} load): {out}");
            }
            let (ok, out) = ns.run(&["nft", "list", "table", "inet", "portolan"], None);
            assert!(
                ok && out.contains("policy drop"),
                "{ref_name} not loaded: {out}"
            );
        } else {
            let parts: Vec<&str> = text.split("# ---- ").collect();
            let part = |head: &str| -> String {
                let p = parts.iter().find(|p| p.starts_with(head)).unwrap();
                p.split_once('\n').unwrap().1.to_string()
            };
            let (ipset, v4, v6) = (
                tmp.path().join("ipset"),
                tmp.path().join("v4"),
                tmp.path().join("v6"),
            );
            std::fs::write(&ipset, part("ipset restore")).unwrap();
            std::fs::write(&v4, part("iptables-restore")).unwrap();
            std::fs::write(&v6, part("ip6tables-restore")).unwrap();
            let (ok, out) = ns.run(&["ipset", "restore"], Some(&ipset));
            assert!(ok, "ipset restore {ref_name}: {out}");
            let (ok, out) = ns.run(&["iptables-restore", "--test"], Some(&v4));
            assert!(ok, "iptables-restore --test {ref_name}: {out}");
            let (ok, out) = ns.run(&["ip6tables-restore", "--test"], Some(&v6));
            assert!(ok, "ip6tables-restore --test {ref_name}: {out}");
        }
    }
}
