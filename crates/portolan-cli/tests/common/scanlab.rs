//! The network-namespace lab harness shared by the lab tests (tests/lab/lab.sh: scanner
//! 10.78.0.1 <-veth-> target 10.78.0.2 + AnyIP 10.77.0.0/17; no route out). Each `Lab` has its
//! own namespaces, removed on drop even when the test fails. `can_run` skips with a message when
//! not root or without `ip`/`nft`/`python3`; under CI (CI=true) it fails instead.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use assert_cmd::cargo::cargo_bin;

static N: AtomicU32 = AtomicU32::new(0);

pub fn lab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lab")
}

pub fn can_run() -> bool {
    let root = super::is_root();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    let nft = Command::new("nft").arg("-v").output().is_ok();
    let py = Command::new("python3").arg("-V").output().is_ok();
    if root && ip && nft && py {
        return true;
    }
    let why = format!("root={root} ip={ip} nft={nft} python3={py}");
    if super::in_ci() {
        panic!("lab test cannot run under CI: {why}");
    }
    eprintln!("SKIP lab test: needs root, iproute2, nftables and python3 ({why})");
    false
}

pub struct Lab {
    pub name: String,
    pub children: Vec<Child>,
}

impl Lab {
    pub fn up(tag: &str) -> Lab {
        let name = format!(
            "pl{}{}{}",
            tag,
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Lab {
            name,
            children: Vec::new(),
        };
        let st = Command::new("bash")
            .arg(lab_dir().join("lab.sh"))
            .args(["up", &lab.name])
            .status()
            .unwrap();
        assert!(st.success(), "lab.sh up {} failed", lab.name);
        lab
    }
    pub fn scanner(&self) -> String {
        format!("{}-s", self.name)
    }
    pub fn target(&self) -> String {
        format!("{}-t", self.name)
    }
    /// Start TCP listeners on `ports` in the target and wait until they listen.
    pub fn listen(&mut self, ports: &[u16]) {
        self.start_listener("listeners.py", ports);
    }
    /// Start UDP responders on `ports` in the target and wait until they are bound.
    pub fn listen_udp(&mut self, ports: &[u16]) {
        self.start_listener("udp_listeners.py", ports);
    }
    fn start_listener(&mut self, script: &str, ports: &[u16]) {
        let list = ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.target(), "python3"])
            .arg(lab_dir().join(script))
            .arg(list)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        self.children.push(c);
    }
    /// In the target: drop every TCP packet to a port not in `open` (a filtering host) and
    /// `pct`% of all TCP packets each way at random (a lossy link).
    pub fn drop_others_with_loss(&self, open: &[u16], pct: u8) {
        let set = open
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.nft(
            &self.target(),
            &format!(
                "table inet lab {{
                   chain input {{ type filter hook input priority 0; policy accept;
                     iifname \"lo\" accept
                     meta l4proto tcp numgen random mod 100 < {pct} drop
                     tcp dport != {{ {set} }} drop
                   }}
                   chain output {{ type filter hook output priority 0; policy accept;
                     oifname \"lo\" accept
                     meta l4proto tcp numgen random mod 100 < {pct} drop
                   }}
                 }}"
            ),
        );
    }
    pub fn nft(&self, ns: &str, rules: &str) {
        let mut c = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "nft rules rejected:\n{rules}");
    }
    /// Packet counts of the named counters in a namespace's `inet count` table.
    pub fn counters(&self, ns: &str) -> HashMap<String, u64> {
        let o = Command::new("ip")
            .args([
                "netns", "exec", ns, "nft", "-j", "list", "counters", "table", "inet", "count",
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut m = HashMap::new();
        for item in v["nftables"].as_array().unwrap() {
            if let Some(c) = item.get("counter") {
                m.insert(
                    c["name"].as_str().unwrap().to_string(),
                    c["packets"].as_u64().unwrap(),
                );
            }
        }
        m
    }
    /// Run portolan in the scanner namespace; returns (jsonl values, seconds).
    pub fn scan(&self, args: &[&str], dir: &Path, tag: &str) -> (Vec<serde_json::Value>, f64) {
        let out = dir.join(format!("{tag}.jsonl"));
        let t0 = Instant::now();
        let o = Command::new("ip")
            .args(["netns", "exec", &self.scanner()])
            .arg(cargo_bin("portolan"))
            .arg("scan")
            .args(args)
            .args(["-q", "-o"])
            .arg(format!("jsonl={}", out.display()))
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let secs = t0.elapsed().as_secs_f64();
        assert!(
            o.status.success(),
            "scan {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (v, secs)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("bash")
            .arg(lab_dir().join("lab.sh"))
            .args(["down", &self.name])
            .status();
    }
}

pub fn ports_in(v: &[serde_json::Value], state: &str) -> Vec<(String, u16)> {
    let mut r: Vec<(String, u16)> = v
        .iter()
        .filter(|x| x["type"] == "port" && x["state"] == state)
        .map(|x| {
            (
                x["addr"].as_str().unwrap().to_string(),
                x["port"].as_u64().unwrap() as u16,
            )
        })
        .collect();
    r.sort();
    r
}

pub fn end_line(v: &[serde_json::Value]) -> &serde_json::Value {
    v.iter().rev().find(|x| x["type"] == "end").unwrap()
}

/// 40 ports: fixed edge cases plus a deterministic spread.
pub fn forty_ports() -> Vec<u16> {
    let mut p: BTreeSet<u16> = [1, 21, 22, 25, 80, 443, 3306, 5432, 6379, 8080, 27017, 65535]
        .into_iter()
        .collect();
    let mut x: u32 = 12345;
    while p.len() < 40 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        p.insert(1024 + (x >> 8) as u16 % 64000);
    }
    p.into_iter().collect()
}
