//! `portolan port` and friends, run as the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use predicates::prelude::*;
use serde_json::Value;

mod common;
use common::{assert_terminal_safe, output_to, portolan, read_json, OutputOk};

fn json(args: &[&str]) -> Value {
    let out = portolan().args(args).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn port_22_text() {
    portolan()
        .args(["port", "22"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Port 22"))
        .stdout(predicate::str::contains("ssh"))
        .stdout(predicate::str::contains("The Secure Shell (SSH) Protocol"))
        .stdout(predicate::str::contains("RFC4251"))
        .stdout(predicate::str::contains("system port"))
        .stdout(predicate::str::contains("sctp"))
        .stdout(predicate::str::contains("Ephemeral ranges"))
        .stdout(predicate::str::contains("\x1b[").not());
}

#[test]
fn port_6379_names_redis_and_its_risk() {
    portolan()
        .args(["port", "6379"])
        .assert()
        .success()
        .stdout(predicate::str::contains("redis"))
        .stdout(predicate::str::contains("user port"))
        .stdout(predicate::str::contains("HIGH").or(predicate::str::contains("CRITICAL")))
        .stdout(predicate::str::contains("fix:"))
        .stdout(predicate::str::contains("see: https://"));
    let v = json(&["port", "6379"]);
    let p = &v["results"][0]["ports"][0];
    assert_eq!(p["port"], 6379);
    assert_eq!(p["category"], "user");
    assert!(p["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["service"] == "redis" && r["protocol"] == "tcp"));
    let risks = p["risks"].as_array().unwrap();
    assert!(risks.iter().any(|r| r["id"] == "redis"));
    assert!(risks[0]["sources"][0]
        .as_str()
        .unwrap()
        .starts_with("https://"));
}

#[test]
fn port_by_service_name() {
    portolan()
        .args(["port", "ssh"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ssh is registered on 1 port"))
        .stdout(predicate::str::contains("Port 22"));
    let v = json(&["port", "ssh"]);
    let ports: Vec<u64> = v["results"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, vec![22]);
}

#[test]
fn port_with_protocol() {
    let v = json(&["port", "53/udp"]);
    let r = &v["results"][0];
    assert_eq!(r["protocol"], "udp");
    let regs = r["ports"][0]["registrations"].as_array().unwrap();
    assert!(!regs.is_empty());
    assert!(regs.iter().all(|x| x["protocol"] == "udp"));
    assert_eq!(regs[0]["service"], "domain");
    portolan()
        .args(["port", "53/udp"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Port 53/udp"))
        .stdout(predicate::str::contains("domain"))
        .stdout(predicate::str::contains("    tcp ").not());
}

#[test]
fn port_range_json_one_entry_per_port() {
    let v = json(&["port", "49152-49155"]);
    assert_eq!(v["schema"], "portolan.port/1");
    let ports = v["results"][0]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 4);
    for (i, p) in ports.iter().enumerate() {
        assert_eq!(p["port"], 49152 + i as u64);
        assert_eq!(p["category"], "dynamic");
        let sys = p["ephemeral"]["systems"].as_array().unwrap();
        assert!(sys
            .iter()
            .any(|s| s["system"].as_str().unwrap().starts_with("IANA") && s["contains"] == true));
    }
}

#[test]
fn port_range_text_table() {
    portolan()
        .args(["port", "8000-8100"])
        .assert()
        .success()
        .stdout(predicate::str::contains("PORT"))
        .stdout(predicate::function(|s: &str| s.lines().count() == 102));
}

#[test]
fn bad_input_is_a_clear_error() {
    // (argument, what the error must say)
    let cases: [(&str, &[&str]); 5] = [
        ("70000", &["70000 is out of range", "0 to 65535"]),
        ("-1", &["\"-1\" is not a port"]),
        ("nosuchservice", &["no service named \"nosuchservice\""]),
        ("sshh", &["closest names", "ssh"]),
        ("22/quic", &["unknown protocol"]),
    ];
    for (arg, says) in cases {
        let mut a = portolan().args(["port", arg]).assert().failure();
        for s in says {
            a = a.stderr(predicate::str::contains(*s));
        }
    }
}

#[test]
fn colour_follows_terminal_and_no_color() {
    portolan()
        .args(["--color", "always", "port", "22"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\x1b["));
    // Not a terminal: no colour by default.
    portolan()
        .args(["port", "22"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\x1b[").not());
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_portolan"),
        ("zsh", "#compdef portolan"),
        ("fish", "complete -c portolan"),
    ] {
        portolan()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker));
    }
}

#[test]
fn help_has_examples() {
    portolan()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"));
    portolan()
        .args(["port", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("portolan port 53/udp"));
}

#[test]
fn registry_update_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../portolan-registry/data/service-names-port-numbers.csv"
    );
    // `portolan ARGS` with the data directory of this test.
    let run = |args: &[&str]| {
        portolan()
            .env("PORTOLAN_DATA_DIR", &data)
            .args(args)
            .assert()
    };
    let (bad, good) = (dir.path().join("bad.csv"), dir.path().join("good.csv"));
    let (bad_s, good_s) = (bad.to_str().unwrap(), good.to_str().unwrap());
    // A bad file is rejected and nothing is written.
    std::fs::write(&bad, "Service Name,Port Number\nfoo,1\n").unwrap();
    run(&["registry", "update", "--from", bad_s])
        .failure()
        .stderr(predicate::str::contains("rejected"));
    assert!(!data.join("service-names-port-numbers.csv").exists());

    // A good file: validated, stored, then used.
    let text = std::fs::read_to_string(src).unwrap();
    let modified = text.replacen(
        "ssh,22,tcp,The Secure Shell (SSH) Protocol",
        "ssh,22,tcp,The Secure Shell (SSH) Protocol refreshed",
        1,
    );
    std::fs::write(&good, modified).unwrap();
    run(&["registry", "update", "--from", good_s])
        .success()
        .stdout(predicate::str::contains("6562 tcp"));
    assert!(data.join("service-names-port-numbers.csv").exists());
    let refreshed = || {
        run(&["port", "22"])
            .success()
            .stdout(predicate::str::contains("Protocol refreshed"));
    };
    refreshed();
    run(&["registry", "show"])
        .success()
        .stdout(predicate::str::contains("refreshed copy"));
    // A second bad update leaves the good copy in place.
    run(&["registry", "update", "--from", bad_s]).failure();
    refreshed();
    run(&["registry", "reset"]).success();
    assert!(!data.join("service-names-port-numbers.csv").exists());
}

fn iana_csv() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../portolan-registry/data/service-names-port-numbers.csv"
    ))
    .unwrap()
}

#[test]
fn hostile_registry_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("hostile.csv");
    let text = iana_csv().replacen(
        "ssh,22,tcp,The Secure Shell (SSH) Protocol",
        "ssh,22,tcp,\"Secure\x1b]0;pwned\x07\x1b[2J Shell\u{202e}exe.txt\nFAKE 23 telnet\u{200b}\"",
        1,
    );
    std::fs::write(&csv, text).unwrap();
    portolan()
        .env("PORTOLAN_DATA_DIR", &data)
        .args(["registry", "update", "--from", csv.to_str().unwrap()])
        .assert()
        .success();
    for args in [
        &["port", "22"][..],
        &["port", "ssh"],
        &["port", "20-23"],
        &["registry", "show"],
    ] {
        let out = portolan()
            .env("PORTOLAN_DATA_DIR", &data)
            .args(args)
            .args(["--color", "never"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let s = String::from_utf8(out.stdout).unwrap();
        assert_terminal_safe(&s);
        assert!(!s.lines().any(|l| l.starts_with("FAKE")), "{s}");
    }
    let out = portolan()
        .env("PORTOLAN_DATA_DIR", &data)
        .args(["port", "22", "--color", "never"])
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.contains(
            "Secure\\x1b]0;pwned\\x07\\x1b[2J Shell\\u{202e}exe.txt\\nFAKE 23 telnet\\u{200b}"
        ),
        "{s}"
    );
}

#[test]
fn registry_update_rejects_repeated_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = dir.path().join("twice.csv");
    let text = iana_csv();
    let (header, body) = text.split_once('\n').unwrap();
    std::fs::write(&csv, format!("{header}\n{body}{body}")).unwrap();
    portolan()
        .env("PORTOLAN_DATA_DIR", &data)
        .args(["registry", "update", "--from", csv.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("repeats line 2 exactly"))
        .stderr(predicate::str::contains("registry in use was not changed"));
    assert!(!data.join("service-names-port-numbers.csv").exists());
}

#[test]
fn output_convention_format_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let (j, t, plain) = (
        dir.path().join("p.json"),
        dir.path().join("p.txt"),
        dir.path().join("plain"),
    );
    std::fs::write(&j, "old").unwrap();
    let out = portolan()
        .args(["port", "22", "--format", "json", "-o"])
        .arg(format!("json={}", j.display()))
        .args(output_to("table", &t))
        .arg("--output")
        .arg(&plain)
        .output_ok();
    let stdout: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stdout["schema_version"], 1);
    assert_eq!(stdout["schema"], "portolan.port/1");
    let file: Value = read_json(&j);
    assert_eq!(file, stdout);
    let plain: Value = read_json(&plain);
    assert_eq!(plain, stdout);
    let table = std::fs::read_to_string(&t).unwrap();
    assert!(
        table.contains("IANA registry") && !table.contains('\x1b'),
        "{table}"
    );
    // --json is kept as an alias.
    assert_eq!(json(&["port", "22"]), stdout);
    // A bad output is an error before anything is written; the earlier file stays whole.
    portolan()
        .args(["port", "22", "-o"])
        .arg(format!("json={}", j.display()))
        .arg("-o")
        .arg(format!(
            "table={}",
            dir.path().join("missing/dir/p.txt").display()
        ))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing/dir/p.txt"));
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&j).unwrap()).unwrap(),
        stdout
    );
    portolan()
        .args(["port", "22", "-o"])
        .arg(&j)
        .args(output_to("table", &j))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("two outputs"));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn registry_show_follows_the_output_convention() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("reg.json");
    let out = portolan()
        .args(["registry", "show", "--format", "json", "-o"])
        .arg(format!("json={}", f.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["source"], "built-in");
    assert!(v["by_protocol"]["tcp"].as_u64().unwrap() > 6000);
    let file: Value = read_json(&f);
    assert_eq!(file, v);
    let alias: Value = serde_json::from_slice(
        &portolan()
            .args(["registry", "show", "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(alias, v);
}
