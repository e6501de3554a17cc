//! # portolan-registry — what a port *is*
//!
//! The knowledge every other Portolan crate leans on, available with no I/O and no parsing at run
//! time:
//!
//! - [`Registry`]: IANA's *Service Name and Transport Protocol Port Number Registry*, compiled
//!   into the binary from the CSV export at build time ([`Registry::embedded`]). Lookups by port
//!   ([`Registry::by_port`]), by service name ([`Registry::by_name`]) and close-name suggestions
//!   ([`Registry::suggest`]) take microseconds. A user-refreshed copy can be loaded with
//!   [`Registry::from_csv`] / [`Registry::load_user`] after [`iana::validate`] accepts it.
//! - [`Category`]: the RFC 6335 range a port falls in (system, user, dynamic).
//! - [`ephemeral`]: the ephemeral (dynamic, client-side) port ranges of common systems and this
//!   machine's own.
//! - [`risk`]: curated knowledge of services that are risky to expose, with severity, reason,
//!   remediation and public sources (compiled from `data/risks.toml`).
//!
//! ```
//! use portolan_registry::{Category, Protocol, Registry};
//! let reg = Registry::embedded();
//! let ssh: Vec<_> = reg.by_port(22).filter(|e| e.protocol() == Some(Protocol::Tcp)).collect();
//! assert_eq!(ssh[0].service(), "ssh");
//! assert_eq!(Category::of(22), Category::System);
//! assert!(portolan_registry::risk::for_port(6379, Protocol::Tcp).next().is_some());
//! ```

#![forbid(unsafe_code)]

pub mod ephemeral;
pub mod iana;
pub mod input;
pub mod risk;

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use iana::{field, kind, PackedRecord};

mod embedded {
    use super::PackedRecord;
    include!(concat!(env!("OUT_DIR"), "/registry_data.rs"));
}

/// A transport protocol of the registry.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Dccp,
}

impl Protocol {
    /// All protocols, in the order they are shown.
    pub const ALL: [Protocol; 4] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp, Protocol::Dccp];

    /// Lowercase name, as in the registry and in `22/tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
            Protocol::Dccp => "dccp",
        }
    }

    fn from_code(c: u8) -> Option<Protocol> {
        match c {
            iana::proto::TCP => Some(Protocol::Tcp),
            iana::proto::UDP => Some(Protocol::Udp),
            iana::proto::SCTP => Some(Protocol::Sctp),
            iana::proto::DCCP => Some(Protocol::Dccp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            "dccp" => Ok(Protocol::Dccp),
            _ => Err(UnknownProtocol(s.to_string())),
        }
    }
}

/// A protocol name that is not tcp, udp, sctp or dccp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?}: use tcp, udp, sctp or dccp")]
pub struct UnknownProtocol(pub String);

/// The RFC 6335 (section 6) range a port number belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// 0-1023: System Ports ("well-known"), assigned by IETF review.
    System,
    /// 1024-49151: User Ports ("registered"), assigned by IANA.
    User,
    /// 49152-65535: Dynamic and/or Private Ports, never assigned.
    Dynamic,
}

impl Category {
    /// The category of a port. Total: every `u16` has one.
    pub const fn of(port: u16) -> Category {
        match port {
            0..=1023 => Category::System,
            1024..=49151 => Category::User,
            _ => Category::Dynamic,
        }
    }

    /// The inclusive port range of the category.
    pub const fn range(self) -> (u16, u16) {
        match self {
            Category::System => (0, 1023),
            Category::User => (1024, 49151),
            Category::Dynamic => (49152, 65535),
        }
    }

    /// Short name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::System => "system",
            Category::User => "user",
            Category::Dynamic => "dynamic",
        }
    }

    /// A one-line explanation for people.
    pub fn describe(self) -> &'static str {
        match self {
            Category::System => "system port (well-known, 0-1023; RFC 6335): binding needs privilege on Unix",
            Category::User => "user port (registered, 1024-49151; RFC 6335)",
            Category::Dynamic => "dynamic/private port (49152-65535; RFC 6335): never assigned, used for ephemeral ports",
        }
    }
}

/// What kind of registry record an [`Entry`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// A service name assigned to the port.
    Assigned,
    /// A second name for another entry's port ("This entry is an alias to ...").
    Alias,
    /// IANA lists the port as unassigned.
    Unassigned,
    /// IANA lists the port as reserved.
    Reserved,
    /// A service name registered without any port (for DNS SRV / DNS-SD).
    NameOnly,
    /// No service name, but neither unassigned nor reserved (De-registered, Removed, ...).
    Other,
}

/// Where a [`Registry`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Compiled into the binary.
    Embedded,
    /// Loaded from a file (a user-refreshed copy).
    File(PathBuf),
}

/// The IANA port registry, with lookup indexes.
#[derive(Clone, Debug)]
pub struct Registry {
    blob: Cow<'static, str>,
    records: Cow<'static, [PackedRecord]>,
    by_port: Cow<'static, [u32]>,
    ranges: Cow<'static, [u32]>,
    ranges_max_hi: Cow<'static, [u16]>,
    by_name: Cow<'static, [u32]>,
    source: Source,
}

static EMBEDDED: Registry = Registry {
    blob: Cow::Borrowed(embedded::BLOB),
    records: Cow::Borrowed(&embedded::RECORDS),
    by_port: Cow::Borrowed(&embedded::BY_PORT),
    ranges: Cow::Borrowed(&embedded::RANGES),
    ranges_max_hi: Cow::Borrowed(&embedded::RANGES_MAX_HI),
    by_name: Cow::Borrowed(&embedded::BY_NAME),
    source: Source::Embedded,
};

/// Errors loading a registry file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid IANA port registry CSV: {source}")]
    Invalid {
        path: PathBuf,
        source: iana::CsvError,
    },
    #[error(transparent)]
    Read(#[from] input::ReadError),
}

/// The most bytes of a registry CSV read (IANA's export is about 1 MiB).
pub const CSV_LIMIT: input::Limit = input::Limit {
    what: "a port registry CSV",
    max_bytes: 64 * input::MIB,
    hint: "IANA's export, service-names-port-numbers.csv, is about 1 MiB",
};

/// File name of the user-refreshed copy inside the data directory.
pub const USER_FILE: &str = "service-names-port-numbers.csv";

/// The directory where `portolan registry update` keeps its copy: `$PORTOLAN_DATA_DIR`, else
/// `$XDG_DATA_HOME/portolan`, else `~/.local/share/portolan`.
pub fn user_data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PORTOLAN_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("portolan"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/portolan"))
}

impl Registry {
    /// The registry compiled into the binary (IANA's export as checked into the project).
    pub fn embedded() -> &'static Registry {
        &EMBEDDED
    }

    /// Parse, validate and index a registry CSV export.
    pub fn from_csv(text: &str, path: &Path) -> Result<Registry, RegistryError> {
        let recs = iana::parse(text)
            .and_then(|r| iana::validate(&r).map(|()| r))
            .map_err(|source| RegistryError::Invalid {
                path: path.to_path_buf(),
                source,
            })?;
        let p = iana::pack(&recs);
        Ok(Registry {
            blob: Cow::Owned(p.blob),
            records: Cow::Owned(p.records),
            by_port: Cow::Owned(p.by_port),
            ranges: Cow::Owned(p.ranges),
            ranges_max_hi: Cow::Owned(p.ranges_max_hi),
            by_name: Cow::Owned(p.by_name),
            source: Source::File(path.to_path_buf()),
        })
    }

    /// Load a registry CSV file.
    pub fn from_file(path: &Path) -> Result<Registry, RegistryError> {
        let text = input::read_bounded_string(path, CSV_LIMIT)?;
        Registry::from_csv(&text, path)
    }

    /// The user-refreshed copy if there is one (`Ok(None)` when there is none).
    pub fn load_user() -> Result<Option<Registry>, RegistryError> {
        let Some(dir) = user_data_dir() else {
            return Ok(None);
        };
        let path = dir.join(USER_FILE);
        if !path.exists() {
            return Ok(None);
        }
        Registry::from_file(&path).map(Some)
    }

    /// Where this registry came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Number of records (rows of the CSV).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the registry has no record (never true for a validated one).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// All records in file order.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'_>> {
        self.records.iter().map(move |rec| Entry { reg: self, rec })
    }

    fn entry(&self, i: u32) -> Option<Entry<'_>> {
        self.records
            .get(i as usize)
            .map(|rec| Entry { reg: self, rec })
    }

    /// Every record covering `port`: single-port records first (sorted by protocol), then the
    /// ranges that contain it (sorted by their first port).
    pub fn by_port(&self, port: u16) -> impl Iterator<Item = Entry<'_>> {
        let recs = &self.records;
        let start = self
            .by_port
            .partition_point(|&i| recs.get(i as usize).map_or(0, |r| r.port_lo) < port);
        let singles = self.by_port[start..]
            .iter()
            .take_while(move |&&i| recs.get(i as usize).is_some_and(|r| r.port_lo == port));
        // Ranges are sorted by their first port: those starting after `port` are cut off, and
        // the running maximum of their last port skips those that end before it.
        let end = self
            .ranges
            .partition_point(|&i| recs.get(i as usize).is_some_and(|r| r.port_lo <= port));
        let start = self
            .ranges_max_hi
            .get(..end)
            .map_or(end, |m| m.partition_point(|&hi| hi < port));
        let ranges = self
            .ranges
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .filter(move |&&i| {
                recs.get(i as usize)
                    .is_some_and(|r| r.port_lo <= port && port <= r.port_hi)
            });
        singles.chain(ranges).filter_map(move |&i| self.entry(i))
    }

    /// Every record whose service name is `name` (case-insensitive), sorted by port, protocol.
    pub fn by_name(&self, name: &str) -> impl Iterator<Item = Entry<'_>> {
        let key = name.to_ascii_lowercase();
        let name_of = |i: u32| -> &str {
            self.records
                .get(i as usize)
                .map_or("", |r| self.text(r, field::SERVICE))
        };
        let start = self
            .by_name
            .partition_point(|&i| cmp_ci(name_of(i), &key) == std::cmp::Ordering::Less);
        let end = start
            + self.by_name[start..]
                .partition_point(|&i| cmp_ci(name_of(i), &key) == std::cmp::Ordering::Equal);
        self.by_name[start..end]
            .iter()
            .filter_map(move |&i| self.entry(i))
    }

    /// Service names close to `name`, best first: names that start with or contain it, then
    /// names within a small edit distance. At most `limit` names.
    pub fn suggest(&self, name: &str, limit: usize) -> Vec<String> {
        let key = name.to_ascii_lowercase();
        let mut scored: Vec<(usize, String)> = Vec::new();
        let mut last = String::new();
        for &i in self.by_name.iter() {
            let Some(e) = self.entry(i) else { continue };
            let n = e.service().to_ascii_lowercase();
            if n == last {
                continue;
            }
            last.clone_from(&n);
            let score = if n.starts_with(&key) {
                n.len() - key.len()
            } else if key.len() >= 3 && n.contains(&key) {
                10 + n.len() - key.len()
            } else {
                let d = levenshtein(&key, &n);
                let allowed = (key.len() / 3).clamp(1, 3);
                if d > allowed {
                    continue;
                }
                20 + d * 5
            };
            scored.push((score, e.service().to_string()));
        }
        scored.sort();
        scored.into_iter().take(limit).map(|(_, n)| n).collect()
    }

    fn text<'a>(&'a self, r: &PackedRecord, f: usize) -> &'a str {
        let (a, b) = r.text[f];
        self.blob.get(a as usize..b as usize).unwrap_or("")
    }
}

fn cmp_ci(a: &str, lower_key: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|b| b.to_ascii_lowercase())
        .cmp(lower_key.bytes())
}

/// Edit distance between two short strings.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// One record of the registry.
#[derive(Clone, Copy)]
pub struct Entry<'r> {
    reg: &'r Registry,
    rec: &'r PackedRecord,
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("service", &self.service())
            .field("ports", &self.ports())
            .field("protocol", &self.protocol())
            .field("kind", &self.kind())
            .finish()
    }
}

impl<'r> Entry<'r> {
    fn t(&self, f: usize) -> &'r str {
        self.reg.text(self.rec, f)
    }
    /// Service name ("" for unassigned/reserved rows).
    pub fn service(&self) -> &'r str {
        self.t(field::SERVICE)
    }
    /// The port range `(lo, hi)` (equal for one port); `None` for a name registered without port.
    pub fn ports(&self) -> Option<(u16, u16)> {
        self.rec
            .has_port
            .then_some((self.rec.port_lo, self.rec.port_hi))
    }
    /// Transport protocol; `None` for rows that apply to every protocol (unassigned ranges).
    pub fn protocol(&self) -> Option<Protocol> {
        Protocol::from_code(self.rec.proto)
    }
    /// What kind of record this is.
    pub fn kind(&self) -> EntryKind {
        match self.rec.kind {
            kind::ASSIGNED => EntryKind::Assigned,
            kind::ALIAS => EntryKind::Alias,
            kind::UNASSIGNED => EntryKind::Unassigned,
            kind::RESERVED => EntryKind::Reserved,
            kind::NAME_ONLY => EntryKind::NameOnly,
            _ => EntryKind::Other,
        }
    }
    /// For an alias entry, the name it is an alias to.
    pub fn alias_of(&self) -> Option<&'r str> {
        if self.rec.kind != kind::ALIAS {
            return None;
        }
        let notes = self.notes();
        let rest = &notes[notes.find("alias to")? + "alias to".len()..];
        let rest = rest.trim_start().strip_prefix('"')?;
        rest.split('"').next()
    }
    pub fn description(&self) -> &'r str {
        self.t(field::DESCRIPTION)
    }
    pub fn assignee(&self) -> &'r str {
        self.t(field::ASSIGNEE)
    }
    pub fn contact(&self) -> &'r str {
        self.t(field::CONTACT)
    }
    pub fn registration_date(&self) -> &'r str {
        self.t(field::REGISTRATION_DATE)
    }
    pub fn modification_date(&self) -> &'r str {
        self.t(field::MODIFICATION_DATE)
    }
    /// Reference, e.g. `[RFC4251]`.
    pub fn reference(&self) -> &'r str {
        self.t(field::REFERENCE)
    }
    pub fn service_code(&self) -> &'r str {
        self.t(field::SERVICE_CODE)
    }
    pub fn unauthorized_use(&self) -> &'r str {
        self.t(field::UNAUTHORIZED_USE)
    }
    /// Assignment notes (may span several lines).
    pub fn notes(&self) -> &'r str {
        self.t(field::NOTES)
    }
    /// RFC numbers named in the reference, e.g. `[RFC4251]` → `[4251]`.
    pub fn rfcs(&self) -> Vec<u32> {
        let r = self.reference();
        let mut out = Vec::new();
        let mut rest = r;
        while let Some(i) = rest.find("RFC") {
            rest = &rest[i + 3..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_basics() {
        assert_eq!(levenshtein("ssh", "ssh"), 0);
        assert_eq!(levenshtein("shh", "ssh"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn ssh_lookups() {
        let reg = Registry::embedded();
        let e: Vec<_> = reg.by_port(22).collect();
        assert!(e
            .iter()
            .any(|e| e.service() == "ssh" && e.protocol() == Some(Protocol::Tcp)));
        assert!(e.iter().any(|e| e.reference().contains("RFC4251")));
        let n: Vec<_> = reg.by_name("SSH").collect();
        assert!(n.iter().all(|e| e.service() == "ssh"));
        assert!(n.iter().any(|e| e.ports() == Some((22, 22))));
    }

    #[test]
    fn alias_target() {
        let reg = Registry::embedded();
        let w: Vec<_> = reg.by_name("whois++").collect();
        assert!(!w.is_empty());
        assert_eq!(w[0].kind(), EntryKind::Alias);
        assert_eq!(w[0].alias_of(), Some("whoispp"));
    }
}
