//! Lab tests for `portolan detect --block` (IPS) and `portolan block`: real nmap and masscan
//! from a scanner namespace against a target namespace running `detect -i any --block`, a
//! benign client in a third namespace, and the target's kernel counting the scanner's SYNs
//! that got past the ban.
//!
//! Network safety: three namespaces this test creates (names `ips-<pid>-<tag>-<n>-{s,t,b}`),
//! joined to the target by two veth pairs, with no route out. Every nftables change happens
//! inside the target namespace (the binary runs under `ip netns exec`). Namespaces and
//! processes are removed when the lab is dropped, even when a test fails.
//!
//! Not root or a tool missing: the tests print why and skip — except under CI=true, where
//! they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::lab::{have, skip_or_fail};
use common::{is_root, portolan_command};

static SEQ: AtomicU32 = AtomicU32::new(0);

const SCANNER: &str = "10.77.0.1";
const TARGET: &str = "10.77.0.2";
const BENIGN: &str = "10.77.1.1";
const TARGET_B: &str = "10.77.1.2";
/// Open TCP ports on the target.
const OPEN: &[u16] = &[22, 80, 443, 8080];

fn sh(cmd: &[&str]) {
    let st = Command::new(cmd[0])
        .args(&cmd[1..])
        .status()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed: {st}");
}

fn can_run(test: &str, tools: &[&str]) -> bool {
    if !is_root() {
        skip_or_fail(&format!("{test}: needs root (namespaces, nftables)"));
        return false;
    }
    for t in ["ip", "nft", "python3"].iter().chain(tools) {
        if !have(t) {
            skip_or_fail(&format!("{test}: `{t}` is not installed"));
            return false;
        }
    }
    true
}

const LISTENERS: &str = r#"
import socket, sys, threading
def serve(s):
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return
        try:
            c.sendall(b"220 lab service ready\r\n"); c.close()
        except OSError:
            pass
for p in [int(x) for x in sys.argv[1].split(',')]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', p)); s.listen(4096)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print('ready', flush=True)
threading.Event().wait()
"#;

/// Scanner and benign namespaces, each joined to the target by a veth pair.
struct Lab {
    s: String,
    t: String,
    b: String,
    s_if: String,
    /// The target's end of the scanner's link.
    ts_if: String,
    t_mac: String,
    children: Vec<Child>,
    /// Live detects started (killed by PID on drop when a test failed before stopping one).
    detects: std::cell::RefCell<Vec<u32>>,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            // a test that failed before stopping its detect: SIGKILL by PID (our child, not
            // yet reaped, so the PID is still its)
            for pid in self.detects.borrow().iter() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        for ns in [&self.s, &self.t, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id() % 100_000;
        let ns = |x: &str| format!("ips-{pid}-{tag}-{n}-{x}");
        let ifn = |x: &str| format!("ips{pid}{n}{x}");
        let mut lab = Lab {
            s: ns("s"),
            t: ns("t"),
            b: ns("b"),
            s_if: ifn("s"),
            ts_if: ifn("ts"),
            t_mac: String::new(),
            children: Vec::new(),
            detects: Default::default(),
            dir: tempfile::tempdir().unwrap(),
        };
        for ns in [&lab.s, &lab.t, &lab.b] {
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let (ts, tb, bi) = (ifn("ts"), ifn("tb"), ifn("b"));
        for (outer, outer_ns, inner, addr, taddr) in [
            (&lab.s_if, &lab.s, &ts, SCANNER, TARGET),
            (&bi, &lab.b, &tb, BENIGN, TARGET_B),
        ] {
            sh(&[
                "ip", "link", "add", outer, "type", "veth", "peer", "name", inner,
            ]);
            sh(&["ip", "link", "set", outer, "netns", outer_ns]);
            sh(&["ip", "link", "set", inner, "netns", &lab.t]);
            sh(&[
                "ip",
                "-n",
                outer_ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                outer,
            ]);
            sh(&[
                "ip",
                "-n",
                &lab.t,
                "addr",
                "add",
                &format!("{taddr}/24"),
                "dev",
                inner,
            ]);
            sh(&["ip", "-n", outer_ns, "link", "set", outer, "up"]);
            sh(&["ip", "-n", &lab.t, "link", "set", inner, "up"]);
        }
        let out = Command::new("ip")
            .args(["-n", &lab.t, "-o", "link", "show", &ts])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        lab.t_mac = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("target MAC")
            .to_string();
        // the kernel's count of the scanner's SYNs that got past the ban (priority 0 runs
        // after Portolan's chains at filter - 10)
        let count = format!(
            "table inet ipslab {{\n chain count {{\n type filter hook input priority 0; policy accept;\n \
             ip saddr {SCANNER} tcp flags & (syn | ack) == syn counter\n }}\n}}\n"
        );
        lab.nft(&count);
        // listeners on the target
        let script = lab.dir.path().join("listeners.py");
        std::fs::write(&script, LISTENERS).unwrap();
        let ports = OPEN
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Command::new("ip")
            .args(["netns", "exec", &lab.t, "python3"])
            .arg(&script)
            .arg(&ports)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        lab.children.push(c);
        lab
    }

    fn nft(&self, script: &str) {
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.t, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut c.stdin.take().unwrap(), script.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "nft -f: {script}");
    }

    /// SYNs from the scanner that got past the ban.
    fn passed(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &self.t, "nft", "-j", "list", "table", "inet", "ipslab",
            ])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i.get("rule"))
            .flat_map(|r| r["expr"].as_array().unwrap().clone())
            .filter_map(|x| x.get("counter").map(|c| c["packets"].as_u64().unwrap()))
            .sum()
    }

    fn reset_count(&self) {
        self.nft("reset counters table inet ipslab");
        let _ = self.passed();
    }

    /// `portolan ARGS` in the target namespace.
    fn portolan(&self, args: &[&str]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.t]);
        c.arg(portolan_command().get_program());
        c.args(args);
        c.output().unwrap()
    }

    /// The bans listed by `portolan block list --format json`.
    fn bans(&self) -> Vec<String> {
        let out = self.portolan(&["block", "list", "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["schema_version"], 1);
        v["bans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["net"].as_str().unwrap().to_string())
            .collect()
    }

    /// The addresses the kernel tripwire banned (`"by": "tripwire"` in `block list`).
    fn tripwire_bans(&self) -> Vec<String> {
        let out = self.portolan(&["block", "list", "--format", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["bans"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["by"] == "tripwire")
            .map(|b| b["net"].as_str().unwrap().to_string())
            .collect()
    }

    /// Whether `block list` says the tripwire is armed.
    fn tripwire_armed(&self) -> bool {
        let out = self.portolan(&["block", "list", "--format", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["tripwire_armed"] == true
    }

    /// `detect -i any ARGS --format json` live in the target; returns once it captures.
    fn detect(&self, args: &[&str]) -> (Child, BufReader<std::process::ChildStderr>) {
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.t])
            .arg(portolan_command().get_program())
            .args(["detect", "-i", "any", "--format", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(c.stderr.take().unwrap());
        let mut line = String::new();
        // (--policy says first which admin zones are never banned)
        while err.read_line(&mut line).unwrap() > 0 && line.contains("never banned") {
            line.clear();
        }
        assert!(
            line.contains("capturing on"),
            "detect did not start: {line}"
        );
        self.detects.borrow_mut().push(c.id());
        (c, err)
    }

    /// A TCP connection from the benign namespace to the target's port 80 gets the banner.
    fn benign_works(&self) -> bool {
        self.connect_from(&self.b, TARGET_B)
    }

    /// Connection attempts from `ns` to `addr` on each of `ports` (closed ones): how many
    /// were refused (answered with a RST) rather than timed out (dropped: banned).
    fn refused(&self, ns: &str, addr: &str, ports: &[u16]) -> usize {
        self.refused_proto(ns, addr, ports, false)
    }

    /// The same for UDP datagrams (refused: an ICMP / ICMPv6 port unreachable came back).
    fn refused_proto(&self, ns: &str, addr: &str, ports: &[u16], udp: bool) -> usize {
        let fam = if addr.contains(':') {
            "AF_INET6"
        } else {
            "AF_INET"
        };
        let (ty, send) = if udp {
            ("socket.SOCK_DGRAM", "; s.send(b'x'); s.recv(16)")
        } else {
            ("socket.SOCK_STREAM", "")
        };
        let list = ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let py = format!(
            "import socket\nn=0\nfor p in [{list}]:\n  s=socket.socket(socket.{fam}, {ty}); s.settimeout(0.5)\n  \
             try: s.connect(('{addr}', p)){send}\n  except ConnectionRefusedError: n+=1\n  except OSError: pass\n  \
             s.close()\nprint(n)"
        );
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", &py])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    fn connect_from(&self, ns: &str, addr: &str) -> bool {
        self.connect_port(ns, addr, 80)
    }

    /// A TCP connection from `ns` to `addr`:`port` gets the banner.
    fn connect_port(&self, ns: &str, addr: &str, port: u16) -> bool {
        let py = format!(
            "import socket; s=socket.create_connection(('{addr}', {port}), timeout=2); \
             print(s.recv(64).decode().strip())"
        );
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", &py])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("lab service ready")
    }
}

/// Stop a live detect (SIGINT) and return its stdout (EVE lines) and the rest of its stderr.
fn stop(mut c: Child, mut err: BufReader<std::process::ChildStderr>) -> (Vec<Value>, String) {
    interrupt(c.id());
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut e = String::new();
    err.read_to_string(&mut e).unwrap();
    let _ = c.wait();
    let alerts = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (alerts, e)
}

/// SIGINT to the `ip netns exec` child, which execs the binary (same PID).
fn interrupt(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
}

fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// nmap's "Not shown: N closed tcp ports" / "N filtered" and the open ports it lists.
fn nmap_counts(text: &str) -> (u64, u64, Vec<u16>) {
    let mut closed = 0;
    let mut filtered = 0;
    let mut open = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("Not shown: ") {
            for part in rest.split(", ") {
                let n: u64 = part.split_whitespace().next().unwrap().parse().unwrap();
                if part.contains("closed") {
                    closed += n;
                } else if part.contains("filtered") {
                    filtered += n;
                }
            }
        }
        if let Some((p, st)) = l.split_once("/tcp") {
            let st = st.split_whitespace().next().unwrap_or("");
            if let Ok(p) = p.trim().parse::<u16>() {
                match st {
                    "open" => open.push(p),
                    "closed" => closed += 1,
                    "filtered" => filtered += 1,
                    _ => {}
                }
            }
        }
    }
    (closed, filtered, open)
}

#[test]
fn ips_lab_nmap_is_banned_at_once_and_a_benign_client_keeps_working() {
    if !can_run("ips_lab_nmap", &["nmap"]) {
        return;
    }
    let lab = Lab::new("nmap");
    assert!(lab.benign_works(), "the benign client works before");
    lab.reset_count();
    let (det, err) = lab.detect(&["--block", "--block-for", "2m"]);
    // a real nmap -sS -p-, made quick by letting it give up on dropped probes fast
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.s, "nmap", "-n", "-Pn", "-sS", "-p-"])
        .args(["--max-retries", "0", "--min-rate", "20000", TARGET])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "nmap: {text}");
    let passed = lab.passed();
    let (closed, filtered, open) = nmap_counts(&text);
    eprintln!(
        "nmap: {closed} closed, {filtered} filtered, open {open:?}; SYNs past the ban: {passed}"
    );
    // banned: the scanner is in the set, with a timeout
    assert!(
        lab.bans().contains(&SCANNER.to_string()),
        "{:?}",
        lab.bans()
    );
    // what nmap found answered before the ban: no more ports answered than SYNs got past it
    assert!(
        closed + open.len() as u64 <= passed,
        "nmap saw {closed} closed + {} open ports but only {passed} SYNs passed",
        open.len()
    );
    assert!(open.iter().all(|p| OPEN.contains(p)), "{open:?}");
    // the kernel tripwire banned the scanner at its 5th closed port answered: at most 5
    // closed ports answered, and no SYN passed but those and the open ports' (a SYN-ACK is
    // not counted)
    assert!(
        closed <= 5,
        "{closed} closed ports answered (tripwire after 5)"
    );
    assert!(
        passed <= 5 + open.len() as u64,
        "{passed} SYNs passed the ban: the tripwire came late"
    );
    assert!(passed >= 1, "the scan did reach the target");
    assert!(filtered > 65_000, "{filtered} ports filtered");
    assert!(
        lab.tripwire_bans().contains(&SCANNER.to_string()),
        "banned by the tripwire: {:?}",
        lab.tripwire_bans()
    );
    assert!(lab.benign_works(), "the benign client works during the ban");
    let (alerts, err) = stop(det, err);
    assert!(err.contains(&format!("blocked {SCANNER}")), "{err}");
    let scan: Vec<&Value> = alerts.iter().filter(|a| a["src_ip"] == SCANNER).collect();
    assert!(!scan.is_empty(), "no alert for the scanner");
    assert!(
        scan.iter().all(|a| a["alert"]["action"] == "blocked"),
        "{scan:?}"
    );
    // who banned it: the kernel, before the detector's alert
    assert!(
        scan.iter()
            .all(|a| a["portolan"]["blocked_by"] == "tripwire"),
        "{scan:?}"
    );
    assert!(err.contains("kernel tripwire armed"), "{err}");
    assert!(err.contains("the kernel tripwire banned it first"), "{err}");
    assert!(lab.benign_works(), "the benign client works after");
    // the detector's end disarms the tripwire; the bans stay
    assert!(!lab.tripwire_armed(), "the tripwire outlived detect");
    assert!(lab.bans().contains(&SCANNER.to_string()));
    // flush removes the table, and only it
    let out = lab.portolan(&["block", "flush"]);
    assert!(out.status.success());
    assert!(lab.bans().is_empty());
    assert!(lab.passed() > 0, "the lab's own table is untouched");
}

#[test]
fn ips_lab_masscan_ban_expires_by_itself() {
    if !can_run("ips_lab_masscan", &["masscan"]) {
        return;
    }
    let lab = Lab::new("mass");
    lab.reset_count();
    let (det, err) = lab.detect(&["--block", "--block-for", "3s"]);
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.s, "masscan", "-p1-20000", TARGET])
        .args(["--rate", "20000", "--wait", "0", "--interface", &lab.s_if])
        .args(["--router-mac", &lab.t_mac])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "masscan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passed = lab.passed();
    let found = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("Discovered open port"))
        .count() as u64;
    eprintln!("masscan: SYNs past the ban: {passed}, open ports found: {found}");
    // the tripwire: at most 5 closed ports answered, plus the open ones masscan hit before
    assert!(
        (1..=5 + found).contains(&passed),
        "{passed} SYNs passed the ban ({found} open found)"
    );

    // (20,000 ports at 20,000/s: the scan ends inside the 3 s ban)
    // the ban is gone within its 3 s (plus the kernel's garbage collection), with no daemon
    // doing anything: the scanner reaches the service again
    wait_for("the ban to expire", 15, || {
        !lab.bans().contains(&SCANNER.to_string())
    });
    assert!(
        lab.connect_from(&lab.s, TARGET),
        "the scanner is not banned any more"
    );
    let (alerts, _) = stop(det, err);
    // Who banned it: usually the kernel tripwire at the 5th closed port; masscan's bursts can
    // let the detector name the scan and ban first (at 4 probes in one CI run). Either way
    // the bound above held and the alert says the source was blocked, and by whom.
    assert!(
        alerts.iter().any(|a| a["src_ip"] == SCANNER
            && a["alert"]["action"] == "blocked"
            && (a["portolan"]["blocked_by"] == "tripwire"
                || a["portolan"]["blocked_by"] == "detector")),
        "{alerts:?}"
    );
}

#[test]
fn ips_lab_tripwire_bans_at_the_nth_distinct_closed_port_and_never_a_client() {
    if !can_run("ips_lab_tripwire", &[]) {
        return;
    }
    let lab = Lab::new("trip");
    // detector thresholds out of reach: only the kernel tripwire bans here
    let (det, err) = lab.detect(&["--block", "--tripwire-after", "3", "--sensitivity", "low"]);
    assert!(lab.tripwire_armed());
    // a client of the services: many connections to open ports, never counted
    for _ in 0..20 {
        for p in [22, 80, 443] {
            assert!(lab.connect_port(&lab.b, TARGET_B, p));
        }
    }
    // a client retrying one closed port (a service that is down): one port, counted once
    assert_eq!(lab.refused(&lab.b, TARGET_B, &[9999; 10]), 10);
    // and one more closed port: 2 distinct, under the threshold of 3
    assert_eq!(lab.refused(&lab.b, TARGET_B, &[9998]), 1);
    assert!(lab.benign_works(), "a client is never banned");
    assert!(lab.tripwire_bans().is_empty(), "{:?}", lab.tripwire_bans());
    // a probe of 6 closed ports: the 3rd distinct one answered bans, the rest are dropped
    assert_eq!(
        lab.refused(&lab.s, TARGET, &[1001, 1002, 1003, 1004, 1005, 1006]),
        3
    );
    assert_eq!(lab.tripwire_bans(), [SCANNER]);
    assert!(!lab.connect_from(&lab.s, TARGET), "the scanner is banned");
    assert!(lab.benign_works());
    // UDP probes: an ICMP port unreachable is an answer too, counted with the TCP ones:
    // the benign namespace had 2 closed TCP ports answered, so its first UDP one is the 3rd
    let udp: Vec<u16> = (4001..4010).collect();
    assert_eq!(lab.refused_proto(&lab.b, TARGET_B, &udp, true), 1);
    assert!(lab.tripwire_bans().contains(&BENIGN.to_string()));
    // IPv6: RSTs to ip6 addresses are counted in their own sets
    for (ns, dev, a) in [
        (&lab.s, &lab.s_if, "fd77::1/64"),
        (&lab.t, &lab.ts_if, "fd77::2/64"),
    ] {
        sh(&["ip", "-n", ns, "addr", "add", a, "dev", dev, "nodad"]);
    }
    wait_for("IPv6 to come up", 10, || {
        lab.refused(&lab.s, "fd77::2", &[999]) == 1
    });
    assert_eq!(
        lab.refused(&lab.s, "fd77::2", &[1001, 1002, 1003, 1004, 1005]),
        2,
        "999 counted"
    );
    assert!(
        lab.tripwire_bans().contains(&"fd77::1".to_string()),
        "{:?}",
        lab.tripwire_bans()
    );
    let (_, err) = stop(det, err);
    assert!(!lab.tripwire_armed(), "{err}");

    // --no-tripwire: only the detector bans (and nothing is armed)
    lab.portolan(&["block", "flush"]);
    let (det, err) = lab.detect(&["--block", "--no-tripwire", "--sensitivity", "low"]);
    assert!(!lab.tripwire_armed());
    lab.refused(&lab.s, TARGET, &[2001, 2002, 2003, 2004, 2005, 2006]);
    assert!(lab.tripwire_bans().is_empty(), "{:?}", lab.tripwire_bans());
    stop(det, err);
}

#[test]
fn ips_lab_allow_listed_scanner_is_never_banned_and_dry_run_changes_nothing() {
    if !can_run("ips_lab_allow", &["nmap"]) {
        return;
    }
    let lab = Lab::new("allow");
    let (det, err) = lab.detect(&["--block", "--allow", &format!("{SCANNER}/32")]);
    let out = Command::new("ip")
        .args([
            "netns", "exec", &lab.s, "nmap", "-n", "-Pn", "-sS", "-p", "1-1000",
        ])
        .args(["--max-retries", "0", TARGET])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (closed, _, open) = nmap_counts(&text);
    assert_eq!(open, [22, 80, 443], "{text}");
    assert_eq!(closed, 997, "{text}");
    assert!(lab.bans().is_empty(), "{:?}", lab.bans());
    stop(det, err);

    // --dry-run: the alert says blocked, the kernel holds no ban
    lab.portolan(&["block", "flush"]);
    let (det, err) = lab.detect(&["--block", "--dry-run"]);
    let out = Command::new("ip")
        .args([
            "netns", "exec", &lab.s, "nmap", "-n", "-Pn", "-sS", "-p", "1-1000",
        ])
        .args(["--max-retries", "0", TARGET])
        .output()
        .unwrap();
    let (closed, _, open) = nmap_counts(&String::from_utf8_lossy(&out.stdout));
    assert_eq!((closed, open.len()), (997, 3), "nothing was blocked");
    let (alerts, err) = stop(det, err);
    assert!(err.contains("would have blocked"), "{err}");
    assert!(alerts.iter().any(|a| a["alert"]["action"] == "blocked"));
    assert!(lab.bans().is_empty());

    // --policy: the zone a rule lets reach ssh is an admin zone, never banned (by the
    // tripwire or the detector); a scanner outside it still is
    let policy = lab.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "zones:\n  admins: { networks: [10.77.0.0/24] }\n  lab: { networks: [10.77.1.0/24] }\n\
         rules:\n  - { from: admins, to: lab, allow: [ssh] }\n  - { from: lab, to: lab, allow: [http] }\ndefault: deny\n",
    )
    .unwrap();
    let (det, err) = lab.detect(&["--block", "--policy", policy.to_str().unwrap()]);
    let ports: Vec<u16> = (3001..3021).collect();
    assert_eq!(
        lab.refused(&lab.s, TARGET, &ports),
        20,
        "admin zone: every probe answered"
    );
    assert_eq!(
        lab.refused(&lab.b, TARGET_B, &ports[..8]),
        5,
        "not an admin zone"
    );
    let (alerts, err) = stop(det, err);
    let bans = lab.bans();
    assert!(
        !bans.is_empty() && bans.iter().all(|b| b == BENIGN),
        "{bans:?} {alerts:?}"
    );
    assert!(!err.contains(&format!("blocked {SCANNER}")), "{err}");
}

#[test]
fn ips_lab_block_add_list_del_and_restore() {
    if !can_run("ips_lab_block_cmd", &[]) {
        return;
    }
    let lab = Lab::new("cmd");
    let out = lab.portolan(&["block", "add", SCANNER, "--for", "1h"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !lab.connect_from(&lab.s, TARGET),
        "banned by hand: no connection"
    );
    assert!(lab.benign_works());
    let state = lab.dir.path().join("bans.json");
    let st = state.to_str().unwrap();
    assert!(lab.portolan(&["block", "save", st]).status.success());
    assert!(lab.portolan(&["block", "flush"]).status.success());
    assert!(lab.connect_from(&lab.s, TARGET), "flushed: connects again");
    // after a "reboot": the saved ban comes back with the time it had left
    let out = lab.portolan(&["block", "restore", st]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lab.portolan(&["block", "list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ban = &v["bans"][0];
    assert_eq!(ban["net"], SCANNER);
    let left = ban["expires_in_s"].as_u64().unwrap();
    assert!((3500..=3600).contains(&left), "{left}");
    assert!(!lab.connect_from(&lab.s, TARGET));
    let out = lab.portolan(&["block", "del", SCANNER]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ban lifted"));
    assert!(lab.connect_from(&lab.s, TARGET));
    // prefixes on the real kernel: a wider one replaces a narrower one, a prefix banned again
    // is refreshed, an address inside is covered, del removes it (nft refuses to add an
    // interval that is there, or one that overlaps)
    for (args, want) in [
        (
            vec!["block", "add", "198.51.100.0/25", "--for", "1m"],
            "blocked for 1m",
        ),
        (
            vec!["block", "add", "198.51.100.0/24", "--for", "2m"],
            "blocked for 2m",
        ),
        (
            vec!["block", "add", "198.51.100.0/24", "--for", "5m"],
            "blocked for 5m",
        ),
        (vec!["block", "add", "198.51.100.7"], "already blocked"),
        (
            vec!["block", "del", "198.51.100.0/24", "198.51.100.0/25"],
            "ban lifted",
        ),
    ] {
        let out = lab.portolan(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(want),
            "{args:?}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args[1] == "add" && args[2] == "198.51.100.0/24" {
            assert_eq!(lab.bans(), ["198.51.100.0/24"]);
        }
    }
    assert!(lab.bans().is_empty(), "{:?}", lab.bans());
    // loopback and --allow are refused, with exit status 1
    let out = lab.portolan(&[
        "block",
        "add",
        "127.0.0.1",
        BENIGN,
        "--allow",
        "10.77.1.0/24",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(lab.bans().is_empty());
}

#[test]
fn ips_lab_syn_flood_gets_a_per_service_limit_that_lifts_itself() {
    if !can_run("ips_lab_synflood", &["hping3"]) {
        return;
    }
    let lab = Lab::new("flood");
    let conf = lab.dir.path().join("detect.toml");
    std::fs::write(&conf, "[flood]\nhalf_open = 200\n").unwrap();
    let (det, err) = lab.detect(&[
        "--config",
        conf.to_str().unwrap(),
        "--block",
        "--syn-flood-limit",
        "50",
        "--syn-flood-hold",
        "3s",
    ]);
    lab.reset_count();
    // a real SYN flood to the open port 80, about 5,000 a second for 3 s
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.s, "timeout", "-s", "INT", "3"])
        .args(["hping3", "-q", "-S", "-p", "80", "-i", "u200", TARGET])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let sent: u64 = text
        .split(" packets transmitted")
        .next()
        .and_then(|h| h.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("hping3: {text}"));
    let passed = lab.passed();
    // the kernel dropped SYNs to port 80 over the limit
    let out = lab.portolan(&["block", "list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dropped = v["dropped_packets"].as_u64().unwrap();
    eprintln!(
        "syn flood: {sent} SYNs sent, {passed} passed, {dropped} dropped by Portolan's table"
    );
    assert!(sent > 2000, "{text}");
    assert!(
        dropped > 0 && passed < sent,
        "{passed} of {sent} passed, {dropped} dropped"
    );
    // the flood's source is not banned (floods are spoofable)
    assert!(
        !lab.bans().contains(&SCANNER.to_string()),
        "{:?}",
        lab.bans()
    );
    // the limit lifts itself once the flood has stopped for 3 s
    wait_for("the SYN-flood limit to lift", 20, || {
        let out = lab.portolan(&["block", "list", "--format", "json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["syn_flood_limits"].as_array().unwrap().is_empty()
    });
    assert!(lab.benign_works());
    let (alerts, err) = stop(det, err);
    assert!(
        err.contains("SYN flood on port 80/tcp: new connections to it limited to 50/s"),
        "{err}"
    );
    let flood: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["portolan"]["technique"] == "syn-flood")
        .collect();
    assert!(!flood.is_empty(), "{alerts:?}");
    assert!(
        flood.iter().all(|a| a["alert"]["action"] == "blocked"
            && a["portolan"]["blocked_by"] == "syn-flood-limit"),
        "{flood:?}"
    );
}
