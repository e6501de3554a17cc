//! Output destinations: `-o FMT=PATH` specs, checked before a scan starts, and files written
//! atomically.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::Format;

/// Why an output cannot be used. Each names the output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("-o {spec:?}: {why}")]
    Spec { spec: String, why: String },
    #[error("cannot write output file {path}: {why}")]
    Path { path: String, why: String },
    /// The I/O error is in the message, not also a `source` (a chain would say it twice).
    #[error("cannot write output file {path}: {err}")]
    Io { path: String, err: io::Error },
}

/// An output error as a sink's error: an I/O failure stays an `io::Error` (its kind is what a
/// caller tells a closed pipe by), the rest keeps its message.
impl From<OutputError> for portolan_model::SinkError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Io { err, .. } => portolan_model::SinkError::Io(err),
            e => portolan_model::SinkError::Other(e.to_string()),
        }
    }
}

/// One `-o` argument: `FMT=PATH`, or `PATH` alone (JSON Lines, the command's JSON).
/// `PATH` `-` is standard output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    pub format: Format,
    /// `None`: standard output.
    pub path: Option<PathBuf>,
}

impl OutputSpec {
    pub fn parse(spec: &str) -> Result<OutputSpec, OutputError> {
        let bad = |why: String| OutputError::Spec {
            spec: spec.into(),
            why,
        };
        let (format, path) = match spec.split_once('=') {
            Some((f, p)) if f.parse::<Format>().is_ok() || !f.contains(['/', '.']) => {
                (f.parse::<Format>().map_err(bad)?, p)
            }
            _ => (Format::Jsonl, spec),
        };
        if path.is_empty() {
            return Err(bad(
                "the path is empty (write FORMAT=PATH, e.g. -o xml=out.xml)".into(),
            ));
        }
        Ok(OutputSpec {
            format,
            path: (path != "-").then(|| PathBuf::from(path)),
        })
    }

    /// Check a set of outputs together, before anything is written: at most one goes to
    /// standard output, no two to the same file, and every file's directory exists.
    pub fn check_all(specs: &[OutputSpec]) -> Result<(), OutputError> {
        let mut seen = HashSet::new();
        let mut stdout = false;
        for s in specs {
            let Some(p) = &s.path else {
                if stdout {
                    return Err(OutputError::Spec {
                        spec: format!("{}=-", s.format),
                        why: "only one output can go to standard output".into(),
                    });
                }
                stdout = true;
                continue;
            };
            check_dir(p)?;
            let key = identity(p);
            if !seen.insert(key) {
                return Err(OutputError::Path {
                    path: p.display().to_string(),
                    why: "given twice: each -o needs its own file".into(),
                });
            }
        }
        Ok(())
    }
}

/// The output's directory exists and the path is not a directory.
fn check_dir(path: &Path) -> Result<(), OutputError> {
    let err = |why: String| OutputError::Path {
        path: path.display().to_string(),
        why,
    };
    if path.is_dir() {
        return Err(err("it is a directory: give a file name".into()));
    }
    let dir = parent(path);
    if !dir.is_dir() {
        return Err(err(format!(
            "the directory {} does not exist: create it first",
            dir.display()
        )));
    }
    Ok(())
}

/// A path's identity for duplicate checks: the canonical directory plus the file name.
fn identity(p: &Path) -> PathBuf {
    let dir = parent(p);
    let dir = dir.canonicalize().unwrap_or(dir);
    match p.file_name() {
        Some(n) => dir.join(n),
        None => p.to_path_buf(),
    }
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file written through a temporary file created exclusively (`O_EXCL`, random name) in the
/// target's directory and renamed over the target by [`AtomicFile::commit`]. Dropped without
/// commit, the temporary file is removed and the target is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    w: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Create the temporary file now (proving the directory is writable).
    pub fn create(path: &Path) -> Result<AtomicFile, OutputError> {
        check_dir(path)?;
        let dir = parent(path);
        let err = |why: String| OutputError::Path {
            path: path.display().to_string(),
            why,
        };
        // The file keeps the permissions of the one it replaces; a new one gets 0644 (what
        // File::create gives under the usual umask), not the temporary file's 0600.
        #[cfg(unix)]
        let perms = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path)
                .map(|m| m.permissions())
                .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644))
        };
        let mut b = tempfile::Builder::new();
        b.prefix(".portolan-").suffix(".tmp");
        #[cfg(unix)]
        b.permissions(perms);
        let tmp = b.tempfile_in(&dir).map_err(|e| {
            err(format!(
                "cannot create a file in {} ({e}): check it is writable",
                dir.display()
            ))
        })?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            w: BufWriter::new(tmp),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write everything so far to the disk (the temporary file).
    pub fn sync(&mut self) -> io::Result<()> {
        self.w.flush()?;
        self.w.get_ref().as_file().sync_data()
    }

    /// Flush, sync and rename over the target.
    pub fn commit(self) -> Result<(), OutputError> {
        let path = self.path.display().to_string();
        let io = |err: io::Error| OutputError::Io {
            path: path.clone(),
            err,
        };
        let tmp = self.w.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.as_file().sync_data().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Where an output goes.
#[derive(Debug)]
pub enum Dest {
    Stdout,
    /// Written whole through a temporary file, renamed on success.
    File(AtomicFile),
    /// Written in place as it is produced (a JSON Lines stream that readers follow).
    Stream(PathBuf, BufWriter<File>),
}

impl Dest {
    /// Standard output, or a new [`AtomicFile`] for `path`.
    /// A path that names a symlink, a device or a FIFO (`/dev/stdout`, a named pipe) is written
    /// through, as given: renaming over it would replace the link or the device node.
    pub fn open(path: Option<&Path>) -> Result<Dest, OutputError> {
        let Some(p) = path else {
            return Ok(Dest::Stdout);
        };
        match std::fs::symlink_metadata(p) {
            Ok(m) if !m.file_type().is_file() => {
                check_dir(p)?;
                let f = File::create(p).map_err(|e| OutputError::Path {
                    path: p.display().to_string(),
                    why: e.to_string(),
                })?;
                Ok(Dest::Stream(p.to_path_buf(), BufWriter::new(f)))
            }
            _ => Ok(Dest::File(AtomicFile::create(p)?)),
        }
    }
    /// A file written in place as it is produced, created or truncated — or appended to when
    /// `append` (a resumed scan). Open these after every other output: opening truncates.
    pub fn stream(path: &Path, append: bool) -> Result<Dest, OutputError> {
        check_dir(path)?;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true);
        if append {
            o.append(true);
        } else {
            o.truncate(true);
        }
        let f = o.open(path).map_err(|e| OutputError::Path {
            path: path.display().to_string(),
            why: format!("{e} (check the directory is writable)"),
        })?;
        Ok(Dest::Stream(path.to_path_buf(), BufWriter::new(f)))
    }
    /// For error messages.
    pub fn name(&self) -> String {
        match self {
            Dest::Stdout => "standard output".into(),
            Dest::File(f) => f.path().display().to_string(),
            Dest::Stream(p, _) => p.display().to_string(),
        }
    }
    /// Make what was written durable (a file's temporary copy is synced to disk).
    pub fn sync(&mut self) -> io::Result<()> {
        match self {
            Dest::Stdout => io::stdout().flush(),
            Dest::File(f) => f.sync(),
            Dest::Stream(_, w) => {
                w.flush()?;
                w.get_ref().sync_data()
            }
        }
    }
    /// Done: flush standard output, or rename the file over its target.
    pub fn commit(self) -> Result<(), OutputError> {
        match self {
            Dest::Stdout => io::stdout().flush().map_err(|err| OutputError::Io {
                path: "standard output".into(),
                err,
            }),
            Dest::File(f) => f.commit(),
            Dest::Stream(p, mut w) => w.flush().map_err(|err| OutputError::Io {
                path: p.display().to_string(),
                err,
            }),
        }
    }
}

impl Write for Dest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Dest::Stdout => io::stdout().lock().write(buf),
            Dest::File(f) => f.write(buf),
            Dest::Stream(_, w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Dest::Stdout => io::stdout().flush(),
            Dest::File(f) => f.flush(),
            Dest::Stream(_, w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s = OutputSpec::parse("xml=out.xml").unwrap();
        assert_eq!(
            (s.format, s.path.as_deref()),
            (Format::Xml, Some(Path::new("out.xml")))
        );
        let s = OutputSpec::parse("out.jsonl").unwrap();
        assert_eq!(s.format, Format::Jsonl);
        assert_eq!(OutputSpec::parse("json=-").unwrap().path, None);
        assert!(OutputSpec::parse("pdf=x").is_err());
        assert!(OutputSpec::parse("xml=").is_err());
    }

    #[test]
    fn devices_and_links_are_written_through_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut d = Dest::open(Some(&link)).unwrap();
        d.write_all(b"new").unwrap();
        d.commit().unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let mut d = Dest::open(Some(Path::new("/dev/null"))).unwrap();
        d.write_all(b"x").unwrap();
        d.commit().unwrap();
        assert!(!std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_file());
    }

    #[test]
    fn duplicates_and_two_stdouts_are_refused() {
        let a = OutputSpec::parse("xml=./a.out").unwrap();
        let b = OutputSpec::parse("csv=a.out").unwrap();
        let e = OutputSpec::check_all(&[a, b]).unwrap_err().to_string();
        assert!(e.contains("given twice"), "{e}");
        let s = [
            OutputSpec::parse("xml=-").unwrap(),
            OutputSpec::parse("csv=-").unwrap(),
        ];
        assert!(OutputSpec::check_all(&s).is_err());
    }

    #[test]
    fn atomic_file_never_truncates_and_ignores_planted_names() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.xml");
        std::fs::write(&target, "earlier").unwrap();
        // A symlink planted at the old fixed temporary name is not followed.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, dir.path().join("out.xml.tmp-portolan")).unwrap();
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new").unwrap();
        drop(f); // an error before commit: the earlier file stays whole
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "earlier");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&target).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o644, "{mode:o}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let missing = dir.path().join("nope/out.xml");
        let e = AtomicFile::create(&missing).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
