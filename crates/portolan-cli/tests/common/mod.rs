//! Helpers shared by the CLI's integration tests: the `portolan` binary to run, whether this is
//! CI (where a test that cannot run fails instead of skipping) and whether we are root; the
//! namespace labs ([`lab`], [`scanlab`]) and nmap's XML tools ([`nmapxml`]).
#![allow(dead_code)] // each test binary uses some of these

pub mod lab;
pub mod nmapxml;
pub mod scanlab;

/// The `portolan` binary as a `std::process::Command` (to spawn, pipe or signal it), kept from
/// the developer's environment: no registry copy refreshed into the home directory
/// (`PORTOLAN_DATA_DIR` points nowhere) and no `NO_COLOR` (colour follows the terminal and
/// `--color`).
pub fn portolan_command() -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("portolan"));
    c.env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
        .env_remove("NO_COLOR");
    c
}

/// [`portolan_command`] as an `assert_cmd::Command`, for `.assert()`.
pub fn portolan() -> assert_cmd::Command {
    assert_cmd::Command::from_std(portolan_command())
}

/// Whether this runs under CI (`CI=true` or `CI=1`): a test that cannot run fails there
/// instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A loopback server that greets every connection with `greeting` and then reads what the
/// client says; its port.
pub fn greeter(greeting: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
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

/// Asserts that `s` holds nothing a terminal must not receive from outside text: C0 and C1
/// controls (but newline), bidi marks, overrides and isolates, zero-width characters, line
/// and paragraph separators, the byte-order mark.
pub fn assert_terminal_safe(s: &str) {
    for c in s.chars() {
        let bad = matches!(c,
            '\u{0}'..='\u{9}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
            | '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        assert!(!bad, "{c:?} reached the terminal: {s:?}");
    }
}

/// `-o FMT=PATH` (one output file) as arguments: `.args(output_to("xml", &path))`.
pub fn output_to(format: &str, path: &std::path::Path) -> [String; 2] {
    ["-o".to_string(), format!("{format}={}", path.display())]
}

/// A loopback scan slow enough to interrupt (ports 1-20000 at 4000/s, every port listed,
/// quiet) that saves its state to `resume`; add its outputs.
pub fn slow_resumable_scan(resume: &std::path::Path) -> std::process::Command {
    let mut c = portolan_command();
    c.args([
        "scan",
        "127.0.0.1",
        "-p",
        "1-20000",
        "-q",
        "--all-ports",
        "--max-rate",
        "4000",
    ])
    .arg("--resume")
    .arg(resume);
    c
}

/// The JSON document in the file `path`.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Running a command to its end and asserting that it succeeded.
pub trait OutputOk {
    /// Runs the command to its end and asserts that it exited with success (the failure shows
    /// its stderr); its output.
    fn output_ok(&mut self) -> std::process::Output;
}

impl OutputOk for assert_cmd::Command {
    #[track_caller]
    fn output_ok(&mut self) -> std::process::Output {
        succeeded(self.output().unwrap())
    }
}

impl OutputOk for std::process::Command {
    #[track_caller]
    fn output_ok(&mut self) -> std::process::Output {
        succeeded(self.output().unwrap())
    }
}

#[track_caller]
fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `cmd`, which must succeed (else the test fails showing its standard error); its output.
pub fn run_ok(cmd: &mut assert_cmd::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The scanner and the scanned host of [`scan_frames`].
pub const ATTACKER: [u8; 4] = [198, 51, 100, 7];
pub const VICTIM: [u8; 4] = [192, 0, 2, 10];

/// Frames of a SYN scan of 30 ports from [`ATTACKER`], each answered by RST: (time in ns,
/// IPv4 packet).
pub fn scan_frames() -> Vec<(u64, Vec<u8>)> {
    use portolan_detect::synth::{self, Tcp};
    let mut out = Vec::new();
    let mut ts = 1_700_000_000_000_000_000u64;
    for port in 1..=30u16 {
        for (src, dst, t) in [
            (
                ATTACKER,
                VICTIM,
                Tcp {
                    sport: 40000,
                    dport: port,
                    flags: 0x02,
                    window: 1024,
                    options: &[2, 4, 5, 0xb4],
                    ..Tcp::default()
                },
            ),
            (
                VICTIM,
                ATTACKER,
                Tcp {
                    sport: port,
                    dport: 40000,
                    flags: 0x14,
                    window: 0,
                    ..Tcp::default()
                },
            ),
        ] {
            let mut b = Vec::new();
            synth::tcp4(&mut b, src, dst, 1, 64, &t);
            ts += 1_000_000;
            out.push((ts, b));
        }
    }
    out
}

/// A pcap file (raw IP link type) of `frames`.
pub fn write_pcap(path: &std::path::Path, frames: &[(u64, Vec<u8>)]) {
    let mut w = portolan_detect::source::pcap::PcapWriter::new(Vec::new(), 1, 65535).unwrap();
    for (ts, f) in frames {
        w.write(*ts, f).unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

/// The SYN scan of [`scan_frames`] as a pcap file.
pub fn write_scan_pcap(path: &std::path::Path) {
    write_pcap(path, &scan_frames());
}
