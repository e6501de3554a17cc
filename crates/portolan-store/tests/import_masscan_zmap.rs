//! Importing masscan (`-oJ`, `-oL`) and ZMap CSV output, on both backends. The fixtures are
//! the real tools' output, captured in a lab namespace (tests/lab/lab.sh: listeners on 22, 80
//! and 443 of 10.77.0.0/17; masscan 1.3.2 with `--show closed`, ZMap 2.1.1 with and without
//! `-f`): every open port lands, closed ones are counted but not stored, times come from the
//! file; masscan's stray commas, a file cut short, bad input and any bytes are handled.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

mod backends;

use backends::each_backend;
use portolan_model::{PortState, Protocol, Reason};
use portolan_store::import::{import, read, ImportFormat, ReadOptions, Record};
use portolan_store::{Store, StoreError};
use proptest::prelude::*;

const MASSCAN_JSON: &str = include_str!("fixtures/masscan.json");
const MASSCAN_LIST: &str = include_str!("fixtures/masscan.lst");
const ZMAP_FIELDS: &str = include_str!("fixtures/zmap-fields.csv");
const ZMAP_DEFAULT: &str = include_str!("fixtures/zmap-default.csv");

fn mem() -> Store {
    Store::open_path(std::path::Path::new(":memory:")).unwrap()
}

/// (addr, port, state) of every stored port, sorted.
fn stored(s: &mut Store, id: i64) -> Vec<(String, u16, PortState)> {
    let r = s.scan(id).unwrap();
    let mut v: Vec<_> = r
        .hosts
        .iter()
        .flat_map(|h| h.ports.iter())
        .map(|p| (p.addr.to_string(), p.port, p.state))
        .collect();
    v.sort();
    v
}

fn open4(hosts: &[&str], ports: &[u16]) -> Vec<(String, u16, PortState)> {
    let mut v: Vec<_> = hosts
        .iter()
        .flat_map(|h| {
            ports
                .iter()
                .map(move |p| (h.to_string(), *p, PortState::Open))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_formats_are_recognised_by_content() {
    let sniff = |s: &str| ImportFormat::sniff(s.as_bytes());
    assert_eq!(sniff(MASSCAN_JSON), Some(ImportFormat::MasscanJson));
    assert_eq!(sniff(MASSCAN_LIST), Some(ImportFormat::MasscanList));
    assert_eq!(sniff(ZMAP_FIELDS), Some(ImportFormat::ZmapCsv));
    assert_eq!(sniff(ZMAP_DEFAULT), Some(ImportFormat::ZmapCsv));
}

#[test]
fn masscan_json_and_list_land_whole() {
    each_backend(|db| {
        for (fmt, text, file) in [
            (ImportFormat::MasscanJson, MASSCAN_JSON, "masscan.json"),
            (ImportFormat::MasscanList, MASSCAN_LIST, "masscan.lst"),
        ] {
            let opts = ReadOptions::default();
            let got = import(db.open(), fmt, text.as_bytes(), file, &opts).unwrap();
            // 10.77.0.1 and .2: 22 and 80 open, 81 closed (not stored).
            assert_eq!((got.hosts, got.ports, got.open), (2, 4, 4), "{file}");
            let mut s = db.open();
            assert_eq!(
                stored(&mut s, got.scan_id),
                open4(&["10.77.0.1", "10.77.0.2"], &[22, 80]),
                "{file}"
            );
            let info = s.scan_info(got.scan_id).unwrap();
            assert_eq!(info.scanner, "masscan");
            assert_eq!(info.status, "done", "{file}");
            assert_eq!(info.targets, format!("masscan (imported from {file})"));
            assert_eq!((info.stats.open, info.stats.closed), (4, 2), "{file}");
            assert!(info.started >= 1_795_979_328.0, "{file}: {}", info.started);
            let r = s.scan(got.scan_id).unwrap();
            let p = &r.hosts[0].ports[0];
            assert_eq!((p.proto, p.reason), (Protocol::Tcp, Reason::SynAck));
            if fmt == ImportFormat::MasscanJson {
                assert_eq!(p.ttl, Some(64));
            }
        }
    });
}

#[test]
fn zmap_csv_with_fields_and_default_output() {
    each_backend(|db| {
        let got = import(
            db.open(),
            ImportFormat::ZmapCsv,
            ZMAP_FIELDS.as_bytes(),
            "zmap.csv",
            &ReadOptions::default(),
        )
        .unwrap();
        let all = ["10.77.0.0", "10.77.0.1", "10.77.0.2", "10.77.0.3"];
        let mut s = db.open();
        assert_eq!(stored(&mut s, got.scan_id), open4(&all, &[80]));
        let info = s.scan_info(got.scan_id).unwrap();
        assert_eq!(info.scanner, "zmap");
        // 2026-11-29T19:09:07.798+0000
        assert_eq!(info.started, 1_795_979_347.0);

        // The default output (addresses only) needs the port.
        let e = import(
            db.open(),
            ImportFormat::ZmapCsv,
            ZMAP_DEFAULT.as_bytes(),
            "zmap.txt",
            &ReadOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("--port"), "{e}");
        let opts = ReadOptions { port: Some(80) };
        let got = import(
            db.open(),
            ImportFormat::ZmapCsv,
            ZMAP_DEFAULT.as_bytes(),
            "zmap.txt",
            &opts,
        )
        .unwrap();
        assert_eq!(stored(&mut s, got.scan_id), open4(&all, &[80]));
    });
}

#[test]
fn zmap_closed_and_repeated_rows() {
    let csv = "saddr,sport,classification,success,repeat,timestamp-ts\n\
               192.0.2.1,443,synack,1,0,1700000000\n\
               192.0.2.1,443,synack,1,1,1700000001\n\
               192.0.2.2,443,rst,0,0,1700000002\n";
    let mut ports = Vec::new();
    read(
        ImportFormat::ZmapCsv,
        csv.as_bytes(),
        "z.csv",
        &ReadOptions::default(),
        &mut |r| {
            if let Record::Port(ev, _) = r {
                ports.push((ev.addr.to_string(), ev.state));
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        ports,
        vec![
            ("192.0.2.1".to_string(), PortState::Open),
            ("192.0.2.2".to_string(), PortState::Closed)
        ]
    );
}

#[test]
fn masscan_json_commas_in_any_place_and_a_file_cut_short() {
    // Older masscan: a comma after the last object, before the `]`; strings with braces.
    let old = "[\n{ \"ip\": \"192.0.2.9\", \"timestamp\": \"1700000000\", \"ports\": [ \
               {\"port\": 8080, \"proto\": \"tcp\", \"status\": \"open\", \"reason\": \"syn-ack\", \"ttl\": 0} ] },\n\
               { \"ip\": \"192.0.2.9\", \"timestamp\": \"1700000000\", \"ports\": [ \
               {\"port\": 8080, \"proto\": \"tcp\", \"service\": {\"name\": \"http\", \"banner\": \"}{][\\\"\"} } ] },\n]\n";
    let got = import(
        mem(),
        ImportFormat::MasscanJson,
        old.as_bytes(),
        "old.json",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!((got.hosts, got.ports, got.open), (1, 1, 1));

    // Cut in the middle of the third record: two ports kept, the scan marked interrupted.
    let cut = &MASSCAN_JSON[..MASSCAN_JSON
        .find("10.77.0.2\",   \"timestamp\": \"1795979332\", \"ports\": [ {\"port\": 81")
        .unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let got = import(
        Store::open_path(&path).unwrap(),
        ImportFormat::MasscanJson,
        cut.as_bytes(),
        "cut.json",
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(got.ports, 2);
    let info = Store::open_path(&path)
        .unwrap()
        .scan_info(got.scan_id)
        .unwrap();
    assert_eq!(info.status, "interrupted");
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let cases: [(ImportFormat, &str, &str); 6] = [
        (ImportFormat::MasscanJson, "[ nope ]", "not masscan JSON"),
        (
            ImportFormat::MasscanJson,
            "[ {\"ip\": \"999.1.1.1\", \"ports\": []} ]",
            "not an IP address",
        ),
        (ImportFormat::MasscanJson, "[ ]", "no port"),
        (
            ImportFormat::MasscanList,
            "open tcp 99999 10.0.0.1 1\n",
            "not a port number",
        ),
        (
            ImportFormat::ZmapCsv,
            "daddr,sport\n10.0.0.1,80\n",
            "without a saddr",
        ),
        (
            ImportFormat::ZmapCsv,
            "saddr,sport\nfoo,80\n",
            "not an IP address",
        ),
    ];
    for (fmt, text, want) in cases {
        let e = import(mem(), fmt, text.as_bytes(), "f", &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, StoreError::Input(_)), "{text}: {e}");
        assert!(e.to_string().contains(want), "{text}: {e}");
    }
    // One endless line is refused, not held.
    let long = format!("saddr\n{}", "1".repeat(2 << 20));
    let e = import(
        mem(),
        ImportFormat::ZmapCsv,
        long.as_bytes(),
        "f",
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("longer than"), "{e}");
}

fn each_reader(data: &[u8]) {
    for fmt in [
        ImportFormat::MasscanJson,
        ImportFormat::MasscanList,
        ImportFormat::ZmapCsv,
    ] {
        let opts = ReadOptions { port: Some(1) };
        let mut n = 0usize;
        let r = read(fmt, data, "any", &opts, &mut |rec| {
            // A start before anything else, an end last.
            match (n, &rec) {
                (0, Record::Start(_)) => {}
                (0, other) => panic!("{fmt:?}: first record {other:?}"),
                _ => assert!(!matches!(rec, Record::Start(_))),
            }
            n += 1;
            Ok(())
        });
        let _ = r;
    }
}

proptest! {
    #[test]
    fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        each_reader(&data);
    }

    #[test]
    fn masscan_like_text_never_panics(s in "[\\[\\]{},\" a-z0-9:.\\\\\n]{0,300}") {
        each_reader(s.as_bytes());
    }

    #[test]
    fn masscan_list_round_trips(rows in proptest::collection::vec((any::<[u8; 4]>(), 1u16.., any::<bool>()), 1..20)) {
        let mut text = String::from("#masscan\n");
        for (a, p, open) in &rows {
            let ip = std::net::Ipv4Addr::from(*a);
            text.push_str(&format!("{} tcp {p} {ip} 1700000000\n", if *open { "open" } else { "closed" }));
        }
        text.push_str("# end\n");
        let mut got = Vec::new();
        read(ImportFormat::MasscanList, text.as_bytes(), "l", &ReadOptions::default(), &mut |r| {
            if let Record::Port(ev, _) = r { got.push((ev.addr, ev.port, ev.state == PortState::Open)); }
            Ok(())
        }).unwrap();
        let want: Vec<_> = rows.iter().map(|(a, p, o)| (std::net::IpAddr::from(*a), *p, *o)).collect();
        prop_assert_eq!(got, want);
    }
}
