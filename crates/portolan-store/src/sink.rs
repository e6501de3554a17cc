//! [`StoreSink`]: a scan written into the store while it runs.
//!
//! Ports are gathered into batches; each batch is one transaction of multi-row `INSERT`s (a
//! few statements per batch, not a few per port: one round trip per statement to PostgreSQL).
//! With [`StoreSink::in_background`] the batches are written by a thread of their own that owns
//! the store, fed through a bounded channel: the scan hands a batch over and goes on, and waits
//! only when the writer is several batches behind (memory stays bounded) or when it asks for
//! durability ([`EventSink::flush`] returns once every batch handed over is committed, or with
//! the writer's error). A crash loses at most the batches not yet committed.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::db::{Cell, Conn, DbError, Kind, Val};
use crate::{addr_key, time_to_secs, AddrKey, Store};
use portolan_model::{
    EventSink, Exposure, Flow, HostReport, PortEvent, PortState, Protocol, Reason, ScanReport,
    ScanStart, Service, SinkError,
};

/// The targets of a scan as the user gave them (addresses, blocks, ranges, names, target
/// files, excludes), in one line: the key by which later scans of the same targets are found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets(pub String);

/// A port to write, as the scan hands it over: small (about 80 bytes, where a [`PortEvent`]
/// is about 330 with its service inline), its service shared with the ports that have the same
/// one (a scan's ports mostly have the registry's name for their number), and when it was seen.
#[derive(Clone, Debug)]
struct PortRow {
    addr: IpAddr,
    port: u16,
    proto: Protocol,
    state: PortState,
    reason: Reason,
    rtt: Option<Duration>,
    ttl: Option<u8>,
    service: Option<Arc<Service>>,
    seen: SystemTime,
}

impl PortRow {
    /// `ev`'s row, with its service (shared) and when it was seen.
    fn new(ev: &PortEvent, service: Option<Arc<Service>>, seen: SystemTime) -> PortRow {
        PortRow {
            addr: ev.addr,
            port: ev.port,
            proto: ev.proto,
            state: ev.state,
            reason: ev.reason,
            rtt: ev.rtt,
            ttl: ev.ttl,
            service,
            seen,
        }
    }
}

/// What [`put_ports`] writes of a port: a streamed [`PortRow`]'s fields, or an event's.
#[derive(Clone, Copy)]
struct Fields<'a> {
    addr: IpAddr,
    proto: Protocol,
    port: u16,
    state: PortState,
    reason: Reason,
    rtt: Option<Duration>,
    ttl: Option<u8>,
    service: Option<&'a Service>,
}

impl<'a> From<&'a PortEvent> for Fields<'a> {
    fn from(e: &'a PortEvent) -> Self {
        Fields {
            addr: e.addr,
            proto: e.proto,
            port: e.port,
            state: e.state,
            reason: e.reason,
            rtt: e.rtt,
            ttl: e.ttl,
            service: e.service.as_ref(),
        }
    }
}

impl<'a> From<&'a PortRow> for Fields<'a> {
    fn from(r: &'a PortRow) -> Self {
        Fields {
            addr: r.addr,
            proto: r.proto,
            port: r.port,
            state: r.state,
            reason: r.reason,
            rtt: r.rtt,
            ttl: r.ttl,
            service: r.service.as_deref(),
        }
    }
}

/// Of `part` of a report (its hosts in address order, as the report lists them): its ports
/// the scan did not stream as they are (with whether the port was written before), and its
/// hosts whose stored ports would not show them as the report does. `streamed` is the part of
/// [`Streamed::sorted`] with these hosts' addresses: both are walked once, in step (no lookup
/// per port in a map of every port, which cost about 0.5 µs a host in cache misses on a /17).
fn compare_hosts<'r>(
    part: &[&'r HostReport],
    streamed: &[Place],
    open_only: bool,
    end: SystemTime,
) -> (Vec<(&'r PortEvent, SystemTime, bool)>, Vec<&'r HostReport>) {
    let mut ports: Vec<(&'r PortEvent, SystemTime, bool)> = Vec::new();
    let mut hosts: Vec<&'r HostReport> = Vec::new();
    let mut rest = streamed;
    for &h in part {
        // This host's streamed ports: in read order, a port streamed twice with its copies
        // side by side, the latest last.
        // (Stepped over one by one, not sought: the next host's copies are nearly always
        // next, and a binary search of the whole rest is a dozen cache misses a host.)
        let skip = rest.iter().take_while(|p| p.row.addr < h.addr).count();
        rest = &rest[skip..];
        // (Not consumed: a report that lists an address twice finds it again.)
        let mine = &rest[..rest.iter().take_while(|p| p.row.addr == h.addr).count()];
        let latest = |k: usize| mine.get(k + 1).is_none_or(|next| !next.same_port(&mine[k]));
        // Whether the host's stored ports show it as the report does (then it needs no
        // record): only a scan's sink writes no host record while it runs, and only if the
        // report changes none of the streamed ports.
        let mut plain = open_only && h.hostname.is_none() && h.extra.is_empty();
        // Its first streamed port (in read order) that proves it up: (protocol name, port,
        // reason, RTT), what a host without a record is read back with (`Store::scan`).
        let mut shown = (0..mine.len()).filter(|&k| latest(k)).find_map(|k| {
            let q = &mine[k];
            q.row
                .state
                .proves_host_up()
                .then_some((q.proto, q.row.port, q.row.reason, q.row.rtt))
        });
        // What the report lists that is not closed (a resumed scan's earlier legs included),
        // with the services the report settled on.
        for p in h.ports.iter().filter(|p| p.state != PortState::Closed) {
            let key = (by_name(p.proto), p.port);
            if p.state.proves_host_up() && shown.is_none_or(|f| key < (f.0, f.1)) {
                shown = Some((key.0, key.1, p.reason, p.rtt));
            }
            // Already written as it is while the scan ran; else written again (a service -sV
            // found) or for the first time. (The latest copy: the last of its key.)
            let upto = mine.partition_point(|q| (q.proto, q.row.port) <= key);
            let written = upto
                .checked_sub(1)
                .and_then(|k| mine.get(k))
                .filter(|q| (q.proto, q.row.port) == key)
                .map(|q| &q.row);
            let again = match written {
                Some(w) if w.is(p) => continue,
                Some(_) => {
                    plain = false;
                    true
                }
                None => !open_only,
            };
            ports.push((p, end, again));
        }
        let from_ports = shown.map_or((false, None, None), |(_, _, reason, rtt)| {
            (true, Some(reason), rtt.map(|d| d.as_micros() as u64))
        });
        if !(plain && from_ports == (h.up, h.up_reason, h.srtt_us)) {
            hosts.push(h);
        }
    }
    (ports, hosts)
}

/// Hosts in a report from which `finish` compares it with what streamed on two threads.
const PARALLEL_COMPARE: usize = 8192;

/// A port's key in a scan.
type PortKey = (IpAddr, Protocol, u16);

/// A streamed port's row, and where it is in the order a host's stored ports are read back
/// in (address, protocol name, port, as `Store::scan` reads them; copies of one port in the
/// order they came): [`Place::key`]. The row is beside its key, not in a list in the order
/// the ports came: the walk of `finish` reads both in step, where an index into that list cost
/// a cache miss a port (the scan's order is random).
#[derive(Debug)]
struct Place {
    /// The protocol's place in the order of their names ([`by_name`]).
    proto: u8,
    /// The how-manieth port streamed: the latest copy of a port streamed twice sorts last.
    seq: usize,
    row: PortRow,
}

impl Place {
    fn key(&self) -> (IpAddr, u8, u16, usize) {
        (self.row.addr, self.proto, self.row.port, self.seq)
    }

    fn same_port(&self, o: &Place) -> bool {
        (self.row.addr, self.proto, self.row.port) == (o.row.addr, o.proto, o.row.port)
    }
}

/// A protocol's place in the order of the protocols' names (`dccp`, `sctp`, `tcp`, `udp`): a
/// byte to compare, where the names were a `memcmp` call for each comparison of the walk.
fn by_name(p: Protocol) -> u8 {
    match p {
        Protocol::Dccp => 0,
        Protocol::Sctp => 1,
        Protocol::Tcp => 2,
        Protocol::Udp => 3,
    }
}

impl PortRow {
    /// Whether `p` (a port of the same key) is what this row wrote.
    fn is(&self, p: &PortEvent) -> bool {
        (self.state, self.reason, self.rtt, self.ttl) == (p.state, p.reason, p.rtt, p.ttl)
            && self.service.as_deref() == p.service.as_ref()
    }
}

/// The ports a scan streamed, once written: which ports were (a fast hash: the keys are the
/// scan's own targets and ports, not chosen by whoever answers), and their rows in read order
/// ([`Place`]), each batch sorted as it comes in on the writer's thread, so that `finish`
/// merges sorted runs and walks them beside the report. The batches themselves go back to the
/// scan, emptied, as the buffers of its next batches (their memory touched already: a new 1.3 MB buffer for every 4,096 ports
/// cost the scan's thread a page fault every dozen ports).
#[derive(Default)]
struct Streamed {
    written: HashSet<PortKey, foldhash::fast::RandomState>,
    sorted: Vec<Place>,
}

impl Streamed {
    fn contains(&self, k: &PortKey) -> bool {
        self.written.contains(k)
    }

    /// Keep what `finish` needs of a written batch, emptying it.
    fn add(&mut self, batch: &mut Vec<PortRow>) {
        self.written.reserve(batch.len());
        let from = self.sorted.len();
        self.sorted.reserve(batch.len());
        for e in batch.drain(..) {
            self.written.insert((e.addr, e.proto, e.port));
            self.sorted.push(Place {
                proto: by_name(e.proto),
                seq: self.sorted.len(),
                row: e,
            });
        }
        if let Some(run) = self.sorted.get_mut(from..) {
            run.sort_unstable_by_key(Place::key);
        }
    }

    /// Put every copy in read order (the sorted runs merged: a stable sort finds them).
    fn sort(&mut self) {
        self.sorted.sort_by_key(Place::key);
    }
}

/// What writes a scan's batches (the writer thread, or the sink itself): the store, and the
/// open ports written while the scan ran. Those are moved in once written — the scan copies a
/// port once, to hand it over, and spends nothing more on it — so that [`EventSink::finish`]
/// writes again only the ones its report has otherwise (a service found by -sV), and a port
/// written again has its exposures replaced.
struct Writing {
    store: Store,
    /// `Some` when only open ports stream ([`StoreSink::open_ports_while_running`]).
    streamed: Option<Streamed>,
}

/// A batch: ports and host records.
type Batch = (Vec<PortRow>, Vec<HostReport>);

/// What the writer thread is asked.
enum Job {
    Write(i64, Batch),
    /// Answer once everything before is committed.
    Sync(mpsc::Sender<()>),
    /// The scan's last ports are in hand: copy the WAL into the database if it is long.
    Checkpoint,
}

/// What the scan and the writer thread share.
#[derive(Default)]
struct Shared {
    committed: AtomicU64,
    /// The first error of the writer; it writes nothing after it.
    error: Mutex<Option<String>>,
    /// The writer's scheduling, lowered while the scan runs, restored before the scan waits
    /// for it.
    lowered: crate::sched::Lowered,
}

impl Shared {
    fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// The writer thread of a sink [`StoreSink::in_background`].
struct Writer {
    tx: Option<mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<Writing>>,
    shared: Arc<Shared>,
    /// Buffers of batches written, emptied, for the next batches.
    spare: mpsc::Receiver<Vec<PortRow>>,
}

impl Writer {
    /// Ports in the channel at most (about 21 MB), in batches of the sink's size: the scan
    /// waits when the writer is this far behind (memory stays bounded: an import reads
    /// faster than it writes). A writer that far behind is seconds behind, and it runs at
    /// normal priority already (see `commit`). Between 4 and 64 batches: PostgreSQL's batches
    /// are small ([`StoreSink::PG_BATCH_ROWS`]), and a scan that finds ports faster than the
    /// server stores them hands its last batches over without waiting.
    const QUEUE_ROWS: usize = 4 * StoreSink::BATCH_ROWS;
    /// A WAL this long or longer is copied into the database after a scan's last ports
    /// ([`EventSink::ports_done`]). Each open of the store reads the whole WAL first (about
    /// 0.3 ms a MB); a checkpoint costs its copy and a sync of the database file, beside the
    /// scan's report. A /17 scan where every address answers leaves 3.3 MB: every other such
    /// scan checkpoints, and an open reads 7 MB at most.
    const CHECKPOINT_WAL: u64 = 4 << 20;
    /// Ports in one transaction at most when batches queued up.
    const GROUP_ROWS: usize = StoreSink::BATCH_ROWS;

    fn spawn(mut writing: Writing, shared: Arc<Shared>, batch: usize) -> Result<Writer, String> {
        writing
            .store
            .conn_mut()
            .skip_checkpoint_on_close()
            .map_err(|e| format!("cannot set up the store's connection: {}", e.0))?;
        let queue = (Self::QUEUE_ROWS / batch.max(1)).clamp(4, 64);
        let (tx, rx) = mpsc::sync_channel::<Job>(queue);
        // The batches' buffers, emptied, back to the scan (a few: the others are freed).
        let (back, spare) = mpsc::sync_channel::<Vec<PortRow>>(4);
        let mine = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("portolan-store-writer".into())
            .spawn(move || {
                let shared = mine;
                // Background work: the scan's own threads (sending, receiving, the report)
                // come first when the cores are busy, and the writer takes the time they leave
                // (`sched`). The scan puts it back to normal scheduling before it waits for it
                // (QUEUE_ROWS behind, a flush, the end), so nothing is lost, memory stays
                // bounded, and a busy machine does not starve it.
                shared.lowered.lower_current();
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
                        // What this scan and earlier ones left in the WAL (the connection
                        // closes without copying it: `skip_checkpoint_on_close`), copied once
                        // it is long enough to slow the next open of the store, which reads it
                        // whole. After the scan's last ports, while it writes its report (not
                        // as the writer starts: even a background checkpoint slowed the
                        // scan's engine). Best effort: one that cannot run now runs later.
                        Job::Checkpoint => {
                            let _ = writing
                                .store
                                .conn_mut()
                                .checkpoint_if_wal_over(Self::CHECKPOINT_WAL);
                            continue;
                        }
                        Job::Write(id, (p, h)) => (id, p, h),
                    };
                    while ports.len() < Self::GROUP_ROWS {
                        match rx.try_recv() {
                            Ok(Job::Write(i, (mut p, h))) if i == id => {
                                ports.append(&mut p);
                                hosts.extend(h);
                                let _ = back.try_send(p);
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
                    match write_batch(&mut writing, id, ports, &hosts) {
                        Ok(emptied) => {
                            shared.committed.fetch_add(n, Ordering::SeqCst);
                            let _ = back.try_send(emptied);
                        }
                        Err(e) => {
                            if let Ok(mut slot) = shared.error.lock() {
                                slot.get_or_insert(e.0);
                            }
                        }
                    }
                }
                writing
            })
            .map_err(|e| format!("cannot start the store's writer thread: {e}"))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            shared,
            spare,
        })
    }

    /// Hand a batch over (waits while the queue is full, the writer back at normal
    /// scheduling). `false`: the writer is gone.
    fn send(&self, job: Job) -> bool {
        let Some(tx) = self.tx.as_ref() else {
            return false;
        };
        match tx.try_send(job) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Full(job)) => {
                self.shared.lowered.restore();
                tx.send(job).is_ok()
            }
            Err(mpsc::TrySendError::Disconnected(_)) => false,
        }
    }

    /// Wait until everything handed over is committed (or failed).
    fn sync(&self) -> bool {
        self.shared.lowered.restore();
        let (ack, done) = mpsc::channel();
        self.send(Job::Sync(ack)) && done.recv().is_ok()
    }

    /// Close the channel, let the writer finish what it has, and take the store back.
    fn join(mut self) -> Option<Writing> {
        self.stop()
    }

    /// Close the channel and wait for the writer to commit what it has (at normal
    /// scheduling); its store, unless the thread died. A second call returns `None`.
    fn stop(&mut self) -> Option<Writing> {
        self.shared.lowered.restore();
        drop(self.tx.take());
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A sink dropped without finish (another sink failed, the scan was stopped): what was
        // handed over is still committed before the thread ends.
        let _ = self.stop();
    }
}

/// Writes a scan into a [`Store`] while it runs. See the crate documentation.
pub struct StoreSink {
    /// `None` while the writer thread has it.
    writing: Option<Writing>,
    location: String,
    writer: Option<Writer>,
    background: bool,
    shared: Arc<Shared>,
    targets: Targets,
    scan_id: Option<i64>,
    pending: Vec<PortRow>,
    /// A written batch's buffer, emptied, for the next batch (without a writer thread).
    spare: Option<Vec<PortRow>>,
    /// Ports handed to the writer thread so far, and of each batch not known to be committed,
    /// the count up to its end and when it was handed over.
    handed: u64,
    in_flight: std::collections::VecDeque<(u64, Instant)>,
    /// The service last handed over for each (protocol, port), shared by the ports that have
    /// the same one instead of copied for each.
    services: HashMap<(Protocol, u16), Arc<Service>, foldhash::fast::RandomState>,
    /// Host records to write with the next batch ([`StoreSink::host`]).
    pending_hosts: Vec<HostReport>,
    last_commit: Instant,
    batch_rows: usize,
    batch_interval: Duration,
    /// Stream only open ports while the scan runs ([`StoreSink::open_ports_while_running`]).
    open_only: bool,
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

/// The last of the items with the same key (what one upsert after another would leave; one
/// multi-row `INSERT … ON CONFLICT DO UPDATE` must not name a row twice), in the order of the
/// key, which is the order the rows are written in. The sort is stable, so the copies of a
/// key stay in the order they came and the last of each run is kept: no set of keys to hash.
fn last_of_each<'a, T, K: Ord>(
    items: impl Iterator<Item = &'a T>,
    key: impl Fn(&T) -> K,
) -> Vec<&'a T>
where
    T: 'a,
{
    let mut sorted: Vec<&T> = items.collect();
    sorted.sort_by_key(|t| key(t));
    sorted
        .chunk_by(|a, b| key(a) == key(b))
        .filter_map(|run| run.last().copied())
        .collect()
}

const PORT_NAMES: [&str; 15] = [
    "scan_id",
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
/// The conflict target is the unique index `ports_key` (schema 6), columns in its order.
const PORT_UPSERT: &str = "ON CONFLICT (scan_id, addr_key, proto, port) DO UPDATE SET \
    state = excluded.state, reason = excluded.reason, rtt_us = excluded.rtt_us, \
    ttl = excluded.ttl, service = excluded.service, product = excluded.product, \
    version = excluded.version, extrainfo = excluded.extrainfo, cpe = excluded.cpe, \
    service_json = excluded.service_json, seen = excluded.seen";

const HOST_NAMES: [&str; 7] = [
    "scan_id",
    "addr_key",
    "hostname",
    "up",
    "up_reason",
    "srtt_us",
    "extra",
];
/// The conflict target is the unique index `hosts_key` (schema 6).
const HOST_UPSERT: &str = "ON CONFLICT (scan_id, addr_key) DO UPDATE SET \
    hostname = excluded.hostname, up = excluded.up, up_reason = excluded.up_reason, \
    srtt_us = excluded.srtt_us, extra = excluded.extra";

const EXPOSURE_NAMES: [&str; 8] = [
    "scan_id", "addr_key", "proto", "port", "id", "severity", "title", "evidence",
];
const EXPOSURE_UPSERT: &str = "ON CONFLICT (scan_id, addr_key, proto, port, id) DO UPDATE SET \
    severity = excluded.severity, title = excluded.title, evidence = excluded.evidence";

const PORT_KINDS: [Kind; 15] = [
    Kind::Int,
    Kind::Blob,
    Kind::Text,
    Kind::Int,
    Kind::Text,
    Kind::Text,
    Kind::Int,
    Kind::Int,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Real,
];
const HOST_KINDS: [Kind; 7] = [
    Kind::Int,
    Kind::Blob,
    Kind::Text,
    Kind::Int,
    Kind::Text,
    Kind::Int,
    Kind::Text,
];
const EXPOSURE_KINDS: [Kind; 8] = [
    Kind::Int,
    Kind::Blob,
    Kind::Text,
    Kind::Int,
    Kind::Text,
    Kind::Text,
    Kind::Text,
    Kind::Text,
];

/// Insert or replace ports (and their exposures) of scan `id`: one statement for them all
/// ([`Conn::insert_rows`]), bound from the events themselves; the text a port has no string
/// of (its CPEs, the service as JSON) is written into one buffer for the batch, not
/// one allocation per port. The exposures of a port marked as possibly written before are
/// replaced; a port written for the first time has none to replace (no statement on the hot
/// path of a scan).
fn put_ports(
    c: &mut Conn,
    id: i64,
    ports: &[(Fields<'_>, SystemTime, bool)],
) -> Result<(), DbError> {
    // In the order of the unique key after the scan (address, protocol, port), which a scan
    // fills in random order: neighbours land on the same pages one after the other.
    let ports = last_of_each(ports.iter(), |(ev, _, _)| {
        (ev.addr, ev.proto.as_str(), ev.port)
    });
    let n = ports.len();
    // Row i's text: its CPEs from ends[i].0[0] to [1], its service's JSON from [1] to [2];
    // ends[i].1: the service is only the port table's guess (`crate::only_table_guess`),
    // written as `TABLE_GUESS` instead of JSON.
    let mut buf: Vec<u8> = Vec::with_capacity(n * 64);
    let mut ends: Vec<([usize; 3], bool)> = Vec::with_capacity(n);
    // The last service written as JSON, and where: a scan's ports mostly have the same one
    // (the registry's name for the port), copied instead of serialised again.
    let mut last: Option<(&Service, std::ops::Range<usize>)> = None;
    for (ev, _, _) in &ports {
        let a = buf.len();
        if let Some(s) = ev.service {
            for (i, cpe) in s.cpe.iter().enumerate() {
                if i > 0 {
                    buf.push(b' ');
                }
                buf.extend_from_slice(cpe.as_str().as_bytes());
            }
            let b = buf.len();
            let guess = crate::only_table_guess(s);
            match &last {
                _ if guess => {}
                Some((l, r)) if *l == s => buf.extend_from_within(r.clone()),
                _ => {
                    if serde_json::to_writer(&mut buf, s).is_err() {
                        buf.truncate(b);
                    }
                    last = Some((s, b..buf.len()));
                }
            }
            ends.push(([a, b, buf.len()], guess));
        } else {
            ends.push(([a, a, a], false));
        }
    }
    let text = String::from_utf8(buf)
        .map_err(|e| DbError(format!("internal error: a port's text is not UTF-8: {e}")))?;
    let piece = |from: usize, to: usize| {
        if to > from {
            Cell::Text(text.get(from..to).unwrap_or_default())
        } else {
            Cell::Null
        }
    };
    let keys: Vec<AddrKey> = ports
        .iter()
        .map(|(ev, _, _)| AddrKey::new(ev.addr))
        .collect();
    // None written before (a scan's streamed ports): plain inserts (PostgreSQL: a COPY).
    let fresh = ports.iter().all(|(_, _, again)| !again);
    c.insert_rows(
        "ports",
        &PORT_NAMES,
        &PORT_KINDS,
        PORT_UPSERT,
        fresh,
        n,
        |i| {
            let (ev, when, _) = *ports[i];
            let ([a, b, j], guess) = ends[i];
            let svc = ev.service;
            [
                id.into(),
                Cell::Blob(keys[i].as_slice()),
                Cell::Text(ev.proto.as_str()),
                i64::from(ev.port).into(),
                Cell::Text(ev.state.as_str()),
                Cell::Text(ev.reason.as_str()),
                ev.rtt.map(|d| d.as_micros() as i64).into(),
                ev.ttl.map(i64::from).into(),
                svc.map(|s| s.name.as_str()).into(),
                svc.and_then(|s| s.product.as_deref()).into(),
                svc.and_then(|s| s.version.as_deref()).into(),
                svc.and_then(|s| s.extrainfo.as_deref()).into(),
                piece(a, b),
                match guess {
                    true => Cell::Text(crate::TABLE_GUESS),
                    false => piece(b, j),
                },
                time_to_secs(when).into(),
            ]
        },
    )?;
    // A port written again replaces the exposures it had: one statement per chunk.
    let again: Vec<Fields> = ports
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
    let xs: Vec<(Fields, &Exposure, AddrKey)> = ports
        .iter()
        .flat_map(|(ev, _, _)| {
            ev.service
                .map_or(&[][..], |s| s.exposures.as_slice())
                .iter()
                .map(|e| (*ev, e, AddrKey::new(ev.addr)))
        })
        .collect();
    c.insert_rows(
        "exposures",
        &EXPOSURE_NAMES,
        &EXPOSURE_KINDS,
        EXPOSURE_UPSERT,
        fresh,
        xs.len(),
        |i| {
            let (ev, e, key) = &xs[i];
            [
                id.into(),
                Cell::Blob(key.as_slice()),
                Cell::Text(ev.proto.as_str()),
                i64::from(ev.port).into(),
                Cell::Text(&e.id),
                Cell::Text(e.severity.as_str()),
                Cell::Text(&e.title),
                Cell::Text(&e.evidence),
            ]
        },
    )
}

/// Insert or replace host records (not their ports) of scan `id`: one statement for them all.
fn put_hosts(c: &mut Conn, id: i64, hosts: &[&HostReport]) -> Result<(), DbError> {
    let hosts = last_of_each(hosts.iter().copied(), |h| h.addr);
    let text: Vec<(AddrKey, String)> = hosts
        .iter()
        .map(|h| {
            let extra = if h.extra.is_empty() {
                "[]".to_string()
            } else {
                serde_json::to_string(&h.extra).unwrap_or_else(|_| "[]".into())
            };
            (AddrKey::new(h.addr), extra)
        })
        .collect();
    c.insert_rows(
        "hosts",
        &HOST_NAMES,
        &HOST_KINDS,
        HOST_UPSERT,
        false,
        hosts.len(),
        |i| {
            let h = hosts[i];
            let (key, extra) = &text[i];
            [
                id.into(),
                Cell::Blob(key.as_slice()),
                h.hostname.as_deref().into(),
                i64::from(h.up).into(),
                h.up_reason.map(|r| r.as_str()).into(),
                h.srtt_us.map(|v| v as i64).into(),
                Cell::Text(extra),
            ]
        },
    )
}

/// Lock scan `id`'s row for the rest of the transaction, which writes its rows in the other
/// tables, or fail when it is gone (deleted while the scan ran): what a foreign key's check
/// does for each row, once (PostgreSQL: `FOR KEY SHARE`, so a delete of the scan waits for
/// the batch; SQLite's write lock already holds the whole store).
fn hold_scan(c: &mut Conn, id: i64) -> Result<(), DbError> {
    let lock = if c.is_pg() { " FOR KEY SHARE" } else { "" };
    let found = c.query(
        &format!("SELECT id FROM scans WHERE id = $1{lock}"),
        &[id.into()],
    )?;
    if found.is_empty() {
        return Err(DbError(format!(
            "scan {id} is no longer in the store (deleted while it was being written): \
             nothing more of it is written"
        )));
    }
    Ok(())
}

/// One batch in one transaction. A port may have been written before (and its exposures are
/// replaced) unless the writer keeps what it wrote and has not written it. What `finish` needs
/// of the open ports written is kept afterwards when the writer keeps them ([`Streamed`]).
/// Gives the batch's buffer back, emptied, for another batch.
fn write_batch(
    w: &mut Writing,
    id: i64,
    mut ports: Vec<PortRow>,
    hosts: &[HostReport],
) -> Result<Vec<PortRow>, DbError> {
    let Writing { store, streamed } = w;
    let rows: Vec<(Fields, SystemTime, bool)> = ports
        .iter()
        .map(|r| {
            let again = streamed
                .as_ref()
                .is_none_or(|s| s.contains(&(r.addr, r.proto, r.port)));
            (Fields::from(r), r.seen, again)
        })
        .collect();
    store.conn_mut().tx(|c| {
        hold_scan(c, id)?;
        put_ports(c, id, &rows)?;
        put_hosts(c, id, &hosts.iter().collect::<Vec<_>>())
    })?;
    drop(rows);
    match streamed {
        Some(s) => s.add(&mut ports),
        None => ports.clear(),
    }
    Ok(ports)
}

impl StoreSink {
    /// A batch is the ports of one batch interval (below), or this many if they come faster
    /// (about 5 MB of rows; on PostgreSQL [`Self::PG_BATCH_ROWS`]): memory stays bounded,
    /// and a crash loses at most the last second's ports. Fewer, larger batches are less
    /// work: each commit rewrites the pages of
    /// the scan's part of the unique key that its ports landed on, in random order (at 512
    /// ports a batch, a /17 scan wrote about 30 times its rows' size; at 4,096, twice). And
    /// the writer works least while the scan's engine runs: even at `SCHED_IDLE` it slowed the
    /// engine (the /17 SYN scan of `bench/store-scan.sh`: +12 ms, through the caches and the
    /// page cache it shares, not the cores: a `SCHED_IDLE` loop that only spins costs the scan
    /// nothing, one that writes files +45 ms). A scan shorter than the interval hands its
    /// ports over when the last one is delivered ([`EventSink::ports_done`]), and the writer
    /// writes them beside the report.
    pub const BATCH_ROWS: usize = 65_536;
    /// The batch size on PostgreSQL instead: there the work is the server's, done while the
    /// scan runs (a server on the same cores as the scan: a /17 SYN scan's ports in one batch
    /// at the end cost it 39% instead of 21% while the store's end ran after the outputs, the
    /// same since it runs beside them, `bench/store-scan.sh`); a server elsewhere takes
    /// nothing from the scan either way.
    pub const PG_BATCH_ROWS: usize = 4096;
    /// At least this often while ports come in.
    pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

    pub fn new(store: Store, targets: Targets) -> StoreSink {
        let is_pg = store.is_postgres();
        StoreSink {
            location: store.location().to_string(),
            writing: Some(Writing {
                store,
                streamed: None,
            }),
            writer: None,
            background: false,
            shared: Arc::default(),
            targets,
            scan_id: None,
            pending: Vec::new(),
            spare: None,
            handed: 0,
            in_flight: Default::default(),
            services: HashMap::default(),
            pending_hosts: Vec::new(),
            open_only: false,
            last_commit: Instant::now(),
            batch_rows: match is_pg {
                true => Self::PG_BATCH_ROWS,
                false => Self::BATCH_ROWS,
            },
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
        if let Some(w) = &mut self.writing {
            w.streamed.get_or_insert_with(Streamed::default);
        }
        self
    }

    /// Write the batches on a thread of their own (started with the scan), so that the scan
    /// never waits on the database except to make its results durable
    /// ([`EventSink::flush`]) or when the writer is [`Writer::QUEUE_ROWS`] ports behind. Without
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
            self.writing = w.join();
        }
        self.writing.take().map(|w| w.store)
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
        // The next batch goes into a written batch's buffer, else a new one with room for as
        // many ports as this one (no growing, copying Vec).
        let room = self.pending.len();
        let next = self
            .spare
            .take()
            .or_else(|| self.writer.as_ref().and_then(|w| w.spare.try_recv().ok()))
            .unwrap_or_else(|| Vec::with_capacity(room));
        let batch = (
            std::mem::replace(&mut self.pending, next),
            std::mem::take(&mut self.pending_hosts),
        );
        if let Some(w) = &self.writer {
            let n = batch.0.len() as u64;
            if !w.send(Job::Write(id, batch)) {
                return Err(self.writer_gone());
            }
            // A writer more than a batch interval behind (other programs keep the cores
            // busy, or the scan does) goes back to normal scheduling: what a crash can lose
            // stays about the last second's ports, not the whole queue's.
            self.handed += n;
            let now = Instant::now();
            self.in_flight.push_back((self.handed, now));
            let done = self.shared.committed.load(Ordering::SeqCst);
            while self
                .in_flight
                .front()
                .is_some_and(|&(upto, _)| upto <= done)
            {
                self.in_flight.pop_front();
            }
            if let Some(&(_, at)) = self.in_flight.front() {
                if now.duration_since(at) >= self.batch_interval {
                    self.shared.lowered.restore();
                }
            }
            return Ok(());
        }
        let Some(writing) = self.writing.as_mut() else {
            return Err(self.writer_gone());
        };
        let n = batch.0.len() as u64;
        let emptied = write_batch(writing, id, batch.0, &batch.1)
            .map_err(|e| sink_err(&self.location, e.0))?;
        self.spare = Some(emptied);
        self.shared.committed.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }

    /// `s` (the service of `ev`), shared with the ports of the same number that had it.
    fn share(&mut self, ev: &PortEvent, s: &Service) -> Arc<Service> {
        match self.services.entry((ev.proto, ev.port)) {
            Entry::Occupied(o) if **o.get() == *s => Arc::clone(o.get()),
            Entry::Occupied(mut o) => {
                let a = Arc::new(s.clone());
                o.insert(Arc::clone(&a));
                a
            }
            Entry::Vacant(v) => Arc::clone(v.insert(Arc::new(s.clone()))),
        }
    }

    fn writer_gone(&self) -> SinkError {
        match self.shared.error() {
            Some(e) => sink_err(&self.location, e),
            None => sink_err(&self.location, "the store's writer thread ended"),
        }
    }

    /// Stop the writer thread (after it committed everything) and take the store back.
    fn stop_writer(&mut self) -> Result<&mut Writing, SinkError> {
        if let Some(w) = self.writer.take() {
            self.writing = w.join();
        }
        self.writer_error()?;
        let location = self.location.clone();
        self.writing
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
        let writing = self.stop_writer()?;
        let rows = writing.store.conn_mut().query(
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
        // The first batch's buffer at its full size: no growing and moving it while the engine
        // delivers ports (its pages are faulted in as it fills, on the engine's thread either
        // way). 32,768 ports handed over in a new process: 3.9-5.1 ms growing, 3.9-4.1 ms.
        if self.pending.capacity() < self.batch_rows {
            self.pending = Vec::with_capacity(self.batch_rows);
        }
        if self.background {
            if let Some(writing) = self.writing.take() {
                let w = Writer::spawn(writing, Arc::clone(&self.shared), self.batch_rows);
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
            // One copy, handed to the writer (which keeps what it wrote: `Writing`). A
            // streamed port's host gets no record of its own: read back, a host without one
            // is what its stored ports show (`Store::scan`), and `finish` writes the record
            // of each host its report shows otherwise.
            let service = ev.service.as_ref().map(|s| self.share(ev, s));
            self.pending.push(PortRow::new(ev, service, time));
        }
        if self.pending.len() >= self.batch_rows
            || (!self.pending.is_empty() && self.last_commit.elapsed() >= self.batch_interval)
        {
            self.commit()?;
        }
        Ok(Flow::Continue)
    }

    fn ports_done(&mut self) -> Result<(), SinkError> {
        // The last ports go to the writer now, not at `finish`: it writes them while the scan
        // builds its report and writes its other outputs, on the core the engine's threads
        // left, at normal priority from here on (nothing of the scan's is left to yield to).
        self.commit()?;
        if let Some(w) = &self.writer {
            self.shared.lowered.restore();
            if !w.send(Job::Checkpoint) {
                return Err(self.writer_gone());
            }
        }
        self.writer_error()
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
        let open_only = self.open_only;
        let location = self.location.clone();
        let writing = self.stop_writer()?;
        let mut streamed = writing.streamed.take().unwrap_or_default();
        let r = writing.store.conn_mut().tx(|c| {
            hold_scan(c, id)?;
            let end = report.end;
            // What each host of the report still needs written: ports the scan did not stream
            // as they are, and a host record where its stored ports would not show it as the
            // report does. The streamed copies (none unless `open_ports_while_running`) in
            // read order, walked beside the report's hosts in address order (as the scan's
            // report lists them); after the last packet, on the two halves of a large report
            // at once (the writer is done: the cores are free).
            let mut all: Vec<&HostReport> = report.hosts.iter().collect();
            if !all.is_sorted_by_key(|h| h.addr) {
                all.sort_by_key(|h| h.addr);
            }
            streamed.sort();
            let sorted = &streamed.sorted[..];
            let (ports, hosts) = if all.len() >= PARALLEL_COMPARE {
                let (a, b) = all.split_at(all.len() / 2);
                // The copies of the second half's addresses.
                let split = b.first().map_or(sorted.len(), |h| {
                    sorted.partition_point(|p| p.row.addr < h.addr)
                });
                let (sa, sb) = sorted.split_at(split);
                std::thread::scope(|sc| {
                    let second = sc.spawn(|| compare_hosts(b, sb, open_only, end));
                    let mut left = compare_hosts(a, sa, open_only, end);
                    match second.join() {
                        Ok((p, h)) => {
                            left.0.extend(p);
                            left.1.extend(h);
                            left
                        }
                        // (A panic in the other half: compare it here instead.)
                        Err(_) => {
                            let (p, h) = compare_hosts(b, sb, open_only, end);
                            left.0.extend(p);
                            left.1.extend(h);
                            left
                        }
                    }
                })
            } else {
                compare_hosts(&all, sorted, open_only, end)
            };
            let ports: Vec<(Fields, SystemTime, bool)> = ports
                .into_iter()
                .map(|(p, t, again)| (Fields::from(p), t, again))
                .collect();
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

    /// The store compares the report with what it wrote, and commits, beside the outputs
    /// that write the report (a /17's table: 50 ms), on the core the engine left.
    fn finish_beside(&mut self) -> Option<&mut (dyn EventSink + Send)> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn port_key(ev: &PortEvent) -> PortKey {
        (ev.addr, ev.proto, ev.port)
    }

    /// The row the sink hands over for `e`.
    fn row(e: &PortEvent) -> PortRow {
        PortRow::new(e, e.service.clone().map(Arc::new), SystemTime::UNIX_EPOCH)
    }

    fn port(host: u8, proto: Protocol, port: u16, open: bool) -> PortEvent {
        PortEvent {
            addr: IpAddr::from([10, 0, 0, host]),
            port,
            proto,
            state: if open {
                PortState::Open
            } else {
                PortState::Filtered
            },
            reason: if open {
                Reason::SynAck
            } else {
                Reason::NoResponse
            },
            // (Another round-trip time for each port: the one a host is read back with is
            // its first port's.)
            rtt: Some(std::time::Duration::from_micros(u64::from(port) * 10)),
            ttl: None,
            // (The registry's name on some ports, as a scan reports them.)
            service: (port % 2 == 0).then(|| Service {
                name: format!("svc{port}"),
                conf: 3,
                ..Default::default()
            }),
        }
    }

    /// How `finish` compared a report with what streamed before the walk in step: a map of the
    /// latest copy of each port, and of each address its first (in read order) that proves
    /// it up. The oracle of the walk.
    fn compare_by_maps(
        part: &[&HostReport],
        streamed: &[PortEvent],
        open_only: bool,
    ) -> (Vec<(PortKey, bool)>, Vec<IpAddr>) {
        let latest: HashMap<PortKey, &PortEvent> =
            streamed.iter().map(|e| (port_key(e), e)).collect();
        let mut first: HashMap<IpAddr, &PortEvent> = HashMap::new();
        for ev in latest.values().filter(|e| e.state.proves_host_up()) {
            let f = first.entry(ev.addr).or_insert(ev);
            if crate::read_before(ev, f) {
                *f = ev;
            }
        }
        let (mut ports, mut hosts) = (Vec::new(), Vec::new());
        for &h in part {
            let mut plain = open_only && h.hostname.is_none() && h.extra.is_empty();
            let mut shown = first.get(&h.addr).copied();
            for p in h.ports.iter().filter(|p| p.state != PortState::Closed) {
                if p.state.proves_host_up() && shown.is_none_or(|f| crate::read_before(p, f)) {
                    shown = Some(p);
                }
                let again = match latest.get(&port_key(p)) {
                    Some(w) if *w == p => continue,
                    Some(_) => {
                        plain = false;
                        true
                    }
                    None => !open_only,
                };
                ports.push((port_key(p), again));
            }
            if !(plain && crate::host_from_ports(shown) == (h.up, h.up_reason, h.srtt_us)) {
                hosts.push(h.addr);
            }
        }
        (ports, hosts)
    }

    proptest! {
        /// The walk of the streamed copies beside the report (both in address order) finds
        /// what lookups in maps of every port find: in any order and batching of the
        /// streamed ports, a port streamed twice, ports the report changed (its RTT) or that
        /// never streamed, hosts with and without a name, split in two halves at any host.
        #[test]
        fn walking_in_step_finds_what_maps_find(
            rows in proptest::collection::vec(
                (0u8..6, any::<bool>(), 1u16..6, proptest::bool::weighted(0.6)), 0..60),
            cuts in proptest::collection::vec(1usize..12, 1..10),
            changed in proptest::collection::vec(any::<bool>(), 80),
            extra in proptest::collection::vec((0u8..7, 1u16..8), 0..10),
            named in 0u8..7,
            half in 0usize..8,
        ) {
            let mut s = Streamed::default();
            let events: Vec<PortEvent> = rows.iter().map(|&(h, udp, p, open)| {
                port(h, if udp { Protocol::Udp } else { Protocol::Tcp }, p, open)
            }).collect();
            let mut it = events.iter().map(row);
            let mut c = cuts.iter().cycle();
            loop {
                let n = c.next().copied().unwrap_or(1);
                let mut batch: Vec<PortRow> = it.by_ref().take(n).collect();
                if batch.is_empty() {
                    break;
                }
                s.add(&mut batch);
                prop_assert!(batch.is_empty());
            }
            // The report: the latest copy of each streamed port (some with another RTT, as
            // if the report had settled on another answer), ports that never streamed, hosts
            // sorted by address and their ports by (protocol, port), as a scan's report is.
            let mut by_host: std::collections::BTreeMap<IpAddr, Vec<PortEvent>> =
                Default::default();
            let mut latest: HashMap<PortKey, PortEvent> = HashMap::new();
            for e in &events {
                latest.insert(port_key(e), e.clone());
            }
            for (k, (_, mut e)) in latest.into_iter().enumerate() {
                if changed[k % changed.len()] {
                    if k % 2 == 0 {
                        e.rtt = Some(std::time::Duration::from_micros(7));
                    } else {
                        // (As -sV would: another service on the port.)
                        e.service = Some(Service {
                            name: "http".into(),
                            product: Some("nginx".into()),
                            ..Default::default()
                        });
                    }
                }
                by_host.entry(e.addr).or_default().push(e);
            }
            // (Some before the streamed ports in read order: UDP ports of other numbers.)
            for &(h, p) in &extra {
                let e = port(h, if p % 2 == 0 { Protocol::Udp } else { Protocol::Tcp }, p + 10, true);
                by_host.entry(e.addr).or_default().push(e);
            }
            let report: Vec<HostReport> = by_host.into_iter().map(|(addr, mut ports)| {
                ports.sort_by_key(|p| (p.proto, p.port));
                let first = crate::host_from_ports(ports.iter().min_by_key(|p| (p.proto.as_str(), p.port)).filter(|p| p.state.proves_host_up()));
                HostReport {
                    addr,
                    hostname: (addr == IpAddr::from([10, 0, 0, named])).then(|| "h".into()),
                    up: first.0,
                    up_reason: first.1,
                    up_ttl: None,
                    ports,
                    extra: Vec::new(),
                    srtt_us: first.2,
                }
            }).collect();
            let all: Vec<&HostReport> = report.iter().collect();
            s.sort();
            let want = compare_by_maps(&all, &events, true);
            let simplify = |(p, h): (Vec<(&PortEvent, SystemTime, bool)>, Vec<&HostReport>)| {
                (
                    p.into_iter().map(|(e, _, a)| (port_key(e), a)).collect::<Vec<_>>(),
                    h.into_iter().map(|h| h.addr).collect::<Vec<_>>(),
                )
            };
            let end = SystemTime::UNIX_EPOCH;
            prop_assert_eq!(&simplify(compare_hosts(&all, &s.sorted, true, end)), &want);
            // In two halves, as `finish` splits a large report.
            let (a, b) = all.split_at(half.min(all.len()));
            let split = b.first().map_or(s.sorted.len(), |h| s.sorted.partition_point(|p| p.row.addr < h.addr));
            let (sa, sb) = s.sorted.split_at(split);
            let (mut p, mut h) = simplify(compare_hosts(a, sa, true, end));
            let (p2, h2) = simplify(compare_hosts(b, sb, true, end));
            p.extend(p2);
            h.extend(h2);
            prop_assert_eq!(&(p, h), &want);
        }
    }

    #[test]
    fn protocols_are_ranked_in_the_order_of_their_names() {
        for a in Protocol::ALL {
            for b in Protocol::ALL {
                assert_eq!(by_name(a).cmp(&by_name(b)), a.as_str().cmp(b.as_str()));
            }
        }
    }

    #[test]
    fn ports_with_the_same_service_share_one_copy() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Store::open_path(&dir.path().join("s.db"))
            .unwrap()
            .sink(Targets("t".into()));
        let http = |product: Option<&str>| Service {
            name: "http".into(),
            product: product.map(str::to_string),
            ..Default::default()
        };
        let ev = port(1, Protocol::Tcp, 80, true);
        let a = sink.share(&ev, &http(None));
        let b = sink.share(&port(2, Protocol::Tcp, 80, true), &http(None));
        assert!(Arc::ptr_eq(&a, &b));
        // Another service on the port (-sV): its own copy, kept for the next ports.
        let c = sink.share(&ev, &http(Some("nginx")));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, http(Some("nginx")));
        assert!(Arc::ptr_eq(&c, &sink.share(&ev, &http(Some("nginx")))));
        // Another port number: its own.
        let d = sink.share(&port(1, Protocol::Tcp, 8080, true), &http(None));
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(*d, http(None));
    }

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
        // The last copy of each key, in the keys' order.
        assert_eq!(kept, vec!['c', 'e', 'd']);
    }
}
