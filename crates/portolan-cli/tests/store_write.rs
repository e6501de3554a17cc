//! `local` audits and `detect` alerts saved to the result store from the command line, on the
//! default SQLite store and (with `--store URL`) on a fresh PostgreSQL database of the test
//! server (`PORTOLAN_TEST_PG`; skipped with a message outside CI when unset): `local` saves each
//! audit unless `--no-store`; `local --baseline-from-store` reports exactly the listener that
//! stopped and the one that started since the last stored audit (lab, root); `detect` saves its
//! alerts, `portolan alerts` lists them, and `--new-sources-since` leaves out the sources
//! already alerted on; another user's store is skipped with a note, or refused when named with
//! `--store` (root). Every test has its own data directory (`PORTOLAN_DATA_DIR`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

#[path = "../../portolan-store/tests/backends/mod.rs"]
mod backends;
mod common;

use std::process::{Command, Stdio};

use serde_json::Value;

/// Where one run of a test keeps its store: the default SQLite store in its own data
/// directory, or a PostgreSQL database given with `--store URL`.
struct Ctx {
    data: tempfile::TempDir,
    pg: Option<backends::Backend>,
}

impl Ctx {
    fn name(&self) -> &str {
        if self.pg.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }
    /// `ARGS` and this store's `--store` (PostgreSQL) to a command with the data directory set.
    fn args(&self, mut c: Command, args: &[&str]) -> Command {
        c.env("PORTOLAN_DATA_DIR", self.data.path()).args(args);
        if let Some(pg) = &self.pg {
            c.args(["--store", &pg.spec]);
        }
        c
    }
    /// `portolan ARGS` against this store.
    fn cmd(&self, args: &[&str]) -> Command {
        self.args(common::portolan_command(), args)
    }
}

fn each_store(mut f: impl FnMut(&Ctx)) {
    f(&Ctx {
        data: tempfile::tempdir().unwrap(),
        pg: None,
    });
    if let Some(pg) = backends::postgres() {
        f(&Ctx {
            data: tempfile::tempdir().unwrap(),
            pg: Some(pg),
        });
    }
}

fn run(mut c: Command) -> (i32, String, String) {
    let o = c.stdin(Stdio::null()).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(c: Command) -> (String, String) {
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    (out, err)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn detect_saves_its_alerts_and_new_sources_since_leaves_known_sources_out() {
    each_store(|ctx| {
        let pcap = ctx.data.path().join("scan.pcap");
        common::write_scan_pcap(&pcap);
        let pcap = pcap.display().to_string();
        ok(ctx.cmd(&["detect", &pcap, "--format", "json"]));

        let (out, _) = ok(ctx.cmd(&["alerts", "--format", "json"]));
        let v = json(&out);
        assert_eq!(v["schema_version"], 1);
        let alerts = v["alerts"].as_array().unwrap();
        assert!(!alerts.is_empty(), "{}: {out}", ctx.name());
        assert!(alerts.iter().all(|a| a["src"] == "198.51.100.7"), "{out}");
        // Each kept whole, as its EVE object.
        assert_eq!(alerts[0]["eve"]["src_ip"], "198.51.100.7", "{out}");
        let first_run = alerts.len();

        // Again, leaving out the sources alerted on in the last day: nothing is new.
        let (out, err) = ok(ctx.cmd(&[
            "detect",
            &pcap,
            "--format",
            "json",
            "--new-sources-since",
            "1d",
            "--fail-on",
            "low",
        ]));
        assert!(out.trim().is_empty(), "{}: {out}", ctx.name());
        assert!(err.contains("were left out"), "{err}");
        let (out, _) = ok(ctx.cmd(&["alerts", "--runs", "--format", "json"]));
        let runs = json(&out)["runs"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 2, "{out}");
        assert!(runs.iter().all(|r| r["status"] == "done"), "{out}");
        assert_eq!(runs[0]["alerts"], first_run as u64, "{out}");
        assert_eq!(runs[1]["alerts"], 0, "{out}");
        assert!(runs[0]["source"].as_str().unwrap().ends_with("scan.pcap"));

        // By source, and the table.
        let (out, _) = ok(ctx.cmd(&["alerts", "--src", "203.0.113.1", "--format", "json"]));
        assert!(json(&out)["alerts"].as_array().unwrap().is_empty(), "{out}");
        let (out, _) = ok(ctx.cmd(&["alerts"]));
        assert!(out.contains("198.51.100.7 -> 192.0.2.10"), "{out}");
    });
}

#[test]
fn detect_new_sources_since_needs_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("scan.pcap");
    common::write_scan_pcap(&pcap);
    let mut c = common::portolan_command();
    c.args(["detect", "--new-sources-since", "1d", "--no-store"])
        .arg(&pcap);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    // The default store out of reach (the tests' PORTOLAN_DATA_DIR points nowhere).
    let mut c = common::portolan_command();
    c.args(["detect", "--new-sources-since", "1d"]).arg(&pcap);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--new-sources-since needs the result store"),
        "{err}"
    );
}

#[test]
fn local_saves_each_audit_unless_told_not_to() {
    each_store(|ctx| {
        ok(ctx.cmd(&["local", "--json"]));
        ok(ctx.cmd(&["local", "--json"]));
        let (out, _) = ok(ctx.cmd(&["audits", "--format", "json"]));
        let v = json(&out);
        let audits = v["audits"].as_array().unwrap();
        assert_eq!(audits.len(), 2, "{}: {out}", ctx.name());
        let id = audits[1]["id"].as_i64().unwrap().to_string();
        // One audit's whole report, as `local --format json` printed it.
        let (out, _) = ok(ctx.cmd(&["audits", "--show", &id]));
        let report = json(&out);
        assert_eq!(report["schema"], "portolan.local/1", "{out}");
        assert_eq!(report["host"], audits[1]["host"], "{out}");
    });
    // --no-store: no store is created.
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::portolan_command();
    c.env("PORTOLAN_DATA_DIR", dir.path())
        .args(["local", "--json", "--no-store"]);
    ok(c);
    assert!(!dir.path().join("portolan.db").exists());
}

#[test]
fn a_store_this_user_may_only_read_is_skipped_with_a_note_or_refused_with_store() {
    // Another user's store (root's, in WAL mode with its WAL left, as a scan leaves it) run as
    // nobody: SQLite opens it for reading without an error; saving would fail at its first
    // write, after the audit. Needs root (to become nobody); CI runs as root.
    if !common::is_root() {
        assert!(!common::in_ci(), "needs root under CI");
        eprintln!("skipped: needs root (setpriv to nobody)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let bin = dir.path().join("portolan");
    std::fs::copy(assert_cmd::cargo::cargo_bin("portolan"), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.path(), &data] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut c = Command::new(&bin);
    c.env("PORTOLAN_DATA_DIR", &data)
        .args(["scan", "127.0.0.1", "-p", "1-20"]);
    ok(c);
    let db = data.join("portolan.db");
    assert!(
        data.join("portolan.db-wal").exists(),
        "the scan left its WAL"
    );
    let as_nobody = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin)
            .args(args)
            .env("PORTOLAN_DATA_DIR", &data);
        run(c)
    };
    // The default store: the audit is printed, and a note says why it is not saved.
    let (code, out, err) = as_nobody(&["local", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["schema"], "portolan.local/1");
    assert!(
        err.contains("not saved to the result store") && err.contains("read-only for this user"),
        "{err}"
    );
    // Named with --store: an error that says what to do, before anything is done.
    let (code, out, err) = as_nobody(&["local", "--json", "--store", db.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("read-only for this user") && err.contains("--no-store"),
        "{err}"
    );
    // Reading it is fine, and nothing was added.
    let (code, out, err) = as_nobody(&["audits", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["audits"].as_array().unwrap().len(), 0, "{out}");
}

const LISTENER: &str = "import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(); time.sleep(600)";

fn local_json(lab: &common::lab::Lab, ctx: &Ctx, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["local", "--json"];
    args.extend_from_slice(extra);
    let c = ctx.args(lab.cmd(assert_cmd::cargo::cargo_bin("portolan")), &args);
    let (out, err) = ok(c);
    (json(&out), err)
}

fn tcp_ports(v: &Value) -> Vec<u64> {
    let mut p: Vec<u64> = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["protocol"] == "tcp")
        .map(|s| s["port"].as_u64().unwrap())
        .collect();
    p.sort_unstable();
    p
}

#[test]
fn local_baseline_from_store_reports_what_changed_since_the_last_stored_audit() {
    let Some(mut lab) = common::lab::Lab::new("swbase", &["python3"]) else {
        return;
    };
    each_store(|ctx| {
        let first = lab.spawn("python3", &["-c", LISTENER, "40001"]);
        lab.wait_ports("tcp", &[40001]);
        // The first audit: nothing stored yet, everything is new.
        let (v, err) = local_json(&lab, ctx, &["--baseline-from-store"]);
        assert!(err.contains("no earlier audit"), "{}: {err}", ctx.name());
        assert_eq!(tcp_ports(&v), vec![40001], "{v}");

        lab.stop(first);
        let second = lab.spawn("python3", &["-c", LISTENER, "40002"]);
        lab.wait_ports("tcp", &[40002]);
        let (v, _) = local_json(&lab, ctx, &["--baseline-from-store"]);
        // Exactly the listener that started is new, and the one that stopped went away.
        assert_eq!(tcp_ports(&v), vec![40002], "{}: {v}", ctx.name());
        let removed: Vec<u64> = v["baseline"]["removed_sockets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["protocol"] == "tcp")
            .map(|s| s["port"].as_u64().unwrap())
            .collect();
        assert_eq!(removed, vec![40001], "{v}");
        assert!(
            v["baseline"]["file"].as_str().unwrap().contains("audit 1"),
            "{v}"
        );
        // Nothing changed since: nothing new.
        let (v, _) = local_json(&lab, ctx, &["--baseline-from-store"]);
        assert!(tcp_ports(&v).is_empty(), "{v}");
        lab.stop(second);
    });
}
