//! # portolan-audit — what this host exposes, and how to harden it
//!
//! The library behind `portolan local`. It lists every listening TCP socket and bound UDP socket
//! of the current network namespace (IPv4 and IPv6), finds the processes that hold them, names the
//! service each port is registered for, and judges them with data-driven rules:
//!
//! - [`netlink`]: enumeration through `NETLINK_SOCK_DIAG` (inet_diag), as `ss` does, including
//!   each IPv6 socket's `IPV6_V6ONLY` flag; [`procnet`]: the `/proc/net/{tcp,tcp6,udp,udp6}`
//!   fallback when netlink is not available.
//! - [`process`]: socket inode → processes via `/proc/<pid>/fd`, with name, command line,
//!   effective user and systemd unit. Works across network namespaces; degrades (and says so)
//!   when other users' processes cannot be read.
//! - [`rules`]: findings as data ([`rules::BUILTIN_RULES`], `data/local-rules.toml`) over the
//!   socket, its processes, the IANA registry and the risk knowledge of `portolan-registry`.
//! - [`report`]: the [`Report`] (JSON schema `portolan.local/1`), baseline comparison;
//!   [`sarif`]: SARIF 2.1.0 output for CI and code-scanning dashboards.
//!
//! ```no_run
//! let report = portolan_audit::audit(&portolan_audit::Options::default()).unwrap();
//! for f in &report.findings {
//!     println!("{} {} {}", f.severity, f.rule, f.endpoint);
//! }
//! ```

pub mod netlink;
pub mod process;
pub mod procnet;
pub mod report;
pub mod rules;
pub mod sarif;
mod serde_util;
pub mod socket;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use portolan_registry::Protocol;

pub use report::{Finding, ProcessRef, Report, SocketEntry};
pub use rules::Rules;
pub use socket::{Exposure, Family, Socket, SocketKey};

/// Where to read sockets from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourceChoice {
    /// Netlink, falling back to `/proc/net` for any table netlink cannot give.
    #[default]
    Auto,
    /// Netlink only: an error when it fails.
    Netlink,
    /// `/proc/net` only.
    Proc,
}

/// What to audit and how.
#[derive(Clone, Debug)]
pub struct Options {
    pub source: SourceChoice,
    pub tcp: bool,
    pub udp: bool,
    /// Normally `/proc`.
    pub proc_root: PathBuf,
    /// Normally `/etc/passwd`.
    pub passwd: PathBuf,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            source: SourceChoice::Auto,
            tcp: true,
            udp: true,
            proc_root: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
        }
    }
}

/// Errors that stop an audit.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("netlink sock_diag failed for {what}: {source} (try --source proc, or --source auto to fall back)")]
    Netlink {
        what: String,
        source: netlink::NetlinkError,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Rules(#[from] rules::RulesError),
}

/// The sockets of the current network namespace, and how they were read.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub sockets: Vec<Socket>,
    /// `netlink`, `proc`, or `netlink+proc` when some tables fell back.
    pub source: String,
    pub notes: Vec<String>,
}

fn proc_file(proto: Protocol, fam: Family) -> &'static str {
    match (proto, fam) {
        (Protocol::Udp, Family::Ipv4) => "net/udp",
        (Protocol::Udp, Family::Ipv6) => "net/udp6",
        (_, Family::Ipv4) => "net/tcp",
        (_, Family::Ipv6) => "net/tcp6",
    }
}

/// `net.ipv6.bindv6only` of this namespace (the default for IPV6_V6ONLY).
pub fn bindv6only(proc_root: &Path) -> Option<bool> {
    std::fs::read_to_string(proc_root.join("sys/net/ipv6/bindv6only"))
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok())
        .map(|v| v != 0)
}

fn read_proc_table(
    opts: &Options,
    proto: Protocol,
    fam: Family,
    notes: &mut Vec<String>,
) -> Result<Vec<Socket>, AuditError> {
    let path = opts.proc_root.join(proc_file(proto, fam));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && fam == Family::Ipv6 => {
            notes.push(format!(
                "{} does not exist: IPv6 is disabled here",
                path.display()
            ));
            return Ok(Vec::new());
        }
        Err(source) => return Err(AuditError::Read { path, source }),
    };
    let parsed = procnet::parse_table(&text, proto, fam);
    for e in parsed.errors.iter().take(5) {
        notes.push(format!("{}: skipped {e}", path.display()));
    }
    if parsed.errors.len() > 5 {
        notes.push(format!(
            "{}: {} more malformed lines skipped",
            path.display(),
            parsed.errors.len() - 5
        ));
    }
    let mut v = parsed.sockets;
    if fam == Family::Ipv6 {
        let dflt = bindv6only(&opts.proc_root);
        for s in &mut v {
            s.v6only = dflt;
        }
    }
    Ok(v)
}

/// List the listening TCP and bound UDP sockets.
pub fn list_sockets(opts: &Options) -> Result<Listing, AuditError> {
    let mut out = Listing::default();
    let mut used_netlink = false;
    let mut used_proc = false;
    let mut protos = Vec::new();
    if opts.tcp {
        protos.push(Protocol::Tcp);
    }
    if opts.udp {
        protos.push(Protocol::Udp);
    }
    for &proto in &protos {
        for fam in [Family::Ipv4, Family::Ipv6] {
            let what = format!(
                "{proto}/{}",
                if fam == Family::Ipv4 { "ipv4" } else { "ipv6" }
            );
            match opts.source {
                SourceChoice::Proc => {
                    used_proc = true;
                    out.sockets
                        .extend(read_proc_table(opts, proto, fam, &mut out.notes)?);
                }
                SourceChoice::Netlink => match netlink::dump(proto, fam) {
                    Ok(v) => {
                        used_netlink = true;
                        out.sockets.extend(v);
                    }
                    Err(source) => return Err(AuditError::Netlink { what, source }),
                },
                SourceChoice::Auto => match netlink::dump(proto, fam) {
                    Ok(v) => {
                        used_netlink = true;
                        out.sockets.extend(v);
                    }
                    Err(e) => {
                        used_proc = true;
                        out.notes.push(format!(
                            "netlink sock_diag unavailable for {what} ({e}): read {} instead",
                            opts.proc_root.join(proc_file(proto, fam)).display()
                        ));
                        out.sockets
                            .extend(read_proc_table(opts, proto, fam, &mut out.notes)?);
                    }
                },
            }
        }
    }
    if used_proc {
        if let Some(v) = bindv6only(&opts.proc_root) {
            out.notes.push(format!(
                "IPV6_V6ONLY of sockets read from /proc/net is assumed from net.ipv6.bindv6only={}: /proc/net does not show a socket's own setting",
                u8::from(v)
            ));
        }
    }
    out.source = match (used_netlink, used_proc) {
        (true, true) => "netlink+proc",
        (false, true) => "proc",
        _ => "netlink",
    }
    .to_string();
    out.sockets.sort_by(|a, b| {
        (a.protocol, a.port, a.family, a.address, a.inode)
            .cmp(&(b.protocol, b.port, b.family, b.address, b.inode))
    });
    Ok(out)
}

/// The name of interface `index` in the current network namespace (`if_indextoname`).
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires; the result is checked.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// List, map to processes, judge: the whole of `portolan local`.
pub fn audit(opts: &Options) -> Result<Report, AuditError> {
    let rules = Rules::builtin()?;
    audit_with(opts, &rules)
}

/// [`audit`] with a given rule set.
pub fn audit_with(opts: &Options, rules: &Rules) -> Result<Report, AuditError> {
    let listing = list_sockets(opts)?;
    let mut notes = listing.notes;
    let passwd = std::fs::read_to_string(&opts.passwd)
        .map(|t| process::parse_passwd(&t))
        .unwrap_or_default();
    let wanted: HashSet<u64> = listing
        .sockets
        .iter()
        .map(|s| s.inode)
        .filter(|&i| i != 0)
        .collect();
    let pmap = process::scan(&opts.proc_root, &wanted, &passwd);
    if pmap.inaccessible > 0 {
        notes.push(format!(
            "{} processes could not be inspected (not running as root): sockets they hold are listed without a process; run as root to see every owner",
            pmap.inaccessible
        ));
    }
    let ephemeral = portolan_registry::ephemeral::local_range_from(
        &opts.proc_root.join("sys/net/ipv4/ip_local_port_range"),
    );
    let ctx = rules::Context { ephemeral };
    let mut sockets = Vec::with_capacity(listing.sockets.len());
    let mut findings = Vec::new();
    for s in listing.sockets {
        let processes = pmap
            .holders
            .get(&s.inode)
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| {
                        pmap.processes.get(&h.pid).map(|p| ProcessRef {
                            pid: p.pid,
                            fd: h.fd,
                            name: p.name.clone(),
                            cmdline: p.cmdline.clone(),
                            uid: p.uid,
                            user: p.user.clone(),
                            unit: p.unit.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut e = SocketEntry::new(s, processes);
        if e.socket.interface != 0 {
            e.interface_name = interface_name(e.socket.interface);
            // A wildcard bound to one device is reachable through that device only.
            if e.exposure == Exposure::All {
                e.exposure = if e.interface_name.as_deref() == Some("lo") {
                    Exposure::Loopback
                } else {
                    Exposure::Specific
                };
            }
        }
        findings.extend(rules.evaluate(&e, &ctx));
        sockets.push(e);
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.socket.cmp(&b.socket))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let host = std::fs::read_to_string(opts.proc_root.join("sys/kernel/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut r = Report {
        schema: report::SCHEMA.to_string(),
        host,
        generated_unix: now_unix(),
        source: listing.source,
        complete_processes: pmap.inaccessible == 0,
        ephemeral_range: ephemeral,
        notes,
        sockets,
        findings,
        summary: report::Summary::default(),
        baseline: None,
    };
    r.resummarise();
    Ok(r)
}
