//! `portolan local` against real listeners in a fresh network namespace: a Python listener,
//! socat, and real Debian daemons (redis-server, nginx, memcached). Checks that every socket
//! is listed with the right process, that exactly the expected findings appear, that the
//! listing agrees with `ss -H -tulpn`, that SARIF output validates against the SARIF 2.1.0
//! schema, and that baselines report only what changed.
//!
//! Root is needed (`ip netns add`); without it the tests skip with a message, except under
//! CI=true where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::lab::{children, euid, skip_or_fail, wait_until, Lab};
use serde_json::Value;

fn portolan_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("portolan")
}

fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

const PY_LISTENER: &str = "
import socket, time
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('127.0.0.1', 40000)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 5000))
while True: time.sleep(3600)
";

struct Pids {
    redis: u32,
    nginx: u32,
    memcached: u32,
    python: u32,
    socat: u32,
}

fn nginx_conf(lab: &Lab) -> PathBuf {
    let d = lab.dir.path().display().to_string();
    let conf = format!(
        "daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log;
user nobody nogroup;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 80;
    listen 8081;
    listen [::]:8082 ipv6only=off;
    return 200 \"portolan lab\\n\";
  }}
}}
"
    );
    let p = lab.path("nginx.conf");
    std::fs::write(&p, conf).unwrap();
    p
}

/// `setpriv` arguments that run the rest of the command line as nobody:nogroup.
const AS_NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/// `setpriv` arguments: [`AS_NOBODY`], then `cmd`.
fn as_nobody<'a>(cmd: &[&'a str]) -> Vec<&'a str> {
    let mut args = AS_NOBODY.to_vec();
    args.extend_from_slice(cmd);
    args
}

/// redis-server as nobody on `port` of every address, no persistence; its pid.
fn spawn_redis(lab: &mut Lab, port: u16) -> u32 {
    let dir = lab.dir.path().display().to_string();
    let port = port.to_string();
    lab.spawn(
        "setpriv",
        &as_nobody(&[
            "redis-server",
            "--port",
            &port,
            "--bind",
            "0.0.0.0",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--dir",
            &dir,
            "--logfile",
            "",
        ]),
    )
}

const TOOLS: &[&str] = &["redis-server", "nginx", "memcached", "socat", "setpriv"];

fn start_all(lab: &mut Lab) -> Pids {
    let dir = lab.dir.path().display().to_string();
    let redis = spawn_redis(lab, 6379);
    let conf = nginx_conf(lab).display().to_string();
    let err = lab.path("nginx-error.log").display().to_string();
    let nginx = lab.spawn("nginx", &["-e", &err, "-p", &dir, "-c", &conf]);
    let memcached = lab.spawn(
        "memcached",
        &[
            "-u", "nobody", "-l", "0.0.0.0", "-p", "11211", "-U", "11211", "-t", "1",
        ],
    );
    let python = lab.spawn(python(), &["-c", PY_LISTENER]);
    let socat = lab.spawn(
        "socat",
        &[
            "TCP-LISTEN:2323,bind=127.0.0.1,reuseaddr,fork",
            "EXEC:/bin/cat",
        ],
    );
    lab.wait_ports("tcp", &[6379, 80, 8081, 8082, 11211, 40000, 2323]);
    lab.wait_ports("udp", &[5000, 11211]);
    // Daemons that start as root settle first: memcached drops to nobody, the nginx master
    // forks its worker, which drops to nobody. Only then is the listing deterministic.
    wait_until("memcached to drop to nobody", || {
        euid(memcached) == Some(65534)
    });
    wait_until("an nginx worker running as nobody", || {
        children(nginx).iter().any(|&c| euid(c) == Some(65534))
    });
    Pids {
        redis,
        nginx,
        memcached,
        python,
        socat,
    }
}

fn local_json(lab: &Lab, extra: &[&str]) -> Value {
    let mut args = vec!["local", "--json"];
    args.extend_from_slice(extra);
    let out = lab.run(portolan_bin(), &args);
    assert!(
        out.status.success(),
        "portolan local failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `tcp 0.0.0.0:6379`-style key of a socket entry of the JSON report.
fn key(v: &Value) -> String {
    let addr = v["address"].as_str().unwrap();
    let host = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    };
    format!("{} {}:{}", v["protocol"].as_str().unwrap(), host, v["port"])
}

/// The [`key`]s of a JSON array of socket entries.
fn socket_keys(list: &Value) -> BTreeSet<String> {
    list.as_array().unwrap().iter().map(key).collect()
}

/// (rule, endpoint) of each entry of a JSON array of findings.
fn rule_endpoints(list: &Value) -> BTreeSet<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["endpoint"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding_keys(report: &Value) -> BTreeSet<(String, String)> {
    rule_endpoints(&report["findings"])
}

fn strings(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Validate a JSON document with Python's jsonschema (an independent parser and validator)
/// against a schema file given relative to the workspace root.
pub fn validate_json(schema: &str, text: &[u8], dir: &std::path::Path) {
    let ok = std::process::Command::new(python())
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip_or_fail("JSON schema validation: Python module jsonschema is missing (apt install python3-jsonschema)");
        return;
    }
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(schema);
    let doc = dir.join("doc.json");
    std::fs::write(&doc, text).unwrap();
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))\n\
             jsonschema.validators.validator_for(schema)(schema).validate(doc)",
        ])
        .arg(&schema)
        .arg(&doc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "document does not validate against {}: {}{}",
        schema.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const SARIF_SCHEMA: &str = "crates/portolan-audit/tests/data/sarif-schema-2.1.0.json";
const LOCAL_SCHEMA: &str = "docs/schema/local.schema.json";

#[test]
fn lab_lists_every_socket_with_process_and_exact_findings() {
    let Some(mut lab) = Lab::new("findings", TOOLS) else {
        return;
    };
    let p = start_all(&mut lab);
    let report = local_json(&lab, &[]);
    assert_eq!(report["schema"], "portolan.local/1");
    assert_eq!(report["source"], "netlink");

    // Every socket, with the right process (name, pid, user).
    let expected: BTreeMap<&str, (&str, u32, &str)> = BTreeMap::from([
        ("tcp 0.0.0.0:6379", ("redis-server", p.redis, "nobody")),
        ("tcp 0.0.0.0:80", ("nginx", p.nginx, "root")),
        ("tcp 0.0.0.0:8081", ("nginx", p.nginx, "root")),
        ("tcp [::]:8082", ("nginx", p.nginx, "root")),
        ("tcp 0.0.0.0:11211", ("memcached", p.memcached, "nobody")),
        ("udp 0.0.0.0:11211", ("memcached", p.memcached, "nobody")),
        ("tcp 127.0.0.1:40000", ("python3", p.python, "root")),
        ("udp 0.0.0.0:5000", ("python3", p.python, "root")),
        ("tcp 127.0.0.1:2323", ("socat", p.socat, "root")),
    ]);
    let sockets = report["sockets"].as_array().unwrap();
    let listed = socket_keys(&report["sockets"]);
    let want: BTreeSet<String> = expected.keys().map(|k| k.to_string()).collect();
    assert_eq!(listed, want, "socket list differs");
    for s in sockets {
        let k = key(s);
        let (name, pid, user) = expected[k.as_str()];
        let procs = s["processes"].as_array().unwrap();
        let holder = procs
            .iter()
            .find(|pr| pr["pid"] == pid)
            .unwrap_or_else(|| panic!("{k}: pid {pid} not among {procs:?}"));
        assert!(
            holder["name"].as_str().unwrap().starts_with(name),
            "{k}: {holder}"
        );
        assert_eq!(holder["user"], user, "{k}: {holder}");
        assert!(holder["fd"].as_u64().unwrap() > 0);
        assert!(!holder["cmdline"].as_str().unwrap().is_empty());
        assert!(procs
            .iter()
            .all(|pr| pr["name"].as_str().unwrap().starts_with(name)));
    }
    // nginx: the master (root) and its worker (nobody) share the listening sockets.
    let by_key = |k: &str| sockets.iter().find(|s| key(s) == k).unwrap();
    let ng = by_key("tcp 0.0.0.0:8081");
    let users: BTreeSet<&str> = ng["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, BTreeSet::from(["nobody", "root"]));
    let dual = by_key("tcp [::]:8082");
    assert_eq!(dual["v6only"], false);
    assert_eq!(dual["dual_stack"], true);
    let redis = by_key("tcp 0.0.0.0:6379");
    assert_eq!(redis["service"], "redis");
    assert_eq!(redis["exposure"], "all");

    // Exactly the expected findings.
    let want = set(&[
        ("exposed-database", "tcp 0.0.0.0:6379"),
        ("exposed-database", "tcp 0.0.0.0:11211"),
        ("exposed-risky-service", "udp 0.0.0.0:11211"),
        ("root-unprivileged-port", "tcp 0.0.0.0:8081"),
        ("root-unprivileged-port", "tcp [::]:8082"),
        ("dual-stack", "tcp [::]:8082"),
        ("ephemeral-port", "tcp 127.0.0.1:40000"),
        ("root-unprivileged-port", "udp 0.0.0.0:5000"),
    ]);
    assert_eq!(finding_keys(&report), want);
    for f in report["findings"].as_array().unwrap() {
        assert!(!f["evidence"].as_str().unwrap().is_empty());
        assert!(!f["remediation"].as_str().unwrap().is_empty());
        assert!(f["sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_str().unwrap().starts_with("https://")));
    }
    let redis_f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["endpoint"] == "tcp 0.0.0.0:6379")
        .unwrap();
    assert_eq!(redis_f["severity"], "high");
    assert_eq!(redis_f["risk"], "redis");
    assert_eq!(report["summary"]["sockets"], 9);

    // The JSON validates against the documented schema.
    let raw = lab.run(portolan_bin(), &["local", "--json"]);
    validate_json(LOCAL_SCHEMA, &raw.stdout, lab.dir.path());

    // Unprivileged: sockets of other users' processes are listed without a process, and said.
    let bin = lab.path("portolan");
    std::fs::copy(portolan_bin(), &bin).unwrap();
    let bin = bin.to_str().unwrap();
    let out = lab.run("setpriv", &as_nobody(&[bin, "local", "--json"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unpriv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed_unpriv = socket_keys(&unpriv["sockets"]);
    assert_eq!(
        listed_unpriv, listed,
        "an unprivileged run still lists every socket"
    );
    assert_eq!(unpriv["complete_processes"], false);
    assert!(
        unpriv["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("run as root")),
        "{}",
        unpriv["notes"]
    );
    for s in unpriv["sockets"].as_array().unwrap() {
        let pids: Vec<u64> = s["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap())
            .collect();
        match key(s).as_str() {
            // redis runs as nobody from the start: its descriptors are ours to read.
            "tcp 0.0.0.0:6379" => assert_eq!(pids, vec![u64::from(p.redis)]),
            // the Python listener runs as root: not visible.
            "tcp 127.0.0.1:40000" | "udp 0.0.0.0:5000" => assert!(pids.is_empty(), "{s}"),
            _ => {}
        }
    }
    let out = lab.run("setpriv", &as_nobody(&[bin, "local", "--color", "never"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("could not be inspected"));

    // The /proc/net fallback lists the same sockets.
    let via_proc = local_json(&lab, &["--source", "proc"]);
    let listed_proc = socket_keys(&via_proc["sockets"]);
    assert_eq!(listed_proc, listed);
    assert_eq!(via_proc["source"], "proc");

    // Table output names the processes.
    let out = lab.run(portolan_bin(), &["local", "--color", "never"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("redis-server[{}]", p.redis)),
        "{text}"
    );
    assert!(text.contains("exposed-database"), "{text}");

    // CI exit codes.
    let code = |extra: &[&str]| {
        let mut a = vec!["local", "--json"];
        a.extend_from_slice(extra);
        lab.run(portolan_bin(), &a).status.code()
    };
    assert_eq!(code(&["--fail-on", "high"]), Some(1));
    assert_eq!(code(&["--fail-on", "critical"]), Some(0));
    assert_eq!(code(&[]), Some(0));

    // SARIF validates against the SARIF 2.1.0 schema and carries every finding.
    let out = lab.run(portolan_bin(), &["local", "--format", "sarif"]);
    assert!(out.status.success());
    validate_json(SARIF_SCHEMA, &out.stdout, lab.dir.path());
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), want.len());
    let got: BTreeSet<(String, String)> = results
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["locations"][0]["logicalLocations"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
}

/// Parse `ss -H -tulpn`: (proto, local address as ss prints it, pids).
fn ss_listing(lab: &Lab) -> BTreeSet<(String, String, BTreeSet<u32>)> {
    let out = lab.run("ss", &["-H", "-tulpn"]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let pids: BTreeSet<u32> = l
                .split("pid=")
                .skip(1)
                .map(|s| {
                    s.split(|c: char| !c.is_ascii_digit())
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect();
            (f[0].to_string(), f[4].to_string(), pids)
        })
        .collect()
}

#[test]
fn lab_listing_agrees_with_ss() {
    let Some(mut lab) = Lab::new("vsss", TOOLS) else {
        return;
    };
    start_all(&mut lab);
    let report = local_json(&lab, &[]);
    let ours: BTreeSet<(String, String, BTreeSet<u32>)> = report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let addr = s["address"].as_str().unwrap();
            // ss prints a dual-stack [::] socket as `*`.
            let host = if s["dual_stack"] == true {
                "*".to_string()
            } else if addr.contains(':') {
                format!("[{addr}]")
            } else {
                addr.to_string()
            };
            let host = match s["interface_name"].as_str() {
                Some(dev) => format!("{host}%{dev}"),
                None => host,
            };
            let pids = s["processes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["pid"].as_u64().unwrap() as u32)
                .collect();
            (
                s["protocol"].as_str().unwrap().to_string(),
                format!("{host}:{}", s["port"]),
                pids,
            )
        })
        .collect();
    let theirs = ss_listing(&lab);
    assert_eq!(ours.len(), 9);
    assert_eq!(ours, theirs, "portolan local and ss -H -tulpn disagree");
}

/// `portolan local --json --baseline BASE --fail-on LEVEL` in the lab.
fn json_vs_baseline(lab: &Lab, base: &str, fail_on: &str) -> std::process::Output {
    lab.run(
        portolan_bin(),
        &["local", "--json", "--baseline", base, "--fail-on", fail_on],
    )
}

#[test]
fn lab_baseline_reports_only_changes() {
    let Some(mut lab) = Lab::new("baseline", &["socat", "redis-server", "setpriv"]) else {
        return;
    };
    let py = lab.spawn(python(), &["-c", PY_LISTENER]);
    lab.wait_ports("tcp", &[40000]);
    lab.wait_ports("udp", &[5000]);
    let base = lab.path("base.json").display().to_string();
    let first = local_json(&lab, &["--save-baseline", &base]);
    assert_eq!(first["sockets"].as_array().unwrap().len(), 2);

    // Nothing changed: nothing new, nothing to fail on.
    let same = json_vs_baseline(&lab, &base, "info");
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let same: Value = serde_json::from_slice(&same.stdout).unwrap();
    assert!(same["sockets"].as_array().unwrap().is_empty());
    assert!(same["findings"].as_array().unwrap().is_empty());
    assert!(same["baseline"]["removed_sockets"]
        .as_array()
        .unwrap()
        .is_empty());

    // A telnet-like listener appears on all interfaces, the Python one goes away.
    // And Redis on a port that is not its own: recognised by its process name.
    let _socat = lab.spawn(
        "socat",
        &["TCP-LISTEN:2323,reuseaddr,fork", "EXEC:/bin/cat"],
    );
    let _redis = spawn_redis(&mut lab, 7777);
    lab.wait_ports("tcp", &[2323, 7777]);
    lab.stop(py);
    let out = json_vs_baseline(&lab, &base, "high");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a new high finding must fail the run"
    );
    validate_json(LOCAL_SCHEMA, &out.stdout, lab.dir.path());
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        socket_keys(&diff["sockets"]),
        strings(&["tcp 0.0.0.0:2323", "tcp 0.0.0.0:7777"])
    );
    assert_eq!(
        finding_keys(&diff),
        set(&[
            ("cleartext-login", "tcp 0.0.0.0:2323"),
            ("root-unprivileged-port", "tcp 0.0.0.0:2323"),
            ("exposed-database", "tcp 0.0.0.0:7777"),
        ])
    );
    assert_eq!(
        socket_keys(&diff["baseline"]["removed_sockets"]),
        strings(&["tcp 127.0.0.1:40000", "udp 0.0.0.0:5000"])
    );
    assert_eq!(
        rule_endpoints(&diff["baseline"]["resolved_findings"]),
        set(&[
            ("ephemeral-port", "tcp 127.0.0.1:40000"),
            ("root-unprivileged-port", "udp 0.0.0.0:5000"),
        ])
    );

    // SARIF with a baseline marks new and absent results, and still validates.
    let out = lab.run(
        portolan_bin(),
        &["local", "--format", "sarif", "--baseline", &base],
    );
    assert!(out.status.success());
    validate_json(SARIF_SCHEMA, &out.stdout, lab.dir.path());
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["baselineState"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "new").count(), 3);
    assert_eq!(states.iter().filter(|s| **s == "absent").count(), 2);
}

#[test]
fn lab_device_bound_socket_as_ss_shows_it() {
    let Some(mut lab) = Lab::new("bindtodev", &[]) else {
        return;
    };
    // 0.0.0.0:9100 bound to lo with SO_BINDTODEVICE: loopback-only in effect, `0.0.0.0%lo:9100`
    // for ss. Root-owned on a port >= 1024, but not reachable from outside: no finding.
    let py = lab.spawn(
        python(),
        &[
            "-c",
            "import socket, time\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'lo')\n\
             s.bind(('0.0.0.0', 9100)); s.listen()\n\
             while True: time.sleep(3600)",
        ],
    );
    lab.wait_ports("tcp", &[9100]);
    let report = local_json(&lab, &[]);
    let s = &report["sockets"][0];
    assert_eq!(report["sockets"].as_array().unwrap().len(), 1);
    assert_eq!(s["interface_name"], "lo");
    assert!(s["interface"].as_u64().unwrap() > 0);
    assert_eq!(s["exposure"], "loopback");
    assert!(
        report["findings"].as_array().unwrap().is_empty(),
        "{}",
        report["findings"]
    );
    validate_json(
        LOCAL_SCHEMA,
        serde_json::to_string(&report).unwrap().as_bytes(),
        lab.dir.path(),
    );
    let theirs = ss_listing(&lab);
    assert_eq!(
        theirs,
        BTreeSet::from([(
            "tcp".to_string(),
            "0.0.0.0%lo:9100".to_string(),
            BTreeSet::from([py])
        )])
    );
    let out = lab.run(portolan_bin(), &["local", "--color", "never"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0.0.0.0%lo:9100"));
}
