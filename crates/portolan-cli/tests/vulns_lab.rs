//! Lab test for `portolan scan -sV --vulns`: real Debian 12 daemons (the service lab,
//! tests/lab/fingerprint-services.sh) in a network namespace of this test's own, matched
//! against the project's copy of real NVD records (crates/portolan-vuln/tests/data, from
//! ../shared/data/nvd). Each daemon's expected CVEs for its Debian 12 version (the data
//! README's table) are found, the "not affected" ones are not, the OpenSSH Debian build carries
//! the backport reason, and a service without a version gets nothing.
//!
//! Needs root and `ip`; skips with a message otherwise, except under CI (`CI=true`) where it
//! fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use common::lab::{skip_or_fail, ScriptLab};
use common::{is_root, portolan, OutputOk};

/// The lab daemons checked: (daemon, the Debian 12 upstream version the records are chosen
/// for, CVEs that must be found "affected", CVEs that must not be found, whether a
/// distribution build is announced).
type Expectation = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

const EXPECTED: &[Expectation] = &[
    (
        "sshd",
        "9.2p1",
        &[
            "CVE-2023-28531",
            "CVE-2023-38408",
            "CVE-2023-51384",
            "CVE-2023-51385",
            "CVE-2024-6387",
        ],
        &["CVE-2023-25136"],
        true,
    ),
    (
        "nginx",
        "1.22.1",
        // Renamed product in NVD (f5:nginx_open_source), found through the alias table.
        &["CVE-2024-7347"],
        &["CVE-2021-23017", "CVE-2022-41741", "CVE-2021-3618"],
        false,
    ),
    (
        "vsftpd",
        "3.0.3",
        &["CVE-2021-3618"],
        &["CVE-2015-1419"],
        false,
    ),
    (
        "redis-open",
        "7.0.15",
        &[],
        &[
            "CVE-2022-24834",
            "CVE-2023-28856",
            "CVE-2023-41053",
            "CVE-2023-45145",
        ],
        false,
    ),
];

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../portolan-vuln/tests/data")
}

#[test]
fn scan_sv_vulns_finds_the_expected_cves_of_real_daemons() {
    if !is_root() {
        return skip_or_fail("needs root (network namespaces, daemons on system ports)");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return skip_or_fail("`ip` (iproute2) is not installed");
    }
    let pid = std::process::id();
    let lab = ScriptLab::up(
        "fingerprint-services.sh",
        format!("vulns-{pid}-lab"),
        format!("/tmp/vulns-{pid}-lab"),
    );
    let tsv = std::fs::read_to_string(format!("{}/services.tsv", lab.dir)).unwrap();
    let port_of = |daemon: &str| -> Option<u16> {
        tsv.lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f[0] == daemon && f[1].ends_with("/tcp"))
            .and_then(|f| f[1].trim_end_matches("/tcp").parse().ok())
    };
    let mut checked: Vec<(&str, u16)> = Vec::new();
    for (daemon, ..) in EXPECTED {
        match port_of(daemon) {
            Some(p) => checked.push((daemon, p)),
            None => skip_or_fail(&format!("lab daemon {daemon} did not come up")),
        }
    }
    // A service whose server announces no version: nothing may be claimed for it.
    let versionless = port_of("postgresql");
    if checked.is_empty() {
        return;
    }

    let db = PathBuf::from(&lab.dir).join("vulns.sqlite3");
    portolan()
        .args(["vulns", "import"])
        .arg(data())
        .arg("--db")
        .arg(&db)
        .output_ok();
    let ports: Vec<String> = checked
        .iter()
        .map(|(_, p)| p.to_string())
        .chain(versionless.map(|p| p.to_string()))
        .collect();
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns, env!("CARGO_BIN_EXE_portolan")])
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &ports.join(","),
            "-sV",
            "--vulns",
        ])
        .args(["--no-store", "--quiet", "--format", "json", "--vulns-db"])
        .arg(&db)
        .env("PORTOLAN_DATA_DIR", &lab.dir)
        .output_ok();
    let recs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let port = |p: u16| {
        recs.iter()
            .find(|r| r["type"] == "port" && r["port"] == p)
            .unwrap_or_else(|| panic!("no port record for {p}: {recs:?}"))
    };
    let mut problems = Vec::new();
    for (daemon, p) in &checked {
        let (_, version, affected, not_affected, distro) =
            EXPECTED.iter().find(|e| e.0 == *daemon).unwrap();
        let r = port(*p);
        let got = r["service"]["version"].as_str().unwrap_or("");
        if got != *version {
            // The records were chosen for Debian 12's versions; another version makes the
            // expectations meaningless.
            skip_or_fail(&format!(
                "{daemon} is version {got:?}, the records are chosen for {version}"
            ));
            continue;
        }
        let empty = Vec::new();
        let vulns = r["vulns"].as_array().unwrap_or(&empty);
        let find = |id: &str| vulns.iter().find(|v| v["cve"] == id);
        for id in *affected {
            match find(id) {
                None => problems.push(format!("{daemon} {version}: {id} not found")),
                Some(v) if v["applicability"] != "affected" => problems.push(format!(
                    "{daemon} {version}: {id} is {}",
                    v["applicability"]
                )),
                Some(v) => {
                    let reasons = v["reasons"].to_string();
                    let backport = reasons.contains("fixes may be backported");
                    if backport != *distro {
                        problems.push(format!(
                            "{daemon} {version}: {id}: distribution-build reason {backport}, expected {distro}: {reasons}"
                        ));
                    }
                    if *distro && v["confidence"].as_u64().unwrap_or(100) > 30 {
                        problems.push(format!(
                            "{daemon}: {id}: confidence {} for a distribution build",
                            v["confidence"]
                        ));
                    }
                }
            }
        }
        for id in *not_affected {
            if let Some(v) = find(id) {
                problems.push(format!(
                    "{daemon} {version}: {id} claimed ({}) but not affected",
                    v["applicability"]
                ));
            }
        }
    }
    if let Some(p) = versionless {
        let r = port(p);
        assert!(
            r["service"]["version"].is_null(),
            "postgresql now announces a version: {r}"
        );
        if r.get("vulns").is_some() {
            problems.push(format!("a service without a version got findings: {r}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}\n{recs:#?}");
}
