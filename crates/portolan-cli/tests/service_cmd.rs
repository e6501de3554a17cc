//! `portolan service` run as the real binary against loopback fake servers (no root needed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::io::{Read, Write};
use std::net::TcpListener;

use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::portolan;

/// A loopback server that greets every connection with `greeting`.
fn greeter(greeting: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.write_all(greeting);
                let mut b = [0u8; 256];
                let _ = s.read(&mut b);
            });
        }
    });
    port
}

#[test]
fn help_has_examples() {
    portolan()
        .args(["service", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("--proxy-target"));
}

#[test]
fn bad_targets_say_what_is_wrong() {
    portolan()
        .args(["service", "127.0.0.1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no port"));
    portolan()
        .args(["service", "127.0.0.1:99999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a port"));
    portolan()
        .args(["service", "127.0.0.1:22", "--db", "/nonexistent/db.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the probe database"));
}

#[test]
fn json_lines_parse_back_and_hostile_banners_are_escaped() {
    let ftp = greeter(b"220 (vsFTPd 3.0.3)\r\n");
    let evil = greeter(b"SSH-2.0-Evil\x1b]0;owned\x07 \x1b[2J\r\n");
    let out = portolan()
        .args(["service", "--json", "--no-checks"])
        .arg(format!("127.0.0.1:{ftp}"))
        .arg(format!("127.0.0.1:{evil}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["schema_version"], 1);
    assert_eq!(lines[0]["name"], "ftp");
    assert_eq!(lines[0]["product"], "vsftpd");
    assert_eq!(lines[0]["version"], "3.0.3");
    assert_eq!(lines[0]["transport"], "tcp");
    assert_eq!(lines[1]["name"], "ssh");

    let text = portolan()
        .args(["service", "--no-checks", "--color", "never"])
        .arg(format!("127.0.0.1:{evil}"))
        .output()
        .unwrap();
    let s = String::from_utf8(text.stdout).unwrap();
    assert!(s.contains("ssh"), "{s}");
    assert!(
        !s.contains('\x1b'),
        "escape sequence reached the terminal: {s:?}"
    );
}
