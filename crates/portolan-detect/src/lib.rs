//! `portolan-detect` — see who is scanning or flooding you, from captures and live traffic.
//!
//! The crate reads packets from [`source`]s (pcap and pcapng files, also gzip-compressed, standard
//! input, directories of rotated captures, and live AF_PACKET capture on Linux), decodes them
//! with the zero-copy views of [`portolan_wire`] into flat [`decode::PacketInfo`]s, and feeds them to a
//! [`detect::Detector`]. The detector tracks connection outcomes (SYN answered by SYN-ACK, RST,
//! an ICMP error, or nothing) in a bounded [`flow::FlowTable`], and runs the detectors: Threshold
//! Random Walk (Jung et al., IEEE S&P 2004) on first-contact outcomes, windowed distinct-count
//! thresholds (vertical, horizontal, block, distributed) over the *failed* first contacts
//! (exact counts, then HyperLogLog: completed connections to open services are no scan), flag-pattern
//! rules for stealth scans, UDP scans seen through ICMP port-unreachable replies, and a SYN-flood
//! detector on half-open connections per destination service. Each finding is an
//! [`alert::Alert`], which [`alert::Alert::to_eve`] renders in the shape of Suricata's EVE JSON.
//! All state lives in fixed-size tables with eviction, so memory stays flat on endless streams.
//! Nothing is random: hashes are keyed by `limits.hash_key`, so the same packets give the same
//! alerts and counts on every run.
//! Tuning is a [`config::Config`] (TOML, with low/medium/high sensitivity presets).
//!
//! ```
//! use portolan_detect::config::Config;
//! use portolan_detect::detect::Detector;
//! use portolan_detect::source::{open_path, PacketSource};
//! # use portolan_detect::source::pcap::PcapWriter;
//! # use portolan_detect::synth::{self, Tcp};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("scan.pcap");
//! # let mut w = PcapWriter::new(Vec::new(), 1, 65535)?;
//! # for port in 1..=10u16 {
//! #     let mut b = Vec::new();
//! #     let syn = Tcp { sport: 40000, dport: port, window: 1024, ..Tcp::default() };
//! #     synth::tcp4(&mut b, [198, 51, 100, 7], [192, 0, 2, 1], 1, 64, &syn);
//! #     w.write(u64::from(port) * 1_000_000, &b)?;
//! #     let mut b = Vec::new();
//! #     let rst = Tcp { sport: port, dport: 40000, flags: 0x14, ..Tcp::default() };
//! #     synth::tcp4(&mut b, [192, 0, 2, 1], [198, 51, 100, 7], 1, 64, &rst);
//! #     w.write(u64::from(port) * 1_000_000 + 1000, &b)?;
//! # }
//! # std::fs::write(&path, w.into_inner())?;
//! let mut det = Detector::new(Config::default());
//! let mut src = open_path(&path)?; // pcap, pcapng, .gz, a directory or "-"
//! while let Some(pkt) = src.next_packet()? {
//!     det.process_raw(&pkt);
//! }
//! det.finish();
//! let alerts = det.take_alerts();
//! assert_eq!(alerts[0].technique.name(), "tcp-syn");
//! println!("{}", alerts[0].to_eve());
//! # Ok(())
//! # }
//! ```

pub mod alert;
pub mod config;
pub mod decode;
pub mod detect;
pub mod flow;
pub mod sketch;
pub mod source;
pub mod synth;
pub mod table;
