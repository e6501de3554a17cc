//! The Portolan JSON Lines reader (`portolan scan -o jsonl=FILE`, docs/schema/scan-jsonl.md):
//! one line at a time.

use std::io::BufRead;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{PortEvent, ScanStart, ScanStats};

use super::{bad, read_line, Emit, Record};
use crate::StoreError;

/// Read a Portolan JSON Lines file: its `start` record, each `port`, its `end` (host summaries
/// and notices are not needed to rebuild the scan). A file without an `end` is marked
/// interrupted.
pub fn read_jsonl(
    mut input: impl BufRead,
    name: &str,
    emit: &mut Emit<'_>,
) -> Result<(), StoreError> {
    let mut start: Option<SystemTime> = None;
    let mut targets = 0u64;
    let mut end: Option<Record> = None;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    while read_line(&mut input, &mut buf, name, line_no + 1)? {
        line_no += 1;
        if buf.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let at = |e: serde_json::Error| bad(name, format!("line {line_no}: {e}"));
        let v: serde_json::Value = serde_json::from_slice(&buf).map_err(at)?;
        match v.get("type").and_then(|t| t.as_str()) {
            Some("start") if start.is_none() => {
                let s: ScanStart = serde_json::from_value(v).map_err(at)?;
                start = Some(s.time);
                targets = s.targets;
                emit(Record::Start(s))?;
            }
            Some("port") => {
                let Some(t) = start else {
                    return Err(bad(
                        name,
                        format!("line {line_no}: a port before the start record"),
                    ));
                };
                let ev: PortEvent = serde_json::from_value(v).map_err(at)?;
                emit(Record::Port(ev, t))?;
            }
            Some("end") => {
                let num = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
                let stats = ScanStats {
                    planned: num("planned"),
                    completed: num("completed"),
                    sent: num("sent"),
                    retries: num("retries"),
                    open: num("open"),
                    closed: num("closed"),
                    filtered: num("filtered"),
                    interrupted: v
                        .get("interrupted")
                        .and_then(|x| x.as_bool())
                        .unwrap_or(false),
                };
                let t = v
                    .get("time")
                    .and_then(|x| x.as_f64())
                    .and_then(|f| Duration::try_from_secs_f64(f).ok())
                    .map(|d| UNIX_EPOCH + d)
                    .unwrap_or_else(SystemTime::now);
                end = Some(Record::End {
                    time: t,
                    stats,
                    targets,
                });
            }
            _ => {}
        }
    }
    let Some(t) = start else {
        return Err(bad(
            name,
            "no start record: not a Portolan JSON Lines file (portolan scan -o jsonl=FILE)",
        ));
    };
    emit(end.unwrap_or(Record::End {
        time: t,
        stats: ScanStats {
            interrupted: true,
            ..Default::default()
        },
        targets,
    }))
}
