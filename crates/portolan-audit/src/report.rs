//! The report of `portolan local`: every socket with its processes and registry name, every
//! finding, and what changed since a baseline. Serialised as JSON schema `portolan.local/1`
//! (docs/schema/local.md); a saved report is also the baseline format.

use std::collections::BTreeSet;

use portolan_registry::risk::Severity;
use portolan_registry::{EntryKind, Registry};
use serde::{Deserialize, Serialize};

use crate::socket::{Exposure, Socket, SocketKey};

/// The schema identifier written into every JSON report.
pub const SCHEMA: &str = "portolan.local/1";

/// A process holding a socket through one descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: u32,
    pub fd: u32,
    pub name: String,
    pub cmdline: String,
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub unit: Option<String>,
}

/// One listed socket, with what is known about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketEntry {
    #[serde(flatten)]
    pub socket: Socket,
    pub exposure: Exposure,
    pub dual_stack: bool,
    /// IANA service name assigned to the port and protocol, if any.
    pub service: Option<String>,
    /// Name of the interface the socket is bound to (SO_BINDTODEVICE), if any.
    #[serde(default)]
    pub interface_name: Option<String>,
    /// Processes holding the socket (empty: unknown, e.g. another user's when not root).
    pub processes: Vec<ProcessRef>,
}

impl SocketEntry {
    /// Build an entry, looking the port up in the embedded registry.
    pub fn new(socket: Socket, processes: Vec<ProcessRef>) -> SocketEntry {
        let service = Registry::embedded()
            .by_port(socket.port)
            .find(|e| e.protocol() == Some(socket.protocol) && e.kind() == EntryKind::Assigned)
            .map(|e| e.service().to_string());
        SocketEntry {
            exposure: socket.exposure(),
            dual_stack: socket.is_dual_stack(),
            service,
            interface_name: None,
            processes,
            socket,
        }
    }
}

/// One finding: a rule that fired on a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's id (`exposed-database`, ...).
    pub rule: String,
    pub title: String,
    #[serde(with = "crate::serde_util::severity")]
    pub severity: Severity,
    /// `tcp 0.0.0.0:6379`.
    pub endpoint: String,
    pub socket: SocketKey,
    /// The risk entry (portolan-registry) the finding rests on, if any.
    pub risk: Option<String>,
    /// What was seen and why it matters.
    pub evidence: String,
    pub remediation: String,
    pub sources: Vec<String>,
    pub pids: Vec<u32>,
}

impl Finding {
    /// Identity across runs: rule and socket.
    pub fn key(&self) -> (String, SocketKey) {
        (self.rule.clone(), self.socket)
    }
}

/// Counts by severity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

impl Counts {
    pub fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            match f.severity {
                Severity::Critical => c.critical += 1,
                Severity::High => c.high += 1,
                Severity::Medium => c.medium += 1,
                Severity::Low => c.low += 1,
                Severity::Info => c.info += 1,
            }
        }
        c
    }
}

/// What changed since a baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The baseline file compared against.
    pub file: String,
    /// Sockets in the baseline that are gone now.
    pub removed_sockets: Vec<SocketKey>,
    /// Findings of the baseline that no longer appear.
    pub resolved_findings: Vec<Finding>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub generated_unix: u64,
    /// `netlink` or `proc`.
    pub source: String,
    /// Whether every process's descriptors could be read.
    pub complete_processes: bool,
    /// The ephemeral range of this network namespace, if known.
    pub ephemeral_range: Option<(u16, u16)>,
    /// Things the reader should know (fallbacks taken, limits hit).
    pub notes: Vec<String>,
    pub sockets: Vec<SocketEntry>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// Present when compared with a baseline: `sockets` and `findings` then hold only what is
    /// new, and this holds what went away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Changes>,
}

/// Totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub sockets: usize,
    pub findings: Counts,
}

impl Report {
    /// Recompute the summary after the lists changed.
    pub fn resummarise(&mut self) {
        self.summary = Summary {
            sockets: self.sockets.len(),
            findings: Counts::of(&self.findings),
        };
    }

    /// Keep only what is new since `base`, and record what went away.
    pub fn diff_against(&mut self, base: &Report, file: &str) {
        let base_sockets: BTreeSet<SocketKey> =
            base.sockets.iter().map(|e| e.socket.key()).collect();
        let now_sockets: BTreeSet<SocketKey> =
            self.sockets.iter().map(|e| e.socket.key()).collect();
        let base_findings: BTreeSet<(String, SocketKey)> =
            base.findings.iter().map(Finding::key).collect();
        let now_findings: BTreeSet<(String, SocketKey)> =
            self.findings.iter().map(Finding::key).collect();
        let changes = Changes {
            file: file.to_string(),
            removed_sockets: base_sockets.difference(&now_sockets).copied().collect(),
            resolved_findings: base
                .findings
                .iter()
                .filter(|f| !now_findings.contains(&f.key()))
                .cloned()
                .collect(),
        };
        self.sockets
            .retain(|e| !base_sockets.contains(&e.socket.key()));
        self.findings.retain(|f| !base_findings.contains(&f.key()));
        self.baseline = Some(changes);
        self.resummarise();
    }

    /// The highest severity among the findings (new ones, after a baseline diff).
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Read a report saved with `--save-baseline` (or `--json`).
    pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
        serde_json::from_str(text)
    }
}
