//! JSON Lines records (docs/schema/scan-jsonl.md), written from these typed structs.
//!
//! Every record carries `"schema_version"` (the output convention's version field) and the
//! older `"v"` (kept for existing readers), both [`SCHEMA_VERSION`], and a `"type"`: `start`,
//! `port`, `notice`, `host` or `end`. Fields are declared in alphabetical order: the records
//! have always listed their keys so.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use portolan_model::epoch_secs::secs;
use portolan_model::{
    HostReport, PortEvent, PortKey, Protocol, Reason, ScanReport, ScanStart, Service,
};
use serde::{Deserialize, Serialize};

/// The JSON Lines schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// The first record: what the scan is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartRecord {
    pub args: String,
    pub num_ports: u64,
    pub ports: String,
    pub proto: Protocol,
    pub resumed_from: Option<u64>,
    pub scan_type: String,
    pub scanner: String,
    pub schema_version: u32,
    pub seed: u64,
    pub shard: String,
    pub targets: u64,
    pub time: f64,
    #[serde(rename = "type")]
    pub kind: String,
    pub v: u32,
    pub version: String,
}

impl StartRecord {
    pub fn new(s: &ScanStart) -> StartRecord {
        StartRecord {
            args: s.args.clone(),
            num_ports: s.num_ports,
            ports: s.ports.clone(),
            proto: s.proto,
            resumed_from: s.resumed_from,
            scan_type: s.scan_type.clone(),
            scanner: s.scanner.clone(),
            schema_version: SCHEMA_VERSION,
            seed: s.seed,
            shard: s.shard.clone(),
            targets: s.targets,
            time: secs(s.time),
            kind: "start".into(),
            v: SCHEMA_VERSION,
            version: s.version.clone(),
        }
    }
}

/// One port reached its final state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortRecord {
    pub addr: IpAddr,
    pub port: u16,
    pub proto: Protocol,
    pub reason: Reason,
    pub rtt_us: Option<u64>,
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    pub state: portolan_model::PortState,
    pub time: f64,
    pub ttl: Option<u8>,
    #[serde(rename = "type")]
    pub kind: String,
    pub v: u32,
    /// `scan --vulns`: the known vulnerabilities of the detected version (docs/vulns.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vulns: Vec<serde_json::Value>,
}

impl PortRecord {
    pub fn new(ev: &PortEvent, time: SystemTime) -> PortRecord {
        PortRecord {
            addr: ev.addr,
            port: ev.port,
            proto: ev.proto,
            reason: ev.reason,
            rtt_us: ev.rtt.map(|d| d.as_micros() as u64),
            schema_version: SCHEMA_VERSION,
            service: ev.service.clone(),
            state: ev.state,
            time: secs(time),
            ttl: ev.ttl,
            kind: "port".into(),
            v: SCHEMA_VERSION,
            vulns: ev
                .service
                .iter()
                .flat_map(|s| &s.scripts)
                .filter(|x| x.id == portolan_model::VULNS_SCRIPT)
                .flat_map(|x| x.records.iter().cloned())
                .collect(),
        }
    }
}

/// Something the user should know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoticeRecord {
    pub message: String,
    pub schema_version: u32,
    pub time: f64,
    #[serde(rename = "type")]
    pub kind: String,
    pub v: u32,
}

impl NoticeRecord {
    pub fn new(message: &str, time: SystemTime) -> NoticeRecord {
        NoticeRecord {
            message: message.into(),
            schema_version: SCHEMA_VERSION,
            time: secs(time),
            kind: "notice".into(),
            v: SCHEMA_VERSION,
        }
    }
}

/// One reported host, after the scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    pub addr: IpAddr,
    /// Ports by state (listed and folded).
    pub counts: BTreeMap<String, u64>,
    pub hostname: Option<String>,
    pub open: Vec<u16>,
    pub schema_version: u32,
    pub srtt_us: Option<u64>,
    #[serde(rename = "type")]
    pub kind: String,
    pub up: bool,
    pub up_reason: Option<Reason>,
    pub v: u32,
}

impl HostRecord {
    pub fn new(h: &HostReport) -> HostRecord {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for p in &h.ports {
            *counts.entry(p.state.as_str().into()).or_default() += 1;
        }
        for x in &h.extra {
            *counts.entry(x.state.as_str().into()).or_default() += x.count;
        }
        HostRecord {
            addr: h.addr,
            counts,
            hostname: h.hostname.clone(),
            open: h.open_ports().map(|p| p.port).collect(),
            schema_version: SCHEMA_VERSION,
            srtt_us: h.srtt_us,
            kind: "host".into(),
            up: h.up,
            up_reason: h.up_reason,
            v: SCHEMA_VERSION,
        }
    }
}

/// The last record: totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndRecord {
    pub closed: u64,
    pub completed: u64,
    pub elapsed_s: f64,
    pub filtered: u64,
    /// How hosts were found up before the ports were scanned (the probes, `connect:80,443`,
    /// `localhost`); absent when discovery did not run (`-Pn`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host_discovery: String,
    pub hosts_up: u64,
    pub interrupted: bool,
    pub open: u64,
    pub planned: u64,
    pub retries: u64,
    pub schema_version: u32,
    pub sent: u64,
    pub targets: u64,
    pub time: f64,
    #[serde(rename = "type")]
    pub kind: String,
    pub v: u32,
}

impl EndRecord {
    pub fn new(r: &ScanReport) -> EndRecord {
        let s = &r.stats;
        EndRecord {
            closed: s.closed,
            completed: s.completed,
            elapsed_s: r.elapsed().as_secs_f64(),
            filtered: s.filtered,
            host_discovery: r.host_discovery.clone(),
            hosts_up: r.hosts_up(),
            interrupted: s.interrupted,
            open: s.open,
            planned: s.planned,
            retries: s.retries,
            schema_version: SCHEMA_VERSION,
            sent: s.sent,
            targets: r.targets_total,
            time: secs(r.end),
            kind: "end".into(),
            v: SCHEMA_VERSION,
        }
    }
}

/// One record as a line (without the newline).
pub fn line<T: Serialize>(record: &T) -> String {
    // The records hold only strings, numbers, addresses and maps with string keys: they
    // always serialise.
    serde_json::to_string(record).unwrap_or_default()
}

/// The closing lines of a stream: one `host` line per reported host, then `end`.
pub fn finish_lines(r: &ScanReport) -> String {
    let mut out = String::new();
    for h in &r.hosts {
        out.push_str(&line(&HostRecord::new(h)));
        out.push('\n');
    }
    out.push_str(&line(&EndRecord::new(r)));
    out.push('\n');
    out
}

/// The ports an existing JSON Lines file already holds (a resumed scan appends to it and must
/// not write them again). Lines that are not port records are skipped; a missing file holds
/// none.
pub fn existing_ports(
    path: &std::path::Path,
) -> std::io::Result<std::collections::HashSet<PortKey>> {
    use std::io::BufRead;
    #[derive(Deserialize)]
    struct Key {
        #[serde(rename = "type")]
        kind: String,
        addr: Option<IpAddr>,
        proto: Option<Protocol>,
        port: Option<u16>,
    }
    let mut out = std::collections::HashSet::new();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        if let Ok(Key {
            kind,
            addr: Some(addr),
            proto: Some(proto),
            port: Some(port),
        }) = serde_json::from_str::<Key>(&line)
        {
            if kind == "port" {
                out.insert(PortKey { addr, proto, port });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A resumed scan reads back whatever is in the file it appends to: any bytes, no panic,
        /// and only well-formed port records count.
        #[test]
        fn existing_ports_reads_any_file(lines in proptest::collection::vec("\\PC{0,60}", 0..20)) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("o.jsonl");
            let mut text = lines.join("\n");
            text.push_str("\n{\"type\":\"port\",\"addr\":\"192.0.2.1\",\"proto\":\"tcp\",\"port\":22}\n");
            std::fs::write(&p, text).unwrap();
            let got = existing_ports(&p).unwrap();
            let want = PortKey {
                addr: "192.0.2.1".parse().unwrap(),
                proto: Protocol::Tcp,
                port: 22,
            };
            prop_assert!(got.contains(&want));
        }
    }

    #[test]
    fn records_carry_both_version_fields() {
        let r = NoticeRecord::new("x", std::time::UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&line(&r)).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["v"], 1);
        assert_eq!(v["type"], "notice");
    }
}
