//! `portolan-detect` — see who is scanning or flooding you, from captures and live traffic.
//!
//! The crate reads packets from [`source`]s (pcap and pcapng files, also gzip-compressed, standard
//! input, directories of rotated captures, and live AF_PACKET capture on Linux), decodes them
//! with the zero-copy views of [`wire`] into flat [`decode::PacketInfo`]s, and feeds them to a
//! [`detect::Detector`]. The detector tracks connection outcomes (SYN answered by SYN-ACK, RST,
//! an ICMP error, or nothing) in a bounded [`flow::FlowTable`], and runs the detectors: Threshold
//! Random Walk (Jung et al., IEEE S&P 2004) on first-contact outcomes, windowed distinct-count
//! thresholds (vertical, horizontal, block, distributed) over HyperLogLog counters, flag-pattern
//! rules for stealth scans, UDP scans seen through ICMP port-unreachable replies, and a SYN-flood
//! detector on half-open connections per destination service. Each finding is an
//! [`alert::Alert`], which [`alert::Alert::to_eve`] renders in the shape of Suricata's EVE JSON.
//! All state lives in fixed-size tables with eviction, so memory stays flat on endless streams.
//! Tuning is a [`config::Config`] (TOML, with low/medium/high sensitivity presets).

pub mod alert;
pub mod config;
pub mod decode;
pub mod detect;
pub mod flow;
pub mod sketch;
pub mod source;
pub mod synth;
pub mod table;
pub mod wire;
