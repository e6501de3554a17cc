//! Fuzz the fast path of `portolan diff` on two nmap XML files (import::same_hosts): the input
//! is cut in two files at its first byte; the hosts indexed, the identical ones left out, both
//! files read by the nmap XML reader whole and with them left out. Any bytes: no panic; and
//! when both files read whole, the fast path finds the same ports and host states.
//! Run: cargo +nightly fuzz run same_hosts (in crates/portolan-store).
#![no_main]
use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor};

use libfuzzer_sys::fuzz_target;
use portolan_store::import::same_hosts::{identical_hosts, index_hosts, OmitHosts};
use portolan_store::import::{read_nmap_xml, Record};

type Side = (BTreeMap<String, String>, BTreeMap<String, bool>);

/// What a diff compares of a file: each port's state and service, each host's status.
fn side(r: impl BufRead) -> Option<Side> {
    let (mut ports, mut hosts) = (BTreeMap::new(), BTreeMap::new());
    read_nmap_xml(r, "fuzz.xml", &mut |rec| {
        if let Record::Host(h) = rec {
            hosts.insert(h.addr.to_string(), h.up);
            for ev in h.ports {
                if ev.state.proves_host_up() {
                    hosts.insert(ev.addr.to_string(), true);
                }
                let svc = ev.service.as_ref().map(|s| {
                    (s.name.clone(), s.product.clone(), s.version.clone(), s.extrainfo.clone())
                });
                ports.insert(
                    format!("{} {} {}", ev.addr, ev.proto.as_str(), ev.port),
                    format!("{} {svc:?}", ev.state.as_str()),
                );
            }
        }
        Ok(())
    })
    .ok()?;
    Some((ports, hosts))
}

/// The keys whose values differ (or that one side lacks).
fn changed<V: PartialEq>(a: &BTreeMap<String, V>, b: &BTreeMap<String, V>) -> Vec<String> {
    let mut out: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = (cut as usize * rest.len()) / 255;
    let (a, b) = rest.split_at(cut.min(rest.len()));
    let rs = RandomState::new();
    let (Ok(Some(ia)), Ok(Some(ib))) = (index_hosts(a, &rs), index_hosts(b, &rs)) else {
        return;
    };
    let (oa, ob) = identical_hosts(&ia, &ib);
    let fast_a = side(BufReader::new(OmitHosts::new(Cursor::new(a), oa)));
    let fast_b = side(BufReader::new(OmitHosts::new(Cursor::new(b), ob)));
    if let (Some(wa), Some(wb)) = (side(a), side(b)) {
        let (fa, fb) = (fast_a.expect("read whole, not fast"), fast_b.expect("read whole, not fast"));
        assert_eq!(changed(&wa.0, &wb.0), changed(&fa.0, &fb.0));
        assert_eq!(changed(&wa.1, &wb.1), changed(&fa.1, &fb.1));
    }
});
