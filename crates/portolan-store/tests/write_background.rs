//! The write path of a scan ([`StoreSink::in_background`] with
//! [`StoreSink::open_ports_while_running`], as `portolan scan` uses it), on both backends: the
//! scan does not wait on a busy database, `flush` means committed, a writer's error stops the
//! scan with the database's message, and what streamed reads back as the scan's report.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{
    EventSink, PortEvent, PortState, Protocol, Reason, ReportBuilder, ScanReport, ScanStart,
    ScanStats,
};
use portolan_store::{StoreSink, Targets};

mod backends;
use backends::{each_backend, Backend};

fn ev(addr: &str, port: u16, state: PortState, rtt_us: u64) -> PortEvent {
    PortEvent {
        addr: addr.parse().unwrap(),
        port,
        proto: Protocol::Tcp,
        state,
        reason: match state {
            PortState::Open => Reason::SynAck,
            PortState::Closed => Reason::Reset,
            _ => Reason::NoResponse,
        },
        rtt: Some(Duration::from_micros(rtt_us)),
        ttl: Some(64),
        service: None,
    }
}

fn start() -> ScanStart {
    ScanStart {
        args: "portolan scan 10.77.0.0/17 -p 1-100 --syn".into(),
        num_ports: 100,
        ports: "1-100".into(),
        proto: Protocol::Tcp,
        resumed_from: None,
        scan_type: "syn".into(),
        scanner: "portolan".into(),
        seed: 7,
        shard: "0/1".into(),
        targets: 32768,
        time: UNIX_EPOCH + Duration::from_secs(1000),
        version: "0.1.0".into(),
    }
}

/// The report the session builds from `events` (large-scan settings: silent hosts untracked).
fn report(
    events: &[PortEvent],
    hostname: impl Fn(std::net::IpAddr) -> Option<String>,
) -> ScanReport {
    let mut b = ReportBuilder::new(false, false);
    for e in events {
        b.add(e.clone());
    }
    ScanReport {
        scan_type: "syn".into(),
        proto: Protocol::Tcp,
        args: "portolan scan 10.77.0.0/17 -p 1-100 --syn".into(),
        ports_spec: "1-100".into(),
        num_ports: 100,
        start: UNIX_EPOCH + Duration::from_secs(1000),
        end: UNIX_EPOCH + Duration::from_secs(1005),
        hosts: b.finish(hostname),
        targets_total: 32768,
        host_discovery: String::new(),
        stats: ScanStats {
            planned: events.len() as u64,
            completed: events.len() as u64,
            ..Default::default()
        },
    }
}

/// The sink `portolan scan` uses.
fn scan_sink(db: &Backend, batch: usize) -> StoreSink {
    db.open()
        .sink(Targets("10.77.0.0/17".into()))
        .with_batch(batch, Duration::from_secs(3600))
        .open_ports_while_running()
        .in_background()
}

/// Another client holding the write lock on the ports until dropped.
enum Lock {
    Sqlite(rusqlite::Connection),
    Pg(postgres::Client),
}

fn lock_ports(db: &Backend) -> Lock {
    if db.is_pg() {
        let mut c = postgres::Client::connect(&db.spec, postgres::NoTls).unwrap();
        c.batch_execute("BEGIN; LOCK TABLE ports IN EXCLUSIVE MODE")
            .unwrap();
        Lock::Pg(c)
    } else {
        let c = rusqlite::Connection::open(&db.spec).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        Lock::Sqlite(c)
    }
}

fn unlock(l: Lock) {
    match l {
        Lock::Sqlite(c) => c.execute_batch("ROLLBACK").unwrap(),
        Lock::Pg(mut c) => c.batch_execute("ROLLBACK").unwrap(),
    }
}

#[test]
fn the_scan_does_not_wait_on_a_busy_database() {
    each_backend(|db| {
        let mut sink = scan_sink(db, 10);
        sink.start(&start()).unwrap();
        let lock = lock_ports(db);
        // Three batches while another client holds the lock: handed over, not written yet.
        let (done_tx, done) = mpsc::channel();
        let scan = std::thread::spawn(move || {
            for i in 0..30u16 {
                let e = ev(&format!("10.77.0.{}", i + 1), 80, PortState::Open, 100);
                sink.port(&e, SystemTime::now()).unwrap();
            }
            done_tx.send(()).unwrap();
            sink
        });
        // A scan that waited on the lock would wait for the busy timeout (60 s) and fail.
        let waited = done.recv_timeout(Duration::from_secs(30));
        assert!(
            waited.is_ok(),
            "{}: the scan waited on the database's lock",
            db.name
        );
        unlock(lock);
        let mut sink = scan.join().unwrap();
        sink.flush().unwrap();
        assert_eq!(sink.committed(), 30, "{}", db.name);
    });
}

#[test]
fn flush_returns_once_everything_handed_over_is_committed() {
    each_backend(|db| {
        let mut sink = scan_sink(db, 10);
        sink.start(&start()).unwrap();
        for p in 1..=25u16 {
            sink.port(&ev("10.77.0.9", p, PortState::Open, 100), SystemTime::now())
                .unwrap();
        }
        sink.flush().unwrap();
        assert_eq!(sink.committed(), 25, "{}", db.name);
        // The process dies here (kill -9): no finish.
        std::mem::forget(sink);
        let mut s = db.open();
        s.check().unwrap();
        let info = &s.scans().unwrap()[0];
        assert_eq!(info.status, "running", "{}", db.name);
        assert_eq!(info.ports_stored, 25, "{}", db.name);
        assert_eq!(info.hosts_stored, 1, "{}", db.name);
    });
}

#[test]
fn a_failing_writer_stops_the_scan_with_the_databases_message() {
    each_backend(|db| {
        drop(db.open());
        if db.is_pg() {
            let mut c = postgres::Client::connect(&db.spec, postgres::NoTls).unwrap();
            c.batch_execute(
                "CREATE FUNCTION full_disk() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'the disk is full (test)'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER full_disk BEFORE INSERT ON ports FOR EACH ROW \
                 EXECUTE FUNCTION full_disk();",
            )
            .unwrap();
        } else {
            let c = rusqlite::Connection::open(&db.spec).unwrap();
            c.execute_batch(
                "CREATE TRIGGER full_disk BEFORE INSERT ON ports BEGIN \
                 SELECT RAISE(ABORT, 'the disk is full (test)'); END;",
            )
            .unwrap();
        }
        let mut sink = scan_sink(db, 5);
        sink.start(&start()).unwrap();
        for p in 1..=12u16 {
            // The writer's error may already show here; it must show by the flush.
            if sink
                .port(&ev("10.77.0.3", p, PortState::Open, 100), SystemTime::now())
                .is_err()
            {
                break;
            }
        }
        let e = sink.flush().unwrap_err().to_string();
        assert!(e.contains("the disk is full (test)"), "{}: {e}", db.name);
        assert!(e.contains("store "), "{}: {e}", db.name);
        let e = sink.finish(&report(&[], |_| None)).unwrap_err().to_string();
        assert!(e.contains("the disk is full (test)"), "{}: {e}", db.name);
        assert_eq!(sink.committed(), 0, "{}", db.name);
    });
}

#[test]
fn a_streamed_scan_reads_back_as_its_report() {
    each_backend(|db| {
        let mut events = Vec::new();
        // 300 hosts with one open port each, their RTTs all different.
        for i in 0..300u32 {
            let a = format!("10.77.{}.{}", i / 200, i % 200 + 1);
            events.push(ev(&a, 80, PortState::Open, 50 + u64::from(i)));
        }
        // A host that answered with a RST before its open port (up for another reason than
        // its first stored port says), and with several RTTs.
        events.push(ev("10.77.5.1", 22, PortState::Closed, 300));
        events.push(ev("10.77.5.1", 80, PortState::Open, 100));
        events.push(ev("10.77.5.1", 443, PortState::Open, 900));
        // A host with too many filtered ports to list (counted), and one open.
        for p in 1..=40u16 {
            events.push(ev("10.77.6.1", p + 1000, PortState::Filtered, 0));
        }
        events.push(ev("10.77.6.1", 80, PortState::Open, 70));
        // A host with a name.
        events.push(ev("10.77.7.1", 80, PortState::Open, 80));
        let named: std::net::IpAddr = "10.77.7.1".parse().unwrap();

        let mut sink = scan_sink(db, 64);
        sink.start(&start()).unwrap();
        for e in &events {
            sink.port(e, UNIX_EPOCH + Duration::from_secs(1001))
                .unwrap();
        }
        let rep = report(&events, |a| {
            (a == named).then(|| "www.lab.test".to_string())
        });
        sink.finish(&rep).unwrap();
        let id = sink.scan_id().unwrap();
        drop(sink);

        let mut s = db.open();
        let got = s.scan(id).unwrap();
        let mut want = rep.hosts.clone();
        for h in &mut want {
            // Closed ports are not stored, nor the TTL of the answer that proved a host up.
            h.ports.retain(|p| p.state != PortState::Closed);
            h.up_ttl = None;
        }
        assert_eq!(got.hosts.len(), want.len(), "{}", db.name);
        for (g, w) in got.hosts.iter().zip(&want) {
            assert_eq!(g, w, "{}", db.name);
        }
        let info = s.scan_info(id).unwrap();
        assert_eq!(info.status, "done");
        assert_eq!(info.hosts_stored, 303, "{}", db.name);
        // Only the hosts that their stored ports do not show as they are have a record of
        // their own: 10.77.5.1 (up by its RST, and a smoothed RTT) and 10.77.7.1 (its name).
        // (10.77.6.1's filtered ports came before its open one: silent, not counted.) A port
        // is one row, not two.
        assert_eq!(db.count("SELECT COUNT(*) FROM hosts"), 2, "{}", db.name);
    });
}

/// How many ports of the store were written at `seen` (seconds since the epoch).
fn ports_seen_at(db: &Backend, seen: f64) -> i64 {
    if db.is_pg() {
        let mut c = postgres::Client::connect(&db.spec, postgres::NoTls).unwrap();
        c.query_one("SELECT COUNT(*) FROM ports WHERE seen = $1", &[&seen])
            .unwrap()
            .get(0)
    } else {
        let c = rusqlite::Connection::open(&db.spec).unwrap();
        c.query_row("SELECT COUNT(*) FROM ports WHERE seen = ?1", [seen], |r| {
            r.get(0)
        })
        .unwrap()
    }
}

#[test]
fn open_ports_streamed_with_their_service_name_are_not_written_again_at_the_end() {
    each_backend(|db| {
        // As a scan streams them: open, named from the registry (http), no -sV.
        let http = portolan_model::Service {
            name: "http".into(),
            ..Default::default()
        };
        let events: Vec<PortEvent> = (0..600u32)
            .map(|i| {
                let mut e = ev(
                    &format!("10.77.{}.{}", i / 200, i % 200 + 1),
                    80,
                    PortState::Open,
                    90,
                );
                e.service = Some(http.clone());
                e
            })
            .collect();
        let mut sink = scan_sink(db, 100);
        sink.start(&start()).unwrap();
        for e in &events {
            sink.port(e, UNIX_EPOCH + Duration::from_secs(1001))
                .unwrap();
        }
        // One port's service found otherwise at the end (as -sV would): that one is rewritten.
        let mut rep = report(&events, |_| None);
        let nginx = portolan_model::Service {
            name: "http".into(),
            product: Some("nginx".into()),
            ..Default::default()
        };
        rep.hosts[0].ports[0].service = Some(nginx);
        sink.finish(&rep).unwrap();
        let id = sink.scan_id().unwrap();
        drop(sink);
        // The report ends at 1005: only the port it changed was written then.
        assert_eq!(ports_seen_at(db, 1001.0), 599, "{}", db.name);
        assert_eq!(ports_seen_at(db, 1005.0), 1, "{}", db.name);
        let got = db.open().scan(id).unwrap();
        // The store does not keep the TTL of the answer that proved a host up.
        for h in &mut rep.hosts {
            h.up_ttl = None;
        }
        assert_eq!(got.hosts, rep.hosts, "{}", db.name);
    });
}

#[test]
fn a_port_streamed_again_in_a_later_batch_replaces_its_exposures() {
    each_backend(|db| {
        let exposure = |id: &str| portolan_model::Exposure {
            id: id.into(),
            severity: portolan_model::Severity::High,
            title: format!("{id} title"),
            evidence: format!("{id} evidence"),
        };
        let with = |ids: &[&str]| {
            let mut e = ev("10.77.0.9", 6379, PortState::Open, 90);
            e.service = Some(portolan_model::Service {
                name: "redis".into(),
                exposures: ids.iter().map(|i| exposure(i)).collect(),
                ..Default::default()
            });
            e
        };
        let (first, second) = (with(&["redis-noauth", "old-only"]), with(&["redis-noauth"]));
        // Batches of one port: the second event of the port is written by a later batch.
        let mut sink = scan_sink(db, 1);
        sink.start(&start()).unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1001);
        // Each committed before the next (the writer would group batches queued together).
        sink.port(&first, t).unwrap();
        sink.flush().unwrap();
        sink.port(&ev("10.77.0.10", 80, PortState::Open, 90), t)
            .unwrap();
        sink.flush().unwrap();
        sink.port(&second, t).unwrap();
        sink.flush().unwrap();
        let id = sink.scan_id().unwrap();
        let rep = report(
            &[second.clone(), ev("10.77.0.10", 80, PortState::Open, 90)],
            |_| None,
        );
        sink.finish(&rep).unwrap();
        drop(sink);
        assert_eq!(
            db.count("SELECT COUNT(*) FROM exposures"),
            1,
            "{}: the exposure the port no longer has is gone",
            db.name
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM ports"), 2, "{}", db.name);
        let got = db.open().scan(id).unwrap();
        let port = got
            .hosts
            .iter()
            .flat_map(|h| &h.ports)
            .find(|p| p.port == 6379)
            .unwrap();
        assert_eq!(port, &second, "{}", db.name);
    });
}

/// (nice value, scheduling policy) of a thread, from its /proc `stat` (fields 19 and 41).
#[cfg(target_os = "linux")]
fn nice_and_policy(stat: &str) -> Option<(i64, i64)> {
    // Fields after the command's closing parenthesis start at field 3.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((rest.get(16)?.parse().ok()?, rest.get(38)?.parse().ok()?))
}

/// The sink `portolan scan` uses, on a new SQLite store at `path`, a batch a port (and at least
/// one every `interval`), started.
#[cfg(target_os = "linux")]
fn started_sink(path: &std::path::Path, interval: Duration) -> StoreSink {
    let mut sink = portolan_store::Store::open_path(path)
        .unwrap()
        .sink(Targets("10.77.0.0/17".into()))
        .with_batch(1, interval)
        .open_ports_while_running()
        .in_background();
    sink.start(&start()).unwrap();
    sink
}

/// Whether this process runs as root (effective uid 0: it may undo `SCHED_IDLE`).
#[cfg(target_os = "linux")]
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// (nice value, scheduling policy) of this process's store writer threads.
#[cfg(target_os = "linux")]
fn writers() -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("portolan-store") {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        out.extend(nice_and_policy(&stat));
    }
    out
}

/// The writer is background work: while the scan runs, its thread runs under SCHED_IDLE
/// (when this process may undo that: root, CAP_SYS_NICE) or 10 nicer than the scan's own
/// threads, so on busy cores the scan comes first; before the scan waits for it (here a
/// flush) it is back at normal scheduling, so that a busy machine does not starve it.
#[cfg(target_os = "linux")]
#[test]
fn the_writer_thread_yields_to_the_scan() {
    const SCHED_OTHER: i64 = 0;
    const SCHED_IDLE: i64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let mut sink = started_sink(&dir.path().join("s.db"), Duration::from_secs(3600));
    // This thread (a scan's) keeps the process's priority.
    let me = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let (my_nice, my_policy) = nice_and_policy(&me).unwrap();
    assert_eq!(my_policy, SCHED_OTHER);
    let root = is_root();
    let lowered = |w: &(i64, i64)| match root {
        true => w.1 == SCHED_IDLE,
        false => w.1 == SCHED_IDLE || w.0 == (my_nice + 10).min(19),
    };
    // The writer lowers itself as it starts: wait for it (without waiting *on* it, which
    // would bring it back).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !writers().iter().any(lowered) {
        assert!(
            std::time::Instant::now() < deadline,
            "writers {:?}, the scan's thread {my_nice}",
            writers()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // A batch handed over and written while it is lowered.
    sink.port(
        &ev("10.77.0.9", 80, PortState::Open, 100),
        SystemTime::now(),
    )
    .unwrap();
    while sink.committed() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch was not written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let was_idle = writers().iter().any(|w| w.1 == SCHED_IDLE);
    sink.flush().unwrap();
    if was_idle {
        // (Other tests may run beside this one under `cargo test`: some writer is back.)
        assert!(
            writers().contains(&(my_nice, SCHED_OTHER)),
            "after a flush: writers {:?}",
            writers()
        );
    }
}

/// A writer left more than a batch interval behind (here another client holds the store's
/// write lock; in a scan, programs that keep the cores busy) goes back to normal scheduling at
/// the scan's next batch, before the queue is full: what a crash can lose stays about the last
/// interval's ports, not a whole queue's.
#[cfg(target_os = "linux")]
#[test]
fn a_writer_a_batch_interval_behind_is_scheduled_normally_again() {
    const SCHED_IDLE: i64 = 5;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut sink = started_sink(&path, Duration::from_millis(50));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let idle = || writers().iter().any(|w| w.1 == SCHED_IDLE);
    let root = is_root();
    if root {
        while !idle() {
            assert!(std::time::Instant::now() < deadline, "{:?}", writers());
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    // A batch the writer cannot commit yet, then another one an interval later.
    sink.port(
        &ev("10.77.0.1", 80, PortState::Open, 100),
        SystemTime::now(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(sink.committed(), 0);
    sink.port(
        &ev("10.77.0.2", 80, PortState::Open, 100),
        SystemTime::now(),
    )
    .unwrap();
    // (Under `cargo test` other tests' writers may be lowered beside this one; nextest runs
    // each test in a process of its own.)
    assert!(!idle(), "writers {:?}", writers());
    lock.execute_batch("ROLLBACK").unwrap();
    sink.flush().unwrap();
    assert_eq!(sink.committed(), 2);
}

/// The ports of a scan shorter than a batch interval go to the writer when the last one is
/// delivered (`ports_done`), not at `finish`: it writes them while the scan builds its report.
#[test]
fn the_last_ports_go_to_the_writer_when_they_are_all_delivered() {
    each_backend(|db| {
        let mut sink = db
            .open()
            .sink(Targets("10.77.0.0/17".into()))
            .open_ports_while_running()
            .in_background();
        sink.start(&start()).unwrap();
        let events: Vec<PortEvent> = (1..=40u16)
            .map(|i| ev(&format!("10.77.0.{i}"), 80, PortState::Open, 100))
            .collect();
        for e in &events {
            sink.port(e, SystemTime::now()).unwrap();
        }
        // Fewer than a batch, within the interval: nothing handed over yet.
        assert_eq!(sink.committed(), 0, "{}", db.name);
        sink.ports_done().unwrap();
        // Committed without a flush or the end (the writer is not waited on).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while sink.committed() < 40 {
            assert!(
                std::time::Instant::now() < deadline,
                "{}: {} of 40 ports committed after ports_done",
                db.name,
                sink.committed()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let id = sink.scan_id().unwrap();
        assert_eq!(db.count("SELECT count(*) FROM ports"), 40, "{}", db.name);
        sink.finish(&report(&events, |_| None)).unwrap();
        let back = db.open().scan(id).unwrap();
        assert_eq!(back.hosts.len(), 40, "{}", db.name);
    });
}

/// After its last ports a scan copies a long WAL into the database (the next open of the
/// store reads the WAL whole), and the scan's last commit starts the WAL over: short again.
/// A short WAL is left as it is.
#[test]
fn a_long_wal_is_copied_after_the_last_ports_and_a_short_one_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let wal = || std::fs::metadata(dir.path().join("s.db-wal")).map_or(0, |m| m.len());
    // What an earlier client left in the WAL: 6 MiB, not copied into the database.
    drop(portolan_store::Store::open_path(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .unwrap();
        c.execute_batch(
            "PRAGMA wal_autocheckpoint = 0; CREATE TABLE pad (b BLOB); \
             INSERT INTO pad VALUES (zeroblob(6291456));",
        )
        .unwrap();
    }
    let scan = |ports: u16| {
        let mut sink = portolan_store::Store::open_path(&path)
            .unwrap()
            .sink(Targets("10.77.0.0/17".into()))
            .open_ports_while_running()
            .in_background();
        sink.start(&start()).unwrap();
        let events: Vec<PortEvent> = (1..=ports)
            .map(|p| ev("10.77.0.1", p, PortState::Open, 100))
            .collect();
        for e in &events {
            sink.port(e, SystemTime::now()).unwrap();
        }
        sink.ports_done().unwrap();
        sink.finish(&report(&events, |_| None)).unwrap();
    };
    assert!(wal() > 6 << 20, "{}", wal());
    scan(5);
    let short = wal();
    assert!(short < 1 << 20, "the WAL is still {short} bytes");
    scan(5);
    assert!(
        wal() > short,
        "a short WAL is left to grow: {} then {}",
        short,
        wal()
    );
    // Everything reads back from the database and the WAL together.
    let mut s = portolan_store::Store::open_path(&path).unwrap();
    assert_eq!(s.scans().unwrap().len(), 2);
    s.check().unwrap();
}

/// Rows of scan `id` in the tables that hang off `scans`.
fn rows_of_scan(db: &Backend, id: i64) -> i64 {
    ["ports", "hosts", "exposures"]
        .iter()
        .map(|t| db.count(&format!("SELECT count(*) FROM {t} WHERE scan_id = {id}")))
        .sum()
}

/// A scan deleted while its ports stream (`portolan scans delete` from another terminal):
/// what it wrote goes with it, and its next batch fails with the reason instead of leaving
/// rows of a scan that is not there (PostgreSQL has no foreign key to refuse them, schema 8).
#[test]
fn a_scan_deleted_while_it_is_written_stops_writing() {
    each_backend(|db| {
        let mut sink = scan_sink(db, 10);
        sink.start(&start()).unwrap();
        for p in 1..=10u16 {
            sink.port(&ev("10.77.0.4", p, PortState::Open, 100), SystemTime::now())
                .unwrap();
        }
        sink.flush().unwrap();
        let id = sink.scan_id().unwrap();
        assert_eq!(rows_of_scan(db, id), 10, "{}", db.name);
        assert!(db.open().delete_scan(id).unwrap());
        assert_eq!(rows_of_scan(db, id), 0, "{}", db.name);
        for p in 11..=20u16 {
            if sink
                .port(&ev("10.77.0.4", p, PortState::Open, 100), SystemTime::now())
                .is_err()
            {
                break;
            }
        }
        let e = sink.flush().unwrap_err().to_string();
        assert!(
            e.contains(&format!("scan {id} is no longer in the store")),
            "{}: {e}",
            db.name
        );
        assert_eq!(rows_of_scan(db, id), 0, "{}", db.name);
        assert!(db.open().scans().unwrap().is_empty(), "{}", db.name);
    });
}

/// PostgreSQL: a delete that comes while a batch of the scan is being written waits for it
/// and deletes it too (the scan's row goes first; the writer holds it `FOR KEY SHARE`).
#[test]
fn a_delete_during_a_batch_takes_the_batch_too() {
    let Some(db) = backends::postgres() else {
        return;
    };
    let mut sink = scan_sink(&db, 10);
    sink.start(&start()).unwrap();
    let id = sink.scan_id().unwrap();
    // A batch in flight, as the writer runs it.
    let mut w = postgres::Client::connect(&db.spec, postgres::NoTls).unwrap();
    w.batch_execute(&format!(
        "BEGIN; SELECT id FROM scans WHERE id = {id} FOR KEY SHARE; \
         INSERT INTO ports (scan_id, addr_key, proto, port, state, reason, seen) \
         VALUES ({id}, '\\x040a4d0005'::bytea, 'tcp', 80, 'open', 'syn-ack', 1001);"
    ))
    .unwrap();
    let spec = db.spec.clone();
    let (tx, rx) = mpsc::channel();
    let deleter = std::thread::spawn(move || {
        let r = portolan_store::Store::open(Some(&spec))
            .unwrap()
            .delete_scan(id);
        tx.send(()).unwrap();
        r
    });
    // The delete waits for the batch.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());
    w.batch_execute("COMMIT").unwrap();
    assert!(deleter.join().unwrap().unwrap());
    assert_eq!(rows_of_scan(&db, id), 0);
    drop(sink);
}

/// A port that comes twice in one batch (a retransmitted answer, a port probed again) is one
/// row, the later copy: one statement may not name a row twice (PostgreSQL's COPY would break
/// the unique key), and the later answer is what one upsert after another would leave.
#[test]
fn a_port_twice_in_one_batch_is_stored_once_as_it_came_last() {
    each_backend(|db| {
        let mut sink = scan_sink(db, 100);
        sink.start(&start()).unwrap();
        let id = sink.scan_id().unwrap();
        for (port, rtt) in [(22u16, 100u64), (80, 200), (22, 300), (443, 400), (80, 500)] {
            sink.port(
                &ev("10.77.0.8", port, PortState::Open, rtt),
                SystemTime::now(),
            )
            .unwrap();
        }
        sink.flush().unwrap();
        assert_eq!(rows_of_scan(db, id), 3, "{}", db.name);
        let got = db.open().scan(id).unwrap();
        let rtts: Vec<(u16, Option<Duration>)> =
            got.hosts[0].ports.iter().map(|p| (p.port, p.rtt)).collect();
        assert_eq!(
            rtts,
            vec![
                (22, Some(Duration::from_micros(300))),
                (80, Some(Duration::from_micros(500))),
                (443, Some(Duration::from_micros(400))),
            ],
            "{}",
            db.name
        );
    });
}
