//! The fast path of `portolan diff` on two nmap XML files, alone: the time of each pass.
//!
//!   cargo run --release -p portolan-store --example same_hosts -- A.xml B.xml
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: failing loudly is fine

use std::collections::hash_map::RandomState;
use std::io::{BufReader, Read};
use std::time::Instant;

use portolan_store::import::same_hosts::{identical_hosts, index_hosts, OmitHosts};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (a, b) = (&args[1], &args[2]);
    let rs = RandomState::new();
    let t = Instant::now();
    let ia = index_hosts(std::fs::File::open(a).unwrap(), &rs)
        .unwrap()
        .unwrap();
    let ib = index_hosts(std::fs::File::open(b).unwrap(), &rs)
        .unwrap()
        .unwrap();
    let pass1 = t.elapsed();
    let (oa, ob) = identical_hosts(&ia, &ib);
    let t = Instant::now();
    let mut left = 0;
    for (p, o) in [(a, oa.clone()), (b, ob.clone())] {
        let mut r = BufReader::new(OmitHosts::new(std::fs::File::open(p).unwrap(), o));
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        left += v.len();
    }
    println!(
        "pass 1 (both files, one thread): {:.3}s; {} and {} hosts, {} and {} left out; pass 2 reads {} bytes in {:.3}s",
        pass1.as_secs_f64(),
        ia.elements,
        ib.elements,
        oa.len(),
        ob.len(),
        left,
        t.elapsed().as_secs_f64()
    );
}
