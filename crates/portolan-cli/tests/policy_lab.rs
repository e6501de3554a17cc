//! The policy proven on a network: the issue's example policy's four zones as network
//! namespaces joined by a gateway namespace, every zone host listening on the same ports, the
//! rules of `portolan firewall generate --gateway --nft` applied on the gateway with `nft -f`,
//! then `portolan scan` (connect) from each zone into the others must find exactly the allowed
//! (zone, host, service) flows open, and nothing else.
//!
//! Before the rules are applied the same scans find every port open: the lab routes, so a
//! port that is not found open afterwards was closed by the rules, not by a broken lab.
//!
//! Addresses (all inside namespaces this test creates; nothing leaves them):
//!
//! | zone | namespace | hosts | gateway side |
//! |---|---|---|---|
//! | internet (0.0.0.0/0) | `pol…i` (gateway `pol…g`) | 198.51.100.7 | 198.51.100.1/24 |
//! | dmz (10.20.0.0/24) | `pol…d` | web1 10.20.0.10, and 10.20.0.20 | 10.20.0.1/24 |
//! | office (10.30.0.0/16) | `pol…o` | 10.30.0.7 | 10.30.0.1/16 |
//! | db (10.40.0.0/24) | `pol…b` | pg1 10.40.0.5 | 10.40.0.1/24 |

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const PORTS: &str = "22,80,443,5432,8080";

struct Zone {
    suffix: &'static str,
    gw_addr: &'static str,
    hosts: &'static [&'static str],
    prefix: &'static str,
}

const ZONES: &[Zone] = &[
    Zone {
        suffix: "i",
        gw_addr: "198.51.100.1",
        hosts: &["198.51.100.7"],
        prefix: "24",
    },
    Zone {
        suffix: "d",
        gw_addr: "10.20.0.1",
        hosts: &["10.20.0.10", "10.20.0.20"],
        prefix: "24",
    },
    Zone {
        suffix: "o",
        gw_addr: "10.30.0.1",
        hosts: &["10.30.0.7"],
        prefix: "16",
    },
    Zone {
        suffix: "b",
        gw_addr: "10.40.0.1",
        hosts: &["10.40.0.5"],
        prefix: "24",
    },
];

/// The namespaces and listeners of one run; removed on drop, even when the test fails.
struct GatewayLab {
    base: String,
    made: Vec<String>,
    children: Vec<Child>,
}

impl GatewayLab {
    /// Replaces the gateway's nftables rules by `policy`'s iptables output (the given parts of
    /// `firewall generate --gateway --iptables`: ipset, v4, v6) loaded with the real tools.
    /// False, after skipping (or failing under CI), when ipset/iptables are not installed.
    fn load_iptables(&self, policy: &Path, dir: &Path, parts: &[&str], what: &str) -> bool {
        if !["ipset", "iptables-restore", "ip6tables-restore"]
            .iter()
            .all(|t| common::lab::have(t))
        {
            common::lab::skip_or_fail(&format!(
                "{what}, iptables half: ipset/iptables are not installed"
            ));
            return false;
        }
        let out = self.exec("g", &["nft", "delete", "table", "inet", "portolan"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for &part in parts {
            let tool: &[&str] = match part {
                "ipset" => &["ipset", "restore", "-f"],
                "v6" => &["ip6tables-restore"],
                _ => &["iptables-restore"],
            };
            let f = dir.join(part);
            common::portolan()
                .args(["firewall", "generate"])
                .arg(policy)
                .args(["--gateway", "--iptables", "--part", part, "-o"])
                .arg(&f)
                .assert()
                .success();
            let fs = f.to_str().unwrap().to_string();
            let mut args = tool.to_vec();
            args.push(&fs);
            let out = self.exec("g", &args);
            assert!(
                out.status.success(),
                "{tool:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        true
    }
    fn ns(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.base)
    }

    fn sh(&self, args: &[&str]) {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn exec(&self, suffix: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(suffix)])
            .args(args)
            .output()
            .unwrap()
    }

    /// Start `tests/lab/listeners.py` on `ports` in namespace `ns` and wait until it is ready;
    /// it is stopped (by PID) when the lab is dropped.
    fn listen(&mut self, ns: &str, ports: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lab/listeners.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3"])
            .arg(&script)
            .arg(ports)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        self.children.push(child);
        assert_eq!(
            line.trim(),
            "ready",
            "listeners on {ports} in {ns} did not start"
        );
    }

    /// One namespace of its own, `prefix` + PID, with loopback up (no gateway, no zones).
    fn single(prefix: &str) -> GatewayLab {
        let ns = format!("{prefix}{}", std::process::id() % 100_000);
        let mut lab = GatewayLab {
            base: ns.clone(),
            made: Vec::new(),
            children: Vec::new(),
        };
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        lab.sh(&["ip", "netns", "add", &ns]);
        lab.made.push(ns.clone());
        lab.sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        lab
    }

    /// `tag` keeps the namespaces of tests running in parallel apart.
    fn up(tag: &str) -> GatewayLab {
        let mut lab = GatewayLab {
            base: format!("pol{tag}{}", std::process::id() % 100_000),
            made: Vec::new(),
            children: Vec::new(),
        };
        for s in ["g", "i", "d", "o", "b"] {
            let n = lab.ns(s);
            let _ = Command::new("ip").args(["netns", "del", &n]).output();
            lab.sh(&["ip", "netns", "add", &n]);
            lab.made.push(n.clone());
            lab.sh(&["ip", "-n", &n, "link", "set", "lo", "up"]);
        }
        let gw = lab.ns("g");
        for z in ZONES {
            let zn = lab.ns(z.suffix);
            let side = format!("v{}", z.suffix);
            lab.sh(&[
                "ip", "-n", &gw, "link", "add", &side, "type", "veth", "peer", "name", "gw0",
                "netns", &zn,
            ]);
            let gw_cidr = format!("{}/{}", z.gw_addr, z.prefix);
            lab.sh(&["ip", "-n", &gw, "addr", "add", &gw_cidr, "dev", &side]);
            lab.sh(&["ip", "-n", &gw, "link", "set", &side, "up"]);
            for h in z.hosts {
                let cidr = format!("{h}/{}", z.prefix);
                lab.sh(&["ip", "-n", &zn, "addr", "add", &cidr, "dev", "gw0"]);
            }
            lab.sh(&["ip", "-n", &zn, "link", "set", "gw0", "up"]);
            lab.sh(&["ip", "-n", &zn, "route", "add", "default", "via", z.gw_addr]);
        }
        lab.sh(&[
            "ip",
            "netns",
            "exec",
            &gw,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        for z in ZONES {
            let zn = lab.ns(z.suffix);
            lab.listen(&zn, PORTS);
        }
        lab
    }

    /// Open (address, port) found by a connect scan from zone `from` of every host of the
    /// other zones.
    fn scan_from(&self, from: &Zone) -> BTreeSet<(String, u16)> {
        let targets: Vec<&str> = ZONES
            .iter()
            .filter(|z| z.suffix != from.suffix)
            .flat_map(|z| z.hosts.iter().copied())
            .collect();
        self.scan(from.suffix, &targets, PORTS, None)
    }

    /// Open (address, port) found by a connect scan from namespace `suffix`; the scan is also
    /// written to `file` as JSON Lines.
    fn scan(
        &self,
        suffix: &str,
        targets: &[&str],
        ports: &str,
        file: Option<&Path>,
    ) -> BTreeSet<(String, u16)> {
        let mut extra = Vec::new();
        if let Some(f) = file {
            extra.push("-o".to_string());
            extra.push(format!("jsonl={}", f.display()));
        }
        self.scan_with(suffix, targets, ports, &extra)
    }

    /// Like [`GatewayLab::scan`], also saving the scan to the result store `db`.
    fn scan_stored(
        &self,
        suffix: &str,
        targets: &[&str],
        ports: &str,
        db: &Path,
    ) -> BTreeSet<(String, u16)> {
        let extra = ["--store".to_string(), db.display().to_string()];
        self.scan_with(suffix, targets, ports, &extra)
    }

    fn scan_with(
        &self,
        suffix: &str,
        targets: &[&str],
        ports: &str,
        extra: &[String],
    ) -> BTreeSet<(String, u16)> {
        let bin = assert_cmd::cargo::cargo_bin("portolan");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(suffix)])
            .arg(&bin)
            .args([
                "scan",
                // The gateway drops everything the policy does not allow, discovery's pings
                // too: the test is about which flows pass, so every target is scanned.
                "-Pn",
                "-p",
                ports,
                "--format",
                "json",
                "--timeout",
                "400",
                "--retries",
                "1",
            ])
            .args(extra)
            .args(targets)
            .env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scan from {}: {}",
            suffix,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut open = BTreeSet::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["type"] == "port" && v["state"] == "open" {
                open.insert((
                    v["addr"].as_str().unwrap().to_string(),
                    v["port"].as_u64().unwrap() as u16,
                ));
            }
        }
        open
    }
}

impl Drop for GatewayLab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
        for n in &self.made {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn can_run() -> bool {
    if !common::is_root() {
        common::lab::skip_or_fail("policy lab: needs root to create network namespaces");
        return false;
    }
    for t in ["ip", "nft", "python3"] {
        if !common::lab::have(t) {
            common::lab::skip_or_fail(&format!("policy lab: `{t}` is not installed"));
            return false;
        }
    }
    true
}

fn flows(v: &[(&str, u16)]) -> BTreeSet<(String, u16)> {
    v.iter().map(|&(a, p)| (a.to_string(), p)).collect()
}

#[test]
fn gateway_rules_allow_exactly_the_policy_flows() {
    if !can_run() {
        return;
    }
    let lab = GatewayLab::up("r");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-firewall/tests/policies/example.yaml");

    // Control: without rules every port of every other zone's hosts is open.
    for z in ZONES {
        let open = lab.scan_from(z);
        let all: usize = ZONES
            .iter()
            .filter(|o| o.suffix != z.suffix)
            .map(|o| o.hosts.len() * 5)
            .sum();
        assert_eq!(
            open.len(),
            all,
            "lab routing broken from zone {}: {open:?}",
            z.suffix
        );
    }

    // The generated gateway rules, applied in the gateway namespace.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("gw.nft");
    common::portolan()
        .args(["firewall", "generate"])
        .arg(&policy)
        .args(["--gateway", "--nft", "-o"])
        .arg(&rules)
        .assert()
        .success();
    let out = lab.exec("g", &["nft", "-f", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What the policy allows, written out by hand (not computed by the code under test):
    // internet is 0.0.0.0/0, so every zone reaches web1 on http and https (rules 1 and 5);
    // office reaches all of dmz on ssh (rule 2); dmz reaches pg1 on postgresql (rule 3).
    let web = [("10.20.0.10", 80), ("10.20.0.10", 443)];
    let expected = [
        ("i", flows(&web)),
        ("d", flows(&[("10.40.0.5", 5432)])),
        (
            "o",
            flows(&[
                ("10.20.0.10", 80),
                ("10.20.0.10", 443),
                ("10.20.0.10", 22),
                ("10.20.0.20", 22),
            ]),
        ),
        ("b", flows(&web)),
    ];
    for (suffix, want) in &expected {
        let z = ZONES.iter().find(|z| &z.suffix == suffix).unwrap();
        let got = lab.scan_from(z);
        assert_eq!(&got, want, "open flows from zone {suffix} (nftables)");
    }

    // The same with the iptables output (ipset + iptables-restore), when installed.
    if !lab.load_iptables(&policy, dir.path(), &["ipset", "v4", "v6"], "policy lab") {
        return;
    }
    for (suffix, want) in &expected {
        let z = ZONES.iter().find(|z| &z.suffix == suffix).unwrap();
        let got = lab.scan_from(z);
        assert_eq!(&got, want, "open flows from zone {suffix} (iptables)");
    }
}

/// `policy check POLICY --scan SCAN... --from FROM --format json`.
fn check(policy: &Path, scan: &[&str], from: &str) -> serde_json::Value {
    let out = common::portolan()
        .args(["policy", "check"])
        .arg(policy)
        .arg("--scan")
        .args(scan)
        .args(["--from", from, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn policy_check_finds_no_violation_behind_the_rules_and_exactly_the_rogue_listener() {
    if !can_run() {
        return;
    }
    let mut lab = GatewayLab::up("c");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-firewall/tests/policies/example.yaml");
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<&str> = ZONES
        .iter()
        .filter(|z| z.suffix != "i")
        .flat_map(|z| z.hosts.iter().copied())
        .collect();

    // --from gives the scanner's own address: a zone would mean "some address of the zone",
    // and internet (0.0.0.0/0) holds office and dmz, whose rules would then count too.
    // No firewall yet: from the internet every listener is open, and every one that the
    // policy does not allow is a violation (web1's http and https are allowed).
    let before = dir.path().join("before.jsonl");
    lab.scan("i", &all, PORTS, Some(&before));
    let v = check(&policy, &[before.to_str().unwrap()], "198.51.100.7");
    assert_eq!(v["open"], 20, "{v}");
    assert_eq!(v["violations"], 18, "{v}");
    assert_eq!(v["stale"], 0, "{v}");

    // The generated rules on the gateway: nothing open but what is allowed, nothing stale.
    let rules = dir.path().join("gw.nft");
    common::portolan()
        .args(["firewall", "generate"])
        .arg(&policy)
        .args(["--gateway", "-o"])
        .arg(&rules)
        .assert()
        .success();
    let out = lab.exec("g", &["nft", "-f", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // From here the scans are read back from the result store (`--scan latest`, `--scan ID`).
    let db = dir.path().join("scans.db");
    let db_arg = db.to_str().unwrap();
    lab.scan_stored("i", &all, PORTS, &db);
    let v = check(&policy, &["latest", "--store", db_arg], "198.51.100.7");
    assert_eq!(
        (
            v["open"].clone(),
            v["violations"].clone(),
            v["stale"].clone()
        ),
        (2.into(), 0.into(), 0.into()),
        "{v}"
    );

    // A rogue listener on web1 (port 9999), seen from its own zone: exactly one violation.
    let dmz = lab.ns("d");
    lab.listen(&dmz, "9999");
    let open = lab.scan_stored("d", &["10.20.0.10"], "80,443,9999", &db);
    assert_eq!(open.len(), 3, "{open:?}");
    for which in ["latest", "2"] {
        let v = check(&policy, &[which, "--store", db_arg], "dmz");
        assert_eq!(v["violations"], 1, "--scan {which}: {v}");
        let f = &v["findings"][0];
        assert_eq!(
            (f["code"].as_str(), f["port"].as_u64(), f["host"].as_str()),
            (Some("violation"), Some(9999), Some("web1")),
            "--scan {which}: {v}"
        );
    }
    // The earlier stored scan (from the internet, behind the rules) is still clean.
    let v = check(&policy, &["1", "--store", db_arg], "198.51.100.7");
    assert_eq!(v["violations"], 0, "{v}");
}

#[test]
fn policy_check_local_sees_this_hosts_listeners() {
    if !can_run() {
        return;
    }
    // One namespace standing for web1: listeners on 80 (allowed), 9999 (not allowed), and
    // nothing on 443 (allowed by rule 5: stale).
    let mut lab = GatewayLab::single("poll");
    let ns = lab.base.clone();
    lab.listen(&ns, "80,9999");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-firewall/tests/policies/example.yaml");
    let bin = assert_cmd::cargo::cargo_bin("portolan");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(&bin)
        .args(["policy", "check"])
        .arg(&policy)
        .args([
            "--local",
            "--host",
            "web1",
            "--format",
            "json",
            "--fail-on",
            "high",
        ])
        .env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a violation is high: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("violation".to_string(), 9999), ("stale".to_string(), 443)],
        "{v}"
    );
}

#[test]
fn firewall_audit_reads_the_live_ruleset_and_sockets() {
    if !can_run() {
        return;
    }
    let mut lab = GatewayLab::single("pola");
    let ns = lab.base.clone();
    let rules = "table inet t {\n chain input {\n type filter hook input priority 0; policy drop;\n tcp dport { 22, 8081 } accept\n }\n}\n";
    let out = lab.exec("", &["nft", rules]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.listen(&ns, "22");
    let bin = assert_cmd::cargo::cargo_bin("portolan");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(&bin)
        .args(["firewall", "audit", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{v}");
    assert_eq!(f[0]["code"], "port-not-listening");
    assert_eq!(
        f[0]["message"],
        "accepts 8081/tcp but nothing listens there"
    );

    // Against the policy, as host web1: the ruleset accepts 22 from everywhere (the policy:
    // from the office only) and 8081 (not in the policy), and drops http, https and the
    // office's ping.
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-firewall/tests/policies/example.yaml");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(&bin)
        .args(["firewall", "audit", "--format", "json", "--host", "web1"])
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(&str, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["evidence"].as_str().unwrap()))
        .collect();
    let extra: Vec<&(&str, &str)> = got.iter().filter(|(c, _)| *c == "drift-extra").collect();
    assert_eq!(extra.len(), 1, "{v}");
    assert!(extra[0].1.starts_with("inet t input handle "), "{v}");
    let missing: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "drift-missing")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 3, "{v}");
    for (m, rule) in missing.iter().zip([1, 4, 5]) {
        assert!(m.contains(&format!("policy rule {rule} allows")), "{v}");
    }
    assert!(
        got.iter()
            .filter(|(c, _)| *c == "drift-missing")
            .all(|(_, e)| *e == "inet t input policy drop"),
        "{v}"
    );
}

#[test]
fn firewall_audit_reads_the_live_iptables_rules_and_sockets() {
    if !can_run() {
        return;
    }
    let mut lab = GatewayLab::single("polt");
    let ns = lab.base.clone();
    let seeded = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-firewall/tests/rulesets/seeded.iptables-save");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns, "iptables-restore"])
        .arg(&seeded)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.listen(&ns, "22");
    let bin = assert_cmd::cargo::cargo_bin("portolan");
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(&bin)
        .args(["firewall", "audit", "--iptables", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    let codes: Vec<&str> = f.iter().map(|f| f["code"].as_str().unwrap()).collect();
    // ip6tables has no filter table in the namespace: its INPUT accepts everything too.
    assert_eq!(
        codes,
        [
            "default-accept",
            "any-any",
            "default-accept",
            "shadowed",
            "redundant",
            "port-not-listening"
        ],
        "{v}"
    );
    let last = f.last().unwrap();
    assert_eq!(last["message"], "accepts 80/tcp but nothing listens there");
    assert!(
        last["evidence"]
            .as_str()
            .unwrap()
            .starts_with("iptables-save line "),
        "{v}"
    );
}

/// `nft list ruleset` of a namespace.
fn ruleset(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "ruleset"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn firewall_apply_rolls_back_unless_confirmed() {
    if !can_run() {
        return;
    }
    let ns = format!("polp{}", std::process::id() % 100_000);
    let mut lab = GatewayLab {
        base: ns.clone(),
        made: Vec::new(),
        children: Vec::new(),
    };
    let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    lab.sh(&["ip", "netns", "add", &ns]);
    lab.made.push(ns.clone());
    let before = "table inet keep {\n chain c {\n type filter hook input priority 0; policy accept;\n tcp dport 2222 accept\n }\n}\n";
    let out = lab.exec("", &["nft", before]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let original = ruleset(&ns);
    assert!(original.contains("table inet keep"));

    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("web1.nft");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-firewall/tests/policies/example.yaml");
    common::portolan()
        .args(["firewall", "generate"])
        .arg(&policy)
        .args(["--host", "web1", "-o"])
        .arg(&rules)
        .assert()
        .success();
    let snap = dir.path().join("snap.nft");
    let bin = assert_cmd::cargo::cargo_bin("portolan");
    let apply = |stdin: Stdio, confirm: &str| -> Child {
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .arg(&bin)
            .args(["firewall", "apply"])
            .arg(&rules)
            .args(["--confirm", confirm, "--snapshot"])
            .arg(&snap)
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // End of input: not confirmed, restored at once.
    let out = apply(Stdio::null(), "60").wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("previous ruleset is restored"));
    assert_eq!(ruleset(&ns), original);

    // Nothing typed within the time: restored.
    let mut c = apply(Stdio::piped(), "1");
    let stdin_held = c.stdin.take();
    let out = c.wait_with_output().unwrap();
    drop(stdin_held);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ruleset(&ns), original);

    // The apply process dies while waiting (a hang-up when the SSH session is lost, or a
    // SIGKILL): its watchdog, in a process group of its own, restores the snapshot.
    for sig in ["-HUP", "-KILL"] {
        let mut c = apply(Stdio::piped(), "1");
        let stdin_held = c.stdin.take();
        let mut err = BufReader::new(c.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.contains("Type yes"), "{line}");
        assert!(
            ruleset(&ns).contains("table inet portolan"),
            "applied while waiting"
        );
        let _ = Command::new("kill")
            .args([sig, &c.id().to_string()])
            .status();
        let st = c.wait().unwrap();
        drop(stdin_held);
        assert_eq!(st.code(), None, "{sig} ended the apply process");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while ruleset(&ns) != original {
            assert!(
                std::time::Instant::now() < deadline,
                "{sig}: the watchdog never restored"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    // Confirmed: kept, and the other table is untouched.
    let mut c = apply(Stdio::piped(), "60");
    {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    }
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = ruleset(&ns);
    assert!(
        now.contains("table inet portolan") && now.contains("table inet keep"),
        "{now}"
    );

    // A script that does not load changes nothing.
    let bad = dir.path().join("bad.nft");
    std::fs::write(&bad, "table inet portolan { chain x { nonsense } }\n").unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(&bin)
        .args(["firewall", "apply"])
        .arg(&bad)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(ruleset(&ns), now);
}

/// A rate-limited rule with `default: reject`: the limit is per source address, and what it
/// refuses is refused at once (TCP reset), not left to time out.
const RATE_POLICY: &str = "
zones:
  internet: { networks: [0.0.0.0/0] }
  dmz:      { networks: [10.20.0.0/24] }
  office:   { networks: [10.30.0.0/16] }
hosts:
  web1: { address: 10.20.0.10, zone: dmz }
rules:
  - { from: internet, to: web1, allow: [https], rate: 3/minute }
default: reject
";

/// `count` TCP connections from namespace `suffix` to `addr:port`, one after the other:
/// `ok`, `refused` (a reset came back) or `timeout` each.
fn connects(lab: &GatewayLab, suffix: &str, addr: &str, port: u16, count: u32) -> Vec<String> {
    let script = "import socket, sys\n\
        out = []\n\
        for _ in range(int(sys.argv[3])):\n\
        \x20   s = socket.socket(); s.settimeout(2)\n\
        \x20   try:\n\
        \x20       s.connect((sys.argv[1], int(sys.argv[2]))); out.append('ok')\n\
        \x20   except ConnectionRefusedError:\n\
        \x20       out.append('refused')\n\
        \x20   except OSError:\n\
        \x20       out.append('timeout')\n\
        \x20   finally:\n\
        \x20       s.close()\n\
        print(' '.join(out))\n";
    let out = lab.exec(
        suffix,
        &[
            "python3",
            "-c",
            script,
            addr,
            &port.to_string(),
            &count.to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// One source's budget of 3 new connections a minute: used up, then refused; another source
/// still gets its own.
fn assert_per_source(lab: &GatewayLab, what: &str) {
    let first = connects(lab, "i", "10.20.0.10", 443, 6);
    assert_eq!(
        first.iter().filter(|r| *r == "ok").count(),
        3,
        "{what}: the internet host's first 3 connections pass, then the limit: {first:?}"
    );
    assert_eq!(
        &first[3..],
        ["refused", "refused", "refused"],
        "{what}: over the limit is rejected (reset), not dropped: {first:?}"
    );
    let other = connects(lab, "o", "10.20.0.10", 443, 1);
    assert_eq!(
        other,
        ["ok"],
        "{what}: another source has a budget of its own"
    );
    // Not allowed at all: refused at once as well.
    assert_eq!(
        connects(lab, "i", "10.20.0.10", 22, 1),
        ["refused"],
        "{what}"
    );
}

#[test]
fn rate_limits_are_per_source_and_the_default_rejects() {
    if !can_run() {
        return;
    }
    let lab = GatewayLab::up("r");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("rate.yaml");
    std::fs::write(&policy, RATE_POLICY).unwrap();
    let rules = dir.path().join("gw.nft");
    common::portolan()
        .args(["firewall", "generate"])
        .arg(&policy)
        .args(["--gateway", "-o"])
        .arg(&rules)
        .assert()
        .success();
    let out = lab.exec("g", &["nft", "-f", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_per_source(&lab, "nftables");

    if !lab.load_iptables(&policy, dir.path(), &["ipset", "v4"], "rate lab") {
        return;
    }
    assert_per_source(&lab, "iptables");
}

#[test]
fn egress_reject_lets_a_host_open_only_what_rules_from_it_allow() {
    if !can_run() {
        return;
    }
    let lab = GatewayLab::up("e");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-firewall/tests/policies/egress.yaml");
    // Before: web1 (namespace d) reaches everything it tries.
    assert_eq!(connects(&lab, "d", "10.40.0.5", 22, 1), ["ok"]);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("web1.nft");
    common::portolan()
        .args(["firewall", "generate"])
        .arg(&policy)
        .args(["--host", "web1", "-o"])
        .arg(&rules)
        .assert()
        .success();
    let out = lab.exec("d", &["nft", "-f", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "nft -f: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Rule 2: postgresql to pg1; nothing else to pg1 or to the office, refused at once.
    assert_eq!(connects(&lab, "d", "10.40.0.5", 5432, 1), ["ok"]);
    assert_eq!(connects(&lab, "d", "10.40.0.5", 22, 1), ["refused"]);
    assert_eq!(connects(&lab, "d", "10.30.0.7", 22, 1), ["refused"]);
    // Incoming is still what the policy allows: ssh from the office.
    assert_eq!(connects(&lab, "o", "10.20.0.10", 22, 1), ["ok"]);
}
