//! `portolan block`: the bans in Portolan's nftables table (`table inet portolan_block`) — list,
//! add, del, flush, and save/restore across a reboot. `portolan detect -i IF --block` makes
//! bans by itself; this command is for looking at them and for changing them by hand.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use portolan_block::libnft::Auto;
use portolan_block::state::StateFile;
use portolan_block::{
    format_duration, parse_duration, AllowList, Blocker, BlockerConfig, Net, Outcome,
};

use crate::cmd::outfile::{self, SCHEMA_VERSION};
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan block list                        bans in force, with the time each has left
  portolan block list --format json          the same as one JSON document
  portolan block list -o json=bans.json      also write it to a file (replaced once complete)
  portolan block add 203.0.113.7 --for 1h    ban an address for an hour (kernel timeout)
  portolan block add 198.51.100.0/24 2001:db8:bad::/48 --for 2d
  portolan block add 10.0.0.9 --allow 10.0.0.0/24 --dry-run   says it would not: allow-listed
  portolan block del 203.0.113.7             lift a ban now
  portolan block flush                       delete table inet portolan_block and every ban in it
  portolan block save /var/lib/portolan/bans.json     bans and their expiry, to a file
  portolan block restore /var/lib/portolan/bans.json  after a reboot: the time they had left

Bans are elements of sets in Portolan's own table, `table inet portolan_block` (never another
table), each with a kernel timeout: they lift themselves, no daemon needed. Chains `input` and
`forward` (priority filter - 10) drop their sources. `detect --block` also arms a kernel
tripwire there (chain `tripwire`, hook output) whose bans `list` shows as BY tripwire. Loopback is never banned; nor is anything
given with --allow. Changing bans needs root (CAP_NET_ADMIN) and nft (apt install nftables).

Exit status: 0 done; 1 some target was not banned (allow-listed); 2 error.";

/// `portolan block` subcommands.
#[derive(clap::Subcommand, Debug)]
#[command(after_help = EXAMPLES)]
pub enum BlockCmd {
    /// Bans in force (address or network, time left, timeout) and packets dropped.
    List(ListArgs),
    /// Ban addresses or networks for a time (the kernel lifts the ban by itself).
    Add(AddArgs),
    /// Lift bans now.
    Del(DelArgs),
    /// Delete Portolan's table and every ban in it (other tables are untouched).
    Flush(FlushArgs),
    /// Write the bans in force, with their expiry, to a restore file.
    Save(SaveArgs),
    /// Put back the bans of a restore file that have not expired, for the time they have left.
    Restore(RestoreArgs),
}

/// Options every subcommand has.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// The nft program to run.
    #[arg(long, value_name = "PROGRAM", default_value = "nft", hide = true)]
    pub nft: PathBuf,
}

/// Output format of `block list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// One JSON document (with "schema_version").
    Json,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ListArgs {
    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct AddArgs {
    /// Addresses or networks (203.0.113.7, 198.51.100.0/24, 2001:db8::/64).
    #[arg(value_name = "ADDR|CIDR", required = true)]
    pub targets: Vec<String>,
    /// How long: 30s, 10m, 1h, 2d, 1w, 1h30m.
    #[arg(long = "for", value_name = "DURATION", default_value = "1h", value_parser = parse_dur)]
    pub ban_for: Duration,
    /// Never ban this address or network (repeatable; loopback always).
    #[arg(long, value_name = "CIDR", value_parser = parse_net)]
    pub allow: Vec<Net>,
    /// Say what would be banned; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also record the bans in this restore file.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DelArgs {
    /// Addresses or networks, as they were banned.
    #[arg(value_name = "ADDR|CIDR", required = true, value_parser = parse_net)]
    pub targets: Vec<Net>,
    /// Also forget them in this restore file.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct FlushArgs {
    /// Also empty this restore file.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct SaveArgs {
    /// The restore file to write (replaced whole, through a temporary file).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub common: Common,
}

#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RestoreArgs {
    /// The restore file (from `block save`, or `detect --block --block-state FILE`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Never ban this address or network (repeatable; loopback always).
    #[arg(long, value_name = "CIDR", value_parser = parse_net)]
    pub allow: Vec<Net>,
    /// Say what would be banned; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: Common,
}

/// clap parser for durations.
pub fn parse_dur(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// clap parser for addresses and networks.
pub fn parse_net(s: &str) -> Result<Net, String> {
    s.parse::<Net>().map_err(|e| e.to_string())
}

fn allow_list(extra: &[Net]) -> AllowList {
    let mut a = AllowList::default();
    for n in extra {
        a.push(*n);
    }
    a
}

/// Run `portolan block`.
pub fn run(cmd: BlockCmd, style: Style) -> Result<ExitCode> {
    match cmd {
        BlockCmd::List(a) => list(a, style),
        BlockCmd::Add(a) => add(a, style),
        BlockCmd::Del(a) => {
            let mut b = blocker(&a.common, BlockerConfig::default(), a.state.as_ref());
            let present: Vec<Net> = b
                .list()?
                .map(|st| st.bans.into_iter().map(|l| l.net).collect())
                .unwrap_or_default();
            b.unban(&a.targets)?;
            for t in &a.targets {
                if present.contains(t) {
                    println!("{t}: ban lifted");
                } else {
                    println!("{t}: was not banned");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BlockCmd::Flush(a) => {
            let mut b = blocker(&a.common, BlockerConfig::default(), a.state.as_ref());
            if b.flush()? {
                println!("table inet portolan_block deleted: every ban is lifted");
            } else {
                if let Some(p) = &a.state {
                    StateFile::new(p).clear()?;
                }
                println!("no table inet portolan_block: nothing was banned");
            }
            Ok(ExitCode::SUCCESS)
        }
        BlockCmd::Save(a) => {
            let mut b = blocker(&a.common, BlockerConfig::default(), None);
            let bans: Vec<(Net, Duration)> = match b.list()? {
                Some(st) => st
                    .bans
                    .iter()
                    .map(|l| (l.net, l.expires.unwrap_or(Duration::ZERO)))
                    .filter(|(_, d)| !d.is_zero())
                    .collect(),
                None => Vec::new(),
            };
            StateFile::new(&a.file).replace(&bans, SystemTime::now())?;
            println!(
                "{} bans saved to {}",
                bans.len(),
                escape(&a.file.display().to_string())
            );
            Ok(ExitCode::SUCCESS)
        }
        BlockCmd::Restore(a) => {
            let file = StateFile::new(&a.file);
            let bans = file.remaining(SystemTime::now())?;
            let cfg = BlockerConfig {
                allow: allow_list(&a.allow),
                dry_run: a.dry_run,
                ..BlockerConfig::default()
            };
            let mut b = blocker(&a.common, cfg, None);
            let out = b.ban_nets(&bans)?;
            report(&bans, &out, style)
        }
    }
}

fn blocker(common: &Common, cfg: BlockerConfig, state: Option<&PathBuf>) -> Blocker<Auto> {
    let b = Blocker::new(cfg, Auto::new(&common.nft));
    match state {
        Some(p) => b.with_state(StateFile::new(p)),
        None => b,
    }
}

fn add(a: AddArgs, style: Style) -> Result<ExitCode> {
    let mut bans = Vec::new();
    for t in &a.targets {
        let net: Net = t
            .parse()
            .map_err(|e| anyhow::anyhow!("{}", escape(&format!("{e}"))))?;
        portolan_block::check_width(&net)?;
        bans.push((net, a.ban_for));
    }
    let cfg = BlockerConfig {
        ban_for: a.ban_for,
        allow: allow_list(&a.allow),
        dry_run: a.dry_run,
        ..BlockerConfig::default()
    };
    let mut b = blocker(&a.common, cfg, a.state.as_ref());
    let out = b.ban_nets(&bans)?;
    report(&bans, &out, style)
}

/// One line per target; exit 1 when one was refused (allow-listed).
fn report(bans: &[(Net, Duration)], out: &[Outcome], style: Style) -> Result<ExitCode> {
    let mut refused = false;
    let mut w = std::io::stdout().lock();
    for ((net, d), o) in bans.iter().zip(out) {
        let line = match o {
            Outcome::Blocked { dry_run: true, .. } => {
                format!("{net}: would be blocked for {}", format_duration(*d))
            }
            Outcome::Blocked { .. } => {
                format!(
                    "{net}: {} for {}",
                    style.red("blocked"),
                    format_duration(*d)
                )
            }
            Outcome::Covered { by } => format!("{net}: already blocked (inside the ban of {by})"),
            Outcome::Allowed { by } => {
                refused = true;
                format!("{net}: {} (allow-listed: {by})", style.green("not blocked"))
            }
        };
        writeln!(w, "{line}")?;
    }
    w.flush()?;
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn list(a: ListArgs, style: Style) -> Result<ExitCode> {
    use std::fmt::Write as _;
    let outputs = a.out.prepare()?;
    let mut b = blocker(&a.common, BlockerConfig::default(), None);
    let st = b.list().context("listing table inet portolan_block")?;
    let render = |format: Format, style: Style| -> Result<String> {
        let mut w = String::new();
        match format {
            Format::Json => {
                let bans: Vec<serde_json::Value> = st
                    .iter()
                    .flat_map(|s| &s.bans)
                    .map(|l| {
                        serde_json::json!({
                            "net": l.net.to_string(),
                            "family": if l.net.is_ipv4() { "ipv4" } else { "ipv6" },
                            "prefix": !l.net.is_host(),
                            "set": l.set,
                            "by": by(&l.set),
                            "timeout_s": l.timeout.map(|d| d.as_secs()),
                            "expires_in_s": l.expires.map(|d| d.as_secs()),
                        })
                    })
                    .collect();
                let doc = serde_json::json!({
                    "schema_version": SCHEMA_VERSION,
                    "table": "inet portolan_block",
                    "present": st.is_some(),
                    "dropped_packets": st.as_ref().map(|s| s.dropped_packets).unwrap_or(0),
                    "tripwire_armed": st.as_ref().is_some_and(|s| s.tripwire),
                    "syn_flood_limits": st.iter().flat_map(|s| &s.flood_protected).map(|(p, left)| serde_json::json!({
                        "port": p, "proto": "tcp", "expires_in_s": left.map(|d| d.as_secs()),
                    })).collect::<Vec<_>>(),
                    "bans": bans,
                });
                writeln!(w, "{doc}")?;
            }
            Format::Table => match &st {
                None => writeln!(w, "no bans (there is no table inet portolan_block)")?,
                Some(s) => {
                    writeln!(
                        w,
                        "{}",
                        style.bold(&format!(
                            "{:<40} {:>12} {:>10}  BY",
                            "BANNED", "EXPIRES IN", "TIMEOUT"
                        ))
                    )?;
                    for l in &s.bans {
                        let dur =
                            |d: Option<Duration>| d.map(format_duration).unwrap_or("-".into());
                        writeln!(
                            w,
                            "{:<40} {:>12} {:>10}  {}",
                            l.net.to_string(),
                            dur(l.expires),
                            dur(l.timeout),
                            by(&l.set)
                        )?;
                    }
                    for (p, left) in &s.flood_protected {
                        writeln!(
                            w,
                            "SYN-flood limit on port {p}/tcp ({} left unless the flood goes on)",
                            left.map(format_duration).unwrap_or("-".into())
                        )?;
                    }
                    writeln!(
                    w,
                    "{} bans in table inet portolan_block; {} packets dropped; kernel tripwire {}",
                    s.bans.len(),
                    s.dropped_packets,
                    if s.tripwire {
                        "armed (portolan detect --block)"
                    } else {
                        "not armed"
                    }
                )?;
                }
            },
        }
        Ok(w)
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    crate::term::print_out(&render(a.out.stdout_format(), style)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Who made a ban, by the set it is in: the kernel tripwire bans into `kban4`/`kban6`.
fn by(set: &str) -> &'static str {
    if set.starts_with("kban") {
        "tripwire"
    } else {
        "portolan"
    }
}

/// The `--block` options of `portolan detect` (flattened into its arguments).
#[derive(clap::Args, Debug, Clone)]
pub struct DetectBlockOpts {
    /// Ban the source of every scan alert at once, in the kernel (Portolan's nftables table
    /// `inet portolan_block`; see `portolan block --help`). Needs root (CAP_NET_ADMIN) and nft.
    /// Sources on --allow (and the configuration's allow list) and loopback are never banned;
    /// floods and distributed scans (spoofable, many sources) are reported, not banned.
    #[arg(long, requires = "interface")]
    pub block: bool,

    /// How long a ban lasts (kernel timeout; refreshed while the source keeps scanning):
    /// 30s, 10m, 1h, 2d.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_dur, requires = "block")]
    pub block_for: Duration,

    /// Ban the whole IPv4 network of this prefix length (e.g. 24) once --block-prefix-after of
    /// its addresses were banned (a sweep from many addresses of one network).
    #[arg(long, value_name = "LEN", value_parser = clap::value_parser!(u8).range(8..=31), requires = "block")]
    pub block_prefix: Option<u8>,

    /// The same for IPv6 (e.g. 64).
    #[arg(long, value_name = "LEN", value_parser = clap::value_parser!(u8).range(16..=127), requires = "block")]
    pub block_prefix6: Option<u8>,

    /// Banned addresses of one network that make the network banned.
    #[arg(long, value_name = "N", default_value = "3", value_parser = clap::value_parser!(u32).range(1..), requires = "block")]
    pub block_prefix_after: u32,

    /// Kernel tripwire: ban an address in the kernel itself, without waiting for the
    /// detector, when this host has answered its probes of N distinct closed ports within a
    /// minute (TCP RST to a SYN, ICMP port unreachable). Default 5: a scanner gets at most 5
    /// closed ports answered. Open ports (SYN-ACK) are never counted, so clients of your
    /// services are never banned by it. A forged source can get an address banned (as with
    /// any ban of an alert's source): --allow your gateways, resolvers and management
    /// networks; bans end by their timeout.
    #[arg(long, value_name = "N", default_value_t = portolan_block::nft::TRIP_AFTER,
          value_parser = clap::value_parser!(u32).range(1..=1000), requires = "block")]
    pub tripwire_after: u32,

    /// No kernel tripwire: only the detector's alerts ban (~1.5 ms after the alerting
    /// packet; a fast scanner gets tens to hundreds of probes answered before).
    #[arg(long, requires = "block")]
    pub no_tripwire: bool,

    /// SYN-flood protection: when a SYN flood on a TCP port of this host is detected, let at
    /// most N new connections a second through to that port, in the kernel, until the flood
    /// has stopped for --syn-flood-hold (legitimate clients share the N; keep
    /// net.ipv4.tcp_syncookies on). Flood sources are never banned (they are spoofable).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000), requires = "block")]
    pub syn_flood_limit: Option<u32>,

    /// With --syn-flood-limit: how long the limit outlives the last SYN over it.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_dur, requires = "syn_flood_limit")]
    pub syn_flood_hold: Duration,

    /// A port policy (portolan policy lint/check): its admin zones join the allow-list —
    /// those of --admin-zone, else every zone and host a rule lets reach a remote
    /// administration port (ssh 22, telnet 23, rdp 3389, vnc 5900, winrm 5985/5986 over TCP).
    #[arg(long, value_name = "FILE", requires = "block")]
    pub policy: Option<PathBuf>,

    /// With --policy: the zones (or hosts) never to ban, by name (repeatable); replaces the
    /// guess from the rules.
    #[arg(long, value_name = "NAME", requires = "policy")]
    pub admin_zone: Vec<String>,

    /// With --block: print what would be banned (alerts say "blocked"), change nothing.
    #[arg(long, requires = "block")]
    pub dry_run: bool,

    /// Also keep every ban, with its expiry, in this restore file (for `portolan block
    /// restore FILE` after a reboot).
    #[arg(long, value_name = "FILE", requires = "block")]
    pub block_state: Option<PathBuf>,

    /// The nft program to run.
    #[arg(
        long = "block-nft",
        value_name = "PROGRAM",
        default_value = "nft",
        hide = true
    )]
    pub nft: PathBuf,
}

/// Remote-administration ports: a zone a policy rule lets reach one is an admin zone.
const ADMIN_TCP_PORTS: [u16; 6] = [22, 23, 3389, 5900, 5985, 5986];

/// The networks of a policy's admin zones (and hosts): `named` ones, else those a rule lets
/// reach a remote-administration port. Returns the names chosen and their networks.
pub fn policy_admin_nets(
    p: &portolan_policy::Policy,
    named: &[String],
) -> Result<(Vec<String>, Vec<Net>)> {
    use portolan_policy::{Endpoint, Service};
    let mut names: Vec<Endpoint> = Vec::new();
    if named.is_empty() {
        for r in &p.rules {
            let admin = r.services().iter().any(|s| {
                matches!(s, Service::Ports { proto: portolan_registry::Protocol::Tcp, lo, hi }
                    if ADMIN_TCP_PORTS.iter().any(|a| lo <= a && a <= hi))
            });
            // `any` is never an admin zone: that would allow-list everyone
            if admin && r.from != Endpoint::Any && !names.contains(&r.from) {
                names.push(r.from.clone());
            }
        }
    } else {
        for n in named {
            let e = if p.zones.contains_key(n) {
                Endpoint::Zone(n.clone())
            } else if p.hosts.contains_key(n) {
                Endpoint::Host(n.clone())
            } else {
                anyhow::bail!(
                    "--admin-zone {}: the policy has no zone or host of that name (its zones: {})",
                    escape(n),
                    escape(&p.zones.keys().cloned().collect::<Vec<_>>().join(", "))
                );
            };
            names.push(e);
        }
    }
    let mut nets: Vec<Net> = Vec::new();
    let mut push = |n: Net| {
        if !nets.contains(&n) {
            nets.push(n);
        }
    };
    for e in &names {
        match e {
            Endpoint::Zone(z) => {
                for r in p.zones.get(z).map(|z| &z.networks[..]).unwrap_or_default() {
                    if r.is_everything() {
                        anyhow::bail!(
                            "--policy: admin zone {} is the whole address space; name the admin zones with --admin-zone",
                            escape(z)
                        );
                    }
                    for n in portolan_block::nft::range_to_nets(r.lo_ip(), r.hi_ip()) {
                        push(n);
                    }
                }
                for h in p.hosts.values().filter(|h| &h.zone == z) {
                    push(Net::host(h.address));
                }
            }
            Endpoint::Host(h) => {
                if let Some(h) = p.hosts.get(h) {
                    push(Net::host(h.address));
                }
            }
            Endpoint::Any => {}
        }
    }
    Ok((names.iter().map(|e| e.to_string()).collect(), nets))
}

/// The IPS side of `portolan detect --block`: bans the sources of the alerts of one batch
/// in one transaction, and says what was done about each alert.
pub struct DetectBlocker {
    blocker: Blocker<Auto>,
    dry_run: bool,
    ban_for: Duration,
    /// The kernel tripwire was armed by this run (and is disarmed when it ends).
    tripwire: bool,
    /// SYN-flood protection (--syn-flood-limit).
    flood: Option<portolan_block::nft::FloodGuard>,
}

/// Who made the ban of an alert's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockedBy {
    /// The kernel tripwire, before the detector's alert.
    Tripwire,
    /// The detector's alert.
    Detector,
    /// A flood: not a ban, a limit on new connections to the flooded service.
    SynFloodLimit,
}

impl BlockedBy {
    pub fn name(self) -> &'static str {
        match self {
            BlockedBy::Tripwire => "tripwire",
            BlockedBy::Detector => "detector",
            BlockedBy::SynFloodLimit => "syn-flood-limit",
        }
    }
}

impl Drop for DetectBlocker {
    /// The tripwire lives as long as the detector that armed it (its bans stay until their
    /// timeouts); a run killed outright leaves it armed until `portolan block flush` or the
    /// next `detect --block`.
    fn drop(&mut self) {
        if self.tripwire {
            if let Err(e) = self.blocker.disarm_tripwire() {
                eprintln!("portolan: could not disarm the kernel tripwire: {e} (portolan block flush removes it)");
            }
        }
    }
}

impl DetectBlocker {
    /// `None` without --block. Prepares the table now, so a missing nft or privilege is an
    /// error before capture starts.
    pub fn new(opts: &DetectBlockOpts, allow: &[Net]) -> Result<Option<DetectBlocker>> {
        if !opts.block {
            return Ok(None);
        }
        let mut allow = allow.to_vec();
        if let Some(path) = &opts.policy {
            let policy = crate::cmd::policy::load(path)
                .with_context(|| format!("--policy {}", escape(&path.display().to_string())))?;
            let (names, nets) = policy_admin_nets(&policy, &opts.admin_zone)?;
            eprintln!(
                "portolan: never banned, the policy's admin zones: {}",
                if names.is_empty() {
                    "none (no rule lets a zone reach ssh, telnet, rdp, vnc or winrm; name them with --admin-zone)".to_string()
                } else {
                    escape(&format!(
                        "{} ({})",
                        names.join(", "),
                        nets.iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            );
            allow.extend(nets);
        }
        let cfg = BlockerConfig {
            ban_for: opts.block_for,
            allow: allow_list(&allow),
            prefix: portolan_block::PrefixRule {
                v4: opts.block_prefix,
                v6: opts.block_prefix6,
                after: opts.block_prefix_after as usize,
            },
            dry_run: opts.dry_run,
        };
        let mut blocker = Blocker::new(cfg, Auto::new(&opts.nft));
        if let Some(p) = &opts.block_state {
            blocker = blocker.with_state(StateFile::new(p));
        }
        blocker
            .prepare()
            .context("--block: cannot set up table inet portolan_block")?;
        let tripwire = !opts.no_tripwire && !opts.dry_run;
        if tripwire {
            blocker
                .arm_tripwire(&portolan_block::nft::Tripwire {
                    after: opts.tripwire_after,
                    ban_for: opts.block_for,
                })
                .context(
                    "--block: cannot arm the kernel tripwire (nftables too old? try --no-tripwire)",
                )?;
        } else if !opts.dry_run {
            // one left armed by an earlier run that was killed
            blocker.disarm_tripwire()?;
        }
        Ok(Some(DetectBlocker {
            blocker,
            dry_run: opts.dry_run,
            ban_for: opts.block_for,
            tripwire,
            flood: opts
                .syn_flood_limit
                .map(|rate| portolan_block::nft::FloodGuard {
                    rate,
                    hold: opts.syn_flood_hold,
                }),
        }))
    }

    /// The kernel tripwire is armed by this run.
    pub fn tripwire_armed(&self) -> bool {
        self.tripwire
    }

    /// Ban the sources of `alerts` that can be banned; one action per alert.
    pub fn act(
        &mut self,
        alerts: &[portolan_detect::alert::Alert],
    ) -> Result<Vec<(portolan_detect::alert::Action, Option<BlockedBy>)>> {
        use portolan_detect::alert::{Action, Shape};
        let bannable = |a: &portolan_detect::alert::Alert| {
            !matches!(a.shape, Shape::Distributed | Shape::Flood)
        };
        let mut srcs: Vec<std::net::IpAddr> = Vec::new();
        for a in alerts.iter().filter(|a| bannable(a)) {
            let ip = a.src.to_ip();
            if !srcs.contains(&ip) {
                srcs.push(ip);
            }
        }
        // the sources the kernel tripwire banned before the detector's alert
        let tripped: Vec<std::net::IpAddr> = if self.tripwire && !srcs.is_empty() {
            self.blocker
                .tripwire_bans()?
                .into_iter()
                .map(|n| n.addr())
                .filter(|a| srcs.contains(a))
                .collect()
        } else {
            Vec::new()
        };
        // SYN floods on this host's services: a per-service limit, in the kernel
        let flooded: Vec<u16> = match self.flood {
            Some(_) => {
                let mut v: Vec<u16> = alerts
                    .iter()
                    .filter(|a| a.technique == portolan_detect::alert::Technique::SynFlood)
                    .filter_map(|a| a.dst_port)
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            None => Vec::new(),
        };
        if let (Some(g), false) = (self.flood, flooded.is_empty()) {
            self.blocker.protect_services(&g, &flooded)?;
            for p in &flooded {
                eprintln!(
                    "portolan: {}SYN flood on port {p}/tcp: new connections to it limited to {}/s in the kernel until the flood has stopped for {}",
                    if self.dry_run { "would have: " } else { "" },
                    g.rate,
                    format_duration(g.hold)
                );
            }
        }
        let t0 = portolan_detect::source::live::now_ns();
        let outcomes = self.blocker.ban(&srcs)?;
        let now_ns = portolan_detect::source::live::now_ns();
        let mut said: Vec<std::net::IpAddr> = Vec::new();
        let mut actions = Vec::with_capacity(alerts.len());
        for a in alerts {
            let ip = a.src.to_ip();
            let o = bannable(a)
                .then(|| srcs.iter().position(|s| *s == ip))
                .flatten()
                .and_then(|i| outcomes.get(i));
            let blocked = o.is_some_and(Outcome::is_blocked);
            let by = blocked.then(|| {
                if tripped.contains(&ip) {
                    BlockedBy::Tripwire
                } else {
                    BlockedBy::Detector
                }
            });
            if let (Some(o), false) = (o, said.contains(&ip)) {
                said.push(ip);
                let ms = |from: u64| now_ns.saturating_sub(from) as f64 / 1e6;
                let what = match o {
                    Outcome::Blocked { net, refreshed, .. } => format!(
                        "{}{} {net} for {}{}",
                        if self.dry_run { "would have " } else { "" },
                        if *refreshed {
                            "kept blocked"
                        } else {
                            "blocked"
                        },
                        format_duration(self.ban_for),
                        if by == Some(BlockedBy::Tripwire) {
                            " (the kernel tripwire banned it first; the detector's ban made"
                        } else {
                            " (the detector's ban made"
                        }
                    ),
                    Outcome::Covered { by } => format!("{ip} is blocked already (by {by})"),
                    Outcome::Allowed { by } => format!("{ip} not blocked: allow-listed ({by})"),
                };
                let open = if matches!(o, Outcome::Blocked { .. }) {
                    " "
                } else {
                    " ("
                };
                eprintln!(
                    "portolan: {what}{open}{:.1} ms after the alerting packet, {:.1} ms after its first probe; nft {:.1} ms)",
                    ms(a.ts_ns),
                    ms(a.first_seen_ns),
                    ms(t0)
                );
            }
            let limited = a.technique == portolan_detect::alert::Technique::SynFlood
                && a.dst_port.is_some_and(|p| flooded.contains(&p));
            actions.push(if blocked {
                (Action::Blocked, by)
            } else if limited {
                (Action::Blocked, Some(BlockedBy::SynFloodLimit))
            } else {
                (Action::Allowed, None)
            });
        }
        Ok(actions)
    }
}

/// `portolan detect`'s allow list as networks (from `--allow` strings and the configuration).
pub fn detect_allow(cfg: &portolan_detect::config::Config) -> Vec<Net> {
    cfg.allow
        .iter()
        .map(|c| {
            let ip = c.addr.to_ip();
            let len = if ip.is_ipv4() {
                c.prefix128.saturating_sub(96)
            } else {
                c.prefix128
            };
            Net::new(ip, len)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy(yaml: &str) -> portolan_policy::Policy {
        portolan_policy::Policy::parse(yaml, portolan_registry::Registry::embedded()).unwrap()
    }

    #[test]
    fn admin_zones_are_those_a_rule_lets_reach_remote_administration() {
        let p = policy(
            "zones:
  admins: { networks: [10.9.0.0/24, 10.9.1.0/31] }
  office: { networks: [10.30.0.0/16] }
  dmz:    { networks: [10.20.0.0/24] }
hosts:
  jump: { address: 10.20.0.7, zone: dmz }
  bastion: { address: 10.9.2.1, zone: admins }
rules:
  - { from: admins, to: dmz, allow: [ssh, https] }
  - { from: jump, to: dmz, allow: [3389/tcp] }
  - { from: office, to: dmz, allow: [https] }
  - { from: any, to: dmz, allow: [22/tcp] }
default: deny
",
        );
        let (names, nets) = policy_admin_nets(&p, &[]).unwrap();
        assert_eq!(names, ["admins", "jump"]);
        let nets: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            ["10.9.0.0/24", "10.9.1.0/31", "10.9.2.1", "10.20.0.7"]
        );
        // named: only those
        let (names, nets) = policy_admin_nets(&p, &["office".into()]).unwrap();
        assert_eq!((names, nets.len()), (vec!["office".to_string()], 1));
        let e = policy_admin_nets(&p, &["nope".into()]).unwrap_err();
        assert!(e.to_string().contains("no zone or host"), "{e}");
    }

    #[test]
    fn a_whole_address_space_is_never_an_admin_zone() {
        let p = policy(
            "zones:
  world: { networks: [0.0.0.0/0] }
  dmz:   { networks: [10.20.0.0/24] }
rules:
  - { from: world, to: dmz, allow: [ssh] }
default: deny
",
        );
        assert!(policy_admin_nets(&p, &[]).is_err());
    }
}
