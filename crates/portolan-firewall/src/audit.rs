//! Audit of a live nftables ruleset, read as the JSON of `nft -j list ruleset` (the schema of
//! libnftables-json(5): `{"nftables": [{"metainfo"}, {"table"}, {"chain"}, {"rule"}, ...]}`).
//!
//! | code | severity | finding |
//! |---|---|---|
//! | `default-accept` | high | no base chain (or only deny-lists: policy accept, drop rules only) on the input hook, or filtering base chains on input or forward none of which drops by default |
//! | `any-any` | high | a rule in an input/forward base chain that accepts without any match |
//! | `shadowed` | medium | a rule an earlier rule of the same chain always decides first (its matches are a subset of this rule's, values included) |
//! | `port-not-listening` | low | an input rule accepts a TCP/UDP port on which nothing listens |
//!
//! Each finding names the rule by table, chain and handle (`nft -a list ruleset` shows handles),
//! so that `nft delete rule FAMILY TABLE CHAIN handle N` removes it.
//!
//! Drift against a policy is [`crate::drift`]'s.

use portolan_registry::risk::Severity;
use portolan_registry::Protocol;
use serde::Serialize;
use serde_json::Value;

/// Why a ruleset could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("the ruleset is not JSON ({0}): give the output of `nft -j list ruleset`")]
    NotJson(String),
    #[error("the ruleset has no \"nftables\" array: give the output of `nft -j list ruleset`")]
    NotNftables,
    #[error("{0}")]
    Policy(String),
}

/// One audit finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    pub severity: Severity,
    pub code: &'static str,
    /// Where: `inet filter input handle 7`, or the hook for hook-wide findings.
    pub evidence: String,
    pub message: String,
    pub fix: String,
}

#[derive(Debug)]
struct Chain {
    family: String,
    table: String,
    name: String,
    hook: Option<String>,
    policy: Option<String>,
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    handle: u64,
    matches: Vec<Value>,
    verdict: Option<String>,
    /// Any statement besides matches, counters and the verdict (log, limit, set updates, ...).
    other: bool,
}

impl Chain {
    /// Policy accept and no rule that accepts or hands the packet on: a list of what to drop.
    fn is_deny_list(&self) -> bool {
        self.policy.as_deref() != Some("drop")
            && self
                .rules
                .iter()
                .all(|r| matches!(r.verdict.as_deref(), None | Some("drop") | Some("reject")))
    }

    fn where_(&self, handle: u64) -> String {
        format!(
            "{} {} {} handle {handle}",
            self.family, self.table, self.name
        )
    }
}

/// Audit the ruleset `json`; `listening` is what listens on this host (for
/// `port-not-listening`; `None` skips that check).
pub fn audit(
    json: &str,
    listening: Option<&[(Protocol, u16)]>,
) -> Result<Vec<AuditFinding>, AuditError> {
    let v: Value = serde_json::from_str(json).map_err(|e| AuditError::NotJson(e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .ok_or(AuditError::NotNftables)?;
    let mut chains: Vec<Chain> = Vec::new();
    let s = |o: &Value, k: &str| o.get(k).and_then(|x| x.as_str()).map(str::to_string);
    for it in items {
        if let Some(c) = it.get("chain") {
            chains.push(Chain {
                family: s(c, "family").unwrap_or_default(),
                table: s(c, "table").unwrap_or_default(),
                name: s(c, "name").unwrap_or_default(),
                hook: s(c, "hook"),
                policy: s(c, "policy"),
                rules: Vec::new(),
            });
        } else if let Some(r) = it.get("rule") {
            let (fam, tab, ch) = (s(r, "family"), s(r, "table"), s(r, "chain"));
            let Some(chain) = chains.iter_mut().find(|c| {
                Some(&c.family) == fam.as_ref()
                    && Some(&c.table) == tab.as_ref()
                    && Some(&c.name) == ch.as_ref()
            }) else {
                continue;
            };
            let mut rule = Rule {
                handle: r.get("handle").and_then(|h| h.as_u64()).unwrap_or(0),
                matches: Vec::new(),
                verdict: None,
                other: false,
            };
            for e in r
                .get("expr")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
            {
                let Some((k, val)) = e.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                match k.as_str() {
                    "match" => rule.matches.push(val.clone()),
                    "counter" => {}
                    "accept" | "drop" | "reject" | "queue" => rule.verdict = Some(k.clone()),
                    "jump" | "goto" | "return" | "continue" | "vmap" => {
                        rule.verdict = Some(k.clone())
                    }
                    _ => rule.other = true,
                }
            }
            chain.rules.push(rule);
        }
    }
    let mut out = Vec::new();
    for hook in ["input", "forward"] {
        let base: Vec<&Chain> = chains
            .iter()
            .filter(|c| c.hook.as_deref() == Some(hook) && c.family != "netdev")
            .collect();
        // A deny-list (policy accept, rules that only drop: `portolan block`'s bans, a
        // fail2ban-style chain) lets through exactly what no chain would: on this question
        // the hook is as if it had no base chain.
        if base.iter().all(|c| c.is_deny_list()) {
            // No chain at all on input: nothing filters what reaches this host. (A host that
            // does not route has nothing on forward, and that is fine.)
            if hook == "input" {
                let evidence = if base.is_empty() {
                    "hook input: no base chain".to_string()
                } else {
                    let names: Vec<String> = base
                        .iter()
                        .map(|c| format!("{} {} {}", c.family, c.table, c.name))
                        .collect();
                    format!("hook input: only deny-list chains ({})", names.join(", "))
                };
                out.push(AuditFinding {
                    severity: Severity::High,
                    code: "default-accept",
                    evidence,
                    message: "no base chain filters the input hook: every packet to this host is accepted".into(),
                    fix: "add an input chain with `policy drop` that accepts what is needed (portolan firewall generate --host NAME)".into(),
                });
            }
            continue;
        }
        let drops = base.iter().any(|c| {
            c.policy.as_deref() == Some("drop")
                || c.rules.last().is_some_and(|r| {
                    r.matches.is_empty()
                        && matches!(r.verdict.as_deref(), Some("drop") | Some("reject"))
                })
        });
        if !drops {
            let names: Vec<String> = base
                .iter()
                .map(|c| format!("{} {} {}", c.family, c.table, c.name))
                .collect();
            out.push(AuditFinding {
                severity: Severity::High,
                code: "default-accept",
                evidence: format!("hook {hook}: {}", names.join(", ")),
                message: format!(
                    "nothing on the {hook} hook drops by default: every packet no rule drops is accepted"
                ),
                fix: "set `policy drop` on a base chain of the hook and accept what is needed (portolan firewall generate)".into(),
            });
        }
        for c in &base {
            for r in &c.rules {
                if r.matches.is_empty() && !r.other && r.verdict.as_deref() == Some("accept") {
                    out.push(AuditFinding {
                        severity: Severity::High,
                        code: "any-any",
                        evidence: c.where_(r.handle),
                        message: format!(
                            "an accept without any match in the {hook} base chain {}: everything reaching it is accepted",
                            c.name
                        ),
                        fix: "delete the rule, or restrict it to the sources and services that need it".into(),
                    });
                }
            }
        }
    }
    for c in &chains {
        for (j, later) in c.rules.iter().enumerate() {
            let shadow = c.rules[..j].iter().find(|e| {
                !e.other
                    && matches!(
                        e.verdict.as_deref(),
                        Some("accept") | Some("drop") | Some("reject")
                    )
                    && e.matches
                        .iter()
                        .all(|m| later.matches.iter().any(|l| covers(m, l)))
            });
            if let Some(e) = shadow {
                out.push(AuditFinding {
                    severity: Severity::Medium,
                    code: "shadowed",
                    evidence: c.where_(later.handle),
                    message: format!(
                        "never decides anything: the earlier rule handle {} matches everything this rule matches and ends with {}",
                        e.handle,
                        e.verdict.as_deref().unwrap_or("")
                    ),
                    fix: "delete the rule, or move it above the rule that shadows it".into(),
                });
            }
        }
    }
    if let Some(listening) = listening {
        for c in chains.iter().filter(|c| c.hook.as_deref() == Some("input")) {
            for r in c
                .rules
                .iter()
                .filter(|r| r.verdict.as_deref() == Some("accept"))
            {
                for (proto, port) in accepted_ports(r) {
                    if !listening.contains(&(proto, port)) {
                        out.push(AuditFinding {
                            severity: Severity::Low,
                            code: "port-not-listening",
                            evidence: c.where_(r.handle),
                            message: format!("accepts {port}/{proto} but nothing listens there"),
                            fix: format!(
                                "remove {port}/{proto} from the rule, or start the service"
                            ),
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.evidence.cmp(&b.evidence))
    });
    Ok(out)
}

/// Does match `a` (earlier) hold whenever match `b` (later) does?
fn covers(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let op = |m: &Value| {
        m.get("op")
            .and_then(|o| o.as_str())
            .unwrap_or("")
            .to_string()
    };
    let eq = |o: &str| o == "==" || o == "in";
    if a.get("left") != b.get("left") || !eq(&op(a)) || !eq(&op(b)) {
        return false;
    }
    let (Some(ra), Some(rb)) = (a.get("right"), b.get("right")) else {
        return false;
    };
    let Some(later) = values(rb) else {
        return false;
    };
    later.iter().all(|v| value_in(ra, v))
}

/// The scalar values a right-hand side stands for (a scalar, or a set of scalars).
fn values(r: &Value) -> Option<Vec<Value>> {
    match r {
        Value::Number(_) | Value::String(_) => Some(vec![r.clone()]),
        Value::Object(o) => {
            let set = o.get("set")?.as_array()?;
            set.iter()
                .all(|x| x.is_number() || x.is_string())
                .then(|| set.clone())
        }
        _ => None,
    }
}

fn value_in(r: &Value, v: &Value) -> bool {
    match r {
        Value::Number(_) | Value::String(_) => r == v,
        Value::Object(o) => {
            if let Some(set) = o.get("set").and_then(|s| s.as_array()) {
                set.iter().any(|x| x == v || value_in(x, v))
            } else if let Some(range) = o.get("range").and_then(|s| s.as_array()) {
                match (
                    range.first().and_then(|x| x.as_u64()),
                    range.get(1).and_then(|x| x.as_u64()),
                    v.as_u64(),
                ) {
                    (Some(lo), Some(hi), Some(x)) => lo <= x && x <= hi,
                    _ => false,
                }
            } else {
                false
            }
        }
        _ => false,
    }
}

/// The (protocol, port) pairs a rule accepts by `tcp dport`/`udp dport` (single values and
/// sets of values; ranges are not enumerated).
fn accepted_ports(r: &Rule) -> Vec<(Protocol, u16)> {
    let mut out = Vec::new();
    for m in &r.matches {
        let Some(p) = m.get("left").and_then(|l| l.get("payload")) else {
            continue;
        };
        if p.get("field").and_then(|f| f.as_str()) != Some("dport") {
            continue;
        }
        let proto = match p.get("protocol").and_then(|f| f.as_str()) {
            Some("tcp") => Protocol::Tcp,
            Some("udp") => Protocol::Udp,
            _ => continue,
        };
        let Some(vals) = m.get("right").and_then(values) else {
            continue;
        };
        for v in vals {
            if let Some(port) = v.as_u64().and_then(|x| u16::try_from(x).ok()) {
                out.push((proto, port));
            }
        }
    }
    out
}

#[cfg(test)]
mod deny_list_tests {
    use super::audit;

    /// `portolan block`'s table: input and forward chains, policy accept, drop rules only.
    const BANS: &str = r#"{"nftables": [
      {"table": {"family": "inet", "name": "portolan_block", "handle": 1}},
      {"chain": {"family": "inet", "table": "portolan_block", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}},
      {"chain": {"family": "inet", "table": "portolan_block", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": -10, "policy": "accept"}},
      {"rule": {"family": "inet", "table": "portolan_block", "chain": "input", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@ban4"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}},
      {"rule": {"family": "inet", "table": "portolan_block", "chain": "forward", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@ban4"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}
    ]}"#;

    #[test]
    fn a_ban_list_is_not_a_default_accept_on_forward() {
        let f = audit(BANS, None).unwrap();
        let got: Vec<(&str, &str)> = f.iter().map(|f| (f.code, f.evidence.as_str())).collect();
        // The host still has no filtering input chain (the real finding); forward is as if
        // it had no chain (a host that does not route), so nothing is said about it.
        assert_eq!(
            got,
            vec![(
                "default-accept",
                "hook input: only deny-list chains (inet portolan_block input)"
            )]
        );
    }
}
