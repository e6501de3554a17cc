//! YAML → [`Policy`], with errors that say where (line and column) and what to write instead.
//!
//! Three passes over the text, all through `serde_norway` (the maintained fork of
//! `serde_yaml`):
//!
//! 1. the names of the zones and hosts;
//! 2. the whole document, syntax checked by the field types themselves (an address that is not
//!    one, a bad rate, a misspelt key) so that serde reports the position of the bad value;
//!    names a rule uses are checked against pass 1 and services resolved in the registry;
//! 3. only when pass 2 found a name or service it cannot resolve: the document again, with
//!    that token marked as wrong, so that the error carries the token's position.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use portolan_registry::input::{self, Limit, ReadError};
use portolan_registry::{Protocol, Registry};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::addr::{self, Range};
use crate::model::{
    Default as DefaultAction, Endpoint, Host, Policy, Rate, Rule, Service, ServiceRef, Zone,
};

/// The most a policy file may weigh.
pub const MAX_POLICY_BYTES: u64 = 16 * input::MIB;

/// A policy that could not be parsed: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// A policy file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: {error}")]
    Parse { path: String, error: PolicyError },
}

impl Policy {
    /// Read and parse a policy file (at most [`MAX_POLICY_BYTES`], through the bounded reader).
    pub fn from_file(path: &Path, reg: &Registry) -> Result<Policy, LoadError> {
        let text = input::read_bounded_string(
            path,
            Limit {
                what: "a policy",
                max_bytes: MAX_POLICY_BYTES,
                hint: "a policy names zones and services; split very large host lists",
            },
        )?;
        Policy::parse(&text, reg).map_err(|error| LoadError::Parse {
            path: path.display().to_string(),
            error,
        })
    }

    /// Parse a policy from YAML text, resolving service names in `reg`.
    pub fn parse(text: &str, reg: &Registry) -> Result<Policy, PolicyError> {
        // Pass 1: everything; the names of zones and hosts come from it (an earlier version
        // read the document once more for them alone, which doubled the cost of large
        // policies).
        let raw: RawPolicy = from_str(text)?;
        let zone_names: BTreeSet<String> = raw.zones.keys().map(|n| n.0.clone()).collect();
        let host_names: BTreeSet<String> = raw.hosts.keys().map(|n| n.0.clone()).collect();
        match resolve(raw, &zone_names, &host_names, reg) {
            Ok(p) => Ok(p),
            Err(Unresolved {
                kind,
                token,
                message,
            }) => {
                // Pass 2: find where the token is.
                let located = LOCATE.with(|l| {
                    *l.borrow_mut() = Some(Locate {
                        kind,
                        token,
                        message: message.clone(),
                    });
                    let r = from_str::<RawPolicy>(text);
                    *l.borrow_mut() = None;
                    r
                });
                match located {
                    Err(e) => Err(e),
                    Ok(_) => Err(PolicyError {
                        line: None,
                        column: None,
                        message,
                    }),
                }
            }
        }
    }
}

fn from_str<T: de::DeserializeOwned>(text: &str) -> Result<T, PolicyError> {
    if text.trim().is_empty() {
        return Err(PolicyError {
            line: None,
            column: None,
            message: "the policy is empty: it needs zones, hosts and rules (see docs/policy.md)"
                .into(),
        });
    }
    BAD_TOKEN.with(|b| *b.borrow_mut() = None);
    serde_norway::from_str(text).map_err(|e| {
        let loc = e.location();
        let mut message = e.to_string();
        // serde_norway appends " at line L column C"; the position is given separately.
        if let Some(i) = message.rfind(" at line ") {
            message.truncate(i);
        }
        let mut line = loc.as_ref().map(|l| l.line());
        let mut column = loc.as_ref().map(|l| l.column());
        // serde_norway places an error raised by a value's own type at the start of the
        // mapping or sequence that holds it; the bad value itself is the first occurrence of
        // its text from there.
        let token = BAD_TOKEN.with(|b| b.borrow_mut().take());
        if let (Some(loc), Some(token)) = (loc, token) {
            if let Some(at) = find_token(text, loc.index(), &token) {
                let (l, c) = line_col(text, at);
                line = Some(l);
                column = Some(c);
            }
        }
        PolicyError {
            line,
            column,
            message,
        }
    })
}

/// Byte offset of the first occurrence of `token` at or after `from`, as a whole word.
fn find_token(text: &str, from: usize, token: &str) -> Option<usize> {
    if token.is_empty() {
        return None;
    }
    let word = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':');
    let hay = text.get(from..)?;
    let mut start = 0;
    while let Some(i) = hay.get(start..)?.find(token) {
        let at = start + i;
        let before = hay[..at].chars().next_back();
        let after = hay.get(at + token.len()..).and_then(|s| s.chars().next());
        if !before.is_some_and(word) && !after.is_some_and(word) {
            return Some(from + at);
        }
        start = at + token.len().max(1);
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Remember the text of a value that failed, for [`from_str`] to place the error on it.
fn bad<E: de::Error>(token: &str, message: impl fmt::Display) -> E {
    BAD_TOKEN.with(|b| *b.borrow_mut() = Some(token.trim().to_string()));
    E::custom(message)
}

// ---------------------------------------------------------------------------------------------
// Pass 2's marker: the token to fail on, and why.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Endpoint,
    HostZone,
    Service,
}

struct Locate {
    kind: Kind,
    token: String,
    message: String,
}

thread_local! {
    static BAD_TOKEN: RefCell<Option<String>> = const { RefCell::new(None) };
    static LOCATE: RefCell<Option<Locate>> = const { RefCell::new(None) };
}

fn check_marked<E: de::Error>(kind: Kind, token: &str) -> Result<(), E> {
    LOCATE.with(|l| match &*l.borrow() {
        Some(m) if m.kind == kind && m.token == token => Err(bad(token, &m.message)),
        _ => Ok(()),
    })
}

struct Unresolved {
    kind: Kind,
    token: String,
    message: String,
}

// ---------------------------------------------------------------------------------------------
// The raw document.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    zones: BTreeMap<Name, RawZone>,
    #[serde(default)]
    hosts: BTreeMap<Name, RawHost>,
    #[serde(default)]
    rules: Vec<RawRule>,
    default: RawDefault,
    #[serde(default)]
    egress: Option<RawEgress>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    #[serde(default)]
    networks: Vec<Net>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    address: Addr,
    zone: Named<ZoneTag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    from: Named<EndpointTag>,
    to: Named<EndpointTag>,
    #[serde(deserialize_with = "non_empty")]
    allow: Vec<Svc>,
    #[serde(default)]
    log: bool,
    #[serde(default)]
    rate: Option<RateStr>,
    #[serde(default)]
    comment: Option<String>,
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Svc>, D::Error> {
    let v = Vec::<Svc>::deserialize(d)?;
    if v.is_empty() {
        return Err(de::Error::custom(
            "the rule allows nothing: list services (e.g. allow: [ssh]) or remove the rule",
        ));
    }
    Ok(v)
}

struct RawEgress(Option<DefaultAction>);

impl<'de> Deserialize<'de> for RawEgress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim().to_ascii_lowercase().as_str() {
            "allow" | "accept" => Ok(RawEgress(None)),
            "deny" | "drop" => Ok(RawEgress(Some(DefaultAction::Deny))),
            "reject" => Ok(RawEgress(Some(DefaultAction::Reject))),
            other => Err(bad(
                &s,
                format_args!(
                    "egress: {other:?} is not supported: write `egress: allow` (a host's outgoing \
                 connections are not filtered, the default), `egress: deny` or `egress: reject` \
                 (only those that rules from the host allow)"
                ),
            )),
        }
    }
}

struct RawDefault(DefaultAction);

impl<'de> Deserialize<'de> for RawDefault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.trim().to_ascii_lowercase().as_str() {
            "deny" | "drop" => Ok(RawDefault(DefaultAction::Deny)),
            "reject" => Ok(RawDefault(DefaultAction::Reject)),
            other => Err(bad(
                &s,
                format_args!(
                    "default: {other:?} is not supported: a least-privilege policy denies what no \
                 rule allows; write `default: deny` (drop) or `default: reject` and add rules \
                 for what must be reachable"
                ),
            )),
        }
    }
}

struct Net(Range);

impl<'de> Deserialize<'de> for Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        addr::parse_net(&s).map(Net).map_err(|m| bad(&s, m))
    }
}

struct Addr(IpAddr);

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim().parse().map(Addr).map_err(|_| {
            bad(
                &s,
                format_args!(
                "{s:?} is not an IP address: a host has one address, e.g. 10.20.0.10 or fd00::10 \
                 (networks belong to zones)"
            ),
            )
        })
    }
}

struct RateStr(Rate);

impl<'de> Deserialize<'de> for RateStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(RateStr).map_err(|m: String| bad(&s, m))
    }
}

trait Tag {
    const KIND: Kind;
}
struct ZoneTag;
impl Tag for ZoneTag {
    const KIND: Kind = Kind::HostZone;
}
struct EndpointTag;
impl Tag for EndpointTag {
    const KIND: Kind = Kind::Endpoint;
}

/// The longest zone or host name.
pub const MAX_NAME: usize = 64;

/// Is `s` a valid zone or host name: 1 to [`MAX_NAME`] letters, digits, `-`, `_` or `.`,
/// starting with a letter or digit? Names reach generated firewall rules and terminals, so
/// nothing else is allowed in them.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn checked_name<E: de::Error>(s: String) -> Result<String, E> {
    if valid_name(&s) {
        Ok(s)
    } else {
        let shown: String = s
            .chars()
            .take(MAX_NAME)
            .flat_map(char::escape_default)
            .collect();
        Err(bad(
            &s,
            format_args!(
                "\"{shown}\" is not a usable name: zone and host names are 1 to {MAX_NAME} letters, \
                 digits, '-', '_' or '.', starting with a letter or digit (e.g. dmz, web-1)"
            ),
        ))
    }
}

/// A zone or host name as a map key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Name(String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_name(String::deserialize(d)?).map(Name)
    }
}

/// A name a rule or host refers to, checked against pass 2's marker.
struct Named<T>(String, std::marker::PhantomData<T>);

impl<'de, T: Tag> Deserialize<'de> for Named<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = checked_name(String::deserialize(d)?)?;
        check_marked(T::KIND, &s)?;
        Ok(Named(s, std::marker::PhantomData))
    }
}

/// A service as written: a string (`ssh`, `53/udp`, `8000-8100`) or a bare number (`22`).
struct Svc(String);

impl<'de> Deserialize<'de> for Svc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a service: a name (ssh), a port (22), a range (8000-8100), each with an optional /tcp or /udp, or icmp-echo")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.trim().to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
        }
        let s = d.deserialize_any(V)?;
        check_marked(Kind::Service, &s)?;
        Ok(Svc(s))
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution.

fn resolve(
    raw: RawPolicy,
    zone_names: &BTreeSet<String>,
    host_names: &BTreeSet<String>,
    reg: &Registry,
) -> Result<Policy, Unresolved> {
    for name in zone_names {
        if host_names.contains(name) {
            return Err(Unresolved {
                kind: Kind::Endpoint,
                token: name.clone(),
                message: format!(
                    "{name:?} names both a zone and a host: rename one so that rules are unambiguous"
                ),
            });
        }
        if name == "any" {
            return Err(Unresolved {
                kind: Kind::Endpoint,
                token: name.clone(),
                message: "\"any\" is reserved (it means every address): rename the zone".into(),
            });
        }
    }
    let zones: BTreeMap<String, Zone> = raw
        .zones
        .into_iter()
        .map(|(n, z)| {
            (
                n.0,
                Zone {
                    networks: z.networks.into_iter().map(|n| n.0).collect(),
                },
            )
        })
        .collect();
    let mut hosts = BTreeMap::new();
    for (name, h) in raw.hosts {
        let zone = h.zone.0;
        if !zone_names.contains(&zone) {
            return Err(Unresolved {
                kind: Kind::HostZone,
                message: unknown_name("zone", &zone, zone_names.iter()),
                token: zone,
            });
        }
        hosts.insert(
            name.0,
            Host {
                address: h.address.0,
                zone,
            },
        );
    }
    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.into_iter().enumerate() {
        let endpoint = |n: String| -> Result<Endpoint, Unresolved> {
            if n.eq_ignore_ascii_case("any") {
                Ok(Endpoint::Any)
            } else if zone_names.contains(&n) {
                Ok(Endpoint::Zone(n))
            } else if host_names.contains(&n) {
                Ok(Endpoint::Host(n))
            } else {
                Err(Unresolved {
                    kind: Kind::Endpoint,
                    message: unknown_name(
                        "zone or host",
                        &n,
                        zone_names.iter().chain(host_names.iter()),
                    ),
                    token: n,
                })
            }
        };
        let from = endpoint(r.from.0)?;
        let to = endpoint(r.to.0)?;
        let mut allow = Vec::with_capacity(r.allow.len());
        for s in r.allow {
            let resolved = resolve_service(&s.0, reg).map_err(|message| Unresolved {
                kind: Kind::Service,
                token: s.0.clone(),
                message,
            })?;
            allow.push(ServiceRef {
                spec: s.0,
                resolved,
            });
        }
        rules.push(Rule {
            number: i + 1,
            from,
            to,
            allow,
            log: r.log,
            rate: r.rate.map(|r| r.0),
            comment: r.comment,
        });
    }
    let RawDefault(default) = raw.default;
    Ok(Policy {
        zones,
        hosts,
        rules,
        default,
        egress: raw.egress.and_then(|e| e.0),
    })
}

fn unknown_name<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let known: Vec<&String> = known.collect();
    let mut close: Vec<&str> = known
        .iter()
        .filter(|k| {
            portolan_registry::levenshtein(&k.to_ascii_lowercase(), &name.to_ascii_lowercase()) <= 2
        })
        .map(|k| k.as_str())
        .collect();
    close.truncate(3);
    let mut m = format!("unknown {what} {name:?}");
    if !close.is_empty() {
        m.push_str(&format!(": did you mean {}?", close.join(", ")));
    } else if known.is_empty() {
        m.push_str(": none is defined; define it under `zones:` or `hosts:`, or write `any`");
    } else {
        let list: Vec<&str> = known.iter().map(|k| k.as_str()).collect();
        m.push_str(&format!(
            ": define it, or use one of {}, any",
            list.join(", ")
        ));
    }
    m
}

/// Resolve one service spec: `icmp-echo`; `22`, `8000-8100`, either with `/tcp`, `/udp`,
/// `/sctp` or `/dccp`; or a registry name (`ssh`, `postgresql`, `domain/udp`). Without a
/// protocol a number or range means TCP, and a name its TCP registrations (its UDP ones when
/// it has no TCP registration).
pub fn resolve_service(spec: &str, reg: &Registry) -> Result<Vec<Service>, String> {
    let spec = spec.trim();
    let lower = spec.to_ascii_lowercase();
    if matches!(lower.as_str(), "icmp-echo" | "ping" | "echo-request") {
        return Ok(vec![Service::IcmpEcho]);
    }
    if spec.is_empty() {
        return Err(
            "an empty service: write a name (ssh), a port (22) or a range (8000-8100)".into(),
        );
    }
    let (body, proto) = match lower.rsplit_once('/') {
        Some((b, p)) => {
            let proto: Protocol = p.parse().map_err(|_| {
                format!("{spec:?}: unknown protocol {p:?}; write /tcp, /udp, /sctp or /dccp")
            })?;
            (b.to_string(), Some(proto))
        }
        None => (lower.clone(), None),
    };
    if body.starts_with(|c: char| c.is_ascii_digit()) {
        let (lo, hi) = match body.split_once('-') {
            Some((a, b)) => (port_num(a, spec)?, port_num(b, spec)?),
            None => {
                let p = port_num(&body, spec)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!("{spec:?}: the range is reversed; write {hi}-{lo}"));
        }
        return Ok(vec![Service::Ports {
            proto: proto.unwrap_or(Protocol::Tcp),
            lo,
            hi,
        }]);
    }
    let mut by_proto: BTreeMap<Protocol, Vec<(u16, u16)>> = BTreeMap::new();
    for e in reg.by_name(&body) {
        if let (Some(p), Some(ports)) = (e.protocol(), e.ports()) {
            by_proto.entry(p).or_default().push(ports);
        }
    }
    if by_proto.is_empty() {
        let mut m = format!("unknown service {body:?}: not a service name of the IANA registry");
        let s = reg.suggest(&body, 4);
        if !s.is_empty() {
            m.push_str(&format!(" (close: {})", s.join(", ")));
        }
        m.push_str("; write a port (22/tcp, 53/udp) or range (8000-8100) instead");
        return Err(m);
    }
    let chosen = match proto {
        Some(p) => p,
        None if by_proto.contains_key(&Protocol::Tcp) => Protocol::Tcp,
        None if by_proto.contains_key(&Protocol::Udp) => Protocol::Udp,
        None => by_proto.keys().next().copied().unwrap_or(Protocol::Tcp),
    };
    let Some(ports) = by_proto.get(&chosen) else {
        let have: Vec<&str> = by_proto.keys().map(|p| p.as_str()).collect();
        return Err(format!(
            "{spec:?}: {body} is not registered on {chosen}; it is on {}",
            have.join(", ")
        ));
    };
    let mut v: Vec<Service> = ports
        .iter()
        .map(|&(lo, hi)| Service::Ports {
            proto: chosen,
            lo,
            hi,
        })
        .collect();
    v.sort();
    v.dedup();
    Ok(v)
}

fn port_num(s: &str, spec: &str) -> Result<u16, String> {
    match s.trim().parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(format!(
            "{spec:?}: {s:?} is not a port; ports are numbers from 1 to 65535"
        )),
    }
}
