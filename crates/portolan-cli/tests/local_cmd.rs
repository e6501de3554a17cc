//! `portolan local` on this host, without a lab: the shape of the output and the error paths.
//! (Which sockets the host has is not known here; the namespace lab tests check content.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::{assert_terminal_safe, output_to, portolan, read_json, OutputOk};

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
        .output_ok();
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
    let v: Value = read_json(&p);
    assert_eq!(v["schema"], "portolan.local/1");
    assert!(v.get("baseline").is_none());
}

#[test]
fn hostile_process_names_are_escaped() {
    // This test process listens, and names itself like a hostile program would.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let old = std::fs::read_to_string("/proc/self/comm").unwrap();
    std::fs::write("/proc/self/comm", "\x1b[2J\u{202e}ev\u{200b}").unwrap();
    let out = portolan()
        .args(["local", "--tcp", "--color", "never"])
        .output();
    std::fs::write("/proc/self/comm", old.trim_end()).unwrap();
    let out = out.unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{s}");
    assert_terminal_safe(&s);
    let row = s
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port} ")))
        .unwrap_or_else(|| panic!("no row for port {port}: {s}"));
    assert!(row.contains("\\x1b[2J\\u{202e}ev\\u{200b}["), "{row}");
    drop(l);
}

#[test]
fn output_convention_format_files_and_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (j, s, t, base) = (
        dir.path().join("l.json"),
        dir.path().join("l.sarif"),
        dir.path().join("l.txt"),
        dir.path().join("base.json"),
    );
    let out = portolan()
        .args(["local", "--format", "json", "--save-baseline"])
        .arg(&base)
        .args(output_to("json", &j))
        .args(output_to("sarif", &s))
        .args(output_to("table", &t))
        .output_ok();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["schema"], "portolan.local/1");
    let file: Value = read_json(&j);
    assert_eq!(file["schema_version"], 1);
    let sarif: Value = read_json(&s);
    assert_eq!(sarif["version"], "2.1.0");
    assert!(std::fs::read_to_string(&t)
        .unwrap()
        .contains("sockets, read via"));
    let b: Value = read_json(&base);
    assert_eq!(b["schema_version"], 1);
    // The saved baseline reads back.
    portolan()
        .args(["local", "--baseline"])
        .arg(&base)
        .assert()
        .success()
        .stdout(predicate::str::contains("Changes since baseline"));
    // A missing output directory fails before anything is written, naming the output.
    portolan()
        .args(["local", "-o"])
        .arg(dir.path().join("nope/l.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope/l.json"));
}
