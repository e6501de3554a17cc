//! The whole-report renderers: the human table, nmap-compatible XML (nmap.dtd,
//! `xmloutputversion` 1.05), nmap's grepable format and CSV (docs/schema/scan-csv.md).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use portolan_model::{
    HostReport, PortEvent, PortState, ScanReport, Script, ScriptElem, Service, ServiceMethod,
    VULNS_SCRIPT,
};

use crate::escape;

/// The CSV header row.
pub const CSV_HEADER: &str =
    "host,hostname,port,protocol,state,reason,rtt_us,ttl,service,product,version,extrainfo,cpe,tunnel,method,conf,vulns,host_reason,host_discovery";

/// Terminal styling for the table (the CLI's colour choice implements it).
pub trait Paint {
    fn bold(&self, s: &str) -> String;
    fn dim(&self, s: &str) -> String;
    fn red(&self, s: &str) -> String;
    fn yellow(&self, s: &str) -> String;
    fn green(&self, s: &str) -> String;
}

/// No styling.
impl Paint for () {
    fn bold(&self, s: &str) -> String {
        s.into()
    }
    fn dim(&self, s: &str) -> String {
        s.into()
    }
    fn red(&self, s: &str) -> String {
        s.into()
    }
    fn yellow(&self, s: &str) -> String {
        s.into()
    }
    fn green(&self, s: &str) -> String {
        s.into()
    }
}

fn method_str(m: ServiceMethod) -> &'static str {
    match m {
        ServiceMethod::Table => "table",
        ServiceMethod::Probed => "probed",
    }
}

/// Seconds since the Unix epoch.
pub fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

/// The CVE ids of a service's `portolan-vulns` script (`scan --vulns`), in its order.
pub fn vuln_ids(s: &Service) -> Vec<&str> {
    s.scripts
        .iter()
        .filter(|x| x.id == VULNS_SCRIPT)
        .flat_map(|x| &x.records)
        .filter_map(|r| r.get("cve").and_then(|c| c.as_str()))
        .collect()
}

fn xml_elems(o: &mut String, elems: &[ScriptElem]) {
    let key = |k: &Option<String>| {
        k.as_deref()
            .map(|k| format!(" key=\"{}\"", xml_escape(k)))
            .unwrap_or_default()
    };
    for e in elems {
        match e {
            ScriptElem::Elem { key: k, value } => {
                let _ = write!(o, "<elem{}>{}</elem>", key(k), xml_escape(value));
            }
            ScriptElem::Table { key: k, elems } => {
                let _ = write!(o, "<table{}>", key(k));
                xml_elems(o, elems);
                o.push_str("</table>");
            }
        }
    }
}

/// One NSE-style `<script id=.. output=..>` element with its `<table>`/`<elem>` children.
fn xml_script(o: &mut String, x: &Script) {
    let _ = write!(
        o,
        "<script id=\"{}\" output=\"{}\"",
        xml_escape(&x.id),
        xml_escape(&x.output)
    );
    if x.elems.is_empty() {
        o.push_str("/>");
    } else {
        o.push('>');
        xml_elems(o, &x.elems);
        o.push_str("</script>");
    }
}

/// The unrecognised-service fingerprint service detection left in `details`, if any.
fn service_fingerprint(s: &Service) -> Option<&str> {
    s.details.as_ref()?.get("fingerprint")?.as_str()
}

/// The SERVICE column: `ssl/http`, and `http?` for a name service detection could not confirm
/// and took from the port table (nmap's convention). Without -sV (no `details`) every name is
/// from the table and shown bare, as nmap does.
pub fn service_column(s: &Service) -> String {
    let guess = s.method == ServiceMethod::Table && s.details.is_some() && s.name != "unknown";
    let mut out = String::new();
    if let Some(t) = &s.tunnel {
        out.push_str(t);
        out.push('/');
    }
    out.push_str(&s.name);
    if guess {
        out.push('?');
    }
    out
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
    let method = method_str(s.method);
    let _ = write!(o, " method=\"{method}\" conf=\"{}\"", s.conf.min(10));
    // An answer no rule recognised: nmap's `servicefp` (already printable ASCII).
    if let Some(fp) = service_fingerprint(s) {
        let _ = write!(o, " servicefp=\"{}\"", xml_escape(fp));
    }
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
    // A host-discovery-only scan (-sn) probes no port: nmap writes no <scaninfo> for it.
    if r.num_ports > 0 {
        let _ = writeln!(
            o,
            "<scaninfo type=\"{}\" protocol=\"{}\" numservices=\"{}\" services=\"{}\"/>",
            xml_escape(&r.scan_type),
            r.proto,
            r.num_ports,
            xml_escape(&r.ports_spec)
        );
    }
    o.push_str("<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n");
    // Host discovery, as nmap -v records its ping scan: which probes ran and how many hosts
    // were found up (each host's reason is in its <status>; hosts found down are counted in
    // <runstats>, not listed).
    if !r.host_discovery.is_empty() {
        let _ = writeln!(
            o,
            "<taskbegin task=\"Ping Scan\" time=\"{start}\"/>\n<taskend task=\"Ping Scan\" time=\"{start}\" extrainfo=\"host discovery: {}; {} of {} hosts up\"/>",
            xml_escape(&r.host_discovery),
            r.hosts_up(),
            r.targets_total.max(r.hosts_up())
        );
    }
    for h in &r.hosts {
        let _ = writeln!(o, "<host starttime=\"{start}\" endtime=\"{end}\">");
        let (state, reason) = if h.up {
            ("up", h.up_reason.map(|x| x.as_str()).unwrap_or("user-set"))
        } else {
            ("down", "no-response")
        };
        // The TTL / hop limit of the answer that proved the host up (0 when none was read).
        let ttl = if h.up { h.up_ttl.unwrap_or(0) } else { 0 };
        let _ = writeln!(
            o,
            "<status state=\"{state}\" reason=\"{reason}\" reason_ttl=\"{ttl}\"/>"
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
                for x in &s.scripts {
                    xml_script(&mut o, x);
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
    if !r.host_discovery.is_empty() {
        let _ = writeln!(o, "# Host discovery: {}", grep_field(&r.host_discovery));
    }
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
        // `scan --vulns`: the CVEs of each port (a field nmap's grepable parsers skip).
        let vulns: Vec<String> = h
            .ports
            .iter()
            .filter_map(|p| {
                let ids = vuln_ids(p.service.as_ref()?);
                let ids: Vec<String> = ids.into_iter().map(grep_field).collect();
                (!ids.is_empty()).then(|| format!("{}/{}: {}", p.port, p.proto, ids.join(" ")))
            })
            .collect();
        if !vulns.is_empty() {
            let _ = write!(line, "\tVulns: {}", vulns.join("; "));
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

/// One CSV cell (RFC 4180 quoting) of text that may come from outside: a cell that a
/// spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a
/// leading `'` first (OWASP's CSV-injection defence), so `=HYPERLINK(...)` stays text.
pub fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        return csv_quote(&format!("'{s}"));
    }
    csv_quote(s)
}

fn csv_quote(s: &str) -> String {
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
                    .map(csv_cell)
                    .unwrap_or_default()
            };
            let row = [
                h.addr.to_string(),
                csv_cell(h.hostname.as_deref().unwrap_or("")),
                p.port.to_string(),
                p.proto.to_string(),
                p.state.to_string(),
                p.reason.to_string(),
                p.rtt.map(|d| d.as_micros().to_string()).unwrap_or_default(),
                p.ttl.map(|t| t.to_string()).unwrap_or_default(),
                csv_cell(s.map(|s| s.name.as_str()).unwrap_or("")),
                opt(|s| &s.product),
                opt(|s| &s.version),
                opt(|s| &s.extrainfo),
                csv_cell(
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
                s.map(|s| method_str(s.method)).unwrap_or("").to_string(),
                s.map(|s| s.conf.to_string()).unwrap_or_default(),
                csv_cell(&s.map(|s| vuln_ids(s).join(" ")).unwrap_or_default()),
                h.up_reason.map(|r| r.to_string()).unwrap_or_default(),
                csv_cell(&r.host_discovery),
            ];
            o.push_str(&row.join(","));
            o.push_str("\r\n");
        }
    }
    o
}

// ---------------------------------------------------------------- table

/// The human table (escaped: hostnames and service text may come from the network).
pub fn table(r: &ScanReport, style: &dyn Paint, only_open: bool) -> String {
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
            let why = h.up_reason.map(|r| format!(", {r}")).unwrap_or_default();
            let _ = writeln!(o, "  host is up{why}{lat}");
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
            .filter(|p| !only_open || p.state == PortState::Open)
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
                PortState::Open => style.green(&state),
                PortState::Closed => style.dim(&state),
                _ => style.yellow(&state),
            };
            let (svc, ver) = match &p.service {
                Some(s) => (
                    escape(&service_column(s)),
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
            // Script results under the port, as nmap prints them (`| id:` then the lines).
            for x in p.service.iter().flat_map(|s| s.scripts.iter()) {
                let _ = writeln!(o, "  {:<11} | {}:", "", escape(&x.id));
                for l in x.output.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = writeln!(o, "  {:<11} |   {}", "", escape(l.trim_end()));
                }
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
    if !r.host_discovery.is_empty() {
        let up = r.hosts_up();
        let _ = writeln!(
            o,
            "host discovery: {} ({} up, {} down)",
            escape(&r.host_discovery),
            up,
            r.targets_total.saturating_sub(up)
        );
    }
    o
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
    fn table_guesses_are_marked_and_fingerprints_reach_the_xml() {
        let guess = Service {
            name: "http".into(),
            method: ServiceMethod::Table,
            conf: 3,
            details: Some(serde_json::json!({"banner": null})),
            ..Default::default()
        };
        assert_eq!(service_column(&guess), "http?");
        let plain = Service {
            details: None,
            ..guess.clone()
        };
        assert_eq!(
            service_column(&plain),
            "http",
            "no -sV: table names bare, as nmap"
        );
        let probed = Service {
            name: "http".into(),
            method: ServiceMethod::Probed,
            conf: 10,
            tunnel: Some("ssl".into()),
            details: Some(serde_json::json!({})),
            ..Default::default()
        };
        assert_eq!(service_column(&probed), "ssl/http");
        let unknown = Service {
            name: "unknown".into(),
            method: ServiceMethod::Table,
            conf: 0,
            details: Some(serde_json::json!({"fingerprint": "null:\"220 x\\r\\n\""})),
            ..Default::default()
        };
        assert_eq!(service_column(&unknown), "unknown");
        let mut o = String::new();
        xml_service(&mut o, &unknown);
        assert_eq!(
            o,
            r#"<service name="unknown" method="table" conf="0" servicefp="null:&quot;220 x\r\n&quot;"/>"#
        );
        let mut o = String::new();
        xml_service(&mut o, &guess);
        assert_eq!(o, r#"<service name="http" method="table" conf="3"/>"#);
    }

    #[test]
    fn escapes() {
        assert_eq!(xml_escape("a<\"b\x01"), "a&lt;&quot;b\\x01");
        assert_eq!(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(grep_field("a/b,c"), "a|b;c");
    }
}

#[cfg(test)]
mod csv_injection {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        for bad in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            let c = csv_cell(bad);
            let inner = c.trim_start_matches('"');
            assert!(inner.starts_with('\''), "{bad:?} -> {c:?}");
        }
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("=a,b"), "\"'=a,b\"");
        assert_eq!(csv_cell("OpenSSH"), "OpenSSH");
    }
}
