//! `portolan local` on this host, without a lab: the shape of the output and the error paths.
//! (Which sockets the host has is not known here; the namespace lab tests check content.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::portolan;

#[test]
fn help_has_examples() {
    portolan()
        .args(["local", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("--fail-on"))
        .stdout(predicate::str::contains("--baseline"));
}

#[test]
fn json_shape_on_this_host() {
    let out = portolan().args(["local", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "portolan.local/1");
    let n = v["sockets"].as_array().unwrap().len();
    assert_eq!(v["summary"]["sockets"].as_u64().unwrap() as usize, n);
    for s in v["sockets"].as_array().unwrap() {
        assert!(matches!(s["protocol"].as_str(), Some("tcp" | "udp")));
        assert!(s["port"].as_u64().unwrap() <= 65535);
    }
}

#[test]
fn proc_source_works_on_this_host() {
    let out = portolan()
        .args(["local", "--json", "--source", "proc", "--tcp"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "proc");
    assert!(v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["protocol"] == "tcp"));
}

#[test]
fn missing_baseline_is_a_clear_error() {
    portolan()
        .args(["local", "--baseline", "/nonexistent/base.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read baseline /nonexistent/base.json",
        ));
}

#[test]
fn bad_baseline_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("b.json");
    std::fs::write(&p, "{\"not\": \"a report\"}").unwrap();
    portolan()
        .args(["local", "--baseline"])
        .arg(&p)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a `portolan local` report"))
        .stderr(predicate::str::contains("--save-baseline"));
}

#[test]
fn bad_severity_is_rejected() {
    portolan()
        .args(["local", "--fail-on", "severe"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown severity"));
}

#[test]
fn saved_baseline_reads_back() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("b.json");
    portolan()
        .args(["local", "--json", "--tcp", "--save-baseline"])
        .arg(&p)
        .assert()
        .success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(v["schema"], "portolan.local/1");
    assert!(v.get("baseline").is_none());
}
