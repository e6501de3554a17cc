//! Bounded reading of files the user names (`-iL`, `--exclude-file`, `--probes-file`,
//! `--baseline`, `registry update --from`, ...).
//!
//! A path on a command line can be anything: `/dev/zero` never ends, a FIFO may never be opened
//! for writing or may never close. Every file input of Portolan is read through
//! [`read_bounded`] (or [`read_stdin_bounded`] for `-`), which
//!
//! - stops after a size limit chosen by the caller for that kind of input
//!   ([`ReadError::TooLarge`] names the limit), and
//! - for anything that is not a regular file (a FIFO, a character device, a socket, standard
//!   input that is not a terminal), gives up when no data has come for [`idle_timeout`]
//!   ([`ReadError::Stalled`]) instead of waiting for ever. A regular file never blocks.
//!
//! It lives in this crate because every crate that reads user files depends on it (it is the
//! bottom of the workspace's dependency graph).

use std::io::{self, IsTerminal, Read};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How long a FIFO, a device or piped standard input may stay silent before the read gives up,
/// unless `PORTOLAN_INPUT_TIMEOUT` (seconds) says otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One MiB, for limits.
pub const MIB: u64 = 1 << 20;

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path} ({what}): {source}")]
    Io {
        path: String,
        what: &'static str,
        source: io::Error,
    },
    #[error(
        "{path} is larger than {} MiB, the most portolan reads for {what}: \
         is it the right file? ({hint})",
        limit / MIB
    )]
    TooLarge {
        path: String,
        what: &'static str,
        limit: u64,
        hint: &'static str,
    },
    #[error(
        "{path} ({what}) sent no data for {} s: a FIFO or device that nobody writes to? \
         Give a regular file, or write to it and close it \
         (PORTOLAN_INPUT_TIMEOUT=SECONDS waits longer)",
        idle.as_secs()
    )]
    Stalled {
        path: String,
        what: &'static str,
        idle: Duration,
    },
    #[error("{path} ({what}) is not UTF-8 text")]
    NotUtf8 { path: String, what: &'static str },
}

/// What is read, and how much of it is accepted.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// What the file is, for messages ("a target list").
    pub what: &'static str,
    /// Most bytes accepted.
    pub max_bytes: u64,
    /// What to do when the limit is hit ("split the list ...").
    pub hint: &'static str,
}

/// The idle timeout for FIFOs, devices and piped input: `PORTOLAN_INPUT_TIMEOUT` seconds
/// (at least 1), else [`DEFAULT_IDLE_TIMEOUT`].
pub fn idle_timeout() -> Duration {
    std::env::var("PORTOLAN_INPUT_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(DEFAULT_IDLE_TIMEOUT, |s| Duration::from_secs(s.max(1)))
}

/// Read a whole file, at most `limit.max_bytes` of it; see the module documentation.
pub fn read_bounded(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let name = path.display().to_string();
    let io_err = |source| ReadError::Io {
        path: name.clone(),
        what: limit.what,
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory, not a file",
        )));
    }
    if meta.is_file() {
        let f = std::fs::File::open(path).map_err(io_err)?;
        let mut out = Vec::new();
        f.take(limit.max_bytes.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(io_err)?;
        if out.len() as u64 > limit.max_bytes {
            return Err(too_large(name, limit));
        }
        return Ok(out);
    }
    // A FIFO, a device, a socket: opening and reading may block, so both happen on a thread
    // that is abandoned when it stays silent too long.
    let owned = path.to_path_buf();
    read_watched(
        move || std::fs::File::open(owned),
        name,
        limit,
        idle_timeout(),
    )
}

/// [`read_bounded`] into a `String`.
pub fn read_bounded_string(path: &Path, limit: Limit) -> Result<String, ReadError> {
    let bytes = read_bounded(path, limit)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 {
        path: path.display().to_string(),
        what: limit.what,
    })
}

/// Read standard input (`-`), at most `limit.max_bytes`. From a terminal it waits as long as
/// the user types; from a pipe it gives up after [`idle_timeout`] of silence.
pub fn read_stdin_bounded(limit: Limit) -> Result<String, ReadError> {
    let idle = if io::stdin().is_terminal() {
        Duration::MAX
    } else {
        idle_timeout()
    };
    let bytes = read_watched(|| Ok(io::stdin()), "standard input".into(), limit, idle)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 {
        path: "standard input".into(),
        what: limit.what,
    })
}

fn too_large(path: String, limit: Limit) -> ReadError {
    ReadError::TooLarge {
        path,
        what: limit.what,
        limit: limit.max_bytes,
        hint: limit.hint,
    }
}

/// Open and read on a helper thread; give up after `idle` without data or past the limit.
fn read_watched<R, F>(
    open: F,
    name: String,
    limit: Limit,
    idle: Duration,
) -> Result<Vec<u8>, ReadError>
where
    R: Read,
    F: FnOnce() -> io::Result<R> + Send + 'static,
{
    const CHUNK: usize = 64 * 1024;
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let spawned = std::thread::Builder::new()
        .name("portolan-input".into())
        .spawn(move || {
            let mut r = match open() {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            loop {
                let mut buf = vec![0u8; CHUNK];
                match r.read(&mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        // An empty chunk is the end; a closed channel means the reader gave up.
                        if tx.send(Ok(buf)).is_err() || n == 0 {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
    let io_err = |source| ReadError::Io {
        path: name.clone(),
        what: limit.what,
        source,
    };
    spawned.map_err(io_err)?;
    let mut out = Vec::new();
    loop {
        let next = if idle == Duration::MAX {
            rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(idle)
        };
        match next {
            Ok(Ok(chunk)) if chunk.is_empty() => return Ok(out),
            Ok(Ok(chunk)) => {
                out.extend_from_slice(&chunk);
                if out.len() as u64 > limit.max_bytes {
                    return Err(too_large(name, limit));
                }
            }
            Ok(Err(e)) => return Err(io_err(e)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(ReadError::Stalled {
                    path: name,
                    what: limit.what,
                    idle,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io_err(io::Error::other("the reading thread stopped")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SMALL: Limit = Limit {
        what: "a test file",
        max_bytes: 1000,
        hint: "make it smaller",
    };

    #[test]
    fn regular_files_within_and_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, vec![b'a'; 1000]).unwrap();
        assert_eq!(read_bounded(&p, SMALL).unwrap().len(), 1000);
        std::fs::write(&p, vec![b'a'; 1001]).unwrap();
        let e = read_bounded(&p, SMALL).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { limit: 1000, .. }), "{e}");
        assert!(e.to_string().contains("make it smaller"), "{e}");
        assert!(read_bounded(dir.path(), SMALL).is_err());
        assert!(read_bounded(&dir.path().join("missing"), SMALL).is_err());
        std::fs::write(&p, b"\xff\xfe").unwrap();
        assert!(matches!(
            read_bounded_string(&p, SMALL),
            Err(ReadError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn dev_zero_stops_at_the_limit() {
        let e = read_bounded(Path::new("/dev/zero"), SMALL).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("/dev/zero"), "{e}");
    }

    #[test]
    fn a_silent_reader_is_abandoned() {
        // A reader that never returns (a FIFO nobody writes to).
        struct Never;
        impl Read for Never {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_secs(3600));
                Ok(0)
            }
        }
        let e = read_watched(
            || Ok(Never),
            "fifo".into(),
            SMALL,
            Duration::from_millis(50),
        )
        .unwrap_err();
        assert!(matches!(e, ReadError::Stalled { .. }), "{e}");
        // Data, then the end, is read whole.
        let r = read_watched(
            || Ok(io::Cursor::new(b"abc".to_vec())),
            "cursor".into(),
            SMALL,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r, b"abc");
    }
}
