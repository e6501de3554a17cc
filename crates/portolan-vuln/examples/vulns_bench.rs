//! Benchmark helper for `bench/vulns.sh` (not a test: it measures, it asserts nothing).
//!
//! - `vulns_bench gen DIR N`: write N NVD-API-2.0-shaped records as gzipped pages of 2,000
//!   (`DIR/page-NNNNN.json.gz`), over 5,000 products with ranges of a few minor releases, CVSS and
//!   descriptions; 2 % of them without configurations (awaiting analysis).
//! - `vulns_bench import DB DIR`: import DIR into DB with the library call `portolan vulns
//!   import` makes, and print the time and the counts.
//! - `vulns_bench match DB N`: match N services (product and version drawn from the same
//!   products) against the database DB and print the time of the matching alone.
//! - `vulns_bench profile DB N [ROUNDS]`: load the products once, then match ROUNDS (default
//!   10) fresh sets of N services with distinct versions, for `perf record` (the matching
//!   dominates the profile).

use portolan_vuln::cpe::CpeName;
use portolan_vuln::db::SqliteStore;
use portolan_vuln::matcher::{Aliases, Detected, Matcher};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

const PRODUCTS: u64 = 5000;
const PAGE: u64 = 2000;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn product(i: u64) -> (String, String) {
    (format!("vendor{}", i / 4), format!("product{i}"))
}

fn version(r: &mut Rng) -> String {
    format!("{}.{}.{}", r.below(10), r.below(30), r.below(40))
}

fn record(id: u64, r: &mut Rng) -> String {
    let year = 2000 + id % 25;
    let cve = format!("CVE-{year}-{:06}", id);
    let (v, p) = product(r.below(PRODUCTS));
    let desc = format!(
        "A buffer overflow in {p} by {v} before some version allows remote attackers to execute arbitrary code or cause a denial of service via a crafted request to the service, as exploited in the wild in some configurations."
    );
    let configs = if r.below(50) == 0 {
        String::new()
    } else {
        let n = 1 + r.below(4);
        let matches: Vec<String> = (0..n)
            .map(|_| {
                // A range of a few minor releases inside one major, as real ranges mostly are.
                let (major, minor) = (r.below(10), r.below(30));
                let lo = format!("{major}.{minor}.{}", r.below(40));
                let hi = format!("{major}.{}.{}", minor + 1 + r.below(3), r.below(40));
                if r.below(4) == 0 {
                    format!(
                        r#"{{"vulnerable":true,"criteria":"cpe:2.3:a:{v}:{p}:{lo}:*:*:*:*:*:*:*","matchCriteriaId":"00000000-0000-0000-0000-000000000000"}}"#
                    )
                } else {
                    format!(
                        r#"{{"vulnerable":true,"criteria":"cpe:2.3:a:{v}:{p}:*:*:*:*:*:*:*:*","versionStartIncluding":"{lo}","versionEndExcluding":"{hi}","matchCriteriaId":"00000000-0000-0000-0000-000000000000"}}"#
                    )
                }
            })
            .collect();
        format!(
            r#","configurations":[{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{}]}}]}},{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{{"vulnerable":true,"criteria":"cpe:2.3:o:debian:debian_linux:12.0:*:*:*:*:*:*:*","matchCriteriaId":"00000000-0000-0000-0000-000000000000"}}]}}]}}]"#,
            matches.join(",")
        )
    };
    let score = 1.0 + (r.below(90) as f64) / 10.0;
    format!(
        r#"{{"cve":{{"id":"{cve}","sourceIdentifier":"cve@mitre.org","published":"{year}-01-01T00:00:00.000","lastModified":"{year}-06-01T00:00:00.000","vulnStatus":"Analyzed","cveTags":[],"descriptions":[{{"lang":"en","value":"{desc}"}}],"metrics":{{"cvssMetricV31":[{{"source":"nvd@nist.gov","type":"Primary","cvssData":{{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":{score:.1},"baseSeverity":"HIGH","attackVector":"NETWORK","attackComplexity":"LOW","privilegesRequired":"NONE","userInteraction":"NONE","scope":"UNCHANGED","confidentialityImpact":"HIGH","integrityImpact":"HIGH","availabilityImpact":"HIGH"}},"exploitabilityScore":3.9,"impactScore":5.9}}]}},"weaknesses":[{{"source":"nvd@nist.gov","type":"Primary","description":[{{"lang":"en","value":"CWE-787"}}]}}]{configs},"references":[{{"url":"https://example.invalid/advisory/{id}","source":"cve@mitre.org"}}]}}}}"#
    )
}

/// CPU time of this thread (nanoseconds on a CPU, from /proc/thread-self/schedstat): on a
/// shared machine the wall clock also counts the time other processes had the CPU.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|t| t.parse().ok()))
        .unwrap_or(0)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn gen(dir: &Path, n: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut r = Rng(7);
    let mut id = 0;
    let mut page = 0;
    while id < n {
        let f = std::fs::File::create(dir.join(format!("page-{page:05}.json.gz")))?;
        let mut gz =
            flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::fast());
        let count = PAGE.min(n - id);
        write!(
            gz,
            r#"{{"resultsPerPage":{count},"startIndex":{id},"totalResults":{n},"format":"NVD_CVE","version":"2.0","timestamp":"2026-01-01T00:00:00.000","vulnerabilities":["#
        )?;
        for k in 0..count {
            if k > 0 {
                gz.write_all(b",")?;
            }
            gz.write_all(record(id, &mut r).as_bytes())?;
            id += 1;
        }
        gz.write_all(b"]}")?;
        gz.finish()?.flush()?;
        page += 1;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2), args.get(3)) {
        (Some("gen"), Some(dir), Some(n)) => gen(Path::new(dir), n.parse()?)?,
        (Some("import"), Some(db), Some(dir)) => {
            let mut store = SqliteStore::open(Path::new(db))?;
            let t = Instant::now();
            let files = portolan_vuln::import::import_paths(
                &mut store,
                &[dir.into()],
                portolan_vuln::import::LIMITS,
                &mut |_| {},
            )?;
            let records: u64 = files.iter().map(|f| f.read).sum();
            println!(
                "imported {records} records from {} files in {:.1} s",
                files.len(),
                t.elapsed().as_secs_f64()
            );
        }
        (Some("match"), Some(db), Some(n)) => {
            let n: u64 = n.parse()?;
            let store = SqliteStore::open(Path::new(db))?;
            let mut r = Rng(11);
            // Two kinds of fleets: every service a different version (the worst case), and
            // each product seen in at most 5 versions (a fleet of a few builds).
            for (label, versions_per_product) in
                [("distinct versions", 0u64), ("5 versions a product", 5)]
            {
                let services: Vec<Detected> = (0..n)
                    .filter_map(|_| {
                        let i = r.below(PRODUCTS / 10);
                        let (v, p) = product(i);
                        let ver = if versions_per_product == 0 {
                            version(&mut r)
                        } else {
                            format!("{}.{}.{}", i % 10, r.below(versions_per_product), i % 40)
                        };
                        CpeName::parse(&format!("cpe:/a:{v}:{p}:{ver}"))
                            .map(|c| Detected::from_cpe(&c))
                    })
                    .collect();
                let m = Matcher::new(&store, Aliases::builtin());
                // Load every product's records once (a version no range contains).
                let (t, c) = (Instant::now(), cpu_ns());
                for i in 0..PRODUCTS / 10 {
                    let (v, p) = product(i);
                    if let Some(c) = CpeName::parse(&format!("cpe:/a:{v}:{p}:999")) {
                        m.match_shared(&Detected::from_cpe(&c))?;
                    }
                }
                let (load, load_cpu) = (t.elapsed(), cpu_ns() - c);
                let (t, c) = (Instant::now(), cpu_ns());
                let mut findings = 0;
                for d in &services {
                    findings += m.match_shared(d)?.len();
                }
                let (cold, cold_cpu) = (t.elapsed(), cpu_ns() - c);
                let (t, c) = (Instant::now(), cpu_ns());
                for d in &services {
                    let _ = m.match_shared(d)?;
                }
                let (warm, warm_cpu) = (t.elapsed(), cpu_ns() - c);
                println!(
                    "{label}: {n} services over {} products, {findings} findings (wall / CPU): loading the products' records from SQLite {:.1} / {:.1} ms; matching {:.1} / {:.1} ms; the same services again (memoized) {:.1} / {:.1} ms",
                    PRODUCTS / 10,
                    load.as_secs_f64() * 1e3,
                    ms(load_cpu),
                    cold.as_secs_f64() * 1e3,
                    ms(cold_cpu),
                    warm.as_secs_f64() * 1e3,
                    ms(warm_cpu)
                );
            }
        }
        (Some("profile"), Some(db), Some(n)) => {
            // For `perf record`: load once, then match ROUNDS fresh sets of N services with
            // distinct versions (the matching dominates the profile).
            let n: u64 = n.parse()?;
            let rounds: u64 = args.get(4).map_or(Ok(10), |r| r.parse())?;
            let store = SqliteStore::open(Path::new(db))?;
            let m = Matcher::new(&store, Aliases::builtin());
            for i in 0..PRODUCTS / 10 {
                let (v, p) = product(i);
                if let Some(c) = CpeName::parse(&format!("cpe:/a:{v}:{p}:999")) {
                    m.match_shared(&Detected::from_cpe(&c))?;
                }
            }
            let mut r = Rng(13);
            let (t, c) = (Instant::now(), cpu_ns());
            let mut findings = 0;
            for round in 0..rounds {
                for _ in 0..n {
                    let (v, p) = product(r.below(PRODUCTS / 10));
                    let ver = format!("{}.{}.{}-{round}", r.below(10), r.below(30), r.below(40));
                    if let Some(c) = CpeName::parse(&format!("cpe:/a:{v}:{p}:{ver}")) {
                        findings += m.match_shared(&Detected::from_cpe(&c))?.len();
                    }
                }
            }
            println!(
                "{rounds} x {n} services, {findings} findings: {:.1} / {:.1} ms (wall / CPU)",
                t.elapsed().as_secs_f64() * 1e3,
                ms(cpu_ns() - c)
            );
        }
        _ => {
            eprintln!(
                "usage: vulns_bench gen DIR N | vulns_bench import DB DIR | vulns_bench match DB N | vulns_bench profile DB N [ROUNDS]"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
