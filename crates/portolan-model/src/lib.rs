//! # portolan-model — the shared vocabulary of Portolan's results
//!
//! Every feature that reads or writes scan results (the scanner, the renderers, service
//! detection, and later the result store, diffs, policy checks and reports) speaks these types,
//! so a reader of results never links the raw-socket engine:
//!
//! - [`Protocol`] — the one transport-protocol type (the registry's: tcp, udp, sctp, dccp).
//! - [`Severity`] — the one severity type (info, low, medium, high, critical), ordered.
//! - [`PortEvent`] — one probed port's outcome (address, port, protocol, [`PortState`],
//!   [`Reason`], RTT, TTL, optional [`Service`] with its [`Exposure`]s).
//! - [`PortKey`] — a port's identity: (address, protocol, port).
//! - [`Cpe`] — a typed CPE name (`cpe:/a:openbsd:openssh:9.2p1` or CPE 2.3).
//! - [`ScanReport`] — what a scan found, built incrementally by [`ReportBuilder`] with bounded
//!   memory; [`diff()`] compares two reports as ndiff does.
//! - [`EventSink`] — where results go while a scan runs. Every method returns
//!   `Result<Flow, SinkError>`: a sink can fail (a full disk) and can ask the scan to stop, as
//!   ripgrep's `Sink` does.
//!
//! - [`Stop`] — how a user's interruption reaches long work: the first request stops
//!   gracefully (finish what is in hand, save), the second stops at once (save what was found).
//!
//! The serde form of these types *is* the JSON schema (docs/schema/scan-jsonl.md).
#![forbid(unsafe_code)]

mod cpe;
pub mod diff;
mod report;
mod sink;
mod stop;

pub use cpe::{Cpe, CpeError};
pub use diff::{diff, Change, PortDiff};
pub use portolan_registry::risk::Severity;
pub use portolan_registry::Protocol;
pub use report::*;
pub use sink::{epoch_secs, finish_all, EventSink, Flow, ScanStart, SinkError};
pub use stop::Stop;

/// A port's identity across scans: (address, protocol, port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey {
    pub addr: std::net::IpAddr,
    pub proto: Protocol,
    pub port: u16,
}

impl PortEvent {
    /// This event's identity.
    pub fn key(&self) -> PortKey {
        PortKey {
            addr: self.addr,
            proto: self.proto,
            port: self.port,
        }
    }
}
