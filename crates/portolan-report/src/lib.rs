//! # portolan-report — renderers over the result model
//!
//! Everything that turns a [`portolan_model::ScanReport`] (or the stream of
//! [`portolan_model::PortEvent`]s that builds it) into bytes for a person or a program:
//!
//! - [`Format`] — `table`, `jsonl` (= `json`), `xml` (nmap's DTD), `grep` (nmap's grepable) and
//!   `csv`, with the renderers [`table()`], [`xml()`], [`grep()`] and [`csv()`], and typed JSON Lines
//!   records in [`jsonl`] (every record carries `"schema_version"` and the older `"v"`).
//! - [`JsonlSink`] and [`ReportSink`] — each format as a [`portolan_model::EventSink`]: JSON
//!   Lines stream as ports are found; the other formats are written when the scan finishes.
//! - [`OutputSpec`] / [`Dest`] / [`AtomicFile`] — `-o FMT=PATH` outputs, checked before a scan
//!   starts and written through an exclusively created, randomly named temporary file in the
//!   target's directory that is renamed over the target only on success (a crash or an error
//!   never truncates an earlier file, and no fixed name can be planted as a symlink).
//! - [`escape()`] — the one function that makes text from outside (banners, hostnames, file
//!   names) safe to print on a terminal.
//!
//! The crate is where an HTML report will go.
#![forbid(unsafe_code)]

mod escape;
mod format;
pub mod jsonl;
mod output;
mod render;
mod sink;

pub use escape::{escape, is_unsafe};
pub use format::Format;
pub use output::{AtomicFile, Dest, OutputError, OutputSpec};
pub use render::{csv, csv_cell, ctime, epoch, grep, table, xml, xml_escape, Paint, CSV_HEADER};
pub use sink::{JsonlSink, ReportSink};
