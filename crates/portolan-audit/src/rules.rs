//! Data-driven findings: rules read from `data/local-rules.toml` (compiled in) and evaluated
//! over each listed socket, the processes holding it, its registry entry and Portolan's risk
//! knowledge ([`portolan_registry::risk`]).

use portolan_registry::risk::{self, Risk, Severity};
use portolan_registry::Protocol;
use serde::Deserialize;

use crate::report::{Finding, SocketEntry};
use crate::socket::Exposure;

/// The rules shipped with Portolan.
pub const BUILTIN_RULES: &str = include_str!("../data/local-rules.toml");

/// A rules file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules file is not valid TOML for the rules schema: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("rule {id:?}: {what}")]
    Invalid { id: String, what: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    schema: u32,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    service: Vec<RawService>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    process: Vec<String>,
    risks: Vec<String>,
}

/// Processes recognised by name: their sockets carry these risks on any port.
#[derive(Debug, Clone)]
pub struct ServiceHint {
    /// Exact process names (`/proc/<pid>/comm`).
    pub process: Vec<String>,
    pub risks: Vec<&'static Risk>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    severity: String,
    why: String,
    remediation: String,
    sources: Vec<String>,
    #[serde(default)]
    when: Conditions,
}

/// The conditions of a rule; every one that is set must hold.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    pub protocol: Option<String>,
    pub exposure: Option<Vec<Exposure>>,
    pub risk_category: Option<Vec<String>>,
    pub risk_category_not: Option<Vec<String>>,
    pub ephemeral: Option<bool>,
    pub dual_stack: Option<bool>,
    pub root: Option<bool>,
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
}

/// How a rule's severity is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSeverity {
    Fixed(Severity),
    /// The severity of the matching risk entry.
    FromRisk,
}

/// One rule, validated.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: RuleSeverity,
    pub why: String,
    pub remediation: String,
    pub sources: Vec<String>,
    pub when: Conditions,
    protocol: Option<Protocol>,
}

/// A validated set of rules.
#[derive(Debug, Clone)]
pub struct Rules {
    pub rules: Vec<Rule>,
    pub services: Vec<ServiceHint>,
}

/// What the rules need to know beyond the socket itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// This network namespace's ephemeral range, when known.
    pub ephemeral: Option<(u16, u16)>,
}

impl Rules {
    /// The rules compiled into Portolan.
    pub fn builtin() -> Result<Rules, RulesError> {
        Rules::parse(BUILTIN_RULES)
    }

    /// Parse and validate a rules file.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let f: RulesFile = toml::from_str(text)?;
        if f.schema != 1 {
            return Err(RulesError::Invalid {
                id: String::new(),
                what: format!(
                    "schema {} is not supported (this Portolan reads schema 1)",
                    f.schema
                ),
            });
        }
        let mut rules = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in f.rule {
            let bad = |what: String| RulesError::Invalid {
                id: r.id.clone(),
                what,
            };
            if r.id.is_empty()
                || !r
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(bad("id must be non-empty lowercase [a-z0-9-]".into()));
            }
            if !seen.insert(r.id.clone()) {
                return Err(bad("duplicate id".into()));
            }
            let severity = if r.severity == "from-risk" {
                if r.when.risk_category.is_none() {
                    return Err(bad(
                        "severity \"from-risk\" needs a risk_category condition".into(),
                    ));
                }
                RuleSeverity::FromRisk
            } else {
                RuleSeverity::Fixed(r.severity.parse().map_err(bad)?)
            };
            let protocol = match &r.when.protocol {
                None => None,
                Some(p) => Some(p.parse::<Protocol>().map_err(|e| bad(e.to_string()))?),
            };
            let w = &r.when;
            let any = w.protocol.is_some()
                || w.exposure.is_some()
                || w.risk_category.is_some()
                || w.ephemeral.is_some()
                || w.dual_stack.is_some()
                || w.root.is_some()
                || w.port_min.is_some()
                || w.port_max.is_some();
            if !any {
                return Err(bad(
                    "no condition under [rule.when]: it would match every socket".into(),
                ));
            }
            if r.title.is_empty()
                || r.why.is_empty()
                || r.remediation.is_empty()
                || r.sources.is_empty()
            {
                return Err(bad(
                    "title, why, remediation and sources must not be empty".into()
                ));
            }
            rules.push(Rule {
                id: r.id,
                title: r.title,
                severity,
                why: r.why,
                remediation: r.remediation,
                sources: r.sources,
                when: r.when,
                protocol,
            });
        }
        let mut services = Vec::new();
        for (i, sv) in f.service.into_iter().enumerate() {
            let bad = |what: String| RulesError::Invalid {
                id: format!("service #{}", i + 1),
                what,
            };
            if sv.process.is_empty() || sv.process.iter().any(|p| p.is_empty() || p.len() > 15) {
                return Err(bad(
                    "process names must be 1 to 15 characters (the kernel's comm)".into(),
                ));
            }
            let mut risks = Vec::new();
            for id in &sv.risks {
                risks.push(risk::by_id(id).ok_or_else(|| bad(format!("unknown risk id {id:?}")))?);
            }
            if risks.is_empty() {
                return Err(bad("no risk listed".into()));
            }
            services.push(ServiceHint {
                process: sv.process,
                risks,
            });
        }
        Ok(Rules { rules, services })
    }

    /// The risk entries that apply to a socket: by port, and by the name of a process holding
    /// it (for the protocols the risk lists). Each at most once.
    pub fn risks_for(&self, e: &SocketEntry) -> Vec<&'static Risk> {
        let s = &e.socket;
        let mut v: Vec<&'static Risk> = risk::for_port(s.port, s.protocol).collect();
        for hint in &self.services {
            if !e.processes.iter().any(|p| hint.process.contains(&p.name)) {
                continue;
            }
            for r in &hint.risks {
                let proto_ok = r.ports.iter().any(|p| p.protocol == s.protocol);
                if proto_ok && !v.iter().any(|x| x.id == r.id) {
                    v.push(r);
                }
            }
        }
        v
    }

    /// Every finding for one socket, in rule order.
    pub fn evaluate(&self, e: &SocketEntry, ctx: &Context) -> Vec<Finding> {
        let risks = self.risks_for(e);
        self.rules
            .iter()
            .filter_map(|r| r.evaluate_with(e, ctx, &risks))
            .collect()
    }
}

impl Rule {
    /// The finding this rule raises for a socket, if it does, given the risk entries that
    /// apply to the socket ([`Rules::risks_for`]).
    pub fn evaluate_with(
        &self,
        e: &SocketEntry,
        ctx: &Context,
        risks: &[&'static Risk],
    ) -> Option<Finding> {
        let s = &e.socket;
        let w = &self.when;
        if self.protocol.is_some_and(|p| p != s.protocol) {
            return None;
        }
        if w.exposure
            .as_ref()
            .is_some_and(|x| !x.contains(&e.exposure))
        {
            return None;
        }
        if w.port_min.is_some_and(|m| s.port < m) || w.port_max.is_some_and(|m| s.port > m) {
            return None;
        }
        if let Some(want) = w.ephemeral {
            let inside = ctx
                .ephemeral
                .is_some_and(|(lo, hi)| lo <= s.port && s.port <= hi);
            if ctx.ephemeral.is_none() || inside != want {
                return None;
            }
        }
        if w.dual_stack.is_some_and(|d| d != s.is_dual_stack()) {
            return None;
        }
        if let Some(want) = w.root {
            let root = e.processes.iter().any(|p| p.uid == Some(0));
            if root != want {
                return None;
            }
        }
        let risk: Option<&'static Risk> = match &w.risk_category {
            None => None,
            Some(cats) => {
                if let Some(not) = &w.risk_category_not {
                    if risks.iter().any(|r| not.iter().any(|c| c == r.category)) {
                        return None;
                    }
                }
                let best = risks
                    .iter()
                    .copied()
                    .filter(|r| cats.iter().any(|c| c == r.category))
                    .max_by_key(|r| r.severity)?;
                Some(best)
            }
        };
        let severity = match self.severity {
            RuleSeverity::Fixed(s) => s,
            RuleSeverity::FromRisk => risk?.severity,
        };
        let fill = |t: &str| fill(t, e, ctx, risk);
        let mut sources = Vec::new();
        for src in &self.sources {
            if src == "{risk_sources}" {
                if let Some(r) = risk {
                    sources.extend(r.sources.iter().map(|s| s.to_string()));
                }
            } else {
                sources.push(fill(src));
            }
        }
        sources.dedup();
        Some(Finding {
            rule: self.id.clone(),
            title: self.title.clone(),
            severity,
            endpoint: s.endpoint(),
            socket: s.key(),
            risk: risk.map(|r| r.id.to_string()),
            evidence: fill(&self.why),
            remediation: fill(&self.remediation),
            sources,
            pids: e.processes.iter().map(|p| p.pid).collect(),
        })
    }
}

/// Expand the `{placeholders}` of a rule text in one pass: values are computed only when used,
/// and text inserted (a process name, say) is never expanded again. Unknown names stay as is.
fn fill(t: &str, e: &SocketEntry, ctx: &Context, risk: Option<&Risk>) -> String {
    let s = &e.socket;
    let value = |key: &str| -> Option<String> {
        Some(match key {
            "endpoint" => s.endpoint(),
            "address" => s.address.to_string(),
            "port" => s.port.to_string(),
            "protocol" => s.protocol.to_string(),
            "exposure" => e.exposure.describe().to_string(),
            "service" => e.service.clone().unwrap_or_else(|| "unregistered".into()),
            "process" => {
                if e.processes.is_empty() {
                    "an unknown process".to_string()
                } else {
                    let mut v: Vec<String> = e
                        .processes
                        .iter()
                        .map(|p| format!("{}[{}]", p.name, p.pid))
                        .collect();
                    v.dedup();
                    v.join(", ")
                }
            }
            "user" => {
                let mut v: Vec<String> = e
                    .processes
                    .iter()
                    .filter_map(|p| p.user.clone().or_else(|| p.uid.map(|u| u.to_string())))
                    .collect();
                v.sort();
                v.dedup();
                if v.is_empty() {
                    format!("uid {}", s.uid)
                } else {
                    v.join(", ")
                }
            }
            "range" => ctx
                .ephemeral
                .map_or_else(|| "unknown".to_string(), |(lo, hi)| format!("{lo}-{hi}")),
            "risk_name" => risk.map_or("", |r| r.name).to_string(),
            "risk_id" => risk.map_or("", |r| r.id).to_string(),
            "risk_why" => risk.map_or("", |r| r.why).to_string(),
            "risk_remediation" => risk.map_or("", |r| r.remediation).to_string(),
            "risk_category" => risk.map_or("", |r| r.category).to_string(),
            _ => return None,
        })
    };
    let mut out = String::with_capacity(t.len() + 64);
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => match value(&after[..close]) {
                Some(v) => {
                    out.push_str(&v);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            },
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ProcessRef;
    use crate::socket::{Family, Socket};

    fn entry(
        proto: Protocol,
        addr: &str,
        port: u16,
        uid: Option<u32>,
        v6only: Option<bool>,
    ) -> SocketEntry {
        named(proto, addr, port, uid, v6only, "daemon")
    }

    fn named(
        proto: Protocol,
        addr: &str,
        port: u16,
        uid: Option<u32>,
        v6only: Option<bool>,
        name: &str,
    ) -> SocketEntry {
        let address: std::net::IpAddr = addr.parse().unwrap();
        let family = if address.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        SocketEntry::new(
            Socket {
                protocol: proto,
                family,
                address,
                port,
                inode: 1,
                uid: 0,
                v6only,
                interface: 0,
            },
            uid.map(|u| ProcessRef {
                pid: 10,
                fd: 3,
                name: name.into(),
                cmdline: "daemon".into(),
                uid: Some(u),
                user: None,
                unit: None,
            })
            .into_iter()
            .collect(),
        )
    }

    fn ids(e: &SocketEntry) -> Vec<String> {
        let ctx = Context {
            ephemeral: Some((32768, 60999)),
        };
        Rules::builtin()
            .unwrap()
            .evaluate(e, &ctx)
            .into_iter()
            .map(|f| f.rule)
            .collect()
    }

    #[test]
    fn builtin_rules_load() {
        let r = Rules::builtin().unwrap();
        assert!(r.rules.len() >= 7);
    }

    #[test]
    fn redis_everywhere_vs_loopback() {
        assert_eq!(
            ids(&entry(Protocol::Tcp, "0.0.0.0", 6379, Some(100), None)),
            ["exposed-database"]
        );
        assert!(ids(&entry(Protocol::Tcp, "127.0.0.1", 6379, Some(100), None)).is_empty());
        let f = Rules::builtin().unwrap().evaluate(
            &entry(Protocol::Tcp, "0.0.0.0", 6379, Some(100), None),
            &Context::default(),
        );
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(f[0].risk.as_deref(), Some("redis"));
        assert!(f[0].evidence.contains("daemon[10]"));
        assert!(f[0].sources.iter().any(|s| s.starts_with("https://")));
        assert!(!f[0].sources.iter().any(|s| s.contains('{')));
    }

    #[test]
    fn telnet_docker_root_ephemeral_dualstack() {
        assert_eq!(
            ids(&entry(Protocol::Tcp, "10.0.0.1", 23, Some(0), None)),
            ["cleartext-login"]
        );
        assert_eq!(
            ids(&entry(Protocol::Tcp, "0.0.0.0", 2375, Some(5), None)),
            ["exposed-admin-api"]
        );
        assert_eq!(
            ids(&entry(Protocol::Tcp, "0.0.0.0", 8081, Some(0), None)),
            ["root-unprivileged-port"]
        );
        assert!(ids(&entry(Protocol::Tcp, "127.0.0.1", 8081, Some(0), None)).is_empty());
        assert_eq!(
            ids(&entry(Protocol::Tcp, "127.0.0.1", 40000, Some(5), None)),
            ["ephemeral-port"]
        );
        assert!(ids(&entry(Protocol::Udp, "127.0.0.1", 40000, Some(5), None)).is_empty());
        assert_eq!(
            ids(&entry(Protocol::Tcp, "::", 8081, Some(5), Some(false))),
            ["dual-stack"]
        );
        assert!(ids(&entry(Protocol::Tcp, "::", 8081, Some(5), Some(true))).is_empty());
    }

    #[test]
    fn services_recognised_by_process_name() {
        let r = Rules::builtin().unwrap();
        assert!(!r.services.is_empty());
        // Redis moved to 7777 is still an exposed database.
        let e = named(
            Protocol::Tcp,
            "0.0.0.0",
            7777,
            Some(100),
            None,
            "redis-server",
        );
        let f = r.evaluate(&e, &Context::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "exposed-database");
        assert_eq!(f[0].risk.as_deref(), Some("redis"));
        // Not by another name, and not for a protocol the risk does not list.
        let e = named(Protocol::Tcp, "0.0.0.0", 7777, Some(100), None, "redis-cli");
        assert!(r.evaluate(&e, &Context::default()).is_empty());
        let e = named(
            Protocol::Udp,
            "0.0.0.0",
            7777,
            Some(100),
            None,
            "redis-server",
        );
        assert!(r.evaluate(&e, &Context::default()).is_empty());
        // memcached's UDP socket on another port: the UDP amplification entry.
        let e = named(Protocol::Udp, "0.0.0.0", 9999, Some(100), None, "memcached");
        let f = r.evaluate(&e, &Context::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].risk.as_deref(), Some("memcached-udp"));
    }

    #[test]
    fn placeholders_expand_once() {
        // A hostile process name that looks like a placeholder is not expanded.
        let e = named(
            Protocol::Tcp,
            "0.0.0.0",
            6379,
            Some(1),
            None,
            "{range}{port",
        );
        let ctx = Context {
            ephemeral: Some((1, 2)),
        };
        let out = fill("{process} on {port} in {range} {unknown} {", &e, &ctx, None);
        assert_eq!(out, "{range}{port[10] on 6379 in 1-2 {unknown} {");
    }

    #[test]
    fn bad_services_rejected() {
        let base = "schema = 1\n[[rule]]\nid = \"x\"\ntitle = \"t\"\nwhy = \"w\"\nremediation = \"r\"\nsources = [\"s\"]\nseverity = \"high\"\n[rule.when]\nroot = true\n";
        assert!(Rules::parse(&format!(
            "{base}[[service]]\nprocess = [\"x\"]\nrisks = [\"redis\"]\n"
        ))
        .is_ok());
        assert!(Rules::parse(&format!(
            "{base}[[service]]\nprocess = [\"x\"]\nrisks = [\"nope\"]\n"
        ))
        .is_err());
        assert!(Rules::parse(&format!(
            "{base}[[service]]\nprocess = [\"a-very-long-process-name\"]\nrisks = [\"redis\"]\n"
        ))
        .is_err());
    }

    #[test]
    fn bad_rules_rejected() {
        let base = "schema = 1\n[[rule]]\nid = \"x\"\ntitle = \"t\"\nwhy = \"w\"\nremediation = \"r\"\nsources = [\"s\"]\n";
        assert!(Rules::parse(&format!("{base}severity = \"high\"\n")).is_err()); // no condition
        assert!(Rules::parse(&format!(
            "{base}severity = \"bad\"\n[rule.when]\nroot = true\n"
        ))
        .is_err());
        assert!(Rules::parse(&format!(
            "{base}severity = \"from-risk\"\n[rule.when]\nroot = true\n"
        ))
        .is_err());
        assert!(Rules::parse(&format!(
            "{base}severity = \"high\"\n[rule.when]\nrooot = true\n"
        ))
        .is_err());
        assert!(Rules::parse(&format!(
            "{base}severity = \"high\"\n[rule.when]\nroot = true\n"
        ))
        .is_ok());
    }
}
