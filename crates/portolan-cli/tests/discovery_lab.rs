//! Host discovery in a sparse network (tests/lab/discovery.sh): a /16 and an IPv6 /112 of
//! which 1% of the addresses are live, a third answering everything, a third only ICMP (echo,
//! timestamp; ICMPv6 echo), a third only TCP port 443; nftables drops every packet to the other
//! addresses. `scan -sn` must find every live host and report no dead one; a port scan (host
//! discovery is on by default, as in nmap) must probe the ports of live hosts only, and `-Pn`
//! every address. On the link itself (10.79.0.0/24,
//! fd79::/64) ARP and neighbour solicitation replace the IP probes and find the hosts that
//! drop every IP packet too. Root only (namespaces); skipped with
//! a message otherwise, failed under CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/discolab.rs"]
mod discolab;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use discolab::{can_run, Lab};

/// The hosts reported up, with their reason.
fn up_hosts(recs: &[serde_json::Value]) -> BTreeMap<IpAddr, String> {
    recs.iter()
        .filter(|r| r["type"] == "host" && r["up"] == true)
        .map(|r| {
            (
                r["addr"].as_str().unwrap().parse().unwrap(),
                r["up_reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Every live host found, no dead one, each with a reason its kind can give.
fn check_found(found: &BTreeMap<IpAddr, String>, live: &BTreeMap<IpAddr, String>, v6: bool) {
    let want: BTreeSet<&IpAddr> = live.keys().collect();
    let got: BTreeSet<&IpAddr> = found.keys().collect();
    let missed: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(missed.is_empty(), "live hosts not found: {missed:?}");
    assert!(extra.is_empty(), "dead hosts reported up: {extra:?}");
    for (a, reason) in found {
        let ok: &[&str] = match live[a].as_str() {
            "icmp" if v6 => &["echo-reply"],
            "icmp" => &["echo-reply", "timestamp-reply"],
            "tcp443" => &["syn-ack", "reset"],
            _ => &["echo-reply", "timestamp-reply", "syn-ack", "reset"],
        };
        assert!(
            ok.contains(&reason.as_str()),
            "{a} ({}) up for {reason:?}",
            live[a]
        );
    }
}

#[test]
fn ping_scan_finds_every_live_host_of_a_sparse_16_and_no_dead_one() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    assert_eq!(lab.live4.len(), 655, "1% of the /16");
    let recs = lab.scan(&["-sn", "10.80.0.0/16"]);
    check_found(&up_hosts(&recs), &lab.live4, false);
    // The start record says it is a ping scan, with no ports.
    assert_eq!(recs[0]["scan_type"], "ping");
    assert_eq!(recs[0]["num_ports"], 0);
    // No port records: discovery only.
    assert!(recs.iter().all(|r| r["type"] != "port"));
    // One pass: each of the four probes once per address, no retransmission (the probe kinds
    // are each other's redundancy; a retry pass would double the work on a silent range).
    let end = recs.iter().find(|r| r["type"] == "end").unwrap();
    assert_eq!(end["sent"].as_u64(), Some(65_536 * 4), "{end}");
    assert_eq!(end["retries"].as_u64(), Some(0), "{end}");
}

#[test]
fn discovery_retransmits_when_asked() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    // --retries N retransmits silent discovery probes: a /24 with 3 live hosts, 4 probes each.
    let recs = lab.scan(&["-sn", "10.80.0.0/24", "--retries", "1"]);
    let end = recs.iter().find(|r| r["type"] == "end").unwrap();
    let sent = end["sent"].as_u64().unwrap();
    assert!(sent > 256 * 4, "{end}");
    assert!(end["retries"].as_u64().unwrap() > 0, "{end}");
    let live: BTreeMap<IpAddr, String> = lab
        .live4
        .iter()
        .filter(|(a, _)| a.to_string().starts_with("10.80.0."))
        .map(|(a, k)| (*a, k.clone()))
        .collect();
    check_found(&up_hosts(&recs), &live, false);
}

#[test]
fn ping_scan_on_an_ipv6_112() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    let recs = lab.scan(&["-sn", "fd80::/112"]);
    check_found(&up_hosts(&recs), &lab.live6, true);
}

#[test]
fn discovery_then_ports_of_live_hosts_only() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    let recs = lab.scan(&[
        "10.80.0.0/16",
        "--top-ports",
        "100",
        "--syn",
        "--discovery",
        "--retries",
        "1",
    ]);
    let up = up_hosts(&recs);
    check_found(&up, &lab.live4, false);
    // Ports were probed on live hosts only: every port record is a live host's, and the probes
    // are discovery's (4 a host) plus 100 ports of each live host — not 100 of each of 65,536.
    for r in recs.iter().filter(|r| r["type"] == "port") {
        let a: IpAddr = r["addr"].as_str().unwrap().parse().unwrap();
        assert!(lab.live4.contains_key(&a), "port of a dead host: {r}");
    }
    let end = recs.iter().find(|r| r["type"] == "end").unwrap();
    assert_eq!(
        end["planned"].as_u64().unwrap(),
        65_536 * 4 + 655 * 100,
        "{end}"
    );
    // Hosts answering everything have 443 closed (nothing listens): found by the port scan.
    let all = lab.live4.iter().find(|(_, k)| *k == "all").unwrap().0;
    let closed: Vec<_> = recs
        .iter()
        .filter(|r| r["type"] == "port" && r["addr"] == all.to_string().as_str())
        .collect();
    assert!(closed.is_empty() || closed.iter().all(|r| r["state"] != "open"));
}

/// `-sn` of the link's subnet: every live address found by ARP / ND (reason `arp-response` /
/// `nd-response`), those that drop every IP packet too, and no dead one.
fn check_link(found: &BTreeMap<IpAddr, String>, live: &BTreeMap<IpAddr, String>, reason: &str) {
    let want: BTreeSet<&IpAddr> = live.keys().collect();
    let got: BTreeSet<&IpAddr> = found.keys().collect();
    assert_eq!(got, want, "hosts up on the link");
    assert!(live.values().filter(|k| *k == "arp").count() >= 12);
    for (a, r) in found {
        assert_eq!(r, reason, "{a} ({})", live[a]);
    }
}

#[test]
fn ping_scan_of_the_local_link_uses_arp_and_finds_arp_only_hosts() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    // The scanner's own address is left out: nothing answers ARP for it on the wire.
    let recs = lab.scan(&["-sn", "10.79.0.0/24", "--exclude", "10.79.0.1"]);
    check_link(&up_hosts(&recs), &lab.link4, "arp-response");
    // Chosen explicitly, the same.
    let recs = lab.scan(&[
        "-sn",
        "10.79.0.0/24",
        "--exclude",
        "10.79.0.1",
        "--discovery=arp",
    ]);
    check_link(&up_hosts(&recs), &lab.link4, "arp-response");
    // Without ARP (IP probes only), the hosts that drop IP are not found: ARP is what finds
    // them.
    let recs = lab.scan(&[
        "-sn",
        "10.79.0.0/24",
        "--exclude",
        "10.79.0.1",
        "--discovery=icmp-echo,syn:443",
    ]);
    let up = up_hosts(&recs);
    for (a, k) in &lab.link4 {
        assert_eq!(
            up.contains_key(a),
            k == "all",
            "{a} ({k}) with IP probes only"
        );
    }
    // ARP only, on routed targets: nothing can be asked, nothing is reported up.
    let recs = lab.scan(&["-sn", "10.80.0.0/24", "--discovery=arp"]);
    assert!(up_hosts(&recs).is_empty());
}

#[test]
fn ping_scan_of_the_local_ipv6_link_uses_neighbour_solicitation() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    let recs = lab.scan(&["-sn", "fd79::/120", "--exclude", "fd79::1"]);
    check_link(&up_hosts(&recs), &lab.link6, "nd-response");
    let recs = lab.scan(&[
        "-sn",
        "fd79::/120",
        "--exclude",
        "fd79::1",
        "--discovery=nd",
    ]);
    check_link(&up_hosts(&recs), &lab.link6, "nd-response");
    // Link and routed targets together: ND on the link, IP probes through the router.
    let mut targets: Vec<String> = lab.live6.keys().take(30).map(|a| a.to_string()).collect();
    targets.push("fd79::/120".into());
    let mut args = vec!["-sn", "--exclude", "fd79::1"];
    args.extend(targets.iter().map(String::as_str));
    let up = up_hosts(&lab.scan(&args));
    for a in lab.live6.keys().take(30) {
        assert!(
            ["echo-reply", "syn-ack", "reset"].contains(&up[a].as_str()),
            "{a}: {}",
            up[a]
        );
    }
    for a in lab.link6.keys() {
        assert_eq!(up[a], "nd-response", "{a}");
    }
    assert_eq!(up.len(), 30 + lab.link6.len());
}

#[test]
fn xml_status_carries_the_answers_ttl() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    let xml = format!("/tmp/{}.xml", lab.name);
    // 10.80.0.37 answers everything, 10.80.0.137 ICMP only, 10.80.0.237 TCP 443 only: each
    // answer comes straight from the target's stack with TTL 64.
    lab.scan(&[
        "-sn",
        "10.80.0.37",
        "10.80.0.137",
        "10.80.0.237",
        "-o",
        &format!("xml={xml}"),
    ]);
    let text = std::fs::read_to_string(&xml).unwrap();
    let _ = std::fs::remove_file(&xml);
    let statuses: Vec<&str> = text.lines().filter(|l| l.starts_with("<status ")).collect();
    assert_eq!(statuses.len(), 3, "{text}");
    for s in statuses {
        assert!(s.contains("state=\"up\""), "{s}");
        assert!(s.contains("reason_ttl=\"64\""), "{s}");
    }
}

#[test]
fn a_link_that_is_down_falls_back_to_ip_probes() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    // The scanner's veth down: its address (and so its subnet) stays, but no frame can leave.
    let st = std::process::Command::new("ip")
        .args([
            "-n",
            &format!("{}-s", lab.name),
            "link",
            "set",
            &format!("{}a", lab.name),
            "down",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    // The scan still ends (the IP probes have no route either): nothing is up.
    let recs = lab.scan(&["-sn", "10.79.0.0/28", "--exclude", "10.79.0.1"]);
    assert!(up_hosts(&recs).is_empty());
    assert!(recs.iter().any(|r| r["type"] == "end"));
}

/// The records of JSON Lines output.
fn records(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_port_scan_discovers_hosts_first_by_default() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    // No discovery flag: nmap's default, discovery first, then the ports of live hosts only.
    let recs = lab.scan(&["10.80.0.0/24", "-p", "443", "--syn", "--retries", "0"]);
    let live: BTreeMap<IpAddr, String> = lab
        .live4
        .iter()
        .filter(|(a, _)| a.to_string().starts_with("10.80.0."))
        .map(|(a, k)| (*a, k.clone()))
        .collect();
    assert!(!live.is_empty());
    check_found(&up_hosts(&recs), &live, false);
    for r in recs.iter().filter(|r| r["type"] == "port") {
        let a: IpAddr = r["addr"].as_str().unwrap().parse().unwrap();
        assert!(live.contains_key(&a), "port of a dead host: {r}");
    }
    let end = recs.iter().find(|r| r["type"] == "end").unwrap();
    // The four IP probes to each of 256 addresses, then port 443 of each live host only.
    assert_eq!(
        end["planned"].as_u64().unwrap(),
        256 * 4 + live.len() as u64,
        "{end}"
    );
    assert_eq!(
        end["host_discovery"], "arp,nd,icmp-echo,syn:443,ack:80,icmp-ts",
        "{end}"
    );
    // -Pn: no discovery, every address probed, and the report says no discovery ran.
    let recs = lab.scan(&[
        "10.80.0.0/24",
        "-p",
        "443",
        "--syn",
        "-Pn",
        "--retries",
        "0",
    ]);
    let end = recs.iter().find(|r| r["type"] == "end").unwrap();
    assert_eq!(end["planned"].as_u64().unwrap(), 256, "{end}");
    assert!(end.get("host_discovery").is_none(), "{end}");
}

#[test]
fn this_hosts_own_interface_address_is_up_without_a_probe() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    // 10.79.0.1 is the scanner's own address: up for localhost-response, and the one probe
    // sent is the port's (connect and SYN alike), as a scan of it cost before.
    for engine in ["--connect", "--syn"] {
        let recs = lab.scan(&["10.79.0.1", "-p", "1", engine]);
        let up = up_hosts(&recs);
        let a: IpAddr = "10.79.0.1".parse().unwrap();
        assert_eq!(
            up.get(&a).map(String::as_str),
            Some("localhost-response"),
            "{recs:?}"
        );
        let end = recs.iter().find(|r| r["type"] == "end").unwrap();
        assert_eq!(end["sent"].as_u64(), Some(1), "{engine}: {end}");
        assert_eq!(end["host_discovery"], "localhost", "{end}");
    }
    // With a live host beside it: the live one is probed, the own one is not.
    let other = lab
        .live4
        .iter()
        .find(|(_, k)| *k == "all")
        .unwrap()
        .0
        .to_string();
    let recs = lab.scan(&["-sn", "10.79.0.1", &other, "--discovery=icmp-echo"]);
    let up = up_hosts(&recs);
    assert_eq!(up.len(), 2, "{up:?}");
    assert_eq!(
        up[&"10.79.0.1".parse::<IpAddr>().unwrap()],
        "localhost-response"
    );
    assert_eq!(up[&other.parse::<IpAddr>().unwrap()], "echo-reply");
    let end = recs.iter().find(|r| r["type"] == "end").unwrap();
    assert_eq!(end["sent"].as_u64(), Some(1), "{end}");
}

#[test]
fn when_every_target_is_down_it_says_so_and_suggests_pn() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    let dead: Vec<String> = (1..=250)
        .map(|i| format!("10.80.0.{i}"))
        .filter(|a| !lab.live4.contains_key(&a.parse::<IpAddr>().unwrap()))
        .take(3)
        .collect();
    let mut args = vec!["-p", "443", "--syn", "--format", "json", "--retries", "0"];
    args.extend(dead.iter().map(String::as_str));
    let out = lab.run(&[], &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0 hosts up of 3 addresses") && err.contains("try -Pn"),
        "{err}"
    );
    let recs = records(&out.stdout);
    assert!(recs
        .iter()
        .all(|r| r["type"] != "port" && r["type"] != "host"));
    let end = recs.iter().find(|r| r["type"] == "end").unwrap();
    assert_eq!(end["hosts_up"].as_u64(), Some(0), "{end}");
    // Discovery's probes only: no port was scanned.
    assert_eq!(end["planned"].as_u64(), Some(3 * 4), "{end}");
}

#[test]
fn without_raw_sockets_discovery_connects_to_80_and_443() {
    if !can_run() {
        return;
    }
    if !common::lab::have("setpriv") {
        if common::in_ci() {
            panic!("the fallback test needs setpriv under CI");
        }
        eprintln!("SKIP: needs setpriv to run portolan without CAP_NET_RAW");
        return;
    }
    let lab = Lab::up();
    let pick = |kind: &str| {
        lab.live4
            .iter()
            .find(|(_, k)| *k == kind)
            .unwrap()
            .0
            .to_string()
    };
    let (all, tcp, icmp) = (pick("all"), pick("tcp443"), pick("icmp"));
    // Root without CAP_NET_RAW, as an ordinary user: TCP connects to 80 and 443; a refused
    // connection proves a host up; a host that answers ICMP only is not found that way.
    let out = lab.run(
        &["setpriv", "--bounding-set=-net_raw"],
        &[
            "-sn",
            &all,
            &tcp,
            &icmp,
            "--format",
            "json",
            "--retries",
            "0",
            "--timeout",
            "300",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TCP connects to ports 80 and 443"), "{err}");
    let up = up_hosts(&records(&out.stdout));
    assert_eq!(up.len(), 2, "{up:?}");
    for a in [&all, &tcp] {
        assert_eq!(up[&a.parse::<IpAddr>().unwrap()], "conn-refused");
    }
}

#[test]
fn shard_with_discovery_is_refused_naming_pn() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    let mut args = vec!["10.80.0.0/24", "-p", "443", "--seed", "7", "--shard", "0/2"];
    let out = lab.run(&[], &args);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("add -Pn"), "{err}");
    // With -Pn it runs.
    args.extend(["-Pn", "--syn", "--retries", "0", "-q"]);
    let out = lab.run(&[], &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_resumed_scan_after_discovery_walks_the_same_live_hosts() {
    if !can_run() {
        return;
    }
    let lab = Lab::up();
    let resume = format!("/tmp/{}.resume", lab.name);
    let j1 = format!("/tmp/{}-1.jsonl", lab.name);
    let j2 = format!("/tmp/{}-2.jsonl", lab.name);
    let cmd = |j: &str| {
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", &format!("{}-s", lab.name)])
            .arg(assert_cmd::cargo::cargo_bin("portolan"))
            .args([
                "scan",
                "10.80.0.0/24",
                "-p",
                "1-2000",
                "--syn",
                "--all-ports",
                "--no-store",
                "-q",
                "--retries",
                "0",
                "--max-rate",
                "2000",
                "--seed",
                "3",
                "--resume",
                &resume,
                "-o",
                &format!("jsonl={j}"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    };
    let mut child = cmd(&j1).spawn().unwrap();
    // Interrupt during the port scan, once some ports are on disk.
    let ports_in = |j: &str| {
        std::fs::read_to_string(j)
            .map(|t| {
                t.lines()
                    .filter(|l| l.contains("\"type\":\"port\""))
                    .count()
            })
            .unwrap_or(0)
    };
    for _ in 0..400 {
        std::thread::sleep(std::time::Duration::from_millis(25));
        if ports_in(&j1) > 500 {
            break;
        }
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130), "an interrupted scan exits 130");
    let first = ports_in(&j1);
    assert!(first > 0, "interrupted before the port scan");
    // The same command finishes the job without discovering again.
    let out = cmd(&j2).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = |j: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(j)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (r1, r2) = (recs(&j1), recs(&j2));
    let _ = std::fs::remove_file(&j1);
    let _ = std::fs::remove_file(&j2);
    let _ = std::fs::remove_file(&resume);
    let live: BTreeSet<IpAddr> = lab
        .live4
        .keys()
        .filter(|a| a.to_string().starts_with("10.80.0."))
        .copied()
        .collect();
    // Every port of every live host exactly once over both legs, none of a dead host.
    let mut seen = BTreeSet::new();
    for r in r1.iter().chain(&r2).filter(|r| r["type"] == "port") {
        let a: IpAddr = r["addr"].as_str().unwrap().parse().unwrap();
        assert!(live.contains(&a), "port of a dead host: {r}");
        assert!(seen.insert((a, r["port"].as_u64().unwrap())), "twice: {r}");
    }
    assert_eq!(seen.len(), live.len() * 2000);
    // The resumed leg's report: every live host up with its discovery reason.
    let up = up_hosts(&r2);
    assert_eq!(up.keys().copied().collect::<BTreeSet<_>>(), live);
    assert!(up
        .values()
        .all(|r| r != "localhost-response" && !r.is_empty()));
    let end = r2.iter().find(|r| r["type"] == "end").unwrap();
    assert_eq!(
        end["host_discovery"],
        "arp,nd,icmp-echo,syn:443,ack:80,icmp-ts"
    );
    assert_eq!(end["interrupted"], false);
}
