//! Every command whose standard output is a closed pipe (`portolan port 1-65535 | head -1`)
//! ends quietly: no panic, no message, status 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use portolan_detect::source::pcap::PcapWriter;
use portolan_detect::synth::{self, Tcp};

mod common;
use common::greeter;

/// Run portolan with `args`, its standard output a stream whose reading end is already
/// closed (a socket pair: writes fail with EPIPE exactly as on a pipe).
fn run_to_closed_pipe(args: &[String]) -> (Option<i32>, String) {
    let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(r);
    let w = std::os::fd::OwnedFd::from(w);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("portolan"))
        .args(args)
        .env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
        .stdout(w)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // Never hang CI: every command here ends within seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), err)
}

#[test]
fn every_command_ends_quietly_on_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("one.pcap");
    let mut w = PcapWriter::new(Vec::new(), 1, 65535).unwrap();
    let mut frame = Vec::new();
    synth::tcp4(
        &mut frame,
        [198, 51, 100, 7],
        [192, 0, 2, 10],
        1,
        64,
        &Tcp {
            sport: 40000,
            dport: 22,
            flags: 0x02,
            window: 1024,
            ..Tcp::default()
        },
    );
    w.write(1_700_000_000_000_000_000, &frame).unwrap();
    std::fs::write(&pcap, w.into_inner()).unwrap();
    let ssh = format!("127.0.0.1:{}", greeter(b"SSH-2.0-OpenSSH_9.2p1\r\n"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port().to_string();
    let cases: Vec<Vec<String>> = [
        vec!["port", "1-65535"],
        vec!["port", "1-65535", "--json"],
        vec!["port", "22"],
        vec!["local"],
        vec!["local", "--json"],
        vec!["local", "--format", "sarif"],
        vec!["service", "--no-checks", &ssh],
        vec!["service", "--no-checks", "--json", &ssh],
        vec!["registry", "show"],
        vec!["registry", "show", "--json"],
        vec![
            "registry",
            "reset",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        vec!["scan", "127.0.0.1", "-p", &open],
        vec!["detect", pcap.to_str().unwrap()],
        vec!["completions", "bash"],
        vec!["--help"],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect())
    .collect();
    for args in &cases {
        let (code, err) = run_to_closed_pipe(args);
        assert!(
            !err.contains("panicked") && !err.to_lowercase().contains("broken pipe"),
            "{args:?}: {err}"
        );
        assert_eq!(code, Some(0), "{args:?}: {err}");
    }
    drop(listener);
}
