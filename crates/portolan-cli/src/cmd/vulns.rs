//! `portolan vulns`: known vulnerabilities of detected services, offline, from NVD, CISA KEV
//! and FIRST EPSS files imported with `portolan vulns import`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use portolan_model::{Protocol, Service, Severity};
use portolan_vuln::cpe::CpeName;
use portolan_vuln::db::{self, SqliteStore, VulnStore};
use portolan_vuln::import::{self, Kind, LIMITS};
use portolan_vuln::matcher::{Aliases, Applicability, Detected, Filter, Finding, Matcher};
use serde::{Deserialize, Serialize};

use super::outfile::{self, SCHEMA_VERSION};
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan vulns import nvd/ kev.json epss.csv.gz     NVD API 2.0 JSON (files, directories,
                                                      .gz), CISA KEV (JSON or CSV), FIRST EPSS
  portolan vulns import nvdcve-2.0-2024.json.gz       again later: newer records replace older
  portolan vulns                                      CVEs of the latest scan in the result store
  portolan vulns --scan 12 --store postgres://scanner@%2Frun%2Fpostgresql/portolan
                                                      one stored scan (`portolan scans` lists them)
  portolan vulns scan.jsonl                           CVEs of the services in a scan file (-sV)
  portolan vulns scan.jsonl --min-cvss 7 --kev        only CVSS >= 7 and exploited in the wild
  portolan vulns scan.jsonl --min-epss 0.1 --min-confidence 70
                                                      likely exploited soon, and versions sure
  portolan vulns cpe cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*   what applies to one CPE
  portolan vulns cpe cpe:/a:f5:nginx:1.22.1 --format json
  portolan vulns scan.jsonl --fail-on high            exit 1 on a high or critical CVE (CI)
  portolan vulns scan.jsonl -o sarif=vulns.sarif      SARIF 2.1.0 for code-scanning dashboards
  portolan vulns status                               what the database holds

The data lives in vulns.sqlite3 in $PORTOLAN_DATA_DIR (else $XDG_DATA_HOME/portolan, else
~/.local/share/portolan); --db PATH uses another file. Nothing is fetched from the network.
Confidence (0-100) says how sure a finding is: 100 for a version you gave, 80 for a version a
service announced in its banner, 70 for one read from a probe's reply; a distribution build
(e.g. Debian-2+deb12u3) caps it at 30 because fixes are backported without changing the
upstream version; records NVD has not analysed yet show as unknown applicability.

Exit status: 0 no finding at or above --fail-on, 1 some, 2 error. A finding counts with its CVSS
severity (critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0), at least high when the CVE is
in CISA's KEV catalogue (exploited in the wild); unknown applicability never counts.";

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// JSON Lines: one `finding` record a line, then a `summary` (schema: docs/vulns.md).
    Json,
    /// Same as json.
    Jsonl,
    /// SARIF 2.1.0 (one rule per CVE, one result per finding), for code-scanning dashboards.
    Sarif,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

/// Options shared by the commands that report findings.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,

    /// Only findings with a CVSS base score of at least this, 0-10 (those without a score are
    /// hidden).
    #[arg(long, value_name = "SCORE", value_parser = parse_cvss)]
    pub min_cvss: Option<f64>,

    /// Only CVEs in CISA's Known Exploited Vulnerabilities catalogue.
    #[arg(long)]
    pub kev: bool,

    /// Only findings with an EPSS score (probability of exploitation in the next 30 days) of at
    /// least this, 0-1 (those without a score are hidden).
    #[arg(long, value_name = "P", value_parser = parse_epss)]
    pub min_epss: Option<f64>,

    /// Only findings with at least this confidence (0-100).
    #[arg(long, value_name = "N", default_value = "0", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub min_confidence: u8,

    /// Hide records NVD has not analysed yet (unknown applicability).
    #[arg(long)]
    pub no_unknown: bool,

    /// Exit with status 1 when an affected or conditional finding shown has this severity or a
    /// higher one: info, low, medium, high, critical. The severity is the CVSS one
    /// (critical: 9.0 and up, high: 7.0, medium: 4.0, low: above 0); a CVE in CISA's KEV
    /// catalogue counts as at least high. Unknown applicability never counts.
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<Severity>,

    /// The vulnerability database (default: vulns.sqlite3 in the data directory).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Arguments of `portolan vulns`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, after_help = EXAMPLES)]
pub struct VulnsArgs {
    #[command(subcommand)]
    pub command: Option<VulnsCmd>,

    /// A `portolan scan -sV` JSON Lines file (`-o jsonl=FILE`). Without it, the latest scan
    /// of the result store (or --scan ID) is read.
    #[arg(value_name = "SCAN.jsonl")]
    pub scan: Option<PathBuf>,

    /// The result store to read the scan from: an SQLite file or a postgres:// URL (default:
    /// portolan.db in the data directory, where `portolan scan` saves every scan).
    ///
    /// Example: portolan vulns --store postgres://scanner@%2Frun%2Fpostgresql/portolan
    #[arg(long, value_name = "PATH|URL", conflicts_with = "scan")]
    pub store: Option<String>,

    /// Which stored scan to read (default: the latest; `portolan scans` lists them).
    #[arg(long = "scan", value_name = "ID", conflicts_with = "scan")]
    pub scan_id: Option<i64>,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum VulnsCmd {
    /// Import NVD CVE API 2.0 JSON, CISA KEV (JSON or CSV) and FIRST EPSS CSV files or
    /// directories (.gz too); a newer lastModified replaces a stored record.
    Import {
        /// Files or directories (each file's kind is recognised from its content).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// The vulnerability database (default: vulns.sqlite3 in the data directory).
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
    },
    /// What applies to CPE names (cpe:2.3:... or cpe:/...), each with its version.
    Cpe {
        #[arg(required = true, value_name = "CPE")]
        cpes: Vec<String>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// What the database holds.
    Status {
        /// The vulnerability database (default: vulns.sqlite3 in the data directory).
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
    },
}

fn db_path(given: &Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p.clone()),
        None => db::default_path()
            .context("no data directory: set PORTOLAN_DATA_DIR or HOME, or pass --db PATH"),
    }
}

fn open_existing(given: &Option<PathBuf>) -> Result<SqliteStore> {
    let path = db_path(given)?;
    match SqliteStore::open_existing(&path)? {
        Some(s) => Ok(s),
        None => bail!(
            "no vulnerability data at {}: import the feeds first, e.g. `portolan vulns import nvd/ kev.json epss.csv.gz` (or pass --db PATH)",
            escape(&path.display().to_string())
        ),
    }
}

pub fn run(args: VulnsArgs, style: Style) -> Result<ExitCode> {
    match args.command {
        Some(VulnsCmd::Import { paths, db }) => import_cmd(&paths, &db),
        Some(VulnsCmd::Status { db }) => status_cmd(&db),
        Some(VulnsCmd::Cpe { cpes, report }) => {
            let mut targets = Vec::new();
            for c in &cpes {
                let name = CpeName::parse(c).with_context(|| {
                    format!(
                        "{:?} is not a CPE name: write cpe:2.3:a:VENDOR:PRODUCT:VERSION:... or cpe:/a:VENDOR:PRODUCT:VERSION",
                        escape(c)
                    )
                })?;
                if name.full_version().is_none() {
                    bail!(
                        "{} has no version: matching needs one (e.g. cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*)",
                        escape(c)
                    );
                }
                targets.push(Target {
                    host: None,
                    port: None,
                    proto: None,
                    shown: format!(
                        "{}:{} {}",
                        name.vendor,
                        name.product,
                        name.full_version().unwrap_or_default()
                    ),
                    detected: Detected::from_cpe(&name),
                });
            }
            report_cmd(targets, &report, style)
        }
        None => {
            let targets = match &args.scan {
                Some(scan) => read_scan(scan)?,
                None => read_stored_scan(args.store.as_deref(), args.scan_id)?,
            };
            report_cmd(targets, &args.report, style)
        }
    }
}

fn import_cmd(paths: &[PathBuf], db: &Option<PathBuf>) -> Result<ExitCode> {
    let path = db_path(db)?;
    let mut store = SqliteStore::open(&path)?;
    let start = std::time::Instant::now();
    import::import_paths(&mut store, paths, LIMITS, &mut |r| {
        let what = if r.kind == Kind::Nvd {
            format!(
                "{} records ({} new, {} updated, {} unchanged)",
                r.read, r.cves.added, r.cves.updated, r.cves.unchanged
            )
        } else {
            format!("{} entries", r.read)
        };
        eprintln!(
            "portolan: {} {}: {what}",
            r.kind.name(),
            escape(&r.path.display().to_string())
        );
    })?;
    let s = store.stats()?;
    println!(
        "{}: {} CVE records ({} awaiting analysis), {} KEV entries, {} EPSS scores; newest record {}; {:.1} s",
        escape(&path.display().to_string()),
        s.cves,
        s.unanalysed,
        s.kev,
        s.epss,
        s.newest.as_deref().unwrap_or("-"),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn status_cmd(db: &Option<PathBuf>) -> Result<ExitCode> {
    let store = open_existing(db)?;
    let s = store.stats()?;
    println!(
        "{}: {} CVE records ({} awaiting analysis), {} KEV entries, {} EPSS scores; newest record {}",
        escape(store.path()),
        s.cves,
        s.unanalysed,
        s.kev,
        s.epss,
        s.newest.as_deref().unwrap_or("-")
    );
    Ok(ExitCode::SUCCESS)
}

/// One detected product to match.
struct Target {
    host: Option<IpAddr>,
    port: Option<u16>,
    proto: Option<Protocol>,
    /// Product and version as detected (untrusted).
    shown: String,
    detected: Detected,
}

impl Target {
    fn of_service(
        host: Option<IpAddr>,
        port: Option<u16>,
        proto: Option<Protocol>,
        s: &Service,
    ) -> Target {
        let shown = [s.product.as_deref(), s.version.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Target {
            host,
            port,
            proto,
            shown: if shown.is_empty() {
                s.name.clone()
            } else {
                shown
            },
            detected: Detected::from_service(s),
        }
    }
}

/// The `port` lines of a scan's JSON Lines (other types are skipped).
#[derive(Deserialize)]
struct ScanLine {
    #[serde(rename = "type")]
    kind: Option<String>,
    addr: Option<IpAddr>,
    port: Option<u16>,
    proto: Option<Protocol>,
    #[serde(default)]
    service: Option<Service>,
}

/// The most bytes of a scan file read (a -sV scan of 100,000 ports is about 100 MiB).
const SCAN_LIMIT: portolan_registry::input::Limit = portolan_registry::input::Limit {
    what: "a portolan scan JSON Lines file",
    max_bytes: 512 * portolan_registry::input::MIB,
    hint: "split the scan",
};

fn read_scan(path: &Path) -> Result<Vec<Target>> {
    let text = portolan_registry::input::read_bounded_string(path, SCAN_LIMIT)?;
    let name = escape(&path.display().to_string());
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: ScanLine = serde_json::from_str(line).with_context(|| {
            format!(
                "{name} line {}: not a portolan scan JSON Lines record (write one with `portolan scan -sV ... -o jsonl=FILE`)",
                i + 1
            )
        })?;
        if l.kind.as_deref() != Some("port") {
            continue;
        }
        let Some(s) = l.service else { continue };
        out.push(Target::of_service(l.addr, l.port, l.proto, &s));
    }
    Ok(out)
}

/// The services of a scan in the result store: `id`, else the latest scan.
fn read_stored_scan(spec: Option<&str>, id: Option<i64>) -> Result<Vec<Target>> {
    let mut store = crate::cmd::store::open_existing(spec)?;
    let where_ = escape(store.location());
    let id = match store.scan_or_latest(id) {
        Ok(info) => info.id,
        Err(portolan_store::StoreError::Empty(_)) => bail!(
            "the result store {where_} holds no scan: run `portolan scan -sV TARGETS` first (every scan is saved there), or give a scan file (`portolan vulns scan.jsonl`) or --store PATH|URL"
        ),
        Err(e) => return Err(e.into()),
    };
    let report = store
        .scan(id)
        .with_context(|| format!("reading scan {id} from the result store {where_} (`portolan scans` lists the stored scans)"))?;
    let mut out = Vec::new();
    for h in &report.hosts {
        for p in &h.ports {
            if let Some(s) = &p.service {
                out.push(Target::of_service(
                    Some(p.addr),
                    Some(p.port),
                    Some(p.proto),
                    s,
                ));
            }
        }
    }
    if !out.iter().any(|t| t.detected.version.is_some()) {
        eprintln!(
            "portolan: note: scan {id} of {where_} has no service with a detected version; scan with -sV to match versions"
        );
    }
    Ok(out)
}

/// One finding as output: where, what was detected, and the match.
#[derive(Serialize)]
struct Record<'a> {
    schema_version: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    host: Option<IpAddr>,
    port: Option<u16>,
    proto: Option<Protocol>,
    detected: &'a str,
    #[serde(flatten)]
    finding: &'a Finding,
}

#[derive(Serialize, Default)]
struct Summary {
    schema_version: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    services: usize,
    services_without_version: usize,
    findings: usize,
    affected: usize,
    conditional: usize,
    unknown: usize,
    kev: usize,
    hidden_by_filters: usize,
}

/// `--min-cvss`: a CVSS base score, 0-10.
pub fn parse_cvss(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=10.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not a CVSS score: give a number from 0 to 10 (e.g. 7)"
        )),
    }
}

/// `--min-epss`: an EPSS probability, 0-1.
pub fn parse_epss(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not an EPSS score: give a probability from 0 to 1 (e.g. 0.1)"
        )),
    }
}

impl ReportArgs {
    fn filter(&self) -> Filter {
        Filter {
            min_cvss: self.min_cvss,
            kev_only: self.kev,
            min_epss: self.min_epss,
            min_confidence: self.min_confidence,
            no_unknown: self.no_unknown,
        }
    }
}

fn report_cmd(targets: Vec<Target>, args: &ReportArgs, style: Style) -> Result<ExitCode> {
    let format = args.out.stdout_format();
    let outputs = args.out.prepare()?;
    let store = open_existing(&args.db)?;
    let matcher = Matcher::new(&store, Aliases::builtin());
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        kind: "summary",
        services: targets.len(),
        ..Summary::default()
    };
    let filter = args.filter();
    let mut rows: Vec<(&Target, Finding)> = Vec::new();
    for t in &targets {
        if t.detected.version.is_none() {
            summary.services_without_version += 1;
            continue;
        }
        for f in matcher.match_shared(&t.detected)?.iter().cloned() {
            if filter.keep(&f) {
                rows.push((t, f));
            } else {
                summary.hidden_by_filters += 1;
            }
        }
    }
    for (_, f) in &rows {
        summary.findings += 1;
        match f.applicability {
            Applicability::Affected => summary.affected += 1,
            Applicability::Conditional => summary.conditional += 1,
            Applicability::Unknown => summary.unknown += 1,
        }
        if f.kev.is_some() {
            summary.kev += 1;
        }
    }
    let render = |format: Format, style: Style| -> Result<String> {
        Ok(match format {
            Format::Json | Format::Jsonl => {
                let mut out = String::new();
                for (t, f) in &rows {
                    out.push_str(&serde_json::to_string(&Record {
                        schema_version: SCHEMA_VERSION,
                        kind: "finding",
                        host: t.host,
                        port: t.port,
                        proto: t.proto,
                        detected: &t.shown,
                        finding: f,
                    })?);
                    out.push('\n');
                }
                out.push_str(&serde_json::to_string(&summary)?);
                out.push('\n');
                out
            }
            Format::Table => table(&rows, &summary, style),
            Format::Sarif => serde_json::to_string_pretty(&sarif(&rows))? + "\n",
        })
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    crate::term::print_out_unless_closed(&render(format, style)?)?;
    let failed = args.fail_on.is_some_and(|limit| {
        rows.iter()
            .any(|(_, f)| f.gate_severity().is_some_and(|s| s >= limit))
    });
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn table(rows: &[(&Target, Finding)], s: &Summary, style: Style) -> String {
    let mut out = String::new();
    for (t, f) in rows {
        let place = match (t.host, t.port) {
            (Some(h), Some(p)) => {
                let proto = t.proto.map(|p| p.to_string()).unwrap_or_default();
                match h {
                    IpAddr::V6(_) => format!("[{h}]:{p}/{proto}"),
                    IpAddr::V4(_) => format!("{h}:{p}/{proto}"),
                }
            }
            _ => String::new(),
        };
        let cvss = f
            .cvss_v40
            .iter()
            .map(|c| format!("v4 {:.1}", c.score))
            .chain(
                f.cvss_v31
                    .iter()
                    .map(|c| format!("v{} {:.1}", c.version, c.score)),
            )
            .collect::<Vec<_>>()
            .join(", ");
        let cvss = if cvss.is_empty() {
            f.score.map_or("no CVSS".to_string(), |s| format!("{s:.1}"))
        } else {
            cvss
        };
        let sev = format!("{:<8}", f.severity.as_str().to_uppercase());
        let sev = match f.severity {
            Severity::Critical | Severity::High => style.red(&sev),
            Severity::Medium => style.yellow(&sev),
            _ => style.cyan(&sev),
        };
        let app = match f.applicability {
            Applicability::Affected => "affected".to_string(),
            Applicability::Conditional => style.yellow("conditional"),
            Applicability::Unknown => style.dim("unknown applicability"),
        };
        out.push_str(&format!(
            "{}{} {sev} {} ({cvss}) {app}, confidence {}%\n",
            if place.is_empty() {
                String::new()
            } else {
                format!("{place}  ")
            },
            escape(&t.shown),
            style.bold(&f.cve),
            f.confidence
        ));
        out.push_str(&format!("    match: {}\n", escape(&f.range)));
        if let Some(k) = &f.kev {
            out.push_str(&format!(
                "    {} added {}, due {}{}\n",
                style.red("KEV: exploited in the wild;"),
                escape(&k.date_added),
                escape(&k.due_date),
                if k.ransomware == "Known" {
                    "; used in ransomware campaigns"
                } else {
                    ""
                }
            ));
        }
        if let Some(e) = &f.epss {
            out.push_str(&format!(
                "    EPSS: {:.3} (percentile {:.1}%)\n",
                e.score,
                e.percentile * 100.0
            ));
        }
        for r in &f.reasons {
            out.push_str(&format!("    why: {}\n", escape(r)));
        }
    }
    out.push_str(&format!(
        "\n{} findings ({} affected, {} conditional, {} unknown applicability; {} in KEV) on {} services",
        s.findings, s.affected, s.conditional, s.unknown, s.kev, s.services
    ));
    if s.services_without_version > 0 {
        out.push_str(&format!(
            "; {} without a detected version (not matched)",
            s.services_without_version
        ));
    }
    if s.hidden_by_filters > 0 {
        out.push_str(&format!("; {} hidden by filters", s.hidden_by_filters));
    }
    out.push('\n');
    out
}

/// A SARIF 2.1.0 log of the findings: one rule per CVE (with its NVD page and CVSS as
/// `security-severity`), one result per finding located at `host:port/proto` (a logical
/// location) with a stable fingerprint; unknown applicability is a `note`.
fn sarif(rows: &[(&Target, Finding)]) -> serde_json::Value {
    use serde_json::json;
    let mut rule_ids: Vec<&str> = Vec::new();
    let mut rules = Vec::new();
    for (_, f) in rows {
        if rule_ids.contains(&f.cve.as_str()) {
            continue;
        }
        rule_ids.push(&f.cve);
        rules.push(json!({
            "id": f.cve,
            "shortDescription": { "text": f.cve },
            "fullDescription": { "text": f.description },
            "helpUri": format!("https://nvd.nist.gov/vuln/detail/{}", f.cve),
            "properties": {
                "tags": ["security", "vulnerability"],
                "security-severity": format!("{:.1}", f.score.unwrap_or(0.0)),
            }
        }));
    }
    let results: Vec<serde_json::Value> = rows
        .iter()
        .map(|(t, f)| {
            let place = match (t.host, t.port, t.proto) {
                (Some(h), Some(p), Some(pr)) => format!("{h}:{p}/{pr}"),
                _ => t.shown.clone(),
            };
            let level = match (f.applicability, f.severity) {
                (Applicability::Unknown, _) => "note",
                (_, Severity::Critical | Severity::High) => "error",
                (_, Severity::Medium) => "warning",
                _ => "note",
            };
            json!({
                "ruleId": f.cve,
                "ruleIndex": rule_ids.iter().position(|r| *r == f.cve),
                "level": level,
                "message": { "text": format!(
                    "{} {} on {place}: {} ({}), confidence {}%: {}",
                    t.shown, f.cve, f.range,
                    match f.applicability {
                        Applicability::Affected => "affected",
                        Applicability::Conditional => "conditional",
                        Applicability::Unknown => "unknown applicability",
                    },
                    f.confidence,
                    f.reasons.join("; ")
                ) },
                "locations": [{
                    "logicalLocations": [{ "name": place, "kind": "resource" }]
                }],
                "partialFingerprints": {
                    "portolanVuln/v1": format!("{}|{place}|{}", f.cve, f.product)
                },
                "properties": {
                    "applicability": f.applicability,
                    "confidence": f.confidence,
                    "score": f.score,
                    "kev": f.kev.is_some(),
                    "kev_due_date": f.kev.as_ref().map(|k| k.due_date.clone()),
                    "epss": f.epss.as_ref().map(|e| e.score),
                    "epss_percentile": f.epss.as_ref().map(|e| e.percentile),
                    "detected": t.shown,
                }
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "portolan",
                "fullName": "portolan vulns",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/portolan",
                "rules": rules,
            }},
            "results": results,
        }]
    })
}
