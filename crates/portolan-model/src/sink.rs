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
}
