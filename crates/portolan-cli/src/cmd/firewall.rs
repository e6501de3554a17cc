//! `portolan firewall`: firewall rules generated from a port policy (crate `portolan-firewall`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use portolan_firewall::Target;

use super::outfile;

const EXAMPLES: &str = "\
Examples:
  portolan firewall generate policy.yaml --gateway --nft        forwarding rules for the router between the zones
  portolan firewall generate policy.yaml --host web1 --nft      input rules for host web1
  portolan firewall generate policy.yaml --gateway --iptables   ipset + iptables-restore + ip6tables-restore
  portolan firewall generate policy.yaml --gateway --iptables --part v4 > rules.v4
  portolan firewall generate policy.yaml --host web1 --nft -o web1.nft
  nft -c -f web1.nft && nft -f web1.nft                           check, then apply (one transaction)

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

pub fn run(cmd: FirewallCmd) -> Result<ExitCode> {
    match cmd {
        FirewallCmd::Generate(a) => generate(a),
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
