//! `portolan local` audits in the store: one row per report, kept whole as JSON (the store
//! does not depend on the audit crate: the caller gives the report's text and its summary), so
//! that a later audit of the same host can be compared with it (`--baseline-from-store`).

use std::time::SystemTime;

use serde::Serialize;

use crate::db::{DbError, Row};
use crate::{time_to_secs, Store, StoreError};

/// An audit to save.
#[derive(Clone, Debug)]
pub struct NewAudit<'a> {
    /// The audited host's name (the report's `host`).
    pub host: &'a str,
    pub time: SystemTime,
    /// The Portolan version that audited.
    pub version: &'a str,
    /// The command line.
    pub args: &'a str,
    pub sockets: u64,
    pub findings: u64,
    /// The highest severity among the findings (`low`, ..., `critical`).
    pub worst: Option<&'a str>,
    /// The whole report as JSON.
    pub report: &'a str,
}

/// A stored audit, as listed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditInfo {
    pub id: i64,
    pub host: String,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub version: String,
    pub args: String,
    pub sockets: u64,
    pub findings: u64,
    pub worst: Option<String>,
}

const AUDIT_COLUMNS: &str = "id, host, started, version, args, sockets, findings, worst";

fn audit_row(r: &Row) -> Result<AuditInfo, DbError> {
    Ok(AuditInfo {
        id: r.int(0)?,
        host: r.text(1)?,
        started: r.real(2)?,
        version: r.text(3)?,
        args: r.text(4)?,
        sockets: r.int(5)?.max(0) as u64,
        findings: r.int(6)?.max(0) as u64,
        worst: r.opt_text(7)?,
    })
}

impl Store {
    /// Save one audit; its id.
    pub fn save_audit(&mut self, a: &NewAudit) -> Result<i64, StoreError> {
        let id = self.rows(
            "INSERT INTO audits (host, started, version, args, sockets, findings, worst, report) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                a.host.into(),
                time_to_secs(a.time).into(),
                a.version.into(),
                a.args.into(),
                (a.sockets as i64).into(),
                (a.findings as i64).into(),
                a.worst.into(),
                a.report.into(),
            ],
            |r| r.int(0),
        )?;
        id.first().copied().ok_or_else(|| StoreError::Db {
            path: self.location().to_string(),
            msg: "the new audit got no id".into(),
        })
    }

    /// Every stored audit (of `host` only, if given), oldest first.
    pub fn audits(&mut self, host: Option<&str>) -> Result<Vec<AuditInfo>, StoreError> {
        match host {
            Some(h) => self.rows(
                &format!("SELECT {AUDIT_COLUMNS} FROM audits WHERE host = $1 ORDER BY id"),
                &[h.into()],
                audit_row,
            ),
            None => self.rows(
                &format!("SELECT {AUDIT_COLUMNS} FROM audits ORDER BY id"),
                &[],
                audit_row,
            ),
        }
    }

    /// The latest audit of `host`, with its report's JSON.
    pub fn latest_audit(&mut self, host: &str) -> Result<Option<(AuditInfo, String)>, StoreError> {
        let rows = self.rows(
            &format!(
                "SELECT {AUDIT_COLUMNS}, report FROM audits WHERE host = $1 ORDER BY id DESC \
                 LIMIT 1"
            ),
            &[host.into()],
            |r| Ok((audit_row(r)?, r.text(8)?)),
        )?;
        Ok(rows.into_iter().next())
    }

    /// One audit's report, as JSON.
    pub fn audit_report(&mut self, id: i64) -> Result<String, StoreError> {
        self.rows(
            "SELECT report FROM audits WHERE id = $1",
            &[id.into()],
            |r| r.text(0),
        )?
        .pop()
        .ok_or_else(|| {
            StoreError::Input(format!(
                "no audit {id} in the store: `portolan audits` lists them"
            ))
        })
    }

    /// Delete one audit. `false` if there was none.
    pub fn delete_audit(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self.exec("DELETE FROM audits WHERE id = $1", &[id.into()])? > 0)
    }
}
