//! `iptables-save` / `ip6tables-save` output, read and audited.
//!
//! The format: `*TABLE` starts a table, `:CHAIN POLICY [packets:bytes]` declares a chain (the
//! policy is `-` for user chains), `-A CHAIN MATCHES... -j TARGET` appends a rule, `COMMIT`
//! ends the table, `#` lines are comments. Words are separated by blanks; a word may be quoted
//! with `"` (comments), with `\"` and `\\` escapes inside.
//!
//! [`parse`] is bounded: at most [`MAX_LINES`] lines of at most [`MAX_LINE`] bytes each, and
//! at most [`MAX_WORDS`] words per rule; anything longer is an error that says so. It never
//! panics (a property test and a `cargo fuzz` target check it).
//!
//! [`audit`] gives the findings of the nftables audit, each with the line number as evidence:
//!
//! | code | severity | finding |
//! |---|---|---|
//! | `default-accept` | high | the filter table's INPUT (or FORWARD) chain has policy ACCEPT and does not end with an unconditional DROP/REJECT (or there is no filter table) |
//! | `any-any` | high | a rule of INPUT or FORWARD that jumps to ACCEPT without any match |
//! | `shadowed` | medium | a rule that an earlier rule of the same chain always decides, with another target |
//! | `redundant` | low | a rule that an earlier rule of the same chain always decides, with the same target |
//! | `port-not-listening` | low | an INPUT rule accepts `--dport`/`--dports` values on which nothing listens |

use std::net::IpAddr;

use portolan_registry::risk::Severity;
use portolan_registry::Protocol;

use crate::audit::AuditFinding;

/// The most lines read.
pub const MAX_LINES: usize = 1_000_000;
/// The longest line accepted, in bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// The most words in one rule.
pub const MAX_WORDS: usize = 512;

/// Why an `iptables-save` text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaveError {
    #[error("line {line}: {what}; give the output of `iptables-save` or `ip6tables-save`")]
    Syntax { line: usize, what: String },
    #[error(
        "more than {MAX_LINES} lines: audit the tables one at a time (iptables-save -t filter)"
    )]
    TooManyLines,
}

/// One chain of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub table: String,
    pub name: String,
    /// `ACCEPT`/`DROP` for built-in chains, `None` for user chains (`-`).
    pub policy: Option<String>,
    pub line: usize,
}

/// One `-A` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// 1-based line number in the input.
    pub line: usize,
    pub table: String,
    pub chain: String,
    /// The match options in order, as (option, value): the option without dashes and in its
    /// long spelling where it has two (`s`/`source` → `source`), `!` before the option or the
    /// value kept as a leading `!` of the option. Module loads (`-m tcp`) and comments are not
    /// matches.
    pub matches: Vec<(String, String)>,
    /// `-j`/`-g` target, when there is one.
    pub target: Option<String>,
    /// The rule as written (after `-A`), for messages.
    pub text: String,
}

/// A parsed `iptables-save` text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Save {
    pub chains: Vec<Chain>,
    pub rules: Vec<Rule>,
}

/// Split a line into words: blanks separate, `"..."` quotes (with `\"` and `\\`).
fn words(line: &str, n: usize) -> Result<Vec<String>, SaveError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                    if out.len() > MAX_WORDS {
                        return Err(SaveError::Syntax {
                            line: n,
                            what: format!("more than {MAX_WORDS} words in one rule"),
                        });
                    }
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(SaveError::Syntax {
            line: n,
            what: "a quote is not closed".into(),
        });
    }
    if in_word {
        out.push(cur);
    }
    if out.len() > MAX_WORDS {
        return Err(SaveError::Syntax {
            line: n,
            what: format!("more than {MAX_WORDS} words in one rule"),
        });
    }
    Ok(out)
}

/// The long name of an option (`-s` → `source`), without dashes.
fn long_name(opt: &str) -> String {
    let bare = opt.trim_start_matches('-');
    match bare {
        "s" | "src" => "source",
        "d" | "dst" => "destination",
        "p" => "protocol",
        "i" => "in-interface",
        "o" => "out-interface",
        "f" => "fragment",
        "dport" => "destination-port",
        "sport" => "source-port",
        "dports" => "destination-ports",
        "sports" => "source-ports",
        "state" => "ctstate",
        other => other,
    }
    .to_string()
}

/// Parse `iptables-save` (or `ip6tables-save`) output.
pub fn parse(text: &str) -> Result<Save, SaveError> {
    let mut save = Save::default();
    let mut table: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if n > MAX_LINES {
            return Err(SaveError::TooManyLines);
        }
        if line.len() > MAX_LINE {
            return Err(SaveError::Syntax {
                line: n,
                what: format!("a line longer than {MAX_LINE} bytes"),
            });
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            if t.is_empty() || t.contains(char::is_whitespace) {
                return Err(SaveError::Syntax {
                    line: n,
                    what: format!("{line:?} is not a table header (*filter)"),
                });
            }
            table = Some(t.to_string());
            continue;
        }
        if line == "COMMIT" {
            table = None;
            continue;
        }
        let Some(t) = table.clone() else {
            return Err(SaveError::Syntax {
                line: n,
                what: "a chain or rule outside a table (no *TABLE line before it)".into(),
            });
        };
        if let Some(decl) = line.strip_prefix(':') {
            let mut it = decl.split_whitespace();
            let (Some(name), Some(policy)) = (it.next(), it.next()) else {
                return Err(SaveError::Syntax {
                    line: n,
                    what: "a chain declaration without a policy (:CHAIN POLICY [0:0])".into(),
                });
            };
            save.chains.push(Chain {
                table: t,
                name: name.to_string(),
                policy: (policy != "-").then(|| policy.to_string()),
                line: n,
            });
            continue;
        }
        let w = words(line, n)?;
        let mut it = w.iter().peekable();
        match it.next().map(String::as_str) {
            Some("-A") | Some("--append") => {}
            Some("-N") | Some("-P") | Some("-I") => continue,
            _ => {
                return Err(SaveError::Syntax {
                    line: n,
                    what: format!(
                        "{:?} is not a rule (-A CHAIN ...), a chain (:CHAIN), a table (*TABLE) or COMMIT",
                        line.chars().take(40).collect::<String>()
                    ),
                })
            }
        }
        let Some(chain) = it.next() else {
            return Err(SaveError::Syntax {
                line: n,
                what: "-A without a chain".into(),
            });
        };
        let mut rule = Rule {
            line: n,
            table: t,
            chain: chain.clone(),
            matches: Vec::new(),
            target: None,
            text: line
                .split_once(char::is_whitespace)
                .map_or("", |x| x.1)
                .trim()
                .to_string(),
        };
        let mut negate = false;
        while let Some(word) = it.next() {
            if word == "!" {
                negate = true;
                continue;
            }
            if !word.starts_with('-') {
                return Err(SaveError::Syntax {
                    line: n,
                    what: format!("{word:?} where an option (-p, --dport, -j, ...) was expected"),
                });
            }
            // Options without a value (`--syn`, `-f`, `--rcheck`, ...): the next word is
            // another option, or there is none.
            let known_valueless = matches!(
                word.as_str(),
                "-f" | "--fragment"
                    | "--syn"
                    | "--set"
                    | "--rcheck"
                    | "--update"
                    | "--remove"
                    | "--rsource"
                    | "--rdest"
            );
            let valueless = known_valueless
                || (word.starts_with("--")
                    && !matches!(word.as_str(), "--jump" | "--goto")
                    && it.peek().is_some_and(|w| w.starts_with("--")));
            if valueless {
                let key = long_name(word);
                rule.matches
                    .push((if negate { format!("!{key}") } else { key }, String::new()));
                negate = false;
                continue;
            }
            let mut value = match it.next() {
                Some(v) => v.clone(),
                None => {
                    return Err(SaveError::Syntax {
                        line: n,
                        what: format!("{word} without a value"),
                    })
                }
            };
            if value == "!" {
                negate = true;
                value = it.next().cloned().unwrap_or_default();
            }
            // Options with two values: `--match-set NAME src,dst`, `--tcp-flags MASK SET`.
            if matches!(word.as_str(), "--match-set" | "--tcp-flags") {
                match it.next() {
                    Some(second) => {
                        value.push(' ');
                        value.push_str(second);
                    }
                    None => {
                        return Err(SaveError::Syntax {
                            line: n,
                            what: format!("{word} needs two values"),
                        })
                    }
                }
            }
            match word.as_str() {
                "-m" | "--match" => {}
                "-j" | "--jump" | "-g" | "--goto" => {
                    rule.target = Some(value);
                    // Target options (--reject-with, --log-prefix, ...) follow; skip them.
                    while it.peek().is_some_and(|w| w.starts_with("--") || *w == "!") {
                        let _ = it.next();
                        if it.peek().is_some_and(|w| !w.starts_with('-')) {
                            let _ = it.next();
                        }
                    }
                }
                "--comment" => {}
                _ => {
                    let key = long_name(word);
                    rule.matches
                        .push((if negate { format!("!{key}") } else { key }, value));
                }
            }
            negate = false;
        }
        save.rules.push(rule);
    }
    Ok(save)
}

/// Ports a value stands for: `22`, `1000:2000`, `22,80,1000:2000`, as ranges.
fn port_ranges(v: &str) -> Option<Vec<(u16, u16)>> {
    v.split(',')
        .map(|p| match p.split_once(':') {
            Some((a, b)) => {
                let lo = if a.is_empty() { 0 } else { a.parse().ok()? };
                let hi = if b.is_empty() {
                    u16::MAX
                } else {
                    b.parse().ok()?
                };
                (lo <= hi).then_some((lo, hi))
            }
            None => p.parse().ok().map(|x| (x, x)),
        })
        .collect()
}

/// An address or network (`10.0.0.0/8`, `1.2.3.4/32`, `fd00::/64`, `1.2.3.4`) as a range.
fn net(v: &str) -> Option<(IpAddr, IpAddr)> {
    let (a, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let ip: IpAddr = a.parse().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let len: u32 = match len {
        Some(l) => l.parse().ok().filter(|l| *l <= bits)?,
        None => bits,
    };
    let host = bits - len;
    Some(match ip {
        IpAddr::V4(x) => {
            let mask = if host >= 32 {
                u32::MAX
            } else {
                (1u32 << host) - 1
            };
            let x = u32::from(x);
            (
                IpAddr::V4((x & !mask).into()),
                IpAddr::V4((x | mask).into()),
            )
        }
        IpAddr::V6(x) => {
            let mask = if host >= 128 {
                u128::MAX
            } else {
                (1u128 << host) - 1
            };
            let x = u128::from(x);
            (
                IpAddr::V6((x & !mask).into()),
                IpAddr::V6((x | mask).into()),
            )
        }
    })
}

/// Normalised key for matches that compare as port sets.
fn port_key(k: &str) -> Option<&'static str> {
    match k {
        "destination-port" | "destination-ports" | "dports" => Some("dport"),
        "source-port" | "source-ports" | "sports" => Some("sport"),
        _ => None,
    }
}

/// Does match (ka, va) of an earlier rule hold whenever the later rule's matches hold?
fn covers(ka: &str, va: &str, later: &[(String, String)]) -> bool {
    later.iter().any(|(kb, vb)| {
        if let (Some(pa), Some(pb)) = (port_key(ka), port_key(kb)) {
            if pa != pb {
                return false;
            }
            let (Some(ra), Some(rb)) = (port_ranges(va), port_ranges(vb)) else {
                return false;
            };
            return rb
                .iter()
                .all(|&(lo, hi)| ra.iter().any(|&(a, b)| a <= lo && hi <= b));
        }
        if ka != kb {
            return false;
        }
        match ka {
            "source" | "destination" => match (net(va), net(vb)) {
                (Some((alo, ahi)), Some((blo, bhi))) => {
                    alo.is_ipv4() == blo.is_ipv4() && alo <= blo && bhi <= ahi
                }
                _ => va == vb,
            },
            "ctstate" => {
                let a: Vec<&str> = va.split(',').collect();
                vb.split(',').all(|s| a.contains(&s))
            }
            _ => va == vb,
        }
    })
}

fn terminal(t: Option<&str>) -> bool {
    matches!(t, Some("ACCEPT") | Some("DROP") | Some("REJECT"))
}

/// The (protocol, port) pairs an ACCEPT rule opens by `-p tcp|udp --dport(s)` (ranges are not
/// enumerated).
fn accepted_ports(r: &Rule) -> Vec<(Protocol, u16)> {
    let proto = match r
        .matches
        .iter()
        .find(|(k, _)| k == "protocol")
        .map(|(_, v)| v.as_str())
    {
        Some("tcp") | Some("6") => Protocol::Tcp,
        Some("udp") | Some("17") => Protocol::Udp,
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for (k, v) in &r.matches {
        if port_key(k) != Some("dport") {
            continue;
        }
        for (lo, hi) in port_ranges(v).unwrap_or_default() {
            if lo == hi {
                out.push((proto, lo));
            }
        }
    }
    out
}

/// Audit an `iptables-save` text. `tool` names it in the evidence (`iptables-save`,
/// `ip6tables-save`, a file name); `listening` is what listens on this host (`None` skips
/// `port-not-listening`).
pub fn audit(
    text: &str,
    tool: &str,
    listening: Option<&[(Protocol, u16)]>,
) -> Result<Vec<AuditFinding>, SaveError> {
    let save = parse(text)?;
    let at = |r: &Rule| format!("{tool} line {}: -A {}", r.line, r.text);
    let mut out = Vec::new();
    let filter_chains: Vec<&Chain> = save.chains.iter().filter(|c| c.table == "filter").collect();
    if filter_chains.is_empty() {
        out.push(AuditFinding {
            severity: Severity::High,
            code: "default-accept",
            evidence: format!("{tool}: no filter table"),
            message: "no filter table: every packet to this host is accepted".into(),
            fix: "load a filter table whose INPUT policy is DROP and that accepts what is needed (portolan firewall generate --host NAME --iptables)".into(),
        });
    }
    for c in filter_chains
        .iter()
        .filter(|c| c.name == "INPUT" || c.name == "FORWARD")
    {
        if c.policy.as_deref() == Some("DROP") {
            continue;
        }
        let last = save
            .rules
            .iter()
            .rev()
            .find(|r| r.table == "filter" && r.chain == c.name);
        let ends_dropping = last.is_some_and(|r| {
            r.matches.is_empty() && matches!(r.target.as_deref(), Some("DROP") | Some("REJECT"))
        });
        // A FORWARD chain with no rules on a host that does not route is harmless; one that
        // accepts by default with rules in it is a gateway that filters nothing by default.
        let forward_unused = c.name == "FORWARD" && last.is_none();
        if !ends_dropping && !forward_unused {
            out.push(AuditFinding {
                severity: Severity::High,
                code: "default-accept",
                evidence: format!("{tool} line {}: :{} {}", c.line, c.name, c.policy.as_deref().unwrap_or("-")),
                message: format!(
                    "the {} chain accepts by default: every packet no rule drops is accepted",
                    c.name
                ),
                fix: format!(
                    "set the policy to DROP (-P {} DROP) and accept what is needed (portolan firewall generate --iptables)",
                    c.name
                ),
            });
        }
    }
    for r in save
        .rules
        .iter()
        .filter(|r| r.table == "filter" && (r.chain == "INPUT" || r.chain == "FORWARD"))
    {
        if r.matches.is_empty() && r.target.as_deref() == Some("ACCEPT") {
            out.push(AuditFinding {
                severity: Severity::High,
                code: "any-any",
                evidence: at(r),
                message: format!(
                    "an ACCEPT without any match in {}: everything reaching it is accepted",
                    r.chain
                ),
                fix: "delete the rule, or restrict it to the sources and services that need it"
                    .into(),
            });
        }
    }
    for (j, later) in save.rules.iter().enumerate() {
        let earlier = save.rules[..j].iter().find(|e| {
            e.table == later.table
                && e.chain == later.chain
                && terminal(e.target.as_deref())
                && e.matches.iter().all(|(k, v)| covers(k, v, &later.matches))
        });
        if let Some(e) = earlier {
            let same = e.target == later.target;
            out.push(AuditFinding {
                severity: if same { Severity::Low } else { Severity::Medium },
                code: if same { "redundant" } else { "shadowed" },
                evidence: at(later),
                message: format!(
                    "never decides anything: the rule on line {} matches everything this rule matches and ends with {}{}",
                    e.line,
                    e.target.as_deref().unwrap_or(""),
                    if same { ", as this one does" } else { "" }
                ),
                fix: if same {
                    "delete the rule: it changes nothing".into()
                } else {
                    "delete the rule, or move it above the rule that shadows it".into()
                },
            });
        }
    }
    if let Some(listening) = listening {
        for r in save.rules.iter().filter(|r| {
            r.table == "filter" && r.chain == "INPUT" && r.target.as_deref() == Some("ACCEPT")
        }) {
            for (proto, port) in accepted_ports(r) {
                if !listening.contains(&(proto, port)) {
                    out.push(AuditFinding {
                        severity: Severity::Low,
                        code: "port-not-listening",
                        evidence: at(r),
                        message: format!("accepts {port}/{proto} but nothing listens there"),
                        fix: format!("remove {port}/{proto} from the rule, or start the service"),
                    });
                }
            }
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            words(r#"-A INPUT -m comment --comment "a \"b\" c" -j ACCEPT"#, 1).unwrap(),
            [
                "-A",
                "INPUT",
                "-m",
                "comment",
                "--comment",
                "a \"b\" c",
                "-j",
                "ACCEPT"
            ]
        );
        assert!(words("-A \"open", 3)
            .unwrap_err()
            .to_string()
            .contains("line 3"));
    }

    #[test]
    fn ports_and_nets() {
        assert_eq!(port_ranges("22,80:90"), Some(vec![(22, 22), (80, 90)]));
        assert_eq!(port_ranges("x"), None);
        assert_eq!(port_ranges("90:80"), None);
        let (lo, hi) = net("10.0.0.0/8").unwrap();
        assert_eq!(
            (lo.to_string(), hi.to_string()),
            ("10.0.0.0".into(), "10.255.255.255".into())
        );
        assert_eq!(net("10.0.0.0/33"), None);
    }
}
