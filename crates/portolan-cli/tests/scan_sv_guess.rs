//! `portolan scan -sV` on loopback: a name guessed from the port number is marked as a guess
//! everywhere (`name?` in the table, `method="table" conf="3"` in XML, `"method":"table"` in
//! JSON), and a port that answered something no rule knows is `unknown` with a fingerprint
//! (`servicefp` in XML), never the port table's name (issue 19).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

mod common;
use common::{output_to, portolan_command, OutputOk};

/// Serve `f` on every connection, in the background, for the life of the test.
fn serve(l: TcpListener, f: fn(TcpStream)) {
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || f(s));
        }
    });
}

/// A loopback listener on a port the IANA registry names for TCP, with that name.
fn registered_listener() -> Option<(TcpListener, u16, String)> {
    let reg = portolan_registry::Registry::embedded();
    for port in [8008u16, 8880, 3689, 4369, 5222, 6000, 9418, 2121] {
        let Some(name) = reg
            .by_port(port)
            .find(|e| {
                e.protocol() == Some(portolan_registry::Protocol::Tcp) && !e.service().is_empty()
            })
            .map(|e| e.service().to_string())
        else {
            continue;
        };
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return Some((l, port, name));
        }
    }
    None
}

#[test]
fn guesses_are_marked_and_unrecognised_answers_are_unknown() {
    let Some((quiet, quiet_port, table_name)) = registered_listener() else {
        assert!(!common::in_ci(), "every candidate registered port is busy");
        eprintln!("SKIPPED: every candidate registered port is busy");
        return;
    };
    // Says nothing: reads what it is sent and hangs up.
    serve(quiet, |mut s| {
        let mut b = [0u8; 4096];
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.read(&mut b);
    });
    // Speaks a protocol no rule knows, with a control sequence in it.
    let odd = TcpListener::bind("127.0.0.1:0").unwrap();
    let odd_port = odd.local_addr().unwrap().port();
    serve(odd, |mut s| {
        let _ = s.write_all(b"MYSTERY-PROTO 0.1 ready\r\n\x1b]0;owned\x07");
        std::thread::sleep(Duration::from_millis(800));
    });

    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("o.xml");
    let jsonl = dir.path().join("o.jsonl");
    let out = portolan_command()
        .args([
            "scan",
            "127.0.0.1",
            "-p",
            &format!("{quiet_port},{odd_port}"),
        ])
        .args(["-sV", "--version-intensity", "1", "-q", "--color", "never"])
        .args(output_to("xml", &xml))
        .args(output_to("jsonl", &jsonl))
        .output_ok();
    let table = String::from_utf8_lossy(&out.stdout);
    let row = |port: u16| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{port}/tcp")))
            .unwrap_or_else(|| panic!("no row for {port}:\n{table}"))
            .to_string()
    };
    assert!(
        row(quiet_port).contains(&format!(" {table_name}? ")),
        "{table}"
    );
    let odd_row = row(odd_port);
    assert!(odd_row.contains(" unknown "), "{table}");
    assert!(!table.contains('\x1b'), "escaped: {table:?}");

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let svc = |port: u16| {
        lines
            .iter()
            .find(|v| v["type"] == "port" && v["port"] == port)
            .map(|v| v["service"].clone())
            .unwrap()
    };
    let q = svc(quiet_port);
    assert_eq!(
        (q["name"].as_str(), q["method"].as_str()),
        (Some(table_name.as_str()), Some("table"))
    );
    assert_eq!(q["conf"], 3);
    let o = svc(odd_port);
    assert_eq!(o["name"], "unknown");
    assert_eq!(
        o["details"]["fingerprint"],
        r#"null:"MYSTERY-PROTO 0.1 ready\r\n\x1b]0;owned\x07""#
    );

    // nmap XML, read back by Python's own parser.
    let py = format!(
        "import xml.etree.ElementTree as E\n\
         r=E.parse('{}').getroot()\n\
         for port in ({quiet_port}, {odd_port}):\n\
         \x20   p=[p for p in r.iter('port') if p.get('portid')==str(port)][0]\n\
         \x20   s=p.find('service')\n\
         \x20   print(s.get('name'), s.get('method'), s.get('conf'), s.get('servicefp'))",
        xml.display()
    );
    let o = std::process::Command::new("python3")
        .args(["-c", &py])
        .output_ok();
    let got = String::from_utf8_lossy(&o.stdout);
    let mut got = got.lines();
    assert_eq!(
        got.next(),
        Some(format!("{table_name} table 3 None").as_str())
    );
    assert_eq!(
        got.next(),
        Some(r#"unknown table 0 null:"MYSTERY-PROTO 0.1 ready\r\n\x1b]0;owned\x07""#)
    );
    common::nmapxml::check(&xml, &[quiet_port, odd_port]);
}
