//! [`StoreSink`]: a scan written into the store while it runs.
//!
//! Ports are gathered into batches; each batch is one transaction of multi-row `INSERT`s (a
//! few statements per batch, not a few per port: one round trip per statement to PostgreSQL).
//! With [`StoreSink::in_background`] the batches are written by a thread of their own that owns
//! the store, fed through a bounded channel: the scan hands a batch over and goes on, and waits
//! only when the writer is several batches behind (memory stays bounded) or when it asks for
//! durability ([`EventSink::flush`] returns once every batch handed over is committed, or with
//! the writer's error). A crash loses at most the batches not yet committed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::db::{Col, Conn, DbError, Val};
use crate::{addr_key, time_to_secs, Store};
use portolan_model::{
    EventSink, Flow, HostReport, PortEvent, PortState, Protocol, ScanReport, ScanStart, SinkError,
};

/// The targets of a scan as the user gave them (addresses, blocks, ranges, names, target
/// files, excludes), in one line: the key by which later scans of the same targets are found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets(pub String);

/// A port to write: when it was seen, and whether this sink may have written it (and
/// exposures of it) before, which are then replaced.
type PortRow = (PortEvent, SystemTime, bool);

/// A batch: ports and host records.
type Batch = (Vec<PortRow>, Vec<HostReport>);

/// What the writer thread is asked.
enum Job {
    Write(i64, Batch),
    /// Answer once everything before is committed.
    Sync(mpsc::Sender<()>),
}

/// What the scan and the writer thread share.
#[derive(Default)]
struct Shared {
    committed: AtomicU64,
    /// The first error of the writer; it writes nothing after it.
    error: Mutex<Option<String>>,
}

impl Shared {
    fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// The writer thread of a sink [`StoreSink::in_background`].
struct Writer {
    tx: Option<mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<Store>>,
}

impl Writer {
    /// Batches in the channel at most: the scan waits when the writer is this far behind
    /// (memory stays bounded: an import reads faster than it writes).
    const QUEUE: usize = 4;
    /// Ports in one transaction at most when batches queued up.
    const GROUP_ROWS: usize = 16_384;

    fn spawn(mut store: Store, shared: Arc<Shared>) -> Result<Writer, String> {
        store
            .conn_mut()
            .skip_checkpoint_on_close()
            .map_err(|e| format!("cannot set up the store's connection: {}", e.0))?;
        let (tx, rx) = mpsc::sync_channel::<Job>(Self::QUEUE);
        let thread = std::thread::Builder::new()
            .name("portolan-store-writer".into())
            .spawn(move || {
                // Group commit: the batches that queued up while the last one was written
                // go into one transaction (fewer commits, each rewriting fewer index pages
                // per port); a sync is answered once what came before it is committed.
                let mut next = None;
                loop {
                    let Some(job) = next.take().or_else(|| rx.recv().ok()) else {
                        break;
                    };
                    let (id, mut ports, mut hosts) = match job {
                        Job::Sync(ack) => {
                            let _ = ack.send(());
                            continue;
                        }
                        Job::Write(id, (p, h)) => (id, p, h),
                    };
                    while ports.len() < Self::GROUP_ROWS {
                        match rx.try_recv() {
                            Ok(Job::Write(i, (p, h))) if i == id => {
                                ports.extend(p);
                                hosts.extend(h);
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    if shared.error().is_some() {
                        continue;
                    }
                    let n = ports.len() as u64;
                    match write_batch(store.conn_mut(), id, &ports, &hosts) {
                        Ok(()) => {
                            shared.committed.fetch_add(n, Ordering::SeqCst);
                        }
                        Err(e) => {
                            if let Ok(mut slot) = shared.error.lock() {
                                slot.get_or_insert(e.0);
                            }
                        }
                    }
                }
                store
            })
            .map_err(|e| format!("cannot start the store's writer thread: {e}"))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hand a batch over (waits while the queue is full). `false`: the writer is gone.
    fn send(&self, job: Job) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
    }

    /// Wait until everything handed over is committed (or failed).
    fn sync(&self) -> bool {
        let (ack, done) = mpsc::channel();
        self.send(Job::Sync(ack)) && done.recv().is_ok()
    }

    /// Close the channel, let the writer finish what it has, and take the store back.
    fn join(mut self) -> Option<Store> {
        drop(self.tx.take());
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A sink dropped without finish (another sink failed, the scan was stopped): what was
        // handed over is still committed before the thread ends.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes a scan into a [`Store`] while it runs. See the crate documentation.
pub struct StoreSink {
    /// `None` while the writer thread has it.
    store: Option<Store>,
    location: String,
    writer: Option<Writer>,
    background: bool,
    shared: Arc<Shared>,
    targets: Targets,
    scan_id: Option<i64>,
    pending: Vec<PortRow>,
    /// Host records to write with the next batch ([`StoreSink::host`]).
    pending_hosts: Vec<HostReport>,
    last_commit: Instant,
    batch_rows: usize,
    batch_interval: Duration,
    /// Stream only open ports while the scan runs ([`StoreSink::open_ports_while_running`]).
    open_only: bool,
    /// Open ports streamed, as they were written: [`EventSink::finish`] writes again only the
    /// ones its report has otherwise (a service found by -sV).
    streamed: HashMap<(IpAddr, Protocol, u16), PortEvent>,
}

fn sink_err(location: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Other(format!("store {location}: {e}"))
}

/// Rows per multi-row statement: 256 ports × 16 values stays far below SQLite's and
/// PostgreSQL's limits on bound parameters (32766, 65535).
const CHUNK: usize = 256;

/// `($1, $2, …), ($k+1, …), …`: `rows` groups of `cols` placeholders.
pub(crate) fn placeholders(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// The last of the items with the same key, in their order (what one upsert after another
/// would leave). One multi-row `INSERT … ON CONFLICT DO UPDATE` must not name a row twice.
fn last_of_each<'a, T, K: std::hash::Hash + Eq>(
    items: impl DoubleEndedIterator<Item = &'a T>,
    key: impl Fn(&T) -> K,
) -> Vec<&'a T>
where
    T: 'a,
{
    let mut seen = HashSet::new();
    let mut out: Vec<&T> = items.rev().filter(|t| seen.insert(key(t))).collect();
    out.reverse();
    out
}

const PORT_NAMES: [&str; 16] = [
    "scan_id",
    "addr",
    "addr_key",
    "proto",
    "port",
    "state",
    "reason",
    "rtt_us",
    "ttl",
    "service",
    "product",
    "version",
    "extrainfo",
    "cpe",
    "service_json",
    "seen",
];
/// The conflict target is the unique index `ports_addr` (schema 3), columns in its order.
const PORT_UPSERT: &str = "ON CONFLICT (addr_key, proto, port, scan_id) DO UPDATE SET \
    state = excluded.state, reason = excluded.reason, rtt_us = excluded.rtt_us, \
    ttl = excluded.ttl, service = excluded.service, product = excluded.product, \
    version = excluded.version, extrainfo = excluded.extrainfo, cpe = excluded.cpe, \
    service_json = excluded.service_json, seen = excluded.seen";

const HOST_NAMES: [&str; 8] = [
    "scan_id",
    "addr",
    "addr_key",
    "hostname",
    "up",
    "up_reason",
    "srtt_us",
    "extra",
];
const HOST_UPSERT: &str = "ON CONFLICT (addr_key, scan_id) DO UPDATE SET \
    hostname = excluded.hostname, up = excluded.up, up_reason = excluded.up_reason, \
    srtt_us = excluded.srtt_us, extra = excluded.extra";

const EXPOSURE_NAMES: [&str; 8] = [
    "scan_id", "addr_key", "proto", "port", "id", "severity", "title", "evidence",
];
const EXPOSURE_UPSERT: &str = "ON CONFLICT (scan_id, addr_key, proto, port, id) DO UPDATE SET \
    severity = excluded.severity, title = excluded.title, evidence = excluded.evidence";

/// Insert or replace ports (and their exposures) of scan `id`: one statement for them all
/// ([`Conn::insert_rows`]). The exposures of a port marked as possibly written before are
/// replaced; a port written for the first time has none to replace (no statement on the hot
/// path of a scan).
fn put_ports(
    c: &mut Conn,
    id: i64,
    ports: &[(&PortEvent, SystemTime, bool)],
) -> Result<(), DbError> {
    let mut ports = last_of_each(ports.iter(), |(ev, _, _)| (ev.addr, ev.proto, ev.port));
    // In the order of the index by address (the one written in random order): neighbours
    // land on the same pages one after the other.
    ports.sort_unstable_by_key(|(ev, _, _)| (ev.addr, ev.proto.as_str(), ev.port));
    let n = ports.len();
    let (mut addr, mut key, mut proto, mut port, mut state, mut reason) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut rtt, mut ttl, mut seen) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut svc_cols: [Vec<Option<String>>; 6] = Default::default();
    for (ev, when, _) in &ports {
        addr.push(Some(ev.addr.to_string()));
        key.push(Some(addr_key(ev.addr)));
        proto.push(Some(ev.proto.as_str().to_string()));
        port.push(Some(i64::from(ev.port)));
        state.push(Some(ev.state.as_str().to_string()));
        reason.push(Some(ev.reason.as_str().to_string()));
        rtt.push(ev.rtt.map(|d| d.as_micros() as i64));
        ttl.push(ev.ttl.map(i64::from));
        seen.push(Some(time_to_secs(*when)));
        let svc = ev.service.as_ref();
        let cpe = svc
            .map(|s| {
                s.cpe
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|c| !c.is_empty());
        let [name, product, version, extrainfo, cpes, json] = &mut svc_cols;
        name.push(svc.map(|s| s.name.clone()));
        product.push(svc.and_then(|s| s.product.clone()));
        version.push(svc.and_then(|s| s.version.clone()));
        extrainfo.push(svc.and_then(|s| s.extrainfo.clone()));
        cpes.push(cpe);
        json.push(svc.and_then(|s| serde_json::to_string(s).ok()));
    }
    let [name, product, version, extrainfo, cpes, json] = svc_cols;
    c.insert_rows(
        "ports",
        &PORT_NAMES,
        vec![
            Col::Int(vec![Some(id); n]),
            Col::Text(addr),
            Col::Blob(key),
            Col::Text(proto),
            Col::Int(port),
            Col::Text(state),
            Col::Text(reason),
            Col::Int(rtt),
            Col::Int(ttl),
            Col::Text(name),
            Col::Text(product),
            Col::Text(version),
            Col::Text(extrainfo),
            Col::Text(cpes),
            Col::Text(json),
            Col::Real(seen),
        ],
        PORT_UPSERT,
    )?;
    // A port written again replaces the exposures it had: one statement per chunk.
    let again: Vec<&PortEvent> = ports
        .iter()
        .filter(|(ev, _, again)| *again && ev.service.is_some())
        .map(|(ev, _, _)| *ev)
        .collect();
    for chunk in again.chunks(CHUNK) {
        let mut args: Vec<Val> = vec![id.into()];
        let mut conds = Vec::with_capacity(chunk.len());
        for ev in chunk {
            let n = args.len();
            conds.push(format!(
                "(addr_key = ${} AND proto = ${} AND port = ${})",
                n + 1,
                n + 2,
                n + 3
            ));
            args.extend([
                addr_key(ev.addr).into(),
                ev.proto.as_str().into(),
                (ev.port as i64).into(),
            ]);
        }
        c.exec(
            &format!(
                "DELETE FROM exposures WHERE scan_id = $1 AND ({})",
                conds.join(" OR ")
            ),
            &args,
        )?;
    }
    let mut x: [Vec<Option<String>>; 6] = Default::default();
    let (mut xkey, mut xport) = (Vec::new(), Vec::new());
    for (ev, _, _) in &ports {
        let exposures = ev.service.as_ref().map(|s| s.exposures.as_slice());
        for e in exposures.unwrap_or(&[]) {
            xkey.push(Some(addr_key(ev.addr)));
            xport.push(Some(i64::from(ev.port)));
            let [proto, xid, severity, title, evidence, _] = &mut x;
            proto.push(Some(ev.proto.as_str().to_string()));
            xid.push(Some(e.id.clone()));
            severity.push(Some(e.severity.as_str().to_string()));
            title.push(Some(e.title.clone()));
            evidence.push(Some(e.evidence.clone()));
        }
    }
    let [proto, xid, severity, title, evidence, _] = x;
    c.insert_rows(
        "exposures",
        &EXPOSURE_NAMES,
        vec![
            Col::Int(vec![Some(id); xkey.len()]),
            Col::Blob(xkey),
            Col::Text(proto),
            Col::Int(xport),
            Col::Text(xid),
            Col::Text(severity),
            Col::Text(title),
            Col::Text(evidence),
        ],
        EXPOSURE_UPSERT,
    )
}

/// Insert or replace host records (not their ports) of scan `id`: one statement for them all.
fn put_hosts(c: &mut Conn, id: i64, hosts: &[&HostReport]) -> Result<(), DbError> {
    let mut hosts = last_of_each(hosts.iter().copied(), |h| h.addr);
    hosts.sort_unstable_by_key(|h| h.addr);
    let n = hosts.len();
    let (mut addr, mut key, mut name, mut up, mut reason, mut srtt, mut extra) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for h in &hosts {
        addr.push(Some(h.addr.to_string()));
        key.push(Some(addr_key(h.addr)));
        name.push(h.hostname.clone());
        up.push(Some(i64::from(h.up)));
        reason.push(h.up_reason.map(|r| r.as_str().to_string()));
        srtt.push(h.srtt_us.map(|v| v as i64));
        extra.push(Some(if h.extra.is_empty() {
            "[]".to_string()
        } else {
            serde_json::to_string(&h.extra).unwrap_or_else(|_| "[]".into())
        }));
    }
    c.insert_rows(
        "hosts",
        &HOST_NAMES,
        vec![
            Col::Int(vec![Some(id); n]),
            Col::Text(addr),
            Col::Blob(key),
            Col::Text(name),
            Col::Int(up),
            Col::Text(reason),
            Col::Int(srtt),
            Col::Text(extra),
        ],
        HOST_UPSERT,
    )
}

/// One batch in one transaction.
fn write_batch(
    c: &mut Conn,
    id: i64,
    ports: &[PortRow],
    hosts: &[HostReport],
) -> Result<(), DbError> {
    c.tx(|c| {
        let ports: Vec<(&PortEvent, SystemTime, bool)> =
            ports.iter().map(|(e, t, again)| (e, *t, *again)).collect();
        put_ports(c, id, &ports)?;
        put_hosts(c, id, &hosts.iter().collect::<Vec<_>>())
    })
}

impl StoreSink {
    /// Commit at least every this many ports... (Each commit rewrites the pages of the index
    /// by address that its ports landed on, in random order: at 512 ports a batch, a /17
    /// scan wrote about 30 times its rows' size.)
    pub const BATCH_ROWS: usize = 4096;
    /// ... and at least this often while ports come in.
    pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

    pub fn new(store: Store, targets: Targets) -> StoreSink {
        StoreSink {
            location: store.location().to_string(),
            store: Some(store),
            writer: None,
            background: false,
            shared: Arc::default(),
            targets,
            scan_id: None,
            pending: Vec::new(),
            pending_hosts: Vec::new(),
            open_only: false,
            streamed: HashMap::new(),
            last_commit: Instant::now(),
            batch_rows: Self::BATCH_ROWS,
            batch_interval: Self::BATCH_INTERVAL,
        }
    }

    /// Change the batch size and interval (tests; very large scans).
    pub fn with_batch(mut self, rows: usize, interval: Duration) -> StoreSink {
        self.batch_rows = rows.max(1);
        self.batch_interval = interval;
        self
    }

    /// Stream only *open* ports while a scan runs; the other ports that are not closed
    /// (filtered, open|filtered, ...) are written at the end from the scan's report, which
    /// lists them up to its per-host limit and counts the rest, as nmap's `extraports` does.
    /// A scan of a filtered range then costs the store a few rows, not one per probe; open
    /// ports stay durable batch by batch. The host of an open port is written with it (up, the
    /// reason and RTT of that answer); at the end only the hosts whose report differs are
    /// written again.
    pub fn open_ports_while_running(mut self) -> Self {
        self.open_only = true;
        self
    }

    /// Write the batches on a thread of their own (started with the scan), so that the scan
    /// never waits on the database except to make its results durable
    /// ([`EventSink::flush`]) or when the writer is [`Writer::QUEUE`] batches behind. Without
    /// it every batch is written by the caller, as it comes.
    pub fn in_background(mut self) -> Self {
        self.background = true;
        self
    }

    /// Change the targets recorded for the scan (before [`EventSink::start`]).
    pub fn set_targets(&mut self, targets: Targets) {
        self.targets = targets;
    }

    /// The stored scan's id, once the scan started.
    pub fn scan_id(&self) -> Option<i64> {
        self.scan_id
    }

    /// Ports committed so far (in the background: by the writer thread, so far).
    pub fn committed(&self) -> u64 {
        self.shared.committed.load(Ordering::SeqCst)
    }

    /// Where the store is: its file, or its URL without the password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Give the store back (after [`EventSink::finish`]; before, it waits for the writer
    /// thread to commit what it was handed). `None` if the writer thread died.
    pub fn into_store(mut self) -> Option<Store> {
        if let Some(w) = self.writer.take() {
            self.store = w.join();
        }
        self.store.take()
    }

    /// A host's record (address, name, whether it is up, its counts of ports too numerous to
    /// list), written with the next batch. Its ports go through [`EventSink::port`]. For
    /// writers that know their hosts one at a time (an import), so that nothing waits for
    /// [`EventSink::finish`]'s report; a scan's hosts come with its report instead.
    pub fn host(&mut self, h: &HostReport) -> Result<(), SinkError> {
        self.pending_hosts.push(HostReport {
            ports: Vec::new(),
            ..h.clone()
        });
        if self.pending_hosts.len() + self.pending.len() >= self.batch_rows {
            self.commit()?;
        }
        Ok(())
    }

    fn writer_error(&self) -> Result<(), SinkError> {
        match self.shared.error() {
            Some(e) => Err(sink_err(&self.location, e)),
            None => Ok(()),
        }
    }

    /// Commit the ports in hand in one transaction (in the background: hand them over).
    fn commit(&mut self) -> Result<(), SinkError> {
        self.last_commit = Instant::now();
        let Some(id) = self.scan_id else {
            return Ok(());
        };
        self.writer_error()?;
        if self.pending.is_empty() && self.pending_hosts.is_empty() {
            return Ok(());
        }
        let batch = (
            std::mem::take(&mut self.pending),
            std::mem::take(&mut self.pending_hosts),
        );
        if let Some(w) = &self.writer {
            if !w.send(Job::Write(id, batch)) {
                return Err(self.writer_gone());
            }
            return Ok(());
        }
        let Some(store) = self.store.as_mut() else {
            return Err(self.writer_gone());
        };
        write_batch(store.conn_mut(), id, &batch.0, &batch.1)
            .map_err(|e| sink_err(&self.location, e.0))?;
        self.shared
            .committed
            .fetch_add(batch.0.len() as u64, Ordering::SeqCst);
        Ok(())
    }

    fn writer_gone(&self) -> SinkError {
        match self.shared.error() {
            Some(e) => sink_err(&self.location, e),
            None => sink_err(&self.location, "the store's writer thread ended"),
        }
    }

    /// Stop the writer thread (after it committed everything) and take the store back.
    fn stop_writer(&mut self) -> Result<&mut Store, SinkError> {
        if let Some(w) = self.writer.take() {
            self.store = w.join();
        }
        self.writer_error()?;
        let location = self.location.clone();
        self.store
            .as_mut()
            .ok_or_else(|| sink_err(&location, "the store's writer thread ended"))
    }
}

impl EventSink for StoreSink {
    fn name(&self) -> String {
        format!("store {}", self.location)
    }

    fn start(&mut self, s: &ScanStart) -> Result<Flow, SinkError> {
        let args: Vec<Val> = vec![
            s.scan_type.as_str().into(),
            s.proto.as_str().into(),
            s.args.as_str().into(),
            self.targets.0.as_str().into(),
            (s.targets as i64).into(),
            s.ports.as_str().into(),
            (s.num_ports as i64).into(),
            (s.seed as i64).into(),
            s.shard.as_str().into(),
            s.resumed_from.map(|v| v as i64).into(),
            s.scanner.as_str().into(),
            s.version.as_str().into(),
            time_to_secs(s.time).into(),
        ];
        let location = self.location.clone();
        let store = self.stop_writer()?;
        let rows = store.conn_mut().query(
            "INSERT INTO scans (kind, proto, status, args, targets, targets_count, ports, \
             num_ports, seed, shard, resumed_from, scanner, version, started) VALUES \
             ($1, $2, 'running', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            &args,
        );
        let id = rows
            .and_then(|r| r.first().map(|r| r.int(0)).transpose())
            .map_err(|e| sink_err(&location, e.0))?
            .ok_or_else(|| sink_err(&location, "the new scan got no id"))?;
        self.scan_id = Some(id);
        self.last_commit = Instant::now();
        if self.background {
            if let Some(store) = self.store.take() {
                let w = Writer::spawn(store, Arc::clone(&self.shared));
                self.writer = Some(w.map_err(|e| sink_err(&location, e))?);
            }
        }
        Ok(Flow::Continue)
    }

    fn port(&mut self, ev: &PortEvent, time: SystemTime) -> Result<Flow, SinkError> {
        let keep = if self.open_only {
            ev.state == PortState::Open
        } else {
            ev.state != PortState::Closed
        };
        if keep {
            // Without the record of what was streamed, a port may have been written before.
            // A streamed port's host gets no record of its own: read back, a host without one
            // is what its stored ports show (`Store::scan`), and `finish` writes the record
            // of each host its report shows otherwise.
            let mut again = true;
            if self.open_only {
                again = self
                    .streamed
                    .insert((ev.addr, ev.proto, ev.port), ev.clone())
                    .is_some();
            }
            self.pending.push((ev.clone(), time, again));
        }
        if self.pending.len() >= self.batch_rows
            || (!self.pending.is_empty() && self.last_commit.elapsed() >= self.batch_interval)
        {
            self.commit()?;
        }
        Ok(Flow::Continue)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.commit()?;
        if let Some(w) = &self.writer {
            if !w.sync() {
                return Err(self.writer_gone());
            }
        }
        self.writer_error()
    }

    fn finish(&mut self, report: &ScanReport) -> Result<(), SinkError> {
        self.commit()?;
        let Some(id) = self.scan_id else {
            return Ok(());
        };
        let streamed = std::mem::take(&mut self.streamed);
        let open_only = self.open_only;
        let location = self.location.clone();
        let store = self.stop_writer()?;
        let r = store.conn_mut().tx(|c| {
            let end = report.end;
            // Of each host, the first streamed port (in the order a host without a record is
            // read back: protocol name, then port) that proves it up.
            let mut first: HashMap<IpAddr, &PortEvent> = HashMap::new();
            if open_only {
                for ev in streamed.values() {
                    if ev.state.proves_host_up() {
                        first
                            .entry(ev.addr)
                            .and_modify(|f| {
                                if (ev.proto.as_str(), ev.port) < (f.proto.as_str(), f.port) {
                                    *f = ev;
                                }
                            })
                            .or_insert(ev);
                    }
                }
            }
            let mut ports: Vec<(&PortEvent, SystemTime, bool)> = Vec::new();
            let mut hosts: Vec<&HostReport> = Vec::new();
            for h in &report.hosts {
                // Whether the host's stored ports show it as the report does (then it needs no
                // record): only a scan's sink writes no host record while it runs, and only if
                // the report changes none of the streamed ports.
                let mut plain = open_only && h.hostname.is_none() && h.extra.is_empty();
                let mut shown = first.get(&h.addr).copied();
                // What the report lists that is not closed (a resumed scan's earlier legs
                // included), with the services the report settled on.
                for p in h.ports.iter().filter(|p| p.state != PortState::Closed) {
                    if p.state.proves_host_up()
                        && shown
                            .is_none_or(|f| (p.proto.as_str(), p.port) < (f.proto.as_str(), f.port))
                    {
                        shown = Some(p);
                    }
                    // Already written as it is while the scan ran; else written again (a
                    // service -sV found) or for the first time.
                    let again = match streamed.get(&(p.addr, p.proto, p.port)) {
                        Some(w) if w == p => continue,
                        Some(_) => {
                            plain = false;
                            true
                        }
                        None => !open_only,
                    };
                    ports.push((p, end, again));
                }
                if !(plain && crate::host_from_ports(shown) == (h.up, h.up_reason, h.srtt_us)) {
                    hosts.push(h);
                }
            }
            put_ports(c, id, &ports)?;
            put_hosts(c, id, &hosts)?;
            let st = &report.stats;
            c.exec(
                "UPDATE scans SET status = $2, ended = $3, planned = $4, completed = $5, \
                 sent = $6, retries = $7, open = $8, closed = $9, filtered = $10, \
                 discovery = $11 WHERE id = $1",
                &[
                    id.into(),
                    (if st.interrupted {
                        "interrupted"
                    } else {
                        "done"
                    })
                    .into(),
                    time_to_secs(report.end).into(),
                    (st.planned as i64).into(),
                    (st.completed as i64).into(),
                    (st.sent as i64).into(),
                    (st.retries as i64).into(),
                    (st.open as i64).into(),
                    (st.closed as i64).into(),
                    (st.filtered as i64).into(),
                    (!report.host_discovery.is_empty())
                        .then(|| report.host_discovery.clone())
                        .into(),
                ],
            )?;
            Ok(())
        });
        r.map_err(|e| sink_err(&location, e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_row_by_row() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(1, 1), "($1)");
    }

    #[test]
    fn the_last_of_each_key_is_kept_in_order() {
        let v = [(1, 'a'), (2, 'b'), (1, 'c'), (3, 'd'), (2, 'e')];
        let kept: Vec<char> = last_of_each(v.iter(), |x| x.0)
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(kept, vec!['c', 'd', 'e']);
    }
}
