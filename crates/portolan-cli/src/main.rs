//! `portolan` — charts the ports of a network and keeps them safe.
//!
//! The binary is a thin layer over the library crates: each subcommand lives in `cmd/`.

#![forbid(unsafe_code)]

mod cmd;
mod signals;
mod term;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

const EXAMPLES: &str = "\
Examples:
  portolan port 6379              what is 6379, is it risky to expose?
  portolan port ssh               every port the ssh service is registered on
  portolan port 53/udp            one protocol only
  portolan port 8000-8100 --json  a range, as JSON
  portolan local                  what this host exposes, and how to harden it
  portolan local --format sarif --fail-on high
  portolan service 127.0.0.1:2222 127.0.0.1:8443   what listens there, which version
  portolan detect capture.pcapng   who scanned or flooded whom, from a capture
  portolan detect -i eth0 --block  ... and ban them in the kernel (portolan block list)
  portolan scans                  every scan saved in the result store
  portolan diff --fail-on-change  what changed since the previous scan of the same targets
  portolan history 10.0.0.5       every stored scan of a host, port by port
  portolan vulns import nvd/ kev.json epss.csv.gz; portolan vulns scan.jsonl --kev
  portolan policy lint policy.yaml  mistakes in a port policy (shadowed rules, any-any, ...)
  portolan firewall generate policy.yaml --gateway --nft   nftables rules from the policy
  portolan registry update --from service-names-port-numbers.csv
  portolan completions bash > /etc/bash_completion.d/portolan";

/// Portolan charts the ports of a network and keeps them safe.
#[derive(Parser, Debug)]
#[command(name = "portolan", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    /// When to use colour: auto (a terminal and NO_COLOR unset), always, never.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub color: term::ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Explain a port: IANA registration, RFC 6335 category, ephemeral ranges, known risks.
    Port(cmd::port::PortArgs),
    /// What this host exposes: listening sockets, owning processes, hardening findings.
    Local(cmd::local::LocalArgs),
    /// Show or refresh the IANA port registry.
    #[command(subcommand)]
    Registry(cmd::registry::RegistryCmd),
    /// Find what is exposed: TCP connect, SYN and UDP scans of addresses, blocks, ranges and
    /// hostnames, with service and version detection (-sV).
    Scan(Box<cmd::scan::ScanArgs>),
    /// Identify what listens on given ports: service, product, version, TLS, SSH, HTTP, and
    /// unauthenticated access.
    Service(cmd::service::ServiceArgs),
    /// See who is scanning or flooding you: port scans, sweeps and SYN floods from captures or
    /// live traffic.
    Detect(cmd::detect::DetectArgs),
    /// Block who scans or floods: bans in Portolan's own nftables table, with kernel timeouts
    /// (list, add, del, flush, save, restore).
    #[command(subcommand)]
    Block(cmd::block::BlockCmd),
    /// Stored scans: list, show, delete, prune (the result store every scan is saved to).
    Scans(cmd::store::ScansArgs),
    /// What changed between two stored scans (ndiff's semantics), as text, JSON or ndiff.
    Diff(cmd::diff::DiffArgs),
    /// Every stored scan of one host, port by port over time.
    History(cmd::store::HistoryArgs),
    /// Hosts in the store, filtered by network, port, service, product, state and time.
    Hosts(cmd::store::QueryArgs),
    /// Ports in the store, filtered by network, port, service, product, state and time.
    Ports(cmd::store::QueryArgs),
    /// Stored `portolan local` audits: list them, or show one's report.
    Audits(cmd::records::AuditsArgs),
    /// Stored `portolan detect` alerts and runs, filtered by run, source and time.
    Alerts(cmd::records::AlertsArgs),
    /// Bring existing results into the store: nmap XML, Portolan JSON Lines.
    Import(cmd::store::ImportArgs),
    /// Known vulnerabilities of detected services, offline: import NVD, CISA KEV and EPSS
    /// files, then match a scan's -sV results or a CPE, with a stated confidence.
    Vulns(cmd::vulns::VulnsArgs),
    /// Least privilege: lint a port policy (zones, hosts, services, rules) and check scans and
    /// this host's sockets against it.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCmd),
    /// Firewall rules generated from a port policy (nftables or iptables, for a gateway or a
    /// host), and audits of the live nftables ruleset.
    #[command(subcommand)]
    Firewall(cmd::firewall::FirewallCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    term::exit_quietly_on_closed_stdout();
    let cli = Cli::parse_from(cmd::scan::nmap_style_args(std::env::args_os()));
    let style = term::Style::for_stdout(cli.color);
    let stop = portolan_model::Stop::new();
    // The one place the binary installs signal handlers: for the long work that stops on
    // request. A capture file is read to its end (Ctrl-C ends the process as usual); a live
    // capture stops on the first signal and still prints its summary.
    let catch = match &cli.command {
        Command::Scan(_) | Command::Service(_) => true,
        Command::Detect(a) => a.interface.is_some(),
        _ => false,
    };
    if catch {
        if let Err(e) = signals::catch(stop.clone()) {
            eprintln!("portolan: error: {e:#}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Port(args) => cmd::port::run(args, style),
        Command::Local(args) => cmd::local::run(args, style),
        Command::Registry(c) => cmd::registry::run(c, style),
        Command::Scan(args) => cmd::scan::run(*args, style, &stop),
        Command::Service(args) => cmd::service::run(args, style, &stop),
        Command::Detect(args) => cmd::detect::run(args, style, &stop),
        Command::Block(c) => cmd::block::run(c, style),
        Command::Scans(args) => cmd::store::run_scans(args, style),
        Command::Diff(args) => cmd::diff::run(args, style),
        Command::History(args) => cmd::store::run_history(args, style),
        Command::Hosts(args) => cmd::store::run_hosts(args, style),
        Command::Ports(args) => cmd::store::run_ports(args, style),
        Command::Import(args) => cmd::store::run_import(args),
        Command::Audits(args) => cmd::records::run_audits(args, style),
        Command::Alerts(args) => cmd::records::run_alerts(args, style),
        Command::Vulns(args) => cmd::vulns::run(args, style),
        Command::Policy(c) => cmd::policy::run(c, style),
        Command::Firewall(c) => cmd::firewall::run(c, style),
        Command::Completions { shell } => {
            let mut c = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut c, "portolan", &mut script);
            term::print_out(&String::from_utf8_lossy(&script))
                .map(|()| ExitCode::SUCCESS)
                .map_err(Into::into)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) if term::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portolan: error: {}", term::escape_lines(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
