//! `portolan-block` — block who scans or floods you, in the kernel, in milliseconds, reversibly.
//!
//! A ban is one element of a set in Portolan's own nftables table (`table inet portolan_block`,
//! see [`nft`]): a source address (or a prefix) with a **kernel timeout**, so it lifts itself
//! and no daemon has to stay up to unban. Other tables are never touched; `portolan block
//! flush` deletes this one and every ban with it.
//!
//! The [`Blocker`] takes the sources of alerts and:
//! - checks the **allow-list** first ([`AllowList`]: loopback always, plus what you give —
//!   your own scanners, management networks): an allowed source is never banned, and a prefix
//!   ban that would cover an allowed address is not made;
//! - bans everything that arrived together in **one transaction** (`nft -f -`), tens of
//!   thousands of elements per second;
//! - **refreshes** a repeat offender's timeout (add, delete, add in the same transaction);
//! - optionally **aggregates** sweeps from many addresses of one network into one prefix ban
//!   ([`PrefixRule`]: e.g. the /24 once 3 of its addresses were banned);
//! - in **dry-run** mode only says what it would do;
//! - optionally keeps every ban, with its absolute expiry, in a restore file ([`state`]) that
//!   `portolan block restore` reads after a reboot.
//!
//! The **kernel tripwire** ([`nft::Tripwire`], [`Blocker::arm_tripwire`]) bans in the packet
//! path itself, with no alert: an `output` chain counts this host's answers to probes of
//! distinct closed ports (TCP RST to a SYN, ICMP port unreachable) per destination and bans
//! the destination at the N-th, so a scanner gets at most N closed ports answered however fast
//! it sends.
//!
//! Changes go through [`nft::Nft`]: [`libnft::NftLib`] (libnftables in process, about a
//! millisecond a batch) or [`nft::NftBinary`] (the `nft` program); [`libnft::Auto`] picks the
//! library when it is installed. The only `unsafe` code is the library's binding, in [`libnft`].
//!
//! ```
//! use std::time::Duration;
//! use portolan_block::{AllowList, Blocker, BlockerConfig, Outcome};
//! # use portolan_block::nft::Nft;
//! # struct Rec(Vec<String>);
//! # impl Nft for Rec {
//! #     fn run(&mut self, s: &str) -> Result<(), portolan_block::BlockError> { self.0.push(s.into()); Ok(()) }
//! #     fn list_json_of(&mut self, _: &str) -> Result<Option<String>, portolan_block::BlockError> { Ok(None) }
//! # }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut allow = AllowList::default(); // loopback
//! allow.push("192.0.2.0/24".parse()?);   // our own scanner
//! let cfg = BlockerConfig { ban_for: Duration::from_secs(600), allow, ..BlockerConfig::default() };
//! let mut b = Blocker::new(cfg, portolan_block::nft::NftBinary::default());
//! # let mut b = Blocker::new(b.config().clone(), Rec(Vec::new()));
//! let out = b.ban(&["203.0.113.7".parse()?, "192.0.2.10".parse()?])?;
//! assert!(out[0].is_blocked());
//! assert!(matches!(out[1], Outcome::Allowed { .. }));
//! # Ok(()) }
//! ```

#![deny(unsafe_code)]

pub mod duration;
#[allow(unsafe_code)]
pub mod libnft;
pub mod net;
pub mod nft;
pub mod state;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

pub use duration::{format_duration, parse_duration};
pub use net::Net;
use nft::Nft;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("cannot run {program}: {source} (install nftables: apt install nftables; blocking needs root or CAP_NET_ADMIN)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("nft refused the change: {stderr}")]
    Nft { stderr: String },
    #[error("cannot read nft's listing of table inet portolan_block: {0}")]
    Listing(String),
    #[error("table inet portolan_block exists but is not Portolan's (sets {0}); remove it with `portolan block flush` or `nft delete table inet portolan_block`")]
    ForeignTable(String),
    #[error("{net} is too wide to ban: the widest ban is /{min} for {family}")]
    TooWide {
        net: Net,
        min: u8,
        family: &'static str,
    },
    #[error("restore file {path}: {why}")]
    State { path: String, why: String },
}

/// Widest IPv4 prefix that may be banned.
pub const MIN_PREFIX_V4: u8 = 8;
/// Widest IPv6 prefix that may be banned.
pub const MIN_PREFIX_V6: u8 = 16;

/// Refuse bans wider than [`MIN_PREFIX_V4`] / [`MIN_PREFIX_V6`] (a typo like `/0` would cut
/// the host off from everything).
pub fn check_width(net: &Net) -> Result<(), BlockError> {
    let (min, family) = if net.is_ipv4() {
        (MIN_PREFIX_V4, "IPv4")
    } else {
        (MIN_PREFIX_V6, "IPv6")
    };
    if net.prefix_len() < min {
        return Err(BlockError::TooWide {
            net: *net,
            min,
            family,
        });
    }
    Ok(())
}

/// Networks that are never banned. Loopback (`127.0.0.0/8`, `::1`) and the unspecified
/// addresses are always in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Net>,
}

impl Default for AllowList {
    fn default() -> Self {
        let builtin = ["127.0.0.0/8", "::1", "0.0.0.0", "::"];
        AllowList {
            nets: builtin.iter().filter_map(|s| s.parse().ok()).collect(),
        }
    }
}

impl AllowList {
    pub fn push(&mut self, net: Net) {
        if !self.nets.contains(&net) {
            self.nets.push(net);
        }
    }

    pub fn nets(&self) -> &[Net] {
        &self.nets
    }

    /// The allowed network holding `a`, if any.
    pub fn allowing(&self, a: IpAddr) -> Option<Net> {
        self.nets.iter().find(|n| n.contains(a)).copied()
    }

    /// The allowed network that shares an address with `net`, if any.
    pub fn overlapping(&self, net: &Net) -> Option<Net> {
        self.nets.iter().find(|n| n.overlaps(net)).copied()
    }
}

/// When sweeps from one network become one prefix ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixRule {
    /// Prefix length for IPv4 sources (e.g. 24); `None`: never aggregate IPv4.
    pub v4: Option<u8>,
    /// Prefix length for IPv6 sources (e.g. 64); `None`: never aggregate IPv6.
    pub v6: Option<u8>,
    /// Distinct banned addresses of one prefix (within a ban's lifetime) that make the
    /// whole prefix banned.
    pub after: usize,
}

impl Default for PrefixRule {
    fn default() -> Self {
        PrefixRule {
            v4: None,
            v6: None,
            after: 3,
        }
    }
}

/// How a [`Blocker`] bans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockerConfig {
    /// How long a ban lasts (refreshed when the source is alerted again).
    pub ban_for: Duration,
    pub allow: AllowList,
    pub prefix: PrefixRule,
    /// Say what would be banned; touch nothing.
    pub dry_run: bool,
}

impl Default for BlockerConfig {
    fn default() -> Self {
        BlockerConfig {
            ban_for: Duration::from_secs(3600),
            allow: AllowList::default(),
            prefix: PrefixRule::default(),
            dry_run: false,
        }
    }
}

/// What became of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Banned (or, in dry-run mode, would be) as `net` for `ban_for`; `refreshed` when this
    /// blocker had banned it already and only extended the ban.
    Blocked {
        net: Net,
        ban_for: Duration,
        refreshed: bool,
        dry_run: bool,
    },
    /// Already inside a prefix ban (`by`), which stays as it is.
    Covered { by: Net },
    /// On the allow-list (`by`): never banned.
    Allowed { by: Net },
}

impl Outcome {
    /// True when the source is blocked now (or would be, in dry-run mode).
    pub fn is_blocked(&self) -> bool {
        !matches!(self, Outcome::Allowed { .. })
    }
}

/// Bans sources through Portolan's nftables table. See the crate documentation.
pub struct Blocker<N: Nft> {
    cfg: BlockerConfig,
    nft: N,
    ready: bool,
    /// Prefix bans in the kernel (as far as we know) and when they end.
    prefixes: Vec<(Net, Instant)>,
    /// Bans this blocker made: when it last wrote each to the kernel, and when it ends.
    banned: HashMap<Net, (Instant, Instant)>,
    /// Per aggregation prefix: addresses banned in it and when their ban ends.
    sweep: HashMap<Net, Vec<(IpAddr, Instant)>>,
    state: Option<state::StateFile>,
}

/// The most addresses remembered for refresh reporting and aggregation before the expired
/// ones are dropped.
const REMEMBER: usize = 1 << 20;
/// The longest a ban goes without being written again while its source keeps being alerted
/// (at most a quarter of the ban's length).
const REFRESH_GAP: Duration = Duration::from_secs(60);

impl<N: Nft> Blocker<N> {
    pub fn new(cfg: BlockerConfig, nft: N) -> Blocker<N> {
        Blocker {
            cfg,
            nft,
            ready: false,
            prefixes: Vec::new(),
            banned: HashMap::new(),
            sweep: HashMap::new(),
            state: None,
        }
    }

    /// Also record every ban in this restore file.
    pub fn with_state(mut self, state: state::StateFile) -> Blocker<N> {
        self.state = Some(state);
        self
    }

    pub fn config(&self) -> &BlockerConfig {
        &self.cfg
    }

    /// Create the table (or bring it back to Portolan's layout, keeping its bans) and learn
    /// the prefix bans it holds. Done by the first ban; call it early to fail early (no
    /// nft, no privilege). Does nothing in dry-run mode.
    pub fn prepare(&mut self) -> Result<(), BlockError> {
        if self.cfg.dry_run || self.ready {
            return Ok(());
        }
        // the sets' declarations only (not their elements, which may be many)
        if let Some(json) = self
            .nft
            .list_json_of(&format!("sets table inet {}", nft::TABLE))?
        {
            let st = nft::parse_listing(&json)?;
            if st.sets.iter().any(|s| !nft::OUR_SETS.contains(&s.as_str())) {
                return Err(BlockError::ForeignTable(st.sets.join(", ")));
            }
        }
        self.nft.run(&nft::ensure_script())?;
        self.resync()?;
        self.ready = true;
        Ok(())
    }

    /// Arm the kernel tripwire ([`nft::Tripwire`]) with this blocker's allow-list, or re-arm
    /// it with new settings (one transaction). Does nothing in dry-run mode.
    pub fn arm_tripwire(&mut self, t: &nft::Tripwire) -> Result<(), BlockError> {
        if self.cfg.dry_run {
            return Ok(());
        }
        self.prepare()?;
        self.nft
            .run(&nft::tripwire_script(t, self.cfg.allow.nets()))
    }

    /// Disarm the kernel tripwire (its bans stay until their timeouts); false when it was not
    /// armed.
    pub fn disarm_tripwire(&mut self) -> Result<bool, BlockError> {
        if self.cfg.dry_run {
            return Ok(false);
        }
        let chain = format!("chain inet {} tripwire", nft::TABLE);
        if self.nft.list_json_of(&chain)?.is_none() {
            return Ok(false);
        }
        // the restore file learns of the tripwire's bans (with the time they have left)
        if self.state.is_some() {
            let mut bans = Vec::new();
            for set in ["kban4", "kban6"] {
                if let Some(json) = self
                    .nft
                    .list_json_of(&format!("set inet {} {set}", nft::TABLE))?
                {
                    bans.extend(
                        nft::parse_listing(&json)?
                            .bans
                            .into_iter()
                            .filter_map(|b| Some((b.net, b.expires.filter(|d| !d.is_zero())?))),
                    );
                }
            }
            if let Some(s) = &mut self.state {
                s.record(&bans, &[], SystemTime::now())?;
            }
        }
        self.nft.run(&nft::untripwire_script())?;
        Ok(true)
    }

    /// Put `ports` (TCP services of this host) under SYN-flood protection
    /// ([`nft::FloodGuard`]), one transaction. Does nothing in dry-run mode.
    pub fn protect_services(
        &mut self,
        g: &nft::FloodGuard,
        ports: &[u16],
    ) -> Result<(), BlockError> {
        if self.cfg.dry_run || ports.is_empty() {
            return Ok(());
        }
        self.prepare()?;
        self.nft.run(&nft::flood_guard_script(g, ports))
    }

    /// The addresses the kernel tripwire has banned (and whose ban has not ended).
    pub fn tripwire_bans(&mut self) -> Result<Vec<Net>, BlockError> {
        let mut out = Vec::new();
        for set in ["kban4", "kban6"] {
            if let Some(json) = self
                .nft
                .list_json_of(&format!("set inet {} {set}", nft::TABLE))?
            {
                out.extend(nft::parse_listing(&json)?.bans.into_iter().map(|b| b.net));
            }
        }
        Ok(out)
    }

    /// Re-read the prefix bans from the kernel.
    fn resync(&mut self) -> Result<(), BlockError> {
        let now = Instant::now();
        self.prefixes.clear();
        for set in ["net4", "net6"] {
            let Some(json) = self
                .nft
                .list_json_of(&format!("set inet {} {set}", nft::TABLE))?
            else {
                continue;
            };
            for b in nft::parse_listing(&json)?.bans {
                if !b.net.is_host() {
                    let left = b.expires.unwrap_or(Duration::from_secs(365 * 86_400));
                    self.prefixes
                        .push((b.net, now + left + Duration::from_secs(1)));
                }
            }
        }
        Ok(())
    }

    /// Ban the sources of alerts that arrived together, in one transaction. Returns one
    /// outcome per address, in order.
    pub fn ban(&mut self, sources: &[IpAddr]) -> Result<Vec<Outcome>, BlockError> {
        let now = Instant::now();
        let until = now + self.cfg.ban_for;
        let mut outcomes = Vec::with_capacity(sources.len());
        let mut wanted: Vec<(Net, Duration)> = Vec::new();
        let mut queued: std::collections::HashSet<Net> = std::collections::HashSet::new();
        for &a in sources {
            if let Some(by) = self.cfg.allow.allowing(a) {
                outcomes.push(Outcome::Allowed { by });
                continue;
            }
            let host = Net::host(a);
            let mut net = host;
            if let Some(p) = self.aggregate(host.addr(), now, until) {
                net = p;
            }
            let known = self.banned.get(&net).copied();
            outcomes.push(Outcome::Blocked {
                net,
                ban_for: self.cfg.ban_for,
                refreshed: known.is_some_and(|(_, end)| end > now),
                dry_run: self.cfg.dry_run,
            });
            // a ban written a moment ago is not written again (a scanner keeps raising
            // alerts while its probes are dropped)
            let gap = (self.cfg.ban_for / 4).min(REFRESH_GAP);
            if known.is_some_and(|(made, end)| end > now && now.duration_since(made) < gap) {
                continue;
            }
            if queued.insert(net) {
                wanted.push((net, self.cfg.ban_for));
            }
        }
        let done = self.apply(&wanted)?;
        // what a prefix ban already covers stays covered
        for o in &mut outcomes {
            if let Outcome::Blocked { net, .. } = o {
                if let Some(by) = done.covered.get(net) {
                    *o = Outcome::Covered { by: *by };
                }
            }
        }
        for (n, _) in &wanted {
            if !done.covered.contains_key(n) {
                self.banned.insert(*n, (now, until));
            }
        }
        if self.banned.len() > REMEMBER {
            self.banned.retain(|_, (_, t)| *t > now);
        }
        Ok(outcomes)
    }

    /// Count `a` in its aggregation prefix; the prefix when it reached the threshold (and
    /// covers no allowed address).
    fn aggregate(&mut self, a: IpAddr, now: Instant, until: Instant) -> Option<Net> {
        let len = if a.is_ipv4() {
            self.cfg.prefix.v4?
        } else {
            self.cfg.prefix.v6?
        };
        let p = Net::new(a, len);
        if p.is_host() || check_width(&p).is_err() || self.cfg.allow.overlapping(&p).is_some() {
            return None;
        }
        if self.sweep.len() > REMEMBER {
            self.sweep.retain(|_, v| v.iter().any(|(_, t)| *t > now));
        }
        let seen = self.sweep.entry(p).or_default();
        seen.retain(|(x, t)| *t > now && *x != a);
        seen.push((a, until));
        (seen.len() >= self.cfg.prefix.after.max(1)).then_some(p)
    }

    /// Ban `bans` (each with its own duration) as given: `portolan block add` and restore.
    /// Refuses bans wider than the limits and those that overlap the allow-list.
    pub fn ban_nets(&mut self, bans: &[(Net, Duration)]) -> Result<Vec<Outcome>, BlockError> {
        let mut outcomes = Vec::new();
        let mut wanted = Vec::new();
        for (net, d) in bans {
            check_width(net)?;
            if let Some(by) = self.cfg.allow.overlapping(net) {
                outcomes.push(Outcome::Allowed { by });
                continue;
            }
            outcomes.push(Outcome::Blocked {
                net: *net,
                ban_for: *d,
                refreshed: false,
                dry_run: self.cfg.dry_run,
            });
            wanted.push((*net, *d));
        }
        let done = self.apply(&wanted)?;
        for o in &mut outcomes {
            if let Outcome::Blocked { net, .. } = o {
                if let Some(by) = done.covered.get(net) {
                    *o = Outcome::Covered { by: *by };
                }
            }
        }
        Ok(outcomes)
    }

    /// Lift bans (addresses from the address sets, prefixes from the prefix sets); absent
    /// ones are no error.
    pub fn unban(&mut self, nets: &[Net]) -> Result<(), BlockError> {
        if self.cfg.dry_run || nets.is_empty() {
            return Ok(());
        }
        self.prepare()?;
        // prefixes are deleted only when the kernel holds them (a plain delete of an absent
        // interval fails the whole transaction)
        self.resync()?;
        let now = Instant::now();
        let nets: Vec<Net> = nets
            .iter()
            .filter(|n| n.is_host() || self.prefixes.iter().any(|(p, t)| p == *n && *t > now))
            .copied()
            .collect();
        if nets.is_empty() {
            return Ok(());
        }
        let nets = &nets[..];
        self.nft.run(&nft::del_script(nets))?;
        self.prefixes.retain(|(p, _)| !nets.contains(p));
        for n in nets {
            self.banned.remove(n);
        }
        if let Some(s) = &mut self.state {
            s.remove(nets)?;
        }
        Ok(())
    }

    /// Put `wanted` into the kernel in one transaction; on a failure (the kernel's prefix
    /// bans differed from what we knew), learn them again and retry once.
    fn apply(&mut self, wanted: &[(Net, Duration)]) -> Result<Applied, BlockError> {
        if wanted.is_empty() {
            return Ok(Applied::default());
        }
        if self.cfg.dry_run {
            let plan = self.plan(wanted);
            return Ok(plan.applied);
        }
        self.prepare()?;
        let plan = self.plan(wanted);
        let r = self.nft.run(&plan.script);
        let plan = match r {
            Ok(()) => plan,
            Err(first) => {
                self.resync()?;
                let plan = self.plan(wanted);
                self.nft.run(&plan.script).map_err(|_| first)?;
                plan
            }
        };
        let now = Instant::now();
        self.prefixes
            .retain(|(p, t)| *t > now && !plan.removed.contains(p));
        for (n, d) in &plan.added {
            if !n.is_host() {
                self.prefixes.retain(|(p, _)| p != n);
                self.prefixes.push((*n, now + *d));
            }
        }
        if let Some(s) = &mut self.state {
            s.record(&plan.added, &plan.removed, SystemTime::now())?;
        }
        Ok(plan.applied)
    }

    /// The script for `wanted`: addresses and prefixes inside a live prefix ban are skipped;
    /// a new prefix ban replaces the smaller ones inside it.
    fn plan(&self, wanted: &[(Net, Duration)]) -> Plan {
        let now = Instant::now();
        let live: Vec<Net> = self
            .prefixes
            .iter()
            .filter(|(_, t)| *t > now)
            .map(|(p, _)| *p)
            .collect();
        // widest first, so a batch holding a /24 and its addresses keeps only the /24
        let mut order: Vec<&(Net, Duration)> = wanted.iter().collect();
        order.sort_by_key(|(n, _)| n.prefix_len());
        let mut new_prefixes: Vec<Net> = Vec::new();
        let mut added: Vec<(Net, Duration)> = Vec::new();
        let mut removed: Vec<Net> = Vec::new();
        let mut applied = Applied::default();
        let mut seen: std::collections::HashSet<Net> = std::collections::HashSet::new();
        for (n, d) in order {
            let cover = live
                .iter()
                .chain(new_prefixes.iter())
                .find(|p| p.covers(n) && *p != n && !removed.contains(p))
                .copied();
            if let Some(by) = cover {
                applied.covered.insert(*n, by);
                continue;
            }
            if !seen.insert(*n) {
                continue;
            }
            if !n.is_host() {
                for p in &live {
                    if n.covers(p) && p != n && !removed.contains(p) {
                        removed.push(*p);
                    }
                }
                new_prefixes.push(*n);
            }
            added.push((*n, *d));
        }
        let mut script = nft::del_script(&removed);
        // a source this blocker never banned gets a plain add (a ban left by an earlier run
        // keeps its timeout on kernels before 6.10, until it is alerted again)
        script.push_str(&nft::add_script_with(&added, |n| {
            if n.is_host() {
                self.banned.get(n).is_some_and(|(_, end)| *end > now)
            } else {
                // a prefix is refreshed (delete, add) only when the kernel holds it
                live.contains(n) && !removed.contains(n)
            }
        }));
        Plan {
            script,
            added,
            removed,
            applied,
        }
    }

    /// The table as the kernel holds it now (`None`: no table).
    pub fn list(&mut self) -> Result<Option<nft::TableState>, BlockError> {
        match self.nft.list_json()? {
            Some(j) => Ok(Some(nft::parse_listing(&j)?)),
            None => Ok(None),
        }
    }

    /// Delete the table and every ban in it; false when there was none.
    pub fn flush(&mut self) -> Result<bool, BlockError> {
        let sets = format!("sets table inet {}", nft::TABLE);
        if self.nft.list_json_of(&sets)?.is_none() {
            return Ok(false);
        }
        if self.cfg.dry_run {
            return Ok(true);
        }
        self.nft.run(&nft::flush_script())?;
        self.ready = false;
        self.prefixes.clear();
        self.banned.clear();
        self.sweep.clear();
        if let Some(s) = &mut self.state {
            s.clear()?;
        }
        Ok(true)
    }
}

#[derive(Default)]
struct Applied {
    /// Wanted bans left out because a prefix ban covers them.
    covered: HashMap<Net, Net>,
}

struct Plan {
    script: String,
    added: Vec<(Net, Duration)>,
    removed: Vec<Net>,
    applied: Applied,
}

#[cfg(test)]
mod tests;
