//! The nmap XML (`-oX`) reader: a pull parser (`quick-xml`) over a reused buffer, one `<host>`
//! at a time.

use std::borrow::Cow;
use std::io::BufRead;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portolan_model::{
    Cpe, ExtraPorts, HostReport, PortEvent, PortState, Protocol, Reason, ScanStart, ScanStats,
    Service, ServiceMethod,
};
use quick_xml::events::{BytesStart, Event};

use super::{bad, Emit, Record};
use crate::StoreError;

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

/// The attributes of a tag: names and values borrowed from the reader's buffer (a value is
/// copied only when it holds an entity to unescape). A malformed attribute is an error.
type Attrs<'a> = Vec<(&'a [u8], Cow<'a, str>)>;

fn attrs<'a>(e: &'a BytesStart<'_>, name: &str) -> Result<Attrs<'a>, StoreError> {
    let mut out = Vec::with_capacity(8);
    for a in e.attributes() {
        let a = a.map_err(|err| bad(name, format!("malformed XML attribute: {err}")))?;
        let v = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| bad(name, format!("malformed XML attribute value: {err}")))?;
        out.push((a.key.local_name().into_inner(), v));
    }
    Ok(out)
}

fn get<'a>(a: &'a [(&[u8], Cow<'_, str>)], k: &str) -> Option<&'a str> {
    a.iter()
        .find(|(n, _)| *n == k.as_bytes())
        .map(|(_, v)| v.as_ref())
}

/// A host being read.
struct HostAcc {
    report: HostReport,
    addr_set: bool,
    /// The ports listed for the host.
    ports: Vec<PortEvent>,
}

/// The port being read (between `<port>` and `</port>`).
struct PortAcc {
    ev: PortEvent,
    scripts: Vec<serde_json::Value>,
    in_cpe: bool,
    cpe_text: String,
}

/// Read an nmap XML file (`nmap -oX`) from `input`: a [`Record::Start`] once the header
/// (`<nmaprun>`, `<scaninfo>`) is read, a [`Record::Host`] per complete `<host>`, then a
/// [`Record::End`]. `name` names the input in messages.
pub fn read_nmap_xml(
    input: impl BufRead,
    name: &str,
    emit: &mut Emit<'_>,
) -> Result<(), StoreError> {
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
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
    let mut stats = ScanStats::default();
    let mut host_count = 0u64;

    // The start record is emitted once the header (nmaprun and scaninfo) is read: at the
    // first host, or at the end.
    let begin = |emit: &mut Emit<'_>,
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
        emit(Record::Start(ScanStart {
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
        }))
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
                            emit,
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
                                up_ttl: None,
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
                        h.ports.push(p.ev);
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
                        for ev in &mut h.ports {
                            ev.addr = h.report.addr;
                        }
                        h.report.ports = std::mem::take(&mut h.ports);
                        emit(Record::Host(h.report))?;
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
        emit,
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
    emit(Record::End {
        time: end_time.unwrap_or(start_time),
        stats,
        targets: host_count,
    })
}
