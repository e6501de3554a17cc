//! Lookup speed of the compiled-in registry: by number, by name, by range, and suggestions.
//! Run: `cargo bench -p portolan-registry --bench lookup`.

use std::hint::black_box;
use std::time::Instant;

use portolan_registry::{risk, Protocol, Registry};

fn time<F: FnMut() -> usize>(label: &str, iters: u32, mut f: F) {
    let start = Instant::now();
    let mut n = 0;
    for _ in 0..iters {
        n += black_box(f());
    }
    let per = start.elapsed() / iters;
    println!("{label:<40} {per:>12?} per call ({n} results)");
}

fn main() {
    let reg = Registry::embedded();
    time("by_port(22)", 100_000, || {
        reg.by_port(black_box(22)).count()
    });
    time("by_port(6379) + risks", 100_000, || {
        reg.by_port(black_box(6379)).count() + risk::for_port(6379, Protocol::Tcp).count()
    });
    time("by_port over 8000-8100", 10_000, || {
        (8000..=8100u16).map(|p| reg.by_port(p).count()).sum()
    });
    time("by_name(\"ssh\")", 100_000, || {
        reg.by_name(black_box("ssh")).count()
    });
    time("suggest(\"nosuchservice\")", 100, || {
        reg.suggest(black_box("nosuchservice"), 5).len()
    });
    time("every port 0-65535 by_port", 10, || {
        (0..=65535u16).map(|p| reg.by_port(p).count()).sum()
    });
}
