//! SARIF 2.1.0 from `policy lint`, `policy check` and `firewall audit`: validated against the
//! SARIF schema by an independent validator (Python's jsonschema), one result per finding,
//! each pointing at a rule of the run's rule set, files and lines where there are some.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

mod common;

use common::portolan;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    format!(
        "{}/../portolan-firewall/tests/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Validate `text` against the SARIF 2.1.0 schema (kept by portolan-audit's tests).
fn validate(text: &[u8], dir: &Path) {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        common::lab::skip_or_fail(
            "SARIF validation: Python module jsonschema is missing (apt install python3-jsonschema)",
        );
        return;
    }
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../portolan-audit/tests/data/sarif-schema-2.1.0.json");
    let doc = dir.join("doc.sarif");
    std::fs::write(&doc, text).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))\n\
             jsonschema.validators.validator_for(schema)(schema).validate(doc)",
        ])
        .arg(&schema)
        .arg(&doc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not valid SARIF 2.1.0: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The results' (ruleId, level), after checking each points at its rule.
fn results(v: &serde_json::Value) -> Vec<(String, String)> {
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"], "{r}");
            assert!(r["partialFingerprints"]["portolanFinding/v1"].is_string());
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn policy_lint_as_sarif_on_stdout_and_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lint.sarif");
    let out = portolan()
        .args([
            "policy",
            "lint",
            &fixture("policies/overlap.yaml"),
            "--format",
            "sarif",
            "-o",
        ])
        .arg(format!("sarif={}", file.display()))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    validate(&out, dir.path());
    assert_eq!(std::fs::read(&file).unwrap(), out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let got = results(&v);
    // The same findings as the JSON output, in the same order.
    let json = portolan()
        .args([
            "policy",
            "lint",
            &fixture("policies/overlap.yaml"),
            "--format",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let j: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let want: Vec<String> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(), want);
    assert!(
        got.contains(&("shadowed".to_string(), "warning".to_string())),
        "{v}"
    );
    let shadowed = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "shadowed")
        .unwrap();
    assert!(
        shadowed["locations"][0]["logicalLocations"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("overlap.yaml#rule3"),
        "{shadowed}"
    );
}

#[test]
fn policy_check_as_sarif() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("s.jsonl");
    std::fs::write(
        &scan,
        concat!(
            r#"{"type":"start","schema_version":1,"v":1,"time":1.0,"scanner":"portolan","version":"0","scan_type":"connect","proto":"tcp","args":"","targets":1,"ports":"22,80,443","num_ports":3,"seed":1,"shard":"0/1","resumed_from":null}"#,
            "\n",
            r#"{"type":"port","schema_version":1,"v":1,"time":1.0,"addr":"10.20.0.10","port":22,"proto":"tcp","state":"open","reason":"syn-ack","rtt_us":10,"ttl":null}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = portolan()
        .args(["policy", "check", &fixture("policies/example.yaml")])
        .args(["--from", "db", "--format", "sarif", "--scan"])
        .arg(&scan)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    validate(&out, dir.path());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        results(&v),
        pairs(&[("violation", "error"), ("stale", "note"), ("stale", "note")]),
        "{v}"
    );
    assert_eq!(
        v["runs"][0]["results"][0]["locations"][0]["logicalLocations"][0]["name"],
        "10.20.0.10:22/tcp"
    );
}

#[test]
fn firewall_audit_as_sarif_with_lines_for_iptables_files() {
    let dir = tempfile::tempdir().unwrap();
    let save = fixture("rulesets/seeded.iptables-save");
    let out = portolan()
        .args(["firewall", "audit", "--iptables-save", &save])
        .args(["--format", "sarif"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    validate(&out, dir.path());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        results(&v),
        pairs(&[
            ("default-accept", "error"),
            ("any-any", "error"),
            ("shadowed", "warning"),
            ("redundant", "note")
        ])
    );
    let lines: Vec<u64> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            assert_eq!(loc["artifactLocation"]["uri"], save.as_str());
            loc["region"]["startLine"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(lines, [3, 11, 10, 8]);

    // nftables with drift: handles as logical locations, -o sarif=PATH too.
    let file = dir.path().join("audit.sarif");
    portolan()
        .args(["firewall", "audit", "--ruleset"])
        .arg(fixture("rulesets/example.web1.json"))
        .args([
            "--policy",
            &fixture("policies/example.yaml"),
            "--host",
            "pg1",
        ])
        .arg("-o")
        .arg(format!("sarif={}", file.display()))
        .assert()
        .success();
    let text = std::fs::read(&file).unwrap();
    validate(&text, dir.path());
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let got = results(&v);
    assert!(
        got.contains(&("drift-extra".to_string(), "error".to_string())),
        "{v}"
    );
    assert!(
        got.contains(&("drift-missing".to_string(), "warning".to_string())),
        "{v}"
    );
    let names: Vec<&str> = v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["locations"][0]["logicalLocations"][0]["name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        names.contains(&"inet portolan input policy drop"),
        "{names:?}"
    );
    assert_eq!(v["runs"][0]["properties"]["drift"]["target"], "host pg1");
}
