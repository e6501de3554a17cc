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
