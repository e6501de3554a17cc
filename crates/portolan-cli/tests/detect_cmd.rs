//! `portolan detect` run as the real binary on captures built here: formats, compression,
//! directories, standard input, damaged files, configuration, and the EVE schema checked by an
//! independent JSON parser (Python's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use portolan_detect::source::pcap::PcapWriter;
use portolan_detect::source::pcapng::build;
use portolan_detect::synth;
use predicates::prelude::*;
use tempfile::TempDir;

mod common;
use common::{portolan, scan_frames, write_pcap};

/// `portolan detect PATH`, for more arguments to be added.
fn detect(path: &Path) -> Command {
    let mut c = portolan();
    c.arg("detect").arg(path);
    c
}

/// A temporary directory holding `scan.pcap`, the frames of [`scan_frames`]; the directory lives
/// as long as the returned guard.
fn scan_pcap() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("scan.pcap");
    write_pcap(&f, &scan_frames());
    (dir, f)
}

#[test]
fn text_summary_names_the_scan() {
    let (_dir, f) = scan_pcap();
    detect(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "PORTOLAN SCAN TCP SYN (half-open) port scan",
        ))
        .stdout(predicate::str::contains("198.51.100.7"))
        .stdout(predicate::str::contains("tool nmap"))
        .stdout(predicate::str::contains("60 packets"));
}

#[test]
fn eve_output_parses_with_an_independent_parser() {
    let (_dir, f) = scan_pcap();
    let out = detect(&f).args(["--format", "eve"]).output().unwrap();
    assert!(out.status.success());
    let check = r#"
import json, sys
required = {"timestamp": str, "event_type": str, "src_ip": str, "dest_ip": str, "proto": str, "alert": dict, "portolan": dict}
n = 0
for line in sys.stdin:
    e = json.loads(line)
    for k, t in required.items():
        assert isinstance(e[k], t), (k, e)
    assert e["event_type"] == "alert"
    a = e["alert"]
    assert isinstance(a["signature"], str) and isinstance(a["signature_id"], int)
    assert isinstance(a["category"], str) and a["severity"] in (1, 2, 3)
    p = e["portolan"]
    assert p["schema_version"] == 1
    assert e["schema_version"] == 1 and type(e["schema_version"]) is int
    assert p["severity"] in ("low", "medium", "high")
    assert p["technique"] in ("tcp-syn","tcp-connect","tcp-fin","tcp-null","tcp-xmas","tcp-ack","tcp-maimon","udp","syn-flood")
    assert p["shape"] in ("vertical","horizontal","block","distributed","flood")
    assert all(isinstance(x, int) and 0 <= x <= 65535 for x in p["ports"])
    assert isinstance(p["probes"], int) and p["first_seen"] <= p["last_seen"]
    assert len(e["timestamp"]) == len("2026-01-01T00:00:00.000000+0000")
    n += 1
print(n)
"#;
    let mut py = StdCommand::new("python3")
        .args(["-c", check])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (listed in .ci/apt) parses the EVE output");
    use std::io::Write;
    py.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let res = py.wait_with_output().unwrap();
    assert!(res.status.success(), "python rejected the EVE output");
    assert_eq!(String::from_utf8_lossy(&res.stdout).trim(), "1");
}

#[test]
fn gzip_pcapng_directory_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let frames = scan_frames();
    // gzip-compressed pcap
    let f = dir.path().join("scan.pcap");
    write_pcap(&f, &frames);
    let st = StdCommand::new("gzip").arg("-k").arg(&f).status().unwrap();
    assert!(st.success());
    detect(&dir.path().join("scan.pcap.gz"))
        .args(["--format", "eve"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"technique\":\"tcp-syn\""));
    // pcapng with two interfaces of different link types (Ethernet and raw IPv4)
    let mut ng = build::shb();
    ng.extend(build::idb(1, None));
    ng.extend(build::idb(228, Some(9)));
    for (i, (ts, fr)) in frames.iter().enumerate() {
        if i % 2 == 0 {
            ng.extend(build::epb(0, ts / 1000, fr));
        } else {
            ng.extend(build::epb(1, *ts, &fr[14..]));
        }
    }
    let ngf = dir.path().join("scan.pcapng");
    std::fs::write(&ngf, &ng).unwrap();
    detect(&ngf)
        .assert()
        .success()
        .stdout(predicate::str::contains("tcp-syn"))
        .stdout(predicate::str::contains("60 IP"));
    // a directory of rotated captures
    let rot = dir.path().join("rotated");
    std::fs::create_dir(&rot).unwrap();
    write_pcap(&rot.join("cap1"), &frames[..20]);
    write_pcap(&rot.join("cap2"), &frames[20..40]);
    write_pcap(&rot.join("cap10"), &frames[40..]);
    std::fs::write(rot.join("cap11"), b"").unwrap(); // a rotation just started
    detect(&rot)
        .assert()
        .success()
        .stdout(predicate::str::contains("tcp-syn"))
        .stdout(predicate::str::contains("60 packets"));
    // standard input
    portolan()
        .args(["detect", "-"])
        .pipe_stdin(&f)
        .unwrap()
        .assert()
        .success()
        .stdout(predicate::str::contains("tcp-syn"));
}

#[test]
fn truncated_capture_keeps_alerts_and_fails_clearly() {
    let (_dir, f) = scan_pcap();
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.truncate(bytes.len() - 30);
    std::fs::write(&f, &bytes).unwrap();
    detect(&f)
        .args(["--format", "eve"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("\"technique\":\"tcp-syn\""))
        .stderr(predicate::str::contains("truncated"))
        .stderr(predicate::str::contains(
            "alerts above cover the packets read before the error",
        ));
}

#[test]
fn not_a_capture_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, b"hello, this is not a capture").unwrap();
    detect(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a pcap or pcapng capture"));
    portolan()
        .args(["detect", "/nonexistent/capture.pcap"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/capture.pcap"));
}

#[test]
fn configuration_round_trip_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = portolan()
        .args(["detect", "--print-config", "--sensitivity", "high"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("sensitivity = \"high\""), "{text}");
    assert!(text.contains("vertical_ports = 10"), "{text}");
    let cfg = dir.path().join("detect.toml");
    std::fs::write(&cfg, &text).unwrap();
    let (_scan_dir, f) = scan_pcap();
    detect(&f)
        .arg("--config")
        .arg(&cfg)
        .assert()
        .success()
        .stdout(predicate::str::contains("3 probes"));
    std::fs::write(&cfg, "[thresholds]\nverticle_ports = 5\n").unwrap();
    detect(&f)
        .arg("--config")
        .arg(&cfg)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("verticle_ports"));
    // allow-list from the command line
    detect(&f)
        .args(["--allow", "198.51.100.0/24"])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 alerts"));
    detect(&f)
        .args(["--allow", "not-a-network"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not-a-network"));
}

/// The same capture gives the same report, byte for byte, run after run (issue 12: counts used
/// to vary with a per-process random hash key), also when the tables must evict.
#[test]
fn same_capture_same_output_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("busy.pcap");
    write_pcap(&f, &synth::busy_frames(12, 1_700_000_000_000_000_000));
    let cfg = dir.path().join("small.toml");
    std::fs::write(
        &cfg,
        "[limits]\nmax_flows = 64\nmax_sources = 16\nmax_services = 16\nmax_targets = 16\n",
    )
    .unwrap();
    for extra in [
        vec![],
        vec!["--format", "eve"],
        vec!["--config", cfg.to_str().unwrap()],
    ] {
        let run = || {
            let out = detect(&f).args(&extra).output().unwrap();
            assert!(out.status.success(), "{out:?}");
            out.stdout
        };
        let first = run();
        assert!(!first.is_empty());
        for i in 1..10 {
            assert!(
                run() == first,
                "run {i} of {extra:?} differs from the first"
            );
        }
    }
}

/// A capture whose only link type cannot be decoded is not "0 alerts": each interface is named
/// on standard error and the exit status is 2 (issue 12). A pcapng with one such interface
/// beside an Ethernet one warns about that interface and still reports the scan.
#[test]
fn undecodable_link_types_are_reported_per_interface() {
    let dir = tempfile::tempdir().unwrap();
    for lt in [147u32, 105, 127] {
        let f = dir.path().join(format!("lt{lt}.pcap"));
        let mut w = PcapWriter::new(Vec::new(), lt, 65535).unwrap();
        for (ts, fr) in scan_frames() {
            w.write(ts, &fr).unwrap();
        }
        std::fs::write(&f, w.into_inner()).unwrap();
        for fmt in ["text", "eve"] {
            detect(&f)
                .args(["--format", fmt])
                .assert()
                .code(2)
                .stderr(predicate::str::contains(format!(
                    "interface 0 has link type {lt}"
                )))
                .stderr(predicate::str::contains("60 packets were skipped"))
                .stderr(predicate::str::contains("could be decoded"));
        }
    }
    let mut ng = build::shb();
    ng.extend(build::idb(1, None));
    ng.extend(build::idb(127, Some(9)));
    for (ts, fr) in scan_frames() {
        ng.extend(build::epb(0, ts / 1000, &fr));
        ng.extend(build::epb(1, ts, &fr));
    }
    let f = dir.path().join("mixed.pcapng");
    std::fs::write(&f, ng).unwrap();
    detect(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("PORTOLAN SCAN TCP SYN"))
        .stdout(predicate::str::contains("60 packets of link types"))
        .stderr(predicate::str::contains(
            "interface 1 has link type 127 (802.11 radiotap)",
        ))
        .stderr(predicate::str::contains("interface 0").not());
}

/// `--config` and `--filter @FILE` are read with a size cap that the error names: /dev/zero and
/// a FIFO fed forever fail at once instead of eating memory (issue 12).
#[test]
fn config_and_filter_files_are_read_with_a_cap() {
    let (dir, f) = scan_pcap();
    detect(&f)
        .args(["--config", "/dev/zero"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--config: /dev/zero is larger than 1048576 bytes",
        ));
    let fifo = dir.path().join("endless.toml");
    assert!(StdCommand::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let chunk = vec![b'#'; 65536];
            // until the reader goes away (EPIPE)
            while w.write_all(&chunk).is_ok() {}
        })
    };
    detect(&f)
        .arg("--config")
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("larger than 1048576 bytes"));
    writer.join().unwrap();
    // --filter @FILE is checked before any capture starts (no privilege needed to see it)
    portolan()
        .args(["detect", "-i", "lo", "--filter", "@/dev/zero"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/dev/zero is larger than 1048576 bytes",
        ));
}

/// Live-only flags with a capture file are errors, not silently ignored (issue 12).
#[test]
fn live_only_flags_with_a_capture_file_are_errors() {
    let (_dir, f) = scan_pcap();
    for flags in [
        &["--filter", "tcp"][..],
        &["--count", "5"][..],
        &["--duration", "3"][..],
    ] {
        detect(&f)
            .args(flags)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(format!(
                "{} applies only to live capture",
                flags[0]
            )));
    }
}

/// File names reach the terminal escaped (an ESC in a capture's name cannot drive it).
#[test]
fn capture_file_names_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("cap\u{1b}]0;pwned\u{7}.pcap");
    let out = detect(&hostile).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    // an undecodable capture under that name: the warning and the summary are escaped too
    let mut w = PcapWriter::new(Vec::new(), 147, 65535).unwrap();
    for (ts, fr) in scan_frames() {
        w.write(ts, &fr).unwrap();
    }
    std::fs::write(&hostile, w.into_inner()).unwrap();
    let out = detect(&hostile).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(text.contains("cap"), "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
}

/// The output convention (issue 12): --format table|json with text/eve/--json as aliases,
/// "schema_version" on every JSON line, -o FMT=PATH written whole through a temporary file
/// (an error leaves an earlier file untouched), -o PATH appended as a log, --fail-on.
#[test]
fn output_convention_formats_files_and_fail_on() {
    let (dir, f) = scan_pcap();
    let stdout_of = |args: &[&str]| {
        let out = detect(&f).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let table = stdout_of(&["--format", "table"]);
    assert!(table.contains("Summary of"), "{table}");
    assert_eq!(stdout_of(&["--format", "text"]), table);
    assert_eq!(stdout_of(&[]), table);
    let json = stdout_of(&["--format", "json"]);
    assert_eq!(stdout_of(&["--format", "eve"]), json);
    assert_eq!(stdout_of(&["--json"]), json);
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["schema_version"], 1, "{line}");
    }

    // -o FMT=PATH: the same bytes as on stdout, whole
    let (a, r) = (dir.path().join("a.json"), dir.path().join("r.txt"));
    std::fs::write(&a, "earlier report\n").unwrap();
    let oa = format!("json={}", a.display());
    let or = format!("table={}", r.display());
    detect(&f).args(["-o", &oa, "-o", &or]).assert().success();
    assert_eq!(std::fs::read_to_string(&a).unwrap(), json);
    assert_eq!(std::fs::read_to_string(&r).unwrap(), table);
    // a failed run leaves the earlier files as they were, and no temporary file behind
    let broken = dir.path().join("broken.pcap");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() - 30]).unwrap();
    detect(&broken)
        .args(["-o", &oa, "-o", &or])
        .assert()
        .code(2);
    assert_eq!(std::fs::read_to_string(&a).unwrap(), json);
    assert_eq!(std::fs::read_to_string(&r).unwrap(), table);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".portolan"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // outputs are checked before reading: a missing directory, a path given twice
    let missing = format!("json={}", dir.path().join("no/such/dir/a.json").display());
    detect(&f)
        .args(["-o", &missing])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("no/such/dir"));
    detect(&f)
        .args(["-o", &oa, "-o", &format!("table={}", a.display())])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("given twice"));

    // -o PATH: EVE lines appended, run after run (a log)
    let log = dir.path().join("eve.log");
    let ol = log.to_str().unwrap();
    detect(&f).args(["-o", ol]).assert().success();
    detect(&f).args(["-o", ol]).assert().success();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("{json}{json}")
    );

    // --fail-on: the scan is a medium alert
    for (level, code) in [("info", 1), ("medium", 1), ("high", 0), ("critical", 0)] {
        detect(&f).args(["--fail-on", level]).assert().code(code);
    }
    let quiet = dir.path().join("quiet.pcap");
    write_pcap(&quiet, &scan_frames()[..2]);
    detect(&quiet).args(["--fail-on", "info"]).assert().code(0);
    detect(&f)
        .args(["--fail-on", "severe"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("severe"));
}
