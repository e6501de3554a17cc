//! Service and version detection for Portolan: what listens on a port, which product and
//! version, what TLS, SSH and HTTP say about it, and whether it lets anyone in without
//! credentials — proved by harmless read-only requests, never by guessing passwords or writing.
//!
//! Main types:
//! - [`ProbeDb`]: the probe database — probes (payload, likely ports, rarity, wait) and match
//!   rules (a regex over the reply's bytes, captures into product/version/info/CPE templates).
//!   Built in from `data/probes/*.toml` (format in `docs/probes.md`); a user's
//!   `nmap-service-probes` can be loaded at run time ([`ProbeDb::from_nmap_file`]).
//! - [`detect`] / [`detect_many`] / [`detect_stream`] / [`detect_target`]: the engine. Connects, listens for a
//!   banner, sends probes in order of likelihood, detects TLS on any port (rustls, any
//!   certificate accepted and recorded) and probes inside the tunnel.
//! - [`Options`]: waits, caps, intensity, concurrency, the lab-only proxy target.
//! - [`ServiceReport`]: the result, serde-serialisable: name, product, version, extrainfo,
//!   CPE, tunnel, [`TlsInfo`], [`SshInfo`], [`HttpInfo`], a length-capped banner and
//!   [`ExposureFinding`]s from the [`checks`].
//!
//! Every reply is untrusted: reads are bounded in bytes ([`Options::max_reply`]) and time
//! (per-probe deadline, whatever the drip rate), banners are capped, and text is escaped by
//! the printer, not here.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let opts = portolan_fingerprint::Options::new()?;
//! let r = portolan_fingerprint::detect("127.0.0.1:22".parse()?, &opts).await;
//! println!("{} {}", r.display_name(), r.version_line());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod checks;
pub mod db;
pub mod dns;
pub mod engine;
pub mod escape;
pub mod http;
pub mod nmap;
pub mod report;
pub mod snmp;
pub mod ssh;
pub mod starttls;
pub mod tls;

pub use db::{DbError, Match, Probe, ProbeDb, Rule};
pub use engine::{detect, detect_many, detect_stream, detect_target, Options, Target};
/// The transport protocol of a probe, target and report: the registry's one type.
pub use portolan_registry::Protocol;
pub use report::{
    CertInfo, Confidence, ExposureFinding, HttpInfo, ServiceReport, Severity, SshInfo, TlsInfo,
};
