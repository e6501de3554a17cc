//! `portolan policy`: read and lint a port policy (crate `portolan-policy`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use portolan_policy::{Finding, Policy};
use portolan_registry::risk::Severity;

use super::outfile::{self, OutputSpec};
use crate::term::{escape, Style};

const EXAMPLES: &str = "\
Examples:
  portolan policy lint policy.yaml                  shadowed and overlapping rules, any-any, empty zones
  portolan policy lint policy.yaml --fail-on medium exit 1 when a finding is medium or worse (CI)
  portolan policy lint policy.yaml --format json    machine-readable findings
  portolan firewall generate policy.yaml --gateway --nft   rules generated from the policy

The policy format (YAML) is described in docs/policy.md.";

/// `portolan policy ...`
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCmd {
    /// Check a policy for mistakes: unknown names (with line and column), shadowed and
    /// overlapping rules, any-any rules, rules allowing every port, empty zones, hosts outside
    /// their zone.
    #[command(after_help = EXAMPLES)]
    Lint(LintArgs),
}

/// What `policy lint` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Text for people (the default).
    Table,
    /// One JSON document (see docs/policy.md).
    Json,
}

/// Arguments of `portolan policy lint`.
#[derive(clap::Args, Debug)]
pub struct LintArgs {
    /// The policy file (YAML; see docs/policy.md).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// What to print on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,

    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Also write FMT (table or json) to PATH, replacing it only once complete; repeatable.
    /// A PATH alone is written as json.
    #[arg(short = 'o', long = "output", value_name = "FMT=PATH", value_parser = outfile::parse_spec::<Format>)]
    pub output: Vec<OutputSpec<Format>>,

    /// Exit with status 1 when a finding has this severity or a higher one: info, low,
    /// medium, high, critical.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

pub fn run(cmd: PolicyCmd, style: Style) -> Result<ExitCode> {
    match cmd {
        PolicyCmd::Lint(a) => lint(a, style),
    }
}

/// Load a policy with the registry in use (the refreshed one when there is one).
pub fn load(path: &Path) -> Result<Policy> {
    let reg = super::port::load_registry()?;
    Ok(Policy::from_file(path, &reg)?)
}

fn lint(args: LintArgs, style: Style) -> Result<ExitCode> {
    let format = if args.json { Format::Json } else { args.format };
    let outputs = outfile::prepare(&args.output)?;
    let policy = load(&args.policy)?;
    let findings = portolan_policy::lint(&policy);
    let render = |f: Format, style: Style| -> Result<String> {
        Ok(match f {
            Format::Json => {
                let v = outfile::with_schema_version(serde_json::json!({
                    "policy": args.policy.display().to_string(),
                    "rules": policy.rules.len(),
                    "findings": findings,
                }));
                serde_json::to_string_pretty(&v)? + "\n"
            }
            Format::Table => table(&args.policy, &policy, &findings, style),
        })
    };
    for o in outputs {
        let text = render(o.format, Style { enabled: false })?;
        o.commit(text.as_bytes())?;
    }
    crate::term::print_out_unless_closed(&render(format, style)?)?;
    Ok(fail_on(args.fail_on, findings.iter().map(|f| f.severity)))
}

/// Exit 1 when a severity reaches `limit`.
pub fn fail_on(limit: Option<Severity>, found: impl Iterator<Item = Severity>) -> ExitCode {
    match (limit, found.max()) {
        (Some(limit), Some(worst)) if worst >= limit => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

fn table(path: &Path, p: &Policy, findings: &[Finding], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {} zones, {} hosts, {} rules, default deny",
        style.bold(&escape(&path.display().to_string())),
        p.zones.len(),
        p.hosts.len(),
        p.rules.len()
    );
    if findings.is_empty() {
        let _ = writeln!(out, "  {}", style.green("no findings"));
        return out;
    }
    for f in findings {
        let rule = f.rule.map_or(String::new(), |r| format!("rule {r}  "));
        let _ = writeln!(
            out,
            "  {} {:<18} {}{}",
            sev_styled(style, f.severity),
            f.code,
            rule,
            escape(&f.message)
        );
        let _ = writeln!(out, "  {:<8} {:<18} fix: {}", "", "", escape(&f.fix));
    }
    out
}

fn sev_styled(style: Style, s: Severity) -> String {
    let t = format!("{:<8}", s.as_str().to_uppercase());
    match s {
        Severity::Critical | Severity::High => style.red(&t),
        Severity::Medium => style.yellow(&t),
        Severity::Low | Severity::Info => style.cyan(&t),
    }
}
