//! Service lab 2 (issue 19): `portolan service` and `portolan scan -sV` on real Debian daemons
//! that the first service lab does not have (tests/lab/service-lab2.sh, expectations in
//! tests/lab/service-lab2.tsv, packages in .ci/apt/service-lab2.txt), in a network namespace of
//! this test's own, most on non-standard ports, TCP and UDP.
//!
//! What it asserts, per port:
//! - whatever Portolan presents as detected is right: a name from a probe (not a port-table
//!   guess) is the expected one or a listed alias; a product it states for a correctly named
//!   service contains the expected product; a version it reads is the installed package's
//!   upstream version (or a documented form of it, see the table's header);
//! - it never flags open access on a daemon configured to require credentials, and it flags the
//!   open ones for the classes it has a check for ([`CHECKED_OPEN`]);
//! - coverage does not fall below what the detector reaches today ([`MIN_NAMED`],
//!   [`MIN_VERSIONS`], [`MIN_OPEN_FLAGGED`]: the lead raises them as the detector grows).
//!
//! Known wrong claims of today's detector are listed in [`KNOWN_WRONG`] with the reason: they are
//! printed, not failed, and the list is meant to shrink to nothing.
//!
//! Needs root and `ip`; skips with a message otherwise, except under CI (`CI=true`) where it
//! fails instead. A daemon that is installed but does not come up always fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;

mod common;
use common::lab::{lab_file, package_version, skip_or_fail, upstream, ScriptLab};
use common::{is_root, OutputOk};

/// Ports correctly named by a probe (name presented as detected and right), minimum, in all.
const MIN_NAMED: usize = 36;
/// Versions read and equal to the package's, minimum, in all.
const MIN_VERSIONS: usize = 18;
/// Open daemons flagged (exactly), minimum.
const MIN_OPEN_FLAGGED: usize = 11;
/// Rows whose open-access status must be flagged (a check exists for their class; the same
/// daemons configured with credentials must not be: rsync-auth, vnc-auth, x11-auth, nats-auth,
/// tinyproxy-auth, samba-auth).
const CHECKED_OPEN: &[&str] = &[
    "rsync-open",
    "vnc-open",
    "x11-open",
    "nats-open",
    "tinyproxy-open",
    "privoxy",
    "beanstalkd",
    "samba-open",
    "git-daemon",
    "tftpd-udp",
    "gearmand",
];
/// (row id, what) claims that are wrong today, with why: printed, not failed.
const KNOWN_WRONG: &[(&str, &str, &str)] = &[];

/// A version read is right when it equals the upstream version, is a prefix of it at a dot
/// (`7.1` for `7.1.1`), or is it followed by a packaging suffix (`9.18.49-1~deb12u3-Debian`).
fn version_ok(read: &str, want: &str) -> bool {
    if read.is_empty() || want.is_empty() {
        return false;
    }
    if read == want || want.strip_prefix(read).is_some_and(|r| r.starts_with('.')) {
        return true;
    }
    read.strip_prefix(want)
        .is_some_and(|r| !r.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

/// One row of tests/lab/service-lab2.tsv.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    port: u16,
    proto: String,
    package: String,
    names: Vec<String>,
    product: Option<String>,
    open: bool,
    half: String,
}

fn parse_table(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 9, "bad row in service-lab2.tsv: {l:?}");
            let (port, proto) = f[1].split_once('/').unwrap();
            let mut names = vec![f[3].to_lowercase()];
            if f[8] != "-" {
                names.extend(f[8].split(',').map(str::to_lowercase));
            }
            Row {
                id: f[0].into(),
                port: port.parse().unwrap(),
                proto: proto.into(),
                package: f[2].into(),
                names,
                product: (f[4] != "-").then(|| f[4].to_string()),
                open: f[6] == "1",
                half: f[7].into(),
            }
        })
        .collect()
}

#[test]
fn table_is_well_formed_and_split_in_halves() {
    let rows = parse_table(&std::fs::read_to_string(lab_file("service-lab2.tsv")).unwrap());
    assert!(rows.len() >= 25, "{} rows", rows.len());
    let mut seen = HashMap::new();
    for r in &rows {
        assert!(
            seen.insert((r.port, r.proto.clone()), r.id.clone())
                .is_none(),
            "two rows on {}/{}",
            r.port,
            r.proto
        );
        assert!(["dev", "held"].contains(&r.half.as_str()), "{r:?}");
        assert!(["tcp", "udp"].contains(&r.proto.as_str()), "{r:?}");
    }
    let held = rows.iter().filter(|r| r.half == "held").count();
    assert!(
        held * 3 >= rows.len() && held * 3 <= rows.len() * 2,
        "halves: {held} held of {}",
        rows.len()
    );
    assert!(rows.iter().any(|r| r.proto == "udp"));
    assert!(
        rows.iter().filter(|r| r.port < 1024).count() * 2 < rows.len(),
        "most on non-standard ports"
    );
}

#[test]
fn version_forms() {
    assert_eq!(upstream("1:9.18.49-1~deb12u3"), "9.18.49");
    assert_eq!(upstream("3.5.0+ds1-0+deb12u1"), "3.5.0");
    assert_eq!(upstream("2022.83-1+deb12u3"), "2022.83");
    assert!(version_ok("9.18.49", "9.18.49"));
    assert!(version_ok("7.1", "7.1.1"));
    assert!(version_ok("9.18.49-1~deb12u3-Debian", "9.18.49"));
    assert!(!version_ok("9.18.4", "9.18.49"));
    assert!(!version_ok("9.18.491", "9.18.49"));
    assert!(!version_ok("2.4.71", "7.1.1"));
    assert!(!version_ok("", "7.1.1"));
}

/// What one report claims about a port.
struct Claim {
    name: Option<String>,
    detected: bool,
    product: Option<String>,
    version: Option<String>,
    flagged: bool,
}

fn claim_of_service(r: &Value) -> Claim {
    let s = |k: &str| r[k].as_str().map(str::to_string);
    let conf = r["confidence"].as_str().unwrap_or("");
    Claim {
        name: s("name"),
        detected: conf == "matched" || conf == "soft",
        product: s("product"),
        version: s("version"),
        flagged: r["findings"].as_array().is_some_and(|f| !f.is_empty()),
    }
}

/// Judges claims against the table; returns (problems, named right, versions right, open flagged).
fn judge(
    rows: &[Row],
    claims: &HashMap<(u16, String), Claim>,
    tool: &str,
) -> (Vec<String>, usize, usize, usize, String) {
    let mut problems = Vec::new();
    let (mut named, mut versions, mut flagged) = (0, 0, 0);
    let mut table = String::new();
    for row in rows {
        let Some(c) = claims.get(&(row.port, row.proto.clone())) else {
            problems.push(format!(
                "{tool}: {}: no report for {}/{}",
                row.id, row.port, row.proto
            ));
            continue;
        };
        let known = |what: &str| {
            KNOWN_WRONG
                .iter()
                .any(|(id, w, _)| *id == row.id && *w == what)
        };
        let mut fail = |what: &str, msg: String| {
            if known(what) {
                eprintln!("known wrong ({tool}): {msg}");
            } else {
                problems.push(format!("{tool}: {msg}"));
            }
        };
        let name = c.name.clone().unwrap_or_default().to_lowercase();
        let name_ok = c.detected && row.names.contains(&name);
        if c.detected && !name_ok {
            fail(
                "name",
                format!(
                    "{}: named {name:?} as detected, expected {:?}",
                    row.id, row.names
                ),
            );
        }
        if name_ok {
            named += 1;
            if let (Some(want), Some(got)) = (&row.product, &c.product) {
                if !got.to_lowercase().contains(&want.to_lowercase()) {
                    fail(
                        "product",
                        format!("{}: product {got:?}, expected {want:?}", row.id),
                    );
                }
            }
        }
        if let Some(v) = &c.version {
            let want = package_version(&row.package).unwrap_or_default();
            if version_ok(v, &want) {
                versions += 1;
            } else {
                fail(
                    "version",
                    format!(
                        "{}: version {v:?}, package {} is {want:?}",
                        row.id, row.package
                    ),
                );
            }
        }
        if c.flagged && !row.open {
            fail(
                "open",
                format!(
                    "{}: flagged open access, but it requires credentials",
                    row.id
                ),
            );
        }
        if c.flagged && row.open {
            flagged += 1;
        }
        if row.open && !c.flagged && CHECKED_OPEN.contains(&row.id.as_str()) {
            fail("open", format!("{}: configured open, not flagged", row.id));
        }
        table += &format!(
            "{:>5}/{:<3} {:<15} {:<4} {}{} {} {}{}\n",
            row.port,
            row.proto,
            row.id,
            row.half,
            name,
            if c.detected { "" } else { "?" },
            c.product.as_deref().unwrap_or(""),
            c.version.as_deref().unwrap_or(""),
            if c.flagged { " [open]" } else { "" },
        );
    }
    (problems, named, versions, flagged, table)
}

fn setup() -> Option<(ScriptLab, Vec<Row>)> {
    if !is_root() {
        skip_or_fail("needs root (network namespaces, daemons on system ports)");
        return None;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        skip_or_fail("`ip` (iproute2) is not installed");
        return None;
    }
    let pid = std::process::id();
    let lab = ScriptLab::up(
        "service-lab2.sh",
        format!("plsl2-{pid}"),
        format!("/tmp/plsl2-{pid}"),
    );
    let skipped = std::fs::read_to_string(format!("{}/skipped.txt", lab.dir)).unwrap_or_default();
    for line in skipped.lines() {
        // A daemon that is installed but did not come up is a broken lab: always fail.
        assert!(line.contains("not installed"), "lab daemon failed: {line}");
        skip_or_fail(line);
    }
    let rows = parse_table(&std::fs::read_to_string(format!("{}/up.tsv", lab.dir)).unwrap());
    if rows.len() < 25 {
        skip_or_fail(&format!("only {} lab ports came up (goal: 25)", rows.len()));
        return None;
    }
    Some((lab, rows))
}

#[test]
fn new_daemons_claims_are_right_and_coverage_holds() {
    let Some((lab, rows)) = setup() else { return };
    let targets: Vec<String> = rows
        .iter()
        .map(|r| match r.proto.as_str() {
            "udp" => format!("127.0.0.1:{}/udp", r.port),
            _ => format!("127.0.0.1:{}", r.port),
        })
        .collect();
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns,
            env!("CARGO_BIN_EXE_portolan"),
            "service",
            "--json",
        ])
        .args(["--proxy-target", "127.0.0.1:8030"])
        .args(&targets)
        .output_ok();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut claims = HashMap::new();
    for l in stdout.lines() {
        let r: Value = serde_json::from_str(l).unwrap();
        assert_eq!(r["schema_version"], 1, "{r}");
        let addr: std::net::SocketAddr = r["addr"].as_str().unwrap().parse().unwrap();
        let proto = r["transport"].as_str().unwrap().to_string();
        claims.insert((addr.port(), proto), claim_of_service(&r));
    }
    udp_scan_sv(&lab, &rows);
    let (problems, named, versions, flagged, table) = judge(&rows, &claims, "service");
    for half in ["dev", "held"] {
        let part: Vec<Row> = rows.iter().filter(|r| r.half == half).cloned().collect();
        let (_, n, v, f, _) = judge(&part, &claims, "service");
        eprintln!("service lab 2 [{half}]: {} ports, {n} named right, {v} versions right, {f} open flagged", part.len());
    }
    eprintln!("service lab 2: {} ports\n{table}", rows.len());
    assert!(problems.is_empty(), "{problems:#?}\n{table}");
    assert!(
        named >= MIN_NAMED,
        "named right: {named} < {MIN_NAMED}\n{table}"
    );
    assert!(
        versions >= MIN_VERSIONS,
        "versions right: {versions} < {MIN_VERSIONS}\n{table}"
    );
    assert!(
        flagged >= MIN_OPEN_FLAGGED,
        "open flagged: {flagged} < {MIN_OPEN_FLAGGED}\n{table}"
    );
}

/// `scan --udp -sV` (issue 19, UDP): silent (open|filtered) UDP ports are probed too and an
/// answer makes them open (reason udp-response); a port that answered the scan keeps its reason
/// and is never said to have answered no UDP probe.
fn udp_scan_sv(lab: &ScriptLab, rows: &[Row]) {
    let udp: Vec<&Row> = rows.iter().filter(|r| r.proto == "udp").collect();
    let ports: Vec<String> = udp.iter().map(|r| r.port.to_string()).collect();
    let out_file = format!("{}/udp-sv.jsonl", lab.dir);
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns,
            env!("CARGO_BIN_EXE_portolan"),
            "scan",
            "127.0.0.1",
        ])
        .args(["--udp", "-sV", "-q", "--no-store", "-p", &ports.join(",")])
        .args(["-o", &format!("jsonl={out_file}")])
        .output_ok();
    let text = std::fs::read_to_string(&out_file).unwrap();
    let mut open = HashMap::new();
    for l in text.lines() {
        let r: Value = serde_json::from_str(l).unwrap();
        if r["type"] == "port" && r["state"] == "open" {
            open.insert(r["port"].as_u64().unwrap() as u16, r);
        }
    }
    let mut problems = Vec::new();
    for r in &open {
        let notes = r.1["service"]["details"]["notes"].to_string();
        if notes.contains("no UDP probe was answered") {
            problems.push(format!("{}/udp is open, yet its notes say {notes}", r.0));
        }
        if r.1["reason"] != "udp-response" {
            problems.push(format!("{}/udp open with reason {}", r.0, r.1["reason"]));
        }
    }
    // The DNS servers stay silent to the scan's datagram on a non-standard port; their answer to
    // the DNS service probe proves them open.
    for row in udp
        .iter()
        .filter(|r| r.names.contains(&"domain".to_string()))
    {
        match open.get(&row.port) {
            None => problems.push(format!(
                "{}: {}/udp answers DNS but is not reported open after -sV",
                row.id, row.port
            )),
            Some(r) => {
                if r["service"]["name"] != "domain" || r["service"]["method"] != "probed" {
                    problems.push(format!("{}: service {}", row.id, r["service"]));
                }
            }
        }
    }
    // rpcbind answers the scan's own datagram: open from the scan, and -sV keeps that.
    if let Some(row) = udp.iter().find(|r| r.id == "rpcbind-udp") {
        if !open.contains_key(&row.port) {
            problems.push(format!("rpcbind-udp: {}/udp not open", row.port));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}\n{text}");
}
