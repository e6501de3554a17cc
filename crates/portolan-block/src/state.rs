//! The restore file: every ban with its absolute expiry (Unix seconds), so bans survive a
//! reboot (`portolan block restore FILE` puts back those not yet expired, with the time they
//! have left).
//!
//! ```json
//! {"schema_version": 1, "bans": [{"net": "203.0.113.7", "expires": 1795000000}]}
//! ```
//!
//! The file is rewritten whole through a temporary file renamed over it, so a crash never
//! leaves half a file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::net::Net;
use crate::BlockError;

/// Version of the file's layout.
pub const SCHEMA_VERSION: u32 = 1;
/// Largest restore file read.
pub const MAX_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedBan {
    pub net: Net,
    /// Unix time (seconds) the ban ends.
    pub expires: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileBody {
    schema_version: u32,
    bans: Vec<SavedBan>,
}

/// A restore file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl StateFile {
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        StateFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, why: impl std::fmt::Display) -> BlockError {
        BlockError::State {
            path: self.path.display().to_string(),
            why: why.to_string(),
        }
    }

    /// Every ban in the file (expired ones too); an absent file holds none.
    pub fn load(&self) -> Result<Vec<SavedBan>, BlockError> {
        let f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut text = String::new();
        f.take(MAX_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| self.err(e))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(self.err(format!("larger than {MAX_BYTES} bytes")));
        }
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let body: FileBody = serde_json::from_str(&text)
            .map_err(|e| self.err(format!("not a Portolan restore file ({e})")))?;
        if body.schema_version != SCHEMA_VERSION {
            return Err(self.err(format!(
                "schema_version {} is not {SCHEMA_VERSION}, the one this portolan reads",
                body.schema_version
            )));
        }
        Ok(body.bans)
    }

    /// The bans still running at `now`, each with the time it has left.
    pub fn remaining(&self, now: SystemTime) -> Result<Vec<(Net, Duration)>, BlockError> {
        let now = unix(now);
        Ok(self
            .load()?
            .into_iter()
            .filter(|b| b.expires > now)
            .map(|b| (b.net, Duration::from_secs(b.expires - now)))
            .collect())
    }

    fn save(&self, bans: impl IntoIterator<Item = SavedBan>) -> Result<(), BlockError> {
        let body = FileBody {
            schema_version: SCHEMA_VERSION,
            bans: bans.into_iter().collect(),
        };
        let text = serde_json::to_string(&body).map_err(|e| self.err(e))?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".portolan-bans-")
            .tempfile_in(&dir)
            .map_err(|e| self.err(format!("cannot create a file in {}: {e}", dir.display())))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| self.err(e))?;
        tmp.persist(&self.path).map_err(|e| self.err(e.error))?;
        Ok(())
    }

    fn update(
        &self,
        now: SystemTime,
        f: impl FnOnce(&mut BTreeMap<Net, u64>),
    ) -> Result<(), BlockError> {
        let t = unix(now);
        let mut map: BTreeMap<Net, u64> = self
            .load()?
            .into_iter()
            .filter(|b| b.expires > t)
            .map(|b| (b.net, b.expires))
            .collect();
        f(&mut map);
        self.save(
            map.into_iter()
                .map(|(net, expires)| SavedBan { net, expires }),
        )
    }

    /// Record bans made at `now` (a ban made again gets its new expiry) and bans lifted;
    /// expired entries are dropped.
    pub fn record(
        &mut self,
        added: &[(Net, Duration)],
        removed: &[Net],
        now: SystemTime,
    ) -> Result<(), BlockError> {
        let t = unix(now);
        self.update(now, |m| {
            for n in removed {
                m.remove(n);
            }
            for (n, d) in added {
                m.insert(*n, t.saturating_add(d.as_secs().max(1)));
            }
        })
    }

    /// Forget these bans.
    pub fn remove(&mut self, nets: &[Net]) -> Result<(), BlockError> {
        self.update(SystemTime::now(), |m| {
            for n in nets {
                m.remove(n);
            }
        })
    }

    /// Forget every ban.
    pub fn clear(&mut self) -> Result<(), BlockError> {
        self.save(Vec::new())
    }

    /// Replace the file's content with `bans` (their time left counted from `now`).
    pub fn replace(&mut self, bans: &[(Net, Duration)], now: SystemTime) -> Result<(), BlockError> {
        let t = unix(now);
        self.save(bans.iter().map(|(net, d)| SavedBan {
            net: *net,
            expires: t.saturating_add(d.as_secs()),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn record_and_remaining() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = StateFile::new(dir.path().join("bans.json"));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a: Net = "203.0.113.7".parse().unwrap();
        let p: Net = "198.51.100.0/24".parse().unwrap();
        f.record(
            &[(a, Duration::from_secs(60)), (p, Duration::from_secs(3600))],
            &[],
            t0,
        )
        .unwrap();
        let left = f.remaining(t0 + Duration::from_secs(50)).unwrap();
        assert_eq!(
            left,
            vec![(p, Duration::from_secs(3550)), (a, Duration::from_secs(10))]
        );
        // an hour later only the prefix is left; a refresh extends a ban
        f.record(
            &[(a, Duration::from_secs(60))],
            &[],
            t0 + Duration::from_secs(100),
        )
        .unwrap();
        let left = f.remaining(t0 + Duration::from_secs(120)).unwrap();
        assert!(left.contains(&(a, Duration::from_secs(40))), "{left:?}");
        f.remove(&[p]).unwrap();
        assert!(f.load().unwrap().iter().all(|b| b.net != p));
        f.clear().unwrap();
        assert!(f.load().unwrap().is_empty());
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bans.json");
        std::fs::write(&path, "{\"schema_version\": 9, \"bans\": []}").unwrap();
        let e = StateFile::new(&path).load().unwrap_err().to_string();
        assert!(e.contains("schema_version 9"), "{e}");
        std::fs::write(&path, "garbage").unwrap();
        let e = StateFile::new(&path).load().unwrap_err().to_string();
        assert!(e.contains("not a Portolan restore file"), "{e}");
        assert!(StateFile::new(dir.path().join("absent"))
            .load()
            .unwrap()
            .is_empty());
    }
}
