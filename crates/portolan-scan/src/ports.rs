//! Port sets: `-p` specs and `--top-ports` rankings.
//!
//! A spec is a comma-separated list of items: a port (`22`), a range (`1000-2000`), an open range
//! (`-1024` = 1-1024, `60000-` = 60000-65535, `-` = 1-65535) or a TCP service name from the IANA
//! registry (`ssh`, `http`). Port 0 is rejected: it cannot be connected to.

use std::path::Path;

use portolan_registry::{EntryKind, Protocol, Registry};

use crate::toplist;

/// An error in a port spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("{item:?} in port spec {spec:?}: {why}. Use ports (22), ranges (1000-2000), '-' for all ports, or service names (ssh)")]
    Invalid {
        spec: String,
        item: String,
        why: String,
    },
    #[error("unknown service name {name:?} in port spec{suggest}")]
    UnknownName { name: String, suggest: String },
    #[error(
        "the port spec is empty: give ports with -p (e.g. -p 22,80,443 or -p-) or --top-ports N"
    )]
    Empty,
    #[error("--top-ports must be between 1 and 65535, not {0}")]
    TopRange(usize),
}

/// A sorted set of distinct ports (at most 65535 entries: a port set is small enough to list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSet {
    ports: Vec<u16>,
}

fn num(spec: &str, item: &str, s: &str) -> Result<u16, PortError> {
    let bad = |why: String| PortError::Invalid {
        spec: spec.into(),
        item: item.into(),
        why,
    };
    let n: u64 = s
        .parse()
        .map_err(|_| bad(format!("{s:?} is not a port number")))?;
    if n == 0 {
        return Err(bad("port 0 cannot be scanned".into()));
    }
    if n > 65535 {
        return Err(bad(format!("port {n} is out of range (1-65535)")));
    }
    Ok(n as u16)
}

impl PortSet {
    /// Parse a `-p` spec.
    pub fn parse(spec: &str) -> Result<PortSet, PortError> {
        Self::parse_with(spec, Registry::embedded())
    }

    /// Parse a `-p` spec, looking names up in `reg`.
    pub fn parse_with(spec: &str, reg: &Registry) -> Result<PortSet, PortError> {
        let mut ports = Vec::new();
        for item in spec.split(',').map(str::trim) {
            if item.is_empty() {
                if spec.trim().is_empty() {
                    return Err(PortError::Empty);
                }
                return Err(PortError::Invalid {
                    spec: spec.into(),
                    item: item.into(),
                    why: "an empty item (two commas in a row?)".into(),
                });
            }
            let item_body = item.strip_suffix("/tcp").unwrap_or(item);
            let numeric = item_body.chars().all(|c| c.is_ascii_digit() || c == '-');
            if numeric {
                let (lo, hi) = match item_body.split_once('-') {
                    None => {
                        let p = num(spec, item, item_body)?;
                        (p, p)
                    }
                    Some((a, b)) => {
                        let lo = if a.is_empty() { 1 } else { num(spec, item, a)? };
                        let hi = if b.is_empty() {
                            65535
                        } else {
                            num(spec, item, b)?
                        };
                        if hi < lo {
                            return Err(PortError::Invalid {
                                spec: spec.into(),
                                item: item.into(),
                                why: "the range ends before it starts".into(),
                            });
                        }
                        (lo, hi)
                    }
                };
                ports.extend(lo..=hi);
            } else {
                let name = item_body.to_ascii_lowercase();
                let mut found = false;
                for e in reg.by_name(&name) {
                    if e.protocol() != Some(Protocol::Tcp) {
                        continue;
                    }
                    if let Some((lo, hi)) = e.ports() {
                        if matches!(e.kind(), EntryKind::Assigned | EntryKind::Alias) {
                            ports.extend(lo.max(1)..=hi);
                            found = true;
                        }
                    }
                }
                if !found {
                    let s = reg.suggest(&name, 3);
                    return Err(PortError::UnknownName {
                        name: item.into(),
                        suggest: if s.is_empty() {
                            String::new()
                        } else {
                            format!(" (did you mean {}?)", s.join(", "))
                        },
                    });
                }
            }
        }
        Ok(Self::from_ports(ports))
    }

    /// Build from any list of ports (0 is dropped, duplicates removed).
    pub fn from_ports(mut ports: Vec<u16>) -> PortSet {
        ports.retain(|&p| p != 0);
        ports.sort_unstable();
        ports.dedup();
        PortSet { ports }
    }

    /// Every port, 1-65535.
    pub fn all() -> PortSet {
        PortSet {
            ports: (1..=65535).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
    /// The `i`th port in ascending order.
    pub fn get(&self, i: usize) -> Option<u16> {
        self.ports.get(i).copied()
    }
    pub fn contains(&self, p: u16) -> bool {
        self.ports.binary_search(&p).is_ok()
    }
    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }

    /// Compact form, as nmap's `scaninfo services` attribute: `1-1024,8080`.
    pub fn to_spec(&self) -> String {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.ports.len() {
            let lo = self.ports[i];
            let mut j = i;
            while j + 1 < self.ports.len() && self.ports[j + 1] == self.ports[j] + 1 {
                j += 1;
            }
            if j == i {
                out.push(lo.to_string());
            } else {
                out.push(format!("{lo}-{}", self.ports[j]));
            }
            i = j + 1;
        }
        out.join(",")
    }
}

/// Where a top-ports ranking came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RankingSource {
    /// An installed nmap-services file, read at run time.
    NmapServices(String),
    /// Portolan's own ranking (curated list + risk data + IANA registry).
    Builtin,
}

/// The installed nmap-services file Portolan prefers for `--top-ports`, when present.
pub const NMAP_SERVICES: &str = "/usr/share/nmap/nmap-services";

/// Parse an nmap-services file into TCP ports ranked by open frequency (highest first).
/// Malformed lines are skipped. Returns `None` when no TCP line has a frequency.
pub fn rank_nmap_services(text: &str) -> Option<Vec<u16>> {
    let mut v: Vec<(f64, u16)> = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let (_name, pp, freq) = match (f.next(), f.next(), f.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        if proto != "tcp" {
            continue;
        }
        let (Ok(port), Ok(freq)) = (port.parse::<u16>(), freq.parse::<f64>()) else {
            continue;
        };
        if port == 0 || !freq.is_finite() {
            continue;
        }
        v.push((freq, port));
    }
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut seen = vec![false; 65536];
    Some(
        v.into_iter()
            .filter_map(|(_, p)| (!std::mem::replace(&mut seen[p as usize], true)).then_some(p))
            .collect(),
    )
}

/// Portolan's built-in ranking over every port 1-65535 (see the `toplist` module).
pub fn builtin_ranking() -> Vec<u16> {
    let reg = Registry::embedded();
    let mut seen = vec![false; 65536];
    let mut out = Vec::with_capacity(65535);
    let mut push = |p: u16, out: &mut Vec<u16>| {
        if p != 0 && !seen[p as usize] {
            seen[p as usize] = true;
            out.push(p);
        }
    };
    for &p in toplist::CURATED {
        push(p, &mut out);
    }
    for r in portolan_registry::risk::all() {
        for rp in r.ports {
            if rp.protocol == Protocol::Tcp && rp.hi - rp.lo < 16 {
                for p in rp.lo..=rp.hi {
                    push(p, &mut out);
                }
            }
        }
    }
    let assigned = |p: u16| {
        reg.by_port(p)
            .any(|e| e.protocol() == Some(Protocol::Tcp) && e.kind() == EntryKind::Assigned)
    };
    for p in 1..=1023u16 {
        if assigned(p) {
            push(p, &mut out);
        }
    }
    for p in 1024..=49151u16 {
        if assigned(p) {
            push(p, &mut out);
        }
    }
    for p in 1..=65535u16 {
        push(p, &mut out);
    }
    out
}

/// The `n` top-ranked TCP ports: from `nmap_services` when that file exists and parses, else
/// the built-in ranking. A frequency file that lists fewer than `n` ports is completed from the
/// built-in ranking.
pub fn top_ports(
    n: usize,
    nmap_services: Option<&Path>,
) -> Result<(PortSet, RankingSource), PortError> {
    if n == 0 || n > 65535 {
        return Err(PortError::TopRange(n));
    }
    if let Some(path) = nmap_services {
        if let Some(mut ranked) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| rank_nmap_services(&t))
        {
            if ranked.len() < n {
                let mut seen = vec![false; 65536];
                for &p in &ranked {
                    seen[p as usize] = true;
                }
                ranked.extend(builtin_ranking().into_iter().filter(|&p| !seen[p as usize]));
            }
            ranked.truncate(n);
            return Ok((
                PortSet::from_ports(ranked),
                RankingSource::NmapServices(path.display().to_string()),
            ));
        }
    }
    let mut r = builtin_ranking();
    r.truncate(n);
    Ok((PortSet::from_ports(r), RankingSource::Builtin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            PortSet::parse("22,80,1000-1002").unwrap().as_slice(),
            &[22, 80, 1000, 1001, 1002]
        );
        assert_eq!(PortSet::parse("-").unwrap().len(), 65535);
        assert_eq!(PortSet::parse("-3").unwrap().as_slice(), &[1, 2, 3]);
        assert_eq!(
            PortSet::parse("65534-").unwrap().as_slice(),
            &[65534, 65535]
        );
        assert_eq!(PortSet::parse("ssh,http,22").unwrap().as_slice(), &[22, 80]);
        assert_eq!(PortSet::parse("80/tcp").unwrap().as_slice(), &[80]);
        assert_eq!(PortSet::parse("1-5,3-7").unwrap().to_spec(), "1-7");
        for bad in [
            "",
            "0",
            "70000",
            "5-1",
            "22,,80",
            "nosuchservicename",
            "1-2-3",
            "ssh;",
            "-0",
        ] {
            assert!(PortSet::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = PortSet::parse("shh").unwrap_err().to_string();
        assert!(e.contains("ssh"), "{e}");
    }

    #[test]
    fn builtin_ranking_is_a_permutation() {
        let r = builtin_ranking();
        assert_eq!(r.len(), 65535);
        let mut s = r.clone();
        s.sort_unstable();
        assert_eq!(s, (1..=65535).collect::<Vec<u16>>());
        assert_eq!(&r[..3], &[80, 443, 8080]);
        let (t, src) = top_ports(100, None).unwrap();
        assert_eq!(t.len(), 100);
        assert_eq!(src, RankingSource::Builtin);
        assert!(t.contains(22) && t.contains(3389) && t.contains(6379));
    }

    #[test]
    fn nmap_services_parsing() {
        let text = "# comment\nhttp\t80/tcp\t0.48\t# WWW\nssh 22/tcp 0.18\nfoo 22/udp 0.9\nbad line\ntelnet\t23/tcp\t0.22\nx\t99999/tcp\t0.5\n";
        assert_eq!(rank_nmap_services(text).unwrap(), vec![80, 23, 22]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nmap-services");
        std::fs::write(&p, text).unwrap();
        let (t, src) = top_ports(5, Some(&p)).unwrap();
        assert_eq!(t.len(), 5);
        assert!(t.contains(23));
        assert!(matches!(src, RankingSource::NmapServices(_)));
        assert!(top_ports(0, None).is_err());
    }
}
