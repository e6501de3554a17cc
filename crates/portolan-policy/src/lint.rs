//! `policy lint`: what is suspicious in a policy that parses.
//!
//! Unknown names and services are parse errors (with line and column); lint looks at what a
//! well-formed policy means, through the partition of [`crate::compile`]:
//!
//! | code | severity | what |
//! |---|---|---|
//! | `any-any` | high | a rule from any address to any address |
//! | `all-ports` | medium | a service covering every port of a protocol |
//! | `shadowed` | medium | a rule that never matches first: earlier rules allow all of it |
//! | `overlap` | low | two rules match some of the same flows and differ in log or rate: the earlier one's options apply there |
//! | `no-flows` | medium | a rule whose source and destination share no address family, or are empty |
//! | `empty-zone` | medium | a zone with no networks and no hosts |
//! | `host-outside-zone` | high | a host whose address is outside its zone's networks |
//! | `unused` | info | a zone or host that no rule names |

use portolan_registry::risk::Severity;
use serde::Serialize;

use crate::compile;
use crate::model::{Endpoint, Policy, Service};

/// One lint finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable identifier (`shadowed`, `any-any`, ...).
    pub code: &'static str,
    /// The rule concerned (1-based), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<usize>,
    pub message: String,
    /// What to change.
    pub fix: String,
}

/// Lint a policy; findings sorted by severity (worst first), then rule.
pub fn lint(p: &Policy) -> Vec<Finding> {
    let mut f = Vec::new();
    for (name, z) in &p.zones {
        let has_hosts = p.hosts.values().any(|h| &h.zone == name);
        if z.networks.is_empty() && !has_hosts {
            f.push(Finding {
                severity: Severity::Medium,
                code: "empty-zone",
                rule: None,
                message: format!(
                    "zone {name:?} has no networks and no hosts: rules naming it match nothing"
                ),
                fix: format!(
                    "add `networks:` to zone {name:?} or hosts with `zone: {name}`, or remove it"
                ),
            });
        }
    }
    for (name, h) in &p.hosts {
        let Some(z) = p.zones.get(&h.zone) else {
            continue;
        };
        if !z.networks.is_empty() && !z.networks.iter().any(|n| n.contains(h.address)) {
            f.push(Finding {
                severity: Severity::High,
                code: "host-outside-zone",
                rule: None,
                message: format!(
                    "host {name:?} ({}) is outside every network of its zone {:?}: rules for the zone's networks and for the host disagree",
                    h.address, h.zone
                ),
                fix: format!("correct the address of {name:?}, or its zone, or add its network to the zone"),
            });
        }
    }
    let used: std::collections::BTreeSet<&str> = p
        .rules
        .iter()
        .flat_map(|r| [&r.from, &r.to])
        .filter_map(|e| match e {
            Endpoint::Zone(n) | Endpoint::Host(n) => Some(n.as_str()),
            Endpoint::Any => None,
        })
        .collect();
    for name in p.zones.keys() {
        // A zone is used through its hosts too.
        let via_host = p
            .hosts
            .iter()
            .any(|(hn, h)| &h.zone == name && used.contains(hn.as_str()));
        if !used.contains(name.as_str()) && !via_host {
            f.push(Finding {
                severity: Severity::Info,
                code: "unused",
                rule: None,
                message: format!(
                    "zone {name:?} is named by no rule: everything to and from it is denied"
                ),
                fix: "nothing, if that is intended; otherwise add rules for it".into(),
            });
        }
    }
    let compiled = compile::by_rule(p);
    let cache = crate::model::RangeCache::new(p);
    for (i, r) in p.rules.iter().enumerate() {
        let src = cache.get(&r.from);
        let dst = cache.get(&r.to);
        let everything = |v: &[crate::addr::Range]| v.iter().any(|x| x.is_everything());
        if everything(&src) && everything(&dst) {
            f.push(Finding {
                severity: Severity::High,
                code: "any-any",
                rule: Some(r.number),
                message: format!(
                    "rule {} allows {} from every address to every address",
                    r.number,
                    spec_list(r)
                ),
                fix: "name the zones or hosts that need the service in `from` and `to`".into(),
            });
        }
        for s in r.services() {
            if let Service::Ports { proto, lo, hi } = s {
                if lo <= 1 && hi == u16::MAX {
                    f.push(Finding {
                        severity: Severity::Medium,
                        code: "all-ports",
                        rule: Some(r.number),
                        message: format!("rule {} allows every {proto} port", r.number),
                        fix: "list the services that are needed instead of a full range".into(),
                    });
                }
            }
        }
        if !compiled.has_flows.get(i).copied().unwrap_or(false) {
            f.push(Finding {
                severity: Severity::Medium,
                code: "no-flows",
                rule: Some(r.number),
                message: format!(
                    "rule {} matches nothing: {} and {} have no address family in common (or are empty)",
                    r.number, r.from, r.to
                ),
                fix: "give both sides addresses of the same family (IPv4 or IPv6), or remove the rule".into(),
            });
        } else if !compiled.first_match.get(i).copied().unwrap_or(false) {
            let by: Vec<String> = compiled
                .overlaps
                .iter()
                .filter(|&&(_, later)| later == i)
                .map(|&(earlier, _)| (earlier + 1).to_string())
                .collect();
            f.push(Finding {
                severity: Severity::Medium,
                code: "shadowed",
                rule: Some(r.number),
                message: format!(
                    "rule {} never matches first: rule(s) {} before it already match all of its flows{}",
                    r.number,
                    by.join(", "),
                    if r.has_options() { ", so its log/rate never apply" } else { "" }
                ),
                fix: "remove the rule, or move it above the rules that shadow it".into(),
            });
        }
    }
    for &(a, b) in &compiled.overlaps {
        let (Some(ra), Some(rb)) = (p.rules.get(a), p.rules.get(b)) else {
            continue;
        };
        // Shadowed rules are reported once, as shadowed.
        if !compiled.first_match.get(b).copied().unwrap_or(false) {
            continue;
        }
        if ra.log != rb.log || ra.rate != rb.rate {
            f.push(Finding {
                severity: Severity::Low,
                code: "overlap",
                rule: Some(rb.number),
                message: format!(
                    "rules {} and {} both match some flows and differ in log/rate: for those flows rule {}'s apply",
                    ra.number, rb.number, ra.number
                ),
                fix: "narrow one of the two rules, or give them the same log and rate, or order them as intended (first match wins)".into(),
            });
        }
    }
    f.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(&b.rule)));
    f
}

fn spec_list(r: &crate::model::Rule) -> String {
    r.allow
        .iter()
        .map(|s| s.spec.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
