//! `portolan detect` alerts in the store: a row per run (the captures read, or a live capture)
//! and a row per alert, written while the run goes on by an [`AlertWriter`] in batched
//! transactions (every [`AlertWriter::BATCH`] alerts, or at the first alert
//! [`AlertWriter::INTERVAL`] after the last commit, and at the end): a crash loses at most the
//! alerts of the batch in hand. Each alert is kept whole as its EVE JSON object beside the
//! columns queries select on (time, source, destination, severity).

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::db::{DbError, Row, Val};
use crate::{secs_to_time, time_to_secs, Store, StoreError};

/// An alert to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAlert {
    /// Capture time of the packet that raised it.
    pub time: SystemTime,
    pub signature: String,
    /// `low`, `medium`, `high`.
    pub severity: String,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub dst_port: Option<u16>,
    /// The alert as one EVE JSON object.
    pub eve: String,
}

/// A stored alert.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredAlert {
    pub run_id: i64,
    /// Its number in its run, from 1.
    pub seq: u64,
    /// Capture time, seconds since the Unix epoch.
    pub ts: f64,
    pub signature: String,
    pub severity: String,
    pub src: String,
    pub dst: String,
    pub dst_port: Option<u16>,
    /// The EVE JSON object.
    pub eve: String,
}

/// A stored detect run, as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectRunInfo {
    pub id: i64,
    pub source: String,
    pub args: String,
    pub version: String,
    /// `running` (still writing, or its writer died), `done`, `failed`.
    pub status: String,
    pub started: f64,
    pub ended: Option<f64>,
    /// Alerts stored.
    pub alerts: u64,
}

const RUN_COLUMNS: &str = "id, source, args, version, status, started, ended, \
    (SELECT COUNT(*) FROM alerts a WHERE a.run_id = detect_runs.id)";

fn run_row(r: &Row) -> Result<DetectRunInfo, DbError> {
    Ok(DetectRunInfo {
        id: r.int(0)?,
        source: r.text(1)?,
        args: r.text(2)?,
        version: r.text(3)?,
        status: r.text(4)?,
        started: r.real(5)?,
        ended: r.opt_real(6)?,
        alerts: r.int(7)?.max(0) as u64,
    })
}

fn alert_row(r: &Row) -> Result<StoredAlert, DbError> {
    Ok(StoredAlert {
        run_id: r.int(0)?,
        seq: r.int(1)?.max(0) as u64,
        ts: r.real(2)?,
        signature: r.text(3)?,
        severity: r.text(4)?,
        src: r.text(5)?,
        dst: r.text(6)?,
        dst_port: r.opt_int(7)?.and_then(|p| u16::try_from(p).ok()),
        eve: r.text(8)?,
    })
}

/// Which alerts [`Store::alerts`] selects. Empty fields select everything.
#[derive(Clone, Debug, Default)]
pub struct AlertFilter {
    pub run: Option<i64>,
    /// Alerts from this source address.
    pub src: Option<IpAddr>,
    /// Raised at or after.
    pub since: Option<SystemTime>,
    /// Raised at or before.
    pub until: Option<SystemTime>,
}

/// Writes the alerts of one `portolan detect` run into the store as they come.
pub struct AlertWriter {
    store: Store,
    run_id: i64,
    seq: u64,
    pending: Vec<NewAlert>,
    last_commit: Instant,
    committed: u64,
}

const ALERT_COLS: usize = 10;

impl AlertWriter {
    /// Commit at least every this many alerts...
    pub const BATCH: usize = 256;
    /// ... and at the first alert this long after the last commit.
    pub const INTERVAL: Duration = Duration::from_secs(1);

    /// The run's id in the store.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Alerts committed so far.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Where the store is.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// Add one alert (committed with its batch).
    pub fn push(&mut self, a: NewAlert) -> Result<(), StoreError> {
        self.pending.push(a);
        if self.pending.len() >= Self::BATCH || self.last_commit.elapsed() >= Self::INTERVAL {
            self.commit()?;
        }
        Ok(())
    }

    /// Commit the alerts in hand in one transaction.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.last_commit = Instant::now();
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let (run, first) = (self.run_id, self.seq);
        let stored = time_to_secs(SystemTime::now());
        let r = self.store.conn_mut().tx(|c| {
            for (n, chunk) in pending.chunks(64).enumerate() {
                let mut args: Vec<Val> = Vec::with_capacity(chunk.len() * ALERT_COLS);
                for (i, a) in chunk.iter().enumerate() {
                    let seq = first + (n * 64 + i) as u64 + 1;
                    args.extend([
                        run.into(),
                        (seq as i64).into(),
                        time_to_secs(a.time).into(),
                        stored.into(),
                        a.signature.as_str().into(),
                        a.severity.as_str().into(),
                        a.src.to_string().into(),
                        a.dst.to_string().into(),
                        a.dst_port.map(i64::from).into(),
                        a.eve.as_str().into(),
                    ]);
                }
                c.exec(
                    &format!(
                        "INSERT INTO alerts (run_id, seq, ts, stored, signature, severity, src, dst, \
                         dst_port, eve) VALUES {}",
                        crate::sink::placeholders(chunk.len(), ALERT_COLS)
                    ),
                    &args,
                )?;
            }
            Ok(())
        });
        r.map_err(|e| self.store.err(e))?;
        self.seq += pending.len() as u64;
        self.committed += pending.len() as u64;
        Ok(())
    }

    /// Commit what is in hand and close the run (`done`, or `failed` when the run ended in an
    /// error); the store back.
    pub fn finish(mut self, ok: bool, end: SystemTime) -> Result<Store, StoreError> {
        self.commit()?;
        let id = self.run_id;
        self.store.exec(
            "UPDATE detect_runs SET status = $2, ended = $3 WHERE id = $1",
            &[
                id.into(),
                (if ok { "done" } else { "failed" }).into(),
                time_to_secs(end).into(),
            ],
        )?;
        Ok(self.store)
    }
}

impl Store {
    /// Start storing a `portolan detect` run reading `source` (the captures, or the
    /// interface): its row is written now, as `running`.
    pub fn alert_writer(
        mut self,
        source: &str,
        args: &str,
        version: &str,
        time: SystemTime,
    ) -> Result<AlertWriter, StoreError> {
        let id = self
            .rows(
                "INSERT INTO detect_runs (source, args, version, status, started) \
                 VALUES ($1, $2, $3, 'running', $4) RETURNING id",
                &[
                    source.into(),
                    args.into(),
                    version.into(),
                    time_to_secs(time).into(),
                ],
                |r| r.int(0),
            )?
            .first()
            .copied()
            .ok_or_else(|| StoreError::Db {
                path: self.location().to_string(),
                msg: "the new detect run got no id".into(),
            })?;
        Ok(AlertWriter {
            store: self,
            run_id: id,
            seq: 0,
            pending: Vec::new(),
            last_commit: Instant::now(),
            committed: 0,
        })
    }

    /// Every stored detect run, oldest first.
    pub fn detect_runs(&mut self) -> Result<Vec<DetectRunInfo>, StoreError> {
        self.rows(
            &format!("SELECT {RUN_COLUMNS} FROM detect_runs ORDER BY id"),
            &[],
            run_row,
        )
    }

    /// The alerts the filter selects, in the order they were raised (run, then number).
    pub fn alerts(&mut self, f: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
        let mut conds: Vec<String> = vec!["1 = 1".into()];
        let mut args: Vec<Val> = Vec::new();
        let mut arg = |conds: &mut Vec<String>, sql: &str, v: Val| {
            args.push(v);
            conds.push(sql.replace('?', &format!("${}", args.len())));
        };
        if let Some(r) = f.run {
            arg(&mut conds, "run_id = ?", r.into());
        }
        if let Some(s) = f.src {
            arg(&mut conds, "src = ?", s.to_string().into());
        }
        if let Some(t) = f.since {
            arg(&mut conds, "ts >= ?", time_to_secs(t).into());
        }
        if let Some(t) = f.until {
            arg(&mut conds, "ts <= ?", time_to_secs(t).into());
        }
        self.rows(
            &format!(
                "SELECT run_id, seq, ts, signature, severity, src, dst, dst_port, eve FROM alerts \
                 WHERE {} ORDER BY run_id, seq",
                conds.join(" AND ")
            ),
            &args,
            alert_row,
        )
    }

    /// The sources of the alerts stored at or after `since` (by any run; the time they were
    /// stored, not their capture time: a capture of last year read today counts as today),
    /// each with when its latest alert was stored: what `portolan detect --new-sources-since`
    /// leaves out.
    pub fn alerted_sources(
        &mut self,
        since: SystemTime,
    ) -> Result<Vec<(IpAddr, SystemTime)>, StoreError> {
        let rows = self.rows(
            "SELECT src, MAX(stored) FROM alerts WHERE stored >= $1 GROUP BY src ORDER BY src",
            &[time_to_secs(since).into()],
            |r| Ok((r.text(0)?, r.real(1)?)),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, t)| s.parse().ok().map(|a| (a, secs_to_time(t))))
            .collect())
    }

    /// Delete one detect run and its alerts. `false` if there was none.
    pub fn delete_detect_run(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self.exec("DELETE FROM detect_runs WHERE id = $1", &[id.into()])? > 0)
    }
}
