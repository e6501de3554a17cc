//! `portolan scan` on loopback: outputs parsed back by independent parsers (python3's json and
//! csv modules, python-libnmap, ndiff, xmllint with nmap.dtd, xsltproc with nmap.xsl), excludes,
//! shards, resume, and bad input rejected before any packet is sent. Only 127.0.0.0/8 is scanned here; the namespace lab is in scan_lab.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

mod common;
use common::{in_ci, output_to, portolan_command as portolan, slow_resumable_scan, OutputOk};

/// Skip (print why) outside CI, fail under CI.
fn need(ok: bool, what: &str) -> bool {
    if !ok {
        if in_ci() {
            panic!("{what} is required under CI");
        }
        eprintln!("SKIP: {what} is not available");
    }
    ok
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Listeners on loopback that stay open for the test's life.
fn listeners(n: usize) -> (Vec<TcpListener>, Vec<u16>) {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    (ls, ports)
}

fn jsonl_ports(path: &Path, state: &str) -> Vec<(String, u16)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "port" && v["state"] == state)
        .map(|v| {
            (
                v["addr"].as_str().unwrap().to_string(),
                v["port"].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

#[test]
fn outputs_parse_back_with_independent_parsers() {
    let (_ls, open) = listeners(3);
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "1-200,{}",
        open.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let (xml, jsonl, csv, gnmap) = (
        dir.path().join("a.xml"),
        dir.path().join("a.jsonl"),
        dir.path().join("a.csv"),
        dir.path().join("a.gnmap"),
    );
    let out = portolan()
        .args(["scan", "127.0.0.1", "-p", &spec, "-q", "--all-ports"])
        .args(output_to("xml", &xml))
        .args(output_to("jsonl", &jsonl))
        .args(output_to("csv", &csv))
        .args(output_to("grep", &gnmap))
        .output_ok();
    let table = String::from_utf8_lossy(&out.stdout);
    for p in &open {
        assert!(table.contains(&format!("{p}/tcp")), "{table}");
    }

    let mut want: Vec<u16> = open.clone();
    want.sort_unstable();
    let got: BTreeSet<u16> = jsonl_ports(&jsonl, "open")
        .into_iter()
        .map(|x| x.1)
        .collect();
    // Ports below 201 may be open on this machine too (a local sshd, ...): ours must be there.
    for p in &want {
        assert!(got.contains(p), "{p} missing from {got:?}");
    }
    // nmap's DTD and stylesheet accept the XML.
    common::nmapxml::check(&xml, &want);
    let gnmap_text = std::fs::read_to_string(&gnmap).unwrap();
    assert!(gnmap_text.contains(&format!("{}/open/tcp", want[0])));

    if need(
        Command::new("python3").arg("-V").output().is_ok(),
        "python3",
    ) {
        // JSON Lines and CSV with Python's own parsers.
        let py = r#"
import csv, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[0]["type"] == "start" and lines[0]["v"] == 1, lines[0]
assert lines[-1]["type"] == "end", lines[-1]
opened = sorted(l["port"] for l in lines if l["type"] == "port" and l["state"] == "open")
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
copen = sorted(int(r["port"]) for r in rows if r["state"] == "open")
assert opened == copen, (opened, copen)
assert all(r["protocol"] == "tcp" and r["host"] == "127.0.0.1" for r in rows)
print(",".join(map(str, opened)))
"#;
        let o = Command::new("python3")
            .args(["-c", py])
            .arg(&jsonl)
            .arg(&csv)
            .output_ok();
        let printed = String::from_utf8_lossy(&o.stdout);
        for p in &want {
            assert!(printed.contains(&p.to_string()));
        }
    }

    if need(
        python_has("libnmap"),
        "python-libnmap (pip install python-libnmap)",
    ) {
        let py = r#"
import sys
from libnmap.parser import NmapParser
r = NmapParser.parse_fromfile(sys.argv[1])
assert r.hosts_total >= 1, r.hosts_total
h = r.hosts[0]
assert h.address == "127.0.0.1" and h.is_up()
print(",".join(str(p) for p, proto in h.get_open_ports()))
"#;
        let o = Command::new("python3")
            .args(["-c", py])
            .arg(&xml)
            .output_ok();
        let printed = String::from_utf8_lossy(&o.stdout);
        for p in &want {
            assert!(
                printed.split(',').any(|x| x.trim() == p.to_string()),
                "{printed}"
            );
        }
    }

    if need(Command::new("ndiff").arg("-h").output().is_ok(), "ndiff") {
        // A second scan with one listener fewer: ndiff must read both and report the change.
        let xml2 = dir.path().join("b.xml");
        let o = portolan()
            .args(["scan", "127.0.0.1", "-p", &spec, "-q"])
            .args(output_to("xml", &xml2))
            .output()
            .unwrap();
        assert!(o.status.success());
        let same = Command::new("ndiff").arg(&xml).arg(&xml2).output().unwrap();
        // ndiff: 0 = no differences, 1 = differences, 2 = error.
        assert!(
            same.status.code() == Some(0) || same.status.code() == Some(1),
            "ndiff failed: {}",
            String::from_utf8_lossy(&same.stderr)
        );
        drop(_ls);
        let xml3 = dir.path().join("c.xml");
        let o = portolan()
            .args(["scan", "127.0.0.1", "-p", &spec, "-q"])
            .args(output_to("xml", &xml3))
            .output()
            .unwrap();
        assert!(o.status.success());
        let diff = Command::new("ndiff").arg(&xml).arg(&xml3).output().unwrap();
        assert_eq!(
            diff.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&diff.stderr)
        );
        let text = String::from_utf8_lossy(&diff.stdout);
        assert!(
            text.contains(&format!("-{}/tcp", want[0]))
                || text.contains(&format!("{}/tcp", want[0])),
            "{text}"
        );
    }
}

#[test]
fn bad_input_fails_before_any_packet() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["999.1.1.1".into(), "-p".into(), port.clone()],
            "not a target",
        ),
        (
            vec!["127.0.0.1".into(), "-p".into(), "80,70000".into()],
            "out of range",
        ),
        (
            vec!["127.0.0.1".into(), "-p".into(), "nosuchsvcname".into()],
            "unknown service",
        ),
        (
            vec![
                "127.0.0.1".into(),
                "-p".into(),
                port.clone(),
                "--exclude".into(),
                "127.0.0.0/8".into(),
            ],
            "every target is excluded",
        ),
        (
            vec![
                "127.0.0.1".into(),
                "-p".into(),
                port.clone(),
                "-o".into(),
                "xml=/nonexistent-dir/x.xml".into(),
            ],
            "cannot write output file",
        ),
        (
            vec![
                "127.0.0.1".into(),
                "-p".into(),
                port.clone(),
                "-o".into(),
                "pdf=x".into(),
            ],
            "unknown output format",
        ),
        (
            vec![
                "127.0.0.1".into(),
                "-p".into(),
                port.clone(),
                "--shard".into(),
                "3/3".into(),
            ],
            "not a shard",
        ),
        (vec![], "no targets"),
    ];
    for (args, msg) in cases {
        let o = portolan().arg("scan").args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    // Nothing connected to the listener: every error came before a probe.
    assert!(l.accept().is_err());
}

#[test]
fn exclude_and_input_list() {
    let (_ls, open) = listeners(1);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("targets.txt");
    std::fs::write(&list, "# lab\n127.0.0.1-127.0.0.4\n127.0.0.9\n").unwrap();
    let ex = dir.path().join("exclude.txt");
    std::fs::write(&ex, "127.0.0.3\n").unwrap();
    let jsonl = dir.path().join("x.jsonl");
    portolan()
        .args(["scan", "-iL"])
        .arg(&list)
        .args(["--exclude", "127.0.0.2", "--exclude-file"])
        .arg(&ex)
        .args(["-p", &format!("1,{}", open[0]), "-q", "--all-ports"])
        .args(output_to("jsonl", &jsonl))
        .output_ok();
    let text = std::fs::read_to_string(&jsonl).unwrap();
    let addrs: BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "port")
        .map(|v| v["addr"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = ["127.0.0.1", "127.0.0.4", "127.0.0.9"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(addrs, want);
    assert_eq!(
        jsonl_ports(&jsonl, "open"),
        vec![("127.0.0.1".to_string(), open[0])]
    );
}

#[test]
fn shards_partition_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for i in 0..3 {
        let j = dir.path().join(format!("s{i}.jsonl"));
        portolan()
            .args([
                "scan",
                "127.0.0.1",
                "-p",
                "1-3000",
                "-q",
                "--all-ports",
                "--seed",
                "99",
            ])
            .args(["--shard", &format!("{i}/3")])
            .args(output_to("jsonl", &j))
            .output_ok();
        let text = std::fs::read_to_string(&j).unwrap();
        for v in text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        {
            if v["type"] == "port" {
                all.push(v["port"].as_u64().unwrap());
            }
        }
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(n, all.len(), "a port was probed by two shards");
    assert_eq!(all, (1..=3000).collect::<Vec<u64>>());
}

#[test]
fn resume_after_interrupt_scans_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let resume = dir.path().join("scan.resume");
    let j1 = dir.path().join("1.jsonl");
    let args = |j: &Path| {
        let mut c = slow_resumable_scan(&resume);
        c.args(output_to("jsonl", j));
        c
    };
    let mut child = args(&j1)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once some results are on disk.
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if std::fs::read_to_string(&j1).is_ok_and(|t| t.lines().count() > 2000) {
            break;
        }
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130), "an interrupted scan exits 130");
    assert!(
        resume.exists(),
        "the resume file is kept after an interrupt"
    );
    let j2 = dir.path().join("2.jsonl");
    args(&j2).output_ok();
    assert!(!resume.exists(), "a finished scan removes its resume file");
    let ports = |p: &Path| -> Vec<u64> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["type"] == "port")
            .map(|v| v["port"].as_u64().unwrap())
            .collect()
    };
    let (a, b) = (ports(&j1), ports(&j2));
    assert!(!a.is_empty() && !b.is_empty());
    let sa: BTreeSet<u64> = a.iter().copied().collect();
    let sb: BTreeSet<u64> = b.iter().copied().collect();
    // Nothing done in the first run is scanned again, and together they cover everything.
    assert!(
        sa.is_disjoint(&sb),
        "{} ports scanned twice",
        sa.intersection(&sb).count()
    );
    let union: BTreeSet<u64> = sa.union(&sb).copied().collect();
    assert_eq!(union, (1..=20000).collect::<BTreeSet<u64>>());
}
