//! The ZMap CSV reader. With `-f` (or `--output-fields`) ZMap writes a header line of field
//! names and one row per response; without, one responding source address a line. Fields
//! read: `saddr` (the host), `sport` (the port it answered from: the scanned port),
//! `classification` (`synack`, `rst`, `udp`...), `success` (1 open, 0 closed), `repeat` (1: a
//! repeated answer, skipped), `ttl`, `timestamp-ts`/`timestamp_ts` or
//! `timestamp-str`/`timestamp_str`. Without `sport`, the port comes from
//! [`ReadOptions::port`](super::ReadOptions).

use std::io::BufRead;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{PortEvent, PortState, Protocol, Reason};

use super::{bad, read_line, Emit, PortCounter, ReadOptions, Record};
use crate::StoreError;

/// ZMap's `timestamp-str`: `2026-11-29T19:09:07.798+0000` (local time and its offset).
fn iso_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let base = s.get(..19)?;
    let t = crate::when::parse_when(&format!("{base}Z"), UNIX_EPOCH).ok()?;
    let rest = &s[19..];
    let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let off = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let d: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            let (h, m) = (
                d.get(..2)?.parse::<u64>().ok()?,
                d.get(2..4).unwrap_or("0").parse::<u64>().ok()?,
            );
            let secs = h * 3600 + m * 60;
            if sign == '+' {
                -(secs as i64)
            } else {
                secs as i64
            }
        }
        _ => 0,
    };
    if off >= 0 {
        t.checked_add(Duration::from_secs(off as u64))
    } else {
        t.checked_sub(Duration::from_secs(off.unsigned_abs()))
    }
}

/// Read ZMap CSV output.
pub fn read_zmap_csv(
    mut input: impl BufRead,
    name: &str,
    opts: &ReadOptions,
    emit: &mut Emit<'_>,
) -> Result<(), StoreError> {
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut fields: Option<Vec<String>> = None;
    let mut count = PortCounter::default();
    let mut started = false;
    while read_line(&mut input, &mut buf, name, line_no + 1)? {
        line_no += 1;
        let line = std::str::from_utf8(&buf)
            .map_err(|_| bad(name, format!("line {line_no}: not UTF-8 text")))?
            .trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let at = |what: String| bad(name, format!("line {line_no}: {what}"));
        if fields.is_none() {
            if cols.first().is_some_and(|c| c.parse::<IpAddr>().is_err()) {
                if !cols.contains(&"saddr") {
                    return Err(at(
                        "a ZMap CSV header without a saddr field: not ZMap output".into(),
                    ));
                }
                fields = Some(cols.iter().map(|c| c.replace('_', "-")).collect());
                continue;
            }
            fields = Some(vec!["saddr".into()]);
        }
        let names = fields.as_deref().unwrap_or(&[]);
        let get = |k: &str| {
            names
                .iter()
                .position(|n| n == k)
                .and_then(|i| cols.get(i).copied())
        };
        let saddr = get("saddr").unwrap_or("");
        let addr: IpAddr = saddr
            .parse()
            .map_err(|_| at(format!("{saddr:?} is not an IP address")))?;
        if get("repeat") == Some("1") {
            continue;
        }
        let class = get("classification").unwrap_or("");
        if class.starts_with("icmp") || class.starts_with("echo") {
            continue; // ICMP answers: not ports
        }
        let port: u16 = match get("sport") {
            Some(p) => p
                .parse()
                .map_err(|_| at(format!("{p:?} is not a port number")))?,
            None => opts.port.ok_or_else(|| {
                bad(
                    name,
                    "ZMap output without a sport field does not say which port was scanned: \
                     give it (--port PORT), or write ZMap's output with -f saddr,sport,...",
                )
            })?,
        };
        let proto = if class.starts_with("udp") {
            Protocol::Udp
        } else {
            Protocol::Tcp
        };
        let open = match (get("success"), class) {
            (Some("1"), _) => true,
            (Some("0"), _) => false,
            (Some(s), _) => return Err(at(format!("success {s:?} is neither 0 nor 1"))),
            (None, "rst") => false,
            (None, _) => true,
        };
        let (state, reason) = match (open, proto) {
            (true, Protocol::Udp) => (PortState::Open, Reason::UdpResponse),
            (true, _) => (PortState::Open, Reason::SynAck),
            (false, _) => (PortState::Closed, Reason::Reset),
        };
        let t = get("timestamp-ts")
            .and_then(|s| s.parse::<u64>().ok())
            .map(|s| UNIX_EPOCH + Duration::from_secs(s))
            .or_else(|| get("timestamp-str").and_then(iso_time))
            .unwrap_or(UNIX_EPOCH);
        let ev = PortEvent {
            addr,
            port,
            proto,
            state,
            reason,
            rtt: None,
            ttl: get("ttl").and_then(|t| t.parse().ok()).filter(|t| *t != 0),
            service: None,
        };
        if !started {
            started = true;
            count.proto = Some(proto);
            emit(count.start("zmap", name, t))?;
        }
        count.count(&ev, t);
        emit(Record::Port(ev, t))?;
    }
    if !started {
        return Err(bad(
            name,
            "no response in it: nothing to read from this ZMap file",
        ));
    }
    emit(count.end(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_with_offsets() {
        let t = |s| {
            iso_time(s)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        assert_eq!(t("1970-01-01T00:01:00.5+0000"), Some(60));
        assert_eq!(t("1970-01-01T01:01:00+0100"), Some(60));
        assert_eq!(t("1970-01-01T00:00:00-0001"), Some(60));
        assert_eq!(t("garbage"), None);
    }
}
