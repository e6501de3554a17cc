//! The sink trait: where a scan's results go while it runs.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::{PortEvent, Protocol, ScanReport};

/// What a sink asks of the scan after taking an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop the scan (as an interruption: the state is saved).
    Stop,
}

/// Why a sink failed. The scan stops, saves its state and names the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Shown as the I/O error's own message (no `source` chain: it would say it twice).
    #[error("{0}")]
    Io(std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> SinkError {
        SinkError::Io(e)
    }
}

/// What a scan is about to do: the first record of a stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanStart {
    /// The command line, for the record.
    pub args: String,
    pub num_ports: u64,
    /// The scanned ports in compact form (`1-1024,8080`).
    pub ports: String,
    pub proto: Protocol,
    /// The plan position a resumed scan continued from.
    pub resumed_from: Option<u64>,
    /// `connect`, `syn`, `udp`.
    pub scan_type: String,
    pub scanner: String,
    pub seed: u64,
    /// `i/N`.
    pub shard: String,
    pub targets: u64,
    #[serde(with = "epoch_secs")]
    pub time: SystemTime,
    /// The scanner's version.
    pub version: String,
}

/// `SystemTime` as fractional seconds since the Unix epoch.
pub mod epoch_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// `t` as fractional seconds since the Unix epoch (0 for a time before it).
    pub fn secs(t: SystemTime) -> f64 {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(secs(*t))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let f = f64::deserialize(d)?;
        Ok(UNIX_EPOCH + Duration::try_from_secs_f64(f).unwrap_or_default())
    }
}

/// Where a scan's results go while it runs: a file in some format, the terminal, a store.
///
/// Every method returns `Ok(Flow::Continue)` to go on, `Ok(Flow::Stop)` to end the scan early
/// (saving its state), or an error, which ends the scan with an error that names the sink
/// ([`EventSink::name`]). Called from one thread at a time.
pub trait EventSink {
    /// Who this sink is, for error messages (`jsonl output out.jsonl`).
    fn name(&self) -> String;
    /// The scan starts (or a resumed scan continues).
    fn start(&mut self, _start: &ScanStart) -> Result<Flow, SinkError> {
        Ok(Flow::Continue)
    }
    /// A port reached its final state (with its service once detection ran).
    fn port(&mut self, ev: &PortEvent, time: SystemTime) -> Result<Flow, SinkError>;
    /// Something the user should know.
    fn notice(&mut self, _msg: &str, _time: SystemTime) -> Result<Flow, SinkError> {
        Ok(Flow::Continue)
    }
    /// Make what was delivered so far durable: called before the scan's resume state moves
    /// past it.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// Every port has been delivered (the engine and service detection are done): the report
    /// is built next, and every sink's `finish` comes after. A sink that writes in the
    /// background hands over what it still holds, so that its writing runs beside the report
    /// and the other outputs rather than after them. Not called when the scan ends early with
    /// an error: `finish` must not depend on it.
    fn ports_done(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    /// The scan is over (finished or interrupted): write the summary and close.
    fn finish(&mut self, report: &ScanReport) -> Result<(), SinkError>;
    /// This sink, if its `finish` may run on a thread of its own beside the other sinks'
    /// (a store that compares the report with what it wrote and commits, while the outputs
    /// write the report on the scan's thread): see [`finish_all`]. `None`, the default:
    /// `finish` runs on the caller's thread, after the sinks before it.
    fn finish_beside(&mut self) -> Option<&mut (dyn EventSink + Send)> {
        None
    }
}

fn panicked() -> SinkError {
    SinkError::Other("internal error: finishing it failed (a panic)".into())
}

/// Finish every sink with `report`: those that may ([`EventSink::finish_beside`]) on a
/// thread of their own, one after the other, and meanwhile the others one after the other on
/// this thread. Returns once every sink is finished, with the first failure in the sinks'
/// order (the sink's name and its error); a sink whose `finish` panicked on that thread is a
/// failure too.
pub fn finish_all(
    sinks: &mut [&mut dyn EventSink],
    report: &ScanReport,
) -> Option<(String, SinkError)> {
    let mut results: Vec<Option<Result<(), SinkError>>> = Vec::new();
    results.resize_with(sinks.len(), || None);
    let names: Vec<String> = sinks.iter().map(|s| s.name()).collect();
    let any = sinks.iter_mut().any(|s| s.finish_beside().is_some());
    std::thread::scope(|sc| {
        // One thread finishes the sinks that may be finished beside the others, one after
        // the other (there is seldom more than one: the store); none to be had, they are
        // finished here.
        let (tx, rx) = std::sync::mpsc::channel::<(usize, &mut (dyn EventSink + Send))>();
        let helper = any
            .then(|| {
                std::thread::Builder::new()
                    .name("portolan-finish".into())
                    .spawn_scoped(sc, move || {
                        rx.into_iter()
                            .map(|(i, s)| {
                                // (One that panics is a failure; the next is still finished.)
                                let r =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        s.finish(report)
                                    }));
                                (i, r.unwrap_or_else(|_| Err(panicked())))
                            })
                            .collect::<Vec<_>>()
                    })
                    .ok()
            })
            .flatten();
        let mut here: Vec<(usize, &mut dyn EventSink)> = Vec::new();
        for (i, s) in sinks.iter_mut().enumerate() {
            // (Asked twice: the borrow of the first answer would outlive the `else`.)
            if helper.is_some() && s.finish_beside().is_some() {
                if let Some(b) = s.finish_beside() {
                    // (The helper is gone: finished here.)
                    if let Err(std::sync::mpsc::SendError((i, b))) = tx.send((i, b)) {
                        results[i] = Some(b.finish(report));
                    }
                }
            } else {
                here.push((i, &mut **s));
            }
        }
        drop(tx);
        for (i, s) in here {
            results[i] = Some(s.finish(report));
        }
        if let Some(h) = helper {
            for (i, r) in h.join().unwrap_or_default() {
                results[i] = Some(r);
            }
        }
    });
    // A sink without an answer was handed over and its thread died.
    results.into_iter().zip(names).find_map(|(r, name)| {
        match r.unwrap_or_else(|| Err(panicked())) {
            Err(e) => Some((name, e)),
            Ok(()) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;
    use std::sync::mpsc;
    use std::time::Duration;

    fn report() -> ScanReport {
        ScanReport {
            scan_type: "syn".into(),
            proto: Protocol::Tcp,
            args: String::new(),
            ports_spec: "80".into(),
            num_ports: 1,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            hosts: Vec::new(),
            targets_total: 0,
            stats: Default::default(),
            host_discovery: String::new(),
        }
    }

    /// A sink that records which thread finished it, and fails or panics when told to.
    struct Probe {
        name: &'static str,
        beside: bool,
        fail: bool,
        panic: bool,
        finished_on: Option<std::thread::ThreadId>,
        /// Beside: waits for a word from a sink finished on the caller's thread (which
        /// proves the two ran at once). Not beside: sends it.
        meet: Option<Meet>,
        met: bool,
    }

    enum Meet {
        Wait(mpsc::Receiver<()>),
        Send(mpsc::Sender<()>),
    }

    impl Probe {
        fn new(name: &'static str, beside: bool) -> Probe {
            Probe {
                name,
                beside,
                fail: false,
                panic: false,
                finished_on: None,
                meet: None,
                met: false,
            }
        }
    }

    impl EventSink for Probe {
        fn name(&self) -> String {
            self.name.into()
        }
        fn port(&mut self, _: &crate::PortEvent, _: SystemTime) -> Result<Flow, SinkError> {
            Ok(Flow::Continue)
        }
        fn finish(&mut self, _: &ScanReport) -> Result<(), SinkError> {
            self.finished_on = Some(std::thread::current().id());
            match &self.meet {
                Some(Meet::Wait(rx)) => self.met = rx.recv_timeout(Duration::from_secs(10)).is_ok(),
                Some(Meet::Send(tx)) => self.met = tx.send(()).is_ok(),
                None => {}
            }
            if self.panic {
                panic!("probe {} panics on purpose", self.name);
            }
            match self.fail {
                true => Err(SinkError::Other(format!("{} failed", self.name))),
                false => Ok(()),
            }
        }
        fn finish_beside(&mut self) -> Option<&mut (dyn EventSink + Send)> {
            self.beside.then_some(self as _)
        }
    }

    #[test]
    fn a_sink_finished_beside_runs_on_its_own_thread_while_the_others_finish() {
        let (tx, rx) = mpsc::channel();
        let mut out = Probe::new("table", false);
        out.meet = Some(Meet::Send(tx));
        let mut store = Probe::new("store", true);
        // The store comes first and waits for the table: finished one after the other on
        // one thread, it would wait in vain.
        store.meet = Some(Meet::Wait(rx));
        let mut sinks: Vec<&mut dyn EventSink> = vec![&mut store, &mut out];
        assert!(finish_all(&mut sinks, &report()).is_none());
        let here = std::thread::current().id();
        assert!(store.met && out.met);
        assert_eq!(out.finished_on, Some(here));
        assert!(store.finished_on.is_some_and(|t| t != here));
    }

    #[test]
    fn the_first_failure_in_the_sinks_order_is_the_error_and_every_sink_is_finished() {
        for (fail_a, fail_b, want) in [
            (true, true, Some("a")),
            (false, true, Some("b")),
            (true, false, Some("a")),
            (false, false, None),
        ] {
            // `a` finishes beside (on another thread), `b` here, `c` beside too.
            let mut a = Probe::new("a", true);
            a.fail = fail_a;
            let mut b = Probe::new("b", false);
            b.fail = fail_b;
            let mut c = Probe::new("c", true);
            let mut sinks: Vec<&mut dyn EventSink> = vec![&mut a, &mut b, &mut c];
            let got = finish_all(&mut sinks, &report());
            assert_eq!(got.as_ref().map(|(n, _)| n.as_str()), want);
            if let Some((name, SinkError::Other(msg))) = &got {
                assert_eq!(msg, &format!("{name} failed"));
            }
            assert!(a.finished_on.is_some() && b.finished_on.is_some());
            assert!(c.finished_on.is_some());
        }
    }

    #[test]
    fn a_sink_that_panics_beside_is_a_failure_and_the_others_still_finish() {
        let mut a = Probe::new("store", true);
        a.panic = true;
        let mut b = Probe::new("table", false);
        let mut c = Probe::new("late", true);
        let mut sinks: Vec<&mut dyn EventSink> = vec![&mut a, &mut b, &mut c];
        let got = finish_all(&mut sinks, &report());
        let (name, err) = got.expect("the panic is reported");
        assert_eq!(name, "store");
        assert!(err.to_string().contains("panic"), "{err}");
        assert!(b.finished_on.is_some() && c.finished_on.is_some());
    }
}
