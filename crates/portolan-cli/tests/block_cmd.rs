//! `portolan block` and `detect --block` without root: a fake `nft` (a shell script given with
//! the hidden `--nft` option) records every script it is given, so the tests see exactly what
//! would reach the kernel. The real kernel is exercised by `ips_lab.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod common;
use common::portolan;

/// A fake nft: `list ...` says there is no table; `-f -` appends its script to LOG.
fn fake_nft(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("nft.log");
    let nft = dir.join("nft");
    std::fs::write(
        &nft,
        format!(
            "#!/bin/sh\nif [ \"$2\" = list ] || [ \"$1\" = list ]; then echo 'Error: No such file or directory' >&2; exit 1; fi\n\
             cat >> {log}\necho '--' >> {log}\n",
            log = log.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (nft, log)
}

fn log_of(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn add_makes_the_table_then_bans_in_one_script() {
    let dir = tempfile::tempdir().unwrap();
    let (nft, log) = fake_nft(dir.path());
    let out = portolan()
        .args([
            "block",
            "add",
            "203.0.113.7",
            "2001:db8::/64",
            "--for",
            "10m",
            "--nft",
        ])
        .arg(&nft)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("203.0.113.7: blocked for 10m"), "{text}");
    let scripts = log_of(&log);
    let parts: Vec<&str> = scripts.split("--\n").filter(|s| !s.is_empty()).collect();
    assert_eq!(parts.len(), 2, "{scripts}");
    assert!(parts[0].contains("add table inet portolan_block"));
    assert!(parts[0].contains("hook input priority filter - 10"));
    assert!(parts[1].contains("add element inet portolan_block ban4 { 203.0.113.7 timeout 600s }"));
    assert!(
        parts[1].contains("add element inet portolan_block net6 { 2001:db8::/64 timeout 600s }")
    );
    // nothing but Portolan's table is ever named
    for l in scripts
        .lines()
        .filter(|l| !l.trim().is_empty() && *l != "--")
    {
        assert!(l.contains("inet portolan_block"), "{l}");
    }
}

#[test]
fn allow_listed_and_loopback_are_refused_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let (nft, log) = fake_nft(dir.path());
    let out = portolan()
        .args([
            "block",
            "add",
            "127.0.0.1",
            "10.0.0.9",
            "--allow",
            "10.0.0.0/24",
            "--nft",
        ])
        .arg(&nft)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("127.0.0.1: not blocked (allow-listed: 127.0.0.0/8)"),
        "{text}"
    );
    assert!(
        text.contains("10.0.0.9: not blocked (allow-listed: 10.0.0.0/24)"),
        "{text}"
    );
    assert!(!log_of(&log).contains("add element"), "{}", log_of(&log));
}

#[test]
fn dry_run_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (nft, log) = fake_nft(dir.path());
    let out = portolan()
        .args(["block", "add", "203.0.113.7", "--dry-run", "--nft"])
        .arg(&nft)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("would be blocked for 1h"));
    assert_eq!(log_of(&log), "");
}

#[test]
fn bad_durations_and_networks_say_what_to_give() {
    for (args, want) in [
        (
            vec!["block", "add", "1.2.3.4", "--for", "10x"],
            "units are s, m, h, d and w",
        ),
        (
            vec!["block", "add", "1.2.3.4", "--for", "0s"],
            "at least 1s",
        ),
        (vec!["block", "add", "1.2.3.4/24"], "host bits are set"),
        (vec!["block", "add", "10.0.0.0/4"], "host bits are set"),
        (vec!["block", "add", "0.0.0.0/0"], "too wide"),
        (
            vec!["block", "add", "banana"],
            "is not an address or network",
        ),
        (
            vec!["detect", "--block", "x.pcap"],
            "only to live capture (--interface IF)",
        ),
        (vec!["detect", "-i", "lo", "--block-for", "5m"], "--block"),
    ] {
        let out = portolan().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn list_without_a_table_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (nft, _) = fake_nft(dir.path());
    let out = portolan()
        .args(["block", "list", "--nft"])
        .arg(&nft)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no bans"));
    let out = portolan()
        .args(["block", "list", "--format", "json", "--nft"])
        .arg(&nft)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["present"], false);
    assert_eq!(v["bans"].as_array().unwrap().len(), 0);
}

#[test]
fn restore_puts_back_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (nft, log) = fake_nft(dir.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let file = dir.path().join("bans.json");
    std::fs::write(
        &file,
        format!(
            "{{\"schema_version\":1,\"bans\":[{{\"net\":\"203.0.113.7\",\"expires\":{}}},{{\"net\":\"198.51.100.9\",\"expires\":{}}}]}}",
            now + 600,
            now - 5
        ),
    )
    .unwrap();
    let out = portolan()
        .args(["block", "restore"])
        .arg(&file)
        .arg("--nft")
        .arg(&nft)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scripts = log_of(&log);
    let left: u64 = scripts
        .split("203.0.113.7 timeout ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{scripts}"));
    assert!((590..=600).contains(&left), "{left}");
    assert!(
        !scripts.contains("198.51.100.9"),
        "expired bans stay out: {scripts}"
    );
}

/// `firewall apply` replaces its own table whole: were the bans kept in it, applying generated
/// rules would lift every ban, and `block` would refuse the firewall's table as not its own.
#[test]
fn the_ban_table_is_not_the_firewall_table() {
    let firewall = portolan_firewall::nft::TABLE;
    let bans = format!("inet {}", portolan_block::nft::TABLE);
    assert_eq!(firewall, "inet portolan");
    assert_ne!(firewall, bans);
}
