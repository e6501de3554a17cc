//! Curated knowledge of services that are risky to expose on a network.
//!
//! The data lives in `data/risks.toml` (one `[[risk]]` table per service, every field required,
//! each with at least one public source) and is compiled in by the build script, which rejects an
//! entry with a bad port, protocol or severity. Other crates use it to explain a port
//! (`portolan port`), to judge a listening socket (`portolan local`) and to rate scan results.

use crate::Protocol;
use std::fmt;

/// How bad it is to expose the service to an untrusted network.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(format!(
                "unknown severity {s:?}: use info, low, medium, high or critical"
            )),
        }
    }
}

/// A port or port range with its protocol, as a risk entry lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RiskPort {
    pub lo: u16,
    pub hi: u16,
    pub protocol: Protocol,
}

impl RiskPort {
    pub fn contains(&self, port: u16, protocol: Protocol) -> bool {
        self.protocol == protocol && self.lo <= port && port <= self.hi
    }
}

impl fmt::Display for RiskPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}/{}", self.lo, self.protocol)
        } else {
            write!(f, "{}-{}/{}", self.lo, self.hi, self.protocol)
        }
    }
}

/// One service that is risky to expose.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Risk {
    /// Stable identifier, e.g. `redis`.
    pub id: &'static str,
    /// Human name, e.g. `Redis`.
    pub name: &'static str,
    /// Where it usually listens.
    pub ports: &'static [RiskPort],
    pub severity: Severity,
    /// Kind of service: `database`, `cleartext-login`, `amplification`, ...
    pub category: &'static str,
    /// What an attacker gets when it is reachable.
    pub why: &'static str,
    /// What to do about it.
    pub remediation: &'static str,
    /// Public documents that back the entry.
    pub sources: &'static [&'static str],
}

include!(concat!(env!("OUT_DIR"), "/risks_data.rs"));

/// Every risk entry.
pub fn all() -> &'static [Risk] {
    &RISKS
}

/// Risk entries that cover `port`/`protocol`.
pub fn for_port(port: u16, protocol: Protocol) -> impl Iterator<Item = &'static Risk> {
    RISKS
        .iter()
        .filter(move |r| r.ports.iter().any(|p| p.contains(port, protocol)))
}

/// The risk entry with this id.
pub fn by_id(id: &str) -> Option<&'static Risk> {
    RISKS.iter().find(|r| r.id == id)
}
