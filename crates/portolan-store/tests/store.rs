//! The store as a library, on both backends: a scan written through the sink reads back as
//! the same report; migrations; a newer store refused; concurrent writers; committed batches
//! kept when the writer dies; queries and housekeeping.
//!
//! Every test runs on SQLite and on PostgreSQL (a fresh database per test on the server
//! `PORTOLAN_TEST_PG` names, which `.ci/services/store.sh` starts). Without that variable the
//! PostgreSQL half is skipped with a message, except under CI, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{
    diff, Change, Cpe, EventSink, Exposure, HostReport, PortEvent, PortState, Protocol, Reason,
    ScanReport, ScanStart, ScanStats, Service, ServiceMethod, Severity,
};
use portolan_store::{Filter, Store, StoreError, Targets};

mod backends;
use backends::{each_backend, Backend};

fn ev(addr: &str, port: u16, state: PortState) -> PortEvent {
    PortEvent {
        addr: addr.parse().unwrap(),
        port,
        proto: Protocol::Tcp,
        state,
        reason: match state {
            PortState::Open => Reason::SynAck,
            PortState::Closed => Reason::ConnRefused,
            _ => Reason::NoResponse,
        },
        rtt: Some(Duration::from_micros(120)),
        ttl: Some(64),
        service: None,
    }
}

fn start(at: u64) -> ScanStart {
    ScanStart {
        args: "portolan scan 192.0.2.0/24 -p 1-1000".into(),
        num_ports: 1000,
        ports: "1-1000".into(),
        proto: Protocol::Tcp,
        resumed_from: None,
        scan_type: "connect".into(),
        scanner: "portolan".into(),
        seed: 7,
        shard: "0/1".into(),
        targets: 256,
        time: UNIX_EPOCH + Duration::from_secs(at),
        version: "0.1.0".into(),
    }
}

/// The report a scan of `events` gives (as the session builds it).
fn report(events: &[PortEvent], at: u64) -> ScanReport {
    let mut b = portolan_model::ReportBuilder::new(true, false);
    for e in events {
        b.add(e.clone());
    }
    ScanReport {
        scan_type: "connect".into(),
        proto: Protocol::Tcp,
        args: "portolan scan 192.0.2.0/24 -p 1-1000".into(),
        ports_spec: "1-1000".into(),
        num_ports: 1000,
        start: UNIX_EPOCH + Duration::from_secs(at),
        end: UNIX_EPOCH + Duration::from_secs(at + 5),
        hosts: b.finish(|_| None),
        targets_total: 256,
        host_discovery: String::new(),
        stats: ScanStats {
            planned: events.len() as u64,
            completed: events.len() as u64,
            ..Default::default()
        },
    }
}

/// Run `events` through a sink into the store at `path`; returns the scan id.
fn write_scan(db: &Backend, targets: &str, events: &[PortEvent], at: u64) -> i64 {
    let mut sink = db
        .open()
        .sink(Targets(targets.into()))
        .with_batch(3, Duration::from_secs(3600));
    sink.start(&start(at)).unwrap();
    for e in events {
        sink.port(e, UNIX_EPOCH + Duration::from_secs(at + 1))
            .unwrap();
    }
    sink.finish(&report(events, at)).unwrap();
    sink.scan_id().unwrap()
}

fn redis() -> Service {
    Service {
        conf: 10,
        cpe: vec![Cpe::parse("cpe:/a:redis:redis:7.0.11").unwrap()],
        details: Some(serde_json::json!({"banner": "+PONG"})),
        exposures: vec![Exposure {
            evidence: "+PONG".into(),
            id: "redis-no-auth".into(),
            severity: Severity::High,
            title: "Redis answers without authentication".into(),
        }],
        extrainfo: None,
        method: ServiceMethod::Probed,
        name: "redis".into(),
        product: Some("Redis key-value store".into()),
        scripts: Vec::new(),
        tunnel: None,
        version: Some("7.0.11".into()),
    }
}

#[test]
fn a_scan_reads_back_as_its_report_without_closed_ports() {
    each_backend(|db| {
        let mut redis_port = ev("192.0.2.5", 6379, PortState::Open);
        redis_port.service = Some(redis());
        let mut events = vec![
            ev("192.0.2.5", 22, PortState::Open),
            redis_port,
            ev("192.0.2.5", 23, PortState::Closed),
            ev("192.0.2.5", 25, PortState::Filtered),
            ev("192.0.2.9", 80, PortState::Open),
        ];
        for p in 100..140 {
            events.push(ev("192.0.2.9", p, PortState::Closed));
        }
        let id = write_scan(db, "192.0.2.0/24", &events, 1_000);
        let mut store = db.open();
        store.check().unwrap();
        let back = store.scan(id).unwrap();
        let want = report(&events, 1_000);
        // Every port that is not closed, with its service, exactly; closed ports not stored.
        let ports = |r: &ScanReport| -> Vec<PortEvent> {
            r.hosts
                .iter()
                .flat_map(|h| h.ports.iter().filter(|p| p.state != PortState::Closed))
                .cloned()
                .collect()
        };
        assert_eq!(ports(&back), ports(&want));
        assert!(back
            .hosts
            .iter()
            .flat_map(|h| &h.ports)
            .all(|p| p.state != PortState::Closed));
        // The 40 closed ports of .9 are folded into its counts, as the scan reported them.
        let h9: &HostReport = back
            .hosts
            .iter()
            .find(|h| h.addr == "192.0.2.9".parse::<IpAddr>().unwrap())
            .unwrap();
        assert_eq!(h9.extra.len(), 1);
        assert_eq!(h9.extra[0].count, 40);
        let info = store.scan_info(id).unwrap();
        assert_eq!(info.status, "done");
        assert_eq!(info.targets, "192.0.2.0/24");
        assert_eq!(info.ports_stored, 4);
        assert_eq!(info.hosts_stored, 2);
        assert_eq!(info.seed, 7);
        // The diff of a scan with its stored copy is empty.
        assert!(diff(&back, &back).is_empty());
    });
}

#[test]
fn a_store_newer_than_the_binary_is_refused() {
    each_backend(|db| {
        let mut s = db.open();
        assert_eq!(s.schema_version().unwrap(), portolan_store::schema::VERSION);
        drop(s);
        db.set_schema_version(portolan_store::schema::VERSION + 1);
        let e = Store::open(Some(&db.spec)).unwrap_err();
        assert!(matches!(e, StoreError::TooNew { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("newer than this portolan"), "{msg}");
        assert!(msg.contains("upgrade portolan"), "{msg}");
    });
}

#[test]
fn opening_migrates_and_reopening_keeps_data() {
    each_backend(|db| {
        let id = write_scan(db, "t", &[ev("192.0.2.1", 22, PortState::Open)], 10);
        for _ in 0..3 {
            let mut s = db.open();
            assert_eq!(s.scans().unwrap().len(), 1);
            assert_eq!(s.scan_info(id).unwrap().ports_stored, 1);
            assert_eq!(s.is_postgres(), db.is_pg());
        }
    });
    // A missing directory is a clear error, not a panic.
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open_path(&dir.path().join("no/such/dir/s.db")).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    // A server that is not there: a clear error that hides the password.
    let e = Store::open(Some("postgres://u:secret@%2Fnonexistent%2Fdir:5432/p")).unwrap_err();
    assert!(e.to_string().contains("cannot connect"), "{e}");
    assert!(!e.to_string().contains("secret"), "{e}");
}

#[test]
fn two_writers_at_once_both_land_whole() {
    each_backend(|db| {
        drop(db.open());
        let handles: Vec<_> = (0..2u8)
            .map(|w| {
                let spec = db.spec.clone();
                std::thread::spawn(move || {
                    let events: Vec<PortEvent> = (1..=3000u16)
                        .map(|p| ev(&format!("198.51.100.{}", w + 1), p, PortState::Open))
                        .collect();
                    let mut sink = Store::open(Some(&spec))
                        .unwrap()
                        .sink(Targets(format!("writer {w}")))
                        .with_batch(50, Duration::from_secs(3600));
                    sink.start(&start(100)).unwrap();
                    for e in &events {
                        sink.port(e, SystemTime::now()).unwrap();
                    }
                    sink.finish(&report(&events, 100)).unwrap();
                    sink.scan_id().unwrap()
                })
            })
            .collect();
        let ids: Vec<i64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut s = db.open();
        for id in ids {
            let info = s.scan_info(id).unwrap();
            assert_eq!(info.status, "done");
            assert_eq!(info.ports_stored, 3000, "{info:?}");
            assert_eq!(s.scan(id).unwrap().hosts[0].ports.len(), 3000);
        }
    });
}

#[test]
fn committed_batches_survive_a_writer_that_never_finishes() {
    each_backend(|db| {
        let mut sink = db
            .open()
            .sink(Targets("t".into()))
            .with_batch(10, Duration::from_secs(3600));
        sink.start(&start(5)).unwrap();
        for p in 1..=25u16 {
            sink.port(&ev("192.0.2.1", p, PortState::Open), SystemTime::now())
                .unwrap();
        }
        assert_eq!(sink.committed(), 20);
        // The writer dies here: no flush, no finish (the process is killed).
        std::mem::forget(sink);
        let mut s = db.open();
        s.check().unwrap();
        let info = &s.scans().unwrap()[0];
        assert_eq!(info.status, "running");
        assert_eq!(info.ports_stored, 20);
    });
}

#[test]
fn history_queries_and_housekeeping() {
    each_backend(|db| {
        let day = 86_400;
        let mut r1 = ev("10.0.0.5", 6379, PortState::Open);
        r1.service = Some(redis());
        let a = write_scan(
            db,
            "10.0.0.0/24",
            &[ev("10.0.0.5", 22, PortState::Open), r1.clone()],
            100 * day,
        );
        let b = write_scan(
            db,
            "10.0.0.0/24",
            &[
                ev("10.0.0.5", 22, PortState::Open),
                ev("10.0.0.5", 443, PortState::Open),
                ev("10.0.0.6", 22, PortState::Filtered),
            ],
            107 * day,
        );
        let other = write_scan(
            db,
            "10.9.0.0/24",
            &[ev("10.9.0.1", 80, PortState::Open)],
            108 * day,
        );
        let mut s = db.open();

        // previous_scan: the same targets only.
        assert_eq!(s.previous_scan(b).unwrap().map(|i| i.id), Some(a));
        assert_eq!(s.previous_scan(other).unwrap(), None);
        assert_eq!(s.latest_scan().unwrap().map(|i| i.id), Some(other));

        // The diff of the two stored scans: 6379 gone, 443 new, .6:22 new (filtered).
        let d = diff(&s.scan(a).unwrap(), &s.scan(b).unwrap());
        let got: Vec<(String, u16, &str)> = d
            .iter()
            .map(|x| {
                let k = match x.change {
                    Change::Added(_) => "added",
                    Change::Removed(_) => "removed",
                    Change::Changed { .. } => "changed",
                };
                (x.key.addr.to_string(), x.key.port, k)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.0.0.5".into(), 443, "added"),
                ("10.0.0.5".into(), 6379, "removed"),
                ("10.0.0.6".into(), 22, "added"),
            ]
        );

        // History of one host: both scans of its network, port by port.
        let h = s.history("10.0.0.5".parse().unwrap()).unwrap();
        assert_eq!(h.iter().map(|x| x.scan.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(
            h[0].ports.iter().map(|p| p.port).collect::<Vec<_>>(),
            vec![22, 6379]
        );
        assert_eq!(h[0].ports[1].service, Some(redis()));
        assert_eq!(
            h[1].ports.iter().map(|p| p.port).collect::<Vec<_>>(),
            vec![22, 443]
        );

        // Filters.
        let now = UNIX_EPOCH + Duration::from_secs(110 * day);
        let f = Filter {
            service: Some("REDIS".into()),
            ..Default::default()
        };
        let hosts = s.hosts(&f).unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].addr.to_string(), "10.0.0.5");
        assert_eq!(hosts[0].open_ports, vec![(Protocol::Tcp, 6379)]);
        let since_7d = Filter {
            since: Some(portolan_store::when::parse_when("7d", now).unwrap()),
            ..Default::default()
        };
        let recent: Vec<u16> = s.ports(&since_7d).unwrap().iter().map(|p| p.port).collect();
        assert_eq!(recent, vec![22, 443, 22, 80]);
        let net = Filter {
            net: Some("10.0.0.0/24".parse().unwrap()),
            port: Some(22),
            ..Default::default()
        };
        let p22 = s.ports(&net).unwrap();
        assert_eq!(p22.len(), 2);
        assert_eq!((p22[0].scans, p22[0].state), (2, PortState::Open));
        assert_eq!((p22[1].scans, p22[1].state), (1, PortState::Filtered));
        let product = Filter {
            product: Some("key-value".into()),
            ..Default::default()
        };
        assert_eq!(s.ports(&product).unwrap().len(), 1);
        let filtered = Filter {
            state: Some(PortState::Filtered),
            ..Default::default()
        };
        assert_eq!(s.ports(&filtered).unwrap()[0].addr.to_string(), "10.0.0.6");

        // Housekeeping: prune what started before day 105 (scan a), delete one by id.
        assert_eq!(
            s.prune(UNIX_EPOCH + Duration::from_secs(105 * day))
                .unwrap(),
            1
        );
        assert!(matches!(s.scan_info(a), Err(StoreError::NoScan(_))));
        assert!(s.delete_scan(other).unwrap());
        assert!(!s.delete_scan(other).unwrap());
        assert_eq!(s.scans().unwrap().len(), 1);
        // Deleting a scan deletes its ports and hosts too.
        assert_eq!(s.history("10.9.0.1".parse().unwrap()).unwrap().len(), 0);
        assert_eq!(s.history("10.0.0.5".parse().unwrap()).unwrap().len(), 1);
        s.check().unwrap();
    });
}

/// A scan's sink streams only open ports while it runs; a filtered range is stored as its
/// report keeps it (a bounded list per host and the count of the rest, as nmap's
/// `extraports`), not as one row per probe. Open ports are durable before the scan ends.
#[test]
fn a_scan_of_a_filtered_range_stores_what_its_report_keeps() {
    each_backend(|db| {
        let mut events = vec![ev("192.0.2.7", 22, PortState::Open)];
        for p in 1000..3000 {
            events.push(ev("192.0.2.7", p, PortState::Filtered));
        }
        let mut sink = db
            .open()
            .sink(Targets("192.0.2.7".into()))
            .with_batch(1, Duration::from_secs(3600))
            .open_ports_while_running();
        sink.start(&start(2_000)).unwrap();
        for e in &events {
            sink.port(e, UNIX_EPOCH + Duration::from_secs(2_001))
                .unwrap();
        }
        // Before the end: the open port is committed, the filtered ones are not written.
        assert_eq!(sink.committed(), 1);
        let id = sink.scan_id().unwrap();
        let want = report(&events, 2_000);
        sink.finish(&want).unwrap();
        let mut store = db.open();
        let back = store.scan(id).unwrap();
        let listed = |r: &ScanReport| -> Vec<PortEvent> {
            r.hosts.iter().flat_map(|h| h.ports.clone()).collect()
        };
        assert_eq!(listed(&back), listed(&want));
        assert!(listed(&back).len() < 2001, "one row per filtered probe");
        let h = &back.hosts[0];
        let counted: u64 = h.extra.iter().map(|x| x.count).sum();
        assert_eq!(
            counted + h.ports.len() as u64,
            2001,
            "every probed port is listed or counted"
        );
    });
}

#[test]
fn a_service_that_is_the_port_tables_guess_is_stored_without_its_json_and_reads_back_the_same() {
    each_backend(|db| {
        let guess = |name: &str| Service {
            conf: 3,
            method: ServiceMethod::Table,
            name: name.into(),
            ..Default::default()
        };
        // The guess itself, and services that differ from it in one field each: only the
        // first is stored without its JSON, and each reads back as it was.
        let mut services = vec![guess("http"), guess("ssh")];
        let mut differ = |f: &dyn Fn(&mut Service)| {
            let mut s = guess("http");
            f(&mut s);
            services.push(s);
        };
        differ(&|s| s.conf = 0);
        differ(&|s| s.conf = 10);
        differ(&|s| s.method = ServiceMethod::Probed);
        differ(&|s| s.tunnel = Some("ssl".into()));
        differ(&|s| s.product = Some("nginx".into()));
        differ(&|s| s.version = Some("1.25".into()));
        differ(&|s| s.extrainfo = Some("Ubuntu".into()));
        differ(&|s| s.cpe = vec![Cpe::parse("cpe:/a:nginx:nginx").unwrap()]);
        differ(&|s| s.details = Some(serde_json::json!({"title": "x"})));
        differ(&|s| s.exposures = redis().exposures);
        differ(&|s| {
            s.scripts = vec![portolan_model::Script {
                id: "x".into(),
                output: "y".into(),
                ..Default::default()
            }]
        });
        let events: Vec<PortEvent> = services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut e = ev("192.0.2.7", 8000 + i as u16, PortState::Open);
                e.service = Some(s.clone());
                e
            })
            .collect();
        let id = write_scan(db, "192.0.2.7", &events, 1_000);
        assert_eq!(
            db.count("SELECT count(*) FROM ports WHERE service_json = ''"),
            2,
            "{}: the two guesses (http, ssh) without their JSON",
            db.name
        );
        assert_eq!(
            db.count("SELECT count(*) FROM ports WHERE service_json <> ''"),
            services.len() as i64 - 2,
            "{}",
            db.name
        );
        let back = db.open().scan(id).unwrap();
        let got: Vec<Option<Service>> = back.hosts[0]
            .ports
            .iter()
            .map(|p| p.service.clone())
            .collect();
        let want: Vec<Option<Service>> = services.into_iter().map(Some).collect();
        assert_eq!(got, want, "{}", db.name);
    });
}

/// Run `sql` on the backend's database behind the library's back.
fn raw(db: &Backend, sql: &str) {
    if db.is_pg() {
        let mut c = postgres::Client::connect(&db.spec, postgres::NoTls).unwrap();
        c.batch_execute(sql).unwrap();
    } else {
        let c = rusqlite::Connection::open(&db.spec).unwrap();
        c.execute_batch(sql).unwrap();
    }
}

/// A new store is made from the schema written out (`schema::CURRENT`), not by the
/// migrations: both must make the same schema, to the column, index, key and version.
#[test]
fn a_new_store_has_the_schema_the_migrations_build() {
    backends::each_backend_twice(|new, replayed| {
        drop(new.open());
        let migrations = if replayed.is_pg() {
            raw(
                replayed,
                "CREATE TABLE portolan_schema (version BIGINT NOT NULL); \
                 INSERT INTO portolan_schema (version) VALUES (0);",
            );
            portolan_store::schema::PG_MIGRATIONS
        } else {
            portolan_store::schema::MIGRATIONS
        };
        for (i, m) in migrations.iter().enumerate() {
            raw(replayed, m);
            if replayed.is_pg() {
                raw(
                    replayed,
                    &format!("UPDATE portolan_schema SET version = {}", i + 1),
                );
            } else {
                raw(replayed, &format!("PRAGMA user_version = {}", i + 1));
            }
        }
        // (Opening it now migrates nothing: it is at the version.)
        drop(replayed.open());
        let (a, b) = (new.schema(), replayed.schema());
        assert!(a.len() > 50, "{}: {a:?}", new.name);
        let only_new: Vec<&String> = a.iter().filter(|l| !b.contains(l)).collect();
        let only_replayed: Vec<&String> = b.iter().filter(|l| !a.contains(l)).collect();
        assert!(
            only_new.is_empty() && only_replayed.is_empty(),
            "{}: only in the new store: {only_new:#?}\nonly in the migrated one: {only_replayed:#?}",
            new.name
        );
        assert_eq!(a, b, "{}", new.name);
    });
}

#[test]
fn a_version_2_store_with_scans_migrates_and_reads_back_the_same() {
    each_backend(|db| {
        // A store as schema 2 made it (every migration before 3), holding one scan: a host
        // with a record (its name) and two ports, one with a service and an exposure.
        let (v1, v2) = if db.is_pg() {
            (
                portolan_store::schema::PG_MIGRATIONS[0],
                portolan_store::schema::PG_MIGRATIONS[1],
            )
        } else {
            (
                portolan_store::schema::MIGRATIONS[0],
                portolan_store::schema::MIGRATIONS[1],
            )
        };
        raw(db, v1);
        raw(db, v2);
        if db.is_pg() {
            raw(
                db,
                "CREATE TABLE portolan_schema (version BIGINT NOT NULL); \
                 INSERT INTO portolan_schema (version) VALUES (2);",
            );
        } else {
            raw(db, "PRAGMA user_version = 2");
        }
        // 192.0.2.1's key: family byte 4, then the address.
        let key = if db.is_pg() {
            "'\\x04c0000201'::bytea"
        } else {
            "x'04c0000201'"
        };
        raw(
            db,
            &format!(
                // (The first scan of a store is number 1 on both backends.)
                "INSERT INTO scans (kind, proto, status, args, targets, targets_count, ports, \
                 num_ports, seed, shard, scanner, version, started, ended, open) VALUES \
                 ('syn', 'tcp', 'done', 'portolan scan 192.0.2.1', '192.0.2.1', 1, '22,80', 2, \
                 7, '0/1', 'portolan', '0.1.0', 1000, 1005, 2); \
                 INSERT INTO hosts (scan_id, addr, addr_key, hostname, up, up_reason, srtt_us, \
                 extra) VALUES (1, '192.0.2.1', {key}, 'gw.example', 1, 'syn-ack', 250, '[]'); \
                 INSERT INTO ports (scan_id, addr, addr_key, proto, port, state, reason, rtt_us, \
                 ttl, service, product, version, seen) VALUES \
                 (1, '192.0.2.1', {key}, 'tcp', 22, 'open', 'syn-ack', 240, 64, 'ssh', 'OpenSSH', \
                 '9.6', 1001), \
                 (1, '192.0.2.1', {key}, 'tcp', 80, 'open', 'syn-ack', 260, 64, NULL, NULL, NULL, \
                 1002); \
                 INSERT INTO exposures (scan_id, addr_key, proto, port, id, severity, title, \
                 evidence) VALUES (1, {key}, 'tcp', 22, 'x', 'low', 'X', 'e');"
            ),
        );
        let mut s = db.open();
        assert_eq!(
            s.schema_version().unwrap(),
            portolan_store::schema::VERSION,
            "{}",
            db.name
        );
        let r = s.scan(1).unwrap();
        assert_eq!(r.hosts.len(), 1, "{}", db.name);
        let h = &r.hosts[0];
        assert_eq!(h.hostname.as_deref(), Some("gw.example"));
        assert_eq!(h.srtt_us, Some(250));
        let ports: Vec<(u16, Option<String>)> = h
            .ports
            .iter()
            .map(|p| (p.port, p.service.as_ref().map(|s| s.name.clone())))
            .collect();
        assert_eq!(ports, vec![(22, Some("ssh".into())), (80, None)]);
        let info = s.scan_info(1).unwrap();
        assert_eq!((info.ports_stored, info.hosts_stored), (2, 1));
        drop(s);
        // A scan written after the migration lands beside it, and the history has both.
        write_scan(
            db,
            "192.0.2.1",
            &[ev("192.0.2.1", 22, PortState::Open)],
            2000,
        );
        let mut s = db.open();
        let hist = s.history("192.0.2.1".parse().unwrap()).unwrap();
        assert_eq!(hist.len(), 2, "{}", db.name);
        // Deleting the old scan takes its ports, host and exposure with it.
        assert!(s.delete_scan(1).unwrap());
        assert_eq!(s.history("192.0.2.1".parse().unwrap()).unwrap().len(), 1);
        for t in ["ports", "hosts", "exposures"] {
            let left = db.count(&format!("SELECT count(*) FROM {t} WHERE scan_id = 1"));
            assert_eq!(left, 0, "{}: {t}", db.name);
        }
        if db.is_pg() {
            // Schema 8: no foreign key from the scan's tables (a check per row written).
            let fks = db.count(
                "SELECT count(*) FROM information_schema.table_constraints WHERE \
                 constraint_type = 'FOREIGN KEY' AND table_name IN ('ports', 'hosts', \
                 'exposures')",
            );
            assert_eq!(fks, 0);
        }
    });
}

#[test]
fn scan_or_latest_resolves_an_id_or_the_latest_scan() {
    each_backend(|db| {
        let e = db.open().scan_or_latest(None).unwrap_err();
        assert!(matches!(e, StoreError::Empty(_)), "{e:?}");
        assert!(e.to_string().contains("holds no scan yet"), "{e}");
        assert!(e.to_string().contains("portolan scan"), "{e}");
        let a = write_scan(db, "t", &[ev("192.0.2.1", 22, PortState::Open)], 10);
        let b = write_scan(db, "t", &[ev("192.0.2.1", 22, PortState::Open)], 20);
        let mut s = db.open();
        assert_eq!(s.scan_or_latest(None).unwrap().id, b, "{}", db.name);
        assert_eq!(s.scan_or_latest(Some(a)).unwrap().id, a);
        assert!(matches!(
            s.scan_or_latest(Some(b + 100)),
            Err(StoreError::NoScan(_))
        ));
    });
}

#[test]
fn an_address_is_stored_once_as_its_key_and_reads_back_as_written() {
    each_backend(|db| {
        let events = [
            ev("192.0.2.7", 22, PortState::Open),
            ev("2001:db8::7", 443, PortState::Open),
            ev("::ffff:192.0.2.8", 80, PortState::Filtered),
        ];
        let id = write_scan(db, "192.0.2.0/24", &events, 1000);
        // Schema 4: no text column beside the key.
        let columns = if db.is_pg() {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_name IN ('ports', 'hosts') AND column_name = 'addr'"
        } else {
            "SELECT (SELECT COUNT(*) FROM pragma_table_info('ports') WHERE name = 'addr') + \
                    (SELECT COUNT(*) FROM pragma_table_info('hosts') WHERE name = 'addr')"
        };
        assert_eq!(db.count(columns), 0, "{}", db.name);
        let mut s = db.open();
        let got: Vec<(IpAddr, u16)> = s
            .scan(id)
            .unwrap()
            .hosts
            .iter()
            .flat_map(|h| h.ports.iter().map(|p| (p.addr, p.port)))
            .collect();
        let mut want: Vec<(IpAddr, u16)> = events.iter().map(|e| (e.addr, e.port)).collect();
        want.sort();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted, want, "{}", db.name);
        let hist = s.history("2001:db8::7".parse().unwrap()).unwrap();
        assert_eq!(hist.len(), 1, "{}", db.name);
        assert_eq!(hist[0].ports[0].addr.to_string(), "2001:db8::7");
    });
}

/// Several processes opening one store that does not exist yet (the first scans on a new
/// machine, started together by cron): each waits for the one creating it, none is refused
/// with "database is locked".
#[test]
fn many_first_opens_of_a_new_sqlite_store_all_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portolan.db");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open_path(&path).map(drop)
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}
