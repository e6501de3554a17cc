//! `portolan vulns`: import the real NVD/KEV/EPSS excerpts, then match CPEs and a scan file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;
use common::portolan;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../portolan-vuln/tests/data")
}

fn imported(dir: &tempfile::TempDir) -> PathBuf {
    let db = dir.path().join("v.sqlite3");
    let out = portolan()
        .args(["vulns", "import"])
        .arg(data())
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("17 CVE records (1 awaiting analysis), 7 KEV entries, 2 EPSS scores"),
        "{stdout}"
    );
    db
}

fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn cpe_findings_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(&dir);
    let out = portolan()
        .args([
            "vulns",
            "cpe",
            "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*",
            "--format",
            "json",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recs = json_lines(&out.stdout);
    assert!(recs.iter().all(|r| r["schema_version"] == 1));
    let cves: Vec<&str> = recs
        .iter()
        .filter(|r| r["type"] == "finding")
        .map(|r| r["cve"].as_str().unwrap())
        .collect();
    assert_eq!(cves.len(), 5, "{cves:?}");
    assert!(cves.contains(&"CVE-2024-6387") && !cves.contains(&"CVE-2023-25136"));
    let summary = recs.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["affected"], 5);
}

/// A -sV scan file: OpenSSH 9.2p1 (a Debian build) on port 22, redis by port table on 6379.
fn write_scan(scan: &Path) {
    std::fs::write(
        scan,
        concat!(
            r#"{"schema_version":1,"v":1,"type":"start","time":1.0,"scanner":"portolan","version":"0.1.0","scan_type":"connect","proto":"tcp","args":"x","targets":1,"ports":"22","num_ports":1,"seed":7,"shard":"0/1","resumed_from":null}"#, "\n",
            r#"{"schema_version":1,"v":1,"type":"port","time":1.0,"addr":"127.0.0.1","port":22,"proto":"tcp","state":"open","reason":"syn-ack","rtt_us":85,"ttl":null,"service":{"conf":10,"cpe":["cpe:/a:openbsd:openssh:9.2p1"],"details":{"probe":"null","ssh":{"comments":"Debian-2+deb12u3"},"banner":"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},"extrainfo":"Debian-2+deb12u3; protocol 2.0","method":"probed","name":"ssh","product":"OpenSSH","version":"9.2p1"}}"#, "\n",
            r#"{"schema_version":1,"v":1,"type":"port","time":1.0,"addr":"127.0.0.1","port":6379,"proto":"tcp","state":"open","reason":"syn-ack","rtt_us":85,"ttl":null,"service":{"conf":3,"method":"table","name":"redis"}}"#, "\n",
        ),
    )
    .unwrap();
}

#[test]
fn scan_file_with_a_debian_build_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(&dir);
    let scan = dir.path().join("scan.jsonl");
    write_scan(&scan);
    let out = portolan()
        .args(["vulns"])
        .arg(&scan)
        .args(["--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = json_lines(&out.stdout);
    let f = recs.iter().find(|r| r["cve"] == "CVE-2024-6387").unwrap();
    assert_eq!(f["host"], "127.0.0.1");
    assert_eq!(f["port"], 22);
    assert_eq!(f["detected"], "OpenSSH 9.2p1");
    assert_eq!(f["confidence"], 30);
    assert_eq!(
        f["distro"]["tracker"],
        "https://security-tracker.debian.org/tracker/CVE-2024-6387"
    );
    let summary = recs.last().unwrap();
    assert_eq!(summary["services"], 2);
    assert_eq!(summary["services_without_version"], 1);

    // --fail-on high: CVE-2023-28531 is critical.
    portolan()
        .arg("vulns")
        .arg(&scan)
        .args(["--fail-on", "high", "--db"])
        .arg(&db)
        .assert()
        .code(1);
    // --kev: none of these is in the catalogue; --min-cvss 9 keeps the critical ones only.
    let out = portolan()
        .arg("vulns")
        .arg(&scan)
        .args(["--kev", "--fail-on", "low", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_lines(&out.stdout).len(), 1);
    let out = portolan()
        .arg("vulns")
        .arg(&scan)
        .args(["--min-cvss", "9", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CVE-2023-28531") && !text.contains("CVE-2024-6387"),
        "{text}"
    );
    assert!(text.contains("why: Debian build"), "{text}");
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sqlite3");
    portolan()
        .args(["vulns", "cpe", "cpe:/a:openbsd:openssh:9.2p1", "--db"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("portolan vulns import"));
    let db = imported(&dir);
    portolan()
        .args(["vulns", "cpe", "cpe:/a:openbsd:openssh", "--db"])
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("has no version"));
    portolan()
        .args(["vulns", "import", "/dev/zero", "--db"])
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a regular file"));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"hello\": 1}").unwrap();
    portolan()
        .args(["vulns", "import"])
        .arg(&bad)
        .arg("--db")
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no CVE record"));
}

#[test]
fn sarif_has_one_rule_per_cve_and_a_result_per_finding() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(&dir);
    let out = portolan()
        .args([
            "vulns",
            "cpe",
            "cpe:/a:f5:nginx:1.22.1",
            "cpe:/a:vsftpd_project:vsftpd:3.0.3",
            "--format",
            "sarif",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let results = run["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        3,
        "CVE-2024-7347, CVE-2021-3618, CVE-2021-30047"
    );
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 3);
    let unknown = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2021-30047")
        .unwrap();
    assert_eq!(unknown["level"], "note");
    let high = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2021-3618")
        .unwrap();
    assert_eq!(high["level"], "error");
}

#[test]
fn no_file_reads_the_latest_scan_of_the_store_or_the_one_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(&dir);
    let store = dir.path().join("results.db");
    // An empty store: the error says how to fill it.
    portolan()
        .args(["vulns", "--store"])
        .arg(&store)
        .arg("--db")
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("holds no scan"))
        .stderr(predicates::str::contains("portolan scan -sV"));
    let scan = dir.path().join("scan.jsonl");
    write_scan(&scan);
    portolan()
        .arg("import")
        .arg(&scan)
        .arg("--store")
        .arg(&store)
        .assert()
        .success();
    let run = |extra: &[&str]| {
        let out = portolan()
            .args(["vulns", "--json", "--store"])
            .arg(&store)
            .arg("--db")
            .arg(&db)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_lines(&out.stdout)
    };
    let recs = run(&[]);
    let f = recs.iter().find(|r| r["cve"] == "CVE-2024-6387").unwrap();
    assert_eq!(f["host"], "127.0.0.1");
    assert_eq!(f["port"], 22);
    assert_eq!(f["detected"], "OpenSSH 9.2p1");
    assert_eq!(f["confidence"], 30);
    let summary = recs.last().unwrap();
    assert_eq!(summary["services"], 2);
    assert_eq!(summary["services_without_version"], 1);
    // --scan ID picks one scan; an unknown one is an error that names the listing command.
    assert_eq!(run(&["--scan", "1"]), recs);
    portolan()
        .args(["vulns", "--scan", "99", "--store"])
        .arg(&store)
        .arg("--db")
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("portolan scans"));
    // A file and --store together make no sense.
    portolan()
        .arg("vulns")
        .arg(&scan)
        .arg("--store")
        .arg(&store)
        .assert()
        .code(2);
}

/// A medium CVE (CVSS 5.3) of acme:widget before 2.0, and (with `kev`) a KEV entry for it.
fn widget_db(dir: &Path, kev: bool) -> PathBuf {
    let nvd = dir.join("CVE-2099-0042.json");
    std::fs::write(
        &nvd,
        r#"{"id":"CVE-2099-0042","lastModified":"2026-01-01T00:00:00.000","vulnStatus":"Analyzed",
        "descriptions":[{"lang":"en","value":"A widget flaw."}],
        "metrics":{"cvssMetricV31":[{"source":"nvd@nist.gov","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N","baseScore":5.3,"baseSeverity":"MEDIUM"}}]},
        "configurations":[{"nodes":[{"operator":"OR","negate":false,"cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:acme:widget:*:*:*:*:*:*:*:*","versionEndExcluding":"2.0"}]}]}]}"#,
    )
    .unwrap();
    let db = dir.join(if kev { "kev.sqlite3" } else { "plain.sqlite3" });
    let mut cmd = portolan();
    cmd.args(["vulns", "import"]).arg(&nvd).arg("--db").arg(&db);
    if kev {
        let csv = dir.join("kev.csv");
        std::fs::write(
            &csv,
            "cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes\n\
             CVE-2099-0042,Acme,Widget,\"Acme Widget Flaw\",2026-01-02,\"A flaw.\",\"Apply updates.\",2026-01-23,Unknown,\"\",CWE-20\n",
        )
        .unwrap();
        cmd.arg(&csv);
    }
    cmd.assert().success();
    db
}

#[test]
fn fail_on_counts_a_kev_listed_cve_as_at_least_high() {
    let dir = tempfile::tempdir().unwrap();
    let gate = |db: &Path, level: &str| {
        portolan()
            .args(["vulns", "cpe", "cpe:/a:acme:widget:1.0", "--fail-on", level])
            .arg("--db")
            .arg(db)
            .output()
            .unwrap()
            .status
            .code()
    };
    let plain = widget_db(dir.path(), false);
    assert_eq!(gate(&plain, "medium"), Some(1));
    assert_eq!(gate(&plain, "high"), Some(0), "CVSS 5.3 is medium");
    let kev = widget_db(dir.path(), true);
    assert_eq!(
        gate(&kev, "high"),
        Some(1),
        "exploited in the wild: at least high"
    );
    assert_eq!(gate(&kev, "critical"), Some(0));
}

#[test]
fn min_epss_keeps_the_cves_likely_to_be_exploited() {
    let dir = tempfile::tempdir().unwrap();
    let db = imported(&dir);
    let out = portolan()
        .args([
            "vulns",
            "cpe",
            "cpe:/a:openbsd:openssh:9.2p1",
            "--format",
            "json",
        ])
        .args(["--min-epss", "0.02", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let recs = json_lines(&out.stdout);
    let cves: Vec<&str> = recs
        .iter()
        .filter(|r| r["type"] == "finding")
        .map(|r| r["cve"].as_str().unwrap())
        .collect();
    assert_eq!(cves, ["CVE-2023-28531"]);
    assert_eq!(recs.last().unwrap()["hidden_by_filters"], 4);
    portolan()
        .args([
            "vulns",
            "cpe",
            "cpe:/a:openbsd:openssh:9.2p1",
            "--min-epss",
            "2",
        ])
        .arg("--db")
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("from 0 to 1"));
}
