//! Lab tests: the real `portolan` binary scans hosts in network namespaces this test creates
//! (tests/lab/lab.sh: scanner 10.78.0.1 <-veth-> target 10.78.0.2 + AnyIP 10.77.0.0/17; no
//! route out). Each test has its own namespaces, removed on exit even when it fails. They skip
//! with a message when not root or without `ip`/`nft`; under CI (CI=true) they fail instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::scanlab::{can_run, end_line, forty_ports, ports_in, Lab};

const FAST: &[&str] = &[
    "--concurrency",
    "8000",
    "--timeout",
    "300",
    "--min-timeout",
    "40",
];

#[test]
fn lab_full_range_clean_and_lossy() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut lab = Lab::up("f");
    let open = forty_ports();
    lab.listen(&open);
    let want: Vec<(String, u16)> = open.iter().map(|&p| ("10.78.0.2".to_string(), p)).collect();

    // Clean link: every open port, every other port closed.
    let mut args = vec!["10.78.0.2", "-p-"];
    args.extend(FAST);
    let (v, _) = lab.scan(&args, dir, "clean");
    assert_eq!(ports_in(&v, "open"), want);
    let end = end_line(&v);
    assert_eq!(end["open"], 40);
    assert_eq!(end["closed"], 65535 - 40);

    // 2% random loss each way, every other port dropped.
    lab.drop_others_with_loss(&open, 2);
    let mut args = vec!["10.78.0.2", "-p-", "--retries", "3"];
    args.extend(FAST);
    let (v, _) = lab.scan(&args, dir, "lossy");
    assert_eq!(ports_in(&v, "open"), want);
    let end = end_line(&v);
    assert_eq!(end["open"], 40);
    assert_eq!(end["filtered"], 65535 - 40);
    assert!(end["retries"].as_u64().unwrap() > 0);
}

#[test]
fn lab_anyip_17_and_shards() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut lab = Lab::up("a");
    lab.listen(&[80]);
    // Shards of every address × port, as masscan's: -Pn (shards are refused with discovery).
    let mut args = vec![
        "10.77.0.0/17",
        "-Pn",
        "-p",
        "80",
        "--all-ports",
        "--seed",
        "5",
    ];
    args.extend(FAST);
    let (full, _) = lab.scan(&args, dir, "full");
    let open = ports_in(&full, "open");
    assert_eq!(open.len(), 32768, "every AnyIP address answers");
    let addrs: BTreeSet<String> = open.iter().map(|x| x.0.clone()).collect();
    assert_eq!(addrs.len(), 32768);
    assert!(addrs.contains("10.77.0.0") && addrs.contains("10.77.127.255"));

    // Three shards: together the full scan, no address probed by two of them.
    let mut seen: Vec<(String, u16)> = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let mut a = args.clone();
        a.extend(["--shard", shard.as_str()]);
        let (v, _) = lab.scan(&a, dir, &format!("shard{i}"));
        let got: Vec<(String, u16)> = v
            .iter()
            .filter(|x| x["type"] == "port")
            .map(|x| {
                (
                    x["addr"].as_str().unwrap().to_string(),
                    x["port"].as_u64().unwrap() as u16,
                )
            })
            .collect();
        assert!(!got.is_empty());
        seen.extend(got);
    }
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(n, seen.len(), "a probe appears in two shards");
    assert_eq!(seen, open);
}

#[test]
fn lab_exclude_and_max_rate_proven_by_counters() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut lab = Lab::up("x");
    lab.listen(&[80]);
    lab.nft(
        &lab.scanner(),
        "table inet count {
           counter excluded_one {}
           counter excluded_block {}
           counter block_all {}
           counter syn_to_target {}
           chain output { type filter hook output priority 0; policy accept;
             ip daddr 10.77.0.77 counter name excluded_one
             ip daddr 10.77.0.128/28 counter name excluded_block
             ip daddr 10.77.0.0/24 counter name block_all
             ip daddr 10.78.0.2 tcp flags & (syn | ack) == syn counter name syn_to_target
           }
         }",
    );
    let mut args = vec![
        "10.77.0.0/24",
        "-p",
        "80,81",
        "--exclude",
        "10.77.0.77,10.77.0.128/28",
        "--all-ports",
    ];
    args.extend(FAST);
    let (v, _) = lab.scan(&args, dir, "exclude");
    let c = lab.counters(&lab.scanner());
    assert_eq!(c["excluded_one"], 0, "a packet reached an excluded address");
    assert_eq!(c["excluded_block"], 0, "a packet reached an excluded block");
    assert!(
        c["block_all"] >= 2 * (256 - 17),
        "the rest of the block was scanned: {c:?}"
    );
    let open = ports_in(&v, "open");
    assert_eq!(open.len(), 256 - 17);
    assert!(open.iter().all(|(a, _)| a != "10.77.0.77"));

    // --max-rate: SYNs counted on the wire over the scan's duration never exceed the cap.
    let rate = 2000.0;
    let (v, secs) = lab.scan(
        &[
            "10.78.0.2",
            // The SYNs counted are the port scan's (discovery sends one to 443 too).
            "-Pn",
            "-p",
            "1-5000",
            "--max-rate",
            "2000",
            "--timeout",
            "300",
        ],
        dir,
        "rate",
    );
    let syns = lab.counters(&lab.scanner())["syn_to_target"];
    assert_eq!(end_line(&v)["completed"], 5000);
    assert!(syns >= 5000, "every probe left: {syns}");
    // The bucket allows a burst of rate/200 (10) on top of rate x time.
    assert!(
        syns as f64 <= rate * secs + 10.0,
        "{syns} SYNs in {secs:.2}s exceeds {rate}/s"
    );
    // And the scan could not have been faster than the cap allows.
    assert!(
        secs >= (5000.0 - 10.0) / rate,
        "{secs:.2}s is faster than the cap allows"
    );
}
