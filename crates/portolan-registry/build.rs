//! Compiles the IANA registry CSV and the risk knowledge into Rust statics, so that the binary
//! does no parsing at run time and a broken data file fails the build, not the user.

#[path = "src/iana.rs"]
#[allow(dead_code)]
mod iana;

use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(serde::Deserialize)]
struct RiskFile {
    risk: Vec<RiskIn>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RiskIn {
    id: String,
    name: String,
    ports: Vec<String>,
    severity: String,
    category: String,
    why: String,
    remediation: String,
    sources: Vec<String>,
}

fn fail(msg: String) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}

fn main() {
    println!("cargo:rerun-if-changed=data/service-names-port-numbers.csv");
    println!("cargo:rerun-if-changed=data/risks.toml");
    println!("cargo:rerun-if-changed=src/iana.rs");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| fail("OUT_DIR unset".into())));

    let csv = std::fs::read_to_string("data/service-names-port-numbers.csv")
        .unwrap_or_else(|e| fail(format!("data/service-names-port-numbers.csv: {e}")));
    let recs = iana::parse(&csv).unwrap_or_else(|e| fail(format!("IANA CSV: {e}")));
    iana::validate(&recs).unwrap_or_else(|e| fail(format!("IANA CSV: {e}")));
    let packed = iana::pack(&recs);
    std::fs::write(out.join("registry_blob.txt"), &packed.blob)
        .unwrap_or_else(|e| fail(format!("write blob: {e}")));

    let mut s = String::new();
    let _ = writeln!(
        s,
        "pub(crate) static BLOB: &str = include_str!(concat!(env!(\"OUT_DIR\"), \"/registry_blob.txt\"));"
    );
    let _ = writeln!(
        s,
        "pub(crate) static RECORDS: [PackedRecord; {}] = [",
        packed.records.len()
    );
    for r in &packed.records {
        let _ = write!(s, "PackedRecord{{text:[");
        for (a, b) in r.text {
            let _ = write!(s, "({a},{b}),");
        }
        let _ = writeln!(
            s,
            "],port_lo:{},port_hi:{},has_port:{},proto:{},kind:{}}},",
            r.port_lo, r.port_hi, r.has_port, r.proto, r.kind
        );
    }
    let _ = writeln!(s, "];");
    for (name, v) in [
        ("BY_PORT", &packed.by_port),
        ("RANGES", &packed.ranges),
        ("BY_NAME", &packed.by_name),
    ] {
        let _ = writeln!(s, "pub(crate) static {name}: [u32; {}] = {:?};", v.len(), v);
    }
    let _ = writeln!(
        s,
        "pub(crate) static RANGES_MAX_HI: [u16; {}] = {:?};",
        packed.ranges_max_hi.len(),
        packed.ranges_max_hi
    );
    std::fs::write(out.join("registry_data.rs"), s).unwrap_or_else(|e| fail(format!("write: {e}")));

    // Risk knowledge.
    let text = std::fs::read_to_string("data/risks.toml")
        .unwrap_or_else(|e| fail(format!("data/risks.toml: {e}")));
    let file: RiskFile =
        toml::from_str(&text).unwrap_or_else(|e| fail(format!("data/risks.toml: {e}")));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pub(crate) static RISKS: [Risk; {}] = [",
        file.risk.len()
    );
    for r in &file.risk {
        let sev = match r.severity.as_str() {
            "critical" => "Critical",
            "high" => "High",
            "medium" => "Medium",
            "low" => "Low",
            "info" => "Info",
            other => fail(format!(
                "data/risks.toml: {}: unknown severity {other:?}",
                r.id
            )),
        };
        let mut ports = String::new();
        for p in &r.ports {
            let (num, proto) = p.split_once('/').unwrap_or_else(|| {
                fail(format!(
                    "data/risks.toml: {}: port {p:?} lacks /proto",
                    r.id
                ))
            });
            let proto = match proto {
                "tcp" => "Tcp",
                "udp" => "Udp",
                "sctp" => "Sctp",
                "dccp" => "Dccp",
                _ => fail(format!("data/risks.toml: {}: bad protocol in {p:?}", r.id)),
            };
            let (lo, hi) = num.split_once('-').unwrap_or((num, num));
            let parse = |x: &str| -> u16 {
                x.parse().unwrap_or_else(|_| {
                    fail(format!("data/risks.toml: {}: bad port in {p:?}", r.id))
                })
            };
            let (lo, hi) = (parse(lo), parse(hi));
            if lo > hi {
                fail(format!("data/risks.toml: {}: backwards range {p:?}", r.id));
            }
            let _ = write!(
                ports,
                "RiskPort{{lo:{lo},hi:{hi},protocol:Protocol::{proto}}},"
            );
        }
        let _ = writeln!(
            s,
            "Risk{{id:{:?},name:{:?},ports:&[{ports}],severity:Severity::{sev},category:{:?},why:{:?},remediation:{:?},sources:&{:?}}},",
            r.id, r.name, r.category, r.why, r.remediation, r.sources
        );
    }
    let _ = writeln!(s, "];");
    std::fs::write(out.join("risks_data.rs"), s).unwrap_or_else(|e| fail(format!("write: {e}")));
}
