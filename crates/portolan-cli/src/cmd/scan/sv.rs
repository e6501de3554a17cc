//! `portolan scan -sV`: service and version detection on the ports the scan found open, with
//! the `portolan-fingerprint` engine, folded into the scan's result model.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use portolan_fingerprint::{detect_many, Confidence, Options, ServiceReport, Target};
use portolan_scan::model::{Cpe, ServiceMethod};
use portolan_scan::{Exposure, PortEvent, Protocol, Service};
use serde_json::json;

use super::ScanArgs;

/// Ports identified at once.
const CONCURRENCY: usize = 64;

fn options(args: &ScanArgs, quiet: bool) -> Result<Options> {
    let (db, notes) = crate::cmd::service::load_probe_db(None, args.probes_file.as_deref())?;
    if !quiet && !notes.is_empty() {
        eprintln!(
            "portolan: {} probe-file note(s), e.g.: {}",
            notes.len(),
            crate::term::escape(&notes[0])
        );
    }
    let mut o = Options::with_db(Arc::new(db));
    o.intensity = args.version_intensity;
    o.concurrency = CONCURRENCY;
    Ok(o)
}

/// The scan model's view of a detection report.
pub fn to_service(r: &ServiceReport) -> Service {
    let (method, conf) = match r.confidence {
        Confidence::Matched => (ServiceMethod::Probed, 10),
        Confidence::Soft => (ServiceMethod::Probed, 8),
        Confidence::PortTable => (ServiceMethod::Table, 3),
        Confidence::Unknown => (ServiceMethod::Table, 0),
    };
    Service {
        name: r.name.clone().unwrap_or_else(|| "unknown".into()),
        product: r.product.clone(),
        version: r.version.clone(),
        extrainfo: r.extrainfo.clone(),
        cpe: r.cpe.iter().filter_map(|c| Cpe::parse(c).ok()).collect(),
        tunnel: r.tunnel.clone(),
        method,
        conf,
        exposures: r
            .findings
            .iter()
            .map(|f| Exposure {
                id: f.id.clone(),
                severity: f.severity,
                title: f.title.clone(),
                evidence: f.evidence.clone(),
            })
            .collect(),
        details: Some(json!({
            "tls": r.tls,
            "ssh": r.ssh,
            "http": r.http,
            "banner": r.banner,
            "probe": r.probe,
            "notes": r.notes,
        })),
    }
}

/// Identify every open port in `open`; the result is keyed by (address, port, protocol).
pub fn detect(
    open: &[PortEvent],
    args: &ScanArgs,
    quiet: bool,
) -> Result<HashMap<(IpAddr, u16, Protocol), Service>> {
    let mut out = HashMap::new();
    if open.is_empty() {
        return Ok(out);
    }
    let opts = options(args, quiet)?;
    let targets: Vec<Target> = open
        .iter()
        .filter_map(|e| {
            let a = SocketAddr::new(e.addr, e.port);
            match e.proto {
                Protocol::Tcp => Some(Target::tcp(a)),
                Protocol::Udp => Some(Target::udp(a)),
                Protocol::Sctp | Protocol::Dccp => None,
            }
        })
        .collect();
    if !quiet {
        eprintln!(
            "portolan: service detection on {} open port(s)",
            targets.len()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime for service detection")?;
    let reports = rt.block_on(detect_many(targets, &opts));
    for r in &reports {
        let proto = match r.transport {
            portolan_fingerprint::Transport::Udp => Protocol::Udp,
            _ => Protocol::Tcp,
        };
        out.insert((r.addr.ip(), r.addr.port(), proto), to_service(r));
    }
    Ok(out)
}
