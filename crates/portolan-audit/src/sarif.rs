//! SARIF 2.1.0 output (OASIS Static Analysis Results Interchange Format), so CI systems and
//! code-scanning dashboards can show `portolan local` findings.
//!
//! One run; `tool.driver.rules` lists every rule of the rule set; each finding is a result
//! whose location is a logical location (`tcp 0.0.0.0:6379` on the host), with a stable
//! `partialFingerprints` entry so dashboards track it across runs. After a baseline comparison,
//! new findings carry `baselineState: "new"` and resolved ones `"absent"`.

use portolan_registry::risk::Severity;
use serde_json::{json, Value};

use crate::report::{Finding, Report};
use crate::rules::{RuleSeverity, Rules};

/// The schema URI written into `$schema`.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// SARIF `level` for a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The `security-severity` property (a CVSS-like score, as GitHub code scanning reads it).
pub fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn result(f: &Finding, rules: &Rules, host: &str, state: Option<&str>) -> Value {
    let index = rules.rules.iter().position(|r| r.id == f.rule);
    let mut r = json!({
        "ruleId": f.rule,
        "level": if state == Some("absent") { "none" } else { level(f.severity) },
        "message": { "text": format!("{}: {}", f.title, f.evidence) },
        "locations": [{
            "logicalLocations": [{
                "name": f.endpoint,
                "fullyQualifiedName": format!("{}/{}", if host.is_empty() { "localhost" } else { host }, f.endpoint),
                "kind": "resource"
            }]
        }],
        "partialFingerprints": {
            "portolanFinding/v1": format!("{}|{}|{}|{}", f.rule, f.socket.protocol, f.socket.address, f.socket.port)
        },
        "properties": {
            "severity": f.severity.as_str(),
            "security-severity": security_severity(f.severity),
            "endpoint": f.endpoint,
            "risk": f.risk,
            "pids": f.pids,
            "remediation": f.remediation,
            "sources": f.sources,
        }
    });
    if let (Some(i), Some(o)) = (index, r.as_object_mut()) {
        o.insert("ruleIndex".into(), json!(i));
    }
    if let (Some(s), Some(o)) = (state, r.as_object_mut()) {
        o.insert("baselineState".into(), json!(s));
    }
    r
}

/// Render a report as a SARIF 2.1.0 log.
pub fn to_sarif(report: &Report, rules: &Rules, tool_version: &str) -> Value {
    let driver_rules: Vec<Value> = rules
        .rules
        .iter()
        .map(|r| {
            let (lvl, sev) = match r.severity {
                RuleSeverity::Fixed(s) => (level(s), Some(security_severity(s))),
                RuleSeverity::FromRisk => ("warning", None),
            };
            let mut props = json!({ "tags": ["security", "network", "hardening"] });
            if let (Some(s), Some(o)) = (sev, props.as_object_mut()) {
                o.insert("security-severity".into(), json!(s));
            }
            let mut rule = json!({
                "id": r.id,
                "name": r.title.replace(|c: char| !c.is_ascii_alphanumeric(), ""),
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": r.why },
                "help": { "text": r.remediation },
                "defaultConfiguration": { "level": lvl },
                "properties": props,
            });
            if let (Some(u), Some(o)) = (
                r.sources.iter().find(|s| s.starts_with("https://")),
                rule.as_object_mut(),
            ) {
                o.insert("helpUri".into(), json!(u));
            }
            rule
        })
        .collect();
    let with_baseline = report.baseline.is_some();
    let mut results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f, rules, &report.host, with_baseline.then_some("new")))
        .collect();
    if let Some(b) = &report.baseline {
        results.extend(
            b.resolved_findings
                .iter()
                .map(|f| result(f, rules, &report.host, Some("absent"))),
        );
    }
    let notifications: Vec<Value> = report
        .notes
        .iter()
        .map(|n| json!({ "level": "note", "message": { "text": n } }))
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "portolan",
                    "fullName": "portolan local",
                    "version": tool_version,
                    "semanticVersion": tool_version,
                    "informationUri": "https://example.invalid/portolan",
                    "rules": driver_rules,
                }
            },
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": {
                "host": report.host,
                "source": report.source,
                "sockets": report.summary.sockets,
            }
        }]
    })
}
