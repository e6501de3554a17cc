//! `portolan scan -sV` against a real redis-server on loopback: the service, its version and the
//! unauthenticated access appear in JSON Lines, nmap XML and the table.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

mod common;
use common::{output_to, OutputOk};

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis(port: u16) -> Option<Daemon> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("redis-server is not installed (CI=true)");
        }
        eprintln!("SKIPPED: redis-server is not installed");
        return None;
    };
    let d = Daemon(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "redis did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(d)
}

fn redis_version() -> String {
    let o = Command::new("redis-server")
        .arg("--version")
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    // "Redis server v=7.0.15 sha=..."
    s.split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .unwrap()
        .to_string()
}

#[test]
fn scan_sv_names_redis_its_version_and_no_auth() {
    let port = free_port();
    let Some(_d) = redis(port) else { return };
    let closed = free_port();
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("o.jsonl");
    let xml = dir.path().join("o.xml");
    let out = Command::new(cargo_bin("portolan"))
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &format!("{port},{closed}"),
            "-sV",
            "-q",
        ])
        .args(output_to("jsonl", &jsonl))
        .args(output_to("xml", &xml))
        .arg("--color")
        .arg("never")
        .output_ok();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("redis"), "{table}");
    assert!(table.contains("without authentication"), "{table}");

    let want = redis_version();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let p = lines
        .iter()
        .find(|v| v["type"] == "port" && v["port"] == port)
        .expect("the open port is reported");
    let s = &p["service"];
    assert_eq!(s["name"], "redis");
    assert_eq!(s["version"], want.as_str());
    assert_eq!(s["method"], "probed");
    assert!(s["cpe"][0]
        .as_str()
        .unwrap()
        .starts_with("cpe:/a:redis:redis"));
    assert_eq!(s["exposures"][0]["id"], "redis-no-auth");
    // Exactly one line per open port even though detection ran after the scan.
    assert_eq!(lines.iter().filter(|v| v["type"] == "port").count(), 1);

    // nmap XML: <service product version> and a <script> for the exposure, read by Python's
    // own XML parser.
    let py = format!(
        "import xml.etree.ElementTree as E\n\
         r=E.parse('{}').getroot()\n\
         p=[p for p in r.iter('port') if p.get('portid')=='{port}'][0]\n\
         s=p.find('service')\n\
         print(s.get('name'), s.get('version'), s.get('method'), p.find('script').get('id'))",
        xml.display()
    );
    let o = Command::new("python3").args(["-c", &py]).output_ok();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("redis {want} probed portolan-redis-no-auth")
    );
    // The <service> and <script> elements are where nmap.dtd wants them.
    common::nmapxml::check(&xml, &[port]);
}

#[test]
fn syn_scan_with_sv_identifies_too() {
    if !portolan_scan::rawio::can_open_raw() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but raw sockets cannot be opened");
        }
        eprintln!("SKIPPED: raw sockets need root or CAP_NET_RAW");
        return;
    }
    let port = free_port();
    let Some(_d) = redis(port) else { return };
    // Loopback under a loaded test run can lose the one SYN-ACK of a single-port scan; the scan
    // is repeated (at most 3 times) and the last output is shown if it never finds the port.
    let mut last = String::new();
    let mut found = None;
    for _ in 0..3 {
        let out = Command::new(cargo_bin("portolan"))
            .args([
                "scan",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-sS",
                "-sV",
                "-q",
                "--format",
                "jsonl",
                "--all-ports",
            ])
            .output_ok();
        last = String::from_utf8_lossy(&out.stdout).to_string();
        found = last
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == "port" && v["state"] == "open");
        if found.is_some() {
            break;
        }
    }
    let p = found.unwrap_or_else(|| panic!("no open port line in:\n{last}"));
    assert_eq!(p["reason"], "syn-ack");
    assert_eq!(p["ttl"], 64);
    assert_eq!(p["service"]["name"], "redis");
    assert_eq!(p["service"]["exposures"][0]["id"], "redis-no-auth");
}

#[test]
fn fail_on_gates_on_exposures_found_by_sv() {
    let port = free_port();
    let Some(_d) = redis(port) else { return };
    let run = |sev: &str| {
        Command::new(cargo_bin("portolan"))
            .args(["scan", "127.0.0.1", "-p", &port.to_string(), "-sV", "-q"])
            .args(["--fail-on", sev, "--format", "json"])
            .output()
            .unwrap()
    };
    // redis without a password is a critical exposure: at or above every threshold.
    let o = run("critical");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run("HIGH");
    assert_eq!(o.status.code(), Some(1));
}
