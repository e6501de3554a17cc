#![no_main]
//! Any bytes given to the nftables audit and the drift evaluator: an error or findings, never a
//! panic (and no endless loop: jumps are bounded).
use libfuzzer_sys::fuzz_target;

const POLICY: &str = "
zones:
  office: { networks: [10.30.0.0/16] }
  dmz:    { networks: [10.20.0.0/24] }
hosts:
  web1: { address: 10.20.0.10, zone: dmz }
rules:
  - { from: office, to: dmz, allow: [ssh] }
  - { from: office, to: web1, allow: [https, icmp-echo] }
default: deny
";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = portolan_firewall::audit::audit(text, None);
        let reg = portolan_registry::Registry::embedded();
        if let Ok(p) = portolan_policy::Policy::parse(POLICY, reg) {
            let _ = portolan_firewall::drift::drift(text, &p, &portolan_firewall::Target::Gateway);
        }
    }
});
