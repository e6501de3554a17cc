//! The masscan readers: `-oJ` (a JSON list of one object per found port, written with stray
//! commas — `{...}\n,\n{...}` and, in older versions, a comma before the closing `]`) and
//! `-oL` (`open tcp 80 10.0.0.1 1700000000` lines between `#masscan` and `# end`).
//!
//! The JSON list is never parsed whole: a byte-level scanner cuts it into its top-level
//! objects (each at most [`MAX_RECORD`] bytes), and each object is parsed on its own, so the
//! commas and brackets between them do not matter and a file cut short keeps what was
//! complete. Banner records (`--banners`: a `service` instead of a `status`, or a `banner`
//! line) repeat a port already listed open and are skipped; ICMP/ARP records (`--ping`) are
//! not ports and are skipped too.

use std::io::BufRead;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{PortEvent, PortState, Protocol, Reason};

use super::{bad, read_line, Emit, PortCounter, Record, MAX_RECORD};
use crate::StoreError;

fn epoch(s: &str) -> Option<SystemTime> {
    let v: u64 = s.trim().parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(v))
}

fn proto_of(s: &str) -> Option<Protocol> {
    match s {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        _ => None,
    }
}

/// masscan's state and reason as Portolan's.
fn state_reason(status: &str, reason: &str, proto: Protocol) -> Option<(PortState, Reason)> {
    let state = match status {
        "open" => PortState::Open,
        "closed" => PortState::Closed,
        _ => return None,
    };
    let reason = match (reason, state) {
        ("syn-ack", _) => Reason::SynAck,
        ("rst" | "rst-ack" | "reset", _) => Reason::Reset,
        (_, PortState::Open) if proto == Protocol::Udp => Reason::UdpResponse,
        (_, PortState::Open) => Reason::SynAck,
        _ => Reason::Reset,
    };
    Some((state, reason))
}

/// Emits the start record before the first port, counts, and emits the end.
struct Ports<'e, 'a> {
    emit: &'e mut Emit<'a>,
    count: PortCounter,
    started: bool,
    scanner: &'static str,
}

impl Ports<'_, '_> {
    fn port(&mut self, ev: PortEvent, t: SystemTime, name: &str) -> Result<(), StoreError> {
        if !self.started {
            self.started = true;
            self.count.proto = Some(ev.proto);
            (self.emit)(self.count.start(self.scanner, name, t))?;
        }
        self.count.count(&ev, t);
        (self.emit)(Record::Port(ev, t))
    }

    fn finish(self, name: &str, interrupted: bool) -> Result<(), StoreError> {
        if !self.started {
            return Err(bad(
                name,
                format!(
                    "no port in it: nothing to read from this {} file",
                    self.scanner
                ),
            ));
        }
        (self.emit)(self.count.end(interrupted))
    }
}

/// One masscan JSON object: `{"ip": ..., "timestamp": "...", "ports": [{"port", "proto",
/// "status", "reason", "ttl"}]}`.
fn json_object(obj: &[u8], name: &str, ports: &mut Ports<'_, '_>) -> Result<(), StoreError> {
    let v: serde_json::Value = serde_json::from_slice(obj).map_err(|e| {
        bad(
            name,
            format!("a masscan JSON record is not valid JSON: {e}"),
        )
    })?;
    let ip = v.get("ip").and_then(|x| x.as_str()).unwrap_or("");
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| bad(name, format!("{ip:?} is not an IP address")))?;
    let t = match v.get("timestamp") {
        Some(serde_json::Value::String(s)) => epoch(s),
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(|s| UNIX_EPOCH + Duration::from_secs(s))
        }
        _ => None,
    }
    .unwrap_or(UNIX_EPOCH);
    let list = v.get("ports").and_then(|p| p.as_array());
    for p in list.into_iter().flatten() {
        let Some(proto) = p.get("proto").and_then(|x| x.as_str()).and_then(proto_of) else {
            continue;
        };
        let Some(status) = p.get("status").and_then(|x| x.as_str()) else {
            continue; // a banner record
        };
        let port = p
            .get("port")
            .and_then(|x| x.as_u64())
            .and_then(|x| u16::try_from(x).ok())
            .ok_or_else(|| bad(name, format!("{ip}: a port that is not a port number")))?;
        let reason = p.get("reason").and_then(|x| x.as_str()).unwrap_or("");
        let Some((state, reason)) = state_reason(status, reason, proto) else {
            return Err(bad(name, format!("{ip}:{port}: unknown state {status:?}")));
        };
        let ttl = p
            .get("ttl")
            .and_then(|x| x.as_u64())
            .and_then(|x| u8::try_from(x).ok())
            .filter(|t| *t != 0);
        ports.port(
            PortEvent {
                addr,
                port,
                proto,
                state,
                reason,
                rtt: None,
                ttl,
                service: None,
            },
            t,
            name,
        )?;
    }
    Ok(())
}

/// Read `masscan -oJ` output.
pub fn read_masscan_json(
    mut input: impl BufRead,
    name: &str,
    emit: &mut Emit<'_>,
) -> Result<(), StoreError> {
    let mut ports = Ports {
        emit,
        count: PortCounter::default(),
        started: false,
        scanner: "masscan",
    };
    let mut obj: Vec<u8> = Vec::new();
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let mut offset = 0u64;
    loop {
        let avail = input
            .fill_buf()
            .map_err(|e| bad(name, format!("cannot read it: {e}")))?;
        if avail.is_empty() {
            break;
        }
        let n = avail.len();
        let mut from = 0usize;
        for (i, &b) in avail.iter().enumerate() {
            if depth == 0 {
                match b {
                    b'{' => {
                        depth = 1;
                        from = i;
                        obj.clear();
                    }
                    b'[' | b']' | b',' => {}
                    b if b.is_ascii_whitespace() => {}
                    _ => {
                        return Err(bad(
                            name,
                            format!(
                                "byte {}: {:?} between records: not masscan JSON output",
                                offset + i as u64,
                                char::from(b)
                            ),
                        ))
                    }
                }
                continue;
            }
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        obj.extend_from_slice(&avail[from..=i]);
                        if obj.len() > MAX_RECORD {
                            return Err(bad(name, "a record longer than 1 MiB"));
                        }
                        json_object(&obj, name, &mut ports)?;
                        obj.clear();
                    }
                }
                _ => {}
            }
        }
        if depth > 0 {
            obj.extend_from_slice(&avail[from..]);
            if obj.len() > MAX_RECORD {
                return Err(bad(
                    name,
                    "a record longer than 1 MiB: not masscan JSON output",
                ));
            }
        }
        input.consume(n);
        offset += n as u64;
    }
    // An object left open: masscan was stopped while writing; keep what was complete.
    let cut = depth > 0;
    ports.finish(name, cut)
}

/// Read `masscan -oL` output.
pub fn read_masscan_list(
    mut input: impl BufRead,
    name: &str,
    emit: &mut Emit<'_>,
) -> Result<(), StoreError> {
    let mut ports = Ports {
        emit,
        count: PortCounter::default(),
        started: false,
        scanner: "masscan",
    };
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut ended = false;
    while read_line(&mut input, &mut buf, name, line_no + 1)? {
        line_no += 1;
        let line = std::str::from_utf8(&buf)
            .map_err(|_| bad(name, format!("line {line_no}: not UTF-8 text")))?
            .trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            ended |= line.starts_with("# end");
            continue;
        }
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let at = |what: &str| bad(name, format!("line {line_no}: {what}"));
        match f.first().copied() {
            Some("banner") => continue,
            Some("open" | "closed") => {}
            _ => {
                return Err(at(
                    "not a masscan list line (open|closed PROTO PORT ADDR TIME)",
                ))
            }
        }
        if f.len() < 4 {
            return Err(at("too few fields (open|closed PROTO PORT ADDR TIME)"));
        }
        let Some(proto) = proto_of(f[1]) else {
            continue; // icmp, arp: not ports
        };
        let port: u16 = f[2].parse().map_err(|_| at("not a port number"))?;
        let addr: IpAddr = f[3].parse().map_err(|_| at("not an IP address"))?;
        let t = f.get(4).and_then(|s| epoch(s)).unwrap_or(UNIX_EPOCH);
        let Some((state, reason)) = state_reason(f[0], "", proto) else {
            continue;
        };
        ports.port(
            PortEvent {
                addr,
                port,
                proto,
                state,
                reason,
                rtt: None,
                ttl: None,
                service: None,
            },
            t,
            name,
        )?;
    }
    ports.finish(name, !ended)
}
