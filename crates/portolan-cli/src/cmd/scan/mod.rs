//! `portolan scan`: find what is exposed (TCP connect scan).

mod outputs;
mod sv;
mod vulns;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use portolan_model::{Severity, Stop};
use portolan_report::{Format, OutputSpec};
use portolan_scan::plan::Shard;
use portolan_scan::session::{self, EngineKind, PortsRequest, ScanRequest};
use portolan_scan::target::Resolve;

use crate::term::Style;

const EXAMPLES: &str = "\
Examples:
  portolan scan 192.0.2.0/24 -p 22,80,443,8000-8100
  portolan scan host.example -p- -o xml=out.xml -o jsonl=out.jsonl
  portolan scan 10.0.0.0/16 --top-ports 100 --exclude 10.0.5.0/24 --max-rate 2000
  portolan scan -iL targets.txt --exclude-file keep-out.txt -p ssh,http,https
  portolan scan 10.0.0.0/8 -p 443 -Pn --seed 7 --shard 0/3   (run 1/3 and 2/3 elsewhere)
  portolan scan 10.0.0.0/16 -p- --resume scan.resume          (Ctrl-C, then run it again)
  portolan scan 10.0.0.0/16 -p 443 --syn --send-via link      (frames to the gateway's MAC)
  portolan scan 10.0.0.0/16 -p 443 --syn --router-mac 02:00:5e:10:00:01 --interface eth0
  portolan scan -sn 10.0.0.0/16                               (which hosts are up, and how)
  portolan scan -sn 10.0.0.0/16 --discovery=icmp-echo,syn:22  (choose the discovery probes)
  portolan scan 10.0.0.0/16 --top-ports 100                   (discovery first: live hosts only)
  portolan scan 10.0.0.0/16 --top-ports 100 -Pn               (no discovery: every address)
  portolan scan 2001:db8::/120 -p 22,443 --syn                (IPv6, raw; also connect)

Targets: 192.0.2.7, 2001:db8::1, 192.0.2.0/24, 192.0.2.1-192.0.2.50, 192.0.2.1-50, host.example.
Ports: 22 | 1000-2000 | -1024 | 60000- | - (all) | names from the IANA registry (ssh,http).
Hosts: a port scan first finds the live hosts (nmap's default; -Pn skips it) and scans those only;
this host's own addresses (loopback, local interfaces) are up without a probe (localhost-response).
When none is up it says so (\"0 hosts up ... try -Pn\") and exits 0. --shard needs -Pn; --resume
keeps the live hosts it found and walks the same ones when resumed.
States: open (syn-ack), closed (conn-refused), filtered (no-response after retries, host-unreach).
Outputs: --format FMT for stdout, -o FMT=PATH for files (repeatable; -o PATH alone is JSON Lines):
table (default), json (= jsonl, docs/schema/scan-jsonl.md), xml (nmap's DTD: ndiff and nmap
parsers read it), grep (nmap's grepable), csv (docs/schema/scan-csv.md). Files are written through
a temporary file renamed on success (JSON Lines streams in place; a resumed scan appends).
Store: every scan is saved to the local result store (SQLite, under $PORTOLAN_DATA_DIR, else
$XDG_DATA_HOME/portolan, else ~/.local/share/portolan) while it runs: `portolan scans`,
`portolan history ADDR`, `portolan diff`. --store PATH|URL chooses another SQLite file or a
PostgreSQL database (postgres://user@host/db), --no-store saves nothing.
Exit status: 0 done, 1 an exposure (with --vulns, also a CVE shown) at or above --fail-on, 2
error, 130 interrupted.
  portolan scan -sV 10.0.0.0/24 --top-ports 100 --fail-on high -o report.jsonl
  portolan scan -sV 10.0.0.0/24 --vulns --min-cvss 7 --fail-on high -o xml=scan.xml";

/// How hostnames resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ResolveArg {
    /// The first address the resolver gives.
    First,
    /// Every address.
    All,
}

/// How raw probes reach the wire (`--send-via`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SendViaArg {
    /// The IP raw socket: the kernel routes each packet and resolves the next hop (any link).
    Ip,
    /// Ethernet frames (AF_PACKET) to the next hop's MAC from the kernel's neighbour table.
    Link,
}

fn parse_router_mac(s: &str) -> Result<[u8; 6], String> {
    portolan_scan::rawio::parse_mac(s)
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// Arguments of `portolan scan`.
#[derive(clap::Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ScanArgs {
    /// What to scan: addresses, CIDR blocks, ranges, hostnames.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,

    /// Ports: 22,80,1000-2000, '-' for 1-65535 (-p-), service names (ssh,http).
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "SPEC",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,

    /// The N most commonly exposed TCP ports (nmap-services frequencies when installed, else
    /// Portolan's own ranking; default when -p is not given: 1000).
    #[arg(long, value_name = "N", conflicts_with = "ports")]
    pub top_ports: Option<usize>,

    /// Read targets from FILE ('-' for stdin); also accepted as -iL FILE.
    #[arg(long = "input-list", value_name = "FILE")]
    pub input_list: Vec<String>,

    /// Never scan these (comma-separated addresses, blocks, ranges, hostnames).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub exclude: Vec<String>,

    /// Never scan the targets listed in FILE.
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Vec<String>,

    /// Scan the first address of a hostname, or all of them.
    #[arg(long, value_enum, default_value = "first")]
    pub resolve: ResolveArg,

    /// Seed of the probe order (the same seed, the same order; shards need one).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Scan only slice i of N of the job (0 <= i < N); the N slices partition it exactly.
    /// Needs -Pn unless every target is this host's own (host discovery would make the job
    /// whatever answered on each scanner).
    #[arg(long, value_name = "i/N")]
    pub shard: Option<Shard>,

    /// Save progress to FILE (periodically and on Ctrl-C); if FILE exists, continue from it.
    /// With host discovery the live hosts are saved too: a resumed run scans the same ones
    /// without discovering again.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// Never send more than this many probes per second (a hard cap, retransmissions
    /// included). Without it there is no fixed cap: connect scans are paced by their window;
    /// raw scans start at 100,000 packets/s and go faster only as fast as replies come back.
    #[arg(long, value_name = "PPS")]
    pub max_rate: Option<f64>,

    /// Most probes in flight (also kept under the file-descriptor limit).
    #[arg(long, default_value_t = 5000, value_name = "N")]
    pub concurrency: usize,

    /// Probe timeout before RTT is measured, and its ceiling (milliseconds).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub timeout: u64,

    /// Floor of the RTT-derived probe timeout (milliseconds).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub min_timeout: u64,

    /// Extra attempts for a probe that got no answer (default 2; host discovery's IP probes:
    /// 0, each sent once, the probe kinds being each other's redundancy; give --retries to
    /// retransmit them on a lossy path).
    ///
    /// Example: sudo portolan scan -sn 10.0.0.0/16 --retries 1
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Write results as FMT to PATH (table, json = jsonl, xml, grep, csv; PATH '-' is stdout;
    /// PATH alone means json). Repeat for several. Every output is checked before the scan.
    ///
    /// Example: -o xml=out.xml -o out.jsonl
    #[arg(short = 'o', long = "output", value_name = "FMT=PATH")]
    pub outputs: Vec<String>,

    /// Format of standard output when no -o writes to it: table, json (= jsonl), xml, grep, csv.
    #[arg(long, default_value = "table", value_parser = parse_format)]
    pub format: Format,

    /// Same as --format json (JSON Lines), as on the other commands.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Exit with status 1 when -sV proves an exposure at or above SEVERITY (info, low, medium,
    /// high, critical), or, with --vulns, an affected or conditional CVE shown (after the
    /// --min-cvss, --kev, --min-epss, --min-confidence and --no-unknown filters) is: its CVSS
    /// severity (critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0), at least high when the
    /// CVE is in CISA's KEV catalogue; unknown applicability never counts. 0 when none, 2 on
    /// error.
    ///
    /// Example: portolan scan -sV 10.0.0.0/24 --vulns --fail-on high
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<Severity>,

    /// List every port in every output, whatever its state (no 'not shown: N closed').
    #[arg(long)]
    pub all_ports: bool,

    /// Show only hosts with open ports in the table.
    #[arg(long)]
    pub open: bool,

    /// No progress bar and no notices on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Save the scan to this result store instead of the default one (portolan.db in
    /// $PORTOLAN_DATA_DIR, else $XDG_DATA_HOME/portolan, else ~/.local/share/portolan): an
    /// SQLite file, or a PostgreSQL URL shared by a team (postgres://user@host/db; TLS as
    /// libpq: ?sslmode=verify-full&sslrootcert=CA.pem, default sslmode=prefer; a client
    /// certificate with &sslcert=CRT&sslkey=KEY, &sslpassword=PASSPHRASE for an encrypted
    /// key). Checked before the first packet.
    ///
    /// Example: portolan scan 10.0.0.0/24 --store postgres://scanner@%2Frun%2Fpostgresql/portolan
    /// Example: portolan scan 10.0.0.0/24 --store 'postgres://scanner@db/portolan?sslmode=verify-full&sslrootcert=/etc/portolan/db-ca.pem'
    #[arg(long, value_name = "PATH|URL", conflicts_with = "no_store")]
    pub store: Option<String>,

    /// Do not save this scan to the result store.
    #[arg(long)]
    pub no_store: bool,

    /// TCP SYN scan with raw packets (also -sS): needs root or CAP_NET_RAW; without it, falls
    /// back to a connect scan and says so (see --no-fallback).
    #[arg(long, conflicts_with = "udp")]
    pub syn: bool,

    /// UDP scan with protocol-correct payloads (also -sU): needs root or CAP_NET_RAW.
    #[arg(long)]
    pub udp: bool,

    /// Service and version detection on open ports (also -sV): service, product, version, CPE,
    /// TLS certificate, SSH and HTTP facts, and unauthenticated access proved by harmless
    /// read-only requests without credentials (Redis PING, memcached stats, anonymous FTP, SMB
    /// null session, NFS exports, anonymous LDAP, ...). Nothing is written or guessed.
    #[arg(long)]
    pub service_version: bool,

    /// With -sV: also load an nmap-service-probes file you have installed
    /// (e.g. /usr/share/nmap/nmap-service-probes); rules the regex engine cannot compile are
    /// skipped with a note.
    #[arg(long, value_name = "FILE", requires = "service_version")]
    pub probes_file: Option<PathBuf>,

    /// With -sV: the known vulnerabilities (CVE, CVSS, KEV, EPSS, confidence) of each detected
    /// version, offline, from the database `portolan vulns import` fills; shown under each
    /// port in the table, as a `vulns` array in JSON Lines, as a `portolan-vulns` script in
    /// XML, as CVE ids in grep and CSV. Checked before the first packet.
    ///
    /// Example: portolan scan -sV 10.0.0.0/24 --vulns -o xml=scan.xml
    #[arg(long, requires = "service_version")]
    pub vulns: bool,

    /// With --vulns: the vulnerability database (default: vulns.sqlite3 in the data directory).
    #[arg(long, value_name = "PATH", requires = "vulns")]
    pub vulns_db: Option<PathBuf>,

    /// With --vulns: only CVEs with a CVSS base score of at least this, 0-10 (in every output
    /// format and for --fail-on; as `portolan vulns --min-cvss`).
    ///
    /// Example: portolan scan -sV 10.0.0.0/24 --vulns --min-cvss 7 -o xml=scan.xml
    #[arg(long, value_name = "SCORE", requires = "vulns", value_parser = crate::cmd::vulns::parse_cvss)]
    pub min_cvss: Option<f64>,

    /// With --vulns: only CVEs in CISA's Known Exploited Vulnerabilities catalogue.
    #[arg(long, requires = "vulns")]
    pub kev: bool,

    /// With --vulns: only CVEs with an EPSS score of at least this, 0-1.
    #[arg(long, value_name = "P", requires = "vulns", value_parser = crate::cmd::vulns::parse_epss)]
    pub min_epss: Option<f64>,

    /// With --vulns: only findings with at least this confidence, 0-100.
    #[arg(long, value_name = "N", requires = "vulns", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_confidence: Option<u8>,

    /// With --vulns: no CVEs of unknown applicability (records NVD has not analysed yet).
    #[arg(long, requires = "vulns")]
    pub no_unknown: bool,

    /// With -sV: a lab-only HOST:PORT the open-proxy checks ask each HTTP proxy or SOCKS port
    /// to reach (compared with the target's own answer), as `portolan service --proxy-target`.
    /// Without it, proxies are never asked to connect anywhere.
    ///
    /// Example: portolan scan -sV 10.9.0.0/24 -p 3128,8080,1080 --proxy-target 10.9.0.3:80
    #[arg(long, value_name = "ADDR:PORT", requires = "service_version")]
    pub proxy_target: Option<std::net::SocketAddr>,

    /// With -sV: highest probe rarity tried on ports no probe lists, 0-9.
    #[arg(long, value_name = "0-9", default_value_t = 7, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub version_intensity: u8,

    /// TCP connect scan (also -sT): the default, needs no privilege.
    #[arg(long, conflicts_with_all = ["syn", "udp"])]
    pub connect: bool,

    /// With --syn: fail instead of falling back to a connect scan when raw sockets are denied.
    #[arg(long)]
    pub no_fallback: bool,

    /// Raw scans: send and receive on this interface only.
    #[arg(long, value_name = "IFACE")]
    pub interface: Option<String>,

    /// Raw scans: source address of the probes (default: the kernel's choice for the route).
    #[arg(long, value_name = "ADDR")]
    pub source_ip: Option<std::net::IpAddr>,

    /// Raw scans: threads that hand packets to the kernel beside the engine thread (default:
    /// one per spare CPU, at most 3, when --max-rate is above 50,000; 0 sends from the engine
    /// thread only). The kernel's per-packet work runs on the sending CPU, so more senders
    /// reach higher rates.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=16))]
    pub send_threads: Option<u8>,

    /// Raw scans: how probes reach the wire. `ip` (default): an IP raw socket, the kernel
    /// routes each packet and finds the next hop's MAC (any link type). `link`: Ethernet frames
    /// (AF_PACKET, past the qdisc) on the route's interface to the next hop's MAC, read from
    /// the kernel's neighbour table (`ip neigh`); nothing is sent to learn a missing entry, so
    /// ping the gateway first or pass --router-mac. One interface and next hop per address
    /// family: targets that route elsewhere are reported filtered. Ethernet-type links only;
    /// on others (loopback, tunnels) the IP socket is used, with a notice. `link` costs the
    /// kernel less per probe (no routing or output path: -sn of a sparse /16 at --max-rate
    /// 1000000 took 0.59 s instead of 0.77 s in the lab), as zmap and masscan send, but it also
    /// passes by this host's own output firewall rules.
    ///
    /// Example: portolan scan 10.0.0.0/16 -p 443 --syn --send-via link
    ///
    /// Example: portolan scan -sn 10.0.0.0/16 --max-rate 1000000 --send-via link
    #[arg(long, value_enum, value_name = "HOW", default_value = "ip")]
    pub send_via: SendViaArg,

    /// Raw scans: send Ethernet frames on the route's interface (or --interface) to this MAC,
    /// as masscan's --router-mac does; implies --send-via link and needs no neighbour entry.
    /// A wrong MAC loses every probe (ports come out filtered). Format aa:bb:cc:dd:ee:ff or
    /// aa-bb-cc-dd-ee-ff.
    ///
    /// Example: portolan scan 10.0.0.0/16 -p 443 --syn --router-mac 02:00:5e:10:00:01
    #[arg(long, value_name = "MAC", value_parser = parse_router_mac)]
    pub router_mac: Option<[u8; 6]>,

    /// Host discovery only (also -sn): which hosts are up and how each answered (reason
    /// echo-reply, timestamp-reply, syn-ack, reset, arp-response, nd-response, conn-refused),
    /// no port scan. With root or CAP_NET_RAW the probes are raw and stateless (--discovery
    /// chooses them; default arp,nd,icmp-echo,syn:443,ack:80,icmp-ts: ARP / neighbour
    /// solicitation for targets on a directly connected Ethernet link, the IP probes for the
    /// others); without, TCP connects to 80 and 443.
    ///
    /// Example: sudo portolan scan -sn 10.0.0.0/16 --format grep
    ///
    /// Example: sudo portolan scan -sn 192.168.1.0/24 --discovery=arp
    #[arg(long, conflicts_with_all = ["ports", "top_ports", "service_version", "udp", "no_ping"])]
    pub ping_scan: bool,

    /// The host-discovery probes. A port scan discovers the live hosts first (the default, as
    /// nmap does) and then scans the ports of those only; this chooses the probes: arp, nd (on
    /// the local link), icmp-echo, icmp-ts, syn[:PORT] (default 443), ack[:PORT] (default 80),
    /// comma-separated; without arp/nd, IP probes go everywhere. Default
    /// arp,nd,icmp-echo,syn:443,ack:80,icmp-ts with root or CAP_NET_RAW; without, TCP connects
    /// to 80 and 443. This host's own addresses are up without a probe (localhost-response).
    /// -Pn skips discovery.
    ///
    /// Example: sudo portolan scan 10.0.0.0/16 --top-ports 100 --discovery=icmp-echo,syn:443
    #[arg(long, value_name = "PROBES", num_args = 0..=1, require_equals = true,
          default_missing_value = portolan_scan::discovery::DEFAULT_PROBES)]
    pub discovery: Option<String>,

    /// Skip host discovery: scan every target, live or not (also -Pn), as masscan, ZMap and
    /// RustScan do. Needed with --shard (a shard is a fixed slice of every target × port),
    /// and for hosts that drop every discovery probe.
    ///
    /// Example: portolan scan 10.0.0.0/8 -p 443 -Pn --seed 7 --shard 0/3
    #[arg(long, conflicts_with = "discovery")]
    pub no_ping: bool,
}

impl ScanArgs {
    /// The format of standard output: --format, or JSON Lines with --json.
    pub fn stdout_format(&self) -> Format {
        if self.json {
            Format::Jsonl
        } else {
            self.format
        }
    }
}

/// The host-discovery mode the flags ask for (-sn, --discovery, -Pn).
fn discovery_mode(args: &ScanArgs) -> Result<portolan_scan::discovery::HostDiscovery> {
    use portolan_scan::discovery::{parse_probes, HostDiscovery, DEFAULT_PROBES};
    let probes = || parse_probes(args.discovery.as_deref().unwrap_or(DEFAULT_PROBES));
    Ok(if args.ping_scan {
        HostDiscovery::Only(probes()?)
    } else if args.no_ping {
        HostDiscovery::Off
    } else {
        // nmap's default: discover first, then scan the live hosts only.
        HostDiscovery::Before(probes()?)
    })
}

/// Rewrite nmap-style multi-letter options (`-iL FILE`) into ours before clap sees them.
pub fn nmap_style_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            if a == "-iL" {
                OsString::from("--input-list")
            } else if a == "-sS" {
                OsString::from("--syn")
            } else if a == "-sU" {
                OsString::from("--udp")
            } else if a == "-sV" {
                OsString::from("--service-version")
            } else if a == "-sT" {
                OsString::from("--connect")
            } else if a == "-sn" {
                OsString::from("--ping-scan")
            } else if a == "-Pn" {
                OsString::from("--no-ping")
            } else {
                a
            }
        })
        .collect()
}

/// The session request the flags describe.
fn request(args: &ScanArgs) -> ScanRequest {
    let command_line = std::env::args()
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    ScanRequest {
        engine: if args.udp {
            EngineKind::Udp
        } else if args.syn {
            EngineKind::Syn
        } else {
            EngineKind::Connect
        },
        no_fallback: args.no_fallback,
        targets: args.targets.clone(),
        input_lists: args.input_list.clone(),
        excludes: args.exclude.clone(),
        exclude_files: args.exclude_file.clone(),
        resolve: match args.resolve {
            ResolveArg::First => Resolve::First,
            ResolveArg::All => Resolve::All,
        },
        ports: match (&args.ports, args.top_ports) {
            (Some(p), _) => PortsRequest::Spec(p.clone()),
            (None, n) => PortsRequest::Top(n.unwrap_or(1000)),
        },
        seed: args.seed,
        shard: args.shard,
        resume: args.resume.clone(),
        max_rate: args.max_rate,
        concurrency: args.concurrency,
        timeout_ms: args.timeout,
        min_timeout_ms: args.min_timeout,
        retries: args.retries.unwrap_or(2),
        discovery_retries: args.retries,
        all_ports: args.all_ports,
        service_detection: args.service_version,
        interface: args.interface.clone(),
        source_ip: args.source_ip,
        send_threads: args.send_threads.map(usize::from),
        send_via: match args.send_via {
            SendViaArg::Ip => portolan_scan::raw::SendVia::Ip,
            SendViaArg::Link => portolan_scan::raw::SendVia::Link,
        },
        router_mac: args.router_mac,
        discovery: Default::default(),
        command_line,
    }
}

/// The targets as given, in one line: the key by which `portolan diff` finds the previous
/// scan of the same targets.
fn store_targets(args: &ScanArgs) -> portolan_store::Targets {
    let mut parts: Vec<String> = args.targets.clone();
    parts.extend(args.input_list.iter().map(|f| format!("-iL {f}")));
    parts.extend(args.exclude.iter().map(|x| format!("--exclude {x}")));
    parts.extend(
        args.exclude_file
            .iter()
            .map(|f| format!("--exclude-file {f}")),
    );
    portolan_store::Targets(parts.join(" "))
}

/// Run `portolan scan`: flags → checked session → sinks → run → exit status.
pub fn run(args: ScanArgs, style: Style, stop: &Stop) -> Result<ExitCode> {
    // Everything is checked before the first packet: outputs, the -sV probe file, the request.
    let specs = args
        .outputs
        .iter()
        .map(|s| OutputSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    OutputSpec::check_all(&specs)?;
    let mut detector = match args.service_version {
        true => Some(sv::Detector::new(&args)?),
        false => None,
    };
    let mut req = request(&args);
    req.discovery = discovery_mode(&args)?;
    let prep = session::prepare(req)?;
    let mut ui = outputs::Ui::new(args.quiet);
    ui.preamble(&prep);
    let store =
        crate::cmd::store::open_for_write(args.store.as_deref(), args.no_store, "this scan is")?;
    let mut sinks = outputs::open(&specs, &args, style, prep.is_resumed())?;
    if let Some(s) = store {
        sinks.push(Box::new(
            s.sink(store_targets(&args))
                .open_ports_while_running()
                .in_background(),
        ));
    }
    let mut refs: Vec<&mut dyn portolan_model::EventSink> =
        sinks.iter_mut().map(|s| &mut **s as _).collect();
    let outcome = session::run(
        prep,
        &mut refs,
        detector.as_mut().map(|d| d as _),
        &mut ui,
        stop,
    )?;
    ui.summary(&outcome);
    let services = || {
        outcome
            .report
            .hosts
            .iter()
            .flat_map(|h| &h.ports)
            .filter_map(|p| p.service.as_ref())
    };
    // The exposures -sV proved, and (--vulns) the CVE findings shown.
    let worst = services()
        .flat_map(|s| &s.exposures)
        .map(|e| e.severity)
        .chain(services().filter_map(vulns::worst))
        .max();
    Ok(if outcome.report.stats.interrupted {
        ExitCode::from(130)
    } else if matches!((args.fail_on, worst), (Some(t), Some(w)) if w >= t) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
