//! `portolan scan -sn`, `--discovery`, `-Pn` on loopback (127.0.0.0/8 only): this host's own
//! addresses are up without a probe (`localhost-response`, as nmap says), in every output,
//! nmap-valid XML, and bad input refused before any packet. The probes themselves (raw, and the
//! unprivileged fallback) are tested on the sparse-network lab in discovery_lab.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{output_to, portolan, run_ok};
use predicates::prelude::*;

/// The reason a loopback host gives: it is this host's own, up without a probe.
const REASONS: [&str; 1] = ["localhost-response"];

#[test]
fn ping_scan_reports_every_loopback_host_up_with_a_reason_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("out.xml");
    let json = dir.path().join("out.jsonl");
    let out = run_ok(
        portolan()
            .args(["scan", "-sn", "127.0.0.1-127.0.0.3", "--no-store", "-q"])
            .args(output_to("xml", &xml))
            .args(output_to("json", &json))
            .args(["--format", "grep"]),
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
    // Not one probe: loopback is this host's own.
    assert_eq!(end["sent"], 0, "{end}");
    assert_eq!(end["host_discovery"], "localhost", "{end}");
}

#[test]
fn table_says_how_each_host_answered() {
    portolan()
        .args(["scan", "-sn", "127.0.0.1", "--no-store", "-q"])
        .assert()
        .success()
        .stdout(predicate::str::is_match("host is up, localhost-response").unwrap());
}

#[test]
fn without_raw_sockets_loopback_needs_no_probe() {
    if !common::is_root() || !common::lab::have("setpriv") {
        if common::in_ci() {
            panic!("the unprivileged test needs root and setpriv under CI");
        }
        eprintln!("SKIP: needs root and setpriv to run portolan without CAP_NET_RAW");
        return;
    }
    // Root without CAP_NET_RAW, as an ordinary user: a port scan of loopback discovers
    // nothing (no connect to 80 and 443, no notice about it) and scans as before.
    let out = std::process::Command::new("setpriv")
        .arg("--bounding-set=-net_raw")
        .arg(assert_cmd::cargo::cargo_bin("portolan"))
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            "1",
            "--no-store",
            "--format",
            "json",
        ])
        .env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("TCP connects to ports 80 and 443"), "{err}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\"up\":true,\"up_reason\":\"localhost-response\""),
        "{stdout}"
    );
    // One probe: port 1.
    assert!(stdout.contains("\"sent\":1,"), "{stdout}");
}

#[test]
fn discovery_before_ports_scans_live_hosts() {
    let out = run_ok(portolan().args([
        "scan",
        "127.0.0.1-127.0.0.2",
        "-p",
        "1",
        "--discovery",
        "--no-store",
        "-q",
        "--format",
        "json",
    ]));
    let s = String::from_utf8(out.stdout).unwrap();
    // Both hosts are this host's own, so both get their port probed (closed: nothing listens
    // on 1), and nothing else is sent.
    assert_eq!(
        s.matches("\"type\":\"port\"").count(),
        0,
        "closed ports are folded"
    );
    assert!(s.contains("\"hosts_up\":2"), "{s}");
    assert!(s.contains("\"closed\":2"), "{s}");
    assert!(s.contains("\"sent\":2,"), "{s}");
}

#[test]
fn bad_discovery_input_is_refused_before_any_packet() {
    for (args, want) in [
        (&["--discovery=bogus"][..], "unknown probe \"bogus\""),
        (&["--discovery=syn:0"][..], "not a port"),
        (&["--discovery=arp:1"][..], "unknown probe \"arp:1\""),
        (&["-sn", "-p", "22"][..], "cannot be used with"),
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
fn pn_is_accepted() {
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

#[test]
fn every_output_and_the_store_name_the_discovery_that_ran() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let path = |n: &str| dir.path().join(n);
    let run = |extra: &[&str]| {
        let out = run_ok(
            portolan()
                .args(["scan", "127.0.0.1", "-p", "1", "-q", "--store"])
                .arg(&db)
                .args(extra)
                .args(output_to("xml", &path("out.xml")))
                .args(output_to("grep", &path("out.gnmap")))
                .args(output_to("csv", &path("out.csv"))),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Discovery on (the default): loopback is this host's own, named "localhost".
    let table = run(&["--all-ports"]);
    assert!(
        table.contains("host discovery: localhost (1 up, 0 down)"),
        "{table}"
    );
    let xml = std::fs::read_to_string(path("out.xml")).unwrap();
    assert!(
        xml.contains("<taskend task=\"Ping Scan\"")
            && xml.contains("extrainfo=\"host discovery: localhost; 1 of 1 hosts up\""),
        "{xml}"
    );
    assert!(xml.contains("reason=\"localhost-response\""), "{xml}");
    common::nmapxml::check(&path("out.xml"), &[]);
    let grep = std::fs::read_to_string(path("out.gnmap")).unwrap();
    assert!(grep.contains("\n# Host discovery: localhost\n"), "{grep}");
    let csv = std::fs::read_to_string(path("out.csv")).unwrap();
    let mut rows = csv.lines();
    assert!(rows
        .next()
        .unwrap()
        .ends_with(",vulns,host_reason,host_discovery"));
    assert!(
        rows.next()
            .unwrap()
            .ends_with(",localhost-response,localhost"),
        "{csv}"
    );
    // -Pn: no discovery, and nothing says one ran.
    let table = run(&["-Pn", "--all-ports"]);
    assert!(!table.contains("host discovery"), "{table}");
    let xml = std::fs::read_to_string(path("out.xml")).unwrap();
    assert!(!xml.contains("Ping Scan"), "{xml}");
    let csv = std::fs::read_to_string(path("out.csv")).unwrap();
    assert!(
        csv.lines().nth(1).unwrap().ends_with(",conn-refused,"),
        "{csv}"
    );
    // The store: the scan's discovery and each host's reason.
    let show = |id: &str| -> serde_json::Value {
        let out = run_ok(
            portolan()
                .args(["scans", "show", id, "--format", "json", "--store"])
                .arg(&db),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let first = show("1");
    assert_eq!(first["scan"]["discovery"], "localhost", "{first}");
    assert_eq!(
        first["hosts"][0]["up_reason"], "localhost-response",
        "{first}"
    );
    let second = show("2");
    assert!(second["scan"]["discovery"].is_null(), "{second}");
    let out = portolan()
        .args(["scans", "show", "1", "--store"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("host discovery: localhost"), "{text}");
}
