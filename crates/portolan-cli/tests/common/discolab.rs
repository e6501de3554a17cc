//! The sparse discovery lab (tests/lab/discovery.sh) for the discovery and IPv6 lab tests:
//! scanner `NAME-s` (10.79.0.1, fd79::1) <-veth-> target `NAME-t` (10.79.0.2, fd79::2), with
//! 10.80.0.0/16 and fd80::/112 routed to the target, 1% of them live, and on the link itself
//! 26 live addresses a family, half of them answering only ARP / neighbour solicitation. Each `Lab` has its own
//! namespaces, removed on drop even when the test fails; `can_run` skips with a message when not
//! root or without `ip`/`nft`/`python3`, and fails under CI.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::common;

static N: AtomicU32 = AtomicU32::new(0);

/// One discovery lab, removed on drop.
pub struct Lab {
    pub name: String,
    /// Processes started in the target (killed by PID on drop).
    pub children: Vec<Child>,
    /// Live addresses and their kind (all, icmp, tcp443), per family.
    pub live4: BTreeMap<IpAddr, String>,
    pub live6: BTreeMap<IpAddr, String>,
    /// Live addresses on the link itself (10.79.0.0/24, fd79::/64) and their kind (all, arp:
    /// every IP packet dropped, only ARP / ND answered), per family.
    pub link4: BTreeMap<IpAddr, String>,
    pub link6: BTreeMap<IpAddr, String>,
}

fn script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lab/discovery.sh")
}

pub fn can_run() -> bool {
    let root = common::is_root();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    let nft = Command::new("nft").arg("-v").output().is_ok();
    let py = Command::new("python3").arg("-V").output().is_ok();
    if root && ip && nft && py {
        return true;
    }
    let why = format!("root={root} ip={ip} nft={nft} python3={py}");
    if common::in_ci() {
        panic!("discovery lab test cannot run under CI: {why}");
    }
    eprintln!("SKIP discovery lab test: needs root, iproute2, nftables and python3 ({why})");
    false
}

fn read_live(path: &str) -> BTreeMap<IpAddr, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (a, k) = l.split_once(' ')?;
            Some((a.parse().unwrap(), k.to_string()))
        })
        .collect()
}

impl Lab {
    pub fn up() -> Lab {
        let name = format!(
            "dsc{}x{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("bash")
            .arg(script())
            .args(["up", &name])
            .status()
            .unwrap();
        let mut lab = Lab {
            children: Vec::new(),
            live4: BTreeMap::new(),
            live6: BTreeMap::new(),
            link4: BTreeMap::new(),
            link6: BTreeMap::new(),
            name,
        };
        assert!(st.success(), "discovery.sh up {} failed", lab.name);
        lab.live4 = read_live(&format!("/tmp/{}.live4", lab.name));
        lab.live6 = read_live(&format!("/tmp/{}.live6", lab.name));
        lab.link4 = read_live(&format!("/tmp/{}.link4", lab.name));
        lab.link6 = read_live(&format!("/tmp/{}.link6", lab.name));
        lab
    }

    /// Run a Python program in the target namespace; wait for its first line ("ready").
    pub fn spawn_py(&mut self, code: &str) {
        use std::io::{BufRead, BufReader};
        let mut c = Command::new("ip")
            .args([
                "netns",
                "exec",
                &format!("{}-t", self.name),
                "python3",
                "-c",
                code,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the lab's server did not start");
        self.children.push(c);
    }

    /// `portolan scan ARGS` in the scanner namespace (with `--no-store`), as it ran: for
    /// tests of errors, messages and privileges. `prefix` runs before portolan (e.g. setpriv).
    pub fn run(&self, prefix: &[&str], args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &format!("{}-s", self.name)])
            .args(prefix)
            .arg(assert_cmd::cargo::cargo_bin("portolan"))
            .args(["scan", "--no-store"])
            .args(args)
            .env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
            .output()
            .unwrap()
    }

    /// `portolan ARGS` in the scanner namespace, JSON Lines on stdout: the records.
    pub fn scan(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{}-s", self.name)])
            .arg(assert_cmd::cargo::cargo_bin("portolan"))
            .args([
                "scan",
                "--no-store",
                "-q",
                "--format",
                "json",
                "--seed",
                "5",
            ])
            .args(args)
            .env("PORTOLAN_DATA_DIR", "/nonexistent/portolan-test")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scan {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("bash")
            .arg(script())
            .args(["down", &self.name])
            .status();
    }
}
