//! IPv6 in the lab (tests/lab/discovery.sh): the connect, SYN, UDP and `-sV` scans against a
//! target reached over a veth with IPv6 addresses and static neighbours (fd79::2, no DAD), and
//! through a route (fd80::/112 via fd79::2). Root only (namespaces); skipped with a message
//! otherwise, failed under CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/discolab.rs"]
mod discolab;

use std::collections::BTreeMap;

use discolab::{can_run, Lab};

/// In the target: TCP listeners on [::]:80 and [::]:2222 (the latter greets like OpenSSH), and
/// a UDP responder on [::]:53 that answers every datagram.
const SERVERS: &str = r#"
import selectors, socket
sel = selectors.DefaultSelector()
for p in (80, 2222):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", p)); s.listen(1024); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, p)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.bind(("::", 53)); u.setblocking(False)
sel.register(u, selectors.EVENT_READ, 53)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        if key.data == 53:
            try:
                d, a = u.recvfrom(2048)
                u.sendto(d[:2] + b"\x81\x80" + d[4:], a)
            except OSError:
                pass
            continue
        try:
            c, _ = key.fileobj.accept()
        except OSError:
            continue
        if key.data == 2222:
            try:
                c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
            except OSError:
                pass
        c.close()
"#;

/// Port → state of the scan's port records.
fn states(recs: &[serde_json::Value]) -> BTreeMap<u64, String> {
    recs.iter()
        .filter(|r| r["type"] == "port")
        .map(|r| {
            (
                r["port"].as_u64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn lab() -> Option<Lab> {
    if !can_run() {
        return None;
    }
    let mut lab = Lab::up();
    lab.spawn_py(SERVERS);
    Some(lab)
}

#[test]
fn connect_and_syn_scans_over_ipv6_agree() {
    let Some(lab) = lab() else { return };
    let want: BTreeMap<u64, String> = [
        (22, "closed"),
        (80, "open"),
        (2222, "open"),
        (4000, "closed"),
    ]
    .into_iter()
    .map(|(p, s)| (p, s.to_string()))
    .collect();
    for target in ["fd79::2", "fd80::25"] {
        // fd79::2 on the link, fd80::25 through the route (a live host that answers all).
        for engine in [&["--connect"][..], &["--syn"][..]] {
            let mut args = vec![target, "-p", "22,80,2222,4000", "--all-ports"];
            args.extend_from_slice(engine);
            let recs = lab.scan(&args);
            assert_eq!(states(&recs), want, "{target} {engine:?}");
            let start = &recs[0];
            assert_eq!(start["scan_type"], engine[0].trim_start_matches("--"));
        }
    }
}

#[test]
fn udp_scan_over_ipv6() {
    let Some(lab) = lab() else { return };
    let recs = lab.scan(&["fd79::2", "-p", "53,54", "--udp", "--all-ports"]);
    let s = states(&recs);
    assert_eq!(s.get(&53).map(String::as_str), Some("open"), "{recs:?}");
    assert_eq!(s.get(&54).map(String::as_str), Some("closed"), "{recs:?}");
}

#[test]
fn service_detection_over_ipv6() {
    let Some(lab) = lab() else { return };
    for engine in ["--connect", "--syn"] {
        let recs = lab.scan(&["fd79::2", "-p", "2222", "-sV", engine]);
        let p = recs
            .iter()
            .find(|r| r["type"] == "port" && r["port"] == 2222)
            .unwrap_or_else(|| panic!("no port record: {recs:?}"));
        assert_eq!(p["state"], "open");
        let svc = &p["service"];
        assert_eq!(svc["name"], "ssh", "{p}");
        assert_eq!(svc["product"], "OpenSSH", "{p}");
        assert_eq!(svc["version"], "9.2p1", "{p}");
    }
}

#[test]
fn discovery_over_ipv6_finds_the_link_neighbour_and_routed_hosts() {
    let Some(lab) = lab() else { return };
    // fd79::2: the neighbour on the link; through the route, fd80::25 answers everything,
    // fd80::89 ICMPv6 only, fd80::ed TCP 443 only; fd80::26 and fd79::3 are nobody.
    let recs = lab.scan(&[
        "-sn", "fd79::2", "fd79::3", "fd80::25", "fd80::26", "fd80::89", "fd80::ed",
    ]);
    let up: Vec<(String, String)> = recs
        .iter()
        .filter(|r| r["type"] == "host" && r["up"] == true)
        .map(|r| {
            (
                r["addr"].as_str().unwrap().to_string(),
                r["up_reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let addrs: Vec<&str> = up.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        addrs,
        ["fd79::2", "fd80::25", "fd80::89", "fd80::ed"],
        "{up:?}"
    );
    let reason = |a: &str| up.iter().find(|(x, _)| x == a).unwrap().1.clone();
    assert_eq!(reason("fd80::89"), "echo-reply");
    assert!(["syn-ack", "reset"].contains(&reason("fd80::ed").as_str()));
}
