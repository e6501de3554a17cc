//! `portolan scan -sV --vulns` on loopback (no root needed): an OpenSSH greeting of a Debian
//! build, matched against the project's copy of real NVD records, shown in every output format;
//! no database → an error before the first packet that says how to import one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{greeter, nmapxml, portolan};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../portolan-vuln/tests/data")
}

fn imported(dir: &Path) -> PathBuf {
    let db = dir.join("v.sqlite3");
    portolan()
        .args(["vulns", "import"])
        .arg(data())
        .arg("--db")
        .arg(&db)
        .assert()
        .success();
    db
}

#[test]
fn without_a_database_it_fails_before_scanning_and_says_how_to_import() {
    let dir = tempfile::tempdir().unwrap();
    let port = greeter(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n").to_string();
    let out = portolan()
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &port,
            "-sV",
            "--vulns",
            "--no-store",
        ])
        .arg("--vulns-db")
        .arg(dir.path().join("none.sqlite3"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("portolan vulns import"), "{err}");
    assert!(
        !err.contains("service detection on"),
        "scanned anyway: {err}"
    );
    assert!(out.stdout.is_empty());
    // The default database (in the data directory) absent: the same.
    portolan()
        .env("PORTOLAN_DATA_DIR", dir.path())
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &port,
            "-sV",
            "--vulns",
            "--no-store",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("portolan vulns import"));
    // An empty database is no better.
    let empty = dir.path().join("empty.sqlite3");
    portolan()
        .args(["vulns", "status", "--db"])
        .arg(&empty)
        .assert()
        .code(2);
    portolan_vuln_empty(&empty);
    portolan()
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &port,
            "-sV",
            "--vulns",
            "--no-store",
        ])
        .arg("--vulns-db")
        .arg(&empty)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("holds no CVE record"));
    // --vulns needs -sV.
    portolan()
        .args(["scan", "127.0.0.1", "-p", &port, "--vulns", "--no-store"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--service-version"));
}

/// An empty database file (created by importing a KEV catalogue with no entry).
fn portolan_vuln_empty(path: &Path) {
    let kev = path.with_extension("kev.json");
    std::fs::write(
        &kev,
        r#"{"title":"CISA Catalog of Known Exploited Vulnerabilities","catalogVersion":"1","dateReleased":"2026-01-01T00:00:00.000Z","count":0,"vulnerabilities":[]}"#,
    )
    .unwrap();
    let out = portolan()
        .args(["vulns", "import"])
        .arg(&kev)
        .arg("--db")
        .arg(path)
        .output()
        .unwrap();
    assert!(path.exists(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn findings_inline_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path());
    let ssh = greeter(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    // A service without a version: nothing claimed.
    let bare = greeter(b"220 ready\r\n");
    let ports = format!("{ssh},{bare}");
    let o = |f: &str| dir.path().join(f);
    let out = portolan()
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &ports,
            "-sV",
            "--vulns",
            "--no-store",
        ])
        .args(["--format", "json", "--vulns-db"])
        .arg(&db)
        .arg("-o")
        .arg(format!("xml={}", o("s.xml").display()))
        .arg("-o")
        .arg(format!("grep={}", o("s.grep").display()))
        .arg("-o")
        .arg(format!("csv={}", o("s.csv").display()))
        .arg("-o")
        .arg(format!("table={}", o("s.txt").display()))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // JSON Lines: a `vulns` array on the port record; schema_version kept.
    let recs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let port = |p: u16| {
        recs.iter()
            .find(|r| r["type"] == "port" && r["port"] == p)
            .unwrap()
    };
    let rec = port(ssh);
    assert_eq!(rec["schema_version"], 1);
    let vulns = rec["vulns"].as_array().unwrap();
    let ids: Vec<&str> = vulns.iter().map(|v| v["cve"].as_str().unwrap()).collect();
    for id in ["CVE-2023-38408", "CVE-2024-6387", "CVE-2023-28531"] {
        assert!(ids.contains(&id), "{id} missing: {ids:?}");
    }
    assert!(!ids.contains(&"CVE-2023-25136"), "9.1 only: {ids:?}");
    let regresshion = vulns.iter().find(|v| v["cve"] == "CVE-2024-6387").unwrap();
    assert_eq!(regresshion["applicability"], "affected");
    assert_eq!(regresshion["confidence"], 30);
    assert!(regresshion["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str().unwrap().contains("fixes may be backported")));
    assert!(port(bare).get("vulns").is_none(), "{}", port(bare));

    // Table: under the port.
    let table = std::fs::read_to_string(o("s.txt")).unwrap();
    let after = table.split(&format!("{ssh}/tcp")).nth(1).unwrap();
    assert!(after.contains("| portolan-vulns:"), "{table}");
    assert!(after.contains("CVE-2024-6387 8.1 high affected"), "{table}");
    assert!(after.contains("fixes may be backported"), "{table}");

    // XML: valid against nmap.dtd; an independent parser (xmllint) finds the script's tables.
    nmapxml::check(&o("s.xml"), &[ssh, bare]);
    let xml = std::fs::read_to_string(o("s.xml")).unwrap();
    assert!(
        xml.contains("<script id=\"portolan-vulns\" output=\""),
        "{xml}"
    );
    if Command::new("xmllint").arg("--version").output().is_ok() {
        let q = Command::new("xmllint")
            .arg("--xpath")
            .arg(format!(
                "string(//port[@portid='{ssh}']/script[@id='portolan-vulns']/table[@key='cpe:/a:openbsd:openssh:9.2p1']/table[elem[@key='id']='CVE-2024-6387']/elem[@key='cvss'])"
            ))
            .arg(o("s.xml"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&q.stdout).trim(), "8.1");
    }

    // grep: a Vulns field with the port's CVE ids; CSV: a vulns column.
    let grep = std::fs::read_to_string(o("s.grep")).unwrap();
    let line = grep.lines().find(|l| l.contains("Ports:")).unwrap();
    let field = line.split('\t').find(|f| f.starts_with("Vulns: ")).unwrap();
    assert!(field.starts_with(&format!("Vulns: {ssh}/tcp: ")), "{field}");
    assert!(field.contains("CVE-2024-6387") && !field.contains(&bare.to_string()));
    let csv = std::fs::read_to_string(o("s.csv")).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "vulns").unwrap();
    for row in rows {
        let cells: Vec<&str> = row.split(',').collect();
        if cells[2] == ssh.to_string() {
            assert!(cells[col].contains("CVE-2024-6387"), "{row}");
        } else {
            assert_eq!(cells[col], "", "{row}");
        }
    }
}

/// `scan -sV --vulns` against one loopback greeting, `extra` flags after; the exit status and
/// the JSON Lines on stdout.
fn scan_vulns(db: &Path, banner: &'static [u8], extra: &[&str]) -> (Option<i32>, u16, String) {
    let port = greeter(banner);
    let out = portolan()
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-sV",
            "--vulns",
            "--no-store",
            "--format",
            "json",
        ])
        .arg("--vulns-db")
        .arg(db)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        port,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The CVE ids in the `vulns` array of the port record.
fn cves(jsonl: &str, port: u16) -> Vec<String> {
    let rec: serde_json::Value = jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["type"] == "port" && r["port"] == port)
        .unwrap();
    rec.get("vulns")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|v| v["cve"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn fail_on_counts_the_cve_findings_of_vulns() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path());
    // OpenSSH 9.6p1: CVE-2024-6387 (CVSS 8.1, high) is its most severe known CVE.
    let banner = b"SSH-2.0-OpenSSH_9.6p1\r\n";
    let (code, port, out) = scan_vulns(&db, banner, &["--fail-on", "high"]);
    assert_eq!(cves(&out, port), ["CVE-2024-6387"], "{out}");
    assert_eq!(code, Some(1), "a high CVE must fail --fail-on high: {out}");
    let (code, _, _) = scan_vulns(&db, banner, &["--fail-on", "medium"]);
    assert_eq!(code, Some(1));
    let (code, _, _) = scan_vulns(&db, banner, &["--fail-on", "critical"]);
    assert_eq!(code, Some(0), "nothing critical");
    // A finding the filters hide does not count.
    let (code, port, out) = scan_vulns(&db, banner, &["--fail-on", "high", "--min-cvss", "9"]);
    assert_eq!(code, Some(0));
    assert!(cves(&out, port).is_empty(), "{out}");
    // Without --vulns the same service proves no exposure.
    let port = greeter(banner).to_string();
    portolan()
        .args(["scan", "127.0.0.1", "-p", &port, "-sV", "--no-store"])
        .args(["--fail-on", "high"])
        .assert()
        .code(0);
}

#[test]
fn vulns_filters_apply_inline_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(dir.path());
    let banner = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
    let o = |f: &str| dir.path().join(f);
    let files: Vec<String> = ["xml=s.xml", "grep=s.grep", "csv=s.csv", "table=s.txt"]
        .iter()
        .map(|s| {
            let (fmt, f) = s.split_once('=').unwrap();
            format!("{fmt}={}", o(f).display())
        })
        .collect();
    let mut extra = vec!["--min-cvss", "9"];
    for f in &files {
        extra.push("-o");
        extra.push(f);
    }
    let (code, port, out) = scan_vulns(&db, banner, &extra);
    assert_eq!(code, Some(0), "{out}");
    // CVSS 9.8: CVE-2023-28531, CVE-2023-38408, CVE-2023-51385; hidden: CVE-2024-6387 (8.1),
    // CVE-2023-51384 (5.5).
    let mut shown = cves(&out, port);
    shown.sort();
    assert_eq!(
        shown,
        ["CVE-2023-28531", "CVE-2023-38408", "CVE-2023-51385"],
        "{out}"
    );
    let hidden = ["CVE-2024-6387", "CVE-2023-51384"];
    let table = std::fs::read_to_string(o("s.txt")).unwrap();
    assert!(table.contains("CVE-2023-38408 9.8 critical"), "{table}");
    assert!(table.contains("(2 more hidden by filters)"), "{table}");
    let xml = std::fs::read_to_string(o("s.xml")).unwrap();
    assert!(xml.contains(">CVE-2023-38408<"), "{xml}");
    nmapxml::check(&o("s.xml"), &[port]);
    let grep = std::fs::read_to_string(o("s.grep")).unwrap();
    assert!(grep.contains("CVE-2023-38408"), "{grep}");
    let csv = std::fs::read_to_string(o("s.csv")).unwrap();
    assert!(csv.contains("CVE-2023-38408"), "{csv}");
    for text in [&table, &xml, &grep, &csv] {
        for id in hidden {
            assert!(
                !text.contains(id),
                "{id} shown despite --min-cvss 9: {text}"
            );
        }
    }

    // --min-epss: only the CVE with an EPSS score of at least 0.02 (CVE-2023-28531, 0.02267).
    let (_, port, out) = scan_vulns(&db, banner, &["--min-epss", "0.02"]);
    assert_eq!(cves(&out, port), ["CVE-2023-28531"], "{out}");
    // --kev: none of these is in the KEV excerpt: no vulns on the port at all.
    let (_, port, out) = scan_vulns(&db, banner, &["--kev"]);
    assert!(cves(&out, port).is_empty(), "{out}");
    // --min-confidence: a Debian build caps confidence at 30.
    let (_, port, out) = scan_vulns(&db, banner, &["--min-confidence", "31"]);
    assert!(cves(&out, port).is_empty(), "{out}");
    let (_, port, out) = scan_vulns(&db, banner, &["--min-confidence", "30"]);
    assert_eq!(cves(&out, port).len(), 5, "{out}");
    // The filters need --vulns.
    let port = greeter(banner).to_string();
    portolan()
        .args(["scan", "127.0.0.1", "-p", &port, "-sV", "--no-store"])
        .args(["--min-cvss", "7"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--vulns"));
    // A score out of range is an error that says what to give.
    portolan()
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &port,
            "-sV",
            "--no-store",
            "--vulns",
        ])
        .args(["--min-cvss", "11"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("from 0 to 10"));
}
