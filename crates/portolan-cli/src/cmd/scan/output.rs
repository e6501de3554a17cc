//! Renderers for scan results: table, JSON Lines, nmap-compatible XML, grepable, CSV.
//!
//! Every renderer takes a [`ScanReport`] (the result model of `portolan-scan`), whatever probe
//! kind produced it, and prints a port's [`Service`] when present. JSON Lines also streams: one
//! line per port event as it is found ([`jsonl_port`]). Schemas: docs/schema/scan-jsonl.md,
//! docs/schema/scan-csv.md; the XML follows nmap's DTD (nmap.dtd, `xmloutputversion` 1.05).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use portolan_scan::model::{HostReport, PortEvent, ScanReport, Service};
use serde_json::{json, Value};

use crate::term::{escape, Style};

/// The JSON Lines schema version (`"v"` in every line).
pub const JSONL_VERSION: u32 = 1;
/// The CSV schema version (in the header comment-free first row's name: see docs).
pub const CSV_HEADER: &str =
    "host,hostname,port,protocol,state,reason,rtt_us,ttl,service,product,version,extrainfo,cpe,tunnel,method,conf";

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Jsonl,
    Xml,
    Grep,
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "normal" | "txt" => Ok(Format::Table),
            "jsonl" | "json" | "ndjson" => Ok(Format::Jsonl),
            "xml" => Ok(Format::Xml),
            "grep" | "grepable" | "gnmap" => Ok(Format::Grep),
            "csv" => Ok(Format::Csv),
            _ => Err(format!(
                "unknown output format {s:?}: use table, jsonl, xml, grep or csv"
            )),
        }
    }
}

pub fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn epoch_f(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// ctime-style UTC time, as nmap's `startstr`: `Tue Nov 25 09:13:00 2025`.
pub fn ctime(t: SystemTime) -> String {
    let secs = i64::try_from(epoch(t)).unwrap_or(i64::MAX);
    let Ok(d) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return format!("@{secs}");
    };
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = d.weekday().to_string();
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        &wd[..3],
        MO[usize::from(u8::from(d.month())) - 1],
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.year()
    )
}

// ---------------------------------------------------------------- JSON Lines

fn service_json(s: &Service) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// One streamed port event.
pub fn jsonl_port(ev: &PortEvent, now: SystemTime) -> String {
    let mut v = json!({
        "v": JSONL_VERSION,
        "type": "port",
        "time": epoch_f(now),
        "addr": ev.addr.to_string(),
        "port": ev.port,
        "proto": ev.proto.as_str(),
        "state": ev.state.as_str(),
        "reason": ev.reason.as_str(),
        "rtt_us": ev.rtt.map(|d| d.as_micros() as u64),
        "ttl": ev.ttl,
    });
    if let (Some(s), Some(o)) = (&ev.service, v.as_object_mut()) {
        o.insert("service".into(), service_json(s));
    }
    v.to_string()
}

/// The line that opens a JSONL stream.
pub fn jsonl_start(meta: &Value) -> String {
    let mut v = json!({"v": JSONL_VERSION, "type": "start"});
    if let (Some(o), Some(m)) = (v.as_object_mut(), meta.as_object()) {
        for (k, x) in m {
            o.insert(k.clone(), x.clone());
        }
    }
    v.to_string()
}

/// A notice line.
pub fn jsonl_notice(msg: &str, now: SystemTime) -> String {
    json!({"v": JSONL_VERSION, "type": "notice", "time": epoch_f(now), "message": msg}).to_string()
}

/// The closing lines of a JSONL stream: one `host` line per reported host, then `end`.
pub fn jsonl_finish(r: &ScanReport) -> String {
    let mut out = String::new();
    for h in &r.hosts {
        let mut counts = serde_json::Map::new();
        for p in &h.ports {
            let e = counts.entry(p.state.as_str()).or_insert(json!(0));
            *e = json!(e.as_u64().unwrap_or(0) + 1);
        }
        for x in &h.extra {
            let e = counts.entry(x.state.as_str()).or_insert(json!(0));
            *e = json!(e.as_u64().unwrap_or(0) + x.count);
        }
        let v = json!({
            "v": JSONL_VERSION,
            "type": "host",
            "addr": h.addr.to_string(),
            "hostname": h.hostname,
            "up": h.up,
            "up_reason": h.up_reason.map(|x| x.as_str()),
            "open": h.open_ports().map(|p| p.port).collect::<Vec<_>>(),
            "counts": counts,
            "srtt_us": h.srtt_us,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    let s = &r.stats;
    let v = json!({
        "v": JSONL_VERSION,
        "type": "end",
        "time": epoch_f(r.end),
        "elapsed_s": r.elapsed().as_secs_f64(),
        "interrupted": s.interrupted,
        "targets": r.targets_total,
        "hosts_up": r.hosts_up(),
        "planned": s.planned,
        "completed": s.completed,
        "sent": s.sent,
        "retries": s.retries,
        "open": s.open,
        "closed": s.closed,
        "filtered": s.filtered,
    });
    out.push_str(&v.to_string());
    out.push('\n');
    out
}

// ---------------------------------------------------------------- XML

/// Escape text for an XML attribute; characters XML 1.0 cannot carry become `\xNN`.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(o, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

fn xml_service(o: &mut String, s: &Service) {
    let _ = write!(o, "<service name=\"{}\"", xml_escape(&s.name));
    for (k, v) in [
        ("product", &s.product),
        ("version", &s.version),
        ("extrainfo", &s.extrainfo),
        ("tunnel", &s.tunnel),
    ] {
        if let Some(v) = v {
            let _ = write!(o, " {k}=\"{}\"", xml_escape(v));
        }
    }
    let method = match s.method {
        portolan_scan::model::ServiceMethod::Table => "table",
        portolan_scan::model::ServiceMethod::Probed => "probed",
    };
    let _ = write!(o, " method=\"{method}\" conf=\"{}\"", s.conf.min(10));
    if s.cpe.is_empty() {
        o.push_str("/>");
    } else {
        o.push('>');
        for c in &s.cpe {
            let _ = write!(o, "<cpe>{}</cpe>", xml_escape(c.as_str()));
        }
        o.push_str("</service>");
    }
}

fn addrtype(h: &HostReport) -> &'static str {
    if h.addr.is_ipv4() {
        "ipv4"
    } else {
        "ipv6"
    }
}

/// Text for inside an XML comment: no `--` (not allowed there) and nothing XML cannot carry.
fn xml_comment(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '-' && o.ends_with('-') {
            o.push(' ');
        }
        if (c as u32) >= 0x20 || c == '\t' {
            o.push(c);
        }
    }
    if o.ends_with('-') {
        o.push(' ');
    }
    o
}

/// nmap-compatible XML (valid against nmap.dtd).
pub fn xml(r: &ScanReport) -> String {
    let mut o = String::new();
    let start = epoch(r.start);
    let end = epoch(r.end);
    // nmap's header: its DTD only allows scanner="nmap", so the format's name goes there and
    // Portolan says who wrote the file in the comment, as nmap does ("Nmap 7.94 scan initiated
    // ..."). The stylesheet is the one an nmap install ships, for browsers.
    o.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n\
         <?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n",
    );
    let _ = writeln!(
        o,
        "<!-- Portolan {} scan initiated {} as: {} -->",
        env!("CARGO_PKG_VERSION"),
        ctime(r.start),
        xml_comment(&r.args)
    );
    let _ = writeln!(
        o,
        "<nmaprun scanner=\"nmap\" args=\"{}\" start=\"{start}\" startstr=\"{}\" version=\"{}\" xmloutputversion=\"1.05\">",
        xml_escape(&r.args),
        ctime(r.start),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        o,
        "<scaninfo type=\"{}\" protocol=\"{}\" numservices=\"{}\" services=\"{}\"/>",
        xml_escape(&r.scan_type),
        r.proto,
        r.num_ports,
        xml_escape(&r.ports_spec)
    );
    o.push_str("<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n");
    for h in &r.hosts {
        let _ = writeln!(o, "<host starttime=\"{start}\" endtime=\"{end}\">");
        let (state, reason) = if h.up {
            ("up", h.up_reason.map(|x| x.as_str()).unwrap_or("user-set"))
        } else {
            ("down", "no-response")
        };
        let _ = writeln!(
            o,
            "<status state=\"{state}\" reason=\"{reason}\" reason_ttl=\"0\"/>"
        );
        let _ = writeln!(
            o,
            "<address addr=\"{}\" addrtype=\"{}\"/>",
            h.addr,
            addrtype(h)
        );
        match &h.hostname {
            Some(n) => {
                let _ = writeln!(
                    o,
                    "<hostnames>\n<hostname name=\"{}\" type=\"user\"/>\n</hostnames>",
                    xml_escape(n)
                );
            }
            None => o.push_str("<hostnames>\n</hostnames>\n"),
        }
        o.push_str("<ports>");
        for x in &h.extra {
            let _ = writeln!(
                o,
                "<extraports state=\"{}\" count=\"{}\">",
                x.state, x.count
            );
            for (reason, c) in &x.reasons {
                let _ = writeln!(
                    o,
                    "<extrareasons reason=\"{reason}\" count=\"{c}\" proto=\"{}\"/>",
                    r.proto
                );
            }
            o.push_str("</extraports>\n");
        }
        for p in &h.ports {
            let _ = write!(
                o,
                "<port protocol=\"{}\" portid=\"{}\"><state state=\"{}\" reason=\"{}\" reason_ttl=\"{}\"/>",
                p.proto,
                p.port,
                p.state,
                p.reason,
                p.ttl.unwrap_or(0)
            );
            if let Some(s) = &p.service {
                xml_service(&mut o, s);
                // Exposures as NSE-style script results, which nmap tools already show.
                for e in &s.exposures {
                    let _ = write!(
                        o,
                        "<script id=\"portolan-{}\" output=\"{}\"/>",
                        xml_escape(&e.id),
                        xml_escape(&format!("{} ({}): {}", e.title, e.severity, e.evidence))
                    );
                }
            }
            o.push_str("</port>\n");
        }
        o.push_str("</ports>\n");
        if let Some(srtt) = h.srtt_us {
            let _ = writeln!(
                o,
                "<times srtt=\"{srtt}\" rttvar=\"{}\" to=\"{}\"/>",
                srtt / 2,
                (srtt * 3).max(100_000)
            );
        }
        o.push_str("</host>\n");
    }
    let up = r.hosts_up();
    let total = r.targets_total.max(up);
    let elapsed = r.elapsed().as_secs_f64();
    let summary = format!(
        "Portolan done at {}; {} IP address{} ({} host{} up) scanned in {:.2} seconds",
        ctime(r.end),
        total,
        if total == 1 { "" } else { "es" },
        up,
        if up == 1 { "" } else { "s" },
        elapsed
    );
    let exit = if r.stats.interrupted {
        " exit=\"error\" errormsg=\"interrupted\""
    } else {
        " exit=\"success\""
    };
    let _ = writeln!(
        o,
        "<runstats><finished time=\"{end}\" timestr=\"{}\" summary=\"{}\" elapsed=\"{elapsed:.2}\"{exit}/><hosts up=\"{up}\" down=\"{}\" total=\"{total}\"/>\n</runstats>\n</nmaprun>",
        ctime(r.end),
        xml_escape(&summary),
        total - up,
    );
    o
}

// ---------------------------------------------------------------- grepable

fn grep_field(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '/' => '|',
            ',' => ';',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// nmap-style grepable output.
pub fn grep(r: &ScanReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Portolan {} scan initiated {} as: {}",
        env!("CARGO_PKG_VERSION"),
        ctime(r.start),
        r.args
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
    );
    for h in &r.hosts {
        let name = h.hostname.as_deref().map(grep_field).unwrap_or_default();
        let _ = writeln!(
            o,
            "Host: {} ({name})\tStatus: {}",
            h.addr,
            if h.up { "Up" } else { "Down" }
        );
        let ports: Vec<String> = h
            .ports
            .iter()
            .map(|p| {
                let s = p.service.as_ref();
                let name = s.map(|s| grep_field(&s.name)).unwrap_or_default();
                let ver = s
                    .map(|s| {
                        [&s.product, &s.version, &s.extrainfo]
                            .iter()
                            .filter_map(|x| x.as_deref())
                            .map(grep_field)
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                format!("{}/{}/{}//{name}//{ver}/", p.port, p.state, p.proto)
            })
            .collect();
        let mut line = format!("Host: {} ({name})\tPorts: {}", h.addr, ports.join(", "));
        if let Some(x) = h.extra.iter().max_by_key(|x| x.count) {
            let _ = write!(line, "\tIgnored State: {} ({})", x.state, x.count);
        }
        if !h.ports.is_empty() || !h.extra.is_empty() {
            let _ = writeln!(o, "{line}");
        }
    }
    let up = r.hosts_up();
    let _ = writeln!(
        o,
        "# Portolan done at {} -- {} IP address{} ({} host{} up) scanned in {:.2} seconds",
        ctime(r.end),
        r.targets_total,
        if r.targets_total == 1 { "" } else { "es" },
        up,
        if up == 1 { "" } else { "s" },
        r.elapsed().as_secs_f64()
    );
    o
}

// ---------------------------------------------------------------- CSV

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV, one row per listed port (RFC 4180 quoting).
pub fn csv(r: &ScanReport) -> String {
    let mut o = String::from(CSV_HEADER);
    o.push_str("\r\n");
    for h in &r.hosts {
        for p in &h.ports {
            let s = p.service.as_ref();
            let opt = |f: fn(&Service) -> &Option<String>| {
                s.and_then(|s| f(s).as_deref())
                    .map(csv_field)
                    .unwrap_or_default()
            };
            let row = [
                h.addr.to_string(),
                csv_field(h.hostname.as_deref().unwrap_or("")),
                p.port.to_string(),
                p.proto.to_string(),
                p.state.to_string(),
                p.reason.to_string(),
                p.rtt.map(|d| d.as_micros().to_string()).unwrap_or_default(),
                p.ttl.map(|t| t.to_string()).unwrap_or_default(),
                csv_field(s.map(|s| s.name.as_str()).unwrap_or("")),
                opt(|s| &s.product),
                opt(|s| &s.version),
                opt(|s| &s.extrainfo),
                csv_field(
                    &s.map(|s| {
                        s.cpe
                            .iter()
                            .map(|c| c.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default(),
                ),
                opt(|s| &s.tunnel),
                s.map(|s| match s.method {
                    portolan_scan::model::ServiceMethod::Table => "table",
                    portolan_scan::model::ServiceMethod::Probed => "probed",
                })
                .unwrap_or("")
                .to_string(),
                s.map(|s| s.conf.to_string()).unwrap_or_default(),
            ];
            o.push_str(&row.join(","));
            o.push_str("\r\n");
        }
    }
    o
}

// ---------------------------------------------------------------- table

/// The human table (escaped: hostnames and service text may come from the network).
pub fn table(r: &ScanReport, style: Style, only_open: bool) -> String {
    let mut o = String::new();
    for h in &r.hosts {
        if only_open && h.open_ports().next().is_none() {
            continue;
        }
        let name = h
            .hostname
            .as_deref()
            .map(|n| format!(" ({})", escape(n)))
            .unwrap_or_default();
        let _ = writeln!(o, "{}", style.bold(&format!("{}{name}", h.addr)));
        if h.up {
            let lat = h
                .srtt_us
                .map(|s| format!(" ({:.4}s latency)", s as f64 / 1e6))
                .unwrap_or_default();
            let _ = writeln!(o, "  host is up{lat}");
        } else {
            let _ = writeln!(o, "  no answer");
        }
        for x in &h.extra {
            let reasons: Vec<String> = x.reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
            let _ = writeln!(
                o,
                "  {}",
                style.dim(&format!(
                    "not shown: {} {} {} ports ({})",
                    x.count,
                    x.state,
                    r.proto,
                    reasons.join(", ")
                ))
            );
        }
        let rows: Vec<&PortEvent> = h
            .ports
            .iter()
            .filter(|p| !only_open || p.state == portolan_scan::PortState::Open)
            .collect();
        if !rows.is_empty() {
            let _ = writeln!(
                o,
                "  {}",
                style.bold(&format!(
                    "{:<11} {:<14} {:<16} {:<13} {}",
                    "PORT", "STATE", "SERVICE", "REASON", "VERSION"
                ))
            );
        }
        for p in rows {
            let state = format!("{:<14}", p.state.as_str());
            let state = match p.state {
                portolan_scan::PortState::Open => style.green(&state),
                portolan_scan::PortState::Closed => style.dim(&state),
                _ => style.yellow(&state),
            };
            let (svc, ver) = match &p.service {
                Some(s) => (
                    escape(&s.name),
                    escape(
                        &[&s.product, &s.version, &s.extrainfo]
                            .iter()
                            .filter_map(|x| x.as_deref())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                ),
                None => (String::new(), String::new()),
            };
            let _ = writeln!(
                o,
                "  {:<11} {state} {:<16} {:<13} {ver}",
                format!("{}/{}", p.port, p.proto),
                svc,
                p.reason.as_str()
            );
            for e in p.service.iter().flat_map(|s| s.exposures.iter()) {
                let sev = e.severity.as_str().to_uppercase();
                let sev = if sev == "HIGH" || sev == "CRITICAL" {
                    style.red(&sev)
                } else {
                    style.yellow(&sev)
                };
                let _ = writeln!(
                    o,
                    "  {:<11} ! {sev} {}: {}",
                    "",
                    escape(&e.title),
                    escape(&e.evidence)
                );
            }
        }
        o.push('\n');
    }
    let s = &r.stats;
    let secs = r.elapsed().as_secs_f64();
    let _ = writeln!(
        o,
        "{} address{} scanned ({} up), {} probes in {:.2}s ({:.0}/s): {} open, {} closed, {} filtered{}",
        r.targets_total,
        if r.targets_total == 1 { "" } else { "es" },
        r.hosts_up(),
        s.completed,
        secs,
        if secs > 0.0 { s.completed as f64 / secs } else { 0.0 },
        s.open,
        s.closed,
        s.filtered,
        if s.interrupted { " — INTERRUPTED" } else { "" }
    );
    o
}

/// Write `text` to `w`.
pub fn write_all(w: &mut dyn Write, text: &str) -> io::Result<()> {
    w.write_all(text.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_known() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_764_061_980);
        assert_eq!(ctime(t), "Tue Nov 25 09:13:00 2025");
        assert_eq!(ctime(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn escapes() {
        assert_eq!(xml_escape("a<\"b\x01"), "a&lt;&quot;b\\x01");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(grep_field("a/b,c"), "a|b;c");
    }
}
