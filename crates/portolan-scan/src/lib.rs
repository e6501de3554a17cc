//! # portolan-scan — the scan engine
//!
//! Everything between "what the user asked to scan" and "what answered":
//!
//! - [`target::TargetSet`]: IPv4/IPv6 addresses, CIDR blocks, ranges and resolved hostnames, minus
//!   an exclude list, kept as a handful of intervals — a /8 costs the same memory as a /32, and
//!   an excluded address can never be produced ([`target::TargetSet::get`] is exact).
//! - [`ports::PortSet`]: port specs (`22,80,1000-2000`, `-`, service names from the IANA registry)
//!   and `--top-ports N` rankings ([`ports::top_ports`]).
//! - [`plan::Plan`]: a keyed pseudo-random permutation (Feistel network with cycle-walking, O(1)
//!   state) of the (target, port) index space, with sharding (`i/N`) and resume
//!   ([`plan::ResumeState`]).
//! - [`rate::TokenBucket`]: the hard `--max-rate` cap.
//! - [`connect`]: the unprivileged TCP connect scan engine (tokio), with an adaptive window driven by
//!   measured RTT and proven loss, kept under the file-descriptor limit ([`limits`]).
//! - [`model`]: the result model, re-exported from `portolan-model` (which renderers and other
//!   readers of results use without linking this engine) — [`model::PortEvent`] (one probed
//!   port), [`model::Service`] (filled by service detection), [`model::ScanReport`] (what renderers
//!   print), built incrementally by [`model::ReportBuilder`].
//! - [`raw`] and [`rawio`]: the raw SYN/UDP engine and its sockets (an IP raw socket, or
//!   `AF_PACKET` frames to the next hop's MAC); [`netlink`] asks the kernel for the route,
//!   source address, neighbour (next-hop MAC) and link of a destination.
//!
//! - [`discovery`]: host discovery (ICMP echo and timestamp, ICMPv6 echo, TCP SYN and ACK
//!   pings, raw and stateless through the raw engine; TCP connect without privilege): which
//!   hosts are up, before a port scan or alone (`scan -sn`); [`onlink`]: ARP and IPv6
//!   neighbour solicitation for the targets on a directly connected Ethernet link.
//! - [`session`]: the scan session — [`session::prepare`] checks a [`session::ScanRequest`]
//!   before any packet leaves, [`session::run`] runs engine → sinks → service detection → report,
//!   with failable sinks ([`model::EventSink`]) and resume state that never moves past what is
//!   saved.
//!
//! ```
//! use portolan_scan::{plan::Plan, ports::PortSet, target::TargetSet};
//! let targets = TargetSet::parse(&["192.0.2.0/30"], &[] as &[&str], Default::default()).unwrap();
//! let ports = PortSet::parse("22,80").unwrap();
//! let plan = Plan::new(targets.len() * ports.len() as u64, 7).unwrap();
//! let mut seen: Vec<u64> = (0..plan.len()).map(|i| plan.index_at(i)).collect();
//! seen.sort();
//! assert_eq!(seen, (0..8).collect::<Vec<u64>>());
//! ```

pub mod connect;
pub mod discovery;
pub mod egress;
pub mod limits;
pub mod model;
pub mod netlink;
pub mod onlink;
pub mod plan;
pub mod ports;
pub mod rate;
pub mod raw;
pub mod rawio;
pub mod session;
pub mod target;
mod toplist;

pub use model::{
    Cpe, Exposure, PortEvent, PortState, Protocol, Reason, ScanReport, Service, Severity,
};
