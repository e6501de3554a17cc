//! `portolan scan -sV`: service and version detection on the ports the scan found open, with
//! the `portolan-fingerprint` engine, folded into the scan's result model.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use portolan_fingerprint::{Confidence, Options, ServiceReport, Target};
use portolan_model::{PortKey, Stop};
use portolan_scan::model::{Cpe, ServiceMethod};
use portolan_scan::session::ServiceDetector;
use portolan_scan::{Exposure, PortEvent, PortState, Protocol, Service};
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
    o.proxy_target = args.proxy_target;
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
        scripts: Vec::new(),
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
            "fingerprint": r.fingerprint,
            "notes": r.notes,
        })),
    }
}

/// What a UDP port's scan state and its service probes say together; whether the report is the
/// port's service. A port that stayed silent in the scan (open|filtered) is the detector's only
/// if it answered a service probe (the session then makes it open, reason udp-response). A port
/// that answered the scan is open whatever the service probes got: the detector's "no UDP probe
/// was answered" is put right (the scan's reply proved it open; the service is unidentified).
fn udp_outcome(scanned: PortState, r: &mut ServiceReport) -> bool {
    if r.transport != Protocol::Udp {
        return true;
    }
    let answered = r.state == "open";
    match scanned {
        PortState::Open => {
            if !answered {
                r.state = "open".into();
                r.notes.retain(|n| n != NO_UDP_ANSWER);
                r.notes.push(
                    "the port answered the scan; none of the UDP service probes was answered"
                        .into(),
                );
            }
            true
        }
        _ => answered,
    }
}

/// The detector's note for a UDP port that answered none of its probes.
const NO_UDP_ANSWER: &str = "no UDP probe was answered";

/// `-sV` for the scan session: built (and the probe file read) before the scan starts.
pub struct Detector {
    opts: Options,
    quiet: bool,
    /// --vulns: the vulnerability database.
    vulns: Option<super::vulns::Vulns>,
}

impl Detector {
    pub fn new(args: &ScanArgs) -> Result<Detector> {
        Ok(Detector {
            opts: options(args, args.quiet)?,
            quiet: args.quiet,
            vulns: match args.vulns {
                true => Some(super::vulns::Vulns::open(
                    args.vulns_db.as_deref(),
                    super::vulns::filter(args),
                    args.quiet,
                )?),
                false => None,
            },
        })
    }
}

impl ServiceDetector for Detector {
    fn detect(&mut self, open: &[PortEvent], stop: &Stop) -> Vec<(PortKey, Service)> {
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
        if !self.quiet {
            eprintln!(
                "portolan: service detection on {} port(s) (open, and open|filtered UDP)",
                targets.len()
            );
        }
        let (reports, stopped) =
            match crate::cmd::service::detect_until_stopped(targets, &self.opts, stop) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("portolan: service detection failed: {e:#}");
                    return Vec::new();
                }
            };
        if stopped && !self.quiet {
            eprintln!(
                "portolan: service detection stopped: {} of {} port(s) identified",
                reports.len(),
                open.len()
            );
        }
        let states: HashMap<PortKey, PortState> = open.iter().map(|e| (e.key(), e.state)).collect();
        let mut services: Vec<(PortKey, Service)> = reports
            .into_iter()
            .filter_map(|mut r| {
                let key = PortKey {
                    addr: r.addr.ip(),
                    proto: r.transport,
                    port: r.addr.port(),
                };
                let scanned = states.get(&key).copied()?;
                udp_outcome(scanned, &mut r).then(|| (key, to_service(&r)))
            })
            .collect();
        if let Some(Err(e)) = self.vulns.as_ref().map(|v| v.annotate(&mut services)) {
            eprintln!("portolan: --vulns: matching failed: {e:#}");
        }
        services
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_report(state: &str) -> ServiceReport {
        let mut r = ServiceReport::new("127.0.0.1:5301".parse().unwrap(), Protocol::Udp);
        r.state = state.into();
        if state == "open|filtered" {
            r.notes.push(NO_UDP_ANSWER.into());
        }
        r
    }

    #[test]
    fn silent_udp_port_is_the_detectors_only_if_it_answered() {
        assert!(udp_outcome(
            PortState::OpenFiltered,
            &mut udp_report("open")
        ));
        assert!(!udp_outcome(
            PortState::OpenFiltered,
            &mut udp_report("open|filtered")
        ));
        assert!(!udp_outcome(
            PortState::OpenFiltered,
            &mut udp_report("closed")
        ));
    }

    #[test]
    fn udp_port_that_answered_the_scan_is_never_unanswered() {
        let mut r = udp_report("open|filtered");
        assert!(udp_outcome(PortState::Open, &mut r));
        assert_eq!(r.state, "open");
        assert!(!r.notes.iter().any(|n| n == NO_UDP_ANSWER), "{:?}", r.notes);
        assert!(r.notes[0].contains("answered the scan"), "{:?}", r.notes);
    }

    #[test]
    fn tcp_reports_pass_through() {
        let mut r = ServiceReport::new("127.0.0.1:80".parse().unwrap(), Protocol::Tcp);
        assert!(udp_outcome(PortState::Open, &mut r));
    }
}
