//! Every file a user names is read within a limit: `/dev/zero` stops at the limit with a message
//! that names it, and a FIFO nobody writes to is given up on (PORTOLAN_INPUT_TIMEOUT) instead of
//! hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;

mod common;

/// The shared `portolan()` with a short input timeout and a guard against hangs.
fn limited() -> Command {
    let mut c = common::portolan();
    c.env("PORTOLAN_INPUT_TIMEOUT", "1")
        // A hang is a failure, never a stuck CI job.
        .timeout(Duration::from_secs(120));
    c
}

/// Every command line with a file input, the file given as `{}`.
const INPUTS: &[&[&str]] = &[
    &["scan", "-iL", "{}", "-p", "1"],
    &["scan", "127.0.0.1", "-p", "1", "--exclude-file", "{}"],
    &["service", "127.0.0.1:1", "--probes-file", "{}"],
    &["service", "127.0.0.1:1", "--db", "{}"],
    &["local", "--baseline", "{}"],
    &[
        "registry",
        "update",
        "--from",
        "{}",
        "--data-dir",
        "/nonexistent/portolan-test",
    ],
];

fn args(cmd: &[&str], file: &Path) -> Vec<String> {
    cmd.iter()
        .map(|a| {
            if *a == "{}" {
                file.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect()
}

/// A new FIFO `name` in `dir`.
fn mkfifo(dir: &Path, name: &str) -> PathBuf {
    let fifo = dir.join(name);
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    fifo
}

#[test]
fn dev_zero_stops_at_a_named_limit() {
    for cmd in INPUTS {
        let out = limited()
            .args(args(cmd, Path::new("/dev/zero")))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {err}");
        assert!(
            err.contains("/dev/zero is larger than")
                && err.contains("MiB, the most portolan reads"),
            "{cmd:?}: {err}"
        );
    }
}

#[test]
fn a_fifo_nobody_writes_to_is_given_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(dir.path(), "fifo");
    for cmd in INPUTS {
        limited()
            .args(args(cmd, &fifo))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("sent no data for 1 s"));
    }
}

#[test]
fn a_fifo_with_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(dir.path(), "targets");
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, "127.0.0.1\n"))
    };
    limited()
        .args(["scan", "-iL"])
        .arg(&fifo)
        .args(["-p", "1", "--format", "jsonl"])
        .assert()
        .success();
    writer.join().unwrap().unwrap();
}

#[test]
fn hostile_file_names_in_errors_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().join("t\x1b]0;pwned\x07\u{202e}gnp.txt");
    std::fs::write(&name, vec![b'a'; 1]).unwrap();
    let missing = name.with_extension("missing");
    let cases: [(&[&str], &Path); 2] = [
        (&["scan", "-iL", "{}", "-p", "1"], &missing),
        (&["local", "--baseline", "{}"], &name),
    ];
    for (cmd, file) in cases {
        let out = limited().args(args(cmd, file)).output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            !err.contains('\x1b') && !err.contains('\u{202e}') && !err.contains('\x07'),
            "{err:?}"
        );
        assert!(err.contains("t\\x1b]0;pwned\\x07\\u{202e}gnp"), "{err}");
    }
}
