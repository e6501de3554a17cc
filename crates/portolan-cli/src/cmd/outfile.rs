//! The output convention shared by the commands (docs/output.md): `--format FMT` for standard
//! output, `--json` for `--format json`, `-o FMT=PATH` (repeatable; `-o PATH` is json) for
//! files, each file written to a temporary file created exclusively with a random name in the
//! target's directory and renamed over the target only on success. [`OutputArgs`] is those three
//! flags, flattened into each command's arguments, so they read and behave the same everywhere.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The JSON schema version every JSON document and JSON Lines record carries as
/// `"schema_version"` (beside the older `schema` fields, kept for compatibility).
pub const SCHEMA_VERSION: u32 = 1;

/// A command's output formats: a `ValueEnum` with a `table` value (the default) and a `json`
/// one (what `--json` and a bare `-o PATH` mean).
pub trait Formats: clap::ValueEnum + Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The json format.
    const JSON: Self;
}

/// `--format`, `--json` and `-o`/`--output`, the same on every command that prints a report:
/// `#[command(flatten)] pub out: OutputArgs<Format>`.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputArgs<F: Formats> {
    /// What to print on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: F,

    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Also write FMT (one of the --format values) to PATH; repeatable. Each file is written
    /// to a temporary file beside PATH and renamed over PATH only once complete. A PATH alone
    /// is written as json.
    #[arg(short = 'o', long = "output", value_name = "FMT=PATH", value_parser = parse_spec::<F>)]
    pub output: Vec<OutputSpec<F>>,
}

impl<F: Formats> OutputArgs<F> {
    /// The format for standard output: `--format`, or json with `--json`.
    pub fn stdout_format(&self) -> F {
        if self.json {
            F::JSON
        } else {
            self.format.clone()
        }
    }

    /// The temporary files of every `-o`, created before any work (see [`prepare`]).
    pub fn prepare(&self) -> Result<Vec<Pending<F>>> {
        prepare(&self.output)
    }
}

/// One `-o FMT=PATH`.
#[derive(Clone, Debug)]
pub struct OutputSpec<F> {
    pub format: F,
    pub path: PathBuf,
}

/// Parse `FMT=PATH` or `PATH` (json) for a command whose formats are `F`.
pub fn parse_spec<F: clap::ValueEnum>(s: &str) -> Result<OutputSpec<F>, String> {
    if let Some((fmt, path)) = s.split_once('=') {
        if let Ok(format) = F::from_str(fmt, true) {
            if path.is_empty() {
                return Err(format!("{s:?}: no file after {fmt}= (write {fmt}=PATH)"));
            }
            return Ok(OutputSpec {
                format,
                path: PathBuf::from(path),
            });
        }
    }
    if s.is_empty() {
        return Err("an empty output: write FMT=PATH, e.g. json=out.json".into());
    }
    let format = F::from_str("json", true).map_err(|e| format!("no json format: {e}"))?;
    Ok(OutputSpec {
        format,
        path: PathBuf::from(s),
    })
}

/// An output file being prepared: its temporary file exists from the start (so a missing
/// directory or a read-only one is an error before any work), and replaces the target only in
/// [`Pending::commit`].
pub struct Pending<F> {
    pub format: F,
    pub path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

/// Create the temporary files of every output, before any work is done. Two outputs on one
/// path are an error.
pub fn prepare<F: Clone>(specs: &[OutputSpec<F>]) -> Result<Vec<Pending<F>>> {
    let mut out: Vec<Pending<F>> = Vec::with_capacity(specs.len());
    for s in specs {
        if out.iter().any(|p| same_file(&p.path, &s.path)) {
            bail!(
                "two outputs write {}: give each output its own file",
                s.path.display()
            );
        }
        out.push(Pending {
            format: s.format.clone(),
            path: s.path.clone(),
            tmp: temp_beside(&s.path)?,
        });
    }
    Ok(out)
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (a.parent().map(std::fs::canonicalize), b.parent().map(std::fs::canonicalize)),
            (Some(Ok(x)), Some(Ok(y))) if x == y && a.file_name() == b.file_name()
        )
}

fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.is_dir() {
        bail!("output {} is a directory: give a file name", path.display());
    }
    tempfile::Builder::new()
        .prefix(".portolan-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "cannot write output {} (is the directory {} there and writable?)",
                path.display(),
                dir.display()
            )
        })
}

impl<F> Pending<F> {
    /// Write `content` and rename the temporary file over the target.
    pub fn commit(mut self, content: &[u8]) -> Result<()> {
        let path = self.path;
        self.tmp
            .write_all(content)
            .and_then(|()| self.tmp.flush())
            .with_context(|| format!("cannot write output {}", path.display()))?;
        self.tmp
            .persist(&path)
            .with_context(|| format!("cannot replace output {}", path.display()))?;
        Ok(())
    }
}

/// Write one file the same way (a temporary file renamed over it), e.g. `--save-baseline`.
pub fn write_file(path: &Path, content: &[u8]) -> Result<()> {
    Pending {
        format: (),
        path: path.to_path_buf(),
        tmp: temp_beside(path)?,
    }
    .commit(content)
}

/// `--fail-on SEVERITY` (info, low, medium, high, critical): one parser for every command.
pub fn parse_severity(s: &str) -> Result<portolan_registry::risk::Severity, String> {
    s.parse()
}

/// `value` with `"schema_version"` added (for a JSON object).
pub fn with_schema_version(mut value: serde_json::Value) -> serde_json::Value {
    if let Some(m) = value.as_object_mut() {
        m.insert("schema_version".into(), serde_json::json!(SCHEMA_VERSION));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
    enum Fmt {
        Table,
        Json,
    }

    #[test]
    fn specs_parse() {
        let s = parse_spec::<Fmt>("table=a.txt").unwrap();
        assert_eq!((s.format, s.path), (Fmt::Table, PathBuf::from("a.txt")));
        let s = parse_spec::<Fmt>("out.json").unwrap();
        assert_eq!((s.format, s.path), (Fmt::Json, PathBuf::from("out.json")));
        let s = parse_spec::<Fmt>("a=b.json").unwrap();
        assert_eq!((s.format, s.path), (Fmt::Json, PathBuf::from("a=b.json")));
        assert!(parse_spec::<Fmt>("json=").is_err());
        assert!(parse_spec::<Fmt>("").is_err());
    }

    #[test]
    fn files_are_replaced_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        std::fs::write(&target, "old").unwrap();
        let specs = [OutputSpec {
            format: Fmt::Json,
            path: target.clone(),
        }];
        let pending = prepare(&specs).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        drop(pending); // an error before commit: the old file stays, no temporary is left
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let pending = prepare(&specs).unwrap();
        for p in pending {
            p.commit(b"new").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // A planted symlink at the target is replaced, never followed.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::remove_file(&target).unwrap();
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_file(&target, b"x").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        // Errors name the output.
        let twice = [specs[0].clone(), specs[0].clone()];
        assert!(prepare(&twice).is_err());
        let missing = [OutputSpec {
            format: Fmt::Json,
            path: dir.path().join("no/such/dir/out.json"),
        }];
        let e = prepare(&missing).err().unwrap().to_string();
        assert!(e.contains("no/such/dir/out.json"), "{e}");
    }
}
