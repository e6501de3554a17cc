//! A network-namespace lab for integration tests: a fresh namespace with only `lo` up (no route
//! out, no other interface), processes started inside it, and cleanup on drop even when the
//! test fails. Names are unique per test and process, so tests run in parallel.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether a lab test that cannot run must fail (CI) rather than skip.
pub fn must_run() -> bool {
    super::in_ci()
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Skip (print why) or, under CI, fail.
pub fn skip_or_fail(why: &str) {
    if must_run() {
        panic!("lab test cannot run under CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

pub struct Lab {
    pub name: String,
    children: Vec<Child>,
    pub dir: tempfile::TempDir,
}

impl Lab {
    /// A fresh namespace `pl-local-<pid>-<test>`, or `None` (after printing why) when this
    /// machine cannot make one and we are not under CI. `tools` must all be installed.
    pub fn new(test: &str, tools: &[&str]) -> Option<Lab> {
        if !super::is_root() {
            skip_or_fail(&format!("{test}: needs root to create a network namespace"));
            return None;
        }
        for t in ["ip", "ss"].iter().chain(tools) {
            if !have(t) {
                skip_or_fail(&format!("{test}: `{t}` is not installed"));
                return None;
            }
        }
        let short: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect();
        let name = format!("pl-local-{}-{short}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let st = Command::new("ip").args(["netns", "add", &name]).status();
        if !st.is_ok_and(|s| s.success()) {
            skip_or_fail(&format!("{test}: `ip netns add {name}` failed"));
            return None;
        }
        let lab = Lab {
            name,
            children: Vec::new(),
            dir: tempfile::tempdir().ok()?,
        };
        lab.ip(&["link", "set", "lo", "up"]);
        // Let unprivileged daemons (nobody) write their scratch files.
        let _ = Command::new("chmod")
            .arg("0777")
            .arg(lab.dir.path())
            .status();
        Some(lab)
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `ip -n <ns> ...`, panicking on failure.
    pub fn ip(&self, args: &[&str]) {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command that runs inside the namespace.
    pub fn cmd(&self, prog: impl AsRef<Path>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog.as_ref());
        c
    }

    /// Run to completion inside the namespace.
    pub fn run(&self, prog: impl AsRef<Path>, args: &[&str]) -> Output {
        self.cmd(prog).args(args).output().unwrap()
    }

    /// Start a long-running process inside the namespace; it is killed when the lab drops.
    /// Returns its pid (`ip netns exec` execs the program, so the pid is the program's).
    pub fn spawn(&mut self, prog: &str, args: &[&str]) -> u32 {
        let child = self
            .cmd(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {prog}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Stop one process started with [`spawn`].
    pub fn stop(&mut self, pid: u32) {
        if let Some(i) = self.children.iter().position(|c| c.id() == pid) {
            let mut c = self.children.remove(i);
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let _ = c.wait();
        }
    }

    /// Wait until `ss` in the namespace shows `proto` sockets on every port in `ports`.
    pub fn wait_ports(&mut self, proto: &str, ports: &[u16]) {
        let flag = if proto == "tcp" { "-Htln" } else { "-Huln" };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.run("ss", &[flag]);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let missing: Vec<u16> = ports
                .iter()
                .copied()
                .filter(|p| {
                    !text.lines().any(|l| {
                        l.split_whitespace()
                            .nth(3)
                            .is_some_and(|a| a.ends_with(&format!(":{p}")))
                    })
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            for c in &mut self.children {
                if let Ok(Some(st)) = c.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = c.stderr.take() {
                        use std::io::Read;
                        let _ = e.read_to_string(&mut err);
                    }
                    panic!(
                        "a lab process (pid {}) exited with {st} before listening: {err}",
                        c.id()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "{proto} ports {missing:?} never appeared:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // SIGTERM first, so a daemon (the nginx master) stops and reaps its own workers.
        for c in &self.children {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for c in &mut self.children {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // nginx workers are children of the master: kill whatever still runs in the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Effective uid of a process.
pub fn euid(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// Pids whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|x| x.parse::<u32>().ok());
        if ppid == Some(pid) {
            v.push(p);
        }
    }
    v
}

/// Poll `cond` until it holds (panic after 20 s, naming `what`).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A file of the repository's `tests/lab/` directory (lab scripts and their tables).
pub fn lab_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/lab")
        .join(name)
}

/// Real daemons started in namespace `ns` by a `tests/lab/` script (`SCRIPT up NS DIR`); the
/// script's `down` stops them and removes the namespace and `dir` on drop, even when the test
/// fails.
pub struct ScriptLab {
    pub ns: String,
    pub dir: String,
    script: PathBuf,
}

impl ScriptLab {
    /// Runs `tests/lab/SCRIPT up NS DIR`; panics with the script's error output if it fails.
    pub fn up(script: &str, ns: String, dir: String) -> ScriptLab {
        let lab = ScriptLab {
            ns,
            dir,
            script: lab_file(script),
        };
        let up = Command::new("bash")
            .arg(&lab.script)
            .args(["up", &lab.ns, &lab.dir])
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "lab up failed: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        lab
    }
}

impl Drop for ScriptLab {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .args(["down", &self.ns, &self.dir])
            .status();
    }
}

/// Debian version → upstream version: drop the epoch, the Debian revision and repack
/// suffixes (`1:9.2p1-2+deb12u3` → `9.2p1`, `3.5.0+ds1-0+deb12u1` → `3.5.0`).
pub fn upstream(v: &str) -> String {
    let v = v.split_once(':').map_or(v, |(_, r)| r);
    let v = v.rsplit_once('-').map_or(v, |(u, _)| u);
    v.split(['+', '~']).next().unwrap_or(v).to_string()
}

/// The upstream version of an installed Debian package (`dpkg-query`), if it is installed.
pub fn package_version(pkg: &str) -> Option<String> {
    let o = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", pkg])
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| upstream(String::from_utf8_lossy(&o.stdout).trim()))
}
