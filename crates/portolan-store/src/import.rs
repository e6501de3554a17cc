//! Bringing existing results into the store: nmap XML (`-oX`) and Portolan's own JSON Lines.
//!
//! Both stream: nmap XML through a pull parser (`quick-xml`), one `<host>` at a time, so a file
//! of 100,000 hosts costs the memory of one host; JSON Lines one line at a time. Each file
//! becomes one stored scan, written through a [`StoreSink`] in batched transactions as it is
//! read, like a scan that runs.
//!
//! nmap's names map onto Portolan's model: states are the same six; reasons that Portolan
//! does not know (`echo-reply`, `user-set`, ...) become the closest one for the state (open:
//! `syn-ack`, or `udp-response` for UDP; closed: `reset`; others: `no-response`); `<service>`
//! gives name, product, version, extra info, tunnel, method, confidence and its `<cpe>`s;
//! `<script>` outputs are kept in the service's `details` (`{"scripts": [{"id", "output"}]}`).
//! The stored scan's `targets` is nmap's command line (`args`), so two imports of the same
//! command are "the same targets" for `portolan diff`.

use std::io::BufRead;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{
    Cpe, EventSink, ExtraPorts, HostReport, PortEvent, PortState, Protocol, Reason, ScanReport,
    ScanStart, ScanStats, Service, ServiceMethod,
};
use quick_xml::events::{BytesStart, Event};

use crate::{Store, StoreError, StoreSink, Targets};

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
    NmapXml,
    PortolanJsonl,
}

impl ImportFormat {
    /// Guess from the first bytes: `<` is XML, `{` JSON Lines.
    pub fn sniff(head: &[u8]) -> Option<ImportFormat> {
        let t = head
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|i| &head[i..])?;
        let t = t.strip_prefix(b"\xef\xbb\xbf").unwrap_or(t);
        match t.first() {
            Some(b'<') => Some(ImportFormat::NmapXml),
            Some(b'{') => Some(ImportFormat::PortolanJsonl),
            _ => None,
        }
    }
}

fn bad(name: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Input(format!("{name}: {what}"))
}

fn sink_err(name: &str, e: portolan_model::SinkError) -> StoreError {
    StoreError::Unavailable(format!("{name}: cannot store it: {e}"))
}

fn secs(s: &str) -> Option<SystemTime> {
    let v: f64 = s.trim().parse().ok()?;
    Some(UNIX_EPOCH + Duration::try_from_secs_f64(v).ok()?)
}

fn state_of(s: &str) -> Option<PortState> {
    PortState::ALL.into_iter().find(|st| st.as_str() == s)
}

/// nmap's reason for a port, as the closest of Portolan's.
fn reason_of(s: &str, state: PortState, proto: Protocol) -> Reason {
    match s {
        "syn-ack" => Reason::SynAck,
        "conn-refused" => Reason::ConnRefused,
        "reset" => Reason::Reset,
        "no-response" => Reason::NoResponse,
        "host-unreach" | "net-unreach" => Reason::HostUnreach,
        "port-unreach" => Reason::PortUnreach,
        "admin-prohibited" | "host-prohibited" | "net-prohibited" => Reason::AdminProhibited,
        "udp-response" => Reason::UdpResponse,
        _ => match state {
            PortState::Open if proto == Protocol::Udp => Reason::UdpResponse,
            PortState::Open => Reason::SynAck,
            PortState::Closed => Reason::Reset,
            _ => Reason::NoResponse,
        },
    }
}

/// The attributes of a tag, unescaped (a malformed attribute is an error).
fn attrs(e: &BytesStart<'_>, name: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| bad(name, format!("malformed XML attribute: {err}")))?;
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| bad(name, format!("malformed XML attribute value: {err}")))?;
        out.push((
            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
            v.into_owned(),
        ));
    }
    Ok(out)
}

fn get<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
    a.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// A host being read.
struct HostAcc {
    report: HostReport,
    addr_set: bool,
    /// Ports of the host not closed, with their time.
    ports: Vec<PortEvent>,
}

/// The port being read (between `<port>` and `</port>`).
struct PortAcc {
    ev: PortEvent,
    scripts: Vec<serde_json::Value>,
    in_cpe: bool,
    cpe_text: String,
}

/// Import an nmap XML file (`nmap -oX`), read from `input`, as one stored scan. `name` names
/// the input in messages.
pub fn import_nmap_xml(
    store: Store,
    input: impl BufRead,
    name: &str,
) -> Result<Imported, StoreError> {
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut sink: StoreSink = store.sink(Targets::default());
    let mut started = false;
    let mut args = String::new();
    let mut start_time = SystemTime::now();
    let mut end_time: Option<SystemTime> = None;
    let mut version = String::new();
    let (mut scan_type, mut proto, mut ports_spec, mut num_ports) =
        (String::from("connect"), Protocol::Tcp, String::new(), 0u64);
    let mut host: Option<HostAcc> = None;
    let mut port: Option<PortAcc> = None;
    let mut seen_root = false;
    let mut out = Imported {
        scan_id: 0,
        hosts: 0,
        ports: 0,
        open: 0,
    };
    let mut stats = ScanStats::default();
    let mut host_count = 0u64;

    // The scan row is written once the header (nmaprun and scaninfo) is read: at the first
    // host, or at the end.
    let begin = |sink: &mut StoreSink,
                 started: &mut bool,
                 args: &str,
                 start_time: SystemTime,
                 version: &str,
                 scan_type: &str,
                 proto: Protocol,
                 ports_spec: &str,
                 num_ports: u64|
     -> Result<(), StoreError> {
        if *started {
            return Ok(());
        }
        *started = true;
        sink.set_targets(Targets(args.to_string()));
        sink.start(&ScanStart {
            args: args.to_string(),
            num_ports,
            ports: ports_spec.to_string(),
            proto,
            resumed_from: None,
            scan_type: scan_type.to_string(),
            scanner: "nmap".into(),
            seed: 0,
            shard: "0/1".into(),
            targets: 0,
            time: start_time,
            version: version.to_string(),
        })
        .map_err(|e| sink_err(name, e))?;
        Ok(())
    };

    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| bad(name, format!("not well-formed XML: {e}")))?;
        match ev {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(ev, Event::Empty(_));
                let tag = e.local_name();
                let tag = tag.as_ref();
                if !seen_root {
                    if tag != b"nmaprun" {
                        return Err(bad(
                            name,
                            "not an nmap XML file (its root element is not <nmaprun>)",
                        ));
                    }
                    seen_root = true;
                }
                match tag {
                    b"nmaprun" => {
                        let a = attrs(e, name)?;
                        args = get(&a, "args").unwrap_or("nmap").to_string();
                        if let Some(t) = get(&a, "start").and_then(secs) {
                            start_time = t;
                        }
                        version = get(&a, "version").unwrap_or("").to_string();
                    }
                    b"scaninfo" => {
                        let a = attrs(e, name)?;
                        scan_type = get(&a, "type").unwrap_or("connect").to_string();
                        proto = get(&a, "protocol")
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(Protocol::Tcp);
                        ports_spec = get(&a, "services").unwrap_or("").to_string();
                        num_ports = get(&a, "numservices")
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                    }
                    b"host" => {
                        begin(
                            &mut sink,
                            &mut started,
                            &args,
                            start_time,
                            &version,
                            &scan_type,
                            proto,
                            &ports_spec,
                            num_ports,
                        )?;
                        host = Some(HostAcc {
                            report: HostReport {
                                addr: IpAddr::from([0, 0, 0, 0]),
                                hostname: None,
                                up: false,
                                up_reason: None,
                                ports: Vec::new(),
                                extra: Vec::new(),
                                srtt_us: None,
                            },
                            addr_set: false,
                            ports: Vec::new(),
                        });
                    }
                    b"status" if host.is_some() => {
                        let a = attrs(e, name)?;
                        if let Some(h) = host.as_mut() {
                            h.report.up = get(&a, "state") == Some("up");
                        }
                    }
                    b"address" => {
                        let a = attrs(e, name)?;
                        if let (Some(h), Some(t)) = (host.as_mut(), get(&a, "addrtype")) {
                            if (t == "ipv4" || t == "ipv6") && !h.addr_set {
                                let addr = get(&a, "addr").unwrap_or("");
                                h.report.addr = addr.parse().map_err(|_| {
                                    bad(name, format!("{addr:?} is not an IP address"))
                                })?;
                                h.addr_set = true;
                            }
                        }
                    }
                    b"hostname" => {
                        let a = attrs(e, name)?;
                        if let Some(h) = host.as_mut() {
                            if h.report.hostname.is_none() {
                                h.report.hostname = get(&a, "name").map(str::to_string);
                            }
                        }
                    }
                    b"extraports" => {
                        let a = attrs(e, name)?;
                        if let (Some(h), Some(st)) =
                            (host.as_mut(), get(&a, "state").and_then(state_of))
                        {
                            h.report.extra.push(ExtraPorts {
                                state: st,
                                count: get(&a, "count").and_then(|c| c.parse().ok()).unwrap_or(0),
                                reasons: Vec::new(),
                            });
                        }
                    }
                    b"port" if host.is_some() => {
                        let a = attrs(e, name)?;
                        let p: Protocol = get(&a, "protocol")
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(Protocol::Tcp);
                        let portid = get(&a, "portid").unwrap_or("");
                        let n: u16 = portid
                            .parse()
                            .map_err(|_| bad(name, format!("{portid:?} is not a port number")))?;
                        port = Some(PortAcc {
                            ev: PortEvent {
                                addr: IpAddr::from([0, 0, 0, 0]),
                                port: n,
                                proto: p,
                                state: PortState::Filtered,
                                reason: Reason::NoResponse,
                                rtt: None,
                                ttl: None,
                                service: None,
                            },
                            scripts: Vec::new(),
                            in_cpe: false,
                            cpe_text: String::new(),
                        });
                        if is_empty {
                            port = None;
                        }
                    }
                    b"state" => {
                        let a = attrs(e, name)?;
                        if let Some(p) = port.as_mut() {
                            let st = get(&a, "state").unwrap_or("");
                            p.ev.state = state_of(st)
                                .ok_or_else(|| bad(name, format!("unknown port state {st:?}")))?;
                            p.ev.reason =
                                reason_of(get(&a, "reason").unwrap_or(""), p.ev.state, p.ev.proto);
                            p.ev.ttl = get(&a, "reason_ttl")
                                .and_then(|t| t.parse().ok())
                                .filter(|t| *t != 0);
                        }
                    }
                    b"service" => {
                        let a = attrs(e, name)?;
                        if let Some(p) = port.as_mut() {
                            p.ev.service = Some(Service {
                                conf: get(&a, "conf").and_then(|c| c.parse().ok()).unwrap_or(3),
                                method: if get(&a, "method") == Some("probed") {
                                    ServiceMethod::Probed
                                } else {
                                    ServiceMethod::Table
                                },
                                name: get(&a, "name").unwrap_or("").to_string(),
                                product: get(&a, "product").map(str::to_string),
                                version: get(&a, "version").map(str::to_string),
                                extrainfo: get(&a, "extrainfo").map(str::to_string),
                                tunnel: get(&a, "tunnel").map(str::to_string),
                                ..Default::default()
                            });
                        }
                    }
                    b"cpe" if !is_empty => {
                        if let Some(p) = port.as_mut() {
                            p.in_cpe = true;
                            p.cpe_text.clear();
                        }
                    }
                    b"script" => {
                        let a = attrs(e, name)?;
                        if let Some(p) = port.as_mut() {
                            p.scripts.push(serde_json::json!({
                                "id": get(&a, "id").unwrap_or(""),
                                "output": get(&a, "output").unwrap_or(""),
                            }));
                        }
                    }
                    b"times" => {
                        let a = attrs(e, name)?;
                        if let Some(h) = host.as_mut() {
                            h.report.srtt_us = get(&a, "srtt").and_then(|s| s.parse().ok());
                        }
                    }
                    b"finished" => {
                        let a = attrs(e, name)?;
                        end_time = get(&a, "time").and_then(secs);
                        if get(&a, "exit").is_some_and(|x| x != "success") {
                            stats.interrupted = true;
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let Some(p) = port.as_mut().filter(|p| p.in_cpe) {
                    let s = t
                        .decode()
                        .map_err(|e| bad(name, format!("bad text in <cpe>: {e}")))?;
                    p.cpe_text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                if let Some(p) = port.as_mut().filter(|p| p.in_cpe) {
                    let s = r
                        .decode()
                        .map_err(|e| bad(name, format!("bad entity: {e}")))?;
                    p.cpe_text.push_str(match s.as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"cpe" => {
                    if let Some(p) = port.as_mut() {
                        p.in_cpe = false;
                        if let (Some(s), Ok(c)) =
                            (p.ev.service.as_mut(), Cpe::parse(p.cpe_text.trim()))
                        {
                            s.cpe.push(c);
                        }
                    }
                }
                b"port" => {
                    if let (Some(mut p), Some(h)) = (port.take(), host.as_mut()) {
                        if !p.scripts.is_empty() {
                            let s = p.ev.service.get_or_insert_with(Service::default);
                            s.details = Some(serde_json::json!({ "scripts": p.scripts }));
                        }
                        if p.ev.state.proves_host_up() && h.report.up_reason.is_none() {
                            h.report.up_reason = Some(p.ev.reason);
                        }
                        match p.ev.state {
                            PortState::Open => stats.open += 1,
                            PortState::Closed => stats.closed += 1,
                            _ => stats.filtered += 1,
                        }
                        stats.completed += 1;
                        if p.ev.state != PortState::Closed {
                            h.ports.push(p.ev);
                        }
                    }
                }
                b"host" => {
                    if let Some(mut h) = host.take() {
                        if !h.addr_set {
                            return Err(bad(name, "a <host> without an IP <address>"));
                        }
                        host_count += 1;
                        for e in &h.report.extra {
                            stats.completed += e.count;
                            match e.state {
                                PortState::Closed => stats.closed += e.count,
                                PortState::Open => stats.open += e.count,
                                _ => stats.filtered += e.count,
                            }
                        }
                        let now = start_time;
                        for mut ev in h.ports.drain(..) {
                            ev.addr = h.report.addr;
                            out.ports += 1;
                            if ev.state == PortState::Open {
                                out.open += 1;
                            }
                            sink.port(&ev, now).map_err(|e| sink_err(name, e))?;
                        }
                        if h.report.up || !h.report.extra.is_empty() {
                            out.hosts += 1;
                            sink.host(&h.report).map_err(|e| sink_err(name, e))?;
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err(bad(name, "empty: not an nmap XML file"));
    }
    if host.is_some() {
        // A file cut short (nmap killed): keep what was complete, mark it interrupted.
        stats.interrupted = true;
    }
    begin(
        &mut sink,
        &mut started,
        &args,
        start_time,
        &version,
        &scan_type,
        proto,
        &ports_spec,
        num_ports,
    )?;
    stats.planned = stats.completed;
    stats.sent = stats.completed;
    if end_time.is_none() {
        stats.interrupted = true;
    }
    let report = ScanReport {
        scan_type,
        proto,
        args,
        ports_spec,
        num_ports,
        start: start_time,
        end: end_time.unwrap_or(start_time),
        hosts: Vec::new(),
        targets_total: host_count,
        stats,
    };
    sink.finish(&report).map_err(|e| sink_err(name, e))?;
    out.scan_id = sink.scan_id().unwrap_or(0);
    Ok(out)
}

/// Import a Portolan JSON Lines file (`portolan scan -o jsonl=FILE`) as one stored scan.
pub fn import_jsonl(store: Store, input: impl BufRead, name: &str) -> Result<Imported, StoreError> {
    let mut sink: StoreSink = store.sink(Targets::default());
    let mut out = Imported {
        scan_id: 0,
        hosts: 0,
        ports: 0,
        open: 0,
    };
    let mut start: Option<ScanStart> = None;
    let mut end: Option<(SystemTime, ScanStats)> = None;
    let mut hosts = std::collections::BTreeSet::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| bad(name, format!("cannot read it: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: serde_json::Error| bad(name, format!("line {}: {e}", i + 1));
        let v: serde_json::Value = serde_json::from_str(&line).map_err(at)?;
        match v.get("type").and_then(|t| t.as_str()) {
            Some("start") if start.is_none() => {
                let s: ScanStart = serde_json::from_value(v).map_err(at)?;
                // The targets as given are not in the file: the command line stands for them.
                sink.set_targets(Targets(s.args.clone()));
                sink.start(&s).map_err(|e| sink_err(name, e))?;
                start = Some(s);
            }
            Some("port") => {
                let Some(s) = &start else {
                    return Err(bad(
                        name,
                        format!("line {}: a port before the start record", i + 1),
                    ));
                };
                let ev: PortEvent = serde_json::from_value(v).map_err(at)?;
                if ev.state != PortState::Closed {
                    out.ports += 1;
                    if ev.state == PortState::Open {
                        out.open += 1;
                    }
                    hosts.insert(ev.addr);
                    sink.port(&ev, s.time).map_err(|e| sink_err(name, e))?;
                }
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
                end = Some((t, stats));
            }
            // Host summaries, notices: not needed to rebuild the scan.
            _ => {}
        }
    }
    let Some(s) = start else {
        return Err(bad(
            name,
            "no start record: not a Portolan JSON Lines file (portolan scan -o jsonl=FILE)",
        ));
    };
    let (t, stats) = end.unwrap_or((
        s.time,
        ScanStats {
            interrupted: true,
            ..Default::default()
        },
    ));
    out.hosts = hosts.len() as u64;
    let report = ScanReport {
        scan_type: s.scan_type.clone(),
        proto: s.proto,
        args: s.args.clone(),
        ports_spec: s.ports.clone(),
        num_ports: s.num_ports,
        start: s.time,
        end: t,
        hosts: Vec::new(),
        targets_total: s.targets,
        stats,
    };
    sink.finish(&report).map_err(|e| sink_err(name, e))?;
    out.scan_id = sink.scan_id().unwrap_or(0);
    Ok(out)
}
