//! Bringing existing results into the store: nmap XML (`-oX`), Portolan's own JSON Lines,
//! masscan JSON (`-oJ`) and list (`-oL`) output, and ZMap CSV.
//!
//! Every format is read by a streaming reader that turns the file into [`Record`]s — the scan's
//! header, one host (nmap XML) or one port (the other formats) at a time, then the end — and
//! hands each to a callback ([`read`]). Nothing holds the whole file: an nmap XML of 100,000
//! hosts costs the memory of one host. [`import`] writes the records through a [`StoreSink`] in
//! batched transactions as they are read, like a scan that runs; `portolan diff` reads files
//! through the same readers.
//!
//! nmap's names map onto Portolan's model: states are the same six; reasons that Portolan
//! does not know (`echo-reply`, `user-set`, ...) become the closest one for the state (open:
//! `syn-ack`, or `udp-response` for UDP; closed: `reset`; others: `no-response`); `<service>`
//! gives name, product, version, extra info, tunnel, method, confidence and its `<cpe>`s;
//! `<script>` outputs are kept in the service's `details` (`{"scripts": [{"id", "output"}]}`).
//! The stored scan's `targets` is nmap's command line (`args`), so two imports of the same
//! command are "the same targets" for `portolan diff`. masscan and ZMap files carry no command
//! line: their `targets` is `masscan`/`zmap` and the file's name.

mod jsonl;
mod masscan;
mod nmap;
pub mod same_hosts;
mod zmap;

use std::io::BufRead;
use std::net::IpAddr;
use std::time::SystemTime;

use portolan_model::{
    EventSink, HostReport, PortEvent, PortState, Protocol, ScanReport, ScanStart, ScanStats,
};

use crate::{Store, StoreError, StoreSink, Targets};

pub use jsonl::read_jsonl;
pub use masscan::{read_masscan_json, read_masscan_list};
pub use nmap::read_nmap_xml;
pub use zmap::read_zmap_csv;

/// The longest record a line- or object-oriented reader accepts (a masscan JSON object, a
/// JSON Lines line, a CSV row): a file of one endless line must not take all the memory.
pub const MAX_RECORD: usize = 1 << 20;

/// Rows an import writes per transaction.
pub const IMPORT_BATCH_ROWS: usize = 8192;

/// What an import stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    pub scan_id: i64,
    pub hosts: u64,
    /// Ports stored (not closed).
    pub ports: u64,
    pub open: u64,
}

/// The format of a results file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// `nmap -oX`.
    NmapXml,
    /// `portolan scan -o jsonl=FILE`.
    PortolanJsonl,
    /// `masscan -oJ`: a JSON list of one object per port (with masscan's stray commas).
    MasscanJson,
    /// `masscan -oL`: `open tcp 80 10.0.0.1 1700000000` lines.
    MasscanList,
    /// ZMap's CSV: a header line of field names (`-f saddr,sport,...`), or ZMap's default
    /// output, one source address a line (then the port must be given).
    ZmapCsv,
}

impl ImportFormat {
    /// Guess from the first bytes of the file (give at least its first line): `<` is nmap XML;
    /// `[` or an object whose first key is `"ip"` masscan JSON, another object Portolan JSON
    /// Lines; `#masscan` or an `open`/`closed`/`banner` line masscan's list; a `saddr` header
    /// or an IP address ZMap's CSV.
    pub fn sniff(head: &[u8]) -> Option<ImportFormat> {
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        let t = head
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|i| &head[i..])?;
        let t = t.strip_prefix(b"\xef\xbb\xbf").unwrap_or(t);
        match t.first() {
            Some(b'<') => return Some(ImportFormat::NmapXml),
            Some(b'[') => return Some(ImportFormat::MasscanJson),
            Some(b'{') => {
                let rest = &t[1..];
                let key = rest
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .map(|i| &rest[i..]);
                return Some(if key.is_some_and(|k| k.starts_with(b"\"ip\"")) {
                    ImportFormat::MasscanJson
                } else {
                    ImportFormat::PortolanJsonl
                });
            }
            _ => {}
        }
        let line = t.split(|b| *b == b'\n').next().unwrap_or(t);
        let line = std::str::from_utf8(line).ok()?.trim();
        if line.starts_with("#masscan")
            || ["open ", "closed ", "banner "]
                .iter()
                .any(|p| line.starts_with(p))
        {
            return Some(ImportFormat::MasscanList);
        }
        let first = line.split(',').next().unwrap_or("").trim();
        if first == "saddr" || first.parse::<IpAddr>().is_ok() {
            return Some(ImportFormat::ZmapCsv);
        }
        None
    }

    /// What the format is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ImportFormat::NmapXml => "nmap XML",
            ImportFormat::PortolanJsonl => "Portolan JSON Lines",
            ImportFormat::MasscanJson => "masscan JSON",
            ImportFormat::MasscanList => "masscan list",
            ImportFormat::ZmapCsv => "ZMap CSV",
        }
    }
}

/// What a reader needs besides the bytes.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// The port scanned, for a ZMap file without a `sport` field (ZMap's default output is the
    /// responding addresses only). Ignored by the other formats.
    pub port: Option<u16>,
}

/// One piece of a results file, in file order: one [`Record::Start`] before any host or port,
/// then hosts or ports, then one [`Record::End`].
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// The scan: command line, kind, ports, time.
    Start(ScanStart),
    /// A whole host (nmap XML): its status, names, folded ports, and every port listed
    /// (closed ones included), with the host's address set in each.
    Host(HostReport),
    /// One port, in formats that list ports rather than hosts.
    Port(PortEvent, SystemTime),
    /// The end: when, what was counted, how many hosts were targeted; `stats.interrupted` when
    /// the file was cut short or says that the scan did not finish.
    End {
        time: SystemTime,
        stats: ScanStats,
        targets: u64,
    },
}

/// The callback a reader hands each record to; its error stops the reading.
pub type Emit<'a> = dyn FnMut(Record) -> Result<(), StoreError> + 'a;

pub(crate) fn bad(name: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Input(format!("{name}: {what}"))
}

fn sink_err(name: &str, e: portolan_model::SinkError) -> StoreError {
    StoreError::Unavailable(format!("{name}: cannot store it: {e}"))
}

/// Read a results file of format `format` record by record. `name` names the input in
/// messages.
pub fn read(
    format: ImportFormat,
    input: impl BufRead,
    name: &str,
    opts: &ReadOptions,
    emit: &mut Emit<'_>,
) -> Result<(), StoreError> {
    match format {
        ImportFormat::NmapXml => read_nmap_xml(input, name, emit),
        ImportFormat::PortolanJsonl => read_jsonl(input, name, emit),
        ImportFormat::MasscanJson => read_masscan_json(input, name, emit),
        ImportFormat::MasscanList => read_masscan_list(input, name, emit),
        ImportFormat::ZmapCsv => read_zmap_csv(input, name, opts, emit),
    }
}

/// Counts what a reader of a port-listing format saw, to make its start and end records.
#[derive(Default)]
pub(crate) struct PortCounter {
    pub stats: ScanStats,
    pub hosts: std::collections::HashSet<IpAddr>,
    pub proto: Option<Protocol>,
    pub first: Option<SystemTime>,
    pub last: Option<SystemTime>,
}

impl PortCounter {
    pub fn count(&mut self, ev: &PortEvent, t: SystemTime) {
        match ev.state {
            PortState::Open => self.stats.open += 1,
            PortState::Closed => self.stats.closed += 1,
            _ => self.stats.filtered += 1,
        }
        self.stats.completed += 1;
        self.hosts.insert(ev.addr);
        self.proto.get_or_insert(ev.proto);
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// The start record of a scanner that wrote no header: `scanner` and the file's name
    /// stand for the command line, the first port's time for the start.
    pub fn start(&self, scanner: &str, name: &str, first: SystemTime) -> Record {
        Record::Start(ScanStart {
            args: format!("{scanner} (imported from {name})"),
            num_ports: 0,
            ports: String::new(),
            proto: self.proto.unwrap_or(Protocol::Tcp),
            resumed_from: None,
            scan_type: "syn".into(),
            scanner: scanner.into(),
            seed: 0,
            shard: "0/1".into(),
            targets: 0,
            time: first,
            version: String::new(),
        })
    }

    pub fn end(&self, interrupted: bool) -> Record {
        let mut stats = self.stats.clone();
        stats.planned = stats.completed;
        stats.sent = stats.completed;
        stats.interrupted = interrupted;
        Record::End {
            time: self.last.unwrap_or(SystemTime::UNIX_EPOCH),
            stats,
            targets: self.hosts.len() as u64,
        }
    }
}

/// Records the reader hands the writer at a time, and batches that may wait between them:
/// what an import holds at most besides the store's own batch (a few hundred hosts of an nmap
/// XML file), whatever the file's size.
const RECORDS_PER_HANDOFF: usize = 256;
const HANDOFFS_QUEUED: usize = 4;

/// Import a results file of format `format` as one stored scan.
///
/// The file is read on a thread of its own while this thread writes what it read to the store:
/// the two overlap on two cores. They meet through a bounded queue, so the memory stays flat in
/// the file's size. The records are written in file order; when the file turns out to be bad
/// part way through, what was read before is written (as when the two ran one after the other)
/// and the reader's error returned.
pub fn import(
    store: Store,
    format: ImportFormat,
    input: impl BufRead + Send,
    name: &str,
    opts: &ReadOptions,
) -> Result<Imported, StoreError> {
    // Bigger transactions than a live scan's: nothing waits for an import's rows, and a
    // failed import is run again.
    let mut sink: StoreSink = store
        .sink(Targets::default())
        .with_batch(IMPORT_BATCH_ROWS, std::time::Duration::from_secs(2));
    let mut out = Imported {
        scan_id: 0,
        hosts: 0,
        ports: 0,
        open: 0,
    };
    let mut start: Option<ScanStart> = None;
    let mut end: Option<(SystemTime, ScanStats, u64)> = None;
    // Hosts of port-listing formats, counted once each.
    let mut seen = std::collections::HashSet::new();
    let mut write = |rec: Record| -> Result<(), StoreError> {
        match rec {
            Record::Start(s) => {
                if start.is_none() {
                    sink.set_targets(Targets(s.args.clone()));
                    sink.start(&s).map_err(|e| sink_err(name, e))?;
                    start = Some(s);
                }
            }
            Record::Host(mut h) => {
                let t = start.as_ref().map_or(SystemTime::UNIX_EPOCH, |s| s.time);
                for ev in h.ports.iter().filter(|p| p.state != PortState::Closed) {
                    out.ports += 1;
                    if ev.state == PortState::Open {
                        out.open += 1;
                    }
                    sink.port(ev, t).map_err(|e| sink_err(name, e))?;
                }
                if h.up || !h.extra.is_empty() {
                    out.hosts += 1;
                    h.ports.clear();
                    sink.host(&h).map_err(|e| sink_err(name, e))?;
                }
            }
            Record::Port(ev, t) => {
                if ev.state != PortState::Closed {
                    out.ports += 1;
                    if ev.state == PortState::Open {
                        out.open += 1;
                    }
                    if seen.insert(ev.addr) {
                        out.hosts += 1;
                    }
                    sink.port(&ev, t).map_err(|e| sink_err(name, e))?;
                }
            }
            Record::End {
                time,
                stats,
                targets,
            } => end = Some((time, stats, targets)),
        }
        Ok(())
    };
    read_beside(format, input, name, opts, &mut write)?;
    let Some(s) = start else {
        return Err(bad(name, "no scan in it: nothing to import"));
    };
    let (t, stats, targets) = end.unwrap_or((
        s.time,
        ScanStats {
            interrupted: true,
            ..Default::default()
        },
        s.targets,
    ));
    let report = ScanReport {
        scan_type: s.scan_type.clone(),
        proto: s.proto,
        args: s.args.clone(),
        ports_spec: s.ports.clone(),
        num_ports: s.num_ports,
        start: s.time,
        end: t,
        hosts: Vec::new(),
        targets_total: targets,
        host_discovery: String::new(),
        stats,
    };
    sink.finish(&report).map_err(|e| sink_err(name, e))?;
    out.scan_id = sink.scan_id().unwrap_or(0);
    Ok(out)
}

/// Read `input` on a thread of its own and hand its records to `write` on this one, in file
/// order, through a bounded queue. A reader's error comes after every record read before it
/// was written; a writer's error stops the reader.
fn read_beside(
    format: ImportFormat,
    input: impl BufRead + Send,
    name: &str,
    opts: &ReadOptions,
    write: &mut dyn FnMut(Record) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(HANDOFFS_QUEUED);
        let reader = sc.spawn(move || {
            let mut batch = Vec::with_capacity(RECORDS_PER_HANDOFF);
            let read_result = read(format, input, name, opts, &mut |rec| {
                batch.push(rec);
                if batch.len() == RECORDS_PER_HANDOFF {
                    let full =
                        std::mem::replace(&mut batch, Vec::with_capacity(RECORDS_PER_HANDOFF));
                    // The writer stopped: its error is the one to report.
                    tx.send(full)
                        .map_err(|_| StoreError::Unavailable(String::new()))?;
                }
                Ok(())
            });
            if !batch.is_empty() {
                // What was read before an error is written too; a writer that stopped has
                // its own error.
                let _ = tx.send(batch);
            }
            read_result
        });
        let mut written = Ok(());
        'batches: for batch in &rx {
            for rec in batch {
                if let Err(e) = write(rec) {
                    written = Err(e);
                    break 'batches;
                }
            }
        }
        // The reader's next hand-off fails once the queue is gone: it stops.
        drop(rx);
        let read_result = reader
            .join()
            .map_err(|_| bad(name, "internal error: the reader of the file panicked"))?;
        written?;
        read_result
    })
}

/// Import an nmap XML file (`nmap -oX`), read from `input`, as one stored scan. `name` names
/// the input in messages.
pub fn import_nmap_xml(
    store: Store,
    input: impl BufRead + Send,
    name: &str,
) -> Result<Imported, StoreError> {
    import(
        store,
        ImportFormat::NmapXml,
        input,
        name,
        &ReadOptions::default(),
    )
}

/// Import a Portolan JSON Lines file (`portolan scan -o jsonl=FILE`) as one stored scan.
pub fn import_jsonl(
    store: Store,
    input: impl BufRead + Send,
    name: &str,
) -> Result<Imported, StoreError> {
    import(
        store,
        ImportFormat::PortolanJsonl,
        input,
        name,
        &ReadOptions::default(),
    )
}

/// Read one line of at most [`MAX_RECORD`] bytes into `buf` (cleared first, the newline
/// dropped). `Ok(false)` at the end of the input.
pub(crate) fn read_line(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    name: &str,
    line_no: u64,
) -> Result<bool, StoreError> {
    buf.clear();
    loop {
        let avail = input
            .fill_buf()
            .map_err(|e| bad(name, format!("cannot read it: {e}")))?;
        if avail.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (chunk, done) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if buf.len() + chunk.len() > MAX_RECORD {
            return Err(bad(
                name,
                format!("line {line_no} is longer than {MAX_RECORD} bytes: not a results file"),
            ));
        }
        buf.extend_from_slice(chunk);
        let used = done.unwrap_or(avail.len());
        input.consume(used);
        if done.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_every_format() {
        let cases: [(&[u8], Option<ImportFormat>); 11] = [
            (b"<?xml version=\"1.0\"?>", Some(ImportFormat::NmapXml)),
            (b"\xef\xbb\xbf  <nmaprun>", Some(ImportFormat::NmapXml)),
            (
                b"{\"args\":\"x\",\"type\":\"start\"}",
                Some(ImportFormat::PortolanJsonl),
            ),
            (
                b"[\n{   \"ip\": \"10.0.0.1\"",
                Some(ImportFormat::MasscanJson),
            ),
            (
                b"{   \"ip\": \"10.0.0.1\",",
                Some(ImportFormat::MasscanJson),
            ),
            (
                b"#masscan\nopen tcp 80 10.0.0.1 1\n",
                Some(ImportFormat::MasscanList),
            ),
            (b"open tcp 80 10.0.0.1 1\n", Some(ImportFormat::MasscanList)),
            (b"saddr,sport,success\n", Some(ImportFormat::ZmapCsv)),
            (b"10.77.0.3\n10.77.0.2\n", Some(ImportFormat::ZmapCsv)),
            (b"hello\n", None),
            (b"   ", None),
        ];
        for (head, want) in cases {
            assert_eq!(
                ImportFormat::sniff(head),
                want,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
