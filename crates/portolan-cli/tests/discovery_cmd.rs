//! `portolan scan -sn`, `--discovery`, `-Pn` on loopback (127.0.0.0/8 only): host status and
//! reason in every output, nmap-valid XML, the unprivileged fallback, and bad input refused
//! before any packet. The sparse-network lab is in discovery_lab.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::portolan;
use predicates::prelude::*;

/// Reasons a loopback host may give: raw discovery (echo, timestamp, SYN/ACK pings answered by
/// RST or SYN-ACK) or the connect fallback.
const REASONS: [&str; 5] = [
    "echo-reply",
    "timestamp-reply",
    "syn-ack",
    "reset",
    "conn-refused",
];

#[test]
fn ping_scan_reports_every_loopback_host_up_with_a_reason_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("out.xml");
    let json = dir.path().join("out.jsonl");
    let out = portolan()
        .args(["scan", "-sn", "127.0.0.1-127.0.0.3", "--no-store", "-q"])
        .arg("-o")
        .arg(format!("xml={}", xml.display()))
        .arg("-o")
        .arg(format!("json={}", json.display()))
        .args(["--format", "grep"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grep = String::from_utf8(out.stdout).unwrap();
    for a in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert!(
            grep.contains(&format!("Host: {a} ()\tStatus: Up")),
            "{a} not up in:\n{grep}"
        );
    }
    // No port line: discovery only.
    assert!(!grep.contains("Ports:"), "{grep}");

    let text = std::fs::read_to_string(&xml).unwrap();
    let n = text.matches("<status state=\"up\" reason=\"").count();
    assert_eq!(n, 3, "{text}");
    for line in text.lines().filter(|l| l.starts_with("<status ")) {
        assert!(
            REASONS
                .iter()
                .any(|r| line.contains(&format!("reason=\"{r}\""))),
            "{line}"
        );
    }
    assert!(!text.contains("<port "), "no ports in a ping scan");
    common::nmapxml::check(&xml, &[]);

    let recs: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs[0]["scan_type"], "ping");
    let hosts: Vec<&serde_json::Value> = recs.iter().filter(|r| r["type"] == "host").collect();
    assert_eq!(hosts.len(), 3);
    for h in hosts {
        assert_eq!(h["up"], true);
        assert!(REASONS.contains(&h["up_reason"].as_str().unwrap()), "{h}");
        assert_eq!(h["schema_version"], 1);
    }
    let end = recs.last().unwrap();
    assert_eq!(end["type"], "end");
    assert_eq!(end["hosts_up"], 3);
}

#[test]
fn table_says_how_each_host_answered() {
    portolan()
        .args(["scan", "-sn", "127.0.0.1", "--no-store", "-q"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(
                "host is up, (echo-reply|timestamp-reply|syn-ack|reset|conn-refused)",
            )
            .unwrap(),
        );
}

#[test]
fn without_raw_sockets_discovery_connects_and_says_so() {
    if !common::is_root() || !common::lab::have("setpriv") {
        if common::in_ci() {
            panic!("the fallback test needs root and setpriv under CI");
        }
        eprintln!("SKIP: needs root and setpriv to run portolan without CAP_NET_RAW");
        return;
    }
    // Root without CAP_NET_RAW: raw sockets are refused, as for an ordinary user.
    let out = std::process::Command::new("setpriv")
        .arg("--bounding-set=-net_raw")
        .arg(assert_cmd::cargo::cargo_bin("portolan"))
        .args(["scan", "-sn", "127.0.0.1", "--no-store", "--format", "json"])
        .env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TCP connects to ports 80 and 443"), "{err}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\"up\":true,\"up_reason\":\"conn-refused\""),
        "{stdout}"
    );
}

#[test]
fn discovery_before_ports_scans_live_hosts() {
    let out = portolan()
        .args([
            "scan",
            "127.0.0.1-127.0.0.2",
            "-p",
            "1",
            "--discovery",
            "--no-store",
            "-q",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    // Both hosts are live, so both get their port probed (closed: nothing listens on 1).
    assert_eq!(
        s.matches("\"type\":\"port\"").count(),
        0,
        "closed ports are folded"
    );
    assert!(s.contains("\"hosts_up\":2"), "{s}");
    assert!(s.contains("\"closed\":2"), "{s}");
}

#[test]
fn bad_discovery_input_is_refused_before_any_packet() {
    for (args, want) in [
        (&["--discovery=bogus"][..], "unknown probe \"bogus\""),
        (&["--discovery=syn:0"][..], "not a port"),
        (&["--discovery=arp:1"][..], "unknown probe \"arp:1\""),
        (&["-sn", "-p", "22"][..], "cannot be used with"),
        (&["--discovery", "--resume", "/tmp/x.resume"][..], "add -Pn"),
        (&["--discovery", "-Pn"][..], "cannot be used with"),
    ] {
        portolan()
            .args(["scan", "127.0.0.1", "--no-store", "-q"])
            .args(args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(want));
    }
}

#[test]
fn pn_is_the_default_and_accepted() {
    portolan()
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            "1",
            "-Pn",
            "--no-store",
            "-q",
            "--format",
            "json",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"closed\":1"));
    portolan()
        .args(["scan", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scan -sn 10.0.0.0/16"))
        .stdout(predicate::str::contains("--discovery"));
}
