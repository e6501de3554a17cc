//! [`StoreSink`]: a scan written into the store while it runs.

use std::time::{Duration, Instant, SystemTime};

use crate::db::{Conn, DbError, Val};
use crate::{addr_key, time_to_secs, Store};
use portolan_model::{
    EventSink, Flow, HostReport, PortEvent, PortState, ScanReport, ScanStart, SinkError,
};

/// The targets of a scan as the user gave them (addresses, blocks, ranges, names, target
/// files, excludes), in one line: the key by which later scans of the same targets are found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets(pub String);

/// Writes a scan into a [`Store`] while it runs. See the crate documentation.
pub struct StoreSink {
    store: Store,
    targets: Targets,
    scan_id: Option<i64>,
    pending: Vec<(PortEvent, SystemTime)>,
    /// Host records to write with the next batch ([`StoreSink::host`]).
    pending_hosts: Vec<HostReport>,
    last_commit: Instant,
    batch_rows: usize,
    batch_interval: Duration,
    /// Ports committed so far.
    committed: u64,
    /// Stream only open ports while the scan runs ([`StoreSink::open_ports_while_running`]).
    open_only: bool,
    /// Open ports streamed without a service: [`EventSink::finish`] need not write them again.
    streamed: std::collections::HashSet<(std::net::IpAddr, portolan_model::Protocol, u16)>,
}

fn sink_err(store: &Store, e: impl std::fmt::Display) -> SinkError {
    SinkError::Other(format!("store {}: {e}", store.location()))
}

/// Insert or replace one port (and its exposures) of scan `id`.
fn put_port(c: &mut Conn, id: i64, ev: &PortEvent, seen: SystemTime) -> Result<(), DbError> {
    let key = addr_key(ev.addr);
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
    let json = svc.and_then(|s| serde_json::to_string(s).ok());
    let (proto, port) = (ev.proto.as_str(), ev.port as i64);
    c.exec(
        "INSERT INTO ports (scan_id, addr, addr_key, proto, port, state, reason, rtt_us, ttl, \
         service, product, version, extrainfo, cpe, service_json, seen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (scan_id, addr_key, proto, port) DO UPDATE SET state = excluded.state, \
         reason = excluded.reason, rtt_us = excluded.rtt_us, ttl = excluded.ttl, \
         service = excluded.service, product = excluded.product, version = excluded.version, \
         extrainfo = excluded.extrainfo, cpe = excluded.cpe, \
         service_json = excluded.service_json, seen = excluded.seen",
        &[
            id.into(),
            ev.addr.to_string().into(),
            key.clone().into(),
            proto.into(),
            port.into(),
            ev.state.as_str().into(),
            ev.reason.as_str().into(),
            ev.rtt.map(|d| d.as_micros() as i64).into(),
            ev.ttl.map(i64::from).into(),
            svc.map(|s| s.name.as_str()).into(),
            svc.and_then(|s| s.product.as_deref()).into(),
            svc.and_then(|s| s.version.as_deref()).into(),
            svc.and_then(|s| s.extrainfo.as_deref()).into(),
            cpe.into(),
            json.into(),
            time_to_secs(seen).into(),
        ],
    )?;
    // A port written again with its service replaces the exposures it had (a port without a
    // service has none to replace: the statement is skipped on the hot path of a scan).
    if svc.is_some() {
        c.exec(
            "DELETE FROM exposures WHERE scan_id = $1 AND addr_key = $2 AND proto = $3 AND \
             port = $4",
            &[id.into(), key.clone().into(), proto.into(), port.into()],
        )?;
    }
    for x in svc.map(|s| s.exposures.as_slice()).unwrap_or(&[]) {
        c.exec(
            "INSERT INTO exposures (scan_id, addr_key, proto, port, id, severity, title, \
             evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (scan_id, addr_key, proto, port, id) DO UPDATE SET \
             severity = excluded.severity, title = excluded.title, evidence = excluded.evidence",
            &[
                id.into(),
                key.clone().into(),
                proto.into(),
                port.into(),
                x.id.as_str().into(),
                x.severity.as_str().into(),
                x.title.as_str().into(),
                x.evidence.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

/// Insert or replace one host record (not its ports) of scan `id`.
fn put_host(c: &mut Conn, id: i64, h: &HostReport) -> Result<(), DbError> {
    let extra = serde_json::to_string(&h.extra).unwrap_or_else(|_| "[]".into());
    c.exec(
        "INSERT INTO hosts (scan_id, addr, addr_key, hostname, up, up_reason, \
         srtt_us, extra) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (scan_id, addr_key) DO UPDATE SET hostname = excluded.hostname, \
         up = excluded.up, up_reason = excluded.up_reason, \
         srtt_us = excluded.srtt_us, extra = excluded.extra",
        &[
            id.into(),
            h.addr.to_string().into(),
            addr_key(h.addr).into(),
            h.hostname.as_deref().into(),
            (h.up as i64).into(),
            h.up_reason.map(|r| r.as_str()).into(),
            h.srtt_us.map(|v| v as i64).into(),
            extra.into(),
        ],
    )?;
    Ok(())
}

impl StoreSink {
    /// Commit at least every this many ports...
    pub const BATCH_ROWS: usize = 512;
    /// ... and at least this often while ports come in.
    pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

    pub fn new(store: Store, targets: Targets) -> StoreSink {
        StoreSink {
            store,
            targets,
            scan_id: None,
            pending: Vec::new(),
            pending_hosts: Vec::new(),
            open_only: false,
            streamed: Default::default(),
            last_commit: Instant::now(),
            batch_rows: Self::BATCH_ROWS,
            batch_interval: Self::BATCH_INTERVAL,
            committed: 0,
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
    /// ports stay durable batch by batch.
    pub fn open_ports_while_running(mut self) -> Self {
        self.open_only = true;
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

    /// Ports committed so far.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// The store this sink writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Give the store back (after [`EventSink::finish`]).
    pub fn into_store(self) -> Store {
        self.store
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

    /// Commit the ports in hand in one transaction.
    fn commit(&mut self) -> Result<(), SinkError> {
        self.last_commit = Instant::now();
        let Some(id) = self.scan_id else {
            return Ok(());
        };
        if self.pending.is_empty() && self.pending_hosts.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let hosts = std::mem::take(&mut self.pending_hosts);
        let r = self.store.conn_mut().tx(|c| {
            for (ev, t) in &pending {
                put_port(c, id, ev, *t)?;
            }
            for h in &hosts {
                put_host(c, id, h)?;
            }
            Ok(())
        });
        r.map_err(|e| sink_err(&self.store, e.0))?;
        self.committed += pending.len() as u64;
        Ok(())
    }
}

impl EventSink for StoreSink {
    fn name(&self) -> String {
        format!("store {}", self.store.location())
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
        let rows = self.store.conn_mut().query(
            "INSERT INTO scans (kind, proto, status, args, targets, targets_count, ports, \
             num_ports, seed, shard, resumed_from, scanner, version, started) VALUES \
             ($1, $2, 'running', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            &args,
        );
        let id = rows
            .and_then(|r| r.first().map(|r| r.int(0)).transpose())
            .map_err(|e| sink_err(&self.store, e.0))?
            .ok_or_else(|| sink_err(&self.store, "the new scan got no id"))?;
        self.scan_id = Some(id);
        self.last_commit = Instant::now();
        Ok(Flow::Continue)
    }

    fn port(&mut self, ev: &PortEvent, time: SystemTime) -> Result<Flow, SinkError> {
        let keep = if self.open_only {
            ev.state == PortState::Open
        } else {
            ev.state != PortState::Closed
        };
        if keep {
            if self.open_only && ev.service.is_none() {
                self.streamed.insert((ev.addr, ev.proto, ev.port));
            }
            self.pending.push((ev.clone(), time));
        }
        if self.pending.len() >= self.batch_rows
            || (!self.pending.is_empty() && self.last_commit.elapsed() >= self.batch_interval)
        {
            self.commit()?;
        }
        Ok(Flow::Continue)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.commit()
    }

    fn finish(&mut self, report: &ScanReport) -> Result<(), SinkError> {
        self.commit()?;
        let Some(id) = self.scan_id else {
            return Ok(());
        };
        let streamed = std::mem::take(&mut self.streamed);
        let r = self.store.conn_mut().tx(|c| {
            let end = report.end;
            for h in &report.hosts {
                // What the report lists that is not closed (a resumed scan's earlier legs
                // included), with the services the report settled on.
                for p in h.ports.iter().filter(|p| p.state != PortState::Closed) {
                    // Already written as it is while the scan ran.
                    if p.service.is_none() && streamed.contains(&(p.addr, p.proto, p.port)) {
                        continue;
                    }
                    put_port(c, id, p, end)?;
                }
                put_host(c, id, h)?;
            }
            let st = &report.stats;
            c.exec(
                "UPDATE scans SET status = $2, ended = $3, planned = $4, completed = $5, \
                 sent = $6, retries = $7, open = $8, closed = $9, filtered = $10 WHERE id = $1",
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
                ],
            )?;
            Ok(())
        });
        r.map_err(|e| sink_err(&self.store, e.0))
    }
}
