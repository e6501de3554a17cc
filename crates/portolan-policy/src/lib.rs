//! The port policy of Portolan: who may reach which service, in one YAML file a person can
//! read, and what follows from it.
//!
//! - [`Policy`] (in [`model`]): named **zones** (networks), **hosts** (one address in a zone),
//!   ordered **rules** (`from` → `to`, `allow` services, optional `log` and a per-source
//!   `rate`), `default: deny` (drop) or `reject`, and optionally `egress: deny|reject` (a
//!   host's own connections filtered too). Services are named from the IANA registry of `portolan-registry`
//!   (`ssh`, `postgresql`, `domain/udp`), or written as ports and ranges (`53/udp`,
//!   `8000-8100`), or `icmp-echo`.
//! - [`Policy::parse`] / [`Policy::from_file`] (in [`parse`]): YAML through `serde_norway` (the
//!   maintained fork of `serde_yaml`); every error carries the line and column and says what to
//!   write instead; files are read through the bounded reader of `portolan-registry`.
//! - [`compile`]: the rules as a partition of disjoint flows (source range, destination range,
//!   service) → verdict, first-match semantics preserved; the firewall generators of
//!   `portolan-firewall` build their sets and verdict maps from it.
//! - [`lint()`]: shadowed and overlapping rules, any-any rules, empty zones, hosts outside their
//!   zone.
//! - [`check::check`]: ports seen open (by a scan, or listening on this host) against the
//!   policy: violations (open, not allowed) and stale rules (allowed, never seen open).
//!
//! ```
//! let yaml = "
//! zones:
//!   office: { networks: [10.30.0.0/16] }
//!   dmz:    { networks: [10.20.0.0/24] }
//! rules:
//!   - { from: office, to: dmz, allow: [ssh] }
//! default: deny
//! ";
//! let reg = portolan_registry::Registry::embedded();
//! let policy = portolan_policy::Policy::parse(yaml, reg).unwrap();
//! assert_eq!(policy.rules[0].services()[0].to_string(), "22/tcp");
//! assert!(portolan_policy::lint(&policy).is_empty());
//! ```
//!

#![forbid(unsafe_code)]

pub mod addr;
pub mod check;
pub mod compile;
pub mod lint;
pub mod model;
pub mod parse;

pub use lint::{lint, Finding};
pub use model::{Endpoint, Host, Policy, Rate, RateUnit, Rule, Service, ServiceRef, Zone};
pub use parse::{LoadError, PolicyError};
