//! `portolan firewall`: firewall rules generated from a port policy (crate `portolan-firewall`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use portolan_firewall::Target;

use super::outfile;
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan firewall generate policy.yaml --gateway --nft        forwarding rules for the router between the zones
  portolan firewall generate policy.yaml --host web1 --nft      input rules for host web1
  portolan firewall generate policy.yaml --gateway --iptables   ipset + iptables-restore + ip6tables-restore
  portolan firewall generate policy.yaml --gateway --iptables --part v4 > rules.v4
  portolan firewall generate policy.yaml --host web1 --nft -o web1.nft
  nft -c -f web1.nft && nft -f web1.nft                           check, then apply (one transaction)

  portolan firewall apply web1.nft --confirm 60                   apply; rolled back unless you type yes within 60 s
  portolan firewall audit                                          the live nftables ruleset (nft -j list ruleset)
  portolan firewall audit --ruleset saved.json --format json --fail-on high
  portolan firewall audit --iptables                               live iptables-save and ip6tables-save output
  portolan firewall audit --iptables-save v4.rules --iptables-save v6.rules
  portolan firewall audit --format sarif -o json=audit.json > audit.sarif
  portolan firewall audit --policy policy.yaml                    drift of the forward hook against the policy (a gateway)
  portolan firewall audit --policy policy.yaml --host web1        drift of this host's input hook against what web1 may receive

Nothing is applied: the rules are printed (--show, the default) or written with -o.
nftables rules live in table `inet portolan`, replaced whole by each run; iptables-restore
replaces the filter table. See docs/policy.md.";

/// `portolan firewall ...`
#[derive(clap::Subcommand, Debug)]
pub enum FirewallCmd {
    /// Generate nftables or iptables rules from a policy, for a gateway between its zones or
    /// for one of its hosts. Prints them; never touches this host's firewall.
    #[command(after_help = EXAMPLES)]
    Generate(GenerateArgs),
    /// Audit the live nftables ruleset (read-only, `nft -j list ruleset`) or a saved one:
    /// default accept, accept-everything rules, shadowed rules, ports accepted with nothing
    /// listening, and with --policy the drift from what the policy allows. With --iptables,
    /// the same on `iptables-save` / `ip6tables-save` output (evidence: the line).
    #[command(after_help = EXAMPLES)]
    Audit(AuditArgs),
    /// Apply an nftables script without locking yourself out: snapshot the current ruleset,
    /// apply the script atomically, and restore the snapshot unless you type `yes` within
    /// --confirm seconds (end of input, a lost session, or this process being killed restore
    /// it too: a watchdog in its own process group does).
    #[command(after_help = EXAMPLES)]
    Apply(ApplyArgs),
    /// (internal) Restore SNAPSHOT after SECONDS unless `apply` was confirmed; started by
    /// `apply` in a process group of its own.
    #[command(hide = true)]
    Watchdog(WatchdogArgs),
}

/// Arguments of the internal `firewall watchdog`.
#[derive(clap::Args, Debug)]
pub struct WatchdogArgs {
    /// Seconds to wait.
    #[arg(long)]
    pub after: u64,
    /// The rollback script.
    pub snapshot: PathBuf,
}

/// Arguments of `portolan firewall apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The nftables script (e.g. from `portolan firewall generate --nft -o FILE`).
    #[arg(value_name = "RULES")]
    pub rules: PathBuf,

    /// Seconds to wait for `yes` on standard input before restoring the previous ruleset.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub confirm: u64,

    /// Where to keep the snapshot of the previous ruleset (a script for `nft -f`); by default
    /// a file in the temporary directory, named in the messages.
    #[arg(long, value_name = "PATH")]
    pub snapshot: Option<PathBuf>,
}

/// What `firewall audit` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// One JSON document (see docs/policy.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards (see docs/policy.md).
    Sarif,
}

impl outfile::Formats for Format {
    const JSON: Self = Format::Json;
}

/// Arguments of `portolan firewall audit`.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// A saved ruleset (`nft -j list ruleset > FILE`) instead of the live one. The
    /// nothing-listening check needs the live host and is skipped then.
    #[arg(long, value_name = "FILE")]
    pub ruleset: Option<PathBuf>,

    /// Audit iptables instead of nftables: the live `iptables-save` and `ip6tables-save`
    /// output (read-only), or with --iptables-save the saved files.
    #[arg(long, conflicts_with = "ruleset")]
    pub iptables: bool,

    /// A saved `iptables-save` or `ip6tables-save` output to audit (repeatable); the
    /// nothing-listening check is skipped then. Findings name the line.
    #[arg(long, value_name = "FILE", conflicts_with = "ruleset")]
    pub iptables_save: Vec<PathBuf>,

    /// Also compare the ruleset with this policy (drift): flows the ruleset accepts that the
    /// policy does not allow (drift-extra, high) and flows the policy allows that the ruleset
    /// drops (drift-missing, medium), with the handle of the rule that decided. The forward
    /// hook is compared with the policy's gateway view, or with --host NAME the input hook with
    /// what the policy allows to that host.
    #[arg(long, value_name = "POLICY", conflicts_with_all = ["iptables", "iptables_save"])]
    pub policy: Option<PathBuf>,

    /// With --policy: this machine is the policy's host NAME (compare the input hook).
    #[arg(long, value_name = "NAME", requires = "policy")]
    pub host: Option<String>,

    #[command(flatten)]
    pub out: outfile::OutputArgs<Format>,

    /// Exit with status 1 when a finding has this severity or a higher one.
    #[arg(long, value_name = "SEVERITY", value_parser = crate::cmd::outfile::parse_severity)]
    pub fail_on: Option<portolan_registry::risk::Severity>,
}

/// Which part of the iptables output to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// The `ipset restore` input (the zones as sets).
    Ipset,
    /// The `iptables-restore` input.
    V4,
    /// The `ip6tables-restore` input.
    V6,
}

/// Arguments of `portolan firewall generate`.
#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// The policy file (YAML; see docs/policy.md).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// Rules for a router between the zones (the forward hook).
    #[arg(long, conflicts_with = "host", required_unless_present = "host")]
    pub gateway: bool,

    /// Rules for this host of the policy (the input hook).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,

    /// nftables (the default): one atomic `nft -f` transaction with verdict maps.
    #[arg(long, conflicts_with = "iptables")]
    pub nft: bool,

    /// iptables-restore, ip6tables-restore and ipset inputs.
    #[arg(long)]
    pub iptables: bool,

    /// With --iptables: print only this part (for piping into its tool).
    #[arg(long, value_enum, requires = "iptables")]
    pub part: Option<Part>,

    /// Print the rules without touching the system (the default; generate never applies).
    #[arg(long)]
    pub show: bool,

    /// Also write the output to PATH (replaced only once complete).
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
}

pub fn run(cmd: FirewallCmd, style: Style) -> Result<ExitCode> {
    match cmd {
        FirewallCmd::Generate(a) => generate(a),
        FirewallCmd::Audit(a) => audit(a, style),
        FirewallCmd::Apply(a) => apply(a),
        FirewallCmd::Watchdog(a) => watchdog(a),
    }
}

fn generate(args: GenerateArgs) -> Result<ExitCode> {
    let policy = super::policy::load(&args.policy)?;
    let target = match (&args.host, args.gateway) {
        (Some(h), false) => Target::Host(h.clone()),
        (None, true) => Target::Gateway,
        _ => bail!("say what the rules are for: --gateway or --host NAME"),
    };
    let source = args
        .policy
        .file_name()
        .map_or_else(|| "policy".into(), |n| n.to_string_lossy().into_owned());
    let text = if args.iptables {
        let b = portolan_firewall::iptables(&policy, &target, &source)?;
        match args.part {
            None => b.bundle(),
            Some(Part::Ipset) => b.ipset,
            Some(Part::V4) => b.v4,
            Some(Part::V6) => b.v6,
        }
    } else {
        portolan_firewall::nft(&policy, &target, &source)?
    };
    if let Some(path) = &args.output {
        outfile::write_file(path, text.as_bytes())?;
    }
    crate::term::print_out_unless_closed(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The most bytes of a saved ruleset read.
const RULESET_LIMIT: portolan_registry::input::Limit = portolan_registry::input::Limit {
    what: "an nftables ruleset (JSON)",
    max_bytes: 512 * portolan_registry::input::MIB,
    hint: "give the output of `nft -j list ruleset`",
};

fn audit(args: AuditArgs, style: Style) -> Result<ExitCode> {
    let format = args.out.stdout_format();
    let outputs = args.out.prepare()?;
    if args.iptables || !args.iptables_save.is_empty() {
        return audit_iptables(args, format, outputs, style);
    }
    let (json, source, listening) = match &args.ruleset {
        Some(path) => (
            portolan_registry::input::read_bounded_string(path, RULESET_LIMIT)?,
            path.display().to_string(),
            None,
        ),
        None => {
            let out = std::process::Command::new("nft")
                .args(["-j", "list", "ruleset"])
                .output()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot run `nft -j list ruleset` ({e}): install nftables, or give a saved ruleset with --ruleset FILE"
                    )
                })?;
            if !out.status.success() {
                bail!(
                    "`nft -j list ruleset` failed: {} (reading the ruleset needs root or CAP_NET_ADMIN)",
                    escape(String::from_utf8_lossy(&out.stderr).trim())
                );
            }
            let ports = listening_ports()?;
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                "live ruleset (nft -j list ruleset)".to_string(),
                Some(ports),
            )
        }
    };
    let mut findings = portolan_firewall::audit::audit(&json, listening.as_deref())?;
    let mut drift_json = serde_json::Value::Null;
    if let Some(path) = &args.policy {
        let policy = super::policy::load(path)?;
        let target = match &args.host {
            Some(h) => Target::Host(h.clone()),
            None => Target::Gateway,
        };
        let d = portolan_firewall::drift::drift(&json, &policy, &target)?;
        drift_json = serde_json::json!({
            "policy": path.display().to_string(),
            "target": match &args.host { Some(h) => format!("host {h}"), None => "gateway".into() },
            "flows_checked": d.packets,
            "sampled": d.sampled,
        });
        findings.extend(d.findings);
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.evidence.cmp(&b.evidence))
        });
    }
    finish_audit(
        &args,
        format,
        outputs,
        style,
        &source,
        &findings,
        &drift_json,
    )
}

/// Print and write the audit findings, and the exit status for --fail-on.
fn finish_audit(
    args: &AuditArgs,
    format: Format,
    outputs: Vec<outfile::Pending<Format>>,
    style: Style,
    source: &str,
    findings: &[portolan_firewall::audit::AuditFinding],
    drift_json: &serde_json::Value,
) -> Result<ExitCode> {
    use std::fmt::Write as _;
    let render = |f: Format, style: Style| -> Result<String> {
        Ok(match f {
            Format::Json => {
                let mut v = serde_json::json!({
                    "source": source,
                    "findings": findings,
                });
                if let (false, Some(o)) = (drift_json.is_null(), v.as_object_mut()) {
                    o.insert("drift".into(), drift_json.clone());
                }
                let v = outfile::with_schema_version(v);
                serde_json::to_string_pretty(&v)? + "\n"
            }
            Format::Sarif => {
                use super::policy::sarif;
                let items: Vec<sarif::Item> = findings
                    .iter()
                    .map(|f| sarif::Item {
                        code: f.code.to_string(),
                        severity: f.severity,
                        message: f.message.clone(),
                        fix: f.fix.clone(),
                        location: sarif_location(&args.iptables_save, &f.evidence),
                    })
                    .collect();
                let mut props = serde_json::json!({ "source": source });
                if let (false, Some(o)) = (drift_json.is_null(), props.as_object_mut()) {
                    o.insert("drift".into(), drift_json.clone());
                }
                let v = sarif::log("portolan firewall audit", sarif::AUDIT_RULES, &items, props);
                serde_json::to_string_pretty(&v)? + "\n"
            }
            Format::Table => {
                let mut out = String::new();
                let _ = writeln!(
                    out,
                    "{}  {} findings",
                    style.bold(&escape(source)),
                    findings.len()
                );
                if let Some(p) = &args.policy {
                    let _ = writeln!(
                        out,
                        "  drift against {} ({}): {} flow classes checked{}",
                        escape(&p.display().to_string()),
                        escape(drift_json["target"].as_str().unwrap_or("")),
                        drift_json["flows_checked"],
                        if drift_json["sampled"] == true {
                            " (sampled: the policy is large)"
                        } else {
                            ""
                        }
                    );
                }
                if findings.is_empty() {
                    let _ = writeln!(out, "  {}", style.green("no findings"));
                }
                for f in findings {
                    let sev = format!("{:<8}", f.severity.as_str().to_uppercase());
                    let sev = match f.severity {
                        portolan_registry::risk::Severity::Critical
                        | portolan_registry::risk::Severity::High => style.red(&sev),
                        portolan_registry::risk::Severity::Medium => style.yellow(&sev),
                        _ => style.cyan(&sev),
                    };
                    let _ = writeln!(
                        out,
                        "  {sev} {:<18} {}: {}",
                        f.code,
                        escape(&f.evidence),
                        escape(&f.message)
                    );
                    let _ = writeln!(out, "  {:<8} {:<18} fix: {}", "", "", escape(&f.fix));
                }
                out
            }
        })
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    crate::term::print_out_unless_closed(&render(format, style)?)?;
    Ok(super::policy::fail_on(
        args.fail_on,
        findings.iter().map(|f| f.severity),
    ))
}

/// A finding's SARIF location: the file and line for a saved iptables-save file (evidence
/// `FILE line N: ...`), else the evidence itself as a logical location.
fn sarif_location(files: &[PathBuf], evidence: &str) -> super::policy::sarif::Location {
    use super::policy::sarif::Location;
    for f in files {
        let name = f.display().to_string();
        if let Some(line) = evidence
            .strip_prefix(&name)
            .and_then(|r| r.strip_prefix(" line "))
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
        {
            return Location::Line { uri: name, line };
        }
    }
    let name = evidence
        .split(": -A ")
        .next()
        .unwrap_or(evidence)
        .to_string();
    Location::Logical {
        name,
        kind: "resource",
    }
}

/// What listens on this host beyond loopback, for `port-not-listening`.
fn listening_ports() -> Result<Vec<(portolan_registry::Protocol, u16)>> {
    let listing = portolan_audit::list_sockets(&portolan_audit::Options::default())?;
    Ok(listing
        .sockets
        .iter()
        .filter(|s| portolan_audit::Exposure::of(s.address) != portolan_audit::Exposure::Loopback)
        .map(|s| (s.protocol, s.port))
        .collect())
}

/// The most bytes of a saved iptables-save output read.
const IPTABLES_LIMIT: portolan_registry::input::Limit = portolan_registry::input::Limit {
    what: "an iptables-save output",
    max_bytes: 64 * portolan_registry::input::MIB,
    hint: "audit one table at a time (iptables-save -t filter)",
};

/// `firewall audit --iptables` / `--iptables-save FILE`.
fn audit_iptables(
    args: AuditArgs,
    format: Format,
    outputs: Vec<outfile::Pending<Format>>,
    style: Style,
) -> Result<ExitCode> {
    let mut inputs: Vec<(String, String)> = Vec::new();
    let listening = if args.iptables_save.is_empty() {
        for tool in ["iptables-save", "ip6tables-save"] {
            let out = std::process::Command::new(tool).output().map_err(|e| {
                anyhow::anyhow!(
                    "cannot run `{tool}` ({e}): install iptables, or give saved output with --iptables-save FILE"
                )
            })?;
            if !out.status.success() {
                bail!(
                    "`{tool}` failed: {} (reading the ruleset needs root or CAP_NET_ADMIN)",
                    escape(String::from_utf8_lossy(&out.stderr).trim())
                );
            }
            inputs.push((
                tool.to_string(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            ));
        }
        Some(listening_ports()?)
    } else {
        for path in &args.iptables_save {
            inputs.push((
                path.display().to_string(),
                portolan_registry::input::read_bounded_string(path, IPTABLES_LIMIT)?,
            ));
        }
        None
    };
    let mut findings = Vec::new();
    for (name, text) in &inputs {
        let f = portolan_firewall::iptables_save::audit(text, name, listening.as_deref())
            .map_err(|e| anyhow::anyhow!("{}: {e}", escape(name)))?;
        findings.extend(f);
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let source = if args.iptables_save.is_empty() {
        "live ruleset (iptables-save, ip6tables-save)".to_string()
    } else {
        inputs
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    finish_audit(
        &args,
        format,
        outputs,
        style,
        &source,
        &findings,
        &serde_json::Value::Null,
    )
}

/// Extra time the watchdog gives `apply` to restore by itself before it does.
const WATCHDOG_GRACE: u64 = 2;

fn apply(args: ApplyArgs) -> Result<ExitCode> {
    use portolan_firewall::apply;
    use std::os::unix::process::CommandExt;
    use std::time::Duration;

    apply::check(&args.rules)?;
    let snapshot = args.snapshot.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("portolan-rollback-{}.nft", std::process::id()))
    });
    apply::snapshot(&snapshot)?;
    let token = token_path(&snapshot);
    let _ = std::fs::remove_file(&token);
    let shown = escape(&snapshot.display().to_string());
    // The watchdog restores the snapshot at the deadline unless the token exists by then. It
    // runs in a process group of its own, so that neither a hang-up of the terminal (the SSH
    // session died), Ctrl-C, nor a SIGKILL of this process stops it.
    let exe = std::env::current_exe()?;
    let mut watchdog = std::process::Command::new(exe)
        .args(["firewall", "watchdog", "--after"])
        .arg((args.confirm + WATCHDOG_GRACE).to_string())
        .arg(&snapshot)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("cannot start the rollback watchdog ({e}): nothing was applied")
        })?;
    if let Err(e) = apply::load(&args.rules) {
        let _ = std::fs::write(&token, "not applied\n");
        let _ = watchdog.wait();
        return Err(e.into());
    }
    eprintln!(
        "portolan: applied {}. Type yes within {} s to keep it; anything else, end of input, or \
         no answer (a lost session) restores the previous ruleset (saved in {shown}).",
        escape(&args.rules.display().to_string()),
        args.confirm
    );
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    // The reader thread is left behind if nothing is typed; the process ends soon after.
    let _ = std::thread::Builder::new()
        .name("portolan-confirm".into())
        .spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let _ = tx.send(line);
        });
    let answer = rx
        .recv_timeout(Duration::from_secs(args.confirm))
        .ok()
        .filter(|l| l.trim() == "yes");
    if answer.is_some() {
        std::fs::write(&token, "kept\n").map_err(|e| {
            anyhow::anyhow!(
                "confirmed, but cannot tell the watchdog ({e}): the previous ruleset will be restored from {shown}"
            )
        })?;
        let _ = watchdog.wait();
        eprintln!("portolan: kept. The previous ruleset stays in {shown}.");
        return Ok(ExitCode::SUCCESS);
    }
    let restored = apply::load(&snapshot);
    let _ = std::fs::write(&token, "restored\n");
    let _ = watchdog.wait();
    restored.map_err(|e| {
        anyhow::anyhow!(
            "the change was not confirmed and restoring the previous ruleset failed ({e}): restore it by hand with `nft -f {shown}`"
        )
    })?;
    eprintln!("portolan: not confirmed: the previous ruleset is restored (from {shown}).");
    Ok(ExitCode::from(1))
}

/// The file whose existence tells the watchdog to stand down.
fn token_path(snapshot: &std::path::Path) -> PathBuf {
    let mut t = snapshot.as_os_str().to_owned();
    t.push(".done");
    PathBuf::from(t)
}

fn watchdog(args: WatchdogArgs) -> Result<ExitCode> {
    use std::time::{Duration, Instant};
    let token = token_path(&args.snapshot);
    let deadline = Instant::now() + Duration::from_secs(args.after);
    while Instant::now() < deadline {
        if token.exists() {
            let _ = std::fs::remove_file(&token);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    portolan_firewall::apply::load(&args.snapshot)?;
    Ok(ExitCode::from(1))
}
