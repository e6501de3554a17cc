//! `portolan service` run as the real binary against loopback fake servers (no root needed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::io::{Read, Write};
use std::net::TcpListener;

use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::{assert_terminal_safe, greeter, output_to, portolan, read_json};

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

/// A loopback server that greets with `greeting`, then answers each request with
/// `answer(request)` (None: close).
fn scripted(greeting: Vec<u8>, answer: fn(&[u8]) -> Option<Vec<u8>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let greeting = greeting.clone();
            std::thread::spawn(move || {
                let _ = s.write_all(&greeting);
                let mut b = [0u8; 1024];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 {
                        break;
                    }
                    match answer(&b[..n]) {
                        Some(out) => {
                            let _ = s.write_all(&out);
                        }
                        None => break,
                    }
                }
            });
        }
    });
    port
}

/// An SSH identification line and a KEXINIT packet whose name-lists are `lists`.
fn ssh_greeting(lists: &[&str]) -> Vec<u8> {
    let mut payload = vec![20u8];
    payload.extend_from_slice(&[7u8; 16]);
    for l in lists {
        payload.extend_from_slice(&(l.len() as u32).to_be_bytes());
        payload.extend_from_slice(l.as_bytes());
    }
    payload.extend_from_slice(&[0, 0, 0, 0, 0]);
    let pad = 4u8;
    let len = 1 + payload.len() + pad as usize;
    let mut p = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec();
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.push(pad);
    p.extend_from_slice(&payload);
    p.extend_from_slice(&[0; 4]);
    p
}

#[test]
fn hostile_kexinit_and_ftp_evidence_are_escaped_end_to_end() {
    let ssh = scripted(
        ssh_greeting(&[
            "curve25519-sha256\nFAKE 127.0.0.1:1/tcp open telnet,evil\u{202e}gnp.exe",
            "ssh-ed25519\u{2066}x",
            "aes128-ctr",
            "aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "",
            "",
            "",
            "",
        ]),
        |_| Some(Vec::new()),
    );
    let ftp = scripted(b"220 (vsFTPd 3.0.3)\r\n".to_vec(), |req| {
        if req.starts_with(b"USER") {
            Some(b"331 Please specify the password.\r\n".to_vec())
        } else if req.starts_with(b"PASS") {
            Some(
                "230 Login\u{200b} successful.\x1b[2J\u{9b}1m\r\n"
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            None
        }
    });
    let out = portolan()
        .args(["service", "--color", "never", "--probe-wait", "800"])
        .arg(format!("127.0.0.1:{ssh}"))
        .arg(format!("127.0.0.1:{ftp}"))
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{s}");
    assert_terminal_safe(&s);
    // The injected newline did not start a line of its own: it is shown as \n.
    assert!(
        !s.lines().any(|l| l.starts_with("FAKE")),
        "a hostile name-list forged a line: {s}"
    );
    assert!(s.contains("curve25519-sha256\\nFAKE"), "{s}");
    assert!(s.contains("evil\\u{202e}gnp.exe"), "{s}");
    assert!(s.contains("ssh-ed25519\\u{2066}x"), "{s}");
    // The FTP-anonymous finding, with its evidence escaped.
    assert!(s.contains("ftp-anonymous"), "{s}");
    assert!(
        s.contains("Login\\u{200b} successful.\\x1b[2J\\u{009b}1m"),
        "{s}"
    );
    // JSON keeps the text as sent (JSON escapes it), for programs to read.
    let out = portolan()
        .args(["service", "--json", "--probe-wait", "800"])
        .arg(format!("127.0.0.1:{ssh}"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["ssh"]["kex"][0].as_str().unwrap().contains('\n'));
}

#[test]
fn output_convention_and_fail_on() {
    let ftp = scripted(b"220 (vsFTPd 3.0.3)\r\n".to_vec(), |req| {
        if req.starts_with(b"USER") {
            Some(b"230 Login successful.\r\n".to_vec())
        } else {
            None
        }
    });
    let target = format!("127.0.0.1:{ftp}");
    let dir = tempfile::tempdir().unwrap();
    let (j, t) = (dir.path().join("s.jsonl"), dir.path().join("s.txt"));
    // An anonymous FTP login is a medium exposure.
    let out = portolan()
        .args(["service", "--format", "json", "--fail-on", "medium", "-o"])
        .arg(format!("json={}", j.display()))
        .args(output_to("table", &t))
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["findings"][0]["id"], "ftp-anonymous");
    let file: Value = read_json(&j);
    assert_eq!(file, v);
    assert!(std::fs::read_to_string(&t)
        .unwrap()
        .contains("ftp-anonymous"));
    portolan()
        .args(["service", "--json", "--fail-on", "high"])
        .arg(&target)
        .assert()
        .code(0);
    portolan()
        .args(["service", "--fail-on", "low"])
        .arg(&target)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("ftp-anonymous"));
    portolan()
        .args(["service", "--fail-on", "severe"])
        .arg(&target)
        .assert()
        .code(2);
    // A bad output fails before any port is contacted.
    portolan()
        .args(["service", "-o"])
        .arg(dir.path().join("nope/s.jsonl"))
        .arg(&target)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope/s.jsonl"));
}
