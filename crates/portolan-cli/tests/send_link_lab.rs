//! Link-layer sending of the raw scans (`--send-via link`, `--router-mac`) and the netlink
//! route/neighbour/link queries behind it, in network namespaces this test creates
//! (tests/lab/lab.sh: scanner 10.78.0.1 <-veth-> target 10.78.0.2, 10.77.0.0/17 behind it,
//! static neighbours). Lab tests skip without root/ip/nft/python3 and fail under CI=true;
//! the MAC-parsing test runs everywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;

use assert_cmd::cargo::cargo_bin;
use common::scanlab::{can_run, end_line, forty_ports, ports_in, Lab};
use portolan_scan::netlink;

/// The MAC of a lab interface, from `ip -o link show`.
fn mac_of(ns: &str, dev: &str) -> String {
    let o = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", dev])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let at = text.find("link/ether ").expect("an Ethernet link") + "link/ether ".len();
    text[at..at + 17].to_string()
}

/// Run `f` on a thread that joined the network namespace `ns` (namespaces are per thread).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on a valid namespace descriptor; affects this thread only.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

fn notices(v: &[serde_json::Value]) -> Vec<String> {
    v.iter()
        .filter(|x| x["type"] == "notice")
        .map(|x| x["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bad_router_mac_is_rejected_with_a_clear_message() {
    for bad in [
        "02:00:00:00:00",
        "02:00:00:00:00:0g",
        "0200.0000.0001",
        "02:00-00:00:00:01",
    ] {
        let o = Command::new(cargo_bin("portolan"))
            .args([
                "scan",
                "127.0.0.1",
                "-p",
                "80",
                "--syn",
                "--router-mac",
                bad,
            ])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{bad} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("invalid MAC address"), "{bad}: {err}");
        assert!(
            err.contains("aa:bb") || err.contains("02:00:5e:10:00:01"),
            "{err}"
        );
    }
    let o = Command::new(cargo_bin("portolan"))
        .args(["scan", "127.0.0.1", "-p", "80", "--send-via", "wire"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values: ip, link"));
    // Without a raw scan there is nothing to send that way.
    let o = Command::new(cargo_bin("portolan"))
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            "80",
            "--router-mac",
            "02:00:00:00:00:01",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("add --syn or --udp"));
}

#[test]
fn lab_netlink_route_neighbour_and_link() {
    if !can_run() {
        return;
    }
    let lab = Lab::up("N");
    let dev = format!("{}a", lab.name);
    let smac = mac_of(&lab.scanner(), &dev);
    let tmac = mac_of(&lab.target(), &format!("{}b", lab.name));
    let (routed, onlink, nb, none, link) = in_netns(&lab.scanner(), || {
        let routed = netlink::route_get("10.77.1.2".parse().unwrap(), None).unwrap();
        let onlink = netlink::route_get("10.78.0.2".parse().unwrap(), None).unwrap();
        let nb = netlink::neighbour(routed.ifindex, "10.78.0.2".parse().unwrap()).unwrap();
        let none = netlink::neighbour(routed.ifindex, "10.78.0.77".parse().unwrap()).unwrap();
        let link = netlink::link(routed.ifindex).unwrap();
        (routed, onlink, nb, none, link)
    });
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(routed.ifname, dev);
    assert_eq!(routed.gateway, Some(ip("10.78.0.2")));
    assert_eq!(routed.source, Some(ip("10.78.0.1")));
    assert_eq!(onlink.ifindex, routed.ifindex);
    assert_eq!(onlink.gateway, None);
    assert_eq!(onlink.next_hop(ip("10.78.0.2")), ip("10.78.0.2"));
    let fmt = |m: [u8; 6]| portolan_scan::rawio::format_mac(&m);
    assert_eq!(nb.map(fmt), Some(tmac));
    assert_eq!(none, None);
    assert_eq!(link.name, dev);
    assert_eq!(link.kind, netlink::ARPHRD_ETHER);
    assert_eq!(link.mtu, Some(1500));
    assert_eq!(link.ether().map(fmt), Some(smac));
    // No route out of the lab: the kernel says so.
    let err = in_netns(&lab.scanner(), || {
        netlink::route_get("192.0.2.1".parse().unwrap(), None).unwrap_err()
    });
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[test]
fn lab_syn_via_link_and_router_mac_find_what_ip_finds() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut lab = Lab::up("L");
    let open = forty_ports();
    lab.listen(&open);
    let tmac = mac_of(&lab.target(), &format!("{}b", lab.name));
    let want: Vec<(String, u16)> = open.iter().map(|&p| ("10.78.0.2".to_string(), p)).collect();

    let (ip, _) = lab.scan(&["10.78.0.2", "-p-", "--syn"], dir, "ip");
    assert_eq!(ports_in(&ip, "open"), want);
    assert!(notices(&ip).iter().all(|n| !n.contains("Ethernet frames")));

    let (link, _) = lab.scan(
        &["10.78.0.2", "-p-", "--syn", "--send-via", "link"],
        dir,
        "link",
    );
    assert_eq!(ports_in(&link, "open"), want);
    assert_eq!(end_line(&link)["closed"], 65535 - 40);
    let n = notices(&link);
    assert!(
        n.iter()
            .any(|m| m.contains("Ethernet frames") && m.contains(&tmac) && m.contains("10.78.0.2")),
        "{n:?}"
    );

    let (rm, _) = lab.scan(
        &[
            "10.78.0.2",
            "-p-",
            "--syn",
            "--router-mac",
            &tmac.replace(':', "-"),
        ],
        dir,
        "router-mac",
    );
    assert_eq!(ports_in(&rm, "open"), want);
    assert_eq!(end_line(&rm)["closed"], 65535 - 40);
    assert!(notices(&rm).iter().any(|m| m.contains("--router-mac")));

    // Through the router 10.78.0.2 to the AnyIP block: every address answers on port 22.
    let (routed, _) = lab.scan(
        &["10.77.0.0/26", "-p", "22", "--syn", "--send-via", "link"],
        dir,
        "routed",
    );
    assert_eq!(ports_in(&routed, "open").len(), 64);

    // A target on the link beside a routed one: only one next hop per family, so the on-link
    // one is reported filtered (host-unreach) after one notice, and nothing is lost.
    let (mixed, _) = lab.scan(
        &[
            "10.77.0.5",
            "10.78.0.1",
            "-p",
            "22",
            "--syn",
            "--send-via",
            "link",
            "--all-ports",
        ],
        dir,
        "mixed",
    );
    assert_eq!(
        ports_in(&mixed, "open"),
        vec![("10.77.0.5".to_string(), 22)]
    );
    let f: Vec<&serde_json::Value> = mixed
        .iter()
        .filter(|x| x["type"] == "port" && x["state"] == "filtered")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["addr"], "10.78.0.1");
    assert_eq!(f[0]["reason"], "host-unreach");
    let n = notices(&mixed);
    assert_eq!(
        n.iter()
            .filter(|m| m.contains("do not leave through"))
            .count(),
        1,
        "{n:?}"
    );
}

#[test]
fn lab_wrong_router_mac_finds_nothing_and_ends() {
    if !can_run() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut lab = Lab::up("W");
    lab.listen(&[22, 80]);
    let (v, _) = lab.scan(
        &[
            "10.78.0.2",
            // About the port scan's frames: ARP discovery (which needs no MAC) would find the
            // host up and add its probe to the counts.
            "-Pn",
            "-p",
            "1-200",
            "--syn",
            "--retries",
            "1",
            "--router-mac",
            "02:00:00:00:00:01",
        ],
        tmp.path(),
        "wrong",
    );
    assert!(ports_in(&v, "open").is_empty());
    let end = end_line(&v);
    assert_eq!(end["filtered"], 200);
    assert_eq!(end["completed"], 200);
}

#[test]
fn lab_missing_neighbour_is_a_clear_error() {
    if !can_run() {
        return;
    }
    let lab = Lab::up("X");
    // 10.78.0.3 is on the link but in no neighbour table: nothing is sent to learn its MAC.
    let o = Command::new("ip")
        .args(["netns", "exec", &lab.scanner()])
        .arg(cargo_bin("portolan"))
        .args([
            "scan",
            "10.78.0.3",
            // Without -Pn, ARP discovery finds 10.78.0.3 down and nothing more is sent: the
            // error under test is the port scan's.
            "-Pn",
            "-p",
            "80",
            "--syn",
            "--send-via",
            "link",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no usable entry in the kernel's neighbour table"),
        "{err}"
    );
    assert!(
        err.contains("ping -c1 10.78.0.3") && err.contains("--router-mac"),
        "{err}"
    );
    // And it did not ask: no neighbour entry appeared.
    let o = Command::new("ip")
        .args(["-n", &lab.scanner(), "neigh", "show", "10.78.0.3"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "");
}
