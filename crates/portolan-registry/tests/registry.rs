//! The compiled-in registry against the CSV it came from, read by an independent parser.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::collections::HashMap;

use portolan_registry::{Category, EntryKind, Protocol, Registry};
use proptest::prelude::*;

const CSV: &str = include_str!("../data/service-names-port-numbers.csv");

fn independent_rows() -> Vec<csv::StringRecord> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(CSV.as_bytes());
    rdr.records()
        .map(|r| r.expect("csv crate parses the file"))
        .collect()
}

#[test]
fn counts_per_protocol_match_the_csv() {
    let rows = independent_rows();
    let mut want: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        *want.entry(r[2].trim().to_lowercase()).or_default() += 1;
    }
    let reg = Registry::embedded();
    assert_eq!(reg.len(), rows.len());
    for p in Protocol::ALL {
        let got = reg.iter().filter(|e| e.protocol() == Some(p)).count();
        assert_eq!(got, want[p.as_str()], "{p}");
    }
    let none = reg.iter().filter(|e| e.protocol().is_none()).count();
    assert_eq!(none, want[""]);
    // The figures IANA's README states for this export.
    assert_eq!(reg.len(), 14_447);
    assert_eq!(want["tcp"], 6_562);
    assert_eq!(want["udp"], 6_329);
    assert_eq!(want["sctp"], 92);
    assert_eq!(want["dccp"], 11);
    assert_eq!(want[""], 1_453);
}

#[test]
fn every_row_is_in_the_registry_unchanged() {
    let rows = independent_rows();
    let reg = Registry::embedded();
    for (r, e) in rows.iter().zip(reg.iter()) {
        assert_eq!(e.service(), r[0].trim());
        let port = r[1].trim();
        let want = if port.is_empty() {
            None
        } else {
            let (a, b) = port.split_once('-').unwrap_or((port, port));
            Some((a.parse::<u16>().unwrap(), b.parse::<u16>().unwrap()))
        };
        assert_eq!(e.ports(), want, "row {port}");
        assert_eq!(e.protocol().map_or("", |p| p.as_str()), r[2].trim());
        assert_eq!(e.description(), r[3].trim());
        assert_eq!(e.assignee(), r[4].trim());
        assert_eq!(e.reference(), r[8].trim());
        assert_eq!(e.notes(), r[11].trim());
    }
}

#[test]
fn quirks_of_the_real_file() {
    let reg = Registry::embedded();
    // Multi-line quoted notes.
    let w = reg.by_name("whois++").next().expect("whois++");
    assert!(w.notes().contains('\n'));
    assert_eq!(w.kind(), EntryKind::Alias);
    // A range with a service name.
    assert!(reg
        .by_port(6010)
        .any(|e| e.service() == "x11" && e.ports() == Some((6000, 6063))));
    // Unassigned ranges with no protocol apply to every protocol.
    let un: Vec<_> = reg
        .by_port(275)
        .filter(|e| e.kind() == EntryKind::Unassigned)
        .collect();
    assert!(!un.is_empty());
    assert!(un.iter().all(|e| e.protocol().is_none()));
    // Reserved port 0.
    assert!(reg.by_port(0).any(|e| e.kind() == EntryKind::Reserved));
    // A name registered without a port.
    let a: Vec<_> = reg.by_name("argus").collect();
    assert!(a
        .iter()
        .any(|e| e.kind() == EntryKind::NameOnly && e.ports().is_none()));
    // Non-ASCII text survives.
    assert!(reg.iter().any(|e| e.assignee().contains('é')
        || e.contact().contains('é')
        || e.description().contains('é')));
}

#[test]
fn well_known_lookups() {
    let reg = Registry::embedded();
    let redis: Vec<_> = reg
        .by_port(6379)
        .filter(|e| e.kind() == EntryKind::Assigned)
        .collect();
    assert!(redis.iter().any(|e| e.service() == "redis"));
    let dns: Vec<_> = reg
        .by_port(53)
        .filter(|e| e.protocol() == Some(Protocol::Udp))
        .collect();
    assert_eq!(dns[0].service(), "domain");
    let http: Vec<_> = reg.by_name("http").collect();
    assert!(http.iter().any(|e| e.ports() == Some((80, 80))));
    assert!(reg.suggest("shh", 5).iter().any(|n| n == "ssh"));
    assert!(reg.suggest("rediss", 5).iter().any(|n| n == "redis"));
}

#[test]
fn repeated_rows_are_rejected() {
    let path = std::path::Path::new("twice.csv");
    // Every row twice (a file concatenated with itself, header dropped the second time).
    let (header, body) = CSV.split_once('\n').unwrap();
    let twice = format!("{header}\n{body}{body}");
    let e = Registry::from_csv(&twice, path).unwrap_err().to_string();
    assert!(e.contains("repeats line"), "{e}");
    // One row repeated: the line of the repeat and of the original are named.
    let one = CSV.replacen(
        "ssh,22,tcp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,Defined TXT keys: u=<username> p=<password>\r\n",
        "ssh,22,tcp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,Defined TXT keys: u=<username> p=<password>\r\n\
         ssh,22,tcp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,Defined TXT keys: u=<username> p=<password>\r\n",
        1,
    );
    assert!(one.len() > CSV.len(), "the fixture row was not found");
    let e = Registry::from_csv(&one, path).unwrap_err().to_string();
    assert!(
        e.contains("line 51: repeats line 50 exactly (\"ssh\", port 22)"),
        "{e}"
    );
    // Rows that differ in any field are kept (the real file has same name, port and protocol
    // with different notes in places).
    assert!(Registry::from_csv(CSV, path).is_ok());
}

#[test]
fn user_copy_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    std::fs::write(&path, CSV).unwrap();
    let r = Registry::from_file(&path).unwrap();
    assert_eq!(r.len(), Registry::embedded().len());
    assert_eq!(
        r.by_port(22)
            .map(|e| e.service().to_string())
            .collect::<Vec<_>>(),
        Registry::embedded()
            .by_port(22)
            .map(|e| e.service().to_string())
            .collect::<Vec<_>>()
    );
    // Truncated: rejected with a line number or a count, never accepted.
    let cut = &CSV[..CSV.len() / 10];
    std::fs::write(&path, cut).unwrap();
    assert!(Registry::from_file(&path).is_err());
    std::fs::write(&path, "hello,world\n1,2\n").unwrap();
    let e = Registry::from_file(&path).unwrap_err().to_string();
    assert!(e.contains("header"), "{e}");
}

proptest! {
    #[test]
    fn every_port_has_a_category_and_lookups_never_panic(port in any::<u16>()) {
        let c = Category::of(port);
        let (lo, hi) = c.range();
        prop_assert!(lo <= port && port <= hi);
        let reg = Registry::embedded();
        // Every system and user port has at least one record: an assignment, or an
        // unassigned/reserved range. Dynamic ports are never assigned and IANA lists none.
        if c != Category::Dynamic {
            prop_assert!(reg.by_port(port).count() >= 1, "port {} has no record", port);
        }
        for e in reg.by_port(port) {
            let (a, b) = e.ports().expect("by_port yields ported records");
            prop_assert!(a <= port && port <= b);
        }
        for p in Protocol::ALL {
            let _ = portolan_registry::risk::for_port(port, p).count();
        }
    }

    #[test]
    fn name_lookups_never_panic(name in "\\PC{0,24}") {
        let reg = Registry::embedded();
        for e in reg.by_name(&name) {
            prop_assert!(e.service().eq_ignore_ascii_case(&name));
        }
        let _ = reg.suggest(&name, 5);
    }

    #[test]
    fn parser_never_panics(s in "(?s).{0,400}") {
        let _ = portolan_registry::iana::parse(&s);
    }
}

#[test]
fn categories_at_the_edges() {
    assert_eq!(Category::of(0), Category::System);
    assert_eq!(Category::of(1023), Category::System);
    assert_eq!(Category::of(1024), Category::User);
    assert_eq!(Category::of(49151), Category::User);
    assert_eq!(Category::of(49152), Category::Dynamic);
    assert_eq!(Category::of(65535), Category::Dynamic);
}

#[test]
fn by_port_agrees_with_a_full_scan() {
    let reg = Registry::embedded();
    for port in (0..=65535u16)
        .step_by(5)
        .chain([0, 1, 1023, 6000, 6063, 49151, 65535])
    {
        let mut want: Vec<String> = reg
            .iter()
            .filter(|e| e.ports().is_some_and(|(lo, hi)| lo <= port && port <= hi))
            .map(|e| format!("{:?}", e))
            .collect();
        let mut got: Vec<String> = reg.by_port(port).map(|e| format!("{:?}", e)).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "port {port}");
    }
}
