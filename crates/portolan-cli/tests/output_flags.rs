//! The output convention (docs/output.md), command by command, as a table: for every command
//! that prints a report, `--json` prints exactly what `--format json` prints (JSON whose every
//! document or record carries `"schema_version"`), and for every command with `-o`,
//! `-o json=PATH` replaces an existing PATH whole through a rename (a new inode; no temporary
//! file left beside it) with that JSON. Nothing here needs root or the network: the inputs are
//! files written here, a fake `nft`, and a listener on 127.0.0.1.
//!
//! `scan` is in the table for `--json` only: its JSON Lines file is streamed in place (so that a
//! resumed scan can append), not renamed (docs/output.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

mod common;

/// One command line of the table.
struct Case {
    name: &'static str,
    args: Vec<String>,
    /// The command has `-o FMT=PATH`.
    has_o: bool,
    /// Its output changes from one run to the next (live sockets, times): only the shape is
    /// compared, not the bytes.
    volatile: bool,
}

fn case(name: &'static str, args: &[&str], has_o: bool, volatile: bool) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        has_o,
        volatile,
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `portolan ARGS` with its own data directory (the default store lives there).
fn run(data: &Path, args: &[String]) -> std::process::Output {
    common::portolan_command()
        .env("PORTOLAN_DATA_DIR", data)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn ok(c: &Case, data: &Path, extra: &[&str]) -> Vec<u8> {
    let mut args = c.args.clone();
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = run(data, &args);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}: {args:?} failed: {}",
        c.name,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The JSON documents of an output: one document, or JSON Lines; each must carry
/// `"schema_version"`.
fn documents(name: &str, b: &[u8]) -> Vec<serde_json::Value> {
    let text = String::from_utf8(b.to_vec()).unwrap();
    let docs: Vec<serde_json::Value> = match serde_json::from_str(&text) {
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {l}"))
            })
            .collect(),
    };
    assert!(!docs.is_empty(), "{name}: no JSON at all");
    for d in &docs {
        assert_eq!(d["schema_version"], 1, "{name}: {d}");
    }
    docs
}

/// What is compared of a volatile output: each document's keys.
fn shape(docs: &[serde_json::Value]) -> Vec<Vec<String>> {
    docs.iter()
        .map(|d| {
            d.as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        })
        .collect()
}

/// A fake nft for `block list`: the table is not there.
fn fake_nft(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let nft = dir.join("nft");
    std::fs::write(
        &nft,
        "#!/bin/sh\necho 'Error: No such file or directory' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).unwrap();
    nft
}

/// A listener on 127.0.0.1 that greets every connection as an SSH server would.
fn ssh_like() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2p1\r\n");
                let mut b = [0u8; 512];
                let _ = c.read(&mut b);
            });
        }
    });
    port
}

/// Every command of the table, with its inputs made in `dir`.
fn cases(dir: &Path) -> Vec<Case> {
    let fw = repo().join("crates/portolan-firewall/tests");
    let policy = s(&fw.join("policies/example.yaml"));
    let scan = dir.join("s.jsonl");
    std::fs::write(
        &scan,
        concat!(
            r#"{"type":"start","schema_version":1,"v":1,"time":1.0,"scanner":"portolan","version":"0","scan_type":"connect","proto":"tcp","args":"","targets":1,"ports":"22,80","num_ports":2,"seed":1,"shard":"0/1","resumed_from":null}"#,
            "\n",
            r#"{"type":"port","schema_version":1,"v":1,"time":1.0,"addr":"10.20.0.10","port":22,"proto":"tcp","state":"open","reason":"syn-ack","rtt_us":10,"ttl":null}"#,
            "\n",
            r#"{"type":"end","schema_version":1,"v":1}"#,
            "\n"
        ),
    )
    .unwrap();
    let pcap = dir.join("scan.pcap");
    common::write_scan_pcap(&pcap);
    let nft = fake_nft(dir);
    let xml = repo().join("crates/portolan-store/tests/fixtures/nmap-sv.xml");
    let store = dir.join("store.db");
    let vdb = dir.join("v.sqlite3");
    for args in [
        vec!["import".to_string(), s(&xml), "--store".into(), s(&store)],
        vec![
            "vulns".to_string(),
            "import".into(),
            s(&repo().join("crates/portolan-vuln/tests/data")),
            "--db".into(),
            s(&vdb),
        ],
    ] {
        let out = run(dir, &args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let port = ssh_like().to_string();
    let target = format!("127.0.0.1:{port}");
    let (pcap, nft, xml, store, vdb) = (s(&pcap), s(&nft), s(&xml), s(&store), s(&vdb));
    let scan = s(&scan);
    vec![
        case("port", &["port", "22", "53/udp", "ssh"], true, false),
        case("registry show", &["registry", "show"], true, false),
        case("local", &["local"], true, true),
        case(
            "service",
            &["service", &target, "--no-checks", "--probe-wait", "300"],
            true,
            true,
        ),
        case("detect", &["detect", &pcap], true, false),
        case("policy lint", &["policy", "lint", &policy], true, false),
        case(
            "policy check",
            &["policy", "check", &policy, "--scan", &scan],
            true,
            false,
        ),
        case(
            "firewall audit",
            &[
                "firewall",
                "audit",
                "--ruleset",
                &s(&fw.join("rulesets/example.gateway.json")),
                "--policy",
                &policy,
            ],
            true,
            false,
        ),
        case(
            "vulns",
            &[
                "vulns",
                "cpe",
                "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*",
                "--db",
                &vdb,
            ],
            true,
            false,
        ),
        case("block list", &["block", "list", "--nft", &nft], true, false),
        // JSON Lines streamed in place, not renamed (so no -o case); times differ per run.
        case(
            "scan",
            &["scan", "127.0.0.1", "-p", &port, "--no-store", "-q"],
            false,
            true,
        ),
        case("diff", &["diff", &xml, &xml], true, false),
        case("scans", &["scans", "--store", &store], true, false),
        case(
            "history",
            &["history", "192.0.2.1", "--store", &store],
            true,
            false,
        ),
        case("hosts", &["hosts", "--store", &store], true, false),
        case("ports", &["ports", "--store", &store], true, false),
        // Each run imports again (a new scan id): the shape is compared.
        case("import", &["import", &xml, "--store", &store], true, true),
    ]
}

#[test]
fn json_is_format_json_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut failed = Vec::new();
    for c in cases(dir.path()) {
        let a = ok(&c, dir.path(), &["--json"]);
        let b = ok(&c, dir.path(), &["--format", "json"]);
        let (da, db) = (documents(c.name, &a), documents(c.name, &b));
        let same = if c.volatile {
            shape(&da) == shape(&db)
        } else {
            a == b
        };
        if !same {
            failed.push(format!(
                "{}: --json\n{}\n--format json\n{}",
                c.name,
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            ));
        }
        // --json and --format together are refused, not silently reconciled.
        let mut both = c.args.clone();
        both.extend(["--json", "--format", "table"].map(String::from));
        assert_eq!(
            run(dir.path(), &both).status.code(),
            Some(2),
            "{}: --json with --format was accepted",
            c.name
        );
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn o_json_replaces_the_file_whole_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for c in cases(dir.path()).into_iter().filter(|c| c.has_o) {
        let out_dir = dir.path().join(format!("out-{}", c.name.replace(' ', "-")));
        std::fs::create_dir(&out_dir).unwrap();
        let path = out_dir.join("report.json");
        std::fs::write(&path, "an earlier report\n").unwrap();
        let before = std::fs::metadata(&path).unwrap().ino();
        let spec = format!("json={}", path.display());
        let stdout = ok(&c, dir.path(), &["-o", &spec]);
        let written = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&written).contains("an earlier report"),
            "{}: the earlier file was appended to",
            c.name
        );
        let docs = documents(c.name, &written);
        // Renamed over the target, not rewritten in place.
        assert_ne!(
            std::fs::metadata(&path).unwrap().ino(),
            before,
            "{}: written in place",
            c.name
        );
        let left: Vec<String> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["report.json"], "{}: files left beside it", c.name);
        // The file holds what --format json prints; standard output stays the table.
        let printed = ok(&c, dir.path(), &["--format", "json"]);
        if c.volatile {
            assert_eq!(
                shape(&docs),
                shape(&documents(c.name, &printed)),
                "{}",
                c.name
            );
        } else {
            assert_eq!(written, printed, "{}", c.name);
        }
        assert!(
            serde_json::from_slice::<serde_json::Value>(&stdout).is_err() || stdout.is_empty(),
            "{}: -o json=PATH changed standard output to json",
            c.name
        );
    }
}
