//! A connect scan of the scanning host's own ephemeral ports must not report a TCP self-connect
//! (the kernel picks the probed port as the source port, and the socket connects to itself) as
//! an open port. In a fresh namespace whose ephemeral range is two ports, a connect to the first
//! of them from itself is what the kernel does every time (root only; skipped otherwise, failed
//! under CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::Lab;

#[test]
fn connect_scan_never_reports_a_self_connect_as_open() {
    let Some(lab) = Lab::new("engselfconn", &["sysctl"]) else {
        return;
    };
    let out = lab.run(
        "sysctl",
        &["-w", "net.ipv4.ip_local_port_range=40000 40001"],
    );
    assert!(out.status.success(), "sysctl: {out:?}");
    let bin = assert_cmd::cargo::cargo_bin("portolan");
    for _ in 0..5 {
        let out = lab.run(
            &bin,
            &[
                "scan",
                "127.0.0.1",
                "-p",
                "40000-40001",
                "--connect",
                "--all-ports",
                "-q",
                "--format",
                "jsonl",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "scan failed: {out:?}");
        let ports: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "port")
            .collect();
        assert_eq!(ports.len(), 2, "both ports reported: {text}");
        for p in &ports {
            assert_eq!(p["state"], "closed", "nothing listens there: {text}");
        }
    }
}
