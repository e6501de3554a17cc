//! Offline vulnerability management for Portolan: from a detected product and version to the
//! CVEs that apply, how sure that is, and which are exploited in the wild.
//!
//! - [`nvd`]: NVD CVE API 2.0 records ([`nvd::CveRecord`]) and a streaming reader for single
//!   CVE objects, `vulnerabilities[]` pages and feed files;
//! - [`feeds`]: CISA KEV (JSON and CSV) and FIRST EPSS (CSV) readers;
//! - [`import`]: files, directories and `.gz` into a store, in bounded memory, each input capped;
//!   incremental (a newer `lastModified` replaces a record, an older one is ignored);
//! - [`db`]: the storage API ([`db::VulnStore`]) and its SQLite implementation
//!   ([`db::SqliteStore`], a file of its own, `vulns.sqlite3` in the data directory). The trait
//!   is the seam along which the data can move into `portolan-store` later;
//! - [`version`]: an order on upstream version strings (`9.2p1`, `1.3.8a`, `2.3.19.1`,
//!   `9.16.1-S1`);
//! - [`cpe`]: CPE 2.3 names split into attributes;
//! - [`matcher`]: configurations (AND/OR, negate, `vulnerable: false` platforms), version ranges,
//!   the alias table of renamed products, and a stated confidence for each [`matcher::Finding`]
//!   (version from a banner or a probe, a distribution build whose fixes may be backported,
//!   records NVD has not analysed yet); product names without a CPE (through the records' own
//!   CPE product names, one vendor only); a compact per-product index of the criteria with
//!   versions packed inline that rules out records before the full evaluation.
//!
//! Not built yet: CNA `affected` data (NVD's CPE configurations only), a store shared with scan
//! results.

#![forbid(unsafe_code)]

pub mod cpe;
pub mod db;
pub mod feeds;
pub mod import;
pub mod matcher;
pub mod nvd;
pub mod version;

pub use db::{SqliteStore, VulnStore};
pub use matcher::{Applicability, Detected, Filter, Finding, Matcher};
pub use version::Version;
