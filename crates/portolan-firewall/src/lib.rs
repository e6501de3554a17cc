//! Firewall rules generated from a Portolan port policy (crate `portolan-policy`).
//!
//! Two targets, each for a router between the policy's zones ([`Target::Gateway`], the
//! `forward` hook) or for one of its hosts ([`Target::Host`], the `input` hook):
//!
//! - [`nft()`]: an nftables script that is **one atomic transaction** (`nft -f`) in a table of
//!   its own (`inet portolan`), replaced whole on every run. The allowed flows are the disjoint
//!   partition of [`portolan_policy::compile`], loaded into **verdict maps** keyed by
//!   `saddr . daddr . l4proto . dport` (intervals allowed), so a packet costs one map lookup
//!   however many (host, service) pairs the policy allows. Rules that log or rate-limit get a
//!   chain of their own that the map jumps to.
//! - [`iptables()`]: `ipset restore`, `iptables-restore` and `ip6tables-restore` inputs for hosts
//!   without nftables: one rule per policy rule and service group, the rule's zones held in
//!   ipsets (so the rule count does not grow with the number of networks or hosts).
//!
//! Both accept established and related traffic first, drop invalid packets, keep the ICMP and
//! ICMPv6 messages networks need (errors, packet-too-big, and on a host neighbour discovery
//! and MLD), handle IPv4 and IPv6 together, and drop everything else (the policy's
//! `default: deny`) or refuse it (`default: reject`: TCP reset, ICMP administratively
//! prohibited). Rate limits apply per source address (nftables dynamic sets, iptables
//! `hashlimit`). Text taken from the policy (names, comments) reaches the output only
//! through [`sanitize`], so a hostile name cannot inject a rule.
//!
//! - [`audit::audit`]: a live nftables ruleset (`nft -j list ruleset`) checked for default
//!   accept, accept-everything rules, shadowed rules and ports accepted with nothing listening.
//!
//! - [`iptables_save::audit`]: the same findings for `iptables-save` / `ip6tables-save`
//!   output (bounded parser; evidence: the line number), and `redundant` beside `shadowed`.
//!
//! - [`drift::drift`]: the same ruleset against a policy: flows it accepts that the policy does
//!   not allow, and flows the policy allows that it drops, each with the deciding rule's
//!   handle; [`eval`] is the packet evaluator underneath.
//!
//! - [`apply`]: snapshot, atomic load and rollback of nftables scripts (the confirmation
//!   timeout is `portolan firewall apply`'s).
//!

#![forbid(unsafe_code)]

pub mod apply;
pub mod audit;
pub mod drift;
pub mod eval;
pub mod iptables;
pub mod iptables_save;
pub mod nft;

pub use iptables::{iptables, Iptables};
pub use nft::nft;

use portolan_policy::Policy;
use std::net::IpAddr;

/// What the rules are for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A router between the zones: the forward hook.
    Gateway,
    /// One host of the policy, by name: the input hook, for traffic to its address.
    Host(String),
}

/// Why rules could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unknown host {name:?}: the policy defines {known}; give one of them to --host")]
    UnknownHost { name: String, known: String },
}

/// The address of the host a [`Target::Host`] names.
pub(crate) fn host_addr(p: &Policy, name: &str) -> Result<IpAddr, Error> {
    p.host(name)
        .map(|h| h.address)
        .ok_or_else(|| Error::UnknownHost {
            name: name.to_string(),
            known: if p.hosts.is_empty() {
                "no host".into()
            } else {
                p.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })
}

/// Text from the policy made safe for a comment or a log prefix: letters, digits, spaces and `-_.:/`,
/// anything else (quotes, line breaks, controls) becomes `_`; at most 64 characters.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A one-line description of a rule for comments: `rule 2: office -> dmz allow ssh`.
pub(crate) fn describe(r: &portolan_policy::Rule) -> String {
    let allow: Vec<String> = r.allow.iter().map(|s| sanitize(&s.spec)).collect();
    let mut d = format!(
        "rule {}: {} -> {} allow {}",
        r.number,
        sanitize(&r.from.to_string()),
        sanitize(&r.to.to_string()),
        allow.join(",")
    );
    if r.log {
        d.push_str(" log");
    }
    if let Some(rate) = r.rate {
        d.push_str(&format!(" rate {rate}"));
    }
    if let Some(c) = &r.comment {
        d.push_str(&format!(" ({})", sanitize(c)));
    }
    d
}
