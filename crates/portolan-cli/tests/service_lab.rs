//! Lab test for `portolan service`: real Debian daemons (tests/lab/fingerprint-services.sh)
//! in a network namespace of this test's own, some on non-standard ports. Checks that every
//! service is named, that the version matches the installed package where the server
//! announces it, and that exactly the unauthenticated ones are flagged.
//!
//! Needs root and `ip`; skips with a message otherwise, except under CI (`CI=true`) where it
//! fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;

mod common;
use common::lab::{package_version, skip_or_fail, upstream, ScriptLab};
use common::{is_root, OutputOk};

/// What the lab's daemon must be identified as: service name, product (substring), whether
/// the server announces its version (then it must equal the package's), tunnel.
fn expected(
    name: &str,
) -> (
    &'static str,
    Option<&'static str>,
    bool,
    Option<&'static str>,
) {
    match name {
        "sshd" => ("ssh", Some("OpenSSH"), true, None),
        "nginx" => ("http", Some("nginx"), true, Some("ssl")),
        "lighttpd" => ("http", Some("lighttpd"), true, None),
        "redis-auth" => ("redis", Some("Redis"), false, None),
        "redis-open" => ("redis", Some("Redis"), true, None),
        "memcached" => ("memcached", Some("memcached"), true, None),
        "postgresql" => ("postgresql", Some("PostgreSQL"), false, None),
        "mariadb" => ("mysql", Some("MariaDB"), true, None),
        "vsftpd" => ("ftp", Some("vsftpd"), true, None),
        "exim4" => ("smtp", Some("Exim"), true, None),
        "dovecot" => ("imap", Some("Dovecot"), false, None),
        "dovecot-pop3" => ("pop3", Some("Dovecot"), false, None),
        "dovecot-imaps" => ("imap", Some("Dovecot"), false, Some("ssl")),
        "dnsmasq" | "dnsmasq-udp" => ("domain", Some("dnsmasq"), true, None),
        "snmpd" => ("snmp", Some("Net-SNMP"), true, None),
        "mosquitto" => ("mqtt", None, false, None),
        "squid" => ("http-proxy", Some("Squid"), true, None),
        "slapd" => ("ldap", Some("OpenLDAP"), false, None),
        "danted" => ("socks5", None, false, None),
        other => panic!("lab service {other} has no expectation"),
    }
}

#[test]
fn upstream_versions() {
    assert_eq!(upstream("1:9.2p1-2+deb12u3"), "9.2p1");
    assert_eq!(upstream("5.9.3+dfsg-2+deb12u1"), "5.9.3");
    assert_eq!(upstream("2.90-4~deb12u2"), "2.90");
    assert_eq!(upstream("5:7.0.15-1~deb12u10"), "7.0.15");
    assert_eq!(upstream("1.6.18-1+deb12u1"), "1.6.18");
}

#[test]
fn real_daemons_are_named_versioned_and_flagged() {
    if !is_root() {
        return skip_or_fail("needs root (network namespaces, daemons on system ports)");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return skip_or_fail("`ip` (iproute2) is not installed");
    }
    let pid = std::process::id();
    let lab = ScriptLab::up(
        "fingerprint-services.sh",
        format!("plfp-{pid}-lab"),
        format!("/tmp/plfp-{pid}-lab"),
    );
    let skipped = std::fs::read_to_string(format!("{}/skipped.txt", lab.dir)).unwrap_or_default();
    for line in skipped.lines() {
        // A daemon that is installed but did not come up is a broken lab: always fail.
        assert!(line.contains("not installed"), "lab daemon failed: {line}");
        skip_or_fail(line);
    }
    let tsv = std::fs::read_to_string(format!("{}/services.tsv", lab.dir)).unwrap();
    let services: Vec<Vec<String>> = tsv
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    if services.len() < 15 {
        skip_or_fail(&format!(
            "only {} lab daemons could start (goal: 15)",
            services.len()
        ));
    }
    let targets: Vec<String> = services
        .iter()
        .map(|s| {
            let port = s[1].trim_end_matches("/tcp");
            format!("127.0.0.1:{port}")
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
        .args(["--proxy-target", "127.0.0.1:8081"])
        .args(&targets)
        .output_ok();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let reports: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), services.len(), "{stdout}");

    let mut problems = Vec::new();
    let mut summary = HashMap::new();
    for (svc, r) in services.iter().zip(&reports) {
        let (daemon, pkg, unauth) = (&svc[0], &svc[2], svc[3] == "1");
        let (name, product, announces, tunnel) = expected(daemon);
        assert_eq!(r["schema_version"], 1);
        let got = |k: &str| r[k].as_str().map(str::to_string);
        summary.insert(
            daemon.clone(),
            format!(
                "{:?} {:?} {:?}",
                got("name"),
                got("product"),
                got("version")
            ),
        );
        if got("name").as_deref() != Some(name) {
            problems.push(format!(
                "{daemon}: named {:?}, expected {name}",
                got("name")
            ));
        }
        if r["confidence"] != "matched" {
            problems.push(format!("{daemon}: confidence {}", r["confidence"]));
        }
        if let Some(p) = product {
            if !got("product").is_some_and(|g| g.contains(p)) {
                problems.push(format!(
                    "{daemon}: product {:?}, expected {p}",
                    got("product")
                ));
            }
        }
        if got("tunnel").as_deref() != tunnel {
            problems.push(format!(
                "{daemon}: tunnel {:?}, expected {tunnel:?}",
                got("tunnel")
            ));
        }
        if announces {
            let want = package_version(pkg);
            if got("version") != want {
                problems.push(format!(
                    "{daemon}: version {:?}, package {pkg} is {want:?}",
                    got("version")
                ));
            }
        } else if got("version").is_some() {
            problems.push(format!(
                "{daemon}: version {:?} but it does not announce one",
                got("version")
            ));
        }
        let findings = r["findings"].as_array().unwrap();
        if findings.is_empty() == unauth {
            problems.push(format!(
                "{daemon}: findings {findings:?}, unauthenticated = {unauth}"
            ));
        }
        if let Some(b) = r["banner"].as_str() {
            assert!(b.len() <= 3 * 512, "{daemon}: banner not capped");
        }
    }
    // Details that only some services have.
    let by = |d: &str| services.iter().position(|s| s[0] == d).map(|i| &reports[i]);
    if let Some(r) = by("nginx") {
        let cert = &r["tls"]["cert"];
        assert_eq!(cert["self_signed"], true, "{r}");
        assert_eq!(cert["subject"], "CN=lab.portolan.test");
        assert!(cert["sans"]
            .as_array()
            .unwrap()
            .contains(&Value::from("DNS:lab.portolan.test")));
        assert_eq!(r["http"]["title"], "portolan lab");
        let notes = r["notes"].to_string();
        assert!(notes.contains("TLS certificate is self-signed"), "{notes}");
    }
    for d in ["dovecot", "dovecot-pop3"] {
        if let Some(r) = by(d) {
            assert_eq!(r["tls"]["starttls"], true, "{d}: {r}");
            assert_eq!(
                r["tls"]["cert"]["subject"], "CN=lab.portolan.test",
                "{d}: {r}"
            );
        }
    }
    if let Some(r) = by("exim4") {
        // Exim without a configured certificate offers STARTTLS with one it generates itself.
        assert_eq!(r["tls"]["starttls"], true, "{r}");
        assert_eq!(r["tls"]["cert"]["self_signed"], true, "{r}");
        assert!(
            r["tls"]["cert"]["issuer"]
                .as_str()
                .unwrap()
                .contains("Exim Developers"),
            "{r}"
        );
    }
    if let Some(r) = by("vsftpd") {
        assert!(r["tls"].is_null(), "vsftpd has ssl_enable=NO: {r}");
    }
    if let Some(r) = by("sshd") {
        assert_eq!(r["ssh"]["protocol"], "2.0");
        assert!(!r["ssh"]["kex"].as_array().unwrap().is_empty(), "{r}");
    }
    if let Some(r) = by("danted") {
        let ids: Vec<_> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].clone())
            .collect();
        assert_eq!(
            ids,
            vec![
                Value::from("socks5-no-auth"),
                Value::from("socks5-open-proxy")
            ],
            "{r}"
        );
    }
    if let Some(r) = by("squid") {
        assert_eq!(r["findings"][0]["id"], "http-open-proxy");
        // scan -sV runs the same check when given --proxy-target, and never without it.
        let port = r["addr"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        let scan = |extra: &[&str]| {
            let out = Command::new("ip")
                .args(["netns", "exec", &lab.ns, env!("CARGO_BIN_EXE_portolan")])
                .args([
                    "scan",
                    "127.0.0.1",
                    "-sV",
                    "-q",
                    "--no-store",
                    "--format",
                    "json",
                ])
                .args(["-p", &port])
                .args(extra)
                .output_ok();
            String::from_utf8(out.stdout).unwrap()
        };
        let with = scan(&["--proxy-target", "127.0.0.1:8081"]);
        assert!(
            with.contains("http-open-proxy"),
            "scan -sV --proxy-target: {with}"
        );
        let without = scan(&[]);
        assert!(
            !without.contains("http-open-proxy"),
            "scan -sV alone: {without}"
        );
    }
    eprintln!(
        "service lab: {} daemons checked: {summary:#?}",
        services.len()
    );
    assert!(problems.is_empty(), "{problems:#?}\n{stdout}");
}
