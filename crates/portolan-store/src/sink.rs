//! [`StoreSink`]: a scan written into the store while it runs.

use std::time::{Duration, Instant, SystemTime};

use portolan_model::{EventSink, Flow, PortEvent, PortState, ScanReport, ScanStart, SinkError};
use rusqlite::{params, Transaction};

use crate::{addr_key, time_to_secs, Store};

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
    last_commit: Instant,
    batch_rows: usize,
    batch_interval: Duration,
    /// Ports committed so far.
    committed: u64,
}

fn sink_err(store: &Store, e: impl std::fmt::Display) -> SinkError {
    SinkError::Other(format!("store {}: {e}", store.path().display()))
}

/// Insert or replace one port (and its exposures) of scan `id`.
fn put_port(
    tx: &Transaction<'_>,
    id: i64,
    ev: &PortEvent,
    seen: SystemTime,
) -> rusqlite::Result<()> {
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
    tx.prepare_cached(
        "INSERT INTO ports (scan_id, addr, addr_key, proto, port, state, reason, rtt_us, ttl, \
         service, product, version, extrainfo, cpe, service_json, seen) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
         ON CONFLICT (scan_id, addr_key, proto, port) DO UPDATE SET state = excluded.state, \
         reason = excluded.reason, rtt_us = excluded.rtt_us, ttl = excluded.ttl, \
         service = excluded.service, product = excluded.product, version = excluded.version, \
         extrainfo = excluded.extrainfo, cpe = excluded.cpe, \
         service_json = excluded.service_json, seen = excluded.seen",
    )?
    .execute(params![
        id,
        ev.addr.to_string(),
        key,
        ev.proto.as_str(),
        ev.port as i64,
        ev.state.as_str(),
        ev.reason.as_str(),
        ev.rtt.map(|d| d.as_micros() as i64),
        ev.ttl.map(i64::from),
        svc.map(|s| s.name.as_str()),
        svc.and_then(|s| s.product.as_deref()),
        svc.and_then(|s| s.version.as_deref()),
        svc.and_then(|s| s.extrainfo.as_deref()),
        cpe,
        json,
        time_to_secs(seen),
    ])?;
    tx.prepare_cached(
        "DELETE FROM exposures WHERE scan_id = ?1 AND addr_key = ?2 AND proto = ?3 AND port = ?4",
    )?
    .execute(params![id, key, ev.proto.as_str(), ev.port as i64])?;
    for x in svc.map(|s| s.exposures.as_slice()).unwrap_or(&[]) {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO exposures (scan_id, addr_key, proto, port, id, severity, \
             title, evidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            id,
            key,
            ev.proto.as_str(),
            ev.port as i64,
            x.id,
            x.severity.as_str(),
            x.title,
            x.evidence
        ])?;
    }
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

    /// Commit the ports in hand in one transaction.
    fn commit(&mut self) -> Result<(), SinkError> {
        self.last_commit = Instant::now();
        let (Some(id), false) = (self.scan_id, self.pending.is_empty()) else {
            return Ok(());
        };
        let pending = std::mem::take(&mut self.pending);
        let path = self.store.path().display().to_string();
        let r = (|| -> rusqlite::Result<()> {
            let tx = self
                .store
                .conn_mut()
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (ev, t) in &pending {
                put_port(&tx, id, ev, *t)?;
            }
            tx.commit()
        })();
        r.map_err(|e| SinkError::Other(format!("store {path}: {e}")))?;
        self.committed += pending.len() as u64;
        Ok(())
    }
}

impl EventSink for StoreSink {
    fn name(&self) -> String {
        format!("store {}", self.store.path().display())
    }

    fn start(&mut self, s: &ScanStart) -> Result<Flow, SinkError> {
        let id = self
            .store
            .conn_mut()
            .query_row(
                "INSERT INTO scans (kind, proto, status, args, targets, targets_count, ports, \
                 num_ports, seed, shard, resumed_from, scanner, version, started) VALUES \
                 (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
                params![
                    s.scan_type,
                    s.proto.as_str(),
                    s.args,
                    self.targets.0,
                    s.targets as i64,
                    s.ports,
                    s.num_ports as i64,
                    s.seed as i64,
                    s.shard,
                    s.resumed_from.map(|v| v as i64),
                    s.scanner,
                    s.version,
                    time_to_secs(s.time),
                ],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| sink_err(&self.store, e))?;
        self.scan_id = Some(id);
        self.last_commit = Instant::now();
        Ok(Flow::Continue)
    }

    fn port(&mut self, ev: &PortEvent, time: SystemTime) -> Result<Flow, SinkError> {
        if ev.state != PortState::Closed {
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
        let path = self.store.path().display().to_string();
        let r = (|| -> rusqlite::Result<()> {
            let tx = self
                .store
                .conn_mut()
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let end = report.end;
            for h in &report.hosts {
                // What the report lists that is not closed (a resumed scan's earlier legs
                // included), with the services the report settled on.
                for p in h.ports.iter().filter(|p| p.state != PortState::Closed) {
                    put_port(&tx, id, p, end)?;
                }
                let extra = serde_json::to_string(&h.extra).unwrap_or_else(|_| "[]".into());
                tx.prepare_cached(
                    "INSERT INTO hosts (scan_id, addr, addr_key, hostname, up, up_reason, \
                     srtt_us, extra) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (scan_id, addr_key) DO UPDATE SET hostname = excluded.hostname, \
                     up = excluded.up, up_reason = excluded.up_reason, \
                     srtt_us = excluded.srtt_us, extra = excluded.extra",
                )?
                .execute(params![
                    id,
                    h.addr.to_string(),
                    addr_key(h.addr),
                    h.hostname,
                    h.up as i64,
                    h.up_reason.map(|r| r.as_str()),
                    h.srtt_us.map(|v| v as i64),
                    extra,
                ])?;
            }
            let st = &report.stats;
            tx.execute(
                "UPDATE scans SET status = ?2, ended = ?3, planned = ?4, completed = ?5, \
                 sent = ?6, retries = ?7, open = ?8, closed = ?9, filtered = ?10 WHERE id = ?1",
                params![
                    id,
                    if st.interrupted {
                        "interrupted"
                    } else {
                        "done"
                    },
                    time_to_secs(report.end),
                    st.planned as i64,
                    st.completed as i64,
                    st.sent as i64,
                    st.retries as i64,
                    st.open as i64,
                    st.closed as i64,
                    st.filtered as i64,
                ],
            )?;
            tx.commit()
        })();
        r.map_err(|e| SinkError::Other(format!("store {path}: {e}")))
    }
}
