//! `portolan diff` between files and between a file and a stored scan: two nmap XML files
//! written by bench/gen-nmap-xml.py with known changes (removed, added, version-changed and
//! state-changed ports; hosts gone down, vanished, new) give exactly those changes — the same
//! set nmap's own ndiff finds, when it is installed — in JSON and in the ndiff-XML layout;
//! a file against the same scan stored gives the same; --fail-on-change, -o, the errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo()
        .join("crates/portolan-store/tests/fixtures")
        .join(name)
}

/// `portolan ARGS` with its own data directory (the default store lives there).
fn portolan(data: &Path, args: &[&str]) -> Output {
    let mut c = common::portolan_command();
    c.env("PORTOLAN_DATA_DIR", data).args(args);
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether python3 runs (the generator and the checker are Python); skip or, under CI, fail.
fn have_python() -> bool {
    if Command::new("python3").arg("-V").output().is_ok() {
        return true;
    }
    assert!(!common::in_ci(), "python3 is needed under CI");
    eprintln!("SKIPPED: python3 is not installed (bench/gen-nmap-xml.py needs it)");
    false
}

struct Pair {
    dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    /// The generator's list of changes (`addr:port/proto` and `addr` lines, sorted).
    changes: String,
}

fn pair(hosts: u32) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, ch) = (
        dir.path().join("a.xml"),
        dir.path().join("b.xml"),
        dir.path().join("changes.txt"),
    );
    let gen = repo().join("bench/gen-nmap-xml.py");
    for (v, out, extra) in [("a", &a, None), ("b", &b, Some(&ch))] {
        let mut c = Command::new("python3");
        c.arg(&gen).arg(hosts.to_string()).arg(v).arg(out);
        if let Some(e) = extra {
            c.arg(e);
        }
        assert!(c.status().unwrap().success());
    }
    let changes = std::fs::read_to_string(&ch).unwrap();
    Pair { dir, a, b, changes }
}

/// The changes as bench/diff-sets.py prints them, from `kind` (ndiff-xml, portolan-json).
fn sets(kind: &str, file: &Path) -> String {
    let o = Command::new("python3")
        .arg(repo().join("bench/diff-sets.py"))
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn two_nmap_files_give_exactly_the_known_changes_as_ndiff_does() {
    if !have_python() {
        return;
    }
    let p = pair(1200);
    let data = p.dir.path().join("data");
    let (a, b) = (p.a.to_str().unwrap(), p.b.to_str().unwrap());
    let xml_out = p.dir.path().join("diff.xml");
    let o = portolan(
        &data,
        &[
            "diff",
            a,
            b,
            "--format",
            "json",
            "--fail-on-change",
            "-o",
            &format!("xml={}", xml_out.display()),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let json_out = p.dir.path().join("diff.json");
    std::fs::write(&json_out, &o.stdout).unwrap();
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["changed"], true);
    assert_eq!(j["a"]["format"], "nmap XML");
    assert!(j["a"]["id"].is_null());
    // Every kind of change is there.
    let kinds: std::collections::BTreeSet<&str> = j["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["change"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["added", "changed", "removed"].into_iter().collect());
    let host_kinds: std::collections::BTreeSet<(String, String)> = j["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["before"].to_string(), h["after"].to_string()))
        .collect();
    assert_eq!(
        host_kinds,
        [
            ("\"up\"".to_string(), "\"down\"".to_string()),
            ("\"up\"".to_string(), "null".to_string()),
            ("null".to_string(), "\"up\"".to_string())
        ]
        .into_iter()
        .collect()
    );
    // Exactly the generator's changes, in JSON and in the ndiff-XML layout (read back by the
    // same independent parser that reads ndiff's own XML).
    assert_eq!(sets("portolan-json", &json_out), p.changes);
    assert_eq!(sets("ndiff-xml", &xml_out), p.changes);
    // Two files: no store is created.
    assert!(!data.join("portolan.db").exists());

    // nmap's ndiff finds the same set.
    if common::lab::have("ndiff") {
        let nd = Command::new("ndiff")
            .args(["--xml", a, b])
            .output()
            .unwrap();
        let nd_out = p.dir.path().join("ndiff.xml");
        std::fs::write(&nd_out, &nd.stdout).unwrap();
        assert_eq!(sets("ndiff-xml", &nd_out), p.changes);
    } else {
        assert!(
            !common::in_ci(),
            "ndiff is needed under CI (.ci/apt/store-read.txt)"
        );
        eprintln!("SKIPPED the ndiff comparison: ndiff is not installed");
    }

    // A file against itself: nothing, exit 0.
    let o = portolan(&data, &["diff", a, a, "--fail-on-change"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("no change"), "{}", text(&o.stdout));

    // The text layouts: the table's summary, ndiff's host and port lines.
    let o = portolan(&data, &["diff", a, b]);
    let t = text(&o.stdout);
    assert!(t.contains("host down (was up)"), "{t}");
    assert!(t.contains("host not listed (was up)"), "{t}");
    assert!(t.contains("host up (was not listed)"), "{t}");
    assert!(t.contains("  ~ 22/tcp      open           ssh"), "{t}");
    let o = portolan(&data, &["diff", a, b, "--format", "ndiff"]);
    let t = text(&o.stdout);
    assert!(t.starts_with("-Nmap 7.93 scan initiated"), "{t}");
    assert!(t.contains("\n 10.0.0.1:\n PORT"), "{t}");
    assert!(t.contains("\n-80/tcp      open           http"), "{t}");
    assert!(t.contains("\n+10.200.0.0:\n+Host is up.\n"), "{t}");
}

#[test]
fn a_file_against_a_stored_scan() {
    if !have_python() {
        return;
    }
    let p = pair(600);
    let data = p.dir.path().join("data");
    let (a, b) = (p.a.to_str().unwrap(), p.b.to_str().unwrap());
    let o = portolan(&data, &["import", a, "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = j["imported"][0]["scan"]["scan_id"]
        .as_i64()
        .unwrap()
        .to_string();
    for (old, new) in [(id.as_str(), b), ("latest", b)] {
        let o = portolan(&data, &["diff", old, new, "--json"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out = p.dir.path().join("d.json");
        std::fs::write(&out, &o.stdout).unwrap();
        // The stored scan keeps what the file listed: the same changes as file against file.
        assert_eq!(sets("portolan-json", &out), p.changes, "{old} {new}");
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["a"]["id"].to_string(), id);
        assert_eq!(j["b"]["file"], b);
    }
    // The other way round: the file first, the stored scan second, mirrored.
    let o = portolan(&data, &["diff", a, &id, "--fail-on-change"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("no change"));
}

#[test]
fn masscan_and_zmap_files_compare_with_each_other() {
    let data = tempfile::tempdir().unwrap();
    let m = fixture("masscan.json");
    let z = fixture("zmap-fields.csv");
    let o = portolan(
        data.path(),
        &["diff", m.to_str().unwrap(), z.to_str().unwrap(), "--json"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let j: Value = serde_json::from_slice(&o.stdout).unwrap();
    let got: Vec<(String, u64, String)> = j["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["addr"].as_str().unwrap().to_string(),
                c["port"].as_u64().unwrap(),
                c["change"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // masscan saw 22 and 80 open on .1 and .2; ZMap saw 80 open on .0 to .3.
    let want: Vec<(String, u64, String)> = [
        ("10.77.0.0", 80, "added"),
        ("10.77.0.1", 22, "removed"),
        ("10.77.0.2", 22, "removed"),
        ("10.77.0.3", 80, "added"),
    ]
    .into_iter()
    .map(|(a, p, c)| (a.to_string(), p, c.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(j["a"]["format"], "masscan JSON");
    assert_eq!(j["b"]["format"], "ZMap CSV");
    // masscan's two output formats of the same scan: no change.
    let o = portolan(
        data.path(),
        &[
            "diff",
            m.to_str().unwrap(),
            fixture("masscan.lst").to_str().unwrap(),
            "--fail-on-change",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
}

#[test]
fn operands_that_cannot_work_say_what_to_write() {
    let data = tempfile::tempdir().unwrap();
    let m = fixture("masscan.json");
    // One file alone.
    let o = portolan(data.path(), &["diff", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("portolan diff latest"),
        "{}",
        text(&o.stderr)
    );
    // A missing file.
    let o = portolan(data.path(), &["diff", "nope.xml", m.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("cannot open nope.xml"),
        "{}",
        text(&o.stderr)
    );
    // Not a results file.
    let junk = data.path().join("junk.bin");
    std::fs::write(&junk, b"PK\x03\x04").unwrap();
    let o = portolan(
        data.path(),
        &["diff", junk.to_str().unwrap(), m.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("not a format portolan imports or compares"));
    // A number is a scan id, even when a file has that name: the message says ./N.
    std::fs::write(data.path().join("57"), std::fs::read(&m).unwrap()).unwrap();
    let mut c = common::portolan_command();
    c.env("PORTOLAN_DATA_DIR", data.path())
        .current_dir(data.path())
        .args(["diff", "57", m.to_str().unwrap()]);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("write ./57"),
        "{}",
        text(&o.stderr)
    );
    let mut c = common::portolan_command();
    c.env("PORTOLAN_DATA_DIR", data.path())
        .current_dir(data.path())
        .args(["diff", "./57", m.to_str().unwrap(), "--fail-on-change"]);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}
