#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures
//! Reports built from synthetic sockets: JSON round trip (the baseline format), baseline
//! comparison, and SARIF 2.1.0 output validated against the vendored schema by an independent
//! validator (Python's jsonschema).

use std::net::IpAddr;
use std::path::PathBuf;

use portolan_audit::report::{Summary, SCHEMA};
use portolan_audit::rules::{Context, Rules};
use portolan_audit::{sarif, Family, ProcessRef, Report, Socket, SocketEntry};
use portolan_registry::Protocol;

fn entry(proto: Protocol, addr: &str, port: u16, uid: u32, v6only: Option<bool>) -> SocketEntry {
    let address: IpAddr = addr.parse().unwrap();
    SocketEntry::new(
        Socket {
            protocol: proto,
            family: if address.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            },
            address,
            port,
            inode: u64::from(port),
            uid,
            v6only,
            interface: 0,
        },
        vec![ProcessRef {
            pid: 100 + u32::from(port),
            fd: 3,
            name: "d\u{1b}]0;evil\u{7}".into(),
            cmdline: "d --x".into(),
            uid: Some(uid),
            user: Some(if uid == 0 {
                "root".into()
            } else {
                "nobody".into()
            }),
            unit: Some("d.service".into()),
        }],
    )
}

fn report(entries: Vec<SocketEntry>) -> Report {
    let rules = Rules::builtin().unwrap();
    let ctx = Context {
        ephemeral: Some((32768, 60999)),
    };
    let findings = entries
        .iter()
        .flat_map(|e| rules.evaluate(e, &ctx))
        .collect();
    let mut r = Report {
        schema: SCHEMA.into(),
        host: "lab".into(),
        generated_unix: 1,
        source: "netlink".into(),
        complete_processes: true,
        ephemeral_range: ctx.ephemeral,
        notes: vec!["a note".into()],
        sockets: entries,
        findings,
        summary: Summary::default(),
        baseline: None,
    };
    r.resummarise();
    r
}

fn sample() -> Report {
    report(vec![
        entry(Protocol::Tcp, "0.0.0.0", 6379, 999, None),
        entry(Protocol::Tcp, "::", 8081, 0, Some(false)),
        entry(Protocol::Tcp, "0.0.0.0", 23, 0, None),
        entry(Protocol::Tcp, "127.0.0.1", 40000, 999, None),
        entry(Protocol::Udp, "0.0.0.0", 11211, 999, None),
        entry(Protocol::Tcp, "0.0.0.0", 2375, 999, None),
    ])
}

fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Validate with Python's jsonschema; `false` (after printing why) when it is not installed
/// outside CI.
fn validate(schema: &str, doc: &serde_json::Value) -> bool {
    let have = std::process::Command::new(python())
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        assert!(
            std::env::var("CI").is_err_and(|_| true)
                || std::env::var("CI").is_ok_and(|v| v != "true"),
            "CI=true but Python's jsonschema is missing (apt install python3-jsonschema)"
        );
        eprintln!("SKIPPED schema validation: Python module jsonschema is missing");
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("doc.json");
    std::fs::write(&p, serde_json::to_vec(doc).unwrap()).unwrap();
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(schema);
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             s = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))\n\
             jsonschema.validators.validator_for(s)(s).validate(d)",
        ])
        .arg(&schema)
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "invalid against {}: {}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn findings_of_the_sample() {
    let r = sample();
    let mut got: Vec<(String, String)> = r
        .findings
        .iter()
        .map(|f| (f.rule.clone(), f.endpoint.clone()))
        .collect();
    got.sort();
    let want = [
        ("cleartext-login", "tcp 0.0.0.0:23"),
        ("dual-stack", "tcp [::]:8081"),
        ("ephemeral-port", "tcp 127.0.0.1:40000"),
        ("exposed-admin-api", "tcp 0.0.0.0:2375"),
        ("exposed-database", "tcp 0.0.0.0:6379"),
        ("exposed-risky-service", "udp 0.0.0.0:11211"),
        ("root-unprivileged-port", "tcp [::]:8081"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(r.summary.findings.critical, 1); // docker API
    assert_eq!(r.worst(), Some(portolan_registry::risk::Severity::Critical));
}

#[test]
fn json_round_trip_is_the_baseline_format() {
    let r = sample();
    let text = serde_json::to_string(&r).unwrap();
    let back = Report::from_json(&text).unwrap();
    assert_eq!(back, r);
    // An independent parser sees the documented fields.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "portolan.local/1");
    assert_eq!(v["sockets"][0]["protocol"], "tcp");
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["severity"] == "critical"));
    validate("../../docs/schema/local.schema.json", &v);
}

#[test]
fn baseline_diff() {
    let base = sample();
    let mut now = report(vec![
        entry(Protocol::Tcp, "0.0.0.0", 6379, 999, None),
        entry(Protocol::Tcp, "::", 8081, 0, Some(false)),
        entry(Protocol::Tcp, "0.0.0.0", 23, 0, None),
        entry(Protocol::Tcp, "127.0.0.1", 40000, 999, None),
        entry(Protocol::Udp, "0.0.0.0", 11211, 999, None),
        // 2375 gone, 5432 new
        entry(Protocol::Tcp, "0.0.0.0", 5432, 999, None),
    ]);
    now.diff_against(&base, "base.json");
    let new: Vec<String> = now.sockets.iter().map(|e| e.socket.endpoint()).collect();
    assert_eq!(new, ["tcp 0.0.0.0:5432"]);
    let nf: Vec<&str> = now.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(nf, ["exposed-database"]);
    let b = now.baseline.as_ref().unwrap();
    assert_eq!(b.removed_sockets.len(), 1);
    assert_eq!(b.removed_sockets[0].port, 2375);
    assert_eq!(b.resolved_findings.len(), 1);
    assert_eq!(b.resolved_findings[0].rule, "exposed-admin-api");
    assert_eq!(now.summary.sockets, 1);
    let v = serde_json::to_value(&now).unwrap();
    validate("../../docs/schema/local.schema.json", &v);
    let s = sarif::to_sarif(&now, &Rules::builtin().unwrap(), "0.1.0");
    let states: Vec<&str> = s["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["baselineState"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["new", "absent"]);
    validate("tests/data/sarif-schema-2.1.0.json", &s);
}

#[test]
fn sarif_is_valid_and_complete() {
    let r = sample();
    let rules = Rules::builtin().unwrap();
    let s = sarif::to_sarif(&r, &rules, "0.1.0");
    assert_eq!(s["version"], "2.1.0");
    let run = &s["runs"][0];
    let driver_rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(driver_rules.len(), rules.rules.len());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), r.findings.len());
    for (res, f) in results.iter().zip(&r.findings) {
        assert_eq!(res["ruleId"], f.rule.as_str());
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(driver_rules[idx]["id"], f.rule.as_str());
        assert_eq!(res["level"], sarif::level(f.severity));
        assert!(res["partialFingerprints"]["portolanFinding/v1"]
            .as_str()
            .unwrap()
            .contains(&f.rule));
    }
    assert!(results.iter().any(|r| r["level"] == "error"));
    assert!(results.iter().any(|r| r["level"] == "note"));
    validate("tests/data/sarif-schema-2.1.0.json", &s);
}
