//! Importing nmap XML and Portolan JSON Lines, on both backends: every field nmap -sV writes
//! (service, product, version, extra info, tunnel, CPEs, scripts, hostnames, extraports,
//! IPv6) lands in the store; a file cut short keeps its complete hosts and is marked
//! interrupted; what is not nmap XML is refused with a message; no input makes it panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

mod backends;

use backends::each_backend;
use portolan_model::{PortState, Reason, ServiceMethod};
use portolan_store::import::{import_jsonl, import_nmap_xml, ImportFormat};
use portolan_store::{Store, StoreError};
use proptest::prelude::*;

const NMAP_SV: &str = include_str!("fixtures/nmap-sv.xml");

#[test]
fn nmap_sv_xml_lands_whole() {
    each_backend(|db| {
        let got = import_nmap_xml(db.open(), NMAP_SV.as_bytes(), "nmap-sv.xml").unwrap();
        // 192.0.2.1 (22 open, 80 filtered, 6379 open) and 2001:db8::5 (443 open); the down
        // host without ports is not a host with something to report.
        assert_eq!((got.hosts, got.ports, got.open), (2, 4, 3));
        let mut s = db.open();
        let info = s.scan_info(got.scan_id).unwrap();
        assert_eq!(info.status, "done");
        assert_eq!(info.kind, "syn");
        assert_eq!(info.scanner, "nmap");
        assert_eq!(info.ports, "22,25,80,443,6379");
        assert_eq!(
            info.targets,
            "nmap -sV -p 22,25,80,443,6379 -oX out.xml 192.0.2.0/30"
        );
        assert_eq!(info.started, 1_795_860_000.0);
        assert_eq!(info.ended, Some(1_795_860_010.0));
        assert_eq!(
            (info.stats.open, info.stats.closed, info.stats.filtered),
            (3, 2, 1)
        );

        let r = s.scan(got.scan_id).unwrap();
        assert_eq!(r.hosts.len(), 2);
        let h = &r.hosts[0];
        assert_eq!(h.addr.to_string(), "192.0.2.1");
        assert_eq!(h.hostname.as_deref(), Some("gw.example"));
        assert!(h.up);
        assert_eq!(h.srtt_us, Some(312));
        assert_eq!(h.extra.len(), 1);
        assert_eq!((h.extra[0].state, h.extra[0].count), (PortState::Closed, 2));
        let ports: Vec<(u16, PortState)> = h.ports.iter().map(|p| (p.port, p.state)).collect();
        assert_eq!(
            ports,
            vec![
                (22, PortState::Open),
                (80, PortState::Filtered),
                (6379, PortState::Open)
            ]
        );
        let ssh = h.ports[0].service.as_ref().unwrap();
        assert_eq!(ssh.name, "ssh");
        assert_eq!(ssh.product.as_deref(), Some("OpenSSH"));
        assert_eq!(ssh.version.as_deref(), Some("9.2p1 Debian 2+deb12u3"));
        assert_eq!(ssh.extrainfo.as_deref(), Some("protocol 2.0"));
        assert_eq!(ssh.method, ServiceMethod::Probed);
        assert_eq!(ssh.conf, 10);
        let cpes: Vec<&str> = ssh.cpe.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            cpes,
            vec!["cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel"]
        );
        assert_eq!(h.ports[0].ttl, Some(64));
        assert_eq!(h.ports[0].reason, Reason::SynAck);
        assert_eq!(h.ports[1].ttl, None);
        let redis = h.ports[2].service.as_ref().unwrap();
        assert_eq!(
            redis.details.as_ref().unwrap()["scripts"][0]["output"],
            "\n  Version: 7.0.15\n  Mode: standalone & <no auth>"
        );
        let v6 = &r.hosts[1];
        assert_eq!(v6.addr.to_string(), "2001:db8::5");
        let tls = v6.ports[0].service.as_ref().unwrap();
        assert_eq!(tls.tunnel.as_deref(), Some("ssl"));
        assert_eq!(tls.product.as_deref(), Some("nginx"));

        // Queries see it: the redis product, by substring.
        let f = portolan_store::Filter {
            product: Some("key-value".into()),
            ..Default::default()
        };
        assert_eq!(s.ports(&f).unwrap().len(), 1);
        // The same file again is the same targets: a diff of the two is empty.
        let again = import_nmap_xml(db.open(), NMAP_SV.as_bytes(), "nmap-sv.xml").unwrap();
        assert_eq!(
            s.previous_scan(again.scan_id).unwrap().map(|i| i.id),
            Some(got.scan_id)
        );
        assert!(portolan_model::diff(
            &s.scan(got.scan_id).unwrap(),
            &s.scan(again.scan_id).unwrap()
        )
        .is_empty());
    });
}

#[test]
fn a_file_cut_short_keeps_its_complete_hosts() {
    // Cut inside the third host: the first host is whole, the third is lost.
    let cut = &NMAP_SV[..NMAP_SV.find("2001:db8::5").unwrap()];
    let db = Store::open_path(std::path::Path::new(":memory:")).unwrap();
    let got = import_nmap_xml(db, cut.as_bytes(), "cut.xml");
    // quick-xml reports the unclosed elements at the end of input as an error, or ends
    // cleanly: either way no panic, and a clean end marks the scan interrupted.
    if let Ok(got) = got {
        assert_eq!(got.ports, 3);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let cut_at_host_end = &NMAP_SV[..NMAP_SV.find("<host><status").unwrap()];
    let got = import_nmap_xml(
        Store::open_path(&path).unwrap(),
        cut_at_host_end.as_bytes(),
        "cut.xml",
    )
    .unwrap();
    let mut s = Store::open_path(&path).unwrap();
    let info = s.scan_info(got.scan_id).unwrap();
    assert_eq!(info.status, "interrupted");
    assert_eq!(info.ports_stored, 3);
}

/// An nmap XML file of `n` hosts, host i with port 1000 + i open.
fn many_hosts(n: u32) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\"?>\n<nmaprun scanner=\"nmap\" args=\"nmap 10.0.0.0/16\" start=\"1700000000\">\n\
         <scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"1\" services=\"1-65535\"/>\n",
    );
    for i in 0..n {
        x.push_str(&format!(
            "<host><status state=\"up\" reason=\"syn-ack\"/><address addr=\"10.0.{}.{}\" addrtype=\"ipv4\"/>\
             <ports><port protocol=\"tcp\" portid=\"{}\"><state state=\"open\" reason=\"syn-ack\"/></port></ports></host>\n",
            i >> 8,
            i & 255,
            1000 + i
        ));
    }
    x
}

#[test]
fn an_import_read_beside_its_writes_keeps_every_record_in_order() {
    // More hosts than the reader hands the writer at once, times the hand-offs that may wait:
    // every host lands, each with its own port.
    let text = many_hosts(3000)
        + "<runstats><finished time=\"1700000100\" exit=\"success\"/></runstats></nmaprun>\n";
    each_backend(|db| {
        let got = import_nmap_xml(db.open(), text.as_bytes(), "many.xml").unwrap();
        assert_eq!((got.hosts, got.ports, got.open), (3000, 3000, 3000));
        let mut s = db.open();
        let info = s.scan_info(got.scan_id).unwrap();
        assert_eq!(info.status, "done");
        assert_eq!((info.ports_stored, info.hosts_stored), (3000, 3000));
        let r = s.scan(got.scan_id).unwrap();
        for h in &r.hosts {
            let i = match h.addr {
                std::net::IpAddr::V4(a) => u32::from(a.octets()[2]) << 8 | u32::from(a.octets()[3]),
                _ => panic!("{}", h.addr),
            };
            let ports: Vec<u16> = h.ports.iter().map(|p| p.port).collect();
            assert_eq!(ports, vec![1000 + i as u16], "{}", h.addr);
        }
    });
}

#[test]
fn a_bad_file_says_why_after_what_came_before_it() {
    // Malformed after 2000 hosts: the reader's error is the one reported (not the hand-off's),
    // and nothing is marked done.
    let text = many_hosts(2000) + "<host><status state=\"up\"/></oops></nmaprun>\n";
    let mem = Store::open_path(std::path::Path::new(":memory:")).unwrap();
    let e = import_nmap_xml(mem, text.as_bytes(), "bad.xml").unwrap_err();
    assert!(matches!(e, StoreError::Input(_)), "{e:?}");
    assert!(
        e.to_string().contains("bad.xml: not well-formed XML"),
        "{e}"
    );
}

#[test]
fn what_is_not_nmap_xml_is_refused_with_a_message() {
    let mem = || Store::open_path(std::path::Path::new(":memory:")).unwrap();
    let e = import_nmap_xml(mem(), &b"<html><body/></html>"[..], "page.html").unwrap_err();
    assert!(matches!(e, StoreError::Input(_)));
    assert!(e.to_string().contains("not an nmap XML file"), "{e}");
    let e = import_nmap_xml(
        mem(),
        &b"<nmaprun><host><address addr='x' addrtype='ipv4'/></host></nmaprun>"[..],
        "x.xml",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not an IP address"), "{e}");
    let e = import_jsonl(mem(), &b"{\"type\":\"port\"}\n"[..], "x.jsonl").unwrap_err();
    assert!(e.to_string().contains("before the start record"), "{e}");
    let e = import_jsonl(mem(), &b"not json\n"[..], "x.jsonl").unwrap_err();
    assert!(e.to_string().contains("line 1"), "{e}");
    assert_eq!(ImportFormat::sniff(b"  <?xml"), Some(ImportFormat::NmapXml));
    assert_eq!(
        ImportFormat::sniff(b"{\"type\""),
        Some(ImportFormat::PortolanJsonl)
    );
    assert_eq!(ImportFormat::sniff(b"PK\x03\x04"), None);
    assert_eq!(ImportFormat::sniff(b""), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes: an error or a stored scan, never a panic.
    #[test]
    fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let db = Store::open_path(std::path::Path::new(":memory:")).unwrap();
        let _ = import_nmap_xml(db, data.as_slice(), "fuzz.xml");
        let db = Store::open_path(std::path::Path::new(":memory:")).unwrap();
        let _ = import_jsonl(db, data.as_slice(), "fuzz.jsonl");
    }

    /// The real file with bytes changed: never a panic.
    #[test]
    fn mutated_nmap_xml_never_panics(at in 0usize..NMAP_SV.len(), b in any::<u8>()) {
        let mut data = NMAP_SV.as_bytes().to_vec();
        data[at] = b;
        let db = Store::open_path(std::path::Path::new(":memory:")).unwrap();
        let _ = import_nmap_xml(db, data.as_slice(), "fuzz.xml");
    }
}
