//! Which processes hold which sockets: `/proc/<pid>/fd` links of the form `socket:[INODE]`,
//! and for each holder its name, command line, effective user and systemd unit.
//!
//! Socket inodes are global, so this works across network namespaces: run inside a namespace,
//! the sockets listed are that namespace's, and the processes holding them are found among all
//! the processes this pid namespace shows. A process whose `fd` directory cannot be read
//! (another user's, when not root) is counted in [`ProcessMap::inaccessible`], never guessed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A process holding at least one listed socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    /// `/proc/<pid>/comm`.
    pub name: String,
    /// `/proc/<pid>/cmdline`, arguments joined by spaces.
    pub cmdline: String,
    /// Effective uid (from `/proc/<pid>/status`).
    pub uid: Option<u32>,
    /// User name of `uid`, from `/etc/passwd`.
    pub user: Option<String>,
    /// The systemd unit the process runs in (from `/proc/<pid>/cgroup`), if any.
    pub unit: Option<String>,
}

/// One process holding a socket through one of its descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Holder {
    pub pid: u32,
    pub fd: u32,
}

/// Sockets → processes.
#[derive(Clone, Debug, Default)]
pub struct ProcessMap {
    /// Holders of each wanted socket inode, sorted by pid.
    pub holders: HashMap<u64, Vec<Holder>>,
    /// Details of every holder.
    pub processes: BTreeMap<u32, Process>,
    /// Processes whose descriptors could not be read (permission): their sockets show no owner.
    pub inaccessible: usize,
}

/// Parse the target of an fd link: `socket:[12345]` → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let rest = link.strip_prefix(b"socket:[")?;
    let digits = rest.strip_suffix(b"]")?;
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Effective uid from the text of `/proc/<pid>/status`.
pub fn status_euid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_ascii_whitespace().nth(2)?.parse().ok()
}

/// The systemd unit from the text of `/proc/<pid>/cgroup`: the last path component that is a
/// `.service` (or, failing that, a `.scope` or `.socket`), in the unified (v2) line when present.
pub fn cgroup_unit(cgroup: &str) -> Option<String> {
    let path = cgroup
        .lines()
        .find(|l| l.starts_with("0::"))
        .or_else(|| cgroup.lines().find(|l| l.contains(":name=systemd:")))
        .or_else(|| cgroup.lines().next())?;
    let path = path.splitn(3, ':').nth(2)?;
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for suffix in [".service", ".scope", ".socket"] {
        if let Some(c) = comps.iter().rev().find(|c| c.ends_with(suffix)) {
            // user@1000.service holds a user's own units: prefer a deeper one if any.
            return Some((*c).to_string());
        }
    }
    None
}

/// `uid → name` from the text of `/etc/passwd`. Malformed lines are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && !f[0].is_empty() {
            if let Ok(uid) = f[2].parse::<u32>() {
                m.entry(uid).or_insert_with(|| f[0].to_string());
            }
        }
    }
    m
}

/// Walk `proc_root` (normally `/proc`) and find the holders of the `wanted` socket inodes.
pub fn scan(proc_root: &Path, wanted: &HashSet<u64>, passwd: &HashMap<u32, String>) -> ProcessMap {
    let mut map = ProcessMap::default();
    if wanted.is_empty() {
        return map;
    }
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return map;
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let fd_dir = proc_root.join(pid.to_string()).join("fd");
        let fds = match std::fs::read_dir(&fd_dir) {
            Ok(d) => d,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    map.inaccessible += 1;
                }
                continue; // the process exited, or is not ours to see
            }
        };
        let mut found = false;
        for fd in fds.filter_map(|e| e.ok()) {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) else {
                continue;
            };
            if !wanted.contains(&inode) {
                continue;
            }
            let fdn = fd
                .file_name()
                .to_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            map.holders
                .entry(inode)
                .or_default()
                .push(Holder { pid, fd: fdn });
            found = true;
        }
        if found {
            map.processes
                .insert(pid, read_process(proc_root, pid, passwd));
        }
    }
    for v in map.holders.values_mut() {
        v.sort_unstable();
    }
    map
}

fn read_process(proc_root: &Path, pid: u32, passwd: &HashMap<u32, String>) -> Process {
    let dir = proc_root.join(pid.to_string());
    let name = std::fs::read(dir.join("comm"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\n')
                .to_string()
        })
        .unwrap_or_default();
    let cmdline = std::fs::read(dir.join("cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let uid = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| status_euid(&s));
    let unit = std::fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|s| cgroup_unit(&s));
    Process {
        pid,
        name,
        cmdline,
        uid,
        user: uid.and_then(|u| passwd.get(&u).cloned()),
        unit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_links() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"pipe:[12]"), None);
        assert_eq!(socket_inode(b"socket:[12x]"), None);
        assert_eq!(socket_inode(b"socket:[99999999999999999999999]"), None);
    }

    #[test]
    fn units() {
        assert_eq!(
            cgroup_unit("0::/system.slice/nginx.service\n").as_deref(),
            Some("nginx.service")
        );
        assert_eq!(
            cgroup_unit("0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n")
                .as_deref(),
            Some("foo.service")
        );
        assert_eq!(
            cgroup_unit("0::/user.slice/user-1000.slice/session-3.scope\n").as_deref(),
            Some("session-3.scope")
        );
        assert_eq!(cgroup_unit("0::/\n"), None);
        assert_eq!(
            cgroup_unit("12:cpu:/x\n1:name=systemd:/system.slice/redis-server.service\n")
                .as_deref(),
            Some("redis-server.service")
        );
    }

    #[test]
    fn status_and_passwd() {
        assert_eq!(status_euid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(0));
        let p = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbad\nredis:x:101:102::/var/lib/redis:/usr/sbin/nologin\n");
        assert_eq!(p.get(&101).map(String::as_str), Some("redis"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn scan_fake_proc() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("42");
        std::fs::create_dir_all(p.join("fd")).unwrap();
        std::os::unix::fs::symlink("socket:[777]", p.join("fd/3")).unwrap();
        std::os::unix::fs::symlink("socket:[778]", p.join("fd/4")).unwrap();
        std::os::unix::fs::symlink("/dev/null", p.join("fd/0")).unwrap();
        std::fs::write(p.join("comm"), "redis-server\n").unwrap();
        std::fs::write(p.join("cmdline"), b"redis-server\0*:6379\0").unwrap();
        std::fs::write(p.join("status"), "Uid:\t101\t101\t101\t101\n").unwrap();
        std::fs::write(p.join("cgroup"), "0::/system.slice/redis-server.service\n").unwrap();
        std::fs::create_dir_all(d.path().join("self")).unwrap();
        let passwd = parse_passwd("redis:x:101:1::/:/bin/false\n");
        let m = scan(d.path(), &HashSet::from([777]), &passwd);
        assert_eq!(m.holders[&777], vec![Holder { pid: 42, fd: 3 }]);
        assert!(!m.holders.contains_key(&778));
        let pr = &m.processes[&42];
        assert_eq!(pr.name, "redis-server");
        assert_eq!(pr.cmdline, "redis-server *:6379");
        assert_eq!(pr.user.as_deref(), Some("redis"));
        assert_eq!(pr.unit.as_deref(), Some("redis-server.service"));
    }
}
