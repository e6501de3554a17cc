//! Targets: what to scan, as a set of address intervals that is never materialised.
//!
//! Accepted forms (each also in an `-iL` file, one or more a line, `#` comments):
//! `192.0.2.7`, `2001:db8::1`, `192.0.2.0/24`, `2001:db8::/120`, `192.0.2.1-192.0.2.50`,
//! `192.0.2.1-50` (last-octet shorthand), `2001:db8::1-2001:db8::ff`, `host.example` and
//! `host.example/28` (resolved once, when parsing).
//!
//! Intervals are merged, sorted, and the exclude list is subtracted from them, so the set holds
//! each address at most once and never an excluded one. Indexing ([`TargetSet::get`]) is a binary
//! search over the intervals' cumulative sizes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// How hostnames are turned into addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resolve {
    /// The first address the resolver returns (what nmap does).
    #[default]
    First,
    /// Every address the resolver returns.
    All,
}

/// Options for parsing targets.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetOptions {
    pub resolve: Resolve,
}

/// An error in a target or exclude spec.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{spec:?} is not a target: {why}. Use an address (192.0.2.7, 2001:db8::1), a CIDR block (192.0.2.0/24), a range (192.0.2.1-192.0.2.50) or a hostname")]
    Invalid { spec: String, why: String },
    #[error("cannot resolve {host:?}: {why}")]
    Resolve { host: String, why: String },
    #[error("cannot read target list {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] portolan_registry::input::ReadError),
    #[error("no targets left to scan{0}")]
    Empty(String),
    #[error("the target set is too large ({0} addresses): split it into smaller blocks")]
    TooLarge(u128),
}

/// An address family.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Family {
    V4,
    V6,
}

/// An inclusive interval of addresses of one family (IPv4 addresses use the low 32 bits).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Interval {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
}

impl Interval {
    /// The interval of one address.
    pub fn single(ip: IpAddr) -> Interval {
        let (family, v) = from_ip(ip);
        Interval {
            family,
            lo: v,
            hi: v,
        }
    }
    /// The `i`th address of the interval, `None` past its end.
    pub fn nth(&self, i: u128) -> Option<IpAddr> {
        (i < self.size()).then(|| to_ip(self.family, self.lo + i))
    }
    /// Number of addresses.
    pub fn size(&self) -> u128 {
        self.hi - self.lo + 1
    }
    fn contains(&self, family: Family, v: u128) -> bool {
        self.family == family && self.lo <= v && v <= self.hi
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = to_ip(self.family, self.lo);
        if self.lo == self.hi {
            write!(f, "{a}")
        } else {
            write!(f, "{a}-{}", to_ip(self.family, self.hi))
        }
    }
}

fn to_ip(family: Family, v: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

fn from_ip(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u32::from(a) as u128),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (Family::V4, u32::from(v4) as u128),
            None => (Family::V6, u128::from(a)),
        },
    }
}

fn bits(family: Family) -> u32 {
    match family {
        Family::V4 => 32,
        Family::V6 => 128,
    }
}

/// One parsed spec: intervals plus the hostname it came from, if any.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub intervals: Vec<Interval>,
    pub hostname: Option<String>,
}

fn invalid(spec: &str, why: impl Into<String>) -> TargetError {
    TargetError::Invalid {
        spec: spec.to_string(),
        why: why.into(),
    }
}

fn cidr(spec: &str, family: Family, v: u128, prefix: &str) -> Result<Interval, TargetError> {
    let max = bits(family);
    let p: u32 = prefix
        .parse()
        .map_err(|_| invalid(spec, format!("prefix length {prefix:?} is not a number")))?;
    if p > max {
        return Err(invalid(
            spec,
            format!("prefix length {p} is longer than {max} bits"),
        ));
    }
    let host_bits = max - p;
    let mask: u128 = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let lo = v & !mask;
    let hi = lo | mask;
    let hi = if family == Family::V4 {
        hi & 0xffff_ffff
    } else {
        hi
    };
    Ok(Interval { family, lo, hi })
}

fn resolve(host: &str, how: Resolve) -> Result<Vec<IpAddr>, TargetError> {
    let addrs = (host, 0u16)
        .to_socket_addrs()
        .map_err(|e| TargetError::Resolve {
            host: host.to_string(),
            why: e.to_string(),
        })?;
    let mut out: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !out.contains(&a.ip()) {
            out.push(a.ip());
        }
        if how == Resolve::First {
            break;
        }
    }
    if out.is_empty() {
        return Err(TargetError::Resolve {
            host: host.to_string(),
            why: "the resolver returned no address".into(),
        });
    }
    Ok(out)
}

fn looks_like_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        && s.chars().any(|c| c.is_ascii_alphabetic())
        && !s.starts_with('-')
        && !s.starts_with('.')
}

/// Parse one spec without resolving hostnames; `Ok(None)` means "a hostname".
pub fn parse_literal(spec: &str) -> Result<Option<Vec<Interval>>, TargetError> {
    let s = spec.trim();
    if s.is_empty() {
        return Err(invalid(spec, "it is empty"));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        let (family, v) = from_ip(ip);
        return Ok(Some(vec![Interval {
            family,
            lo: v,
            hi: v,
        }]));
    }
    if let Some((a, p)) = s.split_once('/') {
        if let Ok(ip) = a.parse::<IpAddr>() {
            let (family, v) = from_ip(ip);
            // An IPv4-mapped IPv6 CIDR (::ffff:192.0.2.0/120) counts in IPv6 bits.
            if family == Family::V4 && ip.is_ipv6() {
                let p: u32 = p
                    .parse()
                    .map_err(|_| invalid(spec, format!("prefix length {p:?} is not a number")))?;
                if !(96..=128).contains(&p) {
                    return Err(invalid(
                        spec,
                        "an IPv4-mapped block needs a prefix from 96 to 128",
                    ));
                }
                return Ok(Some(vec![cidr(spec, family, v, &(p - 96).to_string())?]));
            }
            return Ok(Some(vec![cidr(spec, family, v, p)?]));
        }
        if looks_like_hostname(a) {
            return Ok(None);
        }
        return Err(invalid(spec, format!("{a:?} is not an address")));
    }
    if let Some((a, b)) = s.split_once('-') {
        if let Ok(lo_ip) = a.parse::<IpAddr>() {
            let (fam, lo) = from_ip(lo_ip);
            let (fam_b, hi) = if let Ok(hi_ip) = b.parse::<IpAddr>() {
                from_ip(hi_ip)
            } else if fam == Family::V4 && lo_ip.is_ipv4() {
                let last: u8 = b.parse().map_err(|_| {
                    invalid(
                        spec,
                        format!("{b:?} is neither an address nor a last octet (0-255)"),
                    )
                })?;
                (Family::V4, (lo & !0xff) | last as u128)
            } else {
                return Err(invalid(spec, format!("{b:?} is not an address")));
            };
            if fam != fam_b {
                return Err(invalid(spec, "a range cannot mix IPv4 and IPv6"));
            }
            if hi < lo {
                return Err(invalid(spec, "the range ends before it starts"));
            }
            return Ok(Some(vec![Interval {
                family: fam,
                lo,
                hi,
            }]));
        }
    }
    if looks_like_hostname(s) {
        return Ok(None);
    }
    Err(invalid(
        spec,
        "it is not an address, block, range or hostname",
    ))
}

/// Parse one spec, resolving a hostname if it is one.
pub fn parse_spec(spec: &str, opts: TargetOptions) -> Result<Parsed, TargetError> {
    if let Some(intervals) = parse_literal(spec)? {
        return Ok(Parsed {
            intervals,
            hostname: None,
        });
    }
    let s = spec.trim();
    let (host, prefix) = match s.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let mut intervals = Vec::new();
    for ip in resolve(host, opts.resolve)? {
        let (family, v) = from_ip(ip);
        intervals.push(match prefix {
            Some(p) => cidr(spec, family, v, p)?,
            None => Interval {
                family,
                lo: v,
                hi: v,
            },
        });
    }
    Ok(Parsed {
        intervals,
        hostname: Some(host.to_string()),
    })
}

/// Split the text of a target file into specs (whitespace or commas separate, `#` starts a
/// comment).
pub fn split_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ','))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The most bytes of a target or exclude list read (`-iL`, `--exclude-file`): about four
/// million lines of addresses.
pub const LIST_LIMIT: portolan_registry::input::Limit = portolan_registry::input::Limit {
    what: "a target list",
    max_bytes: 64 * portolan_registry::input::MIB,
    hint: "give CIDR blocks or ranges (192.0.2.0/24, 192.0.2.1-192.0.2.50) instead of single \
           addresses, or split the list over several scans",
};

/// Read a target file (`-iL`, `--exclude-file`); `-` is standard input. At most
/// [`LIST_LIMIT`]; a FIFO or device that stays silent is given up on (see
/// [`portolan_registry::input`]).
pub fn read_list(path: &str) -> Result<Vec<String>, TargetError> {
    use portolan_registry::input;
    let text = if path == "-" {
        input::read_stdin_bounded(LIST_LIMIT)?
    } else {
        input::read_bounded_string(std::path::Path::new(path), LIST_LIMIT)?
    };
    Ok(split_list(&text))
}

/// Sort and merge overlapping or adjacent intervals.
pub fn normalize(mut v: Vec<Interval>) -> Vec<Interval> {
    v.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(v.len());
    for iv in v {
        if let Some(last) = out.last_mut() {
            if last.family == iv.family && iv.lo <= last.hi.saturating_add(1) {
                if iv.hi > last.hi {
                    last.hi = iv.hi;
                }
                continue;
            }
        }
        out.push(iv);
    }
    out
}

/// `a` minus `b`; both normalised.
pub fn subtract(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    for iv in a {
        let mut pieces = vec![*iv];
        for ex in b.iter().filter(|e| e.family == iv.family) {
            let mut next = Vec::new();
            for p in pieces {
                if ex.hi < p.lo || ex.lo > p.hi {
                    next.push(p);
                    continue;
                }
                if ex.lo > p.lo {
                    next.push(Interval { hi: ex.lo - 1, ..p });
                }
                if ex.hi < p.hi {
                    next.push(Interval { lo: ex.hi + 1, ..p });
                }
            }
            pieces = next;
            if pieces.is_empty() {
                break;
            }
        }
        out.extend(pieces);
    }
    out
}

/// A set of target addresses: merged intervals minus excludes, with O(log n) indexing.
#[derive(Clone, Debug, Default)]
pub struct TargetSet {
    intervals: Vec<Interval>,
    /// `starts[i]` = number of addresses before `intervals[i]`.
    starts: Vec<u64>,
    total: u64,
    excludes: Vec<Interval>,
    hostnames: Vec<(IpAddr, String)>,
}

/// Largest target set accepted (addresses), so that targets × ports fits the plan.
pub const MAX_TARGETS: u128 = 1 << 40;

impl TargetSet {
    /// Parse targets and excludes (specs as the user gave them).
    pub fn parse<S: AsRef<str>, E: AsRef<str>>(
        targets: &[S],
        excludes: &[E],
        opts: TargetOptions,
    ) -> Result<TargetSet, TargetError> {
        let mut ivs = Vec::new();
        let mut hostnames = Vec::new();
        for t in targets {
            let p = parse_spec(t.as_ref(), opts)?;
            if let Some(h) = &p.hostname {
                for iv in &p.intervals {
                    if iv.lo == iv.hi {
                        hostnames.push((to_ip(iv.family, iv.lo), h.clone()));
                    }
                }
            }
            ivs.extend(p.intervals);
        }
        let mut exs = Vec::new();
        for e in excludes {
            // Excludes resolve every address of a name: excluding is never partial.
            let p = parse_spec(
                e.as_ref(),
                TargetOptions {
                    resolve: Resolve::All,
                },
            )?;
            exs.extend(p.intervals);
        }
        Self::from_intervals(ivs, exs, hostnames)
    }

    /// Build from intervals.
    pub fn from_intervals(
        targets: Vec<Interval>,
        excludes: Vec<Interval>,
        hostnames: Vec<(IpAddr, String)>,
    ) -> Result<TargetSet, TargetError> {
        let had_targets = !targets.is_empty();
        let excludes = normalize(excludes);
        let intervals = subtract(&normalize(targets), &excludes);
        let mut starts = Vec::with_capacity(intervals.len());
        let mut total: u128 = 0;
        for iv in &intervals {
            starts.push(total as u64);
            total += iv.size();
            if total > MAX_TARGETS {
                return Err(TargetError::TooLarge(total));
            }
        }
        if total == 0 {
            return Err(TargetError::Empty(if had_targets {
                ": every target is excluded (check --exclude / --exclude-file)".into()
            } else {
                ": give at least one target (an address, block, range or hostname) or -iL FILE"
                    .into()
            }));
        }
        let mut hostnames = hostnames;
        hostnames.sort();
        hostnames.dedup_by(|a, b| a.0 == b.0);
        Ok(TargetSet {
            intervals,
            starts,
            total: total as u64,
            excludes,
            hostnames,
        })
    }

    /// The addresses of `addrs` (e.g. the live hosts host discovery found), with the hostnames
    /// this set knows for them; the excludes still hold. An error when none is left.
    pub fn subset(&self, addrs: &[IpAddr]) -> Result<TargetSet, TargetError> {
        let ivs: Vec<Interval> = addrs
            .iter()
            .map(|&a| {
                let (family, v) = from_ip(a);
                Interval {
                    family,
                    lo: v,
                    hi: v,
                }
            })
            .collect();
        let names = self
            .hostnames
            .iter()
            .filter(|(a, _)| addrs.contains(a))
            .cloned()
            .collect();
        Self::from_intervals(ivs, self.excludes.clone(), names)
    }

    /// The targets inside `set` and those outside it, each sorted and disjoint (e.g. this
    /// host's own addresses, which host discovery does not probe, and the others).
    pub fn split_by(&self, set: &[Interval]) -> (Vec<Interval>, Vec<Interval>) {
        let set = normalize(set.to_vec());
        let outside = subtract(&self.intervals, &set);
        let inside = subtract(&self.intervals, &outside);
        (inside, outside)
    }

    /// The targets within `keep` (e.g. the live hosts host discovery found and this host's
    /// own addresses), with the hostnames this set knows for them; the excludes still hold.
    /// An error when none is left.
    pub fn restrict(&self, keep: Vec<Interval>) -> Result<TargetSet, TargetError> {
        let (inside, _) = self.split_by(&keep);
        let names = self
            .hostnames
            .iter()
            .filter(|(a, _)| {
                let (f, v) = from_ip(*a);
                inside.iter().any(|iv| iv.contains(f, v))
            })
            .cloned()
            .collect();
        Self::from_intervals(inside, self.excludes.clone(), names)
    }

    /// Number of addresses.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Never true for a built set (an empty set is an error), kept for API hygiene.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `i`th address (in sorted order), `None` past the end.
    pub fn get(&self, i: u64) -> Option<IpAddr> {
        if i >= self.total {
            return None;
        }
        let k = match self.starts.binary_search(&i) {
            Ok(k) => k,
            Err(k) => k - 1,
        };
        let iv = self.intervals.get(k)?;
        Some(to_ip(iv.family, iv.lo + (i - self.starts[k]) as u128))
    }

    /// Whether `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (f, v) = from_ip(ip);
        self.intervals.iter().any(|iv| iv.contains(f, v))
    }

    /// Whether `ip` is excluded (a last check before a probe leaves).
    pub fn is_excluded(&self, ip: IpAddr) -> bool {
        let (f, v) = from_ip(ip);
        // excludes are sorted and disjoint: binary search on lo.
        let idx = self
            .excludes
            .partition_point(|e| (e.family, e.lo) <= (f, v));
        idx > 0 && self.excludes[idx - 1].contains(f, v)
    }

    /// The intervals, sorted and disjoint.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// The hostname a target address came from, if any.
    pub fn hostname(&self, ip: IpAddr) -> Option<&str> {
        self.hostnames
            .binary_search_by(|(a, _)| a.cmp(&ip))
            .ok()
            .map(|k| self.hostnames[k].1.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_within_a_limit() {
        let e = read_list("/dev/zero").unwrap_err();
        assert!(matches!(e, TargetError::Read(_)), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("/dev/zero") && msg.contains("64 MiB"), "{msg}");
        assert!(msg.contains("CIDR"), "{msg}");
    }

    fn set(t: &[&str], e: &[&str]) -> TargetSet {
        TargetSet::parse(t, e, TargetOptions::default()).unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(set(&["192.0.2.7"], &[]).len(), 1);
        assert_eq!(set(&["192.0.2.0/24"], &[]).len(), 256);
        assert_eq!(set(&["192.0.2.1-192.0.2.50"], &[]).len(), 50);
        assert_eq!(set(&["192.0.2.1-50"], &[]).len(), 50);
        assert_eq!(set(&["2001:db8::/120"], &[]).len(), 256);
        assert_eq!(set(&["2001:db8::1-2001:db8::ff"], &[]).len(), 255);
        assert_eq!(set(&["10.0.0.0/8"], &[]).len(), 1 << 24);
        assert_eq!(set(&["::ffff:192.0.2.0/120"], &[]).len(), 256);
        let s = set(&["10.0.0.0/8", "192.0.2.3"], &["10.0.0.0/9"]);
        assert_eq!(s.len(), (1 << 23) + 1);
        assert_eq!(s.get(0), Some("10.128.0.0".parse().unwrap()));
        assert_eq!(s.get(1 << 23), Some("192.0.2.3".parse().unwrap()));
        assert_eq!(s.get((1 << 23) + 1), None);
        assert!(s.is_excluded("10.1.2.3".parse().unwrap()));
        assert!(!s.is_excluded("10.200.2.3".parse().unwrap()));
    }

    #[test]
    fn localhost_resolves() {
        let s = set(&["localhost"], &[]);
        assert!(!s.is_empty());
        let ip = s.get(0).unwrap();
        assert!(ip.is_loopback());
        assert_eq!(s.hostname(ip), Some("localhost"));
    }

    #[test]
    fn errors() {
        for bad in [
            "300.1.1.1",
            "192.0.2.0/33",
            "192.0.2.9-192.0.2.1",
            "192.0.2.1-2001:db8::1",
            "a b",
            "",
            "1.2.3.4/x",
            "192.0.2.1-300",
            "-foo",
        ] {
            assert!(
                TargetSet::parse(&[bad], &[] as &[&str], TargetOptions::default()).is_err(),
                "{bad:?} accepted"
            );
        }
        let e = TargetSet::parse(
            &["192.0.2.0/24"],
            &["192.0.2.0/23"],
            TargetOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("every target is excluded"));
    }

    #[test]
    fn split_by_and_restrict_keep_excludes_and_hostnames() {
        let t = TargetSet::from_intervals(
            parse_literal("10.0.0.0/29").unwrap().unwrap(),
            parse_literal("10.0.0.3").unwrap().unwrap(),
            vec![("10.0.0.5".parse().unwrap(), "web".into())],
        )
        .unwrap();
        let own = [Interval::single("10.0.0.1".parse().unwrap())];
        let (inside, outside) = t.split_by(&own);
        assert_eq!(inside, own.to_vec());
        // 8 addresses, one excluded, one own: six probed.
        assert_eq!(outside.iter().map(|iv| iv.size()).sum::<u128>(), 6);
        assert!(outside
            .iter()
            .all(|iv| !iv.contains(Family::V4, 0x0a00_0001)));
        // The live hosts: an excluded address stays out, a name stays with its address.
        let live = t
            .restrict(vec![
                Interval::single("10.0.0.3".parse().unwrap()),
                Interval::single("10.0.0.5".parse().unwrap()),
                Interval::single("192.0.2.1".parse().unwrap()),
            ])
            .unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live.get(0), Some("10.0.0.5".parse().unwrap()));
        assert_eq!(live.hostname("10.0.0.5".parse().unwrap()), Some("web"));
        assert!(t.restrict(vec![own[0]]).is_ok());
        assert!(t.restrict(Vec::new()).is_err());
        assert_eq!(
            Interval::single("10.0.0.9".parse().unwrap()).nth(0),
            Some("10.0.0.9".parse().unwrap())
        );
        assert_eq!(Interval::single("10.0.0.9".parse().unwrap()).nth(1), None);
    }
}
