//! The scan session as a library call: a failing sink ends the scan with an error that names
//! it and the state saved; a sink can ask the scan to stop. Loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::TcpListener;
use std::time::SystemTime;

use portolan_scan::model::{EventSink, Flow, PortEvent, ScanReport, SinkError, Stop};
use portolan_scan::session::{self, PortsRequest, ScanError, ScanRequest};

/// Fails (or asks to stop) at the `after`-th port.
struct Sink {
    after: usize,
    seen: usize,
    fail: bool,
    finished: bool,
}

impl EventSink for Sink {
    fn name(&self) -> String {
        "test output /dev/full".into()
    }
    fn port(&mut self, _ev: &PortEvent, _t: SystemTime) -> Result<Flow, SinkError> {
        self.seen += 1;
        if self.seen < self.after {
            return Ok(Flow::Continue);
        }
        if self.fail {
            Err(SinkError::Other("No space left on device".into()))
        } else {
            Ok(Flow::Stop)
        }
    }
    fn finish(&mut self, _r: &ScanReport) -> Result<(), SinkError> {
        self.finished = true;
        Ok(())
    }
}

fn request(resume: Option<std::path::PathBuf>) -> ScanRequest {
    ScanRequest {
        targets: vec!["127.0.0.1".into()],
        ports: PortsRequest::Spec("40000-49999".into()),
        all_ports: true,
        max_rate: Some(20_000.0),
        seed: Some(3),
        resume,
        ..Default::default()
    }
}

#[test]
fn a_failing_sink_ends_the_scan_naming_it_with_the_state_saved() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.resume");
    let prep = session::prepare(request(Some(state.clone()))).unwrap();
    let mut sink = Sink {
        after: 50,
        seen: 0,
        fail: true,
        finished: false,
    };
    let err = session::run(prep, &mut [&mut sink], None, &mut (), &Stop::new()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ScanError::Sink { .. }), "{msg}");
    assert!(msg.contains("test output /dev/full"), "{msg}");
    assert!(msg.contains("No space left on device"), "{msg}");
    assert!(msg.contains("progress saved"), "{msg}");
    assert!(state.exists(), "the resume state is kept");
    assert!(sink.finished, "the sink is still finished");
    assert!(
        sink.seen < 10_000,
        "the scan stopped early ({} ports)",
        sink.seen
    );
}

#[test]
fn a_sink_can_stop_the_scan() {
    let _l = TcpListener::bind("127.0.0.1:0").unwrap();
    let prep = session::prepare(request(None)).unwrap();
    let mut sink = Sink {
        after: 50,
        seen: 0,
        fail: false,
        finished: false,
    };
    let out = session::run(prep, &mut [&mut sink], None, &mut (), &Stop::new()).unwrap();
    assert!(out.report.stats.interrupted);
    assert!(out.report.stats.completed < 10_000);
    assert!(sink.finished);
}

#[test]
fn flags_the_engine_would_ignore_are_errors() {
    let mut r = request(None);
    r.interface = Some("lo".into());
    let e = session::prepare(r).err().unwrap().to_string();
    assert!(e.contains("--interface applies to raw scans only"), "{e}");
    let mut r = request(None);
    r.min_timeout_ms = 5000;
    assert!(session::prepare(r).is_err());
}

/// Writes each call it gets, with its name, into a log shared with other sinks.
struct Calls<'a> {
    name: &'static str,
    log: &'a std::cell::RefCell<Vec<String>>,
}

impl EventSink for Calls<'_> {
    fn name(&self) -> String {
        self.name.into()
    }
    fn port(&mut self, _ev: &PortEvent, _t: SystemTime) -> Result<Flow, SinkError> {
        self.log.borrow_mut().push(format!("{} port", self.name));
        Ok(Flow::Continue)
    }
    fn ports_done(&mut self) -> Result<(), SinkError> {
        self.log
            .borrow_mut()
            .push(format!("{} ports_done", self.name));
        Ok(())
    }
    fn finish(&mut self, _r: &ScanReport) -> Result<(), SinkError> {
        self.log.borrow_mut().push(format!("{} finish", self.name));
        Ok(())
    }
}

#[test]
fn every_sink_hears_that_the_ports_are_done_before_any_is_finished() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let mut r = request(None);
    r.ports = PortsRequest::Spec(port);
    let prep = session::prepare(r).unwrap();
    let log = std::cell::RefCell::new(Vec::new());
    let mut a = Calls {
        name: "a",
        log: &log,
    };
    let mut b = Calls {
        name: "b",
        log: &log,
    };
    let out = session::run(prep, &mut [&mut a, &mut b], None, &mut (), &Stop::new()).unwrap();
    assert!(!out.report.stats.interrupted);
    assert_eq!(
        log.into_inner(),
        [
            "a port",
            "b port",
            "a ports_done",
            "b ports_done",
            "a finish",
            "b finish"
        ]
    );
}
