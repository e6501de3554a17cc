//! # portolan-store — every scan kept, so "what changed?" has an answer
//!
//! Defenders scan every night; this crate keeps every result in one database so that history,
//! queries and diffs need no files to keep around:
//!
//! - [`Store`] — a result store, opened by [`Store::open`] from a spec: a path to an SQLite
//!   file, a `postgres://` URL (a store shared by a team), or nothing for the default one
//!   under the user data directory (`$PORTOLAN_DATA_DIR`, else `$XDG_DATA_HOME/portolan`,
//!   else `~/.local/share/portolan`: [`default_path`]). SQLite is compiled in (no server to
//!   install), in WAL mode so readers never block the writer and several scans can write to
//!   one store at once (writers queue on `BEGIN IMMEDIATE`). PostgreSQL has the same tables
//!   and columns and answers the same queries (one SQL text, two DDL dialects: [`schema`]);
//!   its client runs on a thread of its own, so the store can be used from inside a Tokio
//!   runtime (the scan engines). The schema is versioned ([`schema::VERSION`]); migrations run
//!   when a store is opened, and a store written by a newer Portolan is refused
//!   ([`StoreError::TooNew`]).
//! - [`StoreSink`] — a `portolan_model::EventSink` that writes a scan *while it runs*: the scan
//!   row at the start, then every port that is not closed, in batched transactions (every
//!   [`StoreSink::BATCH_INTERVAL`] or [`StoreSink::BATCH_ROWS`] ports, whenever the scan
//!   makes its results durable, and when its last port is delivered:
//!   `EventSink::ports_done`), then the summary. A crash loses what was not committed yet:
//!   the batch in hand and those queued for the writer thread, which is put back to normal
//!   scheduling once it is a batch interval behind (so about the last second's ports); each
//!   batch is one transaction, so what was committed is never corrupted. A scan that
//!   never finished stays `running` in the list.
//! - Reading: [`Store::scans`], [`Store::scan_info`], [`Store::scan`] (a stored scan as a
//!   `portolan_model::ScanReport`, the input of every renderer and of
//!   `portolan_model::diff`), [`Store::latest_scan`], [`Store::previous_scan`] (the scan of
//!   the same targets before another), [`Store::history`], [`Store::ports`] and
//!   [`Store::hosts`] with a [`Filter`] (network, port, service, product, state, since/until).
//! - Housekeeping: [`Store::delete_scan`], [`Store::prune`].
//! - [`import`] — nmap XML (streamed, one host at a time) and Portolan JSON Lines into the
//!   store, one stored scan per file.
//!
//! What is stored per port: address, protocol, port, state, reason, RTT, TTL, and the service
//! (name, product, version, extra info, CPEs, exposures, and the whole record as JSON). Closed
//! ports are not stored (a host's closed ports are counted in its summary), so a port that
//! went from open to closed shows in a diff as gone.
//!
//! PostgreSQL connections take libpq's `sslmode` (`prefer` by default, `verify-full` to check
//! the server's certificate and name) and `sslrootcert`, in the URL or as `PGSSLMODE` /
//! `PGSSLROOTCERT`: TLS over rustls.
//!
//! Not built yet: encrypted client keys for PostgreSQL (libpq's `sslpassword`). See
//! `docs/store.md`.
//!
//! `unsafe` is denied but for one call: `sched_setscheduler` for the writer thread (`sched`).
#![deny(unsafe_code)]

mod alerts;
mod audits;
pub mod client_key;
mod db;
pub mod import;
mod pg_tls;
mod sched;
pub mod schema;
mod sink;
pub mod when;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{
    ExtraPorts, HostReport, PortEvent, PortState, Protocol, Reason, ScanReport, ScanStats, Service,
    ServiceMethod,
};
use serde::Serialize;

use db::{Conn, DbError, Row, Val};

pub use alerts::{AlertFilter, AlertWriter, DetectRunInfo, NewAlert, StoredAlert};
pub use audits::{AuditInfo, NewAudit};
pub use sink::{StoreSink, Targets};

/// The store file's name inside the data directory.
pub const FILE_NAME: &str = "portolan.db";

/// Why the store could not do something. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error("store {path}: {msg}")]
    Db { path: String, msg: String },
    /// Written by a newer Portolan.
    #[error(
        "store {path} has schema version {found}, newer than this portolan understands ({supported}): \
         upgrade portolan, or choose another store with --store PATH"
    )]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    /// The store cannot be created or reached.
    #[error("{0}")]
    Unavailable(String),
    /// A spec, filter or time the user gave is not valid.
    #[error("{0}")]
    Input(String),
    /// No such scan.
    #[error("no scan {0} in the store: `portolan scans` lists them")]
    NoScan(i64),
    /// No scan at all (the store named).
    #[error(
        "the result store {0} holds no scan yet: run `portolan scan` (every scan is saved \
         there) or `portolan import FILE` first, or choose another store with --store PATH|URL"
    )]
    Empty(String),
    /// Stored data that does not read back (written by something else?).
    #[error("store {path}: {what}")]
    Corrupt { path: String, what: String },
}

/// Where the store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl StoreSpec {
    /// `postgres://…` / `postgresql://…` is a PostgreSQL URL, `sqlite://PATH` or anything
    /// else a path to an SQLite file.
    pub fn parse(s: &str) -> Result<StoreSpec, StoreError> {
        if s.is_empty() {
            return Err(StoreError::Input(
                "--store needs a path to an SQLite file (or --no-store)".into(),
            ));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(StoreSpec::Postgres(s.to_string()));
        }
        if let Some(p) = s.strip_prefix("sqlite://") {
            return Ok(StoreSpec::Sqlite(PathBuf::from(p)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(StoreError::Input(format!(
                "--store {s}: unknown store type {scheme:?}: give a path to an SQLite file"
            )));
        }
        Ok(StoreSpec::Sqlite(PathBuf::from(s)))
    }
}

/// The default store: `portolan.db` in the user data directory (`$PORTOLAN_DATA_DIR`, else
/// `$XDG_DATA_HOME/portolan`, else `~/.local/share/portolan`).
pub fn default_path() -> Option<PathBuf> {
    portolan_registry::user_data_dir().map(|d| d.join(FILE_NAME))
}

/// A result store.
pub struct Store {
    conn: Conn,
    /// The file, or the URL without its password: for messages.
    location: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish()
    }
}

/// One stored scan, as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScanInfo {
    pub id: i64,
    /// `connect`, `syn`, `udp`.
    pub kind: String,
    pub proto: String,
    /// `running` (still writing, or its writer died), `done`, `interrupted`.
    pub status: String,
    pub args: String,
    pub targets: String,
    pub targets_count: u64,
    pub ports: String,
    pub num_ports: u64,
    pub seed: u64,
    pub shard: String,
    pub scanner: String,
    pub version: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub ended: Option<f64>,
    pub stats: ScanStats,
    /// Ports stored (not closed) and hosts with something stored.
    pub ports_stored: u64,
    pub hosts_stored: u64,
    /// The host discovery that ran before the ports (the probes, `connect:80,443`,
    /// `localhost`); `None` with `-Pn` (and for scans stored before it was recorded).
    pub discovery: Option<String>,
}

impl ScanInfo {
    pub fn started_at(&self) -> SystemTime {
        secs_to_time(self.started)
    }
}

/// What [`Store::prune_all`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub scans: u64,
    pub audits: u64,
    pub alerts: u64,
}

/// A network: one address or a CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Net {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Net, StoreError> {
        let bad = || {
            StoreError::Input(format!(
                "{s:?} is not an address or network: write 192.0.2.7, 192.0.2.0/24 or 2001:db8::/64"
            ))
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Net { addr, prefix })
    }
}

impl Net {
    /// The first and last address keys of the network.
    fn key_range(&self) -> (Vec<u8>, Vec<u8>) {
        let (fam, bytes): (u8, Vec<u8>) = match self.addr {
            IpAddr::V4(a) => (4, a.octets().to_vec()),
            IpAddr::V6(a) => (6, a.octets().to_vec()),
        };
        let (mut lo, mut hi) = (bytes.clone(), bytes);
        for i in 0..lo.len() * 8 {
            if i >= self.prefix as usize {
                let (byte, bit) = (i / 8, 7 - (i % 8));
                lo[byte] &= !(1 << bit);
                hi[byte] |= 1 << bit;
            }
        }
        lo.insert(0, fam);
        hi.insert(0, fam);
        (lo, hi)
    }
}

/// What to select in [`Store::ports`] and [`Store::hosts`]. Empty fields select everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Hosts in this network.
    pub net: Option<Net>,
    pub port: Option<u16>,
    pub proto: Option<Protocol>,
    /// Service name, exactly (case-insensitive).
    pub service: Option<String>,
    /// Product, as a case-insensitive substring.
    pub product: Option<String>,
    pub state: Option<PortState>,
    /// Scans started at or after.
    pub since: Option<SystemTime>,
    /// Scans started at or before.
    pub until: Option<SystemTime>,
}

/// A port as seen over the scans a query selected.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortSeen {
    pub addr: IpAddr,
    pub proto: Protocol,
    pub port: u16,
    /// How it was in the latest selected scan.
    pub state: PortState,
    pub service: Option<Service>,
    pub first_seen: f64,
    pub last_seen: f64,
    /// Scans that saw it (as selected).
    pub scans: u64,
    /// The latest scan that saw it.
    pub last_scan: i64,
}

/// A host as seen over the scans a query selected.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostSeen {
    pub addr: IpAddr,
    pub first_seen: f64,
    pub last_seen: f64,
    pub last_scan: i64,
    /// Ports selected (address, protocol, port) seen open in its latest selected scan.
    pub open_ports: Vec<(Protocol, u16)>,
    /// Ports selected in any other state in its latest selected scan.
    pub other_ports: u64,
}

/// One scan of a host, for [`Store::history`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostScan {
    pub scan: ScanInfo,
    /// The host's stored ports in that scan (none: the scan covered it and found nothing
    /// that was not closed, or did not reach it).
    pub ports: Vec<PortEvent>,
}

/// What a host without a record of its own is read back as, from its stored ports in the
/// order they are read (protocol name, then port): up if one of them proves it, with the
/// reason and round-trip time of the first that does. A scan's sink writes a host record only
/// when its report shows the host otherwise (a name, folded ports, another RTT). The rule as
/// [`Store::scan`] applies it and the sink's `finish` compares by, spelt out for the tests.
#[cfg(test)]
pub(crate) fn host_from_ports<'a>(
    ports: impl IntoIterator<Item = &'a PortEvent>,
) -> (bool, Option<Reason>, Option<u64>) {
    ports
        .into_iter()
        .find(|p| p.state.proves_host_up())
        .map_or((false, None, None), |p| {
            (true, Some(p.reason), p.rtt.map(|d| d.as_micros() as u64))
        })
}

/// Whether `a` comes before `b` in the order a host's stored ports are read back in
/// (protocol name, then port): the order [`host_from_ports`] takes its first port from.
#[cfg(test)]
pub(crate) fn read_before(a: &PortEvent, b: &PortEvent) -> bool {
    (a.proto.as_str(), a.port) < (b.proto.as_str(), b.port)
}

/// The key of an address: family byte, then its bytes (a network is a range of keys).
pub(crate) fn addr_key(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => {
            let mut k = vec![4];
            k.extend_from_slice(&v.octets());
            k
        }
        IpAddr::V6(v) => {
            let mut k = vec![6];
            k.extend_from_slice(&v.octets());
            k
        }
    }
}

/// [`addr_key`] on the stack: what the writer binds for every port (no allocation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddrKey {
    buf: [u8; 17],
    len: usize,
}

impl AddrKey {
    pub(crate) fn new(a: IpAddr) -> AddrKey {
        let mut buf = [0u8; 17];
        let len = match a {
            IpAddr::V4(v) => {
                buf[0] = 4;
                buf[1..5].copy_from_slice(&v.octets());
                5
            }
            IpAddr::V6(v) => {
                buf[0] = 6;
                buf[1..17].copy_from_slice(&v.octets());
                17
            }
        };
        AddrKey { buf, len }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The address of a key ([`addr_key`]), if it is one.
pub(crate) fn key_addr(k: &[u8]) -> Option<IpAddr> {
    match k {
        [4, rest @ ..] => <[u8; 4]>::try_from(rest).ok().map(IpAddr::from),
        [6, rest @ ..] => <[u8; 16]>::try_from(rest).ok().map(IpAddr::from),
        _ => None,
    }
}

pub(crate) fn time_to_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub(crate) fn secs_to_time(s: f64) -> SystemTime {
    UNIX_EPOCH + Duration::try_from_secs_f64(s).unwrap_or_default()
}

fn parse_state(s: &str) -> Option<PortState> {
    PortState::ALL.into_iter().find(|st| st.as_str() == s)
}

fn parse_reason(s: &str) -> Option<Reason> {
    Reason::ALL.into_iter().find(|r| r.as_str() == s)
}

/// The state named `s` (`open`, `closed`, `filtered`, `unfiltered`, `open|filtered`,
/// `closed|filtered`).
pub fn state_from_str(s: &str) -> Result<PortState, StoreError> {
    parse_state(&s.to_ascii_lowercase()).ok_or_else(|| {
        StoreError::Input(format!(
            "{s:?} is not a port state: open, filtered, unfiltered, open|filtered, closed|filtered"
        ))
    })
}

const SCAN_COLUMNS: &str = "id, kind, proto, status, args, targets, targets_count, ports, \
    num_ports, seed, shard, scanner, version, started, ended, planned, completed, sent, retries, \
    open, closed, filtered, \
    (SELECT COUNT(*) FROM ports p WHERE p.scan_id = scans.id), \
    (SELECT COUNT(DISTINCT addr_key) FROM ports p WHERE p.scan_id = scans.id), discovery";

fn scan_row(r: &Row) -> Result<ScanInfo, DbError> {
    let u = |i: usize| -> Result<u64, DbError> { Ok(r.int(i)?.max(0) as u64) };
    let status = r.text(3)?;
    Ok(ScanInfo {
        id: r.int(0)?,
        kind: r.text(1)?,
        proto: r.text(2)?,
        args: r.text(4)?,
        targets: r.text(5)?,
        targets_count: u(6)?,
        ports: r.text(7)?,
        num_ports: u(8)?,
        seed: r.int(9)? as u64,
        shard: r.text(10)?,
        scanner: r.text(11)?,
        version: r.text(12)?,
        started: r.real(13)?,
        ended: r.opt_real(14)?,
        stats: ScanStats {
            planned: u(15)?,
            completed: u(16)?,
            sent: u(17)?,
            retries: u(18)?,
            open: u(19)?,
            closed: u(20)?,
            filtered: u(21)?,
            interrupted: status != "done",
        },
        status,
        ports_stored: u(22)?,
        hosts_stored: u(23)?,
        discovery: r.opt_text(24)?,
    })
}

/// A stored port row: (scan, time) and the event.
struct PortRow {
    scan_id: i64,
    started: f64,
    ev: PortEvent,
}

/// Delete the scans `cond` selects (a condition on `scans`), with their ports, hosts and
/// exposures; how many scans. Their rows in `scans` go first: a writer still writing one of
/// them holds that row (`sink::hold_scan`), so this waits for its batch to commit and then
/// deletes that batch too, and its next batch finds the scan gone and fails. (PostgreSQL has
/// no foreign key from those tables since schema 8; SQLite's cascade has already deleted
/// what the second step looks for.)
fn delete_scans(c: &mut Conn, cond: &str, args: &[Val]) -> Result<u64, DbError> {
    let ids = c.query(
        &format!("DELETE FROM scans WHERE {cond} RETURNING id"),
        args,
    )?;
    for r in &ids {
        let id = r.int(0)?;
        for table in ["exposures", "ports", "hosts"] {
            c.exec(
                &format!("DELETE FROM {table} WHERE scan_id = $1"),
                &[id.into()],
            )?;
        }
    }
    Ok(ids.len() as u64)
}

/// The SQL of [`Store::port_rows`].
fn port_rows_sql(where_: &str, order: &str, by_address: bool) -> String {
    // (A plain join otherwise: SQLite picks the order.)
    let from = match by_address {
        true => "scans s CROSS JOIN ports p",
        false => "ports p, scans s",
    };
    format!(
        "SELECT {PORT_COLUMNS} FROM {from} WHERE s.id = p.scan_id AND {where_} ORDER BY {order}"
    )
}

/// The scans that stored something about the address `$1` (its key): each scan's keys
/// sought, as [`Store::port_rows`] does by address.
const SCANS_OF_ADDRESS: &str = "SELECT s.id FROM scans s \
    WHERE EXISTS (SELECT 1 FROM hosts h WHERE h.scan_id = s.id AND h.addr_key = $1) \
    OR EXISTS (SELECT 1 FROM ports p WHERE p.scan_id = s.id AND p.addr_key = $1)";

/// A port's `service_json` when its service is only the port table's guess
/// ([`only_table_guess`]; schema 7): the service's name is the `service` column, and the rest
/// is the same for every such port. A scan without -sV stores one for each port it finds, so
/// the 41 bytes of its JSON were a third of the row, written into the WAL and again into the
/// database file.
pub(crate) const TABLE_GUESS: &str = "";

/// Whether `s` is only the port table's guess of a service: its name at confidence 3, method
/// `table`, nothing else (what a scan without -sV finds for every port).
pub(crate) fn only_table_guess(s: &Service) -> bool {
    // Every field named: a field added to Service must be decided on here.
    let Service {
        conf,
        cpe,
        details,
        exposures,
        extrainfo,
        method,
        name: _,
        product,
        scripts,
        tunnel,
        version,
    } = s;
    *conf == 3
        && *method == ServiceMethod::Table
        && cpe.is_empty()
        && details.is_none()
        && exposures.is_empty()
        && extrainfo.is_none()
        && product.is_none()
        && scripts.is_empty()
        && tunnel.is_none()
        && version.is_none()
}

/// The service [`only_table_guess`] recognises, named `name`.
fn table_guess(name: String) -> Service {
    Service {
        name,
        conf: 3,
        method: ServiceMethod::Table,
        ..Default::default()
    }
}

const PORT_COLUMNS: &str = "p.scan_id, s.started, p.addr_key, p.proto, p.port, p.state, p.reason, \
    p.rtt_us, p.ttl, p.service, p.product, p.version, p.extrainfo, p.service_json";

/// `s` for a `LIKE ... ESCAPE '\'` pattern that matches it as a substring.
fn like_substring(s: &str) -> String {
    let mut p = String::from("%");
    for c in s.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Store {
    /// Open (creating it if needed) the store `spec` names: an SQLite file's path (or
    /// `sqlite://PATH`), a `postgres://` URL, or `None` for the default store.
    pub fn open(spec: Option<&str>) -> Result<Store, StoreError> {
        match spec {
            None => Store::open_default(),
            Some(s) => match StoreSpec::parse(s)? {
                StoreSpec::Sqlite(p) => Store::open_path(&p),
                StoreSpec::Postgres(url) => Store::open_postgres(&url),
            },
        }
    }

    /// Open the default store, creating its directory: `$PORTOLAN_DATA_DIR` must exist or
    /// its parent must (a mistyped variable does not create a tree of directories); the XDG
    /// locations are created with their parents.
    pub fn open_default() -> Result<Store, StoreError> {
        let dir = portolan_registry::user_data_dir().ok_or_else(|| {
            StoreError::Unavailable(
                "no data directory for the result store: set PORTOLAN_DATA_DIR or HOME, or \
                 pass --store PATH"
                    .into(),
            )
        })?;
        let from_env = std::env::var_os("PORTOLAN_DATA_DIR").is_some_and(|d| !d.is_empty());
        if !dir.is_dir() {
            let r = if from_env {
                std::fs::create_dir(&dir)
            } else {
                std::fs::create_dir_all(&dir)
            };
            r.map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the store's directory {}: {e}: set PORTOLAN_DATA_DIR to a \
                     writable directory, or pass --store PATH",
                    dir.display()
                ))
            })?;
        }
        Store::open_path(&dir.join(FILE_NAME))
    }

    /// Open (creating it if needed) the SQLite store at `path`; its directory must exist.
    pub fn open_path(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let db = |e: DbError| StoreError::Db {
            path: shown.clone(),
            msg: e.0,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(StoreError::Unavailable(format!(
                    "store {shown}: the directory {} does not exist: create it, or choose \
                     another path",
                    dir.display()
                )));
            }
        }
        let mut conn = Conn::open_sqlite(path).map_err(db)?;
        let mode = conn.sqlite_wal().map_err(db)?;
        // An in-memory database (":memory:", for tests and fuzzing) has no journal file.
        let memory = path.as_os_str() == ":memory:" && mode.eq_ignore_ascii_case("memory");
        if !mode.eq_ignore_ascii_case("wal") && !memory {
            return Err(StoreError::Unavailable(format!(
                "store {shown}: cannot switch it to WAL mode (got {mode:?}): put the store on a \
                 local file system"
            )));
        }
        conn.batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(db)?;
        let mut store = Store {
            conn,
            location: shown,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Open a PostgreSQL store (`postgres://user@host:port/db`, with libpq's `sslmode` and
    /// `sslrootcert` for TLS: `prefer` by default, `verify-full` to check the server's
    /// certificate and name; `sslcert` and `sslkey` for a client certificate), creating the
    /// tables if needed.
    pub fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let shown = redact(url);
        let conn = Conn::open_pg(url).map_err(|e| {
            let m = &e.0;
            // What the server said of our certificate (a TLS alert, or its FATAL when it
            // wanted one), or what we could not load: the client certificate's settings.
            let client_cert = m.contains("client certificate")
                || m.contains("client key")
                || m.contains("sslkey")
                || [
                    "UnknownCA",
                    "BadCertificate",
                    "CertificateRequired",
                    "CertificateExpired",
                ]
                .iter()
                .any(|a| m.contains(&format!("alert: {a}")));
            let hint = if client_cert {
                "check sslcert and sslkey (a client certificate the server accepts for this \
                 user, signed by a CA it trusts, and its key, with sslpassword when the key is \
                 encrypted; docs/store.md), or choose another store with --store"
            } else if m.contains("TLS") || m.contains("certificate") {
                "check sslmode and sslrootcert (the PEM file of the CA that signed the \
                 server's certificate; docs/store.md), or choose another store with --store"
            } else {
                "check the URL, that the server runs and accepts this user, or choose another \
                 store with --store"
            };
            StoreError::Unavailable(format!("store {shown}: cannot connect: {}: {hint}", e.0))
        })?;
        let mut store = Store {
            conn,
            location: shown,
        };
        store.migrate()?;
        // A commit returns once the server has it, not once its log is on disk (as SQLite's
        // `synchronous = NORMAL`): a batch costs no disk flush; a crash of the *server* may
        // lose the last fraction of a second of commits, never corrupts, and a killed
        // scanner loses nothing the server acknowledged.
        store
            .conn
            .batch("SET synchronous_commit = off")
            .map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// Where this store lives: the SQLite file, or the PostgreSQL URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether this store can only be read: an SQLite file this user may not write, which
    /// SQLite opens for reading when it needs no change to open (a store in WAL mode at this
    /// schema version). A command that saves to it would fail at its first write.
    pub fn is_read_only(&self) -> bool {
        self.conn.read_only()
    }

    /// Whether this is a PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        self.conn.is_pg()
    }

    fn err(&self, e: DbError) -> StoreError {
        StoreError::Db {
            path: self.location.clone(),
            msg: e.0,
        }
    }

    fn query(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>, StoreError> {
        let r = self.conn.query(sql, args);
        r.map_err(|e| self.err(e))
    }

    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, StoreError> {
        let r = self.conn.exec(sql, args);
        r.map_err(|e| self.err(e))
    }

    fn rows<T>(
        &mut self,
        sql: &str,
        args: &[Val],
        f: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.query(sql, args)?;
        rows.iter().map(|r| f(r).map_err(|e| self.err(e))).collect()
    }

    /// The schema version of this store.
    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        let r = version(&mut self.conn);
        r.map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let location = self.location.clone();
        let mut too_new = None;
        let r = self.conn.tx(|c| {
            if c.is_pg() {
                // One migrator at a time (a transaction-scoped advisory lock).
                c.batch(
                    "SELECT pg_advisory_xact_lock(7037546474); \
                     CREATE TABLE IF NOT EXISTS portolan_schema (version BIGINT NOT NULL); \
                     INSERT INTO portolan_schema (version) SELECT 0 \
                     WHERE NOT EXISTS (SELECT 1 FROM portolan_schema);",
                )?;
            }
            let found = version(c)?;
            if found > schema::VERSION {
                too_new = Some(found);
                return Ok(());
            }
            let set_version = |c: &mut Conn, v: i64| {
                if c.is_pg() {
                    c.exec("UPDATE portolan_schema SET version = $1", &[v.into()])
                        .map(|_| ())
                } else {
                    c.batch(&format!("PRAGMA user_version = {v}"))
                }
            };
            if found <= 0 {
                // A new store: the schema as it stands, in one step.
                c.batch(if c.is_pg() {
                    schema::PG_CURRENT
                } else {
                    schema::CURRENT
                })?;
                return set_version(c, schema::VERSION);
            }
            let list = if c.is_pg() {
                schema::PG_MIGRATIONS
            } else {
                schema::MIGRATIONS
            };
            for (i, m) in list.iter().enumerate().skip(found as usize) {
                c.batch(m)?;
                set_version(c, i as i64 + 1)?;
            }
            Ok(())
        });
        r.map_err(|e| self.err(e))?;
        match too_new {
            Some(found) => Err(StoreError::TooNew {
                path: location,
                found,
                supported: schema::VERSION,
            }),
            None => Ok(()),
        }
    }

    /// A sink that writes a scan of `targets` into this store while it runs.
    pub fn sink(self, targets: Targets) -> StoreSink {
        StoreSink::new(self, targets)
    }

    /// Every stored scan, oldest first.
    pub fn scans(&mut self) -> Result<Vec<ScanInfo>, StoreError> {
        self.rows(
            &format!("SELECT {SCAN_COLUMNS} FROM scans ORDER BY id"),
            &[],
            scan_row,
        )
    }

    /// One scan's record.
    pub fn scan_info(&mut self, id: i64) -> Result<ScanInfo, StoreError> {
        self.rows(
            &format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id = $1"),
            &[id.into()],
            scan_row,
        )?
        .pop()
        .ok_or(StoreError::NoScan(id))
    }

    /// The most recent scan (by id), if any.
    pub fn latest_scan(&mut self) -> Result<Option<ScanInfo>, StoreError> {
        Ok(self
            .rows(
                &format!("SELECT {SCAN_COLUMNS} FROM scans ORDER BY id DESC LIMIT 1"),
                &[],
                scan_row,
            )?
            .pop())
    }

    /// Scan `id`'s record, or with `None` the latest scan's: what `policy check --scan`,
    /// `vulns` and `diff` read. A store without scans is [`StoreError::Empty`].
    pub fn scan_or_latest(&mut self, id: Option<i64>) -> Result<ScanInfo, StoreError> {
        match id {
            Some(id) => self.scan_info(id),
            None => self
                .latest_scan()?
                .ok_or_else(|| StoreError::Empty(self.location.clone())),
        }
    }

    /// The latest scan before `id` of the same targets, ports and kind.
    pub fn previous_scan(&mut self, id: i64) -> Result<Option<ScanInfo>, StoreError> {
        let s = self.scan_info(id)?;
        Ok(self
            .rows(
                &format!(
                    "SELECT {SCAN_COLUMNS} FROM scans WHERE id < $1 AND targets = $2 AND \
                     ports = $3 AND kind = $4 ORDER BY id DESC LIMIT 1"
                ),
                &[id.into(), s.targets.into(), s.ports.into(), s.kind.into()],
                scan_row,
            )?
            .pop())
    }

    /// Delete one scan and everything stored with it. `false` if there was none.
    pub fn delete_scan(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self.delete_scans("id = $1", &[id.into()])? > 0)
    }

    /// Delete every scan started before `before`; returns how many.
    pub fn prune(&mut self, before: SystemTime) -> Result<u64, StoreError> {
        self.delete_scans("started < $1", &[time_to_secs(before).into()])
    }

    /// [`delete_scans`] in a transaction of its own.
    fn delete_scans(&mut self, cond: &str, args: &[Val]) -> Result<u64, StoreError> {
        let r = self.conn.tx(|c| delete_scans(c, cond, args));
        r.map_err(|e| self.err(e))
    }

    /// Delete everything older than `before`, in one transaction: the scans started before
    /// it (with their hosts, ports and exposures), the `local` audits taken before it, the
    /// `detect` alerts stored before it, and the detect runs that started before it, are not
    /// running and hold no alert any more.
    pub fn prune_all(&mut self, before: SystemTime) -> Result<Pruned, StoreError> {
        let t = time_to_secs(before);
        let r = self.conn.tx(|c| {
            let scans = delete_scans(c, "started < $1", &[t.into()])?;
            let audits = c.exec("DELETE FROM audits WHERE started < $1", &[t.into()])?;
            let alerts = c.exec("DELETE FROM alerts WHERE stored < $1", &[t.into()])?;
            c.exec(
                "DELETE FROM detect_runs WHERE started < $1 AND status <> 'running' AND \
                 NOT EXISTS (SELECT 1 FROM alerts a WHERE a.run_id = detect_runs.id)",
                &[t.into()],
            )?;
            Ok(Pruned {
                scans,
                audits,
                alerts,
            })
        });
        r.map_err(|e| self.err(e))
    }

    /// The ports `where_` selects, joined with their scans. `by_address`: the condition
    /// names an address or a range of them (`p.addr_key`), and the ports' unique key
    /// (schema 6: scan, address, protocol, port) is sought once per stored scan: the scans
    /// come first (SQLite keeps the order of a `CROSS JOIN`), else SQLite would read the
    /// whole index.
    fn port_rows(
        &mut self,
        where_: &str,
        args: &[Val],
        order: &str,
        by_address: bool,
    ) -> Result<Vec<PortRow>, StoreError> {
        let rows = self.query(&port_rows_sql(where_, order, by_address), args)?;
        rows.iter().map(|r| self.read_port(r)).collect()
    }

    fn read_port(&self, r: &Row) -> Result<PortRow, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt {
            path: self.location.clone(),
            what,
        };
        let g = |e: DbError| self.err(e);
        let key = r.blob(2).map_err(g)?;
        let proto = r.text(3).map_err(g)?;
        let state = r.text(5).map_err(g)?;
        let reason = r.text(6).map_err(g)?;
        let service = match r.opt_text(13).map_err(g)? {
            Some(j) if j == TABLE_GUESS => {
                let name = r.opt_text(9).map_err(g)?.ok_or_else(|| {
                    corrupt("a port table's guess of a service without its name".into())
                })?;
                Some(table_guess(name))
            }
            Some(j) => Some(
                serde_json::from_str::<Service>(&j)
                    .map_err(|e| corrupt(format!("a stored service does not read back: {e}")))?,
            ),
            None => r.opt_text(9).map_err(g)?.map(|name| Service {
                name,
                ..Default::default()
            }),
        };
        let ev = PortEvent {
            addr: key_addr(key).ok_or_else(|| corrupt(format!("{key:?} is not an address key")))?,
            port: u16::try_from(r.int(4).map_err(g)?)
                .map_err(|_| corrupt("a port number out of range".into()))?,
            proto: proto
                .parse()
                .map_err(|_| corrupt(format!("{proto:?} is not a protocol")))?,
            state: parse_state(&state).ok_or_else(|| corrupt(format!("state {state:?}")))?,
            reason: parse_reason(&reason).ok_or_else(|| corrupt(format!("reason {reason:?}")))?,
            rtt: r
                .opt_int(7)
                .map_err(g)?
                .map(|us| Duration::from_micros(us.max(0) as u64)),
            ttl: r.opt_int(8).map_err(g)?.and_then(|t| u8::try_from(t).ok()),
            service,
        };
        Ok(PortRow {
            scan_id: r.int(0).map_err(g)?,
            started: r.real(1).map_err(g)?,
            ev,
        })
    }

    /// A stored scan as a report: its hosts and every stored port, sorted. Closed ports were
    /// not stored; a host's numerous non-open ports are in its `extra` counts as the scan
    /// reported them.
    pub fn scan(&mut self, id: i64) -> Result<ScanReport, StoreError> {
        let info = self.scan_info(id)?;
        let ports = self.port_rows(
            "p.scan_id = $1",
            &[id.into()],
            "p.addr_key, p.proto, p.port",
            false,
        )?;
        let mut hosts: BTreeMap<IpAddr, HostReport> = BTreeMap::new();
        let rows = self.query(
            "SELECT addr_key, hostname, up, up_reason, srtt_us, extra FROM hosts WHERE scan_id = $1",
            &[id.into()],
        )?;
        for r in &rows {
            let g = |e: DbError| self.err(e);
            let Some(addr) = key_addr(r.blob(0).map_err(g)?) else {
                continue;
            };
            let extra: Vec<ExtraPorts> =
                serde_json::from_str(&r.text(5).map_err(g)?).map_err(|e| StoreError::Corrupt {
                    path: self.location.clone(),
                    what: format!("a host's port counts do not read back: {e}"),
                })?;
            hosts.insert(
                addr,
                HostReport {
                    addr,
                    hostname: r.opt_text(1).map_err(g)?,
                    up: r.int(2).map_err(g)? != 0,
                    up_reason: r.opt_text(3).map_err(g)?.and_then(|s| parse_reason(&s)),
                    up_ttl: None,
                    ports: Vec::new(),
                    extra,
                    srtt_us: r.opt_int(4).map_err(g)?.map(|v| v.max(0) as u64),
                },
            );
        }
        // A host without a record of its own (a scan writes none for a host its ports show
        // as it is) is what its ports show: `host_from_ports`.
        let recorded: std::collections::HashSet<IpAddr> = hosts.keys().copied().collect();
        for row in ports {
            let ev = row.ev;
            let h = hosts.entry(ev.addr).or_insert_with(|| HostReport {
                addr: ev.addr,
                hostname: None,
                up: false,
                up_reason: None,
                up_ttl: None,
                ports: Vec::new(),
                extra: Vec::new(),
                srtt_us: None,
            });
            if ev.state.proves_host_up() && !h.up {
                h.up = true;
                h.up_reason = Some(ev.reason);
                if !recorded.contains(&ev.addr) {
                    // As `host_from_ports` reads it: the first port that proves it up.
                    h.srtt_us = ev.rtt.map(|d| d.as_micros() as u64);
                }
            }
            h.ports.push(ev);
        }
        let proto = info.proto.parse().unwrap_or(Protocol::Tcp);
        Ok(ScanReport {
            scan_type: info.kind.clone(),
            proto,
            args: info.args.clone(),
            ports_spec: info.ports.clone(),
            num_ports: info.num_ports,
            start: secs_to_time(info.started),
            end: secs_to_time(info.ended.unwrap_or(info.started)),
            hosts: hosts.into_values().collect(),
            targets_total: info.targets_count,
            host_discovery: info.discovery.clone().unwrap_or_default(),
            stats: info.stats,
        })
    }

    /// Every scan that stored something about `addr`, oldest first, with its ports.
    pub fn history(&mut self, addr: IpAddr) -> Result<Vec<HostScan>, StoreError> {
        let key = addr_key(addr);
        let rows = self.port_rows(
            "p.addr_key = $1",
            &[key.clone().into()],
            "p.scan_id, p.proto, p.port",
            true,
        )?;
        let ids = self.rows(SCANS_OF_ADDRESS, &[key.into()], |r| r.int(0))?;
        let mut by_scan: BTreeMap<i64, Vec<PortEvent>> =
            ids.iter().map(|id| (*id, Vec::new())).collect();
        for r in rows {
            by_scan.entry(r.scan_id).or_default().push(r.ev);
        }
        by_scan
            .into_iter()
            .map(|(id, ports)| {
                Ok(HostScan {
                    scan: self.scan_info(id)?,
                    ports,
                })
            })
            .collect()
    }

    fn filtered_rows(&mut self, f: &Filter) -> Result<Vec<PortRow>, StoreError> {
        let mut conds: Vec<String> = vec!["1 = 1".into()];
        let mut args: Vec<Val> = Vec::new();
        let mut arg = |conds: &mut Vec<String>, sql: &str, v: Val| {
            args.push(v);
            conds.push(sql.replace('?', &format!("${}", args.len())));
        };
        if let Some(n) = &f.net {
            let (lo, hi) = n.key_range();
            arg(&mut conds, "p.addr_key >= ?", lo.into());
            arg(&mut conds, "p.addr_key <= ?", hi.into());
        }
        if let Some(p) = f.port {
            arg(&mut conds, "p.port = ?", (p as i64).into());
        }
        if let Some(p) = f.proto {
            arg(&mut conds, "p.proto = ?", p.as_str().into());
        }
        if let Some(s) = &f.service {
            arg(&mut conds, "lower(p.service) = ?", s.to_lowercase().into());
        }
        if let Some(s) = &f.product {
            arg(
                &mut conds,
                "lower(p.product) LIKE ? ESCAPE '\\'",
                like_substring(s).into(),
            );
        }
        if let Some(s) = f.state {
            arg(&mut conds, "p.state = ?", s.as_str().into());
        }
        if let Some(t) = f.since {
            arg(&mut conds, "s.started >= ?", time_to_secs(t).into());
        }
        if let Some(t) = f.until {
            arg(&mut conds, "s.started <= ?", time_to_secs(t).into());
        }
        self.port_rows(
            &conds.join(" AND "),
            &args,
            "p.addr_key, p.proto, p.port, p.scan_id",
            f.net.is_some(),
        )
    }

    /// Every (address, protocol, port) the filter selects, with when it was first and last
    /// seen and how it was last.
    pub fn ports(&mut self, f: &Filter) -> Result<Vec<PortSeen>, StoreError> {
        let mut out: Vec<PortSeen> = Vec::new();
        for r in self.filtered_rows(f)? {
            match out.last_mut() {
                Some(last)
                    if (last.addr, last.proto, last.port) == (r.ev.addr, r.ev.proto, r.ev.port) =>
                {
                    last.first_seen = last.first_seen.min(r.started);
                    last.last_seen = last.last_seen.max(r.started);
                    last.scans += 1;
                    last.last_scan = r.scan_id;
                    last.state = r.ev.state;
                    last.service = r.ev.service;
                }
                _ => out.push(PortSeen {
                    addr: r.ev.addr,
                    proto: r.ev.proto,
                    port: r.ev.port,
                    state: r.ev.state,
                    service: r.ev.service,
                    first_seen: r.started,
                    last_seen: r.started,
                    scans: 1,
                    last_scan: r.scan_id,
                }),
            }
        }
        Ok(out)
    }

    /// Every host with a port the filter selects: when it was first and last seen, and the
    /// selected ports of its latest scan.
    pub fn hosts(&mut self, f: &Filter) -> Result<Vec<HostSeen>, StoreError> {
        let mut out: Vec<HostSeen> = Vec::new();
        for r in self.filtered_rows(f)? {
            let h = match out.last_mut() {
                Some(h) if h.addr == r.ev.addr => h,
                _ => {
                    out.push(HostSeen {
                        addr: r.ev.addr,
                        first_seen: r.started,
                        last_seen: r.started,
                        last_scan: r.scan_id,
                        open_ports: Vec::new(),
                        other_ports: 0,
                    });
                    let n = out.len() - 1;
                    &mut out[n]
                }
            };
            h.first_seen = h.first_seen.min(r.started);
            if r.scan_id > h.last_scan {
                h.last_scan = r.scan_id;
                h.last_seen = r.started;
                h.open_ports.clear();
                h.other_ports = 0;
            }
            if r.scan_id == h.last_scan {
                if r.ev.state == PortState::Open {
                    h.open_ports.push((r.ev.proto, r.ev.port));
                } else {
                    h.other_ports += 1;
                }
            }
        }
        for h in &mut out {
            h.open_ports.sort_unstable();
            h.open_ports.dedup();
        }
        Ok(out)
    }

    /// Check the store's integrity (SQLite: `PRAGMA integrity_check`; PostgreSQL: the server
    /// keeps its own): `Ok(())` or what is wrong.
    pub fn check(&mut self) -> Result<(), StoreError> {
        if self.conn.is_pg() {
            self.query("SELECT 1", &[])?;
            return Ok(());
        }
        let r = self.rows("PRAGMA integrity_check", &[], |r| r.text(0))?;
        if r.first().map(String::as_str) == Some("ok") {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.location.clone(),
                what: r.join("; "),
            })
        }
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// The schema version of the database behind `c`.
fn version(c: &mut Conn) -> Result<i64, DbError> {
    let sql = if c.is_pg() {
        "SELECT version FROM portolan_schema LIMIT 1"
    } else {
        "PRAGMA user_version"
    };
    Ok(c.query(sql, &[])?
        .first()
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0))
}

/// A URL with its password replaced by `***`, for messages: the one after `user:`, and a
/// `password=` or `sslpassword=` (the client key's passphrase) in the query.
fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &base[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &base[..s + 3], user, &base[at..]),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _))
                    if k.eq_ignore_ascii_case("password")
                        || k.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{k}=***")
                }
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for `sql` (`EXPLAIN QUERY PLAN`), one line per step.
    fn plan(s: &mut Store, sql: &str, args: &[Val]) -> String {
        let rows = s.query(&format!("EXPLAIN QUERY PLAN {sql}"), args).unwrap();
        rows.iter()
            .map(|r| r.text(3).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// An audit of host `h` whose report is `report`: something to commit.
    fn audit(report: &str) -> NewAudit<'_> {
        NewAudit {
            host: "h",
            time: UNIX_EPOCH,
            version: "0",
            args: "",
            sockets: 0,
            findings: 0,
            worst: None,
            report,
        }
    }

    #[test]
    fn once_copied_the_wal_is_cut_to_what_it_holds_at_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let wal_len = || {
            std::fs::metadata(dir.path().join("s.db-wal"))
                .unwrap()
                .len()
        };
        let mut s = Store::open_path(&path).unwrap();
        s.conn_mut().skip_checkpoint_on_close().unwrap();
        let big = "x".repeat(64 << 10);
        for _ in 0..16 {
            s.save_audit(&audit(&big)).unwrap();
        }
        let long = wal_len();
        assert!(long > 1 << 20, "{long}");
        assert!(s.conn_mut().checkpoint_if_wal_over(long).unwrap());
        // The next commit starts the WAL over, and the file is cut to its frames: its length
        // is no longer the longest it was, and no checkpoint is due.
        s.save_audit(&audit("{}")).unwrap();
        let short = wal_len();
        assert!(short < long / 8, "{short} of {long}");
        assert!(!s.conn_mut().checkpoint_if_wal_over(long / 8).unwrap());
        assert_eq!(s.audits(None).unwrap().len(), 17);
    }

    #[test]
    fn a_long_wal_is_copied_into_the_database_a_short_one_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = Store::open_path(&path).unwrap();
        s.conn_mut().skip_checkpoint_on_close().unwrap();
        s.save_audit(&audit("{}")).unwrap();
        let wal = std::fs::metadata(dir.path().join("s.db-wal"))
            .unwrap()
            .len();
        assert!(wal > 0);
        assert!(!s.conn_mut().checkpoint_if_wal_over(wal + 1).unwrap());
        assert!(s.conn_mut().checkpoint_if_wal_over(wal).unwrap());
        // Copied: the database file alone (the WAL set aside) holds the audit.
        drop(s);
        std::fs::remove_file(dir.path().join("s.db-wal")).unwrap();
        let _ = std::fs::remove_file(dir.path().join("s.db-shm"));
        let mut s = Store::open_path(&path).unwrap();
        assert_eq!(s.audits(None).unwrap().len(), 1);
    }

    #[test]
    fn questions_by_address_seek_each_scans_part_of_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_path(&dir.path().join("s.db")).unwrap();
        let key = || Val::from(addr_key("192.0.2.7".parse().unwrap()));
        let seek = "ports_key (scan_id=? AND addr_key=?)";
        let sql = port_rows_sql("p.addr_key = $1", "p.scan_id, p.proto, p.port", true);
        let p = plan(&mut s, &sql, &[key()]);
        assert!(p.contains(seek), "{p}");
        let sql = port_rows_sql(
            "p.addr_key >= $1 AND p.addr_key <= $2",
            "p.addr_key, p.proto, p.port, p.scan_id",
            true,
        );
        let p = plan(&mut s, &sql, &[key(), key()]);
        assert!(
            p.contains("ports_key (scan_id=? AND addr_key>? AND addr_key<?)"),
            "{p}"
        );
        let p = plan(&mut s, SCANS_OF_ADDRESS, &[key()]);
        assert!(p.contains(seek), "{p}");
        assert!(p.contains("hosts_key (scan_id=? AND addr_key=?)"), "{p}");
        // One scan: its part of the key, nothing else read.
        let sql = port_rows_sql("p.scan_id = $1", "p.addr_key, p.proto, p.port", false);
        let p = plan(&mut s, &sql, &[Val::Int(1)]);
        assert!(p.contains("ports_key (scan_id=?)"), "{p}");
    }

    #[test]
    fn specs() {
        assert_eq!(
            StoreSpec::parse("/tmp/x.db").unwrap(),
            StoreSpec::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            StoreSpec::parse("sqlite:///tmp/x.db").unwrap(),
            StoreSpec::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            StoreSpec::parse("postgres://u:p@db/portolan").unwrap(),
            StoreSpec::Postgres(_)
        ));
        assert!(StoreSpec::parse("mysql://db").is_err());
        assert!(StoreSpec::parse("").is_err());
        assert_eq!(redact("postgres://u:secret@db/p"), "postgres://u:***@db/p");
        assert_eq!(
            redact("postgres://u:s%40cret@db/p?sslmode=require&password=x&user=u"),
            "postgres://u:***@db/p?sslmode=require&password=***&user=u"
        );
        assert_eq!(
            redact("postgres://db/p?password=secret"),
            "postgres://db/p?password=***"
        );
        assert_eq!(
            redact("postgres://u@db/p?sslkey=/k&sslpassword=pass%20phrase"),
            "postgres://u@db/p?sslkey=/k&sslpassword=***"
        );
    }

    #[test]
    fn addr_keys_on_the_stack_are_the_same_bytes() {
        for a in ["192.0.2.7", "2001:db8::1", "::ffff:10.0.0.1", "0.0.0.0"] {
            let a: IpAddr = a.parse().unwrap();
            assert_eq!(AddrKey::new(a).as_slice(), addr_key(a).as_slice());
            assert_eq!(key_addr(&addr_key(a)), Some(a));
        }
    }

    #[test]
    fn networks() {
        let n: Net = "10.1.2.3/8".parse().unwrap();
        let (lo, hi) = n.key_range();
        assert_eq!(lo, vec![4, 10, 0, 0, 0]);
        assert_eq!(hi, vec![4, 10, 255, 255, 255]);
        let one: Net = "192.0.2.7".parse().unwrap();
        assert_eq!(one.key_range().0, one.key_range().1);
        assert!("10.0.0.0/33".parse::<Net>().is_err());
        assert!("host.example".parse::<Net>().is_err());
        let v6: Net = "2001:db8::/32".parse().unwrap();
        assert_eq!(v6.key_range().1[5], 0xff);
    }
}
