//! Portolan's nftables table: its layout, the scripts that change it (each applied as one
//! transaction), and the reading of its listing.
//!
//! ```text
//! table inet portolan_block {
//!     set ban4 { type ipv4_addr; flags timeout; size 1048576; }             # one address per ban
//!     set ban6 { type ipv6_addr; flags timeout; size 1048576; }
//!     set net4 { type ipv4_addr; flags interval, timeout; size 65536; }     # prefix bans
//!     set net6 { type ipv6_addr; flags interval, timeout; size 65536; }
//!     set kban4 { type ipv4_addr; flags dynamic, timeout; size 65536; }     # the tripwire's bans
//!     set kban6 { type ipv6_addr; flags dynamic, timeout; size 65536; }
//!     chain input   { type filter hook input priority filter - 10; policy accept;
//!                     ip saddr @ban4 counter drop; ip saddr @net4 counter drop;
//!                     ip6 saddr @ban6 counter drop; ip6 saddr @net6 counter drop;
//!                     ip saddr @kban4 counter drop; ip6 saddr @kban6 counter drop; }
//!     chain forward { type filter hook forward priority filter - 10; policy accept; (same) }
//!     # while `detect --block` runs: the kernel tripwire (see [`Tripwire`])
//!     chain tripwire { type filter hook output priority filter - 10; ... }
//! }
//! ```
//!
//! Addresses and prefixes live in different sets on purpose: `nft` reads every element of an
//! *interval* set before it changes one (to check overlaps), so one ban into an interval set
//! holding 20,000 addresses takes about 0.4 s, while a hash set takes a few milliseconds at any
//! size. Prefix bans are few; they keep the interval flag (a /24 is one element that matches
//! the whole /24).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::net::Net;
use crate::BlockError;

/// The table's name (family `inet`).
pub const TABLE: &str = "portolan_block";
/// Hook priority of the chains: before the usual `filter` (0) chains, so a banned source is
/// dropped whatever they accept.
pub const PRIORITY: &str = "filter - 10";
/// Most addresses the address sets hold.
pub const MAX_ADDRESSES: u32 = 1 << 20;
/// Most prefixes the prefix sets hold.
pub const MAX_PREFIXES: u32 = 1 << 16;

/// The set a ban goes into.
pub fn set_for(net: &Net) -> &'static str {
    match (net.is_ipv4(), net.is_host()) {
        (true, true) => "ban4",
        (false, true) => "ban6",
        (true, false) => "net4",
        (false, false) => "net6",
    }
}

const SETS: [(&str, &str, &str, u32); 4] = [
    ("ban4", "ipv4_addr", "timeout", MAX_ADDRESSES),
    ("ban6", "ipv6_addr", "timeout", MAX_ADDRESSES),
    ("net4", "ipv4_addr", "interval, timeout", MAX_PREFIXES),
    ("net6", "ipv6_addr", "interval, timeout", MAX_PREFIXES),
];

/// The sets the kernel tripwire bans into (from the packet path: `flags dynamic`).
const TRIP_BAN_SETS: [(&str, &str); 2] = [("kban4", "ipv4_addr"), ("kban6", "ipv6_addr")];

/// Most addresses the tripwire's sets hold (its bans, the addresses it counts).
pub const MAX_TRIP: u32 = 1 << 16;

/// The sets that hold bans (the others belong to the tripwire's bookkeeping).
pub const BAN_SETS: [&str; 6] = ["ban4", "ban6", "net4", "net6", "kban4", "kban6"];

/// Every set of Portolan's table (to tell its layout from another table of the same name).
pub const OUR_SETS: [&str; 16] = [
    "ban4",
    "ban6",
    "net4",
    "net6",
    "kban4",
    "kban6",
    "allow4",
    "allow6",
    "seen4",
    "seen6",
    "seenu4",
    "seenu6",
    "trip4",
    "trip6",
    "flood_ports",
    "flood_rate",
];

/// The script that creates the table, or brings an existing one back to this layout, keeping
/// its bans (idempotent; one transaction).
pub fn ensure_script() -> String {
    let mut s = format!("add table inet {TABLE}\n");
    for (name, ty, flags, size) in SETS {
        s.push_str(&format!(
            "add set inet {TABLE} {name} {{ type {ty}; flags {flags}; size {size}; }}\n"
        ));
    }
    for (name, ty) in TRIP_BAN_SETS {
        s.push_str(&format!(
            "add set inet {TABLE} {name} {{ type {ty}; flags dynamic, timeout; size {MAX_TRIP}; }}\n"
        ));
    }
    // the services under SYN-flood protection and their per-service SYN rate (see
    // [`FloodGuard`]); empty until a flood is seen
    s.push_str(&format!(
        "add set inet {TABLE} flood_ports {{ type inet_service; flags dynamic, timeout; size 1024; }}\n\
         add set inet {TABLE} flood_rate {{ type inet_service; flags dynamic, timeout; timeout 60s; size 1024; }}\n\
         add chain inet {TABLE} synflood\n"
    ));
    for (chain, hook) in [("input", "input"), ("forward", "forward")] {
        s.push_str(&format!(
            "add chain inet {TABLE} {chain} {{ type filter hook {hook} priority {PRIORITY}; policy accept; }}\n\
             flush chain inet {TABLE} {chain}\n"
        ));
        for (fam, set) in [
            ("ip", "ban4"),
            ("ip", "net4"),
            ("ip6", "ban6"),
            ("ip6", "net6"),
            ("ip", "kban4"),
            ("ip6", "kban6"),
        ] {
            s.push_str(&format!(
                "add rule inet {TABLE} {chain} {fam} saddr @{set} counter drop\n"
            ));
        }
    }
    s.push_str(&format!(
        "add rule inet {TABLE} input tcp flags & (syn | ack) == syn tcp dport @flood_ports jump synflood\n"
    ));
    s
}

/// Per-service SYN-flood protection: while a service (a TCP port of this host) is in set
/// `flood_ports`, new connections to it (SYNs) beyond `rate` a second are dropped, in the
/// kernel (chain `synflood`: a per-port element of `flood_rate` carrying its own `limit rate
/// over`). Every SYN over the rate renews the protection for `hold`, so it lifts itself
/// `hold` after the flood has stopped; no daemon has to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodGuard {
    /// New connections a second let through to a flooded service.
    pub rate: u32,
    /// How long the protection outlives the last SYN over the rate.
    pub hold: Duration,
}

/// The script that puts `ports` under SYN-flood protection (one transaction; the table must
/// exist, [`ensure_script`]).
pub fn flood_guard_script(g: &FloodGuard, ports: &[u16]) -> String {
    let hold = secs(g.hold);
    let rate = g.rate.max(1);
    let mut s = format!(
        "flush chain inet {TABLE} synflood\n\
         add rule inet {TABLE} synflood update @flood_rate {{ tcp dport limit rate over {rate}/second burst {rate} packets }} \
         update @flood_ports {{ tcp dport timeout {hold}s }} counter drop\n"
    );
    if !ports.is_empty() {
        let els: Vec<String> = ports
            .iter()
            .map(|p| format!("{p} timeout {hold}s"))
            .collect();
        s.push_str(&format!(
            "add element inet {TABLE} flood_ports {{ {} }}\n",
            els.join(", ")
        ));
    }
    s
}

/// The script that removes the table (and every ban in it).
pub fn flush_script() -> String {
    format!("delete table inet {TABLE}\n")
}

/// Kernel timeouts are written in whole seconds.
fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// Add `bans`, refreshing the timeout of any already there (see [`add_script_with`]).
pub fn add_script(bans: &[(Net, Duration)]) -> String {
    add_script_with(bans, |_| true)
}

/// Add `bans`; those for which `refresh` is true are already there (or may be) and get their
/// new timeout in the same transaction. An address: `add` (a no-op when present), `delete`,
/// `add` again — every kernel takes the new timeout (re-adding alone keeps the old one before
/// Linux 6.10), and the ban is never absent. A prefix (interval set, where nft refuses to add
/// an element that is there): `delete`, `add` — so `refresh` must be true only for prefixes
/// that are there. The others get a plain `add`.
pub fn add_script_with(bans: &[(Net, Duration)], refresh: impl Fn(&Net) -> bool) -> String {
    let mut s = String::new();
    type Bans = Vec<(Net, Duration)>;
    let (again, fresh): (Bans, Bans) = bans.iter().partition(|(n, _)| refresh(n));
    let timed = |v: &[&(Net, Duration)]| {
        v.iter()
            .map(|(n, d)| format!("{n} timeout {}s", secs(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let bare = |v: &[&(Net, Duration)]| {
        v.iter()
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (set, _, _, _) in SETS {
        let mine: Vec<&(Net, Duration)> = fresh.iter().filter(|(n, _)| set_for(n) == set).collect();
        if !mine.is_empty() {
            s.push_str(&format!(
                "add element inet {TABLE} {set} {{ {} }}\n",
                timed(&mine)
            ));
        }
    }
    for (set, _, _, _) in SETS {
        let mine: Vec<&(Net, Duration)> = again.iter().filter(|(n, _)| set_for(n) == set).collect();
        if mine.is_empty() {
            continue;
        }
        let (t, b) = (timed(&mine), bare(&mine));
        if set.starts_with("ban") {
            s.push_str(&format!("add element inet {TABLE} {set} {{ {t} }}\n"));
        }
        s.push_str(&format!("delete element inet {TABLE} {set} {{ {b} }}\n"));
        s.push_str(&format!("add element inet {TABLE} {set} {{ {t} }}\n"));
    }
    s
}

/// Remove `nets`. Addresses whether or not they are (still) there: `add` with a short
/// timeout, then `delete` (a bare delete of an element that expired would fail the whole
/// transaction). Prefixes with a plain `delete`: give only prefixes that are there.
pub fn del_script(nets: &[Net]) -> String {
    let mut s = String::new();
    for (set, _, _, _) in SETS {
        let mine: Vec<String> = nets
            .iter()
            .filter(|n| set_for(n) == set)
            .map(|n| n.to_string())
            .collect();
        if mine.is_empty() {
            continue;
        }
        let with_t = mine
            .iter()
            .map(|n| format!("{n} timeout 1s"))
            .collect::<Vec<_>>()
            .join(", ");
        if set.starts_with("ban") {
            s.push_str(&format!("add element inet {TABLE} {set} {{ {with_t} }}\n"));
        }
        s.push_str(&format!(
            "delete element inet {TABLE} {set} {{ {} }}\n",
            mine.join(", ")
        ));
        // an address the kernel tripwire banned is lifted too
        if set.starts_with("ban") {
            let k = format!("k{set}");
            s.push_str(&format!("add element inet {TABLE} {k} {{ {with_t} }}\n"));
            s.push_str(&format!(
                "delete element inet {TABLE} {k} {{ {} }}\n",
                mine.join(", ")
            ));
        }
    }
    s
}

/// The kernel tripwire: the host's own answers to probes of closed ports counted per
/// destination, in the kernel, and the destination banned when they reach a threshold.
///
/// An `output` chain (priority `filter - 10`) sees every answer this host sends to a probe
/// of a closed port — a TCP RST to a SYN (`rst,ack` with sequence number 0, what Linux sends
/// for a SYN to a port nobody listens on) and an ICMP / ICMPv6 port unreachable (a UDP probe
/// of a closed port) — and, for each, in the packet path:
/// 1. skips loopback and the allow-list (sets `allow4`, `allow6`, filled from the
///    [`crate::AllowList`]);
/// 2. skips a port already counted for that destination within the window (sets `seen4`,
///    `seenu4`, … keyed by address and port): a client retrying one closed port is not a scan;
/// 3. counts the answer in a per-destination element of `trip4`/`trip6` that carries its own
///    `limit rate over 1/minute burst N-1 packets`, and when that is exceeded (the `after`-th
///    distinct closed port answered within about a minute) adds the destination to `kban4` /
///    `kban6` with the ban's timeout. Chains `input` and `forward` drop what is in them, so
///    the next probe is dropped unanswered: at most `after` closed ports answer.
///
/// Open ports answered with a SYN-ACK are not counted (a client connecting to services must
/// never be banned; a scanner learns of an open port only what any client could). An ICMP
/// port unreachable to a source port below 1024 is not counted either: that is a late answer
/// of a DNS, NTP, … server to a socket that has closed, not a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tripwire {
    /// Distinct closed ports answered to one address within the window that ban it (>= 1).
    pub after: u32,
    /// The ban's kernel timeout.
    pub ban_for: Duration,
}

/// Default of [`Tripwire::after`].
pub const TRIP_AFTER: u32 = 5;
/// How long a counted port (and a count) is remembered.
pub const TRIP_WINDOW_S: u64 = 60;

/// The chains of the tripwire (deleted, in this order, when it is disarmed).
const TRIP_CHAINS: [&str; 5] = ["tripwire", "closed4", "closed6", "closedu4", "closedu6"];
/// The tripwire's bookkeeping sets (deleted after its chains).
const TRIP_SETS: [&str; 8] = [
    "allow4", "allow6", "seen4", "seen6", "seenu4", "seenu6", "trip4", "trip6",
];

/// The script that arms the tripwire (or re-arms it with new settings and allow-list), in one
/// transaction; the table must exist ([`ensure_script`]).
pub fn tripwire_script(t: &Tripwire, allow: &[Net]) -> String {
    let w = TRIP_WINDOW_S;
    let mut s = String::new();
    let sets = [
        ("allow4", "type ipv4_addr; flags interval; auto-merge;".to_string()),
        ("allow6", "type ipv6_addr; flags interval; auto-merge;".to_string()),
        ("seen4", format!("typeof ip daddr . tcp sport; flags dynamic, timeout; timeout {w}s; size {MAX_TRIP};")),
        ("seen6", format!("typeof ip6 daddr . tcp sport; flags dynamic, timeout; timeout {w}s; size {MAX_TRIP};")),
        // the probed port of a UDP probe: the inner UDP header's destination port, after the
        // 8-byte ICMP header and the 20 (IPv4) or 40 (IPv6) bytes of the inner IP header
        ("seenu4", format!("typeof ip daddr . @th,240,16; flags dynamic, timeout; timeout {w}s; size {MAX_TRIP};")),
        ("seenu6", format!("typeof ip6 daddr . @th,400,16; flags dynamic, timeout; timeout {w}s; size {MAX_TRIP};")),
        ("trip4", format!("type ipv4_addr; flags dynamic, timeout; timeout {w}s; size {MAX_TRIP};")),
        ("trip6", format!("type ipv6_addr; flags dynamic, timeout; timeout {w}s; size {MAX_TRIP};")),
    ];
    for (name, def) in &sets {
        s.push_str(&format!("add set inet {TABLE} {name} {{ {def} }}\n"));
    }
    for (set, v4) in [("allow4", true), ("allow6", false)] {
        s.push_str(&format!("flush set inet {TABLE} {set}\n"));
        let mine: Vec<String> = allow
            .iter()
            .filter(|n| n.is_ipv4() == v4)
            .map(|n| n.to_string())
            .collect();
        if !mine.is_empty() {
            s.push_str(&format!(
                "add element inet {TABLE} {set} {{ {} }}\n",
                mine.join(", ")
            ));
        }
    }
    s.push_str(&format!(
        "add chain inet {TABLE} tripwire {{ type filter hook output priority {PRIORITY}; policy accept; }}\n"
    ));
    for c in &TRIP_CHAINS[1..] {
        s.push_str(&format!("add chain inet {TABLE} {c}\n"));
    }
    for c in TRIP_CHAINS {
        s.push_str(&format!("flush chain inet {TABLE} {c}\n"));
    }
    // only answers to probes of closed ports leave the base chain: every other packet the
    // host sends costs a few comparisons
    let rst = "tcp flags & (syn | ack | rst) == rst | ack tcp sequence 0";
    for r in [
        format!("meta nfproto ipv4 {rst} jump closed4"),
        format!("meta nfproto ipv6 {rst} jump closed6"),
        "icmp type destination-unreachable icmp code port-unreachable @th,224,16 >= 1024 jump closedu4".to_string(),
        "icmpv6 type destination-unreachable icmpv6 code port-unreachable @th,384,16 >= 1024 jump closedu6".to_string(),
    ] {
        s.push_str(&format!("add rule inet {TABLE} tripwire {r}\n"));
    }
    let ban = |fam: &str, v: &str| {
        let b = format!(
            "add @kban{v} {{ {fam} daddr timeout {}s }}",
            secs(t.ban_for)
        );
        if t.after <= 1 {
            b
        } else {
            format!(
                "add @trip{v} {{ {fam} daddr limit rate over 1/minute burst {} packets }} {b}",
                t.after - 1
            )
        }
    };
    for (chain, fam, v, port, seen) in [
        ("closed4", "ip", "4", "tcp sport", "seen4"),
        ("closed6", "ip6", "6", "tcp sport", "seen6"),
        ("closedu4", "ip", "4", "@th,240,16", "seenu4"),
        ("closedu6", "ip6", "6", "@th,400,16", "seenu6"),
    ] {
        for r in [
            "meta oifname \"lo\" return".to_string(),
            format!("{fam} daddr @allow{v} return"),
            format!("{fam} daddr . {port} @{seen} return"),
            format!("add @{seen} {{ {fam} daddr . {port} }}"),
            ban(fam, v),
        ] {
            s.push_str(&format!("add rule inet {TABLE} {chain} {r}\n"));
        }
    }
    s
}

/// The script that disarms the tripwire: its chains and bookkeeping sets go; its bans stay
/// (they end by their timeouts). The table must hold the tripwire.
pub fn untripwire_script() -> String {
    let mut s = String::new();
    for c in TRIP_CHAINS {
        s.push_str(&format!("delete chain inet {TABLE} {c}\n"));
    }
    for set in TRIP_SETS {
        s.push_str(&format!("delete set inet {TABLE} {set}\n"));
    }
    s
}

/// What runs nftables. [`NftBinary`] runs the `nft` program; tests record scripts instead.
pub trait Nft {
    /// Apply `script` as one transaction (`nft -f -`): all of it or nothing.
    fn run(&mut self, script: &str) -> Result<(), BlockError>;
    /// `nft -j list WHAT` (e.g. `set inet portolan_block net4`); `None` when it does not exist.
    fn list_json_of(&mut self, what: &str) -> Result<Option<String>, BlockError>;

    /// `nft -j list table inet portolan_block`; `None` when there is no such table.
    fn list_json(&mut self) -> Result<Option<String>, BlockError> {
        self.list_json_of(&format!("table inet {TABLE}"))
    }
}

/// The `nft` program (nftables 0.9.3 or newer).
#[derive(Debug, Clone)]
pub struct NftBinary {
    program: PathBuf,
}

impl Default for NftBinary {
    fn default() -> Self {
        NftBinary {
            program: PathBuf::from("nft"),
        }
    }
}

impl NftBinary {
    pub fn new(program: impl Into<PathBuf>) -> NftBinary {
        NftBinary {
            program: program.into(),
        }
    }

    fn spawn_err(&self, e: std::io::Error) -> BlockError {
        BlockError::Spawn {
            program: self.program.display().to_string(),
            source: e,
        }
    }
}

impl Nft for NftBinary {
    fn run(&mut self, script: &str) -> Result<(), BlockError> {
        let mut child = Command::new(&self.program)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_err(e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| self.spawn_err(e))?;
        }
        let out = child.wait_with_output().map_err(|e| self.spawn_err(e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(BlockError::Nft {
            stderr: short(&String::from_utf8_lossy(&out.stderr)),
        })
    }

    fn list_json_of(&mut self, what: &str) -> Result<Option<String>, BlockError> {
        let out = Command::new(&self.program)
            .args(["-j", "list"])
            .args(what.split_whitespace())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.spawn_err(e))?;
        if out.status.success() {
            return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such file or directory") {
            return Ok(None);
        }
        Err(BlockError::Nft {
            stderr: short(&err),
        })
    }
}

/// The first lines of nft's complaint (it echoes the whole offending command, which for a
/// batch of thousands of elements is a very long line).
pub(crate) fn short(s: &str) -> String {
    let mut out: String = s
        .lines()
        .take(3)
        .map(|l| {
            if l.len() > 200 {
                let cut = (0..=200)
                    .rev()
                    .find(|&i| l.is_char_boundary(i))
                    .unwrap_or(0);
                format!("{}...", &l[..cut])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if out.is_empty() {
        out = "nft failed and said nothing".into();
    }
    out
}

/// One ban as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    pub net: Net,
    /// The set it is in (`ban4`, `ban6`, `net4`, `net6`).
    pub set: String,
    /// The timeout it was given.
    pub timeout: Option<Duration>,
    /// Time left (whole seconds, as the kernel reports it).
    pub expires: Option<Duration>,
}

/// The table as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableState {
    pub bans: Vec<Listed>,
    /// Packets the drop rules have dropped since the chains were (re)made.
    pub dropped_packets: u64,
    /// The sets present (to tell Portolan's layout from another table of the same name).
    pub sets: Vec<String>,
    /// The kernel tripwire is armed (its chain is there; see [`Tripwire`]).
    pub tripwire: bool,
    /// Services under SYN-flood protection ([`FloodGuard`]) and the time it has left.
    pub flood_protected: Vec<(u16, Option<Duration>)>,
}

/// Read `nft -j list table inet portolan_block` output.
pub fn parse_listing(json: &str) -> Result<TableState, BlockError> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| BlockError::Listing(e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(|n| n.as_array())
        .ok_or_else(|| BlockError::Listing("no \"nftables\" array".into()))?;
    let mut st = TableState::default();
    for item in items {
        if let Some(set) = item.get("set") {
            let name = set
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_string();
            if name == "flood_ports" {
                for e in set
                    .get("elem")
                    .and_then(|e| e.as_array())
                    .into_iter()
                    .flatten()
                {
                    let inner = e.get("elem").unwrap_or(e);
                    let port = inner
                        .get("val")
                        .unwrap_or(inner)
                        .as_u64()
                        .and_then(|p| u16::try_from(p).ok());
                    if let Some(p) = port {
                        let left = inner.get("expires").and_then(|t| t.as_u64());
                        st.flood_protected.push((p, left.map(Duration::from_secs)));
                    }
                }
            }
            let bans = BAN_SETS.contains(&name.as_str());
            for e in set
                .get("elem")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
                .filter(|_| bans)
            {
                let (val, timeout, expires) = match e.get("elem") {
                    Some(inner) => (
                        inner.get("val").cloned().unwrap_or_default(),
                        inner.get("timeout").and_then(|t| t.as_u64()),
                        inner.get("expires").and_then(|t| t.as_u64()),
                    ),
                    None => (e.clone(), None, None),
                };
                for net in element_nets(&val)? {
                    st.bans.push(Listed {
                        net,
                        set: name.clone(),
                        timeout: timeout.map(Duration::from_secs),
                        expires: expires.map(Duration::from_secs),
                    });
                }
            }
            st.sets.push(name);
        }
        if item
            .get("chain")
            .and_then(|c| c.get("name"))
            .and_then(|n| n.as_str())
            == Some("tripwire")
        {
            st.tripwire = true;
        }
        if let Some(rule) = item.get("rule") {
            for x in rule
                .get("expr")
                .and_then(|e| e.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(p) = x
                    .get("counter")
                    .and_then(|c| c.get("packets"))
                    .and_then(|p| p.as_u64())
                {
                    st.dropped_packets = st.dropped_packets.saturating_add(p);
                }
            }
        }
    }
    Ok(st)
}

/// An element value: `"10.0.0.1"`, `{"prefix": {"addr": .., "len": ..}}`, or a
/// `{"range": [a, b]}` (split into the prefixes that cover it exactly).
fn element_nets(v: &serde_json::Value) -> Result<Vec<Net>, BlockError> {
    let bad = || BlockError::Listing(format!("unexpected set element {v}"));
    if let Some(s) = v.as_str() {
        return Ok(vec![s.parse().map_err(|_| bad())?]);
    }
    if let Some(p) = v.get("prefix") {
        let addr: std::net::IpAddr = p
            .get("addr")
            .and_then(|a| a.as_str())
            .and_then(|a| a.parse().ok())
            .ok_or_else(bad)?;
        let len = p
            .get("len")
            .and_then(|l| l.as_u64())
            .and_then(|l| u8::try_from(l).ok())
            .ok_or_else(bad)?;
        return Ok(vec![Net::new(addr, len)]);
    }
    if let Some(r) = v.get("range").and_then(|r| r.as_array()) {
        let ends: Vec<std::net::IpAddr> = r
            .iter()
            .filter_map(|a| a.as_str().and_then(|a| a.parse().ok()))
            .collect();
        if let [a, b] = ends[..] {
            return Ok(range_to_nets(a, b));
        }
    }
    Err(bad())
}

/// The CIDR blocks that cover the inclusive range `a`..=`b` exactly (at most 256; empty when
/// the families differ).
pub fn range_to_nets(a: std::net::IpAddr, b: std::net::IpAddr) -> Vec<Net> {
    use std::net::IpAddr;
    let (lo, hi, width) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), 32u32)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut cur = lo;
    while cur <= hi && out.len() < 256 {
        // the largest aligned block starting at cur that ends at or before hi
        let mut size_bits = if cur == 0 {
            width
        } else {
            cur.trailing_zeros().min(width)
        };
        while size_bits > 0 {
            let last = cur.checked_add((1u128 << size_bits) - 1);
            match last {
                Some(l) if l <= hi => break,
                _ => size_bits -= 1,
            }
        }
        let len = (width - size_bits) as u8;
        let addr = if width == 32 {
            IpAddr::V4(std::net::Ipv4Addr::from(cur as u32))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::from(cur))
        };
        out.push(Net::new(addr, len));
        match cur.checked_add(1u128 << size_bits) {
            Some(n) => cur = n,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn add_script_refreshes_in_one_transaction() {
        let bans = vec![
            ("203.0.113.7".parse().unwrap(), Duration::from_secs(600)),
            ("2001:db8::7".parse().unwrap(), Duration::from_secs(60)),
            (
                "198.51.100.0/24".parse().unwrap(),
                Duration::from_secs(3600),
            ),
        ];
        let s = add_script(&bans);
        assert!(s.contains("add element inet portolan_block ban4 { 203.0.113.7 timeout 600s }\ndelete element inet portolan_block ban4 { 203.0.113.7 }\nadd element inet portolan_block ban4 { 203.0.113.7 timeout 600s }\n"), "{s}");
        assert!(s.contains("add element inet portolan_block ban6 { 2001:db8::7 timeout 60s }"));
        // a prefix already there: delete and add (nft refuses to add an interval that is there)
        assert!(s.contains("delete element inet portolan_block net4 { 198.51.100.0/24 }\nadd element inet portolan_block net4 { 198.51.100.0/24 timeout 3600s }\n"), "{s}");
        assert!(
            !s.contains(
                "add element inet portolan_block net4 { 198.51.100.0/24 timeout 3600s }\ndelete"
            ),
            "{s}"
        );
        let d = del_script(&[
            "198.51.100.0/24".parse().unwrap(),
            "203.0.113.7".parse().unwrap(),
        ]);
        assert_eq!(d, "add element inet portolan_block ban4 { 203.0.113.7 timeout 1s }\ndelete element inet portolan_block ban4 { 203.0.113.7 }\n\
                       add element inet portolan_block kban4 { 203.0.113.7 timeout 1s }\ndelete element inet portolan_block kban4 { 203.0.113.7 }\n\
                       delete element inet portolan_block net4 { 198.51.100.0/24 }\n");
        assert!(!s.contains("net6"));
    }

    #[test]
    fn ensure_script_has_both_families_and_hooks() {
        let s = ensure_script();
        for needle in [
            "add table inet portolan_block",
            "flags interval, timeout",
            "hook input priority filter - 10",
            "hook forward priority filter - 10",
            "flush chain inet portolan_block input",
            "ip6 saddr @net6 counter drop",
        ] {
            assert!(s.contains(needle), "{needle} missing in\n{s}");
        }
    }

    #[test]
    fn tripwire_counts_closed_port_answers_per_destination() {
        let t = Tripwire {
            after: 5,
            ban_for: Duration::from_secs(600),
        };
        let allow: Vec<Net> = vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1".parse().unwrap(),
            "10.0.0.0/24".parse().unwrap(),
        ];
        let s = tripwire_script(&t, &allow);
        if std::env::var_os("PORTOLAN_PRINT_TRIPWIRE").is_some() {
            println!("{s}");
        }
        for needle in [
            "hook output priority filter - 10",
            "add element inet portolan_block allow4 { 127.0.0.0/8, 10.0.0.0/24 }",
            "add element inet portolan_block allow6 { ::1 }",
            "tcp flags & (syn | ack | rst) == rst | ack tcp sequence 0 jump closed4",
            "icmpv6 code port-unreachable @th,384,16 >= 1024 jump closedu6",
            "add rule inet portolan_block closed4 ip daddr @allow4 return",
            "add rule inet portolan_block closed6 ip6 daddr . tcp sport @seen6 return",
            "add rule inet portolan_block closedu4 add @seenu4 { ip daddr . @th,240,16 }",
            "add @trip4 { ip daddr limit rate over 1/minute burst 4 packets } add @kban4 { ip daddr timeout 600s }",
        ] {
            assert!(s.contains(needle), "{needle} missing in\n{s}");
        }
        // SYN-ACKs (open ports) are never counted
        assert!(!s.contains("syn | ack =="), "{s}");
        // one answer bans at once (a burst of 0 would mean the kernel's default of 5)
        let one = tripwire_script(&Tripwire { after: 1, ..t }, &allow);
        assert!(!one.contains("limit"), "{one}");
        assert!(one
            .contains("add rule inet portolan_block closed4 add @kban4 { ip daddr timeout 600s }"));
        let u = untripwire_script();
        assert!(
            u.starts_with("delete chain inet portolan_block tripwire\n"),
            "{u}"
        );
        assert!(!u.contains("kban"), "the tripwire's bans stay: {u}");
    }

    #[test]
    fn flood_guard_limits_the_flooded_service_and_renews_itself_while_the_flood_lasts() {
        let g = FloodGuard {
            rate: 50,
            hold: Duration::from_secs(30),
        };
        let s = flood_guard_script(&g, &[80, 443]);
        assert!(s.contains("update @flood_rate { tcp dport limit rate over 50/second burst 50 packets } update @flood_ports { tcp dport timeout 30s } counter drop"), "{s}");
        assert!(
            s.contains(
                "add element inet portolan_block flood_ports { 80 timeout 30s, 443 timeout 30s }"
            ),
            "{s}"
        );
        assert!(ensure_script().contains("add rule inet portolan_block input tcp flags & (syn | ack) == syn tcp dport @flood_ports jump synflood"));
        let j = r#"{"nftables": [{"set": {"family": "inet", "name": "flood_ports", "table": "portolan_block", "type": "inet_service",
            "elem": [{"elem": {"val": 80, "timeout": 30, "expires": 29}}]}}]}"#;
        let st = parse_listing(j).unwrap();
        assert_eq!(st.flood_protected, [(80, Some(Duration::from_secs(29)))]);
        assert!(st.bans.is_empty());
    }

    #[test]
    fn listing_is_read() {
        let j = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "inet", "name": "portolan_block", "handle": 1}},
          {"set": {"family": "inet", "name": "ban4", "table": "portolan_block", "type": "ipv4_addr", "flags": ["timeout"],
                   "elem": [{"elem": {"val": "10.0.0.5", "timeout": 7200, "expires": 7199}}]}},
          {"set": {"family": "inet", "name": "net4", "table": "portolan_block", "type": "ipv4_addr", "flags": ["interval", "timeout"],
                   "elem": [{"elem": {"val": {"prefix": {"addr": "10.1.0.0", "len": 24}}, "timeout": 3600, "expires": 3599}},
                            {"elem": {"val": {"range": ["10.2.0.0", "10.2.1.255"]}, "timeout": 60, "expires": 5}}]}},
          {"set": {"family": "inet", "name": "ban6", "table": "portolan_block", "type": "ipv6_addr", "flags": ["timeout"]}},
          {"rule": {"family": "inet", "table": "portolan_block", "chain": "input", "expr": [{"counter": {"packets": 7, "bytes": 420}}, {"drop": null}]}}]}"#;
        let st = parse_listing(j).unwrap();
        assert!(!st.tripwire);
        // the tripwire's bookkeeping sets hold no bans (and concatenated keys); its bans do
        let t = r#"{"nftables": [
          {"set": {"family": "inet", "name": "seen4", "table": "portolan_block", "type": ["ipv4_addr", "inet_service"], "flags": ["dynamic", "timeout"],
                   "elem": [{"elem": {"val": {"concat": ["10.0.0.9", 22]}, "timeout": 60, "expires": 50}}]}},
          {"set": {"family": "inet", "name": "trip4", "table": "portolan_block", "type": "ipv4_addr", "flags": ["dynamic", "timeout"],
                   "elem": [{"elem": {"val": "10.0.0.9", "timeout": 60, "expires": 50}}]}},
          {"set": {"family": "inet", "name": "kban4", "table": "portolan_block", "type": "ipv4_addr", "flags": ["dynamic", "timeout"],
                   "elem": [{"elem": {"val": "10.0.0.8", "timeout": 600, "expires": 599}}]}},
          {"chain": {"family": "inet", "table": "portolan_block", "name": "tripwire", "hook": "output"}}]}"#;
        let tw = parse_listing(t).unwrap();
        assert!(tw.tripwire);
        assert_eq!(tw.bans.len(), 1, "{tw:?}");
        assert_eq!(
            (tw.bans[0].net.to_string(), tw.bans[0].set.as_str()),
            ("10.0.0.8".into(), "kban4")
        );
        assert_eq!(st.dropped_packets, 7);
        assert_eq!(st.sets, ["ban4", "net4", "ban6"]);
        let nets: Vec<String> = st.bans.iter().map(|b| b.net.to_string()).collect();
        assert_eq!(nets, ["10.0.0.5", "10.1.0.0/24", "10.2.0.0/23"]);
        assert_eq!(st.bans[0].expires, Some(Duration::from_secs(7199)));
        assert!(parse_listing("{}").is_err());
        assert!(parse_listing("not json").is_err());
    }

    #[test]
    fn ranges_split_into_prefixes() {
        let r = range_to_nets("10.0.0.1".parse().unwrap(), "10.0.0.6".parse().unwrap());
        let s: Vec<String> = r.iter().map(|n| n.to_string()).collect();
        assert_eq!(s, ["10.0.0.1", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6"]);
    }
}
