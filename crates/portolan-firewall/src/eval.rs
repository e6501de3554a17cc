//! A live nftables ruleset (the JSON of `nft -j list ruleset`) evaluated for one new packet:
//! which base chains it crosses on a hook, which rules match, where it ends (accept, drop),
//! and the handle of the rule that decided.
//!
//! What is understood: `ip`/`ip6` `saddr`/`daddr`, `tcp`/`udp`/`th` `dport`, `meta l4proto`,
//! `meta nfproto`, `ip protocol`, `ip6 nexthdr`, `icmp`/`icmpv6 type`, `ct state` (the packet
//! opens a connection: `new`), values, prefixes, ranges, anonymous and named sets, concatenations,
//! anonymous and named verdict maps, `accept`, `drop`, `reject`, `jump`, `goto`, `return`;
//! `counter`, `log`, `limit`, `comment` let the packet through (a rate limit is an allowance).
//! A match on anything else (interfaces, marks, source ports, ...) is taken as *not* matching:
//! the packet comes in on a non-loopback interface with no mark.

use std::collections::HashMap;
use std::net::IpAddr;

use portolan_registry::Protocol;
use serde_json::Value;

/// What a packet carries above IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L4 {
    /// A TCP or UDP packet to this destination port.
    Port(Protocol, u16),
    /// An ICMP (IPv4) or ICMPv6 (IPv6) echo request.
    Echo,
}

/// The first packet of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: L4,
}

impl Packet {
    fn v6(&self) -> bool {
        self.src.is_ipv6()
    }
}

impl std::fmt::Display for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.l4 {
            L4::Port(proto, port) => write!(f, "{} -> {}:{port}/{proto}", self.src, self.dst),
            L4::Echo => write!(f, "{} -> {} echo-request", self.src, self.dst),
        }
    }
}

/// Where a packet ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Accepted by every base chain of the hook; `by` names the deciding rule of the last
    /// chain that accepted by a rule (`None`: only chain policies accepted it).
    Accept { by: Option<String> },
    /// Dropped or rejected: by this rule, or by this chain's policy.
    Drop { by: String },
}

impl Decision {
    pub fn accepted(&self) -> bool {
        matches!(self, Decision::Accept { .. })
    }
}

#[derive(Debug)]
struct Chain {
    family: String,
    table: String,
    name: String,
    hook: Option<String>,
    prio: i64,
    policy: Option<String>,
    rules: Vec<(u64, Vec<Value>)>,
}

/// The addresses and numbers a ruleset names, as inclusive ranges.
#[derive(Debug, Default)]
pub struct Values {
    pub addrs: Vec<(IpAddr, IpAddr)>,
    pub nums: Vec<(u64, u64)>,
}

/// A parsed ruleset, ready to evaluate packets.
#[derive(Debug, Default)]
pub struct Ruleset {
    chains: Vec<Chain>,
    /// (family, table, name) → elements of a named set or map (for a map, `[key, verdict]`).
    sets: HashMap<(String, String, String), Vec<Value>>,
}

/// A value a packet field has.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Addr(IpAddr),
    Num(u64),
    /// A name: a protocol (`tcp`), an ICMP type (`echo-request`), a family (`ipv4`), a ct
    /// state (`new`).
    Name(&'static str),
    Concat(Vec<Val>),
}

enum Flow {
    /// The chain ended with this verdict, decided by this rule handle.
    Verdict(Verdict, u64),
    /// Fell off the end, or `return`.
    Return,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
}

const MAX_DEPTH: usize = 16;

impl Ruleset {
    /// Read the JSON of `nft -j list ruleset` (the caller has checked the top level).
    pub fn parse(items: &[Value]) -> Ruleset {
        let s = |o: &Value, k: &str| o.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let mut rs = Ruleset::default();
        let mut index: HashMap<(String, String, String), usize> = HashMap::new();
        for it in items {
            if let Some(c) = it.get("chain") {
                let key = (s(c, "family"), s(c, "table"), s(c, "name"));
                index.insert(key.clone(), rs.chains.len());
                rs.chains.push(Chain {
                    family: key.0,
                    table: key.1,
                    name: key.2,
                    hook: c.get("hook").and_then(|h| h.as_str()).map(str::to_string),
                    prio: c.get("prio").and_then(|p| p.as_i64()).unwrap_or(0),
                    policy: c.get("policy").and_then(|p| p.as_str()).map(str::to_string),
                    rules: Vec::new(),
                });
            } else if let Some(r) = it.get("rule") {
                let key = (s(r, "family"), s(r, "table"), s(r, "chain"));
                let Some(&i) = index.get(&key) else { continue };
                let exprs = r
                    .get("expr")
                    .and_then(|e| e.as_array())
                    .cloned()
                    .unwrap_or_default();
                let handle = r.get("handle").and_then(|h| h.as_u64()).unwrap_or(0);
                if let Some(c) = rs.chains.get_mut(i) {
                    c.rules.push((handle, exprs));
                }
            } else if let Some(set) = it.get("set").or_else(|| it.get("map")) {
                let key = (s(set, "family"), s(set, "table"), s(set, "name"));
                let elems = set
                    .get("elem")
                    .and_then(|e| e.as_array())
                    .cloned()
                    .unwrap_or_default();
                rs.sets.insert(key, elems);
            }
        }
        rs
    }

    /// Every address and number the ruleset names (from matches, sets and maps): the
    /// boundaries where its decisions can change.
    pub fn values(&self) -> Values {
        let mut addrs = Vec::new();
        let mut nums = Vec::new();
        fn walk(v: &Value, addrs: &mut Vec<(IpAddr, IpAddr)>, nums: &mut Vec<(u64, u64)>) {
            match v {
                Value::String(s) => {
                    if let Ok(a) = s.parse::<IpAddr>() {
                        addrs.push((a, a));
                    }
                }
                Value::Number(n) => {
                    if let Some(n) = n.as_u64() {
                        nums.push((n, n));
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, addrs, nums)),
                Value::Object(o) => {
                    if let Some(p) = o.get("prefix") {
                        if let Some(r) = prefix(p) {
                            addrs.push(r);
                        }
                    } else if let Some(r) = o.get("range").and_then(|r| r.as_array()) {
                        match (r.first(), r.get(1)) {
                            (Some(Value::Number(a)), Some(Value::Number(b))) => {
                                if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
                                    nums.push((a, b));
                                }
                            }
                            (Some(Value::String(a)), Some(Value::String(b))) => {
                                if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                                    addrs.push((a, b));
                                }
                            }
                            _ => {}
                        }
                    } else {
                        o.values().for_each(|x| walk(x, addrs, nums));
                    }
                }
                _ => {}
            }
        }
        for c in &self.chains {
            for (_, exprs) in &c.rules {
                exprs.iter().for_each(|e| walk(e, &mut addrs, &mut nums));
            }
        }
        for elems in self.sets.values() {
            elems.iter().for_each(|e| walk(e, &mut addrs, &mut nums));
        }
        Values { addrs, nums }
    }

    /// Is there any base chain on `hook` (for the packet's family)?
    pub fn has_hook(&self, hook: &str) -> bool {
        self.chains.iter().any(|c| c.hook.as_deref() == Some(hook))
    }

    /// The fate of `pkt` on `hook` (`input`, `forward`, `output`): every base chain of the
    /// hook that sees the packet's family, in priority order; a drop anywhere is final, an
    /// accept passes it to the next base chain.
    pub fn decide(&self, hook: &str, pkt: &Packet) -> Decision {
        let fam = if pkt.v6() { "ip6" } else { "ip" };
        let mut base: Vec<&Chain> = self
            .chains
            .iter()
            .filter(|c| c.hook.as_deref() == Some(hook) && (c.family == "inet" || c.family == fam))
            .collect();
        base.sort_by_key(|c| c.prio);
        let mut by = None;
        for c in base {
            match self.run(c, pkt, 0) {
                Flow::Verdict(Verdict::Accept, h) => by = Some(where_(c, h)),
                Flow::Verdict(Verdict::Drop, h) => return Decision::Drop { by: where_(c, h) },
                Flow::Return => {
                    if matches!(c.policy.as_deref(), Some("drop")) {
                        return Decision::Drop {
                            by: format!("{} {} {} policy drop", c.family, c.table, c.name),
                        };
                    }
                }
            }
        }
        Decision::Accept { by }
    }

    fn chain(&self, like: &Chain, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|c| c.family == like.family && c.table == like.table && c.name == name)
    }

    fn run(&self, c: &Chain, pkt: &Packet, depth: usize) -> Flow {
        if depth > MAX_DEPTH {
            return Flow::Return;
        }
        'rules: for (handle, exprs) in &c.rules {
            for e in exprs {
                let Some((k, v)) = e.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                let verdict = match k.as_str() {
                    "match" => {
                        if self.matches(c, v, pkt) {
                            continue;
                        }
                        continue 'rules;
                    }
                    "counter" | "log" | "limit" | "comment" | "notrack" | "meter" | "set"
                    | "quota" => continue,
                    "vmap" => {
                        let Some(key) = v.get("key").and_then(|k| field(k, pkt)) else {
                            continue 'rules;
                        };
                        let Some(found) = self.lookup(c, v.get("data"), &key) else {
                            continue 'rules;
                        };
                        found
                    }
                    "accept" | "drop" | "reject" | "jump" | "goto" | "return" => e,
                    // Anything else (a NAT statement, a mangle): not understood, skip the rule.
                    _ => continue 'rules,
                };
                match self.verdict(c, verdict, pkt, depth) {
                    Some(Flow::Verdict(v, h)) => {
                        return Flow::Verdict(v, if depth == 0 { *handle } else { h })
                    }
                    Some(Flow::Return) => return Flow::Return,
                    None => continue 'rules,
                }
            }
        }
        Flow::Return
    }

    /// The effect of a verdict object; `None` means go on with the next rule (a jump that
    /// came back).
    fn verdict(&self, c: &Chain, v: &Value, pkt: &Packet, depth: usize) -> Option<Flow> {
        let (k, arg) = v.as_object().and_then(|o| o.iter().next())?;
        match k.as_str() {
            "accept" => Some(Flow::Verdict(Verdict::Accept, 0)),
            "drop" | "reject" => Some(Flow::Verdict(Verdict::Drop, 0)),
            "return" => Some(Flow::Return),
            "jump" | "goto" => {
                let target = arg.get("target").and_then(|t| t.as_str())?;
                let next = self.chain(c, target)?;
                match self.run(next, pkt, depth + 1) {
                    Flow::Verdict(v, h) => Some(Flow::Verdict(v, h)),
                    Flow::Return if k == "goto" => Some(Flow::Return),
                    Flow::Return => None,
                }
            }
            _ => None,
        }
    }

    /// The verdict a verdict map gives `key`.
    fn lookup<'a>(&'a self, c: &Chain, data: Option<&'a Value>, key: &Val) -> Option<&'a Value> {
        let elems: &[Value] = match data? {
            Value::String(s) => {
                let name = s.strip_prefix('@')?;
                self.sets
                    .get(&(c.family.clone(), c.table.clone(), name.to_string()))?
            }
            Value::Object(o) => o.get("set")?.as_array()?,
            _ => return None,
        };
        elems.iter().find_map(|e| {
            let pair = e.as_array()?;
            let (k, v) = (pair.first()?, pair.get(1)?);
            self.value_in(c, k, key).then_some(v)
        })
    }

    fn matches(&self, c: &Chain, m: &Value, pkt: &Packet) -> bool {
        let op = m.get("op").and_then(|o| o.as_str()).unwrap_or("==");
        let Some(left) = m.get("left") else {
            return false;
        };
        let Some(right) = m.get("right") else {
            return false;
        };
        let Some(v) = field(left, pkt) else {
            // The packet has no such field (a tcp match on a UDP packet), or it is not
            // modelled: the rule does not match.
            return false;
        };
        match op {
            "==" | "in" => self.value_in(c, right, &v),
            "!=" => !self.value_in(c, right, &v),
            "<" | ">" | "<=" | ">=" => {
                let (Val::Num(x), Some(y)) = (&v, right.as_u64()) else {
                    return false;
                };
                match op {
                    "<" => *x < y,
                    ">" => *x > y,
                    "<=" => *x <= y,
                    _ => *x >= y,
                }
            }
            _ => false,
        }
    }

    /// Does the right-hand side `r` (a value, prefix, range, set, `@name`, concatenation)
    /// hold `v`?
    fn value_in(&self, c: &Chain, r: &Value, v: &Val) -> bool {
        match r {
            Value::String(s) => {
                if let Some(name) = s.strip_prefix('@') {
                    return self
                        .sets
                        .get(&(c.family.clone(), c.table.clone(), name.to_string()))
                        .is_some_and(|elems| {
                            elems.iter().any(|e| {
                                // A map's element is [key, data]; a set's is the key.
                                let k = e.as_array().and_then(|p| p.first()).unwrap_or(e);
                                self.value_in(c, k, v)
                            })
                        });
                }
                scalar_eq(s, v)
            }
            Value::Number(n) => match (n.as_u64(), v) {
                (Some(n), Val::Num(x)) => n == *x,
                (Some(n), Val::Name(name)) => proto_number(name) == Some(n),
                _ => false,
            },
            Value::Array(a) => a.iter().any(|x| self.value_in(c, x, v)),
            Value::Object(o) => {
                if let Some(set) = o.get("set") {
                    match set.as_array() {
                        Some(a) => a.iter().any(|x| self.value_in(c, x, v)),
                        None => self.value_in(c, set, v),
                    }
                } else if let Some(p) = o.get("prefix") {
                    match (prefix(p), v) {
                        (Some((lo, hi)), Val::Addr(a)) => addr_in(*a, lo, hi),
                        _ => false,
                    }
                } else if let Some(r) = o.get("range").and_then(|r| r.as_array()) {
                    match (r.first(), r.get(1), v) {
                        (Some(a), Some(b), Val::Num(x)) => match (a.as_u64(), b.as_u64()) {
                            (Some(a), Some(b)) => a <= *x && *x <= b,
                            _ => false,
                        },
                        (Some(Value::String(a)), Some(Value::String(b)), Val::Addr(x)) => {
                            match (a.parse(), b.parse()) {
                                (Ok(a), Ok(b)) => addr_in(*x, a, b),
                                _ => false,
                            }
                        }
                        _ => false,
                    }
                } else if let Some(parts) = o.get("concat").and_then(|p| p.as_array()) {
                    let Val::Concat(vals) = v else { return false };
                    parts.len() == vals.len()
                        && parts.iter().zip(vals).all(|(p, x)| self.value_in(c, p, x))
                } else if let Some(e) = o.get("elem") {
                    e.get("val").is_some_and(|x| self.value_in(c, x, v))
                } else {
                    false
                }
            }
            _ => false,
        }
    }
}

fn where_(c: &Chain, handle: u64) -> String {
    format!("{} {} {} handle {handle}", c.family, c.table, c.name)
}

fn addr_in(a: IpAddr, lo: IpAddr, hi: IpAddr) -> bool {
    match (a, lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(lo), IpAddr::V4(hi)) => lo <= a && a <= hi,
        (IpAddr::V6(a), IpAddr::V6(lo), IpAddr::V6(hi)) => lo <= a && a <= hi,
        _ => false,
    }
}

/// `{"addr": "10.0.0.0", "len": 8}` as its first and last address.
fn prefix(p: &Value) -> Option<(IpAddr, IpAddr)> {
    let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
    let len = u32::try_from(p.get("len")?.as_u64()?).ok()?;
    Some(match addr {
        IpAddr::V4(a) => {
            let host = 32u32.checked_sub(len)?;
            let mask = if host >= 32 {
                u32::MAX
            } else {
                (1u32 << host) - 1
            };
            let v = u32::from(a);
            (
                IpAddr::V4((v & !mask).into()),
                IpAddr::V4((v | mask).into()),
            )
        }
        IpAddr::V6(a) => {
            let host = 128u32.checked_sub(len)?;
            let mask = if host >= 128 {
                u128::MAX
            } else {
                (1u128 << host) - 1
            };
            let v = u128::from(a);
            (
                IpAddr::V6((v & !mask).into()),
                IpAddr::V6((v | mask).into()),
            )
        }
    })
}

fn scalar_eq(s: &str, v: &Val) -> bool {
    match v {
        Val::Addr(a) => s.parse::<IpAddr>().is_ok_and(|x| x == *a),
        Val::Num(n) => s.parse::<u64>().is_ok_and(|x| x == *n) || service_port(s) == Some(*n),
        Val::Name(name) => {
            s.eq_ignore_ascii_case(name)
                || (*name == "ipv6-icmp" && s == "icmpv6")
                || s.parse::<u64>()
                    .is_ok_and(|n| proto_number(name) == Some(n))
        }
        Val::Concat(_) => false,
    }
}

/// The few service names `nft -j` may print instead of a number.
fn service_port(s: &str) -> Option<u64> {
    Some(match s {
        "ssh" => 22,
        "http" => 80,
        "https" => 443,
        "domain" => 53,
        _ => return None,
    })
}

fn proto_number(name: &str) -> Option<u64> {
    Some(match name {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "ipv6-icmp" => 58,
        _ => return None,
    })
}

/// The value of a field expression (`{"payload": ...}`, `{"meta": ...}`, `{"ct": ...}`,
/// `{"concat": [...]}`) for the packet; `None` when the packet has no such field or the field
/// is not modelled.
fn field(e: &Value, pkt: &Packet) -> Option<Val> {
    let v6 = pkt.v6();
    if let Some(parts) = e.get("concat").and_then(|c| c.as_array()) {
        return parts
            .iter()
            .map(|p| field(p, pkt))
            .collect::<Option<Vec<_>>>()
            .map(Val::Concat);
    }
    let l4name = match pkt.l4 {
        L4::Port(Protocol::Tcp, _) => "tcp",
        L4::Port(Protocol::Udp, _) => "udp",
        L4::Port(_, _) => return None,
        L4::Echo if v6 => "ipv6-icmp",
        L4::Echo => "icmp",
    };
    if let Some(p) = e.get("payload") {
        let proto = p.get("protocol").and_then(|x| x.as_str())?;
        let fieldname = p.get("field").and_then(|x| x.as_str())?;
        return match (proto, fieldname) {
            ("ip", "saddr") if !v6 => Some(Val::Addr(pkt.src)),
            ("ip", "daddr") if !v6 => Some(Val::Addr(pkt.dst)),
            ("ip6", "saddr") if v6 => Some(Val::Addr(pkt.src)),
            ("ip6", "daddr") if v6 => Some(Val::Addr(pkt.dst)),
            ("ip", "protocol") if !v6 => Some(Val::Name(l4name)),
            ("ip6", "nexthdr") if v6 => Some(Val::Name(l4name)),
            ("tcp" | "udp" | "th", "dport") => match pkt.l4 {
                L4::Port(_, port) if proto == "th" || proto == l4name => {
                    Some(Val::Num(port.into()))
                }
                _ => None,
            },
            ("icmp", "type") if !v6 && pkt.l4 == L4::Echo => Some(Val::Name("echo-request")),
            ("icmpv6", "type") if v6 && pkt.l4 == L4::Echo => Some(Val::Name("echo-request")),
            _ => None,
        };
    }
    if let Some(m) = e.get("meta") {
        return match m.get("key").and_then(|k| k.as_str())? {
            "l4proto" => Some(Val::Name(l4name)),
            "nfproto" => Some(Val::Name(if v6 { "ipv6" } else { "ipv4" })),
            _ => None,
        };
    }
    if let Some(c) = e.get("ct") {
        return match c.get("key").and_then(|k| k.as_str())? {
            "state" => Some(Val::Name("new")),
            _ => None,
        };
    }
    None
}
