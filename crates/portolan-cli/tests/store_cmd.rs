//! The result store from the command line (issue 14), on loopback only: every scan saved by
//! default (or to --store PATH, or not with --no-store); `diff` reports exactly the listener
//! that stopped and the one that started; kill -9 during a scan leaves a store that opens and
//! holds every committed port; two scans writing to one store at once both land whole; a store
//! from a newer Portolan is refused; `scans`, `history`, `hosts`, `ports` read it back.
//! Every test gets its own data directory (`PORTOLAN_DATA_DIR`), never the user's. The diff,
//! kill -9 and concurrent-writer tests run twice: on the default SQLite store, and with
//! `--store URL` on a fresh database of the PostgreSQL test server (`PORTOLAN_TEST_PG`, see
//! `.ci/services/store.sh`; skipped with a message outside CI when unset, a failure under CI).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

#[path = "../../portolan-store/tests/backends/mod.rs"]
mod backends;
mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portolan_store::Store;
use serde_json::Value;

/// `portolan` with `PORTOLAN_DATA_DIR` set to `data`.
fn portolan(data: &Path) -> Command {
    let mut c = common::portolan_command();
    c.env("PORTOLAN_DATA_DIR", data);
    c
}

/// Where one run of a test keeps its store: the default SQLite store in its own data
/// directory, or a PostgreSQL database given with `--store URL`.
struct Ctx {
    data: tempfile::TempDir,
    pg: Option<backends::Backend>,
}

impl Ctx {
    fn path(&self) -> &Path {
        self.data.path()
    }
    /// `portolan ARGS` against this store.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = portolan(self.path());
        c.args(args);
        if let Some(pg) = &self.pg {
            c.args(["--store", &pg.spec]);
        }
        c
    }
    fn open(&self) -> Store {
        match &self.pg {
            Some(pg) => pg.open(),
            None => Store::open_path(&self.path().join("portolan.db")).unwrap(),
        }
    }
    /// Whether the store exists yet (a scan has created it).
    fn exists(&self) -> bool {
        self.pg.is_some() || self.path().join("portolan.db").exists()
    }
}

/// Run `f` on the default SQLite store, then on PostgreSQL when the test server is there.
fn each_store(f: impl Fn(&Ctx)) {
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

fn ok(c: Command) -> String {
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    out
}

fn listen(port: u16) -> TcpListener {
    TcpListener::bind(("127.0.0.1", port)).unwrap()
}

/// Bind `n` listeners on free loopback ports.
fn listeners(n: usize) -> (Vec<TcpListener>, Vec<u16>) {
    let ls: Vec<TcpListener> = (0..n).map(|_| listen(0)).collect();
    let ports = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
    (ls, ports)
}

fn spec(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn scan(ctx: &Ctx, ports: &[u16]) {
    ok(ctx.cmd(&["scan", "127.0.0.1", "-q", "-p", &spec(ports)]));
}

fn scan_with(data: &Path, ports: &[u16], extra: &[&str]) {
    let mut c = portolan(data);
    c.args(["scan", "127.0.0.1", "-q", "-p", &spec(ports)])
        .args(extra);
    ok(c);
}

/// The open ports of a stored scan.
fn stored_open(store: &mut Store, id: i64) -> BTreeSet<u16> {
    store
        .scan(id)
        .unwrap()
        .hosts
        .iter()
        .flat_map(|h| &h.ports)
        .filter(|p| p.state == portolan_model::PortState::Open)
        .map(|p| p.port)
        .collect()
}

#[test]
fn diff_reports_exactly_the_listener_that_stopped_and_the_one_that_started() {
    each_store(|ctx| {
        let (mut ls, ports) = listeners(3);
        let (a, b, c) = (ports[0], ports[1], ports[2]);
        // First scan: a and b listen, c is closed.
        drop(ls.pop());
        scan(ctx, &ports);
        // Stop a, start c; scan again.
        ls.remove(0);
        let _c = listen(c);
        scan(ctx, &ports);

        // Saved to the default store under PORTOLAN_DATA_DIR (or the --store URL).
        let mut store = ctx.open();
        let scans = store.scans().unwrap();
        assert_eq!(scans.len(), 2);
        assert!(scans
            .iter()
            .all(|s| s.status == "done" && s.targets == "127.0.0.1"));
        assert_eq!(stored_open(&mut store, scans[0].id), BTreeSet::from([a, b]));
        assert_eq!(stored_open(&mut store, scans[1].id), BTreeSet::from([b, c]));

        // The default diff: the last two scans of the same targets, exactly two changes.
        let d = ctx.cmd(&["diff", "--format", "json"]);
        let j: Value = serde_json::from_str(&ok(d)).unwrap();
        assert_eq!(j["schema_version"], 1);
        assert_eq!(j["a"]["id"], scans[0].id);
        assert_eq!(j["b"]["id"], scans[1].id);
        let changes: Vec<(u64, String)> = j["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["addr"], "127.0.0.1");
                (
                    c["port"].as_u64().unwrap(),
                    c["change"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut want = vec![
            (a as u64, "removed".to_string()),
            (c as u64, "added".to_string()),
        ];
        want.sort();
        assert_eq!(changes, want);

        // --fail-on-change: 1 when something changed; 0 for a scan against itself.
        let d = ctx.cmd(&["diff", "--fail-on-change"]);
        let (code, out, _) = run(d);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("2 changes: 1 new, 1 gone, 0 changed"), "{out}");
        let (ia, ib) = (scans[0].id.to_string(), scans[1].id.to_string());
        let same = ctx.cmd(&["diff", &ib, &ib, "--fail-on-change"]);
        let (code, out, _) = run(same);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("no change"), "{out}");

        // nmap ndiff's layout: a host line, then - and + port lines.
        let n = ctx.cmd(&["diff", &ia, &ib, "--format", "ndiff"]);
        let out = ok(n);
        assert!(out.contains("\n 127.0.0.1:\n PORT"), "{out}");
        assert!(out.contains(&format!("\n-{a}/tcp ")), "{out}");
        assert!(out.contains(&format!("\n+{c}/tcp ")), "{out}");
        assert_eq!(
            out.lines().filter(|l| l.starts_with(['-', '+'])).count(),
            4,
            "{out}"
        );

        // history: both scans of the host, port by port.
        let h = ctx.cmd(&["history", "127.0.0.1", "--format", "json"]);
        let j: Value = serde_json::from_str(&ok(h)).unwrap();
        let per_scan: Vec<Vec<u64>> = j["scans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["port"].as_u64().unwrap())
                    .collect()
            })
            .collect();
        let sorted = |mut v: Vec<u64>| {
            v.sort();
            v
        };
        assert_eq!(
            per_scan,
            vec![
                sorted(vec![a as u64, b as u64]),
                sorted(vec![b as u64, c as u64])
            ]
        );

        // ports / hosts filters.
        let p = ctx.cmd(&["ports", "127.0.0.0/8", "--port", &b.to_string(), "--json"]);
        let j: Value = serde_json::from_str(&ok(p)).unwrap();
        assert_eq!(j["ports"].as_array().unwrap().len(), 1);
        assert_eq!(j["ports"][0]["scans"], 2);
        let hs = ctx.cmd(&["hosts", "10.0.0.0/8"]);
        assert!(ok(hs).contains("(no host matches)"));
        let hs = ctx.cmd(&["hosts", "--since", "1h", "--format", "json"]);
        let j: Value = serde_json::from_str(&ok(hs)).unwrap();
        assert_eq!(j["hosts"][0]["addr"], "127.0.0.1");

        // scans: list, show, delete, prune.
        let l = ctx.cmd(&["scans"]);
        let out = ok(l);
        assert_eq!(
            out.lines().filter(|l| l.contains("done")).count(),
            2,
            "{out}"
        );
        let s = ctx.cmd(&["scans", "show", &ib]);
        assert!(ok(s).contains(&format!("{c}/tcp")));
        let del = ctx.cmd(&["scans", "delete", &ia]);
        ok(del);
        let del = ctx.cmd(&["scans", "delete", &ia]);
        let (code, _, err) = run(del);
        assert_eq!(code, 2);
        assert!(err.contains(&format!("no scan {ia} in the store")), "{err}");
        let d = ctx.cmd(&["diff"]);
        let (code, _, err) = run(d);
        assert_eq!(code, 2);
        assert!(err.contains("nothing to compare it with"), "{err}");
        let pr = ctx.cmd(&["scans", "prune", "--older-than", "0s"]);
        assert!(ok(pr).contains("deleted 1 scan"));
    });
}

#[test]
fn store_flags_choose_where_the_scan_goes() {
    let data = tempfile::tempdir().unwrap();
    let (_ls, ports) = listeners(2);
    // --no-store: nothing written anywhere.
    scan_with(data.path(), &ports, &["--no-store"]);
    assert!(!data.path().join("portolan.db").exists());
    // --store PATH: that file, not the default.
    let other = data.path().join("team.db");
    scan_with(data.path(), &ports, &["--store", other.to_str().unwrap()]);
    assert!(!data.path().join("portolan.db").exists());
    let mut s = Store::open_path(&other).unwrap();
    assert_eq!(stored_open(&mut s, 1), ports.iter().copied().collect());
    // --store in a directory that does not exist: an error before any packet.
    let mut c = portolan(data.path());
    c.args(["scan", "127.0.0.1", "-p", &spec(&ports), "--store"])
        .arg(data.path().join("missing/dir/s.db"));
    let (code, out, err) = run(c);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(out.is_empty(), "{out}");
    // A PostgreSQL server that is not there: an error before any packet, hiding the password.
    let mut c = portolan(data.path());
    c.args([
        "scan",
        "127.0.0.1",
        "-p",
        "1",
        "--store",
        "postgres://u:pw@%2Fnonexistent%2Fdir:5432/p",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("pw@"), "{err}");
    assert!(out.is_empty(), "{out}");
    // A default store that cannot be created: the scan still runs, with a note.
    let mut c = common::portolan_command();
    c.env("PORTOLAN_DATA_DIR", data.path().join("no/such/parent"))
        .args(["scan", "127.0.0.1", "-q", "-p", &spec(&ports)]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("open"), "{out}");
    assert!(err.contains("not saved to the result store"), "{err}");
    // Reading commands create nothing.
    let empty = tempfile::tempdir().unwrap();
    let mut c = portolan(empty.path());
    c.arg("scans");
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("no result store at"), "{err}");
    assert!(!empty.path().join("portolan.db").exists());
}

#[test]
fn a_store_from_a_newer_portolan_is_refused_with_a_clear_message() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("portolan.db");
    drop(Store::open_path(&db).unwrap());
    // The schema version lives in the SQLite header (user_version, offset 60, big-endian).
    let mut bytes = std::fs::read(&db).unwrap();
    bytes[60..64].copy_from_slice(&((portolan_store::schema::VERSION + 1) as u32).to_be_bytes());
    std::fs::write(&db, bytes).unwrap();
    for args in [&["scans"][..], &["scan", "127.0.0.1", "-p", "1"][..]] {
        let mut c = portolan(data.path());
        c.args(args);
        let (code, _, err) = run(c);
        // The scan with a default store that cannot be used still runs, with the note.
        if args[0] == "scan" {
            assert_eq!(code, 0, "{err}");
        } else {
            assert_eq!(code, 2, "{err}");
        }
        assert!(err.contains("newer than this portolan"), "{err}");
        assert!(err.contains("upgrade portolan"), "{err}");
    }
    let mut c = portolan(data.path());
    c.args(["scan", "127.0.0.1", "-p", "1", "--store"]).arg(&db);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("newer than this portolan"), "{err}");
}

#[test]
fn kill_9_during_a_scan_leaves_a_store_that_opens_with_every_committed_port() {
    each_store(|ctx| {
        let (_ls, ports) = listeners(40);
        let want: BTreeSet<u16> = ports.iter().copied().collect();
        // All 65,535 ports at 2,000/s (about 33 s): open ports are found all along the scan, and
        // the store commits them at least once a second.
        let mut c = ctx.cmd(&["scan", "127.0.0.1", "-q", "-p-", "--max-rate", "2000"]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        let t0 = Instant::now();
        let seen = loop {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the scan committed no port within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
            if !ctx.exists() {
                continue;
            }
            let mut s = ctx.open();
            let Some(info) = s.scans().unwrap().first().cloned() else {
                continue;
            };
            // Other programs' listeners on loopback are found too: wait for three of ours.
            let ours = stored_open(&mut s, info.id).intersection(&want).count();
            if ours >= 3 {
                break (info.ports_stored, ours);
            }
        };
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success(), "the scan finished before it was killed");

        let mut s = ctx.open();
        s.check().unwrap();
        let info = s.scans().unwrap()[0].clone();
        assert_eq!(info.status, "running", "{info:?}");
        assert!(
            info.ports_stored >= seen.0,
            "{} ports stored after the kill, {} seen committed before it",
            info.ports_stored,
            seen.0
        );
        // Other programs' listeners on loopback are found too: count only ours.
        let got = stored_open(&mut s, info.id);
        let mine = got.intersection(&want).count();
        assert!(
            mine >= seen.1 && mine < want.len(),
            "{mine} of our {} listeners stored: the kill came too late or nothing was committed",
            want.len()
        );
        // The list says it never finished; a later scan writes to the same store.
        assert!(ok(ctx.cmd(&["scans"])).contains("running"));
        scan(ctx, &ports);
        let mut s = ctx.open();
        let last = s.latest_scan().unwrap().unwrap();
        assert_eq!(stored_open(&mut s, last.id), want);
    });
}

/// What a scan's JSON Lines output says about each port that is not closed (the last record
/// of a port wins): what its store sink was handed.
fn jsonl_not_closed(path: &Path) -> BTreeSet<(u16, String)> {
    let mut last = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "port" {
            last.insert(
                v["port"].as_u64().unwrap() as u16,
                v["state"].as_str().unwrap().to_string(),
            );
        }
    }
    last.into_iter().filter(|(_, s)| s != "closed").collect()
}

#[test]
fn two_scans_writing_to_one_store_at_once_both_land_whole() {
    each_store(|ctx| {
        let (_l1, p1) = listeners(30);
        let (_l2, p2) = listeners(30);
        let spawn = |ports: &[u16], out: &Path| {
            // Slow enough (3,000 probes at 1,000/s) that the two overlap.
            let ports = format!("{},40000-42969", spec(ports));
            let mut c = ctx.cmd(&[
                "scan",
                "127.0.0.1",
                "-q",
                "--max-rate",
                "1000",
                "-p",
                &ports,
            ]);
            c.arg("-o")
                .arg(format!("jsonl={}", out.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            c.spawn().unwrap()
        };
        let (o1, o2) = (ctx.path().join("1.jsonl"), ctx.path().join("2.jsonl"));
        let (c1, c2) = (spawn(&p1, &o1), spawn(&p2, &o2));
        for c in [c1, c2] {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let mut s = ctx.open();
        let scans = s.scans().unwrap();
        assert_eq!(scans.len(), 2);
        assert!(scans.iter().all(|i| i.status == "done"), "{scans:?}");
        // Each stored scan holds exactly what its scan reported (every port not closed, in the
        // state it ended in), and so every listener of its own.
        let mut stored = |id: i64| -> BTreeSet<(u16, String)> {
            s.scan(id)
                .unwrap()
                .hosts
                .iter()
                .flat_map(|h| &h.ports)
                .map(|p| (p.port, p.state.as_str().to_string()))
                .collect()
        };
        let mut got: Vec<BTreeSet<(u16, String)>> = scans.iter().map(|i| stored(i.id)).collect();
        let (w1, w2) = (jsonl_not_closed(&o1), jsonl_not_closed(&o2));
        // The scans may have started in either order.
        if got[0] != w1 {
            got.swap(0, 1);
        }
        assert_eq!(got[0], w1);
        assert_eq!(got[1], w2);
        for (g, mine) in [(&got[0], &p1), (&got[1], &p2)] {
            for p in mine.iter() {
                assert!(
                    g.contains(&(*p, "open".to_string())),
                    "{p} missing from {g:?}"
                );
            }
        }
    });
}

#[test]
fn nmap_xml_of_a_loopback_host_imports_to_the_open_ports_portolan_finds() {
    if std::process::Command::new("nmap")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        assert!(
            !common::in_ci(),
            "nmap is missing under CI (.ci/apt/scan.txt installs it)"
        );
        eprintln!("skipping: nmap is not installed");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (mut ls, ports) = listeners(6);
    drop(ls.pop()); // one closed port among them
    let xml = data.path().join("nmap.xml");
    // A connect scan: no privilege needed, and loopback only.
    let o = Command::new("nmap")
        .args(["-sT", "-Pn", "-n", "-p", &spec(&ports), "-oX"])
        .arg(&xml)
        .arg("127.0.0.1")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut c = portolan(data.path());
    c.arg("import").arg(&xml).arg("--json");
    let j: Value = serde_json::from_str(&ok(c)).unwrap();
    assert_eq!(j["schema_version"], 1);
    let imported = j["imported"][0]["scan"]["scan_id"].as_i64().unwrap();
    scan_with(data.path(), &ports, &[]);
    let mut s = Store::open_path(&data.path().join("portolan.db")).unwrap();
    let ours = s.latest_scan().unwrap().unwrap().id;
    assert_ne!(ours, imported);
    let want: BTreeSet<u16> = ports[..5].iter().copied().collect();
    assert_eq!(stored_open(&mut s, imported), want);
    assert_eq!(stored_open(&mut s, ours), want);
    assert_eq!(s.scan_info(imported).unwrap().scanner, "nmap");
    // Portolan's own JSON Lines imports too, to the same open ports.
    let jl = data.path().join("p.jsonl");
    scan_with(
        data.path(),
        &ports,
        &["--no-store", "-o", &format!("jsonl={}", jl.display())],
    );
    let mut c = portolan(data.path());
    c.arg("import").arg(&jl);
    let out = ok(c);
    assert!(out.contains("5 ports stored (5 open)"), "{out}");
    let mut s = Store::open_path(&data.path().join("portolan.db")).unwrap();
    let last = s.latest_scan().unwrap().unwrap().id;
    assert_eq!(stored_open(&mut s, last), want);
    // Not a results file: an error that says what is accepted.
    let junk = data.path().join("junk.bin");
    std::fs::write(&junk, b"PK\x03\x04").unwrap();
    let mut c = portolan(data.path());
    c.arg("import").arg(&junk);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(err.contains("not a format portolan imports"), "{err}");
}
