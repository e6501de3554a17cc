//! Lab tests of the raw SYN and UDP scans (issue: Scanner II): the real `portolan` binary, as
//! root, scans hosts in network namespaces this test creates. Skips without root/ip/nft/python3,
//! fails under CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use common::scanlab::{can_run, end_line, forty_ports, ports_in, Lab};

#[test]
fn lab_syn_full_range_clean_then_filtered_and_lossy() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut lab = Lab::up("S");
    let open = forty_ports();
    lab.listen(&open);
    let want: Vec<(String, u16)> = open.iter().map(|&p| ("10.78.0.2".to_string(), p)).collect();

    let (v, _) = lab.scan(&["10.78.0.2", "-p-", "--syn"], dir, "clean");
    assert_eq!(ports_in(&v, "open"), want);
    let end = end_line(&v);
    assert_eq!(end["open"], 40);
    assert_eq!(end["closed"], 65535 - 40);
    // Raw scans record the reply's TTL and say which engine ran.
    let first_open = v
        .iter()
        .find(|x| x["type"] == "port" && x["state"] == "open")
        .unwrap();
    assert_eq!(first_open["ttl"], 64);
    assert_eq!(first_open["reason"], "syn-ack");

    // Every closed port dropped, 1% random loss each way.
    lab.drop_others_with_loss(&open, 1);
    let (v, _) = lab.scan(
        &["10.78.0.2", "-p-", "--syn", "--retries", "3"],
        dir,
        "lossy",
    );
    assert_eq!(ports_in(&v, "open"), want);
    let end = end_line(&v);
    assert_eq!(end["filtered"], 65535 - 40);
    assert!(end["retries"].as_u64().unwrap() > 0);
}

#[test]
fn lab_udp_full_range_finds_every_service() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut lab = Lab::up("U");
    let udp = [53u16, 123, 161, 5353, 40000];
    lab.listen_udp(&udp);
    // Linux's default ICMP rate limit stays in force in the target.
    // -Pn: the count below is of UDP probes (discovery's would add to it).
    let (v, _) = lab.scan(&["10.78.0.2", "-Pn", "-p-", "--udp"], dir, "udp");
    let want: Vec<(String, u16)> = udp.iter().map(|&p| ("10.78.0.2".to_string(), p)).collect();
    assert_eq!(ports_in(&v, "open"), want);
    let end = end_line(&v);
    assert_eq!(end["open"], 5);
    // Every other port is either confirmed closed by ICMP or reported open|filtered.
    let closed = end["closed"].as_u64().unwrap();
    assert!(closed > 0, "some ICMP port-unreachable got through");
    assert_eq!(end["completed"].as_u64().unwrap(), 65535);
}

#[test]
fn lab_syn_rate_cap_proven_by_counter() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut lab = Lab::up("R");
    lab.listen(&[80]);
    lab.nft(
        &lab.scanner(),
        "table inet count {
           counter syn_out {}
           chain output { type filter hook output priority 0; policy accept;
             tcp flags & (syn | ack) == syn counter name syn_out
           }
         }",
    );
    // The engine thread alone (the default below 50,000/s), then with two send lanes that
    // share the one token bucket: each run counted on its own.
    let mut before = 0;
    for (rate, net, hosts, threads) in [
        (3000u32, "10.77.0.0/20", 4096usize, "0"),
        (20_000, "10.77.0.0/17", 32_768, "2"),
    ] {
        let rate_s = rate.to_string();
        let (v, secs) = lab.scan(
            &[
                net,
                "-p",
                "80",
                "--syn",
                "--max-rate",
                &rate_s,
                "--send-threads",
                threads,
                "--all-ports",
            ],
            dir,
            "rate",
        );
        assert_eq!(
            ports_in(&v, "open").len(),
            hosts,
            "{net} with {threads} lanes"
        );
        let total = lab.counters(&lab.scanner())["syn_out"];
        let sent = total - before;
        before = total;
        assert!(sent >= hosts as u64, "{sent}");
        let rate = f64::from(rate);
        let cap = rate * secs + rate; // rate × duration, plus one second of burst
        assert!(
            (sent as f64) <= cap,
            "{sent} SYNs in {secs:.2} s exceeds --max-rate {rate} ({threads} send lanes)"
        );
    }
}

#[test]
fn lab_syn_slash8_memory_stays_small() {
    if !can_run() {
        return;
    }
    let lab = Lab::up("M");
    // Route all of 10/8 to the target namespace: it answers only its /17; the rest is dropped
    // there (no forwarding, no route out).
    let st = Command::new("ip")
        .args([
            "-n",
            &lab.scanner(),
            "route",
            "add",
            "10.0.0.0/8",
            "via",
            "10.78.0.2",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.scanner()])
        .arg(cargo_bin("portolan"))
        .args([
            "scan",
            "10.0.0.0/8",
            // The memory of the port scan's walk over 16M addresses (masscan's use: no
            // discovery).
            "-Pn",
            "-p",
            "80",
            "--syn",
            "--max-rate",
            "50000",
            "-q",
            "-o",
            "jsonl=/dev/null",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The scanner runs inside `ip netns exec`, which execs it: same pid.
    let pid = child.id();
    let t0 = Instant::now();
    let mut peak_kib = 0u64;
    while t0.elapsed() < Duration::from_secs(6) {
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for l in s.lines() {
                if let Some(v) = l.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak_kib = peak_kib.max(kib);
                }
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            panic!("the /8 scan ended early");
        }
    }
    // Ctrl-C: the scan stops cleanly.
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let st = child.wait().unwrap();
    assert!(peak_kib > 0, "could not read the scanner's memory");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB >= 64 MiB");
    assert!(st.success() || st.code() == Some(130), "{st:?}");
    drop(lab);
}
