//! `local` audits and `detect` alerts in the store (schema version 2), on both backends: saved
//! and read back, the latest audit of a host found, alerts committed batch by batch (a writer
//! that dies keeps its committed batches), queries, and a version-1 store migrated in place.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{EventSink, ScanStart};
use portolan_store::{AlertFilter, AlertWriter, NewAlert, NewAudit, Store, StoreError, Targets};

mod backends;
use backends::{each_backend, Backend};

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

fn audit<'a>(host: &'a str, report: &'a str, t: u64) -> NewAudit<'a> {
    NewAudit {
        host,
        time: at(t),
        version: "0.1.0",
        args: "portolan local",
        sockets: 3,
        findings: 1,
        worst: Some("high"),
        report,
    }
}

fn alert(src: &str, t: u64) -> NewAlert {
    NewAlert {
        time: at(t),
        signature: "PORTOLAN SCAN TCP SYN port scan".into(),
        severity: "medium".into(),
        src: src.parse().unwrap(),
        dst: "192.0.2.1".parse().unwrap(),
        dst_port: Some(22),
        eve: format!(r#"{{"src_ip":"{src}","ts":{t}}}"#),
    }
}

fn writer(db: &Backend, t: u64) -> AlertWriter {
    db.open()
        .alert_writer(
            "capture.pcap",
            "portolan detect capture.pcap",
            "0.1.0",
            at(t),
        )
        .unwrap()
}

#[test]
fn audits_are_kept_and_the_latest_of_a_host_is_found() {
    each_backend(|db| {
        let mut s = db.open();
        assert!(s.latest_audit("web1").unwrap().is_none());
        let a1 = s.save_audit(&audit("web1", r#"{"n":1}"#, 100)).unwrap();
        let b1 = s.save_audit(&audit("db1", r#"{"n":2}"#, 110)).unwrap();
        let a2 = s.save_audit(&audit("web1", r#"{"n":3}"#, 120)).unwrap();
        drop(s);
        let mut s = db.open();
        let (info, report) = s.latest_audit("web1").unwrap().unwrap();
        assert_eq!(
            (info.id, report.as_str()),
            (a2, r#"{"n":3}"#),
            "{}",
            db.name
        );
        assert_eq!(info.host, "web1");
        assert_eq!(info.worst.as_deref(), Some("high"));
        assert_eq!((info.sockets, info.findings), (3, 1));
        assert_eq!(info.started, 120.0);
        let all: Vec<i64> = s.audits(None).unwrap().iter().map(|a| a.id).collect();
        assert_eq!(all, vec![a1, b1, a2], "{}", db.name);
        let db1: Vec<i64> = s
            .audits(Some("db1"))
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(db1, vec![b1]);
        assert_eq!(s.audit_report(a1).unwrap(), r#"{"n":1}"#);
        assert!(s.audit_report(a2 + 100).is_err());
        assert!(s.delete_audit(a1).unwrap());
        assert_eq!(s.audits(None).unwrap().len(), 2);
    });
}

#[test]
fn alerts_are_committed_batch_by_batch_and_a_dead_writer_keeps_its_batches() {
    each_backend(|db| {
        let mut w = writer(db, 1000);
        let n = AlertWriter::BATCH + 10;
        for i in 0..n {
            w.push(alert("198.51.100.7", 1000 + i as u64)).unwrap();
        }
        assert_eq!(w.committed(), AlertWriter::BATCH as u64, "{}", db.name);
        // The process dies here: no finish.
        std::mem::forget(w);
        let mut s = db.open();
        s.check().unwrap();
        let runs = s.detect_runs().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, "running", "{}", db.name);
        assert_eq!(runs[0].alerts, AlertWriter::BATCH as u64, "{}", db.name);
        assert_eq!(runs[0].source, "capture.pcap");
    });
}

#[test]
fn alerts_read_back_whole_and_by_source_and_time() {
    each_backend(|db| {
        let mut w = writer(db, 1000);
        w.push(alert("198.51.100.7", 1000)).unwrap();
        w.push(alert("203.0.113.9", 1500)).unwrap();
        w.push(alert("198.51.100.7", 2000)).unwrap();
        w.push(alert("2001:db8::5", 2500)).unwrap();
        let run = w.run_id();
        let mut s = w.finish(true, at(3000)).unwrap();
        let runs = s.detect_runs().unwrap();
        assert_eq!((runs[0].status.as_str(), runs[0].alerts), ("done", 4));
        assert_eq!(runs[0].ended, Some(3000.0));

        let all = s.alerts(&AlertFilter::default()).unwrap();
        assert_eq!(all.len(), 4, "{}", db.name);
        assert_eq!(
            all.iter().map(|a| a.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(all[0].run_id, run);
        assert_eq!(all[0].eve, r#"{"src_ip":"198.51.100.7","ts":1000}"#);
        assert_eq!(all[0].dst_port, Some(22));
        assert_eq!(all[3].src, "2001:db8::5");

        let src: IpAddr = "198.51.100.7".parse().unwrap();
        let f = AlertFilter {
            src: Some(src),
            ..Default::default()
        };
        assert_eq!(s.alerts(&f).unwrap().len(), 2, "{}", db.name);
        let f = AlertFilter {
            since: Some(at(1500)),
            until: Some(at(2000)),
            ..Default::default()
        };
        assert_eq!(s.alerts(&f).unwrap().len(), 2, "{}", db.name);

        // The sources of the alerts stored since a moment ago (whatever their capture time),
        // each once; none stored after now.
        let before = SystemTime::now() - Duration::from_secs(600);
        let mut got: Vec<IpAddr> = s
            .alerted_sources(before)
            .unwrap()
            .into_iter()
            .map(|(a, t)| {
                assert!(t >= before, "{}", db.name);
                a
            })
            .collect();
        got.sort();
        let mut want: Vec<IpAddr> = ["198.51.100.7", "203.0.113.9", "2001:db8::5"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        want.sort();
        assert_eq!(got, want, "{}", db.name);
        let later = SystemTime::now() + Duration::from_secs(600);
        assert!(s.alerted_sources(later).unwrap().is_empty(), "{}", db.name);

        assert!(s.delete_detect_run(run).unwrap());
        assert!(s.alerts(&AlertFilter::default()).unwrap().is_empty());
    });
}

#[test]
fn a_version_1_store_gets_the_new_tables_and_keeps_its_scans() {
    each_backend(|db| {
        // A scan in the store, then the store set back to what version 1 had.
        let mut sink = db.open().sink(Targets("t".into()));
        sink.start(&ScanStart {
            args: "portolan scan 192.0.2.1".into(),
            num_ports: 1,
            ports: "22".into(),
            proto: portolan_model::Protocol::Tcp,
            resumed_from: None,
            scan_type: "connect".into(),
            scanner: "portolan".into(),
            seed: 1,
            shard: "0/1".into(),
            targets: 1,
            time: at(50),
            version: "0.1.0".into(),
        })
        .unwrap();
        drop(sink);
        // (Version 1's ports and hosts had the address as text too: schema 4 dropped it; and
        // what version 5 added, which its migration adds again.)
        let drop_v2 = "DROP TABLE alerts; DROP TABLE detect_runs; DROP TABLE audits; \
            ALTER TABLE ports ADD COLUMN addr TEXT NOT NULL DEFAULT ''; \
            ALTER TABLE hosts ADD COLUMN addr TEXT NOT NULL DEFAULT ''; \
            ALTER TABLE scans DROP COLUMN discovery;";
        if db.is_pg() {
            let mut c = postgres::Client::connect(&db.spec, postgres::NoTls).unwrap();
            c.batch_execute(drop_v2).unwrap();
        } else {
            let c = rusqlite::Connection::open(&db.spec).unwrap();
            c.execute_batch(drop_v2).unwrap();
        }
        db.set_schema_version(1);

        let mut s = db.open();
        assert_eq!(
            s.schema_version().unwrap(),
            portolan_store::schema::VERSION,
            "{}",
            db.name
        );
        assert_eq!(s.scans().unwrap().len(), 1, "{}", db.name);
        s.save_audit(&audit("web1", "{}", 60)).unwrap();
        assert_eq!(s.audits(None).unwrap().len(), 1);
        drop(s);

        // And a store newer than this binary is still refused.
        let newer = portolan_store::schema::VERSION + 1;
        db.set_schema_version(newer);
        match Store::open(Some(&db.spec)) {
            Err(StoreError::TooNew { found, .. }) if found == newer => {}
            other => panic!("{}: {other:?}", db.name),
        }
    });
}

#[test]
fn prune_takes_old_audits_and_alerts_with_the_scans() {
    each_backend(|db| {
        let mut s = db.open();
        s.save_audit(&audit("web1", "{}", 100)).unwrap();
        let kept = s.save_audit(&audit("web1", "{}", 200)).unwrap();
        drop(s);
        let mut w = writer(db, 100);
        for i in 0..3 {
            w.push(alert("198.51.100.7", 100 + i)).unwrap();
        }
        let mut s = w.finish(true, at(150)).unwrap();
        // Alerts are pruned by when they were stored (now), not by their capture time.
        let p = s.prune_all(at(150)).unwrap();
        assert_eq!((p.scans, p.audits, p.alerts), (0, 1, 0), "{}", db.name);
        let audits: Vec<i64> = s.audits(None).unwrap().iter().map(|a| a.id).collect();
        assert_eq!(audits, vec![kept]);
        assert_eq!(s.alerts(&AlertFilter::default()).unwrap().len(), 3);
        let later = SystemTime::now() + Duration::from_secs(60);
        let p = s.prune_all(later).unwrap();
        assert_eq!((p.audits, p.alerts), (1, 3), "{}", db.name);
        assert!(s.alerts(&AlertFilter::default()).unwrap().is_empty());
        // The finished run that held them goes with them.
        assert!(s.detect_runs().unwrap().is_empty(), "{}", db.name);
    });
}
